"""hls-lower-sparse: an N:M sparse linear layer as nn ops over its
compressed arrays, for the hls target.

    %w = sparse.weight @"fc.weight" : !sparse.tensor<RxKxf32, #sparse.format<"2:4">>
    %y = sparse.linear %x, %w, %b
  ->
    %crd  = nn.weight @"fc.weight#i0"     : tensor<RxGxNxi8>   position of each kept value in its group of M
    %vals = nn.weight @"fc.weight#values" : tensor<RxGxNxf32>  the kept values (G = K / M groups per row)
    x viewed as [B, 1, G, M] and broadcast over the rows; the N kept columns of
    each group gathered by %crd, multiplied by %vals and summed over (G, N)

The design keeps only the kept values and their 2-bit positions (one byte
each) on chip and reads x through them: R * K * N / M multiplies instead
of R * K. Other sparse formats (CSR, BSR, ...) have data-dependent loop
bounds and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparcc.dialects import nn, sparse
from sparcc.errors import UnsupportedOpError
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, TensorType, f32, i64
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

i8 = IntegerType(8)


def nm_of(fmt: Any) -> tuple[int, int] | None:
    """(N, M) when `fmt` is the plain N:M preset, else None."""
    from sparcc.dialects.sparse_formats import parse_format

    if isinstance(fmt, str):
        fmt = parse_format(fmt)
    lv = next((lv for lv in fmt.levels if lv.kind == "nm"), None)
    if lv is None:
        return None
    return (lv.n, lv.m) if parse_format(f"{lv.n}:{lv.m}") == fmt else None


@dataclass(frozen=True)
class LowerSparsePass(ModulePass):
    name = "hls-lower-sparse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        rewriter = Rewriter()
        for lin in list(op.walk()):
            if not isinstance(lin, sparse.LinearOp):
                if lin.name.startswith("sparse.") and lin.name != "sparse.weight":
                    raise UnsupportedOpError(f"the hls target cannot compute '{lin.name}' on sparse weights")
                continue
            wop = lin.weight.owner
            if not isinstance(wop, sparse.WeightOp) or lin.acc is not None:
                raise UnsupportedOpError("sparse.linear of a weight that is not a sparse.weight: not supported by hls")
            typ = wop.result.type
            rows, cols = typ.get_shape()
            fmt = typ.format.format
            if is_ell(fmt):
                self.ell(rewriter, lin, wop, rows, cols, fmt)
                continue
            nm = nm_of(fmt)
            if nm is None:
                raise UnsupportedOpError(
                    f"the hls target takes N:M and ELL sparsity (e.g. '2:4', 'unstructured:0.9@ell'), not "
                    f"'{fmt.spec}' (weight {wop.weight_name}): other formats have data-dependent loop bounds"
                )
            n, m = nm
            if cols % m:
                raise UnsupportedOpError(f"{wop.weight_name}: {cols} columns are not whole groups of {m}")
            groups = cols // m
            x_shape = list(lin.input.type.get_shape())
            batch = 1
            for d in x_shape[:-1]:
                batch *= d
            name = wop.weight_name
            ops: list[Any] = []

            def add(o: Any) -> Any:
                ops.append(o)
                return o.results[0]

            crd = add(nn.WeightOp(f"{name}#i0", TensorType(i8, [rows, groups, n])))
            vals = add(nn.WeightOp(f"{name}#values", TensorType(f32, [rows, groups, n])))
            x4 = add(nn.ReshapeOp(lin.input, [batch, 1, groups, m]))
            xe = add(nn.ExpandOp(x4, [batch, rows, groups, m]))
            idx = add(nn.CastOp(crd, i64))
            idx4 = add(nn.ReshapeOp(idx, [1, rows, groups, n]))
            idxe = add(nn.ExpandOp(idx4, [batch, rows, groups, n]))
            picked = add(nn.GatherOp(xe, idxe, 3))
            v4 = add(nn.ReshapeOp(vals, [1, rows, groups, n]))
            ve = add(nn.ExpandOp(v4, [batch, rows, groups, n]))
            prod = add(nn.MulOp(picked, ve))
            y = add(nn.SumOp(prod, [2, 3]))
            if lin.bias is not None:
                b2 = add(nn.ReshapeOp(lin.bias, [1, rows]))
                be = add(nn.ExpandOp(b2, [batch, rows]))
                y = add(nn.AddOp(y, be))
            y = add(nn.ReshapeOp(y, [*x_shape[:-1], rows]))
            rewriter.insert_op(ops, InsertPoint.before(lin))
            lin.result.replace_all_uses_with(y)
            rewriter.erase_op(lin)
        for wop in list(op.walk()):
            if isinstance(wop, sparse.WeightOp) and not wop.result.uses:
                rewriter.erase_op(wop)

    @staticmethod
    def ell(rewriter: Rewriter, lin: Any, wop: Any, rows: int, cols: int, fmt: Any) -> None:
        """ELL: each row's stored values (padded to one width, the padding
        zero) and their columns; x gathered by the columns."""
        entries = list(wop.entries.get_values()) if wop.entries is not None else None
        if not entries or entries[-1] % rows:
            raise UnsupportedOpError(f"{wop.weight_name}: an ELL weight without its entry counts")
        width = entries[-1] // rows
        x_shape = list(lin.input.type.get_shape())
        batch = 1
        for d in x_shape[:-1]:
            batch *= d
        name = wop.weight_name
        ops: list[Any] = []

        def add(o: Any) -> Any:
            ops.append(o)
            return o.results[0]

        crd = add(nn.WeightOp(f"{name}#i1", TensorType(IntegerType(fmt.crd), [rows, width])))
        vals = add(nn.WeightOp(f"{name}#values", TensorType(f32, [rows, width])))
        x3 = add(nn.ReshapeOp(lin.input, [batch, 1, cols]))
        xe = add(nn.ExpandOp(x3, [batch, rows, cols]))
        idx = add(nn.CastOp(crd, i64)) if fmt.crd != 64 else crd
        idx3 = add(nn.ReshapeOp(idx, [1, rows, width]))
        idxe = add(nn.ExpandOp(idx3, [batch, rows, width]))
        picked = add(nn.GatherOp(xe, idxe, 2))
        v3 = add(nn.ReshapeOp(vals, [1, rows, width]))
        ve = add(nn.ExpandOp(v3, [batch, rows, width]))
        prod = add(nn.MulOp(picked, ve))
        y = add(nn.SumOp(prod, [2]))
        if lin.bias is not None:
            b2 = add(nn.ReshapeOp(lin.bias, [1, rows]))
            be = add(nn.ExpandOp(b2, [batch, rows]))
            y = add(nn.AddOp(y, be))
        y = add(nn.ReshapeOp(y, [*x_shape[:-1], rows]))
        rewriter.insert_op(ops, InsertPoint.before(lin))
        lin.result.replace_all_uses_with(y)
        rewriter.erase_op(lin)


def is_ell(fmt: Any) -> bool:
    """Whether `fmt` is the ELL preset (any index width)."""
    from sparcc.dialects.sparse_formats import parse_format

    if isinstance(fmt, str):
        fmt = parse_format(fmt)
    return fmt.spec.split(";")[0] == "ell"
