"""
Sparse matrix kernels on the CPU: `spkernels.c` from Python.

Each preset format of `dialects/sparse_formats.py` has one kernel in
libsparcc_rt.so, `sparcc_sp_<kind>`, that takes the buffers `encode` writes,
unconverted (the C file's header gives the signature):

| kind | formats            | i0, i1, i2, i3 (index buffers)  | p0, p1, p2 | index widths            |
| ---- | ------------------ | ------------------------------- | ---------- | ----------------------- |
| csr  | csr                | pos1, crd1                      |            | pos, crd: 32 or 64 bits |
| csc  | csc                | pos1, crd1                      |            | pos, crd: 32 or 64      |
| coo  | coo                | pos0, crd0, crd1                |            | pos, crd: 32 or 64      |
| dcsr | dcsr               | pos0, crd0, pos1, crd1          |            | pos, crd: 32 or 64      |
| ell  | ell                | pos1 (= [width]), crd1          |            | pos, crd: 32 or 64      |
| bsr  | bsr:RxC            | pos1, crd1                      | R, C       | pos, crd: 32 or 64      |
| nm   | N:M, nm:N:M        | crd2                            | N, M       | crd: 8                  |
| vnm  | vnm:V:N:M          | crd2                            | V, N, M    | crd: 8                  |

Values are float32. Modes: `MODE_SPMM` computes c[rows, n] = A @ b[cols, n]
(SpMV for n = 1), `MODE_LINEAR` computes c[n, rows] = x[n, cols] @ A.T
(+ bias), torch.nn.Linear with A as its weight. Flags: `FLAG_ACCUMULATE`
(c += result), `FLAG_BIAS`, and `FLAG_POS64` / `FLAG_CRD64`, which
`operands` sets from the format's index widths.

`kernel_kind(fmt)` says which kernel computes a format, and `operands(s)`
lays an encoded matrix out as that kernel's arguments (checking the buffers
once, so the kernels may trust them). `spmm`, `linear` and `sddmm` run the
kernels; `bind` prepares one call with fixed buffers for repeated runs.
A format with no kernel (a custom `levels=(...)`, `dense`, 8- or 16-bit
positions or coordinates, N:M with wider coordinates) is a ValueError that
says what the kernels take; nothing is converted behind the caller's back,
except S of `sddmm`, whose kernel is CSR only (see there).

Results agree with a float64 reference to float32 summation error: sums run
in another order than numpy's, but every product is one float32 rounding.
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable

import numpy as np
from sparcc.dialects import sparse_formats as sf
from sparcc.dialects.sparse_formats import SparseFormat, SparseStorage

from . import toolchain
from .kernels import SDDMM_CSR, SPARSE
from .qlinear import as_float32

__all__ = [
    "FLAG_ACCUMULATE",
    "FLAG_BIAS",
    "FLAG_CRD64",
    "FLAG_POS64",
    "INDEX_BUFFERS",
    "MODE_LINEAR",
    "MODE_SPMM",
    "bind",
    "call_params",
    "kernel_kind",
    "linear",
    "operands",
    "sddmm",
    "spmm",
]

MODE_SPMM = 0
MODE_LINEAR = 1
FLAG_ACCUMULATE = 1
FLAG_BIAS = 2
FLAG_POS64 = 4
FLAG_CRD64 = 8

#: the storage buffers each kernel takes as i0, i1, ... (SparseStorage.buffers() names)
INDEX_BUFFERS: dict[str, tuple[str, ...]] = {
    "csr": ("pos1", "crd1"),
    "csc": ("pos1", "crd1"),
    "coo": ("pos0", "crd0", "crd1"),
    "dcsr": ("pos0", "crd0", "pos1", "crd1"),
    "ell": ("pos1", "crd1"),
    "bsr": ("pos1", "crd1"),
    "nm": ("crd2",),
    "vnm": ("crd2",),
}
_FIXED = {"csr": sf.csr, "csc": sf.csc, "coo": sf.coo, "dcsr": sf.dcsr, "ell": sf.ell}
_SUPPORTED = "csr, csc, coo, dcsr, ell, bsr:RxC, N:M (nm:N:M) and vnm:V:N:M"

_P, _I = ctypes.c_void_p, ctypes.c_int64


@functools.cache
def _library() -> ctypes.CDLL:
    return ctypes.CDLL(str(toolchain.runtime_library()))


@functools.cache
def _kernel(kind: str) -> ctypes._CFuncPtr:
    record = SPARSE[kind]
    fn = getattr(_library(), record.symbol)
    fn.argtypes = record.ctypes_args()
    fn.restype = None
    return fn


@functools.cache
def _sddmm_kernel() -> ctypes._CFuncPtr:
    fn = getattr(_library(), SDDMM_CSR.symbol)
    fn.argtypes = SDDMM_CSR.ctypes_args()
    fn.restype = None
    return fn


def _levels_kind(fmt: SparseFormat) -> str | None:
    for name, make in _FIXED.items():
        if fmt.levels == make():
            return name
    levels = fmt.levels
    if len(levels) == 4 and levels == sf.bsr(levels[0].div, levels[1].div):
        return "bsr"
    nms = [lv for lv in levels if lv.kind == "nm"]
    if len(nms) == 1:
        n, m = nms[0].n, nms[0].m
        if levels == sf.nm(n, m):
            return "nm"
        if levels == sf.vnm(levels[0].div, n, m):
            return "vnm"
    return None


def _why_not(fmt: SparseFormat) -> tuple[str | None, str | None]:
    """(kind, None) for a format a kernel computes, else (kind or None, the reason)."""
    kind = _levels_kind(fmt)
    if kind is None:
        return None, (
            f"sparse format '{fmt.spec}' has no CPU sparse kernel; the kernels take the presets "
            f"{_SUPPORTED} (re-encode it in one of them)"
        )
    if kind in ("nm", "vnm"):
        if fmt.crd != 8:
            return kind, (
                f"sparse format '{fmt.spec}': the {kind} kernel takes 8-bit coordinates (crd=8), "
                f"got crd={fmt.crd}"
            )
        return kind, None
    bad = [f"{key}={bits}" for key, bits in (("pos", fmt.pos), ("crd", fmt.crd)) if bits not in (32, 64)]
    if bad:
        return kind, (
            f"sparse format '{fmt.spec}': the {kind} kernel takes 32- or 64-bit positions and "
            f"coordinates, got {', '.join(bad)} (re-encode with pos=32 or 64, crd=32 or 64)"
        )
    return kind, None


def _format(fmt: SparseFormat | str) -> SparseFormat:
    return sf.parse_format(fmt) if isinstance(fmt, str) else fmt


def call_params(fmt: SparseFormat | str) -> tuple[str, list[int], int]:
    """(kind, [p0, p1, p2], index-width flags) of the kernel call for matrices in
    `fmt`: block sizes for bsr, N and M (and V) for N:M and V:N:M, FLAG_POS64 /
    FLAG_CRD64; ValueError with the reason when no kernel takes `fmt`."""
    fmt = _format(fmt)
    kind, reason = _why_not(fmt)
    if reason is not None:
        raise ValueError(reason)
    if kind == "bsr":
        return kind, [fmt.levels[0].div, fmt.levels[1].div, 0], _index_flags(fmt)
    if kind in ("nm", "vnm"):
        lv = next(lv for lv in fmt.levels if lv.kind == "nm")
        return kind, ([fmt.levels[0].div, lv.n, lv.m] if kind == "vnm" else [lv.n, lv.m, 0]), 0
    return kind, [0, 0, 0], _index_flags(fmt)


def _index_flags(fmt: SparseFormat) -> int:
    return (FLAG_POS64 if fmt.pos == 64 else 0) | (FLAG_CRD64 if fmt.crd == 64 else 0)


def kernel_kind(fmt: SparseFormat | str) -> str | None:
    """The kernel ("csr", "csc", "coo", "dcsr", "ell", "bsr", "nm", "vnm") that computes
    with matrices in `fmt`, or None if none does (not a preset, or index widths the
    kernels do not take)."""
    kind, reason = _why_not(_format(fmt))
    return kind if reason is None else None


def _buffer(s: SparseStorage, name: str, bits: int) -> np.ndarray:
    spec = s.format.spec
    a = s.buffers().get(name)
    if a is None:
        raise ValueError(f"sparse format '{spec}': the storage has no buffer {name}")
    want = np.dtype(f"uint{bits}")
    if not isinstance(a, np.ndarray) or a.dtype != want or a.ndim != 1:
        got = f"{a.dtype} {list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"sparse format '{spec}': {name} should be a 1-D {want} array, got {got}")
    return np.ascontiguousarray(a)


def _fail(s: SparseStorage, what: str) -> None:
    raise ValueError(f"sparse format '{s.format.spec}', shape {list(s.shape)}: {what}")


def _check_len(s: SparseStorage, name: str, a: np.ndarray, length: int) -> None:
    if a.size != length:
        _fail(s, f"{name} has {a.size} entries, expected {length}")


def _check_pos(s: SparseStorage, name: str, pos: np.ndarray, parents: int, entries: int | None = None) -> int:
    """pos [parents + 1], from 0, ascending; returns its last value (the entries)."""
    _check_len(s, name, pos, parents + 1)
    p = pos.astype(np.int64)
    if p[0] != 0 or np.any(np.diff(p) < 0):
        _fail(s, f"{name} must start at 0 and never decrease")
    if entries is not None and p[-1] != entries:
        _fail(s, f"{name} ends at {p[-1]}, but there are {entries} entries")
    return int(p[-1])


def _check_root_pos(s: SparseStorage, pos0: np.ndarray) -> int:
    """The outermost compressed level's positions [0, entries]; returns the entries."""
    _check_len(s, "pos0", pos0, 2)
    if int(pos0[0]) != 0:
        _fail(s, "pos0 must start at 0")
    return int(pos0[1])


