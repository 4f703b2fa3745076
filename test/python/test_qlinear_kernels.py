"""The fused dequantising linear kernels (backends/cpu/ukernels.c through qlinear.py) against the numpy reference.

Reference: y = x @ QuantFormat.dequantize(q).T + bias in float64. The kernels
compute every weight exactly as `dequantize` does (checked bit for bit with
one-hot x), but sum in another order, so y agrees to float32 round-off:
|y - ref| <= RTOL * (|x| @ |w|.T + |bias|). A float32 sum of K products
errs by at most ~K * 2^-24 of that bound in the worst case and by far less
on random data (observed: < 5e-7 at K = 4096); RTOL = 1e-5 leaves room for
the worst blocked sums and still fails on any wrong weight, scale or group.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pytest
import torch
from sparcc.backends.cpu import qlinear as ql
from sparcc.backends.cpu import set_num_threads
from sparcc.dialects.quant_formats import QuantizedTensor, pack_nibbles, parse_format

RTOL = 1e-5

# the formats the issue lists, at the granularities it names
SPECS = [
    "int8:channel", "int8:g128", "int8:g64:asym", "int4:g64", "int4:g128:asym", "nf4:g64", "sf4:g128",
    "apot4:g128", "e2m1:g32", "e2m1s:g32", "mxfp4", "fp8_e4m3:channel", "fp8_e5m2:g64", "lp:n=4,es=1:g64",
]
# other kernel paths: groups smaller than a chunk (per-lane scales), tables of
# fewer than 16 or 256 entries, 256-entry tables that are not integers, one
# scale per tensor, no scale
EXTRA_SPECS = [
    "int4:g16", "nf4:g8", "int4:g8:asym", "int8:g8:asym", "e2m1:g16", "lp:n=3", "lp:n=6", "lp:n=8,es=2:g32",
    "fp8_e4m3:tensor", "int4:tensor:asym", "int8:tensor", "e2m1:none", "fp8_e5m2:none",
]
# (N, K): one row; N not a multiple of 16; K not a multiple of 32 nor of the
# group (a short last group); the large layer slice; odd K (the last
# byte holds one nibble)
SHAPES = [(1, 32), (37, 64), (128, 200), (256, 4096), (19, 77)]


@functools.cache
def quantized(spec: str, n: int, k: int) -> tuple[QuantizedTensor, np.ndarray]:
    """q and its reference weights in float64, for a seeded random weight."""
    w = np.random.default_rng(zlib.crc32(f"{spec} {n} {k}".encode())).standard_normal((n, k), dtype=np.float32)
    fmt = parse_format(spec)
    q = fmt.quantize(w)
    return q, fmt.dequantize(q).astype(np.float64)


def data(m: int, n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal(n, dtype=np.float32)


def check(y: np.ndarray, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> None:
    ref = x.astype(np.float64) @ w.T
    bound = np.abs(x).astype(np.float64) @ np.abs(w).T
    if bias is not None:
        ref = ref + bias
        bound = bound + np.abs(bias)
    assert y.dtype == np.float32 and y.shape == ref.shape
    err = np.abs(y - ref)
    worst = np.unravel_index(np.argmax(err - RTOL * bound), err.shape)
    assert np.all(err <= RTOL * bound), (
        f"y{list(worst)} = {y[worst]!r}, reference {ref[worst]!r}: error {err[worst]:.3g} > {RTOL} * {bound[worst]:.3g}"
    )


def one_hot_exact(q: QuantizedTensor, w: np.ndarray) -> None:
    """x = identity: y = w.T must hold every dequantised weight exactly (+-0 alike), on every path."""
    k = w.shape[1]
    eye = np.eye(k, dtype=np.float32)
    want = w.T.astype(np.float32)
    np.testing.assert_array_equal(ql.qlinear(eye, q), want, err_msg="GEMM path")  # M = K > 4
    for k0 in range(0, k, 3):  # M <= 3
        np.testing.assert_array_equal(ql.qlinear(eye[k0 : k0 + 3], q), want[k0 : k0 + 3], err_msg="GEMV path")
    for k0 in range(k):  # M = 1: 4-bit codes take the wide GEMV
        np.testing.assert_array_equal(ql.qlinear(eye[k0], q), want[k0], err_msg=f"M = 1, k = {k0}")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("spec", SPECS)
def test_matches_reference(spec, shape):
    n, k = shape
    q, w = quantized(spec, n, k)
    for m in (1, 3, 64) if k > 1000 else (1, 2, 3, 4, 5, 64, 100):
        x, bias = data(m, n, k, seed=m)
        check(ql.qlinear(x, q, bias), x, w, bias)
    check(ql.qlinear(x, q), x, w, None)


@pytest.mark.parametrize("spec", SPECS + EXTRA_SPECS)
def test_weights_bit_exact(spec):
    q, w = quantized(spec, 19, 77)
    one_hot_exact(q, w)


@pytest.mark.parametrize("spec", EXTRA_SPECS)
def test_other_paths_match_reference(spec):
    for n, k in ((37, 64), (19, 77), (64, 520)):
        q, w = quantized(spec, n, k)
        for m in (1, 2, 3, 4, 17, 64):
            x, bias = data(m, n, k, seed=m)
            check(ql.qlinear(x, q, bias), x, w, bias)


@pytest.mark.parametrize("spec", ["int4:g128", "nf4:g64", "int8:channel", "int8:g64:asym", "mxfp4", "fp8_e4m3:channel"])
def test_thread_counts_agree_bitwise(spec):
    """Each output is computed the same way whatever the slicing of N: 1 and 2 threads agree bit for bit."""
    q, w = quantized(spec, 256, 4096)
    try:
        for m in (1, 64):
            x, bias = data(m, 256, 4096)
            ys = []
            for threads in (1, 2):
                set_num_threads(threads)
                ys.append(ql.qlinear(x, q, bias))
            check(ys[0], x, w, bias)
            np.testing.assert_array_equal(ys[0], ys[1])
    finally:
        set_num_threads(2)


def test_empty_shapes_and_leading_dims():
    q, w = quantized("int4:g64", 37, 64)
    assert ql.qlinear(np.zeros((0, 64), np.float32), q).shape == (0, 37)
    x = np.random.default_rng(0).standard_normal((2, 3, 64), dtype=np.float32)
    y = ql.qlinear(x, q)
    assert y.shape == (2, 3, 37)
    check(y.reshape(6, 37), x.reshape(6, 64), w, None)
    # no output features, and no input features (built by hand: quantize refuses empty weights)
    empty_n = QuantizedTensor("int4:g64", (0, 64), np.zeros((0, 32), np.uint8), np.zeros((0, 1), np.float32))
    assert ql.qlinear(x, empty_n).shape == (2, 3, 0)
    empty_k = QuantizedTensor("int8:g64", (5, 0), np.zeros((5, 0), np.uint8), np.zeros((5, 0), np.float32))
    bias = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(ql.qlinear(np.zeros((3, 0), np.float32), empty_k, bias), np.tile(bias, (3, 1)))


def test_torch_inputs():
    q, w = quantized("nf4:g64", 37, 64)
    x = torch.randn(3, 64)
    check(ql.qlinear(x, q, torch.ones(37)), x.numpy(), w, np.ones(37, np.float32))
    xb = x.to(torch.bfloat16)  # converted to float32 first
    check(ql.qlinear(xb, q), xb.float().numpy(), w, None)


def test_special_values_propagate_like_the_reference():
    """Inf and NaN weights (E5M2 0x7C, 0xFC, 0xFE; E4M3 0x7F, 0xFF) and an E8M0 NaN scale give y the
    reference's Inf/NaN."""
    q, _ = quantized("fp8_e5m2:g64", 8, 200)
    codes = q.codes.copy()
    codes[1, 7], codes[2, 150], codes[3, 199] = 0x7C, 0xFC, 0xFE  # +Inf, -Inf, NaN
    q = QuantizedTensor(q.spec, q.shape, codes, q.scales)
    q4, _ = quantized("fp8_e4m3:channel", 8, 200)
    codes = q4.codes.copy()
    codes[2, 3], codes[5, 199] = 0x7F, 0xFF  # NaN, -NaN
    q4 = QuantizedTensor(q4.spec, q4.shape, codes, q4.scales)
    mq, _ = quantized("mxfp4", 8, 200)
    e8m0 = mq.scales.copy()
    e8m0[4, 6] = 0xFF  # NaN scale for k = 192 .. 199 of row 4
    mq = QuantizedTensor(mq.spec, mq.shape, mq.codes, e8m0)
    for t in (q, q4, mq):
        w = parse_format(t.spec).dequantize(t).astype(np.float64)
        for m in (1, 64):
            x, _ = data(m, 8, 200)
            with np.errstate(invalid="ignore"):
                ref = x.astype(np.float64) @ w.T
            y = ql.qlinear(x, t)
            np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
            np.testing.assert_array_equal(np.isposinf(y), np.isposinf(ref))
            np.testing.assert_array_equal(np.isneginf(y), np.isneginf(ref))
            assert np.isnan(y).any() or np.isinf(y).any()


