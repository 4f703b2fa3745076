"""
The reference target (sparcc.backends.ref): the IR interpreter against
PyTorch eager and against the CPU target.

- models (the MLP of examples/mlp.py, a transformer encoder layer, a small
  CNN, zoo models) against eager, the small ones and a tiny Llama with
  quantised and pruned layers against the CPU target;
- integer, bool, float16, bfloat16 and float64 ops against eager (exact, or
  the dtype's rounding), and against the CPU target;
- pruned models (every storage format, TASD) and torch sparse inputs and
  parameters, quantised models (every number format kind): ref against the
  CPU target, which computes the same pruned / quantised math;
- dynamic shapes, and out-of-range indices raising the CPU target's errors;
- every op of the nn, sparse and quant dialects has a handler; an op
  without one fails with its name;
- the bugs the ref target exposed, as strict xfails: in the CPU target
  (a bfloat16 transpose) and in the IR every target gets (the frontend,
  the quant and sparse dialects); the fixed ones (float floor division, a
  0-d gather's shape, float64 adaptive pooling) stay as regression tests.

Tolerances: float32 against eager 1e-4 relative to the output's magnitude
(the zoo's rule; another summation order); ref against the CPU target
2e-5 of the magnitude (the same math in another order, and the CPU's
polynomial exp/erf/tanh); integers and bools exact; float16/bfloat16 exact
for elementwise ops (both round after every op), one unit of the type's
rounding for a model.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sparcc.backends.cpu import toolchain
from sparcc.backends.ref import HANDLERS, interpret
from sparcc.dialects import nn as nn_dialect
from sparcc.dialects import quant, sparse
from sparcc.dialects.quant_formats import dequantize, parse_format
from sparcc.dialects.sparse_formats import prune
from sparcc.driver import compile_program
from sparcc.errors import GatherIndexError, IndexOutOfRangeError, PipelineError, UnsupportedOpError
from sparcc.frontend import import_module
from sparcc.quantize import apply_quant, parse_quant_spec
from sparcc.sparsify import apply_sparsity, parse_sparsity_spec
from torch import nn
from torch.utils import _pytree as pytree

ROOT = Path(__file__).resolve().parents[2]


def ref_run(model: Any, args: list[torch.Tensor], quant: Any = None, sparsity: Any = None,
            dynamic: Any = None, calls: list[list[torch.Tensor]] | None = None) -> list[Any]:
    """The ref target's outputs of `model` on `args` (and on each of `calls`,
    with the program imported for `args`), built as compile_program builds
    the IR that the CPU target then lowers."""
    imported = import_module(model, args, dynamic)
    apply_sparsity(imported, parse_sparsity_spec(sparsity), parse_quant_spec(quant))
    apply_quant(imported, parse_quant_spec(quant))
    runs = [args, *(calls or [])]
    return [interpret(imported.module, a, imported.weights) for a in runs]


def eager(model: Any, args: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        return pytree.tree_leaves(model(*args))


def cpu(model: Any, args: list[torch.Tensor], **options: Any) -> list[torch.Tensor]:
    program = compile_program(model, args, use_cache=False, threads=1, **options)
    return pytree.tree_leaves(program(*args))


def assert_close(got: list[torch.Tensor], want: list[torch.Tensor], rel: float = 1e-4) -> None:
    """Each output within `rel` of its own magnitude; exact for integers and bools."""
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        where = f"output {i}: {g.dtype}{list(g.shape)} != {w.dtype}{list(w.shape)}"
        assert (g.dtype, g.shape) == (w.dtype, w.shape), where
        if not w.is_floating_point():
            assert torch.equal(g, w), f"output {i}: {g} != {w}"
            continue
        finite = w[torch.isfinite(w)]
        scale = max(float(finite.abs().max()) if finite.numel() else 0.0, 1e-6)
        torch.testing.assert_close(g, w, atol=rel * scale, rtol=rel, equal_nan=True,
                                   msg=lambda m, i=i: f"output {i}: {m}")


def _zoo() -> Any:
    """benchmarks/zoo_models.py (real models with random weights)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import zoo_models
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return zoo_models


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2)
        self.bn2 = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = F.avg_pool2d(torch.relu(self.bn2(self.conv2(x))), 3, 1, 1, count_include_pad=False)
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _randomize_bn(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def _small_models() -> dict[str, tuple[nn.Module, list[torch.Tensor]]]:
    mlp = _load(ROOT / "examples" / "mlp.py", "sparcc_example_mlp")
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=False).eval()
    return {
        "mlp": (mlp.make_model(), list(mlp.example_inputs())),
        "transformer_encoder_layer": (layer, [torch.randn(2, 7, 32)]),
        "cnn": (_randomize_bn(SmallCNN()), [torch.randn(2, 3, 16, 16)]),
    }


