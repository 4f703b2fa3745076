"""Dynamic shapes: one compiled program serves every size of the dims marked
dynamic (or found to vary). Differential checks against eager PyTorch at
several sizes, the ranges and their messages, and the automatic mode of
sparcc.jit."""

from __future__ import annotations

import pytest
import torch

import sparcc
from sparcc.driver import compile_program
from sparcc.errors import DynamicShapeError, InputMismatchError, SparccError


class Block(torch.nn.Module):
    """A small transformer block: linear, layer_norm, causal sdpa, gelu, a
    residual, arange positions, a slice and a reshape with the dynamic dim."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(50, 16)
        self.pos = torch.nn.Embedding(64, 16)
        self.norm = torch.nn.LayerNorm(16)
        self.qkv = torch.nn.Linear(16, 48)
        self.out = torch.nn.Linear(16, 16)
        self.head = torch.nn.Linear(16, 50)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        b, s = ids.shape
        x = self.emb(ids) + self.pos(torch.arange(s))
        q, k, v = self.qkv(self.norm(x)).split(16, dim=-1)
        heads = [t.reshape(b, s, 4, 4).transpose(1, 2) for t in (q, k, v)]
        att = torch.nn.functional.scaled_dot_product_attention(*heads, is_causal=True)
        x = x + self.out(att.transpose(1, 2).reshape(b, s, 16))
        x = x + torch.nn.functional.gelu(x).softmax(-1) * x.mean(1, keepdim=True)
        return self.head(x)[:, -1:, :]


def _check(program, model, *args, atol=1e-5) -> None:
    got = program(*args)
    with torch.no_grad():
        want = model(*args)
    torch.testing.assert_close(got, want, atol=atol, rtol=1e-4)


def test_one_program_serves_every_sequence_length():
    torch.manual_seed(0)
    model = Block().eval()
    ids = torch.randint(0, 50, (1, 9))
    program = compile_program(model, (ids,), threads=1, use_cache=False, dynamic={0: {1: (1, 64)}})
    assert program.report["dynamic"]["symbols"] == {"s0": {"min": 1, "max": 64}}
    for n in (9, 1, 2, 17, 64):
        _check(program, model, torch.randint(0, 50, (1, n)))


def test_dynamic_batch_and_length_of_an_mlp():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval()
    x = torch.randn(3, 5, 8)
    program = compile_program(model, (x,), threads=1, use_cache=False, dynamic={0: {0: (1, 16), 1: (1, None)}})
    assert set(program.report["dynamic"]["symbols"]) == {"s0", "s1"}
    for shape in ((3, 5, 8), (1, 1, 8), (16, 33, 8), (2, 100, 8)):
        _check(program, model, torch.randn(*shape))


def test_sizes_out_of_range_and_static_dims_are_rejected_with_a_message():
    model = torch.nn.Linear(8, 4).eval()
    program = compile_program(model, (torch.randn(4, 8),), threads=1, use_cache=False, dynamic={0: {0: (2, 10)}})
    with pytest.raises(InputMismatchError, match=r"size 11 is outside the range .*s0 \[2, 10\]"):
        program(torch.randn(11, 8))
    with pytest.raises(InputMismatchError, match=r"size 1 is outside"):
        program(torch.randn(1, 8))
    with pytest.raises(InputMismatchError, match="dim 1 is not dynamic"):
        program(torch.randn(4, 9))


def test_index_checks_use_the_run_time_size():
    """gather along a dynamic dim: an index past the actual size raises as
    PyTorch does, although it is inside the largest size allowed."""
    def f(x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return torch.gather(x, 1, i)

    x, i = torch.randn(2, 6), torch.randint(0, 6, (2, 3))
    program = compile_program(f, (x, i), threads=1, use_cache=False, dynamic={0: {1: (1, 32)}})
    x = torch.randn(2, 4)
    i = torch.randint(0, 4, (2, 3))
    torch.testing.assert_close(program(x, i), f(x, i))
    with pytest.raises(RuntimeError, match="out of bounds for dimension 1 with size 4"):
        program(x, torch.full((2, 3), 5))


def test_model_that_specializes_the_dim_gets_a_message():
    model = torch.nn.Linear(8, 4).eval()
    with pytest.raises(DynamicShapeError, match="does not allow these dims to vary"):
        compile_program(model, (torch.randn(4, 8),), threads=1, use_cache=False, dynamic={0: {1: (1, 16)}})


def test_jit_recompiles_once_with_the_dims_that_changed():
    torch.manual_seed(2)
    model = Block().eval()
    fast = sparcc.jit(model, threads=1, cache=False)
    for n in (8, 1, 5, 30, 13, 1):  # the second size is 1: a decode step after a prefill
        _check(fast, model, torch.randint(0, 50, (1, n)))
    # the first size; size 1 on its own (static, as torch.compile specialises
    # 1); then one dynamic program for every later size from 2 up
    assert fast.compiles == 3
    assert len(fast.dynamic_programs) == 1
    (program,) = fast.dynamic_programs
    assert program.symbols == {"s0": (2, None)}
    assert not fast.cache[((1, 1), torch.int64, None),].symbols


def test_jit_dynamic_false_compiles_each_size():
    model = torch.nn.Linear(8, 4).eval()
    fast = sparcc.jit(model, threads=1, cache=False, dynamic=False)
    for n in (2, 3, 4):
        _check(fast, model, torch.randn(n, 8))
    assert fast.compiles == 3


@pytest.mark.parametrize("spec, message", [
    ("yes", "expected None, True, False"),
    ({0: {1: (0, 5)}}, "bounds"),
    ({0: {1: (5, 2)}}, "bounds"),
    ({-1: [0]}, "input index"),
    ({0: {"a": None}}, "dim 'a'"),
])
def test_bad_dynamic_specs_are_rejected(spec, message):
    with pytest.raises(InputMismatchError, match=message):
        sparcc.jit(torch.nn.Linear(2, 2), dynamic=spec)


def test_dynamic_dims_of_a_convolution_other_than_batch_are_refused():
    model = torch.nn.Conv2d(3, 4, 3).eval()
    with pytest.raises(SparccError, match="only the batch dim"):
        compile_program(model, (torch.randn(1, 3, 8, 8),), threads=1, use_cache=False, dynamic={0: {2: (4, 16)}})


def test_jit_dynamic_true_and_sizes_outside_the_range_get_their_own_program():
    """dynamic=True: torch.export picks the dims that may vary (ranges from 2,
    its rule); a call outside every dynamic program's range compiles anew
    instead of failing."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4)).eval()
    fast = sparcc.jit(model, threads=1, cache=False, dynamic=True)
    for b in (4, 7, 33):
        _check(fast, model, torch.randn(b, 8))
    assert fast.compiles == 1
    assert fast.dynamic_programs[0].report["dynamic"]["inputs"] == ["float32[s0, 8]"]
    _check(fast, model, torch.randn(1, 8))  # below the range: a program of its own
    assert fast.compiles == 2


