"""
Sparse and quantised weights: the exact numpy reference of a weight whose
structure is a `sparse` format and whose stored values are a `quant` format.

In the IR such a weight is `!quant.tensor<NxK, #quant.format<Q>, #sparse.format<S>>`
(dialects/quant.py: the type's sparsity slot): the sparse format S decides
which weights are stored (its index buffers), the quant format Q how the
stored values are kept (codes and scales). Neither format knows the other.

    w  [N, K] float32
    -> pruned = sparse_formats.prune(w, P)            P: "2:4", "vnm:4:2:4", ...
    -> storage = sparse_formats.encode(pruned, S)     index buffers + values
    -> q = Q.quantize(values as [N', K'])             the values array S stores

`[N', K']` is `S.static_storage(shape)[1]`: for N:M it is [N, Kp/M*N] (Kp: K
padded to a multiple of M), one row of the weight per row of values in
column order, so **quant groups run over the kept values of a row**: with
2:4 and nf4:g64 one scale covers 64 kept weights, i.e. 128 columns of the
original row; int4:g128 covers 256 columns; mxfp4's block of 32 covers 64.
(Groups over the original K would spend twice the scale bytes for the same
number of codes per scale; they would also not be the type's own storage.)
The last group of a row may be short, as for dense weights; padding entries
of the sparse format (N:M groups with fewer than N nonzeros, columns past K)
are stored zeros and quantise to the format's code for 0 (or the nearest
value to 0, which a zero input makes irrelevant to the product).

Only static sparse layouts have a values array of known shape (dense and nm
levels: N:M and V:N:M); others raise ValueError. For V:N:M the values array
walks V rows per column group, so its quant groups mix the V rows of a block.

`dequantize(sq)` is the dense float32 weight every kernel must reproduce bit
for bit (per weight); `error(w, sq)` the relative Frobenius error against the
unpruned float32 weight; `bits_per_weight` the IR storage's bits per original
weight (a target's packed layout may differ and reports its own).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sparcc.dialects.quant_formats import QuantFormat, QuantizedTensor, unpack_nibbles
from sparcc.dialects.quant_formats import parse_format as parse_quant
from sparcc.dialects.sparse_formats import SparseFormat, SparseStorage, decode, encode, prune
from sparcc.dialects.sparse_formats import parse_format as parse_sparse

__all__ = ["SparseQuantized", "buffers", "dequantize", "error", "from_buffers", "quantize", "stored_codes"]


@dataclass(frozen=True, eq=False)
class SparseQuantized:
    """A pruned and quantised matrix: the sparse storage (index buffers; its
    `values` the pruned float32 values, before quantisation) and the quantised
    values array."""

    storage: SparseStorage
    values: QuantizedTensor

    @property
    def shape(self) -> tuple[int, int]:
        return self.storage.shape

    def index_buffers(self) -> dict[str, np.ndarray]:
        """The sparse format's index buffers, by role (crd2, ...), as stored."""
        return {k: v for k, v in self.storage.buffers().items() if k != "values"}

    @property
    def nbytes(self) -> int:
        """Bytes of the IR storage: index buffers, codes, scales, zero points."""
        return sum(b.nbytes for b in self.index_buffers().values()) + self.values.nbytes

    @property
    def bits_per_weight(self) -> float:
        rows, cols = self.shape
        return 8 * self.nbytes / (rows * cols)


def _formats(sparse_fmt: SparseFormat | str, quant_fmt: QuantFormat | str) -> tuple[SparseFormat, QuantFormat]:
    s = parse_sparse(sparse_fmt) if isinstance(sparse_fmt, str) else sparse_fmt
    q = parse_quant(quant_fmt) if isinstance(quant_fmt, str) else quant_fmt
    return s, q


def quantize(w: np.ndarray, sparse_fmt: SparseFormat | str, quant_fmt: QuantFormat | str,
             prune_spec: str | None = None) -> SparseQuantized:
    """Prunes `w` by `prune_spec` (magnitude, sparse_formats.prune; None: `w`
    already has the pattern), stores it in `sparse_fmt` and quantises the
    stored values with `quant_fmt` (module docstring). ValueError for a format
    whose layout depends on the data, or a `w` without the pattern."""
    s, q = _formats(sparse_fmt, quant_fmt)
    w = np.asarray(w, np.float32)
    if w.ndim != 2:
        raise ValueError(f"sparse-quantize expects a 2-D weight, got shape {list(w.shape)}")
    _, vshape = s.static_storage(w.shape)
    pruned = prune(w, prune_spec) if prune_spec is not None else w
    storage = encode(pruned, s)
    return SparseQuantized(storage, q.quantize(storage.values.reshape(vshape)))


def stored_codes(sq: SparseQuantized) -> np.ndarray:
    """The unpacked codes of the stored values, [N', K'] uint8."""
    fmt = parse_quant(sq.values.spec)
    rows, cols = sq.values.shape
    return unpack_nibbles(sq.values.codes, cols, axis=1) if fmt.bits <= 4 else sq.values.codes


def dequantize(sq: SparseQuantized) -> np.ndarray:
    """The dense float32 weight [N, K]: the dequantised values scattered to their coordinates."""
    values = parse_quant(sq.values.spec).dequantize(sq.values).reshape(-1)
    return decode(replace(sq.storage, values=values))


def error(w: np.ndarray, sq: SparseQuantized) -> float:
    """||w - dequantize(sq)||_F / ||w||_F (0.0 for w = 0), in float64."""
    w64 = np.asarray(w, np.float64)
    norm = float(np.linalg.norm(w64))
    return float(np.linalg.norm(w64 - dequantize(sq).astype(np.float64))) / norm if norm else 0.0


def buffers(sq: SparseQuantized) -> dict[str, np.ndarray]:
    """The IR storage of `sq` by role, as `QuantTensorType.storage()` lists it:
    the sparse index buffers (`crd2`, ...), then `codes`, `scales` (if any),
    `zeros` (asym)."""
    out = dict(sq.index_buffers())
    out["codes"] = sq.values.codes
    if sq.values.scales is not None:
        out["scales"] = sq.values.scales
    if sq.values.zero_points is not None:
        out["zeros"] = sq.values.zero_points
    return out


def from_buffers(sparse_fmt: SparseFormat | str, quant_fmt: QuantFormat | str, shape: tuple[int, int],
                 get) -> SparseQuantized:
    """`buffers`' inverse: `get(role)` returns each buffer. The storage's
    float values (the pruned weights) are not kept: they read as zeros."""
    s, q = _formats(sparse_fmt, quant_fmt)
    indices, vshape = s.static_storage(shape)
    roles = {role for role, _, _ in indices}
    coords = [np.asarray(get(f"crd{l}")).reshape(-1).view(np.dtype(f"<u{s.crd // 8}")) if f"crd{l}" in roles else None
              for l in range(len(s.levels))]
    storage = SparseStorage(s, (int(shape[0]), int(shape[1])), [None] * len(s.levels), coords,
                            np.zeros(vshape[0] * vshape[1], np.float32))
    scales = None if q.granularity == "none" else np.asarray(get("scales"))
    zeros = np.asarray(get("zeros")) if q.asym else None
    return SparseQuantized(storage, QuantizedTensor(q.spec, tuple(vshape), np.asarray(get("codes")), scales, zeros))
