"""
Sparse x quantised linear layers on the CPU: `sqkernels.c` from Python.

A 2:4 weight whose kept values are 4-bit codes (`sparse_quant.SparseQuantized`,
the reference) is packed once, at load, into the kernel's layout (`pack`; the
C file's comment describes it): rows in quads, 64 columns per block, each
quad-block 96 contiguous bytes of codes and 2-bit positions, so a GEMV reads
one sequential stream of 3 bits per weight, plus float32 scales [N, G] over
groups of kept values.

| formats (4-bit codes)                                    | scales given to the kernel        |
| -------------------------------------------------------- | --------------------------------- |
| int4 (sym/asym), nf4, sf4, apot4, e2m1, e2m1s, lp n <= 4 | the format's float32 scales       |
| mxfp4                                                    | its E8M0 codes decoded to float32 (exact) |
| `channel`, `tensor`, `none`                              | one per row (repeated; ones for `none`)   |

A group must be a multiple of 32 kept values (or one per row): `g8`/`g16`
have no kernel. The sparse format must be N:M 2:4 (`check` says why not).
`bind`/`sqlinear` run the kernel through ctypes (tests and benchmarks).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np
from sparcc.dialects.quant_formats import QuantFormat, decode_e8m0, parse_format as parse_quant
from sparcc.dialects.sparse_formats import SparseFormat, nm, parse_format as parse_sparse
from sparcc.dialects.sparse_quant import SparseQuantized, stored_codes

from . import toolchain
from .kernels import FLAG_ZEROS, SPARSE_QUANT

__all__ = ["bind", "check", "pack", "sqlinear"]

KERNEL = SPARSE_QUANT["24x4"]
BLOCK_COLS, BLOCK_BYTES = 64, 96


def check(sparse_fmt: SparseFormat | str, quant_fmt: QuantFormat | str) -> str:
    """The kernel's symbol for a weight of these formats; ValueError saying
    what the kernel takes when there is none."""
    s = parse_sparse(sparse_fmt) if isinstance(sparse_fmt, str) else sparse_fmt
    q = parse_quant(quant_fmt) if isinstance(quant_fmt, str) else quant_fmt
    if s.levels != nm(2, 4):
        raise ValueError(f"no CPU kernel for sparse format '{s.spec}' with quantised values; "
                         "the sparse x quant kernel takes 2:4")
    if q.bits > 4:
        raise ValueError(f"no CPU kernel for {q.bits}-bit '{q.spec}' values of a sparse weight; "
                         "the sparse x quant kernel takes 4-bit formats (int4, nf4, sf4, apot4, e2m1, e2m1s, mxfp4, lp n<=4)")
    if q.granularity == "group" and q.group % 32:
        raise ValueError(f"no CPU kernel for '{q.spec}' on a sparse weight: its scale groups must be a multiple "
                         "of 32 kept values (g32 or larger, channel)")
    return KERNEL.symbol


def pack(sq: SparseQuantized) -> dict:
    """The kernel's operands for `sq`: `packed` (uint8 [ceil(N/4), Kb * 96]),
    `scales` (float32 [N, G]), `zeros` (float32 [N, G] or None), `lut`
    (float32 [16]), `group` (kept values per scale), `flags`, `N`, `K`."""
    check(sq.storage.format, sq.values.spec)
    fmt = parse_quant(sq.values.spec)
    n, k = sq.shape
    kept = sq.values.shape[1]  # = ceil(K / 4) * 2
    kb = -(-k // BLOCK_COLS)
    n4 = -(-n // 4) * 4
    codes = np.zeros((n4, kb * 32), np.uint8)
    codes[:n, :kept] = stored_codes(sq)
    pos = np.zeros((n4, kb * 32), np.uint32)
    pos[:n, :kept] = np.asarray(sq.storage.coordinates[2], np.uint32).reshape(n, kept)
    codes = codes.reshape(n4, kb, 32)
    nibbles = codes[..., :16] | (codes[..., 16:] << 4)  # [n4, kb, 16]
    pos = pos.reshape(n4, kb, 2, 16)
    words = np.bitwise_or.reduce(pos << (2 * np.arange(16, dtype=np.uint32)), axis=-1).astype("<u4")
    meta = words.view(np.uint8).reshape(n4, kb, 8)
    quads = n4 // 4
    packed = np.concatenate([
        nibbles.reshape(quads, 4, kb, 16).transpose(0, 2, 1, 3).reshape(quads, kb, 64),
        meta.reshape(quads, 4, kb, 8).transpose(0, 2, 1, 3).reshape(quads, kb, 32),
    ], axis=-1).reshape(quads, kb * BLOCK_BYTES)

    gran = fmt.granularity
    group = fmt.group if gran == "group" else kept
    blocks = -(-kept // group)
    if gran == "none":
        scales = np.ones((n, 1), np.float32)
    elif fmt.name == "mxfp4":
        scales = decode_e8m0(sq.values.scales).astype(np.float32)
    else:
        scales = np.asarray(sq.values.scales, np.float32)
    zeros = None if sq.values.zero_points is None else np.asarray(sq.values.zero_points, np.float32)
    if gran == "tensor":
        scales = np.repeat(scales.reshape(1, 1), n, axis=0)
        zeros = None if zeros is None else np.repeat(zeros.reshape(1, 1), n, axis=0)
    assert scales.shape == (n, blocks), (scales.shape, n, blocks)
    lut = np.zeros(16, np.float32)
    values = np.asarray(fmt.element.values, np.float32)
    lut[: len(values)] = values
    return {"packed": np.ascontiguousarray(packed), "scales": np.ascontiguousarray(scales),
            "zeros": None if zeros is None else np.ascontiguousarray(zeros), "lut": lut, "group": int(group),
            "flags": FLAG_ZEROS if zeros is not None else 0, "N": n, "K": k}


def packed_bytes(ops: dict) -> int:
    """Bytes the kernel reads per call for the weight: codes and positions, scales, zero points."""
    return sum(ops[r].nbytes for r in ("packed", "scales", "zeros") if ops[r] is not None)


@functools.cache
def _kernel() -> ctypes._CFuncPtr:
    lib = ctypes.CDLL(str(toolchain.runtime_library()))
    fn = getattr(lib, KERNEL.symbol)
    fn.argtypes = KERNEL.ctypes_args()
    fn.restype = None
    return fn


def bind(x, sq: SparseQuantized | dict, bias=None, out: np.ndarray | None = None) -> tuple[Callable[[], None], np.ndarray]:
    """Prepares `y = x @ dequantize(sq).T + bias` for repeated calls (as
    qlinear.bind): returns (run, y)."""
    from .qlinear import bound_call

    ops = sq if isinstance(sq, dict) else pack(sq)
    return bound_call(_kernel(), KERNEL, ops, "packed", x, bias, out, "sqlinear")


def sqlinear(x, sq: SparseQuantized, bias=None) -> np.ndarray:
    """y = x @ dequantize(sq).T (+ bias) in float32, through the kernel."""
    run, y = bind(x, sq, bias)
    run()
    return y