def test_the_report_names_ops_left_as_plain_loops():
    """Ops whose dynamic sizes the CPU schedule does not tile (a softmax over
    a dynamic last dim) are listed in the report, not left silently slow; a
    linear over a dynamic batch is tiled."""
    def f(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x @ x.transpose(-1, -2), -1) @ (x @ w)

    x, w = torch.randn(1, 5, 16), torch.randn(16, 16)
    program = compile_program(f, (x, w), threads=1, use_cache=False, dynamic={0: {1: (1, 64)}})
    schedule = program.report["schedule"]
    assert any("plain loops" in line and "'?', '?'" in line for line in schedule), schedule
    assert any(line.startswith("linalg.matmul ['?', 16, 16] tiles=") for line in schedule), schedule
    _check(program, f, torch.randn(1, 9, 16), w)


@pytest.mark.parametrize("option", [
    {"quant": {"*": "nf4:g64"}}, {"quant": {"*": "int8:channel"}},
    {"sparsity": {"*": "2:4"}}, {"sparsity": {"*": "unstructured:0.7@csr"}},
])
def test_quantised_and_sparse_layers_take_a_dynamic_batch(option):
    # the kernels' row count is read from the input at run time
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.GELU(), torch.nn.Linear(32, 8)).eval()
    program = compile_program(model, (torch.randn(2, 3, 64),), use_cache=False, dynamic={0: {0: (1, 64)}}, **option)
    for rows in (1, 7):
        x = torch.randn(rows, 3, 64)
        static = compile_program(model, (x,), use_cache=False, **option)
        torch.testing.assert_close(program(x), static(x), atol=1e-5, rtol=1e-5)
