"""2:4 sparsity x 4-bit quantisation on one layer (issue 19): the reference
(dialects/sparse_quant.py) against an independent numpy model of
prune-then-quantise, the CPU kernel (backends/cpu/sqkernels.c) against the
reference, and sparcc.jit on the CPU and ref targets against a torch model.

Tolerances: the kernel computes every weight exactly as the reference does
(checked bit for bit with one-hot x) and sums in another order, so y agrees
with x @ W.T to float32 round-off: |y - ref| <= 1e-5 * (|x| @ |W|.T + |b|)
(as test_qlinear_kernels.py).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import sparcc
from sparcc.backends.cpu import default_threads, set_num_threads
from sparcc.backends.cpu import sqlinear as sql
from sparcc.dialects import sparse_quant as sq
from sparcc.dialects.quant_formats import pack_nibbles, parse_format

RTOL = 1e-5
# every 4-bit family, at group, channel, tensor and no-scale granularity
SPECS = ["nf4:g64", "int4:g32:asym", "int4:g128", "mxfp4", "sf4:g128", "apot4:g64", "e2m1s:g32",
         "e2m1:channel", "int4:tensor", "e2m1:none", "lp:n=4,es=1:g64"]
# (N, K): N not a multiple of 4 or 16; K not a multiple of 4, 64 or the group
SHAPES = [(1, 64), (37, 200), (16, 130), (130, 1000), (5, 7)]


def weight(n: int, k: int, tag: str = "") -> np.ndarray:
    return np.random.default_rng(zlib.crc32(f"{tag} {n} {k}".encode())).standard_normal((n, k), dtype=np.float32)


def model_prune_quantize(w: np.ndarray, spec: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent model: per row, per 4 columns (K padded with zeros), keep the
    2 largest magnitudes (ties to the lower column); quantise the kept values of
    each row, in column order, with the format. Returns (columns, codes, dense)."""
    n, k = w.shape
    kp = -(-k // 4) * 4
    padded = np.zeros((n, kp), np.float32)
    padded[:, :k] = w
    groups = padded.reshape(n, kp // 4, 4)
    order = np.argsort(-np.abs(groups), axis=-1, kind="stable")[..., :2]
    cols = np.sort(order, axis=-1)
    kept = np.take_along_axis(groups, cols, axis=-1).reshape(n, -1)
    fmt = parse_format(spec)
    codes, _, _ = fmt.encode(kept)
    values = fmt.roundtrip(kept)
    dense = np.zeros((n, kp // 4, 4), np.float32)
    np.put_along_axis(dense, cols, values.reshape(n, kp // 4, 2), axis=-1)
    return cols.reshape(n, -1), codes, dense.reshape(n, kp)[:, :k]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_reference_is_prune_then_quantise(spec, shape):
    w = weight(*shape, spec)
    got = sq.quantize(w, "2:4", spec, "2:4")
    cols, codes, dense = model_prune_quantize(w, spec)
    assert np.array_equal(got.storage.coordinates[2].reshape(cols.shape), cols)
    assert np.array_equal(sq.stored_codes(got), codes)  # bit-exact codes
    assert np.array_equal(got.values.codes, pack_nibbles(codes, axis=1))
    assert np.array_equal(sq.dequantize(got), dense)
    # the storage round-trips through its IR buffers
    back = sq.from_buffers("2:4", spec, shape, sq.buffers(got).__getitem__)
    assert np.array_equal(sq.dequantize(back), dense)


def test_groups_run_over_kept_values():
    # nf4:g64 on 2:4: one scale per 64 kept values = 128 columns; a short last group
    got = sq.quantize(weight(3, 300), "2:4", "nf4:g64", "2:4")
    assert got.values.shape == (3, 150)
    assert got.values.scales.shape == (3, 3)


def check(y, x, w, bias):
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    bound = np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64).T
    if bias is not None:
        ref, bound = ref + bias, bound + np.abs(bias)
    assert np.all(np.abs(y - ref) <= RTOL * bound + 1e-30), float(np.max(np.abs(y - ref) - RTOL * bound))


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("m", [1, 2, 4, 5, 70])
def test_kernel_against_reference(spec, shape, m):
    w = weight(*shape, spec)
    got = sq.quantize(w, "2:4", spec, "2:4")
    dense = sq.dequantize(got)
    rng = np.random.default_rng(m)
    x = rng.standard_normal((m, shape[1]), dtype=np.float32)
    bias = rng.standard_normal(shape[0], dtype=np.float32) if m % 2 else None
    check(sql.sqlinear(x, got, bias), x, dense, bias)


@pytest.mark.parametrize("spec", ["nf4:g64", "int4:g32:asym", "mxfp4"])
@pytest.mark.parametrize("m", [1, 3, 6])
def test_kernel_weights_bit_exact(spec, m):
    # one-hot rows of x read single weights: each output is one product, exact
    n, k = 19, 77
    got = sq.quantize(weight(n, k, "exact"), "2:4", spec, "2:4")
    dense = sq.dequantize(got)
    for start in range(0, k, m):
        rows = np.arange(start, min(start + m, k))
        x = np.zeros((len(rows), k), np.float32)
        x[np.arange(len(rows)), rows] = 1.0
        assert np.array_equal(sql.sqlinear(x, got), dense[:, rows].T)


@pytest.mark.parametrize("threads", [1, 2])
def test_kernel_same_result_any_threads(threads):
    got = sq.quantize(weight(256, 512), "2:4", "nf4:g64", "2:4")
    x = np.random.default_rng(1).standard_normal((3, 512), dtype=np.float32)
    set_num_threads(1)
    want = sql.sqlinear(x, got)
    set_num_threads(threads)
    try:
        assert np.array_equal(sql.sqlinear(x, got), want)
    finally:
        set_num_threads(default_threads())


@pytest.mark.parametrize(("sparse_fmt", "quant_fmt", "why"), [
    ("vnm:4:2:4", "nf4:g64", "takes 2:4"),
    ("1:4", "nf4:g64", "takes 2:4"),
    ("2:4", "int8:channel", "takes 4-bit formats"),
    ("2:4", "int4:g16", "multiple of 32 kept values"),
])
def test_kernel_check(sparse_fmt, quant_fmt, why):
    with pytest.raises(ValueError, match=why):
        sql.check(sparse_fmt, quant_fmt)


def test_packed_layout_is_3_bits_per_weight():
    ops = sql.pack(sq.quantize(weight(4096, 256), "2:4", "nf4:g64", "2:4"))
    assert ops["packed"].nbytes * 8 / (4096 * 256) == 3.0  # codes and 2-bit positions
    assert ops["scales"].nbytes * 8 / (4096 * 256) == 0.25  # one float per 128 columns


# --- through sparcc.jit ----------------------------------------------------------------------------


class HFMLP(torch.nn.Module):
    """A Llama-style MLP block (gate/up/down projections, SiLU) under `mlp`."""

    def __init__(self, d: int = 128, h: int = 200):
        super().__init__()
        self.mlp = torch.nn.Module()
        self.mlp.gate_proj = torch.nn.Linear(d, h, bias=False)
        self.mlp.up_proj = torch.nn.Linear(d, h, bias=False)
        self.mlp.down_proj = torch.nn.Linear(h, d, bias=True)
        self.head = torch.nn.Linear(d, 10)

    def forward(self, x):
        m = self.mlp
        return self.head(x + m.down_proj(torch.nn.functional.silu(m.gate_proj(x)) * m.up_proj(x)))


def torch_model(model: HFMLP, spec: str) -> HFMLP:
    """The same model with its mlp weights pruned then quantised (the numpy model)."""
    out = HFMLP(model.mlp.gate_proj.in_features, model.mlp.gate_proj.out_features)
    out.load_state_dict(model.state_dict())
    for lin in (out.mlp.gate_proj, out.mlp.up_proj, out.mlp.down_proj):
        _, _, dense = model_prune_quantize(lin.weight.detach().numpy(), spec)
        lin.weight.data = torch.from_numpy(dense)
    return out.eval()


@pytest.mark.parametrize("spec", ["nf4:g64", "int4:g32:asym", "mxfp4"])
@pytest.mark.parametrize("shape", [(1, 128), (2, 5, 128)])
def test_jit_mlp_cpu_and_ref(spec, shape):
    torch.manual_seed(0)
    model = HFMLP().eval()
    x = torch.randn(*shape)
    want = torch_model(model, spec)(x).detach()
    opts = {"quant": {"*mlp.*": spec}, "sparsity": {"*mlp.*": "2:4"}, "cache": False}
    cpu = sparcc.jit(model, target="cpu", **opts)
    ref = sparcc.jit(model, target="ref", **opts)
    got_cpu, got_ref = cpu(x), ref(x)
    assert torch.allclose(got_ref, want, atol=1e-5, rtol=1e-5)
    assert torch.allclose(got_cpu, got_ref, atol=1e-4, rtol=1e-4)
    program = cpu.cache[next(iter(cpu.cache))]
    assert '#sparse.format<"2:4">' in program.ir["nn"] and "sparcc_sqlinear_24x4" in program.ir["linalg"]
    layers = {r["layer"]: r for r in program.report["sparsity"]["layers"]}
    assert set(layers) == {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
    assert layers["mlp.up_proj"]["quant"] == parse_format(spec).spec
    assert 0.3 < layers["mlp.up_proj"]["weight_rel_err"] < 0.7  # pruning half the weights dominates
    quant = {r["layer"]: r for r in program.report["quant"]["layers"]}
    assert quant["mlp.up_proj"]["sparsity"] == "2:4"
    # 3 bits of codes and positions + scales over half as many values: below the dense format's
    assert quant["mlp.up_proj"]["bits_per_weight"] < parse_format(spec).bits_per_weight(128)


@pytest.mark.parametrize(("quant", "sparsity", "why"), [
    ("nf4:g64", "unstructured:0.5", "data-dependent number of entries"),
    ("int8:channel", "2:4", "takes 4-bit formats"),
    ("int4:g16", "2:4", "multiple of 32 kept values"),
    ("nf4:g64", "vnm:4:2:4", "takes 2:4"),
    ("nf4:g64", "tasd:2:4+1:8", "one N:M pattern"),
    ("nf4:g64", "auto:2:4", "one N:M pattern"),
])
def test_invalid_combinations_are_one_message(quant, sparsity, why):
    model = HFMLP().eval()
    fast = sparcc.jit(model, quant={"*mlp.*": quant}, sparsity={"*.up_proj": sparsity}, cache=False)
    with pytest.raises(sparcc.SparccError) as info:
        fast(torch.randn(1, 128))
    message = str(info.value)
    assert "layer 'mlp.up_proj'" in message and f"quant '{parse_format(quant).spec}'" in message
    assert f"sparsity '{sparsity}'" in message and why in message
    assert "\n" not in message


@pytest.mark.parametrize("spec", ["nf4:g64", "int4:g32:asym", "mxfp4", "int4:tensor"])
@pytest.mark.parametrize("m", [1, 3, 6])
def test_avx2_kernel_matches_reference(spec, m, avx2_runtime, monkeypatch):
    """The AVX2 path (a host without AVX-512; built with -march=x86-64-v3, so
    AVX-512 hosts test it too): x gathered in registers for M <= 4, dense
    rows for M > 4; the weights bit for bit (one-hot rows of x), sums to
    round-off, at 1 and 2 threads alike."""
    fn = avx2_runtime.sparcc_sqlinear_24x4
    fn.argtypes, fn.restype = sql.KERNEL.ctypes_args(), None
    monkeypatch.setattr(sql, "_kernel", lambda: fn)
    for n, k in [(19, 77), (37, 200), (8, 256)]:
        got = sq.quantize(weight(n, k, spec), "2:4", spec, "2:4")
        dense = sq.dequantize(got)
        rng = np.random.default_rng(m)
        x = rng.standard_normal((m, k), dtype=np.float32)
        bias = rng.standard_normal(n, dtype=np.float32)
        check(sql.sqlinear(x, got, bias), x, dense, bias)
        for start in range(0, k, m):
            rows = np.arange(start, min(start + m, k))
            eye = np.zeros((len(rows), k), np.float32)
            eye[np.arange(len(rows)), rows] = 1.0
            assert np.array_equal(sql.sqlinear(eye, got), dense[:, rows].T)
        ys = []
        try:
            for threads in (1, 2):
                set_num_threads(threads, avx2_runtime)
                ys.append(sql.sqlinear(x, got, bias))
        finally:
            set_num_threads(2, avx2_runtime)
        assert np.array_equal(*ys)
