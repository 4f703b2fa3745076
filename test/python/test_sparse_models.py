"""Sparse models end to end through sparcc.jit: torch sparse inputs (a GCN
layer), torch sparse parameters, and dense models pruned by a sparsity spec,
each against PyTorch (for pruned models: a PyTorch copy whose weights were
pruned by the numpy reference, sparcc.dialects.sparse_formats.prune);
plus the report and the error cases."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import sparcc
import torch
from sparcc import artifact
from sparcc.dialects.sparse_formats import prune
from sparcc.driver import compile_program
from sparcc.errors import InputMismatchError, SparccError, UnsupportedOpError
from torch import nn


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    scale = float(want.abs().max()) + 1e-6
    torch.testing.assert_close(got, want, atol=2e-5 * scale, rtol=1e-4)


def _adjacency(n: int, density: float, seed: int, empty_rows: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = (torch.rand(n, n, generator=g) < density).float() * torch.rand(n, n, generator=g)
    if empty_rows:
        a[::7] = 0  # rows with no neighbours
    return a


class GCN(nn.Module):
    def __init__(self, d_in: int = 24, d_out: int = 16) -> None:
        super().__init__()
        self.lin = nn.Linear(d_in, d_out, bias=False)
        self.bias = nn.Parameter(torch.randn(d_out))

    def forward(self, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(a @ self.lin(x) + self.bias)


LAYOUTS = {
    "csr64": lambda d: d.to_sparse_csr(),
    "csr32": lambda d: torch.sparse_csr_tensor(
        d.to_sparse_csr().crow_indices().int(), d.to_sparse_csr().col_indices().int(),
        d.to_sparse_csr().values(), d.shape),
    "coo": lambda d: d.to_sparse_coo(),
    "csc": lambda d: d.to_sparse_csc(),
    "bsr": lambda d: d.to_sparse_bsr((4, 4)),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_gcn_layer_with_a_torch_sparse_adjacency(layout: str) -> None:
    torch.manual_seed(0)
    model = GCN().eval()
    n = 60
    x = torch.randn(n, 24)
    dense = _adjacency(n, 0.1, 1)
    a = LAYOUTS[layout](dense)
    f = sparcc.jit(model)
    with torch.no_grad():
        want = model(dense, x)
    _close(f(a, x), want)
    # another graph of the same layout and size: same program, other nonzeros
    dense2 = _adjacency(n, 0.3, 2, empty_rows=False)
    with torch.no_grad():
        want2 = model(dense2, x)
    _close(f(LAYOUTS[layout](dense2), x), want2)
    assert f.compiles == 1


def test_spmv_and_empty_and_1x1_sparse_inputs() -> None:
    def spmv(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return a @ v

    f = sparcc.jit(spmv)
    for dense in (_adjacency(37, 0.2, 3), torch.zeros(37, 37)):
        v = torch.randn(37)
        _close(f(dense.to_sparse_csr(), v), dense @ v)
    one = torch.tensor([[2.5]])
    _close(sparcc.jit(spmv)(one.to_sparse_csr(), torch.tensor([3.0])), torch.tensor([7.5]))


class SparseParam(nn.Module):
    """Parameters that are torch sparse tensors, used through torch.sparse.mm and @."""

    def __init__(self, layout: str) -> None:
        super().__init__()
        w = _adjacency(40, 0.2, 4)[:, :32].contiguous()
        self.dense_w = w
        self.w = nn.Parameter(LAYOUTS[layout](w), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.sparse.mm(self.w, x)) + self.w @ x


@pytest.mark.parametrize("layout", ["csr64", "csr32", "coo", "csc", "bsr"])
def test_torch_sparse_parameters(layout: str) -> None:
    model = SparseParam(layout).eval()
    x = torch.randn(32, 8)
    want = torch.tanh(model.dense_w @ x) + model.dense_w @ x
    _close(sparcc.jit(model)(x), want)


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(96, 130)
        self.fc2 = nn.Linear(130, 72, bias=False)
        self.head = nn.Linear(72, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fc2(torch.nn.functional.gelu(self.fc1(x)))))


def _pruned(model: nn.Module, parts: dict[str, list[str]]) -> nn.Module:
    """A copy of `model` whose chosen weights are pruned by the reference: each
    listed prune spec prunes what the ones before it left (TASD), summed."""
    ref = copy.deepcopy(model)
    for layer, specs in parts.items():
        lin = ref.get_submodule(layer)
        residual = lin.weight.detach().numpy().copy()
        total = np.zeros_like(residual)
        for spec in specs:
            part = prune(residual, spec)
            total += part
            residual = residual - part
        lin.weight.data = torch.from_numpy(total)
    return ref


VALUES = [
    ("unstructured:0.9", ["unstructured:0.9"]),
    ("unstructured:0.8@csc", ["unstructured:0.8"]),
    ("unstructured:0.8@coo", ["unstructured:0.8"]),
    ("unstructured:0.8@dcsr", ["unstructured:0.8"]),
    ("unstructured:0.8@ell", ["unstructured:0.8"]),
    ("2:4", ["2:4"]),
    ("1:8", ["1:8"]),
    ("block:4x4:0.75", ["block:4x4:0.75"]),
    ("block:2x3:0.5", ["block:2x3:0.5"]),
    ("vnm:4:2:4", ["vnm:4:2:4"]),
    ("tasd:2:4+1:8", ["2:4", "1:8"]),
]


@pytest.mark.parametrize(("value", "specs"), VALUES, ids=[v for v, _ in VALUES])
def test_every_sparsity_value_matches_the_pruned_reference(value: str, specs: list[str]) -> None:
    torch.manual_seed(0)
    model = MLP().eval()
    x = torch.randn(5, 96)
    layers = {"fc1": specs, "fc2": specs}
    program = compile_program(model, [x], sparsity={"fc*": value}, threads=2)
    ref = _pruned(model, layers)
    with torch.no_grad():
        want = ref(x)
    _close(program(x), want)
    report = program.report["sparsity"]
    assert [r["layer"] for r in report["layers"]] == ["fc1", "fc2"]
    for r in report["layers"]:
        w = ref.get_submodule(r["layer"]).weight
        assert r["density"] == pytest.approx(float((w != 0).float().mean()))
    # the reported output error is the pruned model's against the dense one
    with torch.no_grad():
        dense = model(x)
    assert report["output_max_abs_err"] == pytest.approx(float((want - dense).abs().max()), rel=1e-3, abs=1e-5)


def test_tasd_report_errors_fall_with_each_part() -> None:
    torch.manual_seed(0)
    model = MLP().eval()
    program = compile_program(model, [torch.randn(2, 96)], sparsity={"fc1": "tasd:2:4+2:8+1:8"})
    (layer,) = program.report["sparsity"]["layers"]
    errs = [t["rel_err"] for t in layer["truncations"]]
    assert len(errs) == 3 and errs[0] > errs[1] > errs[2] > 0
    w = model.fc1.weight.detach().numpy()
    two_four = prune(w, "2:4")
    assert errs[0] == pytest.approx(np.linalg.norm(w - two_four) / np.linalg.norm(w), rel=1e-6)


def test_batched_input_and_first_match_wins() -> None:
    torch.manual_seed(0)
    model = MLP().eval()
    x = torch.randn(3, 4, 96)
    f = sparcc.jit(model, sparsity={"fc1": "2:4", "fc*": "unstructured:0.7", "head": "dense"})
    with torch.no_grad():
        want = _pruned(model, {"fc1": ["2:4"], "fc2": ["unstructured:0.7"]})(x)
    _close(f(x), want)
    program = next(iter(f.cache.values()))
    assert [(r["layer"], r["formats"]) for r in program.report["sparsity"]["layers"]] == [
        ("fc1", ["2:4"]), ("fc2", ["csr"])]


def test_auto_falls_back_to_dense_only_when_asked() -> None:
    torch.manual_seed(0)
    model = MLP().eval()
    x = torch.randn(4, 96)
    want = _pruned(model, {"fc1": ["unstructured:0.2"]})(x).detach()
    auto = compile_program(model, [x], sparsity={"fc1": "auto:unstructured:0.2"})
    (layer,) = auto.report["sparsity"]["layers"]
    assert layer["execution"].startswith("dense (auto:")
    assert "sparse." not in auto.ir["linalg"] and "sparcc_sp_" not in auto.ir["linalg"]
    _close(auto(x), want)
    forced = compile_program(model, [x], sparsity={"fc1": "unstructured:0.2"})
    (layer,) = forced.report["sparsity"]["layers"]
    assert layer["execution"].startswith("sparse (predicted")
    assert "sparcc_sp_csr" in forced.ir["linalg"]
    _close(forced(x), want)
    # very sparse: auto keeps the sparse kernel
    sparse = compile_program(model, [x], sparsity={"fc1": "auto:unstructured:0.95"})
    execution = sparse.report["sparsity"]["layers"][0]["execution"]
    assert execution.startswith("sparse (predicted") and "fall back" not in execution
    assert " by the " in execution  # what predicted it: the cost model or the kernel rate table


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"fc1": "3:2"}, "sparsity: layer pattern 'fc1': prune spec '3:2': expected 1 <= N <= M"),
        ({"fc1": "unstructured:0.5@2:4"}, "does not give the pattern that format '2:4' stores"),
        ({"fc1": "2:4@levels=(compressed,dense)"}, "sparse format 'levels=(compressed,dense)' has no CPU sparse kernel"),
        ("fc1", "'fc1' is not of the form PATTERN=FORMAT"),
        ({"fc1": "unstructured:1.5"}, "expected a sparsity in [0, 1]"),
    ],
)
def test_bad_sparsity_specs_fail_before_compiling(spec, message: str) -> None:
    with pytest.raises(SparccError) as err:
        sparcc.jit(MLP(), sparsity=spec)
    assert message in str(err.value)


def test_sparse_and_quantised_layer_without_a_kernel_is_rejected() -> None:
    # 2:4 with 4-bit values runs in one kernel (test_sparse_quant.py); 8-bit values have none
    with pytest.raises(SparccError, match="layer 'fc1' matches quant 'int8:channel' and sparsity '2:4'"):
        compile_program(MLP().eval(), [torch.randn(2, 96)], quant={"fc1": "int8"}, sparsity={"fc1": "2:4"})


def test_sparse_input_errors() -> None:
    f = sparcc.jit(lambda a, b: a @ b)
    dense = _adjacency(12, 0.3, 5)
    b = torch.randn(12, 3)
    f(dense.to_sparse_csr(), b)
    with pytest.raises(InputMismatchError, match="input 0: expected a sparse csr;pos=64;crd=64 tensor, got a dense one"):
        next(iter(f.cache.values()))(dense, b)
    with pytest.raises(UnsupportedOpError, match="has a sparse right operand"):
        sparcc.jit(lambda a, b: a @ b)(b.t().contiguous(), dense.to_sparse_csr())
    with pytest.raises(UnsupportedOpError, match="takes a sparse tensor here"):
        sparcc.jit(lambda a: torch.relu(a))(dense.to_sparse_csr())


def test_sparsity_in_an_artifact_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = MLP().eval()
    x = torch.randn(4, 96)
    art = artifact.compile(model, [x], tmp_path / "out", sparsity={"*": "2:4"}, threads=2)
    assert [r["layer"] for r in art.manifest["sparsity"]] == ["fc1", "fc2", "head"]
    want = _pruned(model, {"fc1": ["2:4"], "fc2": ["2:4"], "head": ["2:4"]})(x).detach()
    _close(sparcc.load(tmp_path / "out")(x), want)
    with pytest.raises(SparccError, match="sparse inputs are not supported in ahead-of-time artifacts"):
        artifact.compile(lambda a, b: a @ b, [torch.eye(4).to_sparse_csr(), x[:, :4].t().contiguous()],
                                tmp_path / "out2")


def test_block_format_is_chosen_per_weight() -> None:
    torch.manual_seed(0)
    model = MLP().eval()
    with torch.no_grad():  # fc1 is 4x4-block sparse, fc2 unstructured
        model.fc1.weight.copy_(torch.from_numpy(prune(model.fc1.weight.numpy(), "block:4x4:0.75")))
    x = torch.randn(3, 96)
    program = compile_program(model, [x], sparsity={"fc*": "unstructured:0.75@block"})
    fc1, fc2 = program.report["sparsity"]["layers"]
    assert fc1["formats"] == ["bsr:4x4"] and fc2["formats"] == ["csr"]
    chosen = min(fc1["block_choice"], key=lambda c: c["bytes"])
    assert chosen["block"] == "4x4" and chosen["fill"] > 0.95  # < 1: the last block row is padded
    want = _pruned(model, {"fc1": ["unstructured:0.75"], "fc2": ["unstructured:0.75"]})(x).detach()
    _close(program(x), want)


def test_corrupt_sparse_inputs_get_a_message_not_a_crash() -> None:
    f = sparcc.jit(lambda a, b: a @ b)
    dense = _adjacency(12, 0.3, 6)
    b = torch.randn(12, 3)
    good = dense.to_sparse_csr()
    _close(f(good, b), dense @ b)
    crow, col, val = good.crow_indices(), good.col_indices(), good.values()
    short = torch.sparse_csr_tensor(crow.clone(), col[:-1].clone(), val[:-1].clone(), (12, 12),
                                    check_invariants=False)
    with pytest.raises(InputMismatchError, match="input 0: a sparse torch.sparse_csr tensor of shape"):
        f(short, b)
    far = col.clone()
    far[0] = 1000
    bad = torch.sparse_csr_tensor(crow, far, val, (12, 12), check_invariants=False)
    # the O(nnz) checks, made as PyTorch makes them
    with torch.sparse.check_sparse_tensor_invariants(), \
            pytest.raises(InputMismatchError, match=r"a coordinate is outside 0..11"):
        f(bad, b)