@pytest.mark.parametrize("kernel", ["lut4", "lut8"])
@pytest.mark.parametrize("group", [1, 2, 4, 24, 48, 100])
def test_any_group_size(kernel, group):
    """The C kernels take any group, not only the formats' powers of two (per-lane scales, scalar lanes)."""
    rng = np.random.default_rng(group)
    n, k = 21, 150
    entries = 16 if kernel == "lut4" else 256
    codes = rng.integers(0, entries, (n, k), dtype=np.uint8)
    lut = rng.standard_normal(entries).astype(np.float32)
    g = -(-k // group)
    scales = rng.standard_normal((n, g)).astype(np.float32)
    zeros = rng.integers(0, 4, (n, g)).astype(np.float32)
    w = ((lut[codes] - np.repeat(zeros, group, axis=1)[:, :k]) * np.repeat(scales, group, axis=1)[:, :k]).astype(
        np.float32
    )
    packed = codes if kernel == "lut8" else pack_nibbles(codes, axis=1)
    ops = {"kernel": kernel, "codes": np.ascontiguousarray(packed), "scales": scales, "zeros": zeros, "lut": lut,
           "group": group, "flags": ql.FLAG_ZEROS, "N": n, "K": k}
    for m in (1, 3, 64):
        x, bias = data(m, n, k)
        run, y = ql.bind(x, ops, bias)
        run()
        check(y, x, w.astype(np.float64), bias)


@pytest.mark.parametrize("zeros", [False, True], ids=["sym", "zeros"])
@pytest.mark.parametrize("group", [8, 16, 32, 64, 128, 256, 384, 4096])
def test_wide_gemv_groups_and_tails(group, zeros):
    """M = 1 with 4-bit codes, the wide GEMV (blocks of 128 k, 4 rows at once, per-lane scales for groups
    of 8..64, one scaled table per group of whole blocks; zero points with groups under 128 take the chunk
    kernel): K a multiple of 128, not one, shorter than a block, odd; N not a multiple of 4; one-hot x
    gives every weight exactly."""
    rng = np.random.default_rng(group + zeros)
    for n, k in ((5, 1024), (7, 1000), (3, 1001), (9, 127), (1, 129)):
        codes = rng.integers(0, 16, (n, k), dtype=np.uint8)
        lut = rng.standard_normal(16).astype(np.float32)
        g = -(-k // group)
        scales = rng.standard_normal((n, g)).astype(np.float32)
        zp = rng.integers(0, 4, (n, g)).astype(np.float32) if zeros else np.zeros((n, g), np.float32)
        full = lambda a: np.repeat(a, group, axis=1)[:, :k]
        w = ((lut[codes] - full(zp)) * full(scales)).astype(np.float32)
        ops = {"kernel": "lut4", "codes": np.ascontiguousarray(pack_nibbles(codes, axis=1)), "scales": scales,
               "zeros": zp if zeros else None, "lut": lut, "group": group,
               "flags": ql.FLAG_ZEROS if zeros else 0, "N": n, "K": k}
        x, bias = data(1, n, k, seed=k)
        run, y = ql.bind(x, ops, bias)
        run()
        check(y, x, w.astype(np.float64), bias)
        eye = np.eye(k, dtype=np.float32)
        for k0 in list(range(0, k, 37)) + [k - 1]:
            run, y = ql.bind(eye[k0 : k0 + 1], ops)
            run()
            np.testing.assert_array_equal(y[0], w[:, k0], err_msg=f"[{n}, {k}] k = {k0}")


def test_kernel_operands():
    ops = ql.kernel_operands(quantized("int4:g128", 37, 200)[0])
    assert (ops["kernel"], ops["group"], ops["flags"], ops["N"], ops["K"]) == ("lut4", 128, 0, 37, 200)
    assert ops["codes"].shape == (37, 100) and ops["scales"].shape == (37, 2) and ops["zeros"] is None
    np.testing.assert_array_equal(ops["lut"], parse_format("int4").element.values)
    ops = ql.kernel_operands(quantized("int8:g64:asym", 37, 200)[0])
    assert (ops["kernel"], ops["flags"], ops["zeros"].shape, ops["lut"].shape) == ("lut8", ql.FLAG_ZEROS, (37, 4), (256,))
    ops = ql.kernel_operands(quantized("mxfp4", 37, 200)[0])
    assert (ops["kernel"], ops["symbol"], ops["scales"].dtype, ops["scales"].shape) == (
        "mx4", "sparcc_qlinear_mx4", np.uint8, (37, 7))
    ops = ql.kernel_operands(quantized("fp8_e4m3:tensor", 37, 200)[0])  # one scale, broadcast per row
    assert ops["group"] == 200 and ops["scales"].shape == (37, 1) and np.all(ops["scales"] == ops["scales"][0])
    ops = ql.kernel_operands(quantized("e2m1:none", 37, 200)[0])
    assert np.all(ops["scales"] == 1) and ops["scales"].shape == (37, 1)
    ops = ql.kernel_operands(quantized("lp:n=3", 37, 200)[0])  # 8 values, padded to the 16-entry table
    assert ops["kernel"] == "lut4" and np.all(ops["lut"][8:] == 0)
    assert ql.kernel_operands(quantized("lp:n=6", 37, 200)[0])["kernel"] == "lut8"


def test_errors_name_the_problem():
    q, _ = quantized("int4:g64", 37, 64)
    x = np.zeros((2, 64), np.float32)
    with pytest.raises(ValueError, match=r"x has shape \[2, 63\], expected \[\.\.\., 64\]"):
        ql.qlinear(np.zeros((2, 63), np.float32), q)
    with pytest.raises(ValueError, match=r"bias has shape \[36\], expected \[37\]"):
        ql.qlinear(x, q, np.zeros(36, np.float32))
    with pytest.raises(ValueError, match="must be real"):
        ql.qlinear(x.astype(np.complex64), q)
    with pytest.raises(TypeError, match="expected a quant_formats.QuantizedTensor"):
        ql.kernel_operands(np.zeros((37, 64)))
    conv = parse_format("int4:g64").quantize(np.ones((4, 2, 32), np.float32))
    with pytest.raises(ValueError, match=r"shape \[4, 2, 32\]; a linear layer's weight is \[out, in\]"):
        ql.qlinear(x, conv)
    with pytest.raises(ValueError, match=r"codes should be uint8 \[37, 32\], got uint8 \[37, 64\]"):
        ql.kernel_operands(QuantizedTensor(q.spec, q.shape, np.zeros((37, 64), np.uint8), q.scales))
    with pytest.raises(ValueError, match=r"scales should be float32 \[37, 1\], got NoneType"):
        ql.kernel_operands(QuantizedTensor(q.spec, q.shape, q.codes, None))
    asym, _ = quantized("int4:g128:asym", 37, 64)
    with pytest.raises(ValueError, match="zero points should be float32"):
        ql.kernel_operands(QuantizedTensor(asym.spec, asym.shape, asym.codes, asym.scales))
    with pytest.raises(ValueError, match="symmetric format has no zero points"):
        ql.kernel_operands(QuantizedTensor(q.spec, q.shape, q.codes, q.scales, q.scales))
    none, _ = quantized("e2m1:none", 37, 64)
    with pytest.raises(ValueError, match="'none' has no scales"):
        ql.kernel_operands(QuantizedTensor(none.spec, none.shape, none.codes, np.ones((37, 1), np.float32)))
    with pytest.raises(ValueError, match="not canonical"):
        ql.kernel_operands(QuantizedTensor("INT4:g64", q.shape, q.codes, q.scales))
    with pytest.raises(ValueError, match="unknown format 'int3'"):
        ql.kernel_operands(QuantizedTensor("int3", q.shape, q.codes, q.scales))


@pytest.fixture
def avx2_kernels(avx2_runtime):
    def kernel(name: str):
        if name == "runtime":
            return avx2_runtime
        record = ql.QLINEAR[name]
        fn = getattr(avx2_runtime, record.symbol)
        fn.argtypes = record.ctypes_args()
        fn.restype = None
        return fn

    return kernel


@pytest.mark.parametrize("spec", ["int4:g128:asym", "int4:g128", "nf4:g64", "int8:channel", "int8:g64:asym", "mxfp4",
                                  "fp8_e4m3:channel", "e2m1:g16", "lp:n=8,es=2:g32", "int4:g8:asym", "int8:g8:asym"])
@pytest.mark.parametrize("m", [1, 3, 7])
def test_avx2_kernels_match_reference(spec, m, avx2_kernels, monkeypatch):
    """32 weights at a time through byte tables (4-bit codes without zero
    points, K and groups multiples of 32), 8 at a time (multiples of 8), or
    the scalar code (K = 77): the same weights bit for bit (every column,
    through one-hot rows of x, in blocks of m rows), sums to round-off, at 1
    and 2 threads alike."""
    monkeypatch.setattr(ql, "_kernel", avx2_kernels)
    for n, k in [(37, 64), (16, 192), (19, 77), (8, 40)]:
        q, w = quantized(spec, n, k)
        x, bias = data(m, n, k, seed=m)
        check(ql.qlinear(x, q, bias), x, w, bias)
        eye = np.eye(k, dtype=np.float32)
        for j in range(0, k, m):
            rows = eye[j:j + m]
            np.testing.assert_array_equal(ql.qlinear(rows, q), w.T.astype(np.float32)[j:j + m])
        ys = []
        try:
            for threads in (1, 2):
                set_num_threads(threads, avx2_kernels("runtime"))
                ys.append(ql.qlinear(x, q, bias))
        finally:
            set_num_threads(2, avx2_kernels("runtime"))
        np.testing.assert_array_equal(*ys)