@pytest.mark.parametrize("name", ["mlp", "transformer_encoder_layer", "cnn"])
def test_small_models_against_eager_and_cpu(name: str) -> None:
    model, args = _small_models()[name]
    (got,) = ref_run(model, args)
    assert_close(got, eager(model, args))
    assert_close(got, cpu(model, args), rel=2e-5)


ZOO = ["hf/gpt2", "hf/bert", "torchvision/resnet18", "timm/vit_tiny_patch16_224"]


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models_against_eager(name: str) -> None:
    zoo_models = _zoo()
    entry = zoo_models.MODELS[name]
    model, args = entry.build(), list(entry.inputs())
    (got,) = ref_run(model, args)
    want = eager(model, args)
    assert zoo_models.error(got, want) <= entry.tol


def test_llama_with_quantised_and_sparse_layers_against_the_cpu_target() -> None:
    entry = _zoo().MODELS["hf/llama"]
    model, args = entry.build(), list(entry.inputs())
    options = {"quant": {"*.self_attn.*": "int4:g32", "*.down_proj": "mxfp4"},
               "sparsity": {"*.gate_proj": "2:4", "*.up_proj": "unstructured:0.8"}}
    (got,) = ref_run(model, args, **options)
    assert_close(got, cpu(model, args, **options), rel=2e-5)


def test_dynamic_sizes_one_program_many_lengths() -> None:
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True).eval()
    x = torch.randn(2, 7, 32)
    others = [[torch.randn(3, 5, 32)], [torch.randn(1, 12, 32)]]
    runs = ref_run(layer, [x], dynamic={0: {0: (1, 8), 1: (1, 64)}}, calls=others)
    for args, got in zip([[x], *others], runs):
        assert_close(got, eager(layer, args))


def test_sizes_given_explicitly() -> None:
    imported = import_module(lambda x: torch.cat([x, x]).sum(0), [torch.randn(3, 4)], {0: {0: (1, 16)}})
    assert list(imported.symbols) == ["s0"]
    x = torch.randn(5, 4)
    (got,) = interpret(imported.module, [x], imported.weights, sizes={"s0": 5})
    assert_close([got], [torch.cat([x, x]).sum(0)])


# ----------------------------------------------------------------------------
# integers, bools, halves: exact semantics
# ----------------------------------------------------------------------------


def _ints(*shape: int, lo: int = -50, hi: int = 50, seed: int = 0) -> torch.Tensor:
    return torch.randint(lo, hi, shape, generator=torch.Generator().manual_seed(seed))


def integer_ops(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, i: torch.Tensor) -> tuple:
    m = (a > 3) & (b < 0)
    return (a + b, a - 3 * b, a * b, a // b, a % b, torch.fmod(a, b), torch.div(a, b, rounding_mode="trunc"),
            -a, a.abs(), a.to(torch.int8) * 100, a ** 2, a.sum(0), a.prod(1), a.amax(1), a.argmin(0),
            a.cumsum(1), m, m | (a == b), ~m, m.any(1), m.all(0), torch.where(m, a, b), a.to(torch.float32) / 4,
            x[i], x.index_select(1, i.abs() % 5), torch.gather(x, 1, (i.abs() % 5).expand(3, -1)),
            torch.arange(2, 11, 3), (a > 0).to(torch.int32).cumsum(1), x.argmax(-1), x.flip(0), x.to(torch.int64))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int16])
