"""The frontend's one-trace export (frontend._export_decomposed) against
torch's public two-step path (torch.export.export, then run_decompositions
with the same table): the same core ATen ops, the same signature, the same
results; and the cases that must take the public path (training-mode
statistics, random ops, sparse tensors) do."""

from __future__ import annotations

import collections
import warnings

import pytest
import torch
import torch.nn.functional as F

import sparcc
from sparcc import frontend


def _two_step(model: torch.nn.Module, args: tuple[torch.Tensor, ...], shapes=None) -> torch.export.ExportedProgram:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, args, dynamic_shapes=shapes, strict=False)
        return program.run_decompositions(frontend.decomposition_table())


def _ops(program: torch.export.ExportedProgram) -> collections.Counter:
    # torch's training IR carries dtype asserts (aten._assert_tensor_metadata) that the importer skips
    return collections.Counter(
        str(n.target) for n in program.graph.nodes
        if n.op == "call_function" and n.target is not torch.ops.aten._assert_tensor_metadata.default
    )


class Block(torch.nn.Module):
    """Conv + BN + in-place activations, a residual, pooling, a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        y = F.relu_(y)
        y.add_(F.silu(y))
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


class Attention(torch.nn.Module):
    """layer_norm, sdpa, gelu, split, transpose, arange, gather: ops kept whole and decomposed ones."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(16)
        self.qkv = torch.nn.Linear(16, 48)

    def forward(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm(x)).split(16, dim=-1)
        q, k, v = (t.unflatten(-1, (2, 8)).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).flatten(2)
        y = F.gelu(y) + torch.arange(16, dtype=y.dtype)
        return torch.gather(y, 2, idx)


CASES = {
    "cnn": (lambda: Block().eval(), lambda: (torch.randn(1, 3, 8, 8),)),
    "attention": (lambda: Attention().eval(), lambda: (torch.randn(2, 6, 16), torch.randint(0, 16, (2, 6, 4)))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_trace_matches_the_two_step_export(case: str) -> None:
    build, inputs = CASES[case]
    torch.manual_seed(0)
    model, args = build(), inputs()
    one = frontend._export_decomposed(model, args, None)
    assert one is not None, "the one-trace export fell back for a plain eval-mode model"
    two = _two_step(model, args)
    assert _ops(one) == _ops(two)
    assert [s.kind for s in one.graph_signature.input_specs] == [s.kind for s in two.graph_signature.input_specs]
    assert [s.kind for s in one.graph_signature.output_specs] == [s.kind for s in two.graph_signature.output_specs]
    with torch.no_grad():
        torch.testing.assert_close(one.module()(*args), model(*args))
        torch.testing.assert_close(sparcc.jit(model, cache=False)(*args), model(*args), rtol=1e-4, atol=1e-5)


def test_one_trace_with_a_dynamic_dim() -> None:
    torch.manual_seed(0)
    model = Attention().eval()
    args = (torch.randn(2, 6, 16), torch.randint(0, 16, (2, 6, 4)))
    seq = torch.export.Dim("seq", min=2, max=64)
    shapes = ({1: seq}, {1: seq})
    one = frontend._export_decomposed(model, args, shapes)
    assert one is not None
    assert _ops(one) == _ops(_two_step(model, args, shapes))
    fast = sparcc.jit(model, cache=False, dynamic={0: {1: (2, 64)}, 1: {1: (2, 64)}})
    for n in (3, 6, 11):
        x, idx = torch.randn(2, n, 16), torch.randint(0, 16, (2, n, 4))
        with torch.no_grad():
            torch.testing.assert_close(fast(x, idx), model(x, idx), rtol=1e-4, atol=1e-5)


def test_training_mode_and_random_ops_take_the_public_path() -> None:
    x = torch.randn(1, 3, 8, 8)
    train = Block().train()
    assert frontend._export_decomposed(train, (x,), None) is None  # batch statistics
    # and the public path's check still names the line
    with pytest.raises(sparcc.SparccError, match=r"batch_norm in training mode at .*test_export_one_trace.py:\d+"):
        sparcc.jit(train, cache=False)(x)
    dropout = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.3))  # training mode: random ops
    assert frontend._export_decomposed(dropout, (torch.randn(2, 4),), None) is None
    with pytest.warns(UserWarning, match="dropout in training mode"):
        frontend.export(dropout, [torch.randn(2, 4)])
    # a model in training mode without such layers computes the same either way: one trace
    assert frontend._export_decomposed(torch.nn.Linear(4, 4).train(), (torch.randn(2, 4),), None) is not None


def test_sparse_weights_take_the_public_path() -> None:
    class SparseMatmul(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("w", torch.eye(4).to_sparse_csr())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.w @ x

    assert frontend._export_decomposed(SparseMatmul(), (torch.randn(4, 3),), None) is None
