"""The sparse matrix kernels (backends/cpu/spkernels.c through sparse_kernels.py) against scipy.sparse and numpy.

Reference: the float64 product of the matrix `decode` gives back (scipy.sparse
CSR @ dense). The kernels form every product in float32 and sum in another
order, so results agree to float32 round-off: |y - ref| <= RTOL * (|A| @ |b|)
(+ |bias|, + |c0| when accumulating). The worst case of a float32 sum of K
terms is ~K * 2^-24 of that bound; random data stays far below it, and
RTOL = 1e-5 still fails on any wrong, missing or doubled entry.

Out-of-bounds reads are caught by NaN: every dense operand is the head of a
larger buffer whose tail is NaN, so a read past the logical shape (say of a
padded entry's coordinate >= cols) turns results into NaN; outputs are heads
of buffers whose tails must come back untouched.
"""

from __future__ import annotations

import ctypes
import functools
import re
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sps
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sparcc.backends.cpu import set_num_threads, toolchain
from sparcc.backends.cpu import sparse_kernels as sk
from sparcc.dialects.sparse_formats import (
    SparseStorage,
    decode,
    encode,
    parse_format,
    prune,
)

RTOL = 1e-5

SPECS = [
    "csr", "csc", "coo", "dcsr", "ell",
    "bsr:2x2", "bsr:4x4", "bsr:2x3", "bsr:5x1", "bsr:3x8",
    "2:4", "1:4", "4:8", "3:7", "1:8",
    "vnm:4:2:4", "vnm:2:1:4", "vnm:6:2:8",
    # 64-bit positions and/or coordinates
    "csr;pos=64;crd=64", "csr;pos=64", "csc;crd=64", "coo;pos=64;crd=64", "dcsr;pos=64;crd=64",
    "ell;crd=64", "bsr:4x4;pos=64;crd=64",
]
# 1x1; rows and columns that no block or group size divides; one row; a size
# that several threads split (work above the kernels' per-thread minimum)
SHAPES = [(1, 1), (7, 10), (13, 5), (1, 17), (130, 301)]
# SpMV; masked tails; one full panel; two panels, the last one masked
WIDTHS = [1, 2, 17, 64, 70]