def test_integer_and_bool_ops_exact(dtype: torch.dtype) -> None:
    signs = torch.tensor([1, -1, 1, -1, 1, -1, 1])
    a, b = _ints(3, 7, seed=1).to(dtype), (_ints(7, lo=1, hi=9, seed=2) * signs).to(dtype)
    x, i = torch.randn(3, 5) * 10, _ints(4, lo=-3, hi=3, seed=3)
    args = [a, b, x, i]
    (got,) = ref_run(integer_ops, args)
    want = eager(integer_ops, args)
    assert_close(got, want)
    assert_close(got, cpu(integer_ops, args), rel=2e-5)


def test_integer_wraparound_and_division_edges() -> None:
    # int8 overflow wraps as in PyTorch; a zero divisor is the CPU target's
    # choice (x // 0 = x, x % 0 = 0: PyTorch raises), the minimum / -1 wraps
    def f(a, b):
        return a * 3, a + 100, a // b, a % b, torch.fmod(a, b), torch.div(a, b, rounding_mode="trunc")

    a = torch.tensor([127, -128, 100, -7, 7, -128], dtype=torch.int8)
    b = torch.tensor([2, -1, 0, 0, -1, 3], dtype=torch.int8)
    (got,) = ref_run(f, [a, b])
    assert_close(got[:2], [a * 3, a + 100])
    assert_close(got, cpu(f, [a, b]))
    assert got[2].tolist() == [63, -128, 100, -7, -7, -43]


def routing_ops(x: torch.Tensor, ids: torch.Tensor, v: torch.Tensor) -> tuple:
    """Mixture-of-experts routing: sort, topk, histc, index_put and its forms."""
    perm = torch.sort(ids, stable=True).indices
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.shape[0])
    masked = x.clone()
    masked[x > 0] = 0.5
    return (torch.sort(x, descending=True), torch.topk(x, 3, dim=0, largest=False), torch.argsort(ids), perm, inv,
            torch.histc(ids.float(), 5, 0, 4), torch.histc(x, 7, -1.0, 1.0), x.index_add(0, ids[:4] % 3, v),
            x.index_put((ids[:4] % 3,), v), x.index_put((ids[:4] % 3, ids[4:8] - 5), v[:, 0], accumulate=True),
            masked)


def test_routing_ops_exact() -> None:
    """Exact against eager where PyTorch's order of ties is defined (stable
    sorts, dims of up to 16, ties absent from topk's input), and the CPU target."""
    x, ids, v = torch.randn(3, 9), _ints(12, lo=0, hi=5, seed=4), torch.randn(4, 9)
    (got,) = ref_run(routing_ops, [x, ids, v])
    assert_close(got, eager(routing_ops, [x, ids, v]), rel=1e-6)
    assert_close(got, cpu(routing_ops, [x, ids, v]), rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_elementwise_exact(dtype: torch.dtype) -> None:
    def f(x, y):
        return x * y + x, (x - y).relu(), torch.where(x > y, x, y), x.to(torch.float32), (x / y).exp(), x.sum(0)

    x, y = torch.randn(5, 9).to(dtype), torch.randn(9).to(dtype)
    (got,) = ref_run(f, [x, y])
    want = eager(f, [x, y])
    for g, w in zip(got[:4], want[:4]):
        assert g.dtype == w.dtype and torch.equal(g, w)
    eps = torch.finfo(dtype).eps
    for g, w in zip(got[4:], want[4:]):  # exp in float32 may round the other way; sums in another order
        torch.testing.assert_close(g.float(), w.float(), atol=2 * eps * float(w.abs().max()), rtol=2 * eps)
    assert_close(got, cpu(f, [x, y]), rel=2 * eps)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_precision_models(dtype: torch.dtype) -> None:
    model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 8)).to(dtype).eval()
    x = torch.randn(3, 16).to(dtype)
    (got,) = ref_run(model, [x])
    rel = 1e-10 if dtype == torch.float64 else 4 * torch.finfo(dtype).eps
    assert_close(got, eager(model, [x]), rel=rel)


