"""
Handlers of the `quant` dialect. A !quant.tensor is a
`quant_formats.QuantizedTensor` in the format's own layout, decoded by the
format's numpy reference (`QuantFormat.dequantize`: value table, zero
points, scales, group sizes, E8M0 block scales) where an op computes with it.

Store layout: the driver keeps a quantised weight in the CPU kernels'
layout (compiler/quantize.py: backends/cpu/qlinear.py `kernel_operands`,
under the names passes/lower_quant.py `weight_buffers` gives):
`name#codes` (uint8, as the format packs them), `name#scales` (one row
per weight row: a per-tensor scale repeated on every row, ones for a format
without scales; uint8 E8M0 codes for mxfp4), `name#zeros` (asym, the same
shape) and `name#lut` (the value table, padded to 16 or 256). `from_store`
undoes the row repetition; the value table comes from the format, not the
store. The float32 weight `name` stays in the store too and is not read.

A sparse quantised weight (`!quant.tensor<..., #sparse.format<S>>`) is read
from its IR storage, `name#sq.<role>` (compiler/sparsify.py), as a
`sparse_quant.SparseQuantized`, and decoded by `sparse_quant.dequantize`.
"""

from __future__ import annotations

import numpy as np
import torch
from sparcc.backends.ref.interpreter import Frame, handles
from sparcc.backends.ref.nn_ops import linear
from sparcc.dialects import quant, sparse_quant
from sparcc.dialects.quant_formats import QuantizedTensor, dequantize
from sparcc.errors import UnsupportedOpError


def from_store(f: Frame, name: str, typ: quant.QuantTensorType) -> QuantizedTensor:
    """The QuantizedTensor that the kernel-layout buffers of weight `name` hold."""
    fmt = typ.format.format

    def per_block(role: str) -> np.ndarray:
        data = f.weight(f"{name}#{role}").numpy()
        return data[:1] if fmt.granularity == "tensor" else data  # the kernels take one per row

    scales = None if fmt.granularity == "none" else per_block("scales")
    zeros = per_block("zeros") if fmt.asym else None
    return QuantizedTensor(fmt.spec, typ.get_shape(), f.weight(f"{name}#codes").numpy(), scales, zeros)


def dense(q: QuantizedTensor | sparse_quant.SparseQuantized) -> torch.Tensor:
    """The float32 values of a quantised tensor (the format's dequantize)."""
    if isinstance(q, sparse_quant.SparseQuantized):
        return torch.from_numpy(np.ascontiguousarray(sparse_quant.dequantize(q)))
    return torch.from_numpy(np.ascontiguousarray(dequantize(q)))


@handles(quant.WeightOp)
def _weight(f: Frame, op: quant.WeightOp) -> QuantizedTensor | sparse_quant.SparseQuantized:
    typ = op.result.type
    if typ.is_sparse:
        sparsity = typ.sparsity
        if not hasattr(sparsity, "format"):
            raise UnsupportedOpError(f"ref: quant.weight @{op.weight_name}: no reference for sparsity {sparsity}")
        name = op.weight_name
        return sparse_quant.from_buffers(sparsity.format, typ.format.format, quant.matrix_shape(typ.get_shape()),
                                         lambda role: f.weight(f"{name}#sq.{role}").numpy())
    return from_store(f, op.weight_name, typ)


@handles(quant.LinearOp)
def _linear(f: Frame, op: quant.LinearOp) -> torch.Tensor:
    return linear(f[op.input], dense(f[op.weight]), f.get(op.bias))


@handles(quant.DequantizeOp)
def _dequantize(f: Frame, op: quant.DequantizeOp) -> torch.Tensor:
    return dense(f[op.input])


@handles(quant.QuantizeOp)
def _quantize(f: Frame, op: quant.QuantizeOp) -> QuantizedTensor:
    return op.result.type.format.format.quantize(f[op.input].numpy())
