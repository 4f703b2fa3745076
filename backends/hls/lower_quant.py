"""hls-lower-quant: a quantised linear layer as nn ops that read its codes
through the format's value table, for the hls target.

    %w = quant.weight @"fc.weight" : !quant.tensor<NxK, #quant.format<"nf4:g32">>
    %y = quant.linear %x, %w, %b
  ->
    %codes  = nn.weight @"fc.weight#codes"  : tensor<NxKxi32>    one code per weight
    %table  = nn.weight @"fc.weight#lut"    : tensor<Ex1xf32>    the format's values (a ROM of E entries)
    %scales = nn.weight @"fc.weight#scales" : tensor<NxBxf32>    one per row and group
    %v = nn.embedding %table, %codes        (NxKx1: the table lookup)
    %w = nn.mul (reshape %v), (scales broadcast over each group)
    %y = nn.linear %x, %w, %b

The codes, the value table and the scales become arrays of the design
(codes as ap_uint<bits of the table>, ROMs); the dequantised weight is a buffer the
design fills on each call. Symmetric formats only (no zero points);
MXFP4's E8M0 scales are stored as their float values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparcc.dialects import nn, quant
from sparcc.errors import UnsupportedOpError
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, TensorType, f32
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

i32 = IntegerType(32)


def store_entries(name: str, typ: Any, q: Any) -> dict[str, np.ndarray]:
    """The weight-store arrays of a quantised weight for this lowering."""
    from sparcc.dialects.quant_formats import parse_format, unpack_nibbles

    if typ.is_sparse:
        raise ValueError(f"{name}: the hls target has no sparse quantised layers")
    fmt = parse_format(q.spec)
    rows, cols = q.shape[0], int(np.prod(q.shape[1:]))
    if fmt.asym or q.zero_points is not None:
        raise ValueError(f"{name}: {q.spec} has zero points; the hls target takes symmetric formats")
    codes = unpack_nibbles(q.codes, cols, axis=1) if fmt.bits <= 4 else q.codes
    values = np.asarray(fmt.element.values, np.float32)
    gran = fmt.granularity
    if gran == "group" and cols % fmt.group:
        raise ValueError(f"{name}: {cols} columns are not a whole number of groups of {fmt.group}")
    blocks = cols // fmt.group if gran == "group" else 1
    if gran == "none" or q.scales is None:
        scales = np.ones((rows, 1), np.float32)
    elif fmt.name == "mxfp4":  # E8M0: 2^(e - 127)
        scales = np.ldexp(np.float32(1), q.scales.astype(np.int32) - 127).astype(np.float32)
    else:
        scales = np.asarray(q.scales, np.float32)
    if scales.shape[0] == 1 and rows > 1:
        scales = np.repeat(scales, rows, axis=0)
    if scales.shape != (rows, blocks):
        raise ValueError(f"{name}: scales of shape {scales.shape}, expected {(rows, blocks)}")
    return {
        f"{name}#codes": np.ascontiguousarray(codes.reshape(rows, cols), dtype=np.int32),
        f"{name}#lut": values.reshape(-1, 1).copy(),
        f"{name}#scales": np.ascontiguousarray(scales),
    }


@dataclass(frozen=True)
class LowerQuantPass(ModulePass):
    name = "hls-lower-quant"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        rewriter = Rewriter()
        for lin in list(op.walk()):
            if isinstance(lin, quant.QuantOp) and not isinstance(lin, quant.LinearOp):
                raise UnsupportedOpError(f"the hls target cannot compute '{lin.name}' on quantised weights")
            if not isinstance(lin, quant.LinearOp):
                continue
            wop = lin.weight.owner
            if not isinstance(wop, quant.WeightOp):
                raise UnsupportedOpError("quant.linear whose weight is not a quant.weight: not supported by hls")
            typ = wop.result.type
            rows, cols = typ.get_shape()
            fmt = typ.format.format
            gran = fmt.granularity
            blocks = cols // fmt.group if gran == "group" else 1
            group = cols // blocks
            name = wop.weight_name
            entries = len(fmt.element.values)
            codes = nn.WeightOp(f"{name}#codes", TensorType(i32, [rows, cols]))
            table = nn.WeightOp(f"{name}#lut", TensorType(f32, [entries, 1]))
            scales = nn.WeightOp(f"{name}#scales", TensorType(f32, [rows, blocks]))
            looked = nn.EmbeddingOp(table.result, codes.result)
            flat = nn.ReshapeOp(looked.result, [rows, cols])
            s3 = nn.ReshapeOp(scales.result, [rows, blocks, 1])
            wide = nn.ExpandOp(s3.result, [rows, blocks, group])
            sfull = nn.ReshapeOp(wide.result, [rows, cols])
            w = nn.MulOp(flat.result, sfull.result)
            new = nn.LinearOp(lin.input, w.result, lin.bias)
            rewriter.insert_op([codes, table, scales, looked, flat, s3, wide, sfull, w, new],
                               _before(lin))
            lin.result.replace_all_uses_with(new.result)
            rewriter.erase_op(lin)
        for wop in list(op.walk()):
            if isinstance(wop, quant.WeightOp) and not wop.result.uses:
                rewriter.erase_op(wop)


def _before(op: Any) -> Any:
    from xdsl.rewriter import InsertPoint

    return InsertPoint.before(op)