def test_floor_divide_of_floats_follows_pytorch() -> None:
    # PyTorch's float floor division is not floor(a / b) where a / b rounds
    # up to an integer: 1 // 0.1 is 9.0
    def f(a, b):
        return torch.floor_divide(a, b), a % b

    a, b = torch.tensor([1.0, -1.0, 7.5, 0.3]), torch.tensor([0.1, 0.1, 2.0, -0.1])
    (got,) = ref_run(f, [a, b])
    assert_close(got, eager(f, [a, b]), rel=0)


def test_cpu_floor_divide_of_floats_matches_ref() -> None:
    def f(a, b):
        return torch.floor_divide(a, b)

    a, b = torch.tensor([1.0, -1.0, 7.5]), torch.tensor([0.1, 0.1, 2.0])
    (got,) = ref_run(f, [a, b])
    assert_close(cpu(f, [a, b]), got, rel=0)


@pytest.mark.xfail("avx512f" in toolchain.host_features(), strict=True, raises=PipelineError,
                   reason="CPU target bug: llc asserts ('Unexpected illegal type') on the AVX-512 code of a "
                   "bfloat16 5x5x5 tensor transposed (2, 0); an AVX2 host compiles it")
def test_cpu_bfloat16_transpose_compiles() -> None:
    x = torch.randn(5, 5, 5).to(torch.bfloat16)
    (got,) = ref_run(lambda x: x.transpose(2, 0), [x])
    assert torch.equal(got[0], x.transpose(2, 0))
    assert_close(cpu(lambda x: x.transpose(2, 0), [x]), got, rel=0)


# Bugs of the frontend's IR that the ref target showed (the IR itself differed
# from PyTorch, so every target inherited them); fixed, kept as regression tests
@pytest.mark.parametrize("index", [torch.tensor([0]), torch.tensor(0)], ids=["1-d", "0-d"])
def test_gather_of_a_0d_input_has_the_index_shape(index: torch.Tensor) -> None:
    fn = lambda x, i: torch.gather(x, 0, i)  # noqa: E731
    args = [torch.tensor(2.5), index]
    assert_close(ref_run(fn, args)[0], eager(fn, args))
    assert_close(cpu(fn, args), eager(fn, args))


def test_adaptive_avg_pool_float64_is_float64_accurate() -> None:
    fn = lambda x: F.adaptive_avg_pool2d(x, (5, 7))  # noqa: E731
    args = [torch.randn(1, 2, 8, 8, dtype=torch.float64)]
    assert_close(ref_run(fn, args)[0], eager(fn, args), rel=1e-10)
    assert_close(cpu(fn, args), eager(fn, args), rel=1e-10)


@pytest.mark.parametrize("option", [{"quant": {"0": "nf4:g64"}}, {"sparsity": {"0": "2:4"}}], ids=["quant", "sparsity"])
def test_dynamic_shapes_with_quantised_or_sparse_layers(option: dict[str, Any]) -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)).eval()
    x, x5 = torch.randn(2, 8), torch.randn(5, 8)
    program = compile_program(model, [x], use_cache=False, dynamic={0: {0: (1, 64)}}, **option)
    runs = ref_run(model, [x], dynamic={0: {0: (1, 64)}}, calls=[[x5]], **option)
    assert_close(pytree.tree_leaves(program(x5)), runs[1], rel=2e-5)


