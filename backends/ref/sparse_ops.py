"""
Handlers of the `sparse` dialect. A !sparse.tensor is a
`sparse_formats.SparseStorage`, rebuilt from the weight store's buffers
(or a torch sparse input's own) and decoded by the format's numpy
reference (`sparse_formats.decode`) where an op computes with it.

Store layout (compiler/sparsify.py, frontend.sparse_weight): a weight
`name` of format F has `name#i0`, `name#i1`, ... (its index buffers in level
order: a compressed level's positions then its coordinates, a singleton or
nm level's coordinates; each as raw little-endian bytes, uint8, read at F's
`pos`/`crd` widths) and `name#values` (float32, storage order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sparcc.backends.ref.interpreter import Frame, handles
from sparcc.backends.ref.nn_ops import linear
from sparcc.dialects import sparse
from sparcc.dialects.sparse_formats import SparseFormat, SparseStorage, convert, decode, encode, prune
from sparcc.errors import SparccError


def _unsigned(buf: np.ndarray, bits: int, what: str) -> np.ndarray:
    """An index buffer at `bits` bits: raw bytes are reinterpreted (little
    endian), integer arrays (a torch sparse input's indices) converted."""
    if buf.dtype == np.uint8 and bits != 8:
        if buf.size % (bits // 8):
            raise SparccError(f"ref: {what}: {buf.size} bytes are not a whole number of {bits}-bit values")
        return buf.view(np.dtype(f"<u{bits // 8}"))
    return buf.astype(np.dtype(f"uint{bits}"))


def storage(fmt: SparseFormat, shape: Sequence[int], index: Sequence[np.ndarray], values: np.ndarray,
            name: str = "a sparse input") -> SparseStorage:
    """The storage of a matrix from its index buffers in level order and its values."""
    buffers = iter(index)
    positions: list[np.ndarray | None] = []
    coordinates: list[np.ndarray | None] = []
    try:
        for level, lv in enumerate(fmt.levels):
            pos = _unsigned(next(buffers), fmt.pos, f"{name} pos{level}") if lv.kind == "compressed" else None
            crd = _unsigned(next(buffers), fmt.crd, f"{name} crd{level}") if lv.kind != "dense" else None
            positions.append(pos)
            coordinates.append(crd)
    except StopIteration:
        raise SparccError(f"ref: {name}: too few index buffers for format '{fmt.spec}'") from None
    return SparseStorage(fmt, (int(shape[0]), int(shape[1])), positions, coordinates, np.asarray(values))


def index_buffer_count(fmt: SparseFormat) -> int:
    return sum((lv.kind == "compressed") + (lv.kind != "dense") for lv in fmt.levels)


def dense(value: SparseStorage) -> torch.Tensor:
    """The logical matrix of a sparse value (sparse_formats.decode)."""
    return torch.from_numpy(np.ascontiguousarray(decode(value)))


@handles(sparse.WeightOp)
def _weight(f: Frame, op: sparse.WeightOp) -> SparseStorage:
    typ = op.result.type
    fmt, name = typ.format.format, op.weight_name
    index = [f.weight(f"{name}#i{k}").numpy() for k in range(index_buffer_count(fmt))]
    return storage(fmt, typ.get_shape(), index, f.weight(f"{name}#values").numpy(), f"sparse weight '{name}'")


@handles(sparse.LinearOp)
def _linear(f: Frame, op: sparse.LinearOp) -> torch.Tensor:
    y = linear(f[op.input], dense(f[op.weight]), f.get(op.bias))
    return y if op.acc is None else y + f[op.acc]


@handles(sparse.MatmulOp)
def _matmul(f: Frame, op: sparse.MatmulOp) -> torch.Tensor:
    y = torch.matmul(dense(f[op.lhs]), f[op.rhs])
    return y if op.acc is None else y + f[op.acc]


@handles(sparse.ConvertOp)
def _convert(f: Frame, op: sparse.ConvertOp) -> SparseStorage | torch.Tensor:
    x, to = f[op.input], op.result.type
    if not isinstance(to, sparse.SparseTensorType):
        return dense(x)
    if isinstance(x, torch.Tensor):
        return encode(x.numpy(), to.format.format)
    return convert(x, to.format.format)


@handles(sparse.NnzOp)
def _nnz(f: Frame, op: sparse.NnzOp) -> torch.Tensor:
    return torch.tensor(f[op.input].nnz, dtype=torch.int64)


@handles(sparse.PruneOp)
def _prune(f: Frame, op: sparse.PruneOp) -> SparseStorage:
    return encode(prune(f[op.input].numpy(), op.spec.data), op.result.type.format.format)
