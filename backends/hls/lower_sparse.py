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
of R * K.

ELL (each row padded to one width) is a gather of x by the stored columns,
one loop of the row width per output. CSR is walked as it is stored, with
loops whose trip counts are data (the row pointers):

    %pos  = nn.weight @"fc.weight#i0"     : tensor<(R+1)xi32>   row r's entries are pos[r] .. pos[r+1]
    %crd  = nn.weight @"fc.weight#i1"     : tensor<NNZxi32>     their columns
    %vals = nn.weight @"fc.weight#values" : tensor<NNZxf32>
    y = bias broadcast (or zeros) : tensor<BxR>
    scf.for %b, %r { scf.for %p = pos[r] to pos[r+1] { y[b, r] += vals[p] * x[b, crd[p]] } }

(tensor-level scf.for / tensor.extract / tensor.insert: bufferised in
place into loads and stores of y; the emitter prints the loop with its
bounds read from pos, the QoR model counts the rows' entries). Other
formats (BSR, COO, ...) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparcc.dialects import nn, sparse
from sparcc.errors import UnsupportedOpError
from xdsl.context import Context
from xdsl.dialects import arith, scf, tensor
from xdsl.dialects.builtin import FloatAttr, IndexType, IntegerAttr, IntegerType, ModuleOp, TensorType, f32, i64
from xdsl.ir import Block, Region
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
        from sparcc.backends.hls.sources import mark

        mark(op)  # the first pass of the hls pipeline: source markers while the nn ops still know their lines
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
            if is_csr(fmt):
                self.csr(rewriter, lin, wop, rows, cols, fmt)
                continue
            nm = nm_of(fmt)
            if nm is None:
                raise UnsupportedOpError(
                    f"the hls target takes N:M, ELL and CSR sparsity (e.g. '2:4', 'unstructured:0.9@ell'), not "
                    f"'{fmt.spec}' (weight {wop.weight_name})"
                )
            n, m = nm
            if cols % m:
                raise UnsupportedOpError(f"{wop.weight_name}: {cols} columns are not whole groups of {m}")
            groups = cols // m
            name = wop.weight_name
            crd = nn.WeightOp(f"{name}#i0", TensorType(i8, [rows, groups, n]))
            vals = nn.WeightOp(f"{name}#values", TensorType(f32, [rows, groups, n]))
            rewriter.insert_op([crd, vals], InsertPoint.before(lin))
            y = nm_linear(rewriter, lin, crd.result, vals.result, rows, cols, n, m)
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


    @staticmethod
    def csr(rewriter: Rewriter, lin: Any, wop: Any, rows: int, cols: int, fmt: Any) -> None:
        """CSR: y[b, r] accumulates vals[p] * x[b, crd[p]] for p from pos[r]
        to pos[r + 1], a loop whose trip count is the row's entries."""
        from xdsl.dialects.linalg.ops import FillOp

        entries = list(wop.entries.get_values()) if wop.entries is not None else None
        if not entries or len(entries) != 2 or entries[0] != rows:
            raise UnsupportedOpError(f"{wop.weight_name}: a CSR weight without its entry counts")
        nnz = entries[-1]
        if nnz == 0:
            raise UnsupportedOpError(f"{wop.weight_name}: a CSR weight with no entries (pruned to zero)")
        for what, key, width, top in (("column", "crd", fmt.crd, cols - 1), ("position", "pos", fmt.pos, nnz)):
            if top >= 2 ** (width - 1):  # read as signed C integers of that width
                raise UnsupportedOpError(
                    f"{wop.weight_name}: CSR {what}s up to {top} do not fit the format's signed {width}-bit "
                    f"index type on the hls target; use a wider one (e.g. '@csr;{key}=32')")
        x_shape = list(lin.input.type.get_shape())
        batch = 1
        for d in x_shape[:-1]:
            batch *= d
        name = wop.weight_name
        index = IndexType()
        ops: list[Any] = []

        def add(o: Any) -> Any:
            ops.append(o)
            return o.results[0]

        pos = add(nn.WeightOp(f"{name}#i0", TensorType(IntegerType(fmt.pos), [rows + 1])))
        crd = add(nn.WeightOp(f"{name}#i1", TensorType(IntegerType(fmt.crd), [nnz])))
        vals = add(nn.WeightOp(f"{name}#values", TensorType(f32, [nnz])))
        x2 = add(nn.ReshapeOp(lin.input, [batch, cols]))
        ytype = TensorType(f32, [batch, rows])
        if lin.bias is not None:
            b2 = add(nn.ReshapeOp(lin.bias, [1, rows]))
            y0 = add(nn.ExpandOp(b2, [batch, rows]))
        else:
            zero = add(arith.ConstantOp(FloatAttr(0.0, f32)))
            y0 = add(FillOp([zero], [add(tensor.EmptyOp([], ytype))], [ytype]))
        c0, c1 = (add(arith.ConstantOp(IntegerAttr(v, index))) for v in (0, 1))
        cb, cr = (add(arith.ConstantOp(IntegerAttr(v, index))) for v in (batch, rows))

        # for p in pos[r] .. pos[r+1]: y[b, r] += vals[p] * x[b, crd[p]]
        inner = Block(arg_types=[index, ytype])
        p, y = inner.args
        b_iv, r_iv = Block(arg_types=[index, ytype]), Block(arg_types=[index, ytype])
        col = arith.IndexCastOp(tensor.ExtractOp(crd, [p], IntegerType(fmt.crd)), index)
        v = tensor.ExtractOp(vals, [p], f32)
        xv = tensor.ExtractOp(x2, [b_iv.args[0], col.results[0]], f32)
        old = tensor.ExtractOp(y, [b_iv.args[0], r_iv.args[0]], f32)
        prod = arith.MulfOp(v, xv)
        total = arith.AddfOp(old, prod)
        put = tensor.InsertOp(total.result, y, [b_iv.args[0], r_iv.args[0]])
        inner.add_ops([col.operands[0].owner, col, v, xv, old, prod, total, put, scf.YieldOp(put)])
        # the row: its bounds read from pos
        r, yr = r_iv.args
        r1 = arith.AddiOp(r, c1)
        lo = arith.IndexCastOp(tensor.ExtractOp(pos, [r], IntegerType(fmt.pos)), index)
        hi = arith.IndexCastOp(tensor.ExtractOp(pos, [r1.result], IntegerType(fmt.pos)), index)
        walk = scf.ForOp(lo, hi, c1, [yr], Region(inner))
        r_iv.add_ops([lo.operands[0].owner, lo, r1, hi.operands[0].owner, hi, walk, scf.YieldOp(walk)])
        row_loop = scf.ForOp(c0, cr, c1, [b_iv.args[1]], Region(r_iv))
        b_iv.add_ops([row_loop, scf.YieldOp(row_loop)])
        y = add(scf.ForOp(c0, cb, c1, [y0], Region(b_iv)))
        y = add(nn.ReshapeOp(y, [*x_shape[:-1], rows]))
        rewriter.insert_op(ops, InsertPoint.before(lin))
        lin.result.replace_all_uses_with(y)
        rewriter.erase_op(lin)


def nm_linear(rewriter: Rewriter, lin: Any, crd: Any, vals: Any, rows: int, cols: int, n: int, m: int) -> Any:
    """y = x W^T + b for an N:M weight of `rows` x `cols` given by its kept
    values `vals` and their positions in each group of M `crd` (both
    [rows, cols / M, N]): x read through the positions, multiplied, summed.
    The ops go before `lin` (whose input and bias they take); returns y."""
    groups = cols // m
    x_shape = list(lin.input.type.get_shape())
    batch = 1
    for d in x_shape[:-1]:
        batch *= d
    ops: list[Any] = []

    def add(o: Any) -> Any:
        ops.append(o)
        return o.results[0]

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
    return y


def is_csr(fmt: Any) -> bool:
    """Whether `fmt` is the CSR preset (any index widths)."""
    from sparcc.dialects.sparse_formats import parse_format

    if isinstance(fmt, str):
        fmt = parse_format(fmt)
    return fmt.spec.split(";")[0] == "csr"


def is_ell(fmt: Any) -> bool:
    """Whether `fmt` is the ELL preset (any index width)."""
    from sparcc.dialects.sparse_formats import parse_format

    if isinstance(fmt, str):
        fmt = parse_format(fmt)
    return fmt.spec.split(";")[0] == "ell"