# ----------------------------------------------------------------------------
# index checks: the CPU target's errors
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, args, error",
    [
        (lambda w, i: F.embedding(i, w), [torch.randn(5, 2), torch.tensor([[1, 5]])], IndexOutOfRangeError),
        (lambda w, i: F.embedding(i, w), [torch.randn(5, 2), torch.tensor([[-1, 2]])], IndexOutOfRangeError),
        (lambda x, i: x[:, i], [torch.randn(3, 4), torch.tensor([-5])], IndexOutOfRangeError),
        (lambda x, i: torch.gather(x, 1, i), [torch.randn(3, 4), torch.tensor([[0], [4], [1]])], GatherIndexError),
        (lambda x, i: x.index_put((i,), x[:1]), [torch.randn(3, 4), torch.tensor([-4])], IndexOutOfRangeError),
        (lambda x, i: x.index_add(0, i, x[:1]), [torch.randn(3, 4), torch.tensor([-1])], GatherIndexError),
    ],
)
def test_out_of_range_indices_raise_the_cpu_targets_error(fn, args, error) -> None:
    with pytest.raises(error) as ref_error:
        ref_run(fn, args)
    program = compile_program(fn, args, use_cache=False)
    with pytest.raises(error) as cpu_error:
        program(*args)
    assert str(ref_error.value) == str(cpu_error.value)
    good = [a.clamp(0, 0) if not a.is_floating_point() else a for a in args]
    assert_close(ref_run(fn, good)[0], pytree.tree_leaves(program(*good)))


# ----------------------------------------------------------------------------
# sparse: pruned weights, torch sparse inputs and parameters
# ----------------------------------------------------------------------------


class Deep(nn.Module):
    """n Linear layers (`layers.0`, ...), to give each its own storage or number format."""

    def __init__(self, n: int, d: int = 40) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(d, d, bias=k % 2 == 0) for k in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            x = layer(x)
            x = torch.tanh(x) if k % 2 else x
        return x


SPARSITY = ["2:4", "unstructured:0.9", "unstructured:0.8@csc", "unstructured:0.8@coo", "unstructured:0.8@dcsr",
            "unstructured:0.8@ell", "block:4x4:0.75", "vnm:4:2:4", "tasd:2:4+1:8", "1:8"]


def test_every_sparse_format_against_the_cpu_target() -> None:
    torch.manual_seed(0)
    model = Deep(len(SPARSITY)).eval()
    spec = {f"layers.{k}": s for k, s in enumerate(SPARSITY)}
    x = torch.randn(6, 40)
    (got,) = ref_run(model, [x], sparsity=spec)
    assert_close(got, cpu(model, [x], sparsity=spec), rel=2e-5)
    # and against eager on the weights pruned by the numpy reference
    pruned = copy.deepcopy(model)
    for k, s in enumerate(SPARSITY):
        w = pruned.layers[k].weight
        parts = s.removeprefix("tasd:").split("@")[0].split("+")
        residual, total = w.detach().numpy(), np.zeros_like(w.detach().numpy())
        for part in parts:
            p = prune(residual, part)
            total, residual = total + p, np.where(p != 0, 0, residual)
        w.data = torch.from_numpy(total)
    assert_close(got, eager(pruned, [x]))


LAYOUTS = {
    "csr64": lambda d: d.to_sparse_csr(),
    "csr32": lambda d: torch.sparse_csr_tensor(
        d.to_sparse_csr().crow_indices().int(), d.to_sparse_csr().col_indices().int(), d.to_sparse_csr().values(),
        d.shape),
    "coo": lambda d: d.to_sparse_coo(),
    "csc": lambda d: d.to_sparse_csc(),
    "bsr": lambda d: d.to_sparse_bsr((4, 4)),
}


