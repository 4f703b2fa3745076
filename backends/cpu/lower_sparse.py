"""
lower-sparse: sparse matmuls and linear layers become calls to sparcc's
sparse kernels (backends/cpu/spkernels.c), with no densification.

  %w = sparse.weight @"fc1.weight" {entries = array<i64: 256, 13107>}
         : !sparse.tensor<256x512xf32, #sparse.format<"csr">>
  %y = sparse.linear %x, %w, %b : ... -> tensor<64x256xf32>
becomes
  %i0 = nn.weight @"fc1.weight#i0" : tensor<1028xi8>     (positions, 257 x u32)
  %i1 = nn.weight @"fc1.weight#i1" : tensor<52428xi8>    (coordinates, 13107 x u32)
  %v  = nn.weight @"fc1.weight#values" : tensor<13107xf32>
  ... bufferization.to_buffer, memref.reinterpret_cast to memref<1xT> ...
  func.call @sparcc_sp_csr(mode=1, rows, cols, n, i0, i1, i2, i3, v, x, bias, y, p0, p1, p2, flags)

Buffers. A sparse tensor's index buffers are its format's positions and
coordinates in level order (sparse_formats.SparseStorage.buffers()), each
held as raw bytes (tensor<Bxi8>: the kernel reads them at the format's bit
widths, named by `flags`), then its values. Their sizes follow from the
sparse.weight's `entries`. A sparse *argument* of the function (a torch
sparse input) is replaced by one argument per buffer, in the same order;
buffers whose length depends on the data (all but the positions of a
compressed level under dense ones) are typed with length 1: the kernel
reads their extent from the positions.

Kernels: one per storage kind (csr, csc, coo, dcsr, ell, bsr, nm, vnm), one
signature for all: `mode` 0 is C = A @ B (sparse.matmul), 1 is y = x @ A^T
+ bias (sparse.linear); `acc` adds the result to a copy of the operand.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparcc.backends.cpu.sparse_kernels import (
    FLAG_ACCUMULATE,
    FLAG_BIAS,
    MODE_LINEAR,
    MODE_SPMM,
    call_params,
)
from sparcc.dialects import nn, sparse
from sparcc.dialects.sparse_formats import SparseFormat
from sparcc.errors import UnsupportedOpError
from sparcc.backends.cpu.lower_quant import (
    as_i64,
    flat_pointer,
    leading_rows,
    lower_to_calls,
    read_pointer,
    symbolic_result,
)
from xdsl.context import Context
from xdsl.dialects import arith, bufferization, func, memref
from xdsl.dialects.builtin import (
    IntegerAttr,
    MemRefType,
    ModuleOp,
    TensorType,
    UnitAttr,
    f32,
    i8,
    i64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

SIZES = ("rows", "cols", "n")
PARAMS = ("p0", "p1", "p2", "flags")


def index_buffers(fmt: SparseFormat, shape: tuple[int, ...], entries: list[int] | None) -> list[tuple[str, int | None]]:
    """(role, length in bytes or None when it depends on the data) of each index
    buffer, in level order, for a matrix of `shape`."""
    out: list[tuple[str, int | None]] = []
    parents: int | None = 1
    sizes = fmt.level_sizes(shape)
    for l, (lv, size) in enumerate(zip(fmt.levels, sizes, strict=True)):
        if lv.kind == "compressed":
            length = 1 if lv.pad else (parents + 1 if parents is not None else None)
            out.append((f"pos{l}", None if length is None else length * fmt.pos // 8))
        count = entries[l] if entries is not None else None
        if lv.kind == "dense":
            count = parents * size if parents is not None else None
        elif lv.kind == "nm" and parents is not None:
            count = parents * lv.n
        if lv.kind != "dense":
            out.append((f"crd{l}", None if count is None else count * fmt.crd // 8))
        parents = count
    return out


def kernel_params(fmt: SparseFormat, where: str) -> tuple[str, list[int], int]:
    """(kernel symbol, [p0, p1, p2], index flags) of a storage format
    (sparse_kernels.call_params), or UnsupportedOpError naming `where`."""
    try:
        kind, params, flags = call_params(fmt)
    except ValueError as e:
        raise UnsupportedOpError(f"{where}: {e}") from None
    return f"sparcc_sp_{kind}", params, flags




@dataclass(frozen=True)
class LowerSparsePass(ModulePass):
    name = "lower-sparse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        args: dict[SSAValue, list[SSAValue]] = {}
        for f in [o for o in op.ops if isinstance(o, func.FuncOp) and not o.is_declaration]:
            args.update(_expand_arguments(f))
        lower_to_calls(op, [o for o in op.walk() if isinstance(o, sparse.LinearOp | sparse.MatmulOp)],
                       lambda o: _lower(o, args), sparse.WeightOp, "sparse", self.name)
        for f in [o for o in op.ops if isinstance(o, func.FuncOp) and not o.is_declaration]:
            for arg in [a for a in f.body.block.args if isinstance(a.type, sparse.SparseTensorType)]:
                f.body.block.erase_arg(arg)
            f.function_type = func.FunctionType.from_lists(
                [a.type for a in f.body.block.args], f.function_type.outputs.data
            )


def _expand_arguments(f: func.FuncOp) -> dict[SSAValue, list[SSAValue]]:
    """Replaces each sparse argument by its buffers (index bytes, values)."""
    block: Block = f.body.block
    out: dict[SSAValue, list[SSAValue]] = {}
    for arg in [a for a in block.args if isinstance(a.type, sparse.SparseTensorType)]:
        typ = arg.type
        fmt, shape = typ.format.format, typ.get_shape()
        kernel_params(fmt, f"lower-sparse: argument {arg.index} of @{f.sym_name.data}")
        types: list[Attribute] = [
            TensorType(i8, [length or 1]) for _, length in index_buffers(fmt, shape, None)
        ]
        static = fmt.static_entries(shape)
        types.append(TensorType(f32, [static[-1] if static else 1]))
        new: list[BlockArgument] = []
        for k, t in enumerate(types):
            new.append(block.insert_arg(t, arg.index + 1 + k))
        out[arg] = list(new)
        if any(not isinstance(u.operation, sparse.LinearOp | sparse.MatmulOp) for u in arg.uses):
            user = next(u.operation for u in arg.uses if not isinstance(u.operation, sparse.LinearOp | sparse.MatmulOp))
            raise UnsupportedOpError(f"lower-sparse: a sparse argument used by '{user.name}' has no CPU lowering")
    return out


def _lower(op: sparse.LinearOp | sparse.MatmulOp, args: dict[SSAValue, list[SSAValue]]) -> str:
    a = op.weight if isinstance(op, sparse.LinearOp) else op.lhs
    typ = a.type
    assert isinstance(typ, sparse.SparseTensorType)
    fmt, shape = typ.format.format, typ.get_shape()
    kernel, params, flags = kernel_params(fmt, f"lower-sparse: {op.name}")
    rows, cols = shape
    ops: list[Operation] = []

    def add(o: Operation) -> Operation:
        ops.append(o)
        return o


    # the sparse operand's buffers
    if isinstance(a, BlockArgument) and a in args:
        buffers = args[a]
    elif isinstance(a.owner, sparse.WeightOp):
        w = a.owner
        entries = w.level_entries or fmt.static_entries(shape)
        if entries is None:
            raise UnsupportedOpError(
                f"lower-sparse: sparse.weight @{w.weight_name} has no `entries`: the sizes of its "
                "buffers are unknown (the compiler sets them when it encodes the weight)"
            )
        buffers = [
            add(nn.WeightOp(f"{w.weight_name}#i{k}", TensorType(i8, [length]))).results[0]
            for k, (_, length) in enumerate(index_buffers(fmt, shape, entries))
        ]
        buffers.append(add(nn.WeightOp(f"{w.weight_name}#values",
                                       TensorType(f32, [entries[-1]]))).results[0])
    else:
        raise UnsupportedOpError(
            f"{op.name}: the CPU kernels take a sparse.weight or a sparse function argument, "
            f"got a value made by '{a.owner.name if isinstance(a.owner, Operation) else 'a block'}'"
        )
    index = [read_pointer(add, b) for b in buffers[:-1]]
    values = read_pointer(add, buffers[-1])
    dummy8 = add(memref.AllocaOp.get(i8, shape=[1])).results[0]
    dummy = add(memref.AllocaOp.get(f32, shape=[1])).results[0]
    index += [dummy8] * (4 - len(index))

    # the dense operand and the result
    if isinstance(op, sparse.LinearOp):
        mode = MODE_LINEAR
        xshape = list(op.input.type.get_shape())  # type: ignore[attr-defined]
        n, dynamic = leading_rows(add, op.input)
        x: SSAValue = op.input  # read as [n, cols], row-major: no reshape needed
        dense = read_pointer(add, x)
        out_shape = [*xshape[:-1], rows]
        symbolic = [*nn.shape_of(op.input)[:-1], rows]
        bias = dummy
        if op.bias is not None:
            flags |= FLAG_BIAS
            bias = read_pointer(add, op.bias)
    else:
        mode = MODE_SPMM
        n = op.rhs.type.get_shape()[1]  # type: ignore[attr-defined]
        dense = read_pointer(add, op.rhs)
        out_shape = [rows, n]
        symbolic, dynamic = out_shape, []
        bias = dummy
    out = add(memref.AllocOp.get(f32, alignment=64, shape=out_shape, dynamic_sizes=dynamic)).results[0]
    if op.acc is not None:
        flags |= FLAG_ACCUMULATE
        acc = op.acc
        src = add(bufferization.ToBufferOp(
            operands=[acc], result_types=[MemRefType(f32, out_shape)], properties={"read_only": UnitAttr()}))
        add(memref.CopyOp(src.results[0], out))
    c = flat_pointer(add, out, f32)

    def const(v: int) -> SSAValue:
        return add(arith.ConstantOp(IntegerAttr(v, i64))).results[0]

    operands = [const(mode), const(rows), const(cols), as_i64(add, n), *index, values, dense, bias, c,
                *(const(p) for p in params), const(flags)]
    add(func.CallOp(kernel, operands, []))
    # the result is allocated in its own shape (a reshape of the buffer after
    # the call makes the CPU schedule loop forever on the ops that read it)
    to_tensor = bufferization.ToTensorOp(out, restrict=True, writable=True)
    symbolic_result(to_tensor, symbolic)
    y = add(to_tensor).results[0]
    Rewriter.insert_op(ops, InsertPoint.before(op))
    Rewriter.replace_op(op, [], [y])
    return kernel
