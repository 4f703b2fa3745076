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
design fills on each call. Asymmetric integers read (value - zero point)
* scale, the zero points one per row and group (`#zeros`, float: exact
small integers). MXFP4's E8M0 scales are stored as their float values.

A sparse quantised weight (N:M, dialects/sparse_quant.py) holds the codes
of its kept values only, [N, K / M * N], quantised in groups along them:
they are dequantised the same way and multiplied with x read through their
positions in each group (`#i0`), as hls-lower-sparse does for float N:M.
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
    """The weight-store arrays of a quantised weight for this lowering; of
    a sparse one (N:M, dialects/sparse_quant.py), those of its kept values
    and their positions in each group (`#i0`, as hls-lower-sparse reads
    them)."""
    from sparcc.dialects.quant_formats import parse_format, unpack_nibbles

    index: dict[str, np.ndarray] = {}
    if typ.is_sparse:
        from sparcc.backends.hls.lower_sparse import nm_of

        nm = nm_of(typ.sparsity.format)
        if nm is None:
            raise ValueError(f"{name}: the hls target takes sparse quantised layers in N:M, not "
                             f"'{typ.sparsity.format.spec}'")
        rows = typ.get_shape()[0]
        crd = next(v for k, v in q.index_buffers().items() if k.startswith("crd"))
        index[f"{name}#i0"] = np.ascontiguousarray(np.asarray(crd).reshape(rows, -1, nm[0]), dtype=np.int8)
        q = q.values
    fmt = parse_format(q.spec)
    rows, cols = q.shape[0], int(np.prod(q.shape[1:]))
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
    out = {
        f"{name}#codes": np.ascontiguousarray(codes.reshape(rows, cols), dtype=np.int32),
        f"{name}#lut": values.reshape(-1, 1).copy(),
        f"{name}#scales": np.ascontiguousarray(scales),
        **index,
    }
    if q.zero_points is not None:  # asym: (value - zero point) * scale, per row and group
        zeros = np.asarray(q.zero_points, np.float32)
        if zeros.shape[0] == 1 and rows > 1:
            zeros = np.repeat(zeros, rows, axis=0)
        if zeros.shape != (rows, blocks):
            raise ValueError(f"{name}: zero points of shape {zeros.shape}, expected {(rows, blocks)}")
        out[f"{name}#zeros"] = np.ascontiguousarray(zeros)
    return out


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
            nm = None
            if typ.is_sparse:  # the values are the kept ones of an N:M weight: K' = K / M * N per row
                from sparcc.backends.hls.lower_sparse import nm_of

                nm = nm_of(typ.sparsity.format)
                if nm is None or cols % nm[1]:
                    raise UnsupportedOpError(f"{wop.weight_name}: the hls target takes sparse quantised layers in "
                                             f"N:M of whole groups, not '{typ.sparsity.format.spec}'")
                cols = cols // nm[1] * nm[0]
            fmt = typ.format.format
            gran = fmt.granularity
            blocks = cols // fmt.group if gran == "group" else 1
            if gran == "group" and cols % fmt.group:
                raise UnsupportedOpError(f"{wop.weight_name}: {cols} stored values a row are not whole groups of "
                                         f"{fmt.group} ({fmt.spec}); the hls target needs whole groups")
            group = cols // blocks
            name = wop.weight_name
            entries = len(fmt.element.values)
            ops: list[Any] = []

            def add(o: Any) -> Any:
                ops.append(o)
                return o.results[0]

            codes = add(nn.WeightOp(f"{name}#codes", TensorType(i32, [rows, cols])))
            table = add(nn.WeightOp(f"{name}#lut", TensorType(f32, [entries, 1])))
            scales = add(nn.WeightOp(f"{name}#scales", TensorType(f32, [rows, blocks])))
            w = add(nn.ReshapeOp(add(nn.EmbeddingOp(table, codes)), [rows, cols]))
            per_value = [rows, blocks, group]
            if fmt.asym:
                zeros = add(nn.WeightOp(f"{name}#zeros", TensorType(f32, [rows, blocks])))
                zfull = add(nn.ReshapeOp(add(nn.ExpandOp(add(nn.ReshapeOp(zeros, [rows, blocks, 1])), per_value)),
                                         [rows, cols]))
                w = add(nn.SubOp(w, zfull))
            sfull = add(nn.ReshapeOp(add(nn.ExpandOp(add(nn.ReshapeOp(scales, [rows, blocks, 1])), per_value)),
                                     [rows, cols]))
            w = add(nn.MulOp(w, sfull))
            rewriter.insert_op(ops, _before(lin))
            if nm is None:
                new = nn.LinearOp(lin.input, w, lin.bias)
                rewriter.insert_op(new, _before(lin))
                y = new.result
            else:
                from sparcc.backends.hls.lower_sparse import nm_linear

                n, m = nm
                crd = nn.WeightOp(f"{name}#i0", TensorType(IntegerType(8), [rows, cols // n, n]))
                vals = nn.ReshapeOp(w, [rows, cols // n, n])
                rewriter.insert_op([crd, vals], _before(lin))
                y = nm_linear(rewriter, lin, crd.result, vals.result, rows, cols // n * m, n, m)
            lin.result.replace_all_uses_with(y)
            rewriter.erase_op(lin)
        for wop in list(op.walk()):
            if isinstance(wop, quant.WeightOp) and not wop.result.uses:
                rewriter.erase_op(wop)


def _before(op: Any) -> Any:
    from xdsl.rewriter import InsertPoint

    return InsertPoint.before(op)