def _check_crd(s: SparseStorage, name: str, crd: np.ndarray, length: int, bound: int) -> None:
    _check_len(s, name, crd, length)
    if crd.size and int(crd.max()) >= bound:
        _fail(s, f"{name} holds {int(crd.max())}, past its dimension's {bound}")


def _sorted_runs(s: SparseStorage, name: str, crd: np.ndarray, pos: np.ndarray, strict: bool = False) -> None:
    """crd ascending within each run pos[p]:pos[p+1]."""
    if crd.size < 2:
        return
    d = np.diff(crd.astype(np.int64))
    inside = np.ones(d.size, dtype=bool)
    starts = pos.astype(np.int64)[1:-1]
    starts = starts[(starts > 0) & (starts < crd.size)]
    inside[starts - 1] = False
    if np.any(d[inside] < (1 if strict else 0)):
        _fail(s, f"{name} must be {'strictly ' if strict else ''}ascending within each parent")


def operands(storage: SparseStorage) -> dict:
    """The kernel's arguments for an encoded matrix, checked.

    Returns a dict: `kind`, `symbol` (the C function), `rows`, `cols` (the
    logical shape), `i0`..`i3` (contiguous index arrays, or None; INDEX_BUFFERS
    names them), `val` (float32 values, converted if stored otherwise), `p0`,
    `p1`, `p2` (block and group sizes) and `flags` (FLAG_POS64 / FLAG_CRD64;
    the caller adds FLAG_ACCUMULATE and FLAG_BIAS). Raises ValueError for a
    format no kernel takes and for buffers that do not match their format:
    the kernels read them unchecked.
    """
    if not isinstance(storage, SparseStorage):
        raise TypeError(f"operands: expected a sparse_formats.SparseStorage, got {type(storage).__name__}")
    fmt = storage.format
    kind, p, flags = call_params(fmt)
    if len(storage.shape) != 2:
        _fail(storage, "a sparse kernel takes a matrix")
    rows, cols = (int(d) for d in storage.shape)
    values = storage.values
    if not isinstance(values, np.ndarray) or values.ndim != 1 or values.dtype.kind not in "fiub":
        _fail(storage, "values must be a 1-D array of real numbers")
    val = np.ascontiguousarray(values, dtype=np.float32)
    idx = [_buffer(storage, name, fmt.pos if name.startswith("pos") else fmt.crd) for name in INDEX_BUFFERS[kind]]
    s = storage
    if kind in ("csr", "csc"):
        outer, inner = (rows, cols) if kind == "csr" else (cols, rows)
        nnz = _check_pos(s, "pos1", idx[0], outer)
        _check_crd(s, "crd1", idx[1], nnz, inner)
        if kind == "csc":  # the kernel binary-searches rows within a column
            _sorted_runs(s, "crd1", idx[1], idx[0])
        _check_len(s, "values", val, nnz)
    elif kind == "coo":
        hi = _check_root_pos(s, idx[0])
        _check_crd(s, "crd0", idx[1], hi, rows)
        _check_crd(s, "crd1", idx[2], hi, cols)
        if np.any(np.diff(idx[1].astype(np.int64)) < 0):
            _fail(s, "crd0 (the rows) must be ascending")
        _check_len(s, "values", val, hi)
    elif kind == "dcsr":
        hi = _check_root_pos(s, idx[0])
        _check_crd(s, "crd0", idx[1], hi, rows)
        if np.any(np.diff(idx[1].astype(np.int64)) <= 0):
            _fail(s, "crd0 (the stored rows) must be strictly ascending")
        nnz = _check_pos(s, "pos1", idx[2], hi)
        _check_crd(s, "crd1", idx[3], nnz, cols)
        _check_len(s, "values", val, nnz)
    elif kind == "ell":
        _check_len(s, "pos1", idx[0], 1)
        width = int(idx[0][0])
        _check_crd(s, "crd1", idx[1], rows * width, cols)
        _check_len(s, "values", val, rows * width)
    elif kind == "bsr":
        r, c = fmt.levels[0].div, fmt.levels[1].div
        blocks = _check_pos(s, "pos1", idx[0], -(-rows // r))
        _check_crd(s, "crd1", idx[1], blocks, -(-cols // c))
        _check_len(s, "values", val, blocks * r * c)
    else:
        lv = next(lv for lv in fmt.levels if lv.kind == "nm")
        v = fmt.levels[0].div if kind == "vnm" else 1
        groups = -(-cols // lv.m)
        entries = -(-rows // v) * groups * lv.n
        _check_crd(s, "crd2", idx[0], entries, lv.m)
        _check_len(s, "values", val, entries * v)
    ops = {"kind": kind, "symbol": f"sparcc_sp_{kind}", "rows": rows, "cols": cols, "val": val, "flags": flags}
    for i in range(4):
        ops[f"i{i}"] = idx[i] if i < len(idx) else None
    ops["p0"], ops["p1"], ops["p2"] = p
    return ops


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def bind(
    a: SparseStorage | dict,
    b,
    mode: int = MODE_SPMM,
    bias=None,
    out: np.ndarray | None = None,
    accumulate: bool = False,
) -> tuple[Callable[[], None], np.ndarray]:
    """Prepares one kernel call for repeated runs: returns (run, out).

    mode MODE_SPMM: out[rows, n] = A @ b, b [cols, n] (or [cols]: out [rows]).
    mode MODE_LINEAR: out[..., rows] = b @ A.T (+ bias[rows]), b [..., cols].
    `accumulate` adds the result into `out` (which must then be given).
    `a` is a SparseStorage or the dict `operands` returned. `run()` calls the
    kernel on the buffers checked and pinned here, with no conversion per
    call; b is used in place if it is a contiguous float32 array. The kernels
    run on sparcc's thread pool (`sparcc.backends.cpu.set_num_threads`).
    """
    ops = a if isinstance(a, dict) else operands(a)
    rows, cols, kind = ops["rows"], ops["cols"], ops["kind"]
    what = f"sparse {'linear' if mode == MODE_LINEAR else 'matmul'} ({kind} [{rows}, {cols}])"
    b = as_float32(b, f"{what}: the dense operand")
    if mode == MODE_SPMM:
        if b.ndim not in (1, 2) or b.shape[0] != cols:
            raise ValueError(f"{what}: b has shape {list(b.shape)}, expected [{cols}] or [{cols}, n]")
        n = 1 if b.ndim == 1 else b.shape[1]
        shape = (rows,) if b.ndim == 1 else (rows, n)
    elif mode == MODE_LINEAR:
        if b.ndim == 0 or b.shape[-1] != cols:
            raise ValueError(f"{what}: x has shape {list(b.shape)}, expected [..., {cols}]")
        n = math.prod(b.shape[:-1])
        shape = (*b.shape[:-1], rows)
    else:
        raise ValueError(f"sparse kernel mode must be MODE_SPMM (0) or MODE_LINEAR (1), got {mode!r}")
    flags = ops["flags"]
    bv = None
    if bias is not None:
        if mode != MODE_LINEAR:
            raise ValueError(f"{what}: a bias is for the linear mode only")
        bv = as_float32(bias, f"{what}: bias")
        if bv.shape != (rows,):
            raise ValueError(f"{what}: bias has shape {list(bv.shape)}, expected [{rows}]")
        flags |= FLAG_BIAS
    if accumulate:
        if out is None:
            raise ValueError(f"{what}: accumulate=True adds into `out`, so out must be given")
        flags |= FLAG_ACCUMULATE
    if out is None:
        out = np.empty(shape, np.float32)
    elif (
        not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != shape or not out.flags.c_contiguous
    ):
        raise ValueError(f"{what}: out must be a contiguous float32 array of shape {list(shape)}")
    args = [mode, rows, cols, n, *(_ptr(ops[f"i{i}"]) for i in range(4)), _ptr(ops["val"]), _ptr(b), _ptr(bv),
            _ptr(out), ops["p0"], ops["p1"], ops["p2"], flags]
    fn = _kernel(kind)

    def run() -> None:
        fn(*args)

    run.buffers = (ops, b, bv, out)  # keeps alive the arrays whose addresses `args` holds
    return run, out


def spmm(a: SparseStorage, b, out: np.ndarray | None = None, accumulate: bool = False) -> np.ndarray:
    """A @ b in float32: b [cols, n] gives [rows, n] (SpMM), b [cols] gives [rows] (SpMV).
    With `accumulate`, the product is added into `out`."""
    run, y = bind(a, b, MODE_SPMM, out=out, accumulate=accumulate)
    run()
    return y


def linear(x, a: SparseStorage, bias=None, out: np.ndarray | None = None, accumulate: bool = False) -> np.ndarray:
    """x @ A.T (+ bias) in float32, torch.nn.functional.linear with the sparse weight A [out, in]:
    x [..., in] gives [..., out]. With `accumulate`, the result is added into `out`."""
    run, y = bind(a, x, MODE_LINEAR, bias=bias, out=out, accumulate=accumulate)
    run()
    return y


def sddmm(s: SparseStorage, a1, a2, alpha: float = 1.0, beta: float = 1.0) -> SparseStorage:
    """torch.sparse.sampled_addmm: beta * S + alpha * (a1 @ a2) at the entries S stores.

    a1 [rows, k], a2 [k, cols]. Returns a CSR SparseStorage with S's positions
    and coordinates and the new values; beta = 0 ignores S's values. The
    kernel is CSR only: S in another format is first re-encoded as
    `encode(decode(S), "csr")` (numpy), so its explicit zeros, N:M and ELL
    padding included, are not sampled.
    """
    if not isinstance(s, SparseStorage):
        raise TypeError(f"sddmm: expected a sparse_formats.SparseStorage, got {type(s).__name__}")
    if _levels_kind(s.format) != "csr" or s.format.pos not in (32, 64) or s.format.crd not in (32, 64):
        widths = ";".join(f"{k}={w}" for k, w in (("pos", s.format.pos), ("crd", s.format.crd)) if w == 64)
        s = sf.encode(sf.decode(s), "csr" + (";" + widths if widths else ""))
    ops = operands(s)
    rows, cols = ops["rows"], ops["cols"]
    a1 = as_float32(a1, "sddmm: a1")
    a2 = as_float32(a2, "sddmm: a2")
    if a1.ndim != 2 or a1.shape[0] != rows:
        raise ValueError(f"sddmm: a1 has shape {list(a1.shape)}, expected [{rows}, k] (S is [{rows}, {cols}])")
    k = a1.shape[1]
    if a2.shape != (k, cols):
        raise ValueError(f"sddmm: a2 has shape {list(a2.shape)}, expected [{k}, {cols}] (a1 is [{rows}, {k}])")
    out = np.empty_like(ops["val"])
    _sddmm_kernel()(rows, cols, k, _ptr(ops["i0"]), _ptr(ops["i1"]), _ptr(ops["val"]), _ptr(a1), _ptr(a2),
                    _ptr(out), float(alpha), float(beta), ops["flags"])
    return SparseStorage(s.format, s.shape, list(s.positions), list(s.coordinates), out)