def random_sparse(shape: tuple[int, int], density: float, seed: int) -> np.ndarray:
    """float32, about `density` nonzero, row 1 empty (when there is one)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) >= density] = 0
    if shape[0] > 2:
        w[1] = 0
    return w


def fits(w: np.ndarray, spec: str) -> np.ndarray:
    """w pruned to the pattern an N:M or V:N:M format needs (unchanged for the others)."""
    head = spec.split(";")[0]
    return prune(w, head) if head[0].isdigit() or head.startswith(("nm:", "vnm:")) else w


@functools.cache
def matrix(spec: str, shape: tuple[int, int], density: float = 0.3) -> tuple[SparseStorage, np.ndarray]:
    seed = zlib.crc32(f"{spec} {shape} {density}".encode())
    w = fits(random_sparse(shape, density, seed), spec)
    s = encode(w, spec)
    np.testing.assert_array_equal(decode(s), w)
    return s, w.astype(np.float64)


def guarded(shape: tuple[int, ...], rng: np.random.Generator, tail: float = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """(a, whole): a random float32 array of `shape`, the contiguous head of `whole`, whose 64-entry tail is `tail`."""
    size = int(np.prod(shape))
    whole = np.full(size + 64, tail, np.float32)
    whole[:size] = rng.standard_normal(size).astype(np.float32)
    return whole[:size].reshape(shape), whole


def check(y: np.ndarray, ref: np.ndarray, bound: np.ndarray, what: str) -> None:
    assert y.dtype == np.float32 and y.shape == ref.shape, what
    err = np.abs(y.astype(np.float64) - ref)
    ok = err <= RTOL * bound + 1e-30
    if not np.all(ok):
        at = np.unravel_index(np.argmin(ok), ok.shape)
        pytest.fail(f"{what}: y{list(at)} = {y[at]!r}, reference {ref[at]!r} (bound {RTOL * bound[at]:.3g})")


@pytest.fixture(autouse=True, scope="module")
def _two_threads():
    set_num_threads(2)
    yield


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("spec", SPECS)
def test_spmm_and_spmv(spec: str, shape: tuple[int, int]) -> None:
    s, w = matrix(spec, shape)
    ref_a = sps.csr_matrix(w)
    abs_a = sps.csr_matrix(np.abs(w))
    rng = np.random.default_rng(1)
    rows, cols = shape
    for n in WIDTHS:
        b, _ = guarded((cols, n), rng)
        out, whole = guarded((rows, n), rng, tail=7.0)
        c0 = out.copy()
        y = sk.spmm(s, b)
        check(y, ref_a @ b.astype(np.float64), abs_a @ np.abs(b.astype(np.float64)), f"{spec} @ b[{cols}, {n}]")
        # accumulate into a given output, whose tail stays untouched
        sk.spmm(s, b, out=out, accumulate=True)
        check(out, c0 + ref_a @ b.astype(np.float64), np.abs(c0) + abs_a @ np.abs(b.astype(np.float64)),
              f"{spec} @ b[{cols}, {n}], accumulated")
        assert np.all(whole[rows * n :] == 7.0), "wrote past the output"
    v, _ = guarded((cols,), rng)
    check(sk.spmm(s, v), ref_a @ v.astype(np.float64), abs_a @ np.abs(v.astype(np.float64)), f"{spec} @ v (1-D)")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("spec", SPECS)
def test_linear(spec: str, shape: tuple[int, int]) -> None:
    s, w = matrix(spec, shape)
    rng = np.random.default_rng(2)
    rows, cols = shape
    for n in WIDTHS:
        x, _ = guarded((n, cols), rng)
        bias, _ = guarded((rows,), rng)
        x64 = x.astype(np.float64)
        ref = x64 @ w.T
        bound = np.abs(x64) @ np.abs(w).T
        check(sk.linear(x, s), ref, bound, f"x[{n}, {cols}] @ {spec}.T")
        check(sk.linear(x, s, bias), ref + bias, bound + np.abs(bias), f"x[{n}, {cols}] @ {spec}.T + bias")
        out, whole = guarded((n, rows), rng, tail=7.0)
        c0 = out.copy()
        sk.linear(x, s, bias, out=out, accumulate=True)
        check(out, c0 + ref + bias, np.abs(c0) + bound + np.abs(bias), f"x[{n}, {cols}] @ {spec}.T + bias, accumulated")
        assert np.all(whole[rows * n :] == 7.0), "wrote past the output"
    # leading batch dimensions, as torch.nn.functional.linear takes them
    x3 = rng.standard_normal((2, 3, cols)).astype(np.float32)
    y3 = sk.linear(torch.from_numpy(x3), s)
    assert y3.shape == (2, 3, rows)
    check(y3, x3.astype(np.float64) @ w.T, np.abs(x3.astype(np.float64)) @ np.abs(w).T, f"x[2, 3, {cols}] @ {spec}.T")


@pytest.mark.parametrize("spec", ["csr", "csc", "2:4", "vnm:4:2:4", "bsr:2x3"])
def test_any_alignment(spec: str) -> None:
    """b at every 4-byte offset from a cache line (the kernels copy rows that straddle lines): same bits."""
    s, w = matrix(spec, (130, 301))
    rng = np.random.default_rng(11)
    for n in (16, 64):
        base = np.full(301 * n + 64, np.nan, np.float32)
        first = (-base.ctypes.data % 64) // 4  # the first 64-byte aligned element
        data = rng.standard_normal((301, n)).astype(np.float32)
        results = []
        for shift in range(16):
            b = base[first + shift : first + shift + 301 * n].reshape(301, n)
            b[:] = data
            results.append(sk.spmm(s, b))
        for y in results[1:]:
            np.testing.assert_array_equal(y, results[0])
        check(results[0], w @ data, np.abs(w) @ np.abs(data.astype(np.float64)), f"{spec} @ b[301, {n}]")


@pytest.mark.parametrize("spec", ["csr", "csc", "coo", "dcsr", "ell", "bsr:2x3", "2:4", "vnm:4:2:4"])
def test_all_zero_and_empty(spec: str) -> None:
    rng = np.random.default_rng(3)
    for shape in [(5, 9), (1, 1), (0, 4), (4, 0)]:
        s = encode(np.zeros(shape, np.float32), spec)
        rows, cols = shape
        bias = rng.standard_normal(rows).astype(np.float32)
        np.testing.assert_array_equal(sk.spmm(s, rng.standard_normal((cols, 3)).astype(np.float32)), np.zeros((rows, 3)))
        np.testing.assert_array_equal(sk.spmm(s, np.zeros(cols, np.float32)), np.zeros(rows))
        np.testing.assert_array_equal(sk.linear(np.ones((2, cols), np.float32), s, bias), np.tile(bias, (2, 1)))
        assert sk.spmm(s, np.ones((cols, 0), np.float32)).shape == (rows, 0)


@pytest.mark.parametrize("spec", ["csr", "coo", "dcsr", "csc", "bsr:4x4", "2:4", "vnm:4:2:4"])
def test_same_bits_any_thread_count(spec: str) -> None:
    """Each row is summed the same way however the rows are split over threads."""
    s, _ = matrix(spec, (130, 301))
    rng = np.random.default_rng(4)
    b = rng.standard_normal((301, 40)).astype(np.float32)
    x = rng.standard_normal((40, 301)).astype(np.float32)
    try:
        set_num_threads(1)
        one = sk.spmm(s, b), sk.linear(x, s), sk.spmm(s, b[:, 0])
        set_num_threads(2)
        two = sk.spmm(s, b), sk.linear(x, s), sk.spmm(s, b[:, 0])
    finally:
        set_num_threads(2)
    for a, c in zip(one, two):
        np.testing.assert_array_equal(a, c)


@settings(max_examples=40, deadline=None)
@given(
    spec=st.sampled_from(["csr", "coo", "dcsr", "ell", "csc", "bsr:3x2", "2:4", "2:8", "vnm:2:2:4"]),
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    density=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
    n=st.integers(1, 80),
    seed=st.integers(0, 2**16),
)
def test_random_shapes(spec: str, rows: int, cols: int, density: float, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = fits(random_sparse((rows, cols), density, seed), spec)
    s = encode(w, spec)
    w64 = w.astype(np.float64)
    b, _ = guarded((cols, n), rng)
    check(sk.spmm(s, b), w64 @ b, np.abs(w64) @ np.abs(b.astype(np.float64)), f"{spec} {rows}x{cols} @ [{cols}, {n}]")
    x, _ = guarded((n, cols), rng)
    check(sk.linear(x, s), x.astype(np.float64) @ w64.T, np.abs(x.astype(np.float64)) @ np.abs(w64).T,
          f"[{n}, {cols}] @ {spec} {rows}x{cols}.T")


# --- SDDMM ----------------------------------------------------------------------


def sddmm_reference(s: SparseStorage, a1: np.ndarray, a2: np.ndarray, alpha: float, beta: float):
    """(values, bound) at the stored entries of a CSR storage, float64."""
    pos = s.positions[1].astype(np.int64)
    rows = np.repeat(np.arange(s.shape[0]), np.diff(pos))
    cols = s.coordinates[1].astype(np.int64)
    a1d, a2d = a1.astype(np.float64), a2.astype(np.float64)
    dots = np.einsum("ek,ek->e", a1d[rows], a2d[:, cols].T)
    bound = np.abs(alpha) * np.einsum("ek,ek->e", np.abs(a1d[rows]), np.abs(a2d[:, cols].T))
    sv = s.values.astype(np.float64)
    if beta != 0:
        return alpha * dots + beta * sv, bound + np.abs(beta * sv)
    return alpha * dots, bound


@pytest.mark.parametrize("spec", ["csr", "csr;pos=64;crd=64"])
@pytest.mark.parametrize("shape,k", [((1, 1), 1), ((7, 10), 0), ((13, 5), 3), ((40, 70), 70), ((130, 301), 64)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (2.0, 0.0)])
def test_sddmm(spec: str, shape: tuple[int, int], k: int, alpha: float, beta: float) -> None:
    s, _ = matrix(spec, shape)
    rng = np.random.default_rng(5)
    a1, _ = guarded((shape[0], k), rng)
    a2, _ = guarded((k, shape[1]), rng)
    out = sk.sddmm(s, a1, a2, alpha, beta)
    assert out.format == s.format and out.values.dtype == np.float32
    for got, want in zip(out.positions + out.coordinates, s.positions + s.coordinates):
        assert (got is None and want is None) or np.array_equal(got, want)
    ref, bound = sddmm_reference(s, a1, a2, alpha, beta)
    check(out.values, ref, bound, f"sddmm {spec} {shape} k={k}")


def test_sddmm_matches_torch() -> None:
    s, w = matrix("csr", (40, 70))
    rng = np.random.default_rng(6)
    a1 = rng.standard_normal((40, 16)).astype(np.float32)
    a2 = rng.standard_normal((16, 70)).astype(np.float32)
    t = torch.sparse.sampled_addmm(torch.from_numpy(w.astype(np.float32)).to_sparse_csr(), torch.from_numpy(a1),
                                   torch.from_numpy(a2), beta=0.5, alpha=-1.5)
    got = sk.sddmm(s, a1, a2, alpha=-1.5, beta=0.5)
    np.testing.assert_array_equal(got.positions[1], t.crow_indices().numpy())
    np.testing.assert_array_equal(got.coordinates[1], t.col_indices().numpy())
    np.testing.assert_allclose(got.values, t.values().numpy(), rtol=1e-5, atol=1e-5)


def test_sddmm_beta_zero_ignores_s_and_few_entries() -> None:
    """beta = 0: NaN values in S do not propagate; one entry in a wide S (a2 read in place)."""
    w = np.zeros((3, 500), np.float32)
    w[0, 7], w[2, 499] = np.nan, 2.0
    s = encode(w, "csr")
    rng = np.random.default_rng(7)
    a1 = rng.standard_normal((3, 5)).astype(np.float32)
    a2 = rng.standard_normal((5, 500)).astype(np.float32)
    got = sk.sddmm(s, a1, a2, alpha=1.0, beta=0.0).values
    want = [a1[0].astype(np.float64) @ a2[:, 7], a1[2].astype(np.float64) @ a2[:, 499]]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    got = sk.sddmm(s, a1, a2, alpha=1.0, beta=1.0).values
    assert np.isnan(got[0]) and got[1] == pytest.approx(want[1] + 2.0, rel=1e-5)


@pytest.mark.parametrize("spec", ["coo", "2:4", "bsr:2x2"])
def test_sddmm_other_formats_go_through_csr(spec: str) -> None:
    s, w = matrix(spec, (13, 8))
    rng = np.random.default_rng(8)
    a1 = rng.standard_normal((13, 4)).astype(np.float32)
    a2 = rng.standard_normal((4, 8)).astype(np.float32)
    out = sk.sddmm(s, a1, a2, alpha=1.0, beta=1.0)
    assert out.format.spec == "csr"
    mask = w != 0
    want = np.where(mask, w + a1.astype(np.float64) @ a2, 0)
    np.testing.assert_allclose(decode(out), want, rtol=1e-5, atol=1e-6)


# --- the compiler's view: kinds and operands --------------------------------------


@pytest.mark.parametrize(
    "spec,kind",
    [("csr", "csr"), ("csc", "csc"), ("coo", "coo"), ("dcsr", "dcsr"), ("ell", "ell"), ("bsr:4", "bsr"),
     ("bsr:2x3", "bsr"), ("2:4", "nm"), ("nm:1:8", "nm"), ("vnm:4:2:4", "vnm"), ("csr;pos=64;crd=64", "csr"),
     ("dense", None), ("levels=(compressed,compressed);order=(1,0)", None), ("csr;pos=16", None),
     ("coo;crd=8", None), ("2:4;crd=32", None), ("levels=(d1:dense,d0/4:dense,d0%4:nm(1,4))", None)],
)
def test_kernel_kind(spec: str, kind: str | None) -> None:
    assert sk.kernel_kind(spec) == kind
    assert sk.kernel_kind(parse_format(spec)) == kind


@pytest.mark.parametrize("spec", ["csr", "coo", "dcsr", "bsr:2x3;pos=64", "2:4", "vnm:4:2:4"])
def test_operands_name_the_storage_buffers(spec: str) -> None:
    s, _ = matrix(spec, (13, 10))
    ops = sk.operands(s)
    assert ops["symbol"] == f"sparcc_sp_{ops['kind']}" and (ops["rows"], ops["cols"]) == (13, 10)
    names = sk.INDEX_BUFFERS[ops["kind"]]
    for i in range(4):
        if i < len(names):
            np.testing.assert_array_equal(ops[f"i{i}"], s.buffers()[names[i]])
        else:
            assert ops[f"i{i}"] is None
    assert ops["val"].dtype == np.float32
    assert ops["flags"] == (sk.FLAG_POS64 if "pos=64" in spec else 0)


# --- errors a user sees ---------------------------------------------------------


@pytest.mark.parametrize(
    "spec,message",
    [
        ("levels=(compressed,compressed);order=(1,0)", "has no CPU sparse kernel; the kernels take the presets"),
        ("dense", "has no CPU sparse kernel"),
        ("csr;pos=16", "32- or 64-bit positions and coordinates, got pos=16"),
        ("ell;crd=8", "got crd=8"),
        ("2:4;crd=16", "takes 8-bit coordinates (crd=8), got crd=16"),
    ],
)
def test_unsupported_formats(spec: str, message: str) -> None:
    s = encode(np.eye(4, dtype=np.float32), spec)
    for call in (lambda: sk.spmm(s, np.ones((4, 2), np.float32)), lambda: sk.linear(np.ones((2, 4)), s),
                 lambda: sk.operands(s)):
        with pytest.raises(ValueError, match=re.escape(f"'{parse_format(spec).spec}'") + ".*" + re.escape(message)):
            call()


def test_bad_operands() -> None:
    s, _ = matrix("csr", (7, 10))
    b = np.ones((10, 3), np.float32)
    cases = [
        (lambda: sk.spmm(s, np.ones((9, 3))), r"b has shape \[9, 3\], expected \[10\] or \[10, n\]"),
        (lambda: sk.linear(np.ones((3, 9)), s), r"x has shape \[3, 9\], expected \[..., 10\]"),
        (lambda: sk.linear(np.ones((3, 10)), s, bias=np.ones(6)), r"bias has shape \[6\], expected \[7\]"),
        (lambda: sk.bind(s, b, sk.MODE_SPMM, bias=np.ones(7)), "a bias is for the linear mode only"),
        (lambda: sk.spmm(s, b, accumulate=True), "out must be given"),
        (lambda: sk.spmm(s, b, out=np.zeros((7, 3))), r"out must be a contiguous float32 array of shape \[7, 3\]"),
        (lambda: sk.spmm(s, b.astype(np.complex64)), "must be real"),
        (lambda: sk.bind(s, b, mode=2), "mode must be MODE_SPMM"),
        (lambda: sk.sddmm(s, np.ones((7, 2)), np.ones((3, 10))), r"a2 has shape \[3, 10\], expected \[2, 10\]"),
        (lambda: sk.sddmm(s, np.ones((6, 2)), np.ones((2, 10))), r"a1 has shape \[6, 2\], expected \[7, k\]"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="SparseStorage"):
        sk.operands(np.eye(3))


@pytest.mark.parametrize(
    "spec,buffer,corrupt,message",
    [
        ("csr", "crd1", lambda a: a.__setitem__(0, 10), "crd1 holds 10, past its dimension's 10"),
        ("csr", "pos1", lambda a: a.__setitem__(2, 0), "pos1 must start at 0 and never decrease"),
        ("csc", "crd1", lambda a: a.__setitem__(slice(0, 2), a[1::-1].copy()), "strictly|ascending within"),
        ("coo", "crd0", lambda a: a.__setitem__(slice(None), a[::-1].copy()), "crd0 .the rows. must be ascending"),
        ("2:4", "crd2", lambda a: a.__setitem__(0, 4), "crd2 holds 4, past its dimension's 4"),
        ("bsr:2x2", "crd1", lambda a: a.__setitem__(0, 5), "crd1 holds 5, past its dimension's 5"),
    ],
)
def test_corrupt_storage(spec: str, buffer: str, corrupt, message: str) -> None:
    w = fits(random_sparse((7, 10), 0.6, 9), spec)
    w[:, 0] = np.arange(1, 8)  # a full first column
    s = encode(fits(w, spec), spec)
    corrupt(s.buffers()[buffer])
    with pytest.raises(ValueError, match=message):
        sk.operands(s)


# --- the portable (no AVX-512) kernels ---------------------------------------------


@pytest.fixture(scope="module")
def portable_library(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """runtime.c + spkernels.c built for x86-64-v3 (AVX2): the scalar fallback."""
    here = Path(toolchain.__file__)
    lib = tmp_path_factory.mktemp("portable") / "libportable.so"
    sources = [str(here.with_name(name)) for name in ("runtime.c", "spkernels.c")]
    subprocess.run([toolchain.gcc(), "-O2", "-march=x86-64-v3", "-shared", "-fPIC", "-pthread", "-o", str(lib),
                    *sources, "-lm"], check=True, capture_output=True)
    return ctypes.CDLL(str(lib))


@pytest.mark.parametrize("spec", ["csr;pos=64", "csc", "coo", "dcsr", "ell", "bsr:2x3", "2:4", "vnm:4:2:4"])
def test_portable_kernels(portable_library: ctypes.CDLL, spec: str) -> None:
    s, w = matrix(spec, (13, 10))
    ops = sk.operands(s)
    fn = getattr(portable_library, ops["symbol"])
    fn.argtypes = [ctypes.c_int64] * 4 + [ctypes.c_void_p] * 8 + [ctypes.c_int64] * 4
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 10)).astype(np.float32)
    bias = rng.standard_normal(13).astype(np.float32)
    y = np.ones((3, 13), np.float32)
    idx = [None if ops[f"i{i}"] is None else ops[f"i{i}"].ctypes.data for i in range(4)]
    fn(sk.MODE_LINEAR, 13, 10, 3, *idx, ops["val"].ctypes.data, x.ctypes.data, bias.ctypes.data, y.ctypes.data,
       ops["p0"], ops["p1"], ops["p2"], ops["flags"] | sk.FLAG_BIAS | sk.FLAG_ACCUMULATE)
    x64 = x.astype(np.float64)
    check(y, 1 + x64 @ w.T + bias, 1 + np.abs(x64) @ np.abs(w).T + np.abs(bias), f"portable {spec}")
    b = rng.standard_normal((10, 5)).astype(np.float32)
    c = np.empty((13, 5), np.float32)
    fn(sk.MODE_SPMM, 13, 10, 5, *idx, ops["val"].ctypes.data, b.ctypes.data, None, c.ctypes.data,
       ops["p0"], ops["p1"], ops["p2"], ops["flags"])
    check(c, w @ b, np.abs(w) @ np.abs(b.astype(np.float64)), f"portable {spec} spmm")


@pytest.mark.parametrize("spec", ["csr", "csc", "coo", "dcsr", "ell", "bsr:2x3", "2:4", "vnm:4:2:4",
                                  "csr;pos=64;crd=64", "dcsr;pos=64;crd=64"])
def test_portable_kernels(spec: str, avx2_runtime, monkeypatch) -> None:
    """The kernels of a host without AVX-512 (rows split among the threads,
    a contiguous multiply-add over the batch per entry): SpMM, SpMV and
    Linear against scipy, and 1 and 2 threads bit for bit."""
    monkeypatch.setattr(sk, "_library", lambda: avx2_runtime)
    sk._kernel.cache_clear()  # noqa: SLF001
    try:
        s, w = matrix(spec, (130, 301))
        rng = np.random.default_rng(3)
        for n in (1, 17, 64):
            b = rng.standard_normal((301, n)).astype(np.float32)
            check(sk.spmm(s, b), w @ b.astype(np.float64), np.abs(w) @ np.abs(b.astype(np.float64)), f"{spec} @ b")
            x = rng.standard_normal((n, 301)).astype(np.float32)
            bias = rng.standard_normal(130).astype(np.float32)
            ref, bound = x.astype(np.float64) @ w.T + bias, np.abs(x.astype(np.float64)) @ np.abs(w).T + np.abs(bias)
            ys = []
            for threads in (1, 2):
                set_num_threads(threads, avx2_runtime)
                ys.append(sk.linear(x, s, bias))
            check(ys[0], ref, bound, f"x[{n}] @ {spec}.T + bias")
            np.testing.assert_array_equal(ys[0], ys[1])
    finally:
        set_num_threads(2, avx2_runtime)
        sk._kernel.cache_clear()  # noqa: SLF001