@pytest.mark.filterwarnings("ignore:Sparse BSR tensor support is in beta", "ignore:Sparse invariant checks")
def test_torch_sparse_inputs_of_every_layout() -> None:
    def gcn(a0, a1, a2, a3, a4, x, w):
        h = x @ w
        return torch.relu(a0 @ h), a1 @ h, a2 @ h, a3 @ h[:, :1], a4 @ h

    g = torch.Generator().manual_seed(1)
    dense = (torch.rand(24, 24, generator=g) < 0.2) * torch.randn(24, 24, generator=g)
    dense[::5] = 0
    adj = [LAYOUTS[k](dense) for k in sorted(LAYOUTS)]
    x, w = torch.randn(24, 6), torch.randn(6, 8)
    args = [*adj, x, w]
    (got,) = ref_run(gcn, args)
    assert_close(got, eager(gcn, [dense] * 5 + [x, w]))
    assert_close(got, cpu(gcn, args), rel=2e-5)


def test_torch_sparse_parameter() -> None:
    class SparseLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = prune(np.random.default_rng(0).standard_normal((16, 12)).astype(np.float32), "unstructured:0.7")
            self.w = nn.Parameter(torch.from_numpy(w).to_sparse_csr(), requires_grad=False)

        def forward(self, x):
            return torch.sparse.mm(self.w, x)

    model = SparseLayer().eval()
    x = torch.randn(12, 5)
    (got,) = ref_run(model, [x])
    assert_close(got, [model.w.to_dense() @ x])
    assert_close(got, cpu(model, [x]), rel=2e-5)


# ----------------------------------------------------------------------------
# quantised weights
# ----------------------------------------------------------------------------

QUANT = ["int8:channel", "int8:g32:asym", "int4:g32", "int4:tensor:asym", "nf4:g64", "sf4:g32", "apot4:g32",
         "e2m1:g32", "e2m1s:g32", "mxfp4", "fp8_e4m3:channel", "fp8_e5m2:g32", "fp8_e4m3:none",
         "lp:n=4,es=1,rs=2,sf=0:g32", "int8:tensor"]


def test_every_quant_format_against_the_cpu_target_and_the_reference_weights() -> None:
    torch.manual_seed(0)
    model = Deep(len(QUANT), d=72).eval()  # 72: a short last group for g32/g64 and mxfp4
    spec = {f"layers.{k}": s for k, s in enumerate(QUANT)}
    x = torch.randn(5, 72)
    (got,) = ref_run(model, [x], quant=spec)
    assert_close(got, cpu(model, [x], quant=spec), rel=2e-5)
    deq = copy.deepcopy(model)
    for k, s in enumerate(QUANT):
        w = deq.layers[k].weight
        w.data = torch.from_numpy(dequantize(parse_format(s).quantize(w.detach().numpy())).reshape(w.shape))
    assert_close(got, eager(deq, [x]), rel=2e-5)


# ----------------------------------------------------------------------------
# handlers
# ----------------------------------------------------------------------------

# op name -> why it needs no handler. Empty: every op has one, also those
# that neither the frontend nor the weight passes produce and the CPU
# target does not lower (sparse.convert, sparse.nnz, sparse.prune,
# quant.dequantize, quant.quantize).
NEVER_PRODUCED: dict[str, str] = {}


def test_every_dialect_op_has_a_handler() -> None:
    ops = [*nn_dialect.Nn.operations, *sparse.Sparse.operations, *quant.Quant.operations]
    missing = [op.name for op in ops if op not in HANDLERS and op.name not in NEVER_PRODUCED]
    assert not missing, f"ops without a ref handler: {missing}"
    assert len(ops) > 80


def test_an_op_without_a_handler_fails_with_its_name() -> None:
    from xdsl.dialects import func, tensor
    from xdsl.dialects.builtin import ModuleOp, TensorType, i64
    from xdsl.ir import Block, Region

    typ = TensorType(i64, [2])
    block = Block(arg_types=[typ])
    empty = tensor.EmptyOp([], typ)
    block.add_ops([empty, func.ReturnOp(empty.tensor)])
    module = ModuleOp([func.FuncOp("forward", ([typ], [typ]), Region(block))])
    with pytest.raises(UnsupportedOpError, match=r"no handler for 'tensor.empty' \(op 0 of @forward"):
        interpret(module, [torch.tensor([1, 2])], {})
