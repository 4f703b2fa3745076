"""
lower-quant: quantised linear layers become calls to sparcc's fused
dequantising kernels (backends/cpu/ukernels.c).

  %w = quant.weight @"fc1.weight" : !quant.tensor<2048x512, #quant.format<"nf4:g64">>
  %y = quant.linear %x, %w, %b : (tensor<64x512xf32>, ...) -> tensor<64x2048xf32>
becomes
  %codes  = nn.weight @"fc1.weight#codes"  : tensor<2048x256xi8>
  %scales = nn.weight @"fc1.weight#scales" : tensor<2048x8xf32>
  %lut    = nn.weight @"fc1.weight#lut"    : tensor<16xf32>
  ... bufferization.to_buffer, memref.reinterpret_cast to memref<1xT> ...
  func.call @sparcc_qlinear_lut4(x, codes, scales, zeros, lut, bias, y, M, N, K, group, flags)
  %y = bufferization.to_tensor %out restrict writable

The kernels never materialise the float32 weight: they unpack codes and
look values up in registers. Every buffer crosses as a bare pointer: each
memref is reinterpreted as memref<1xT> so that one declaration serves every
call (the bare-pointer convention needs static shapes), and the call still
uses the memref, so buffer deallocation keeps it alive until the call.

The weight store must hold `<name>#codes`, `#scales`, `#zeros` (asym
integers), `#lut` (the format's values, float32, 16 or 256 entries), laid
out as `weight_buffers()` says; the driver fills them from the format's
reference quantiser (`sparcc.dialects.quant_formats`).

Kernels: lut4 (every format of at most 4 bits but mxfp4: the value of a
code is lut[code]), mx4 (mxfp4: E2M1 values, E8M0 scale codes), lut8 (8-bit
formats: int8, fp8); a sparse weight `!quant.tensor<NxK, #quant.format<Q>,
#sparse.format<"2:4">>` of a 4-bit Q calls sparcc_sqlinear_24x4
(sqkernels.c), other sparse ones are rejected with the reason. Per-tensor scales and formats without scales have no
kernel and are rejected with a message saying so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sparcc.backends.cpu.kernels import FLAG_BIAS, FLAG_ZEROS, QLINEAR, RECORDS
from sparcc.dialects import nn, quant
from sparcc.errors import UnsupportedOpError
from xdsl.context import Context
from xdsl.dialects import arith, bufferization, func, memref, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    DenseArrayBase,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    TensorType,
    UnitAttr,
    f32,
    f64,
    i8,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter


def kernel_for(fmt: quant.FormatAttr) -> str:
    """The kernel that runs a linear layer in `fmt`, or UnsupportedOpError."""
    f = fmt.format
    if f.name == "mxfp4":
        return QLINEAR["mx4"].symbol
    if f.bits <= 4:
        return QLINEAR["lut4"].symbol
    if f.bits <= 8:
        return QLINEAR["lut8"].symbol  # one code per byte through a 256-entry table
    raise UnsupportedOpError(f"quant.linear: no CPU kernel for {f.bits}-bit format '{f.spec}'")


def sparse_kernel_for(typ: quant.QuantTensorType) -> str:
    """The kernel of a sparse quantised weight (sqkernels.c), or UnsupportedOpError."""
    from sparcc.backends.cpu.sqlinear import check

    try:
        return check(typ.sparsity.format, typ.format.format)  # type: ignore[attr-defined]
    except (ValueError, AttributeError) as e:
        raise UnsupportedOpError(f"quant.linear: {e}") from None


def weight_buffers(name: str, typ: quant.QuantTensorType) -> list[tuple[str, str, list[int], Attribute]]:
    """(role, store name, shape, element type) of each buffer a quantised
    weight passes to its kernel, as backends/cpu/qlinear.py:kernel_operands
    lays them out: the codes as stored; scales and zero points one per row
    and group (per-tensor and unscaled formats get one per row: the kernels
    take a scale per row); the value table. A sparse weight (2:4 of 4-bit
    codes) passes the buffers of backends/cpu/sqlinear.py:pack, under
    `name#cpu.<role>`: its codes and positions packed in one stream, float32
    scales per group of kept values, zero points, the value table."""
    fmt = typ.format
    if typ.is_sparse:
        n, k = quant.matrix_shape(typ.get_shape())
        kept = -(-k // 4) * 2
        blocks = -(-kept // group_of(fmt, kept))
        out = [("packed", f"{name}#cpu.packed", [-(-n // 4), -(-k // 64) * 96], i8),
               ("scales", f"{name}#cpu.scales", [n, blocks], f32)]
        if fmt.has_zero_points:
            out.append(("zeros", f"{name}#cpu.zeros", [n, blocks], f32))
        return [*out, ("lut", f"{name}#cpu.lut", [16], f32)]
    storage = {b.role: b for b in fmt.storage(typ.get_shape())}
    n, k = quant.matrix_shape(typ.get_shape())
    blocks = -(-k // fmt.format.group) if fmt.format.granularity == "group" else 1
    scale_elem = i8 if fmt.format.name == "mxfp4" else f32
    out = [("codes", f"{name}#codes", list(storage["codes"].shape), i8),
           ("scales", f"{name}#scales", [n, blocks], scale_elem)]
    if fmt.has_zero_points:
        out.append(("zeros", f"{name}#zeros", [n, blocks], f32))
    out.append(("lut", f"{name}#lut", [16 if fmt.bits <= 4 else 256], f32))
    return out


def group_of(fmt: quant.FormatAttr, k: int) -> int:
    return fmt.format.group if fmt.format.granularity == "group" else k


@dataclass(frozen=True)
class LowerQuantPass(ModulePass):
    name = "lower-quant"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower_to_calls(op, [o for o in op.walk() if isinstance(o, quant.LinearOp)], _lower_linear,
                       quant.WeightOp, "quant", self.name)


def lower_to_calls(module: ModuleOp, ops: list[Operation], lower_one, weight_cls: type, dialect: str,
                   pass_name: str) -> None:
    """Lowers each of `ops` to a kernel call (`lower_one` returns the
    kernel's symbol), declares each kernel once, erases the weights no one
    reads any more, and fails on any op of `dialect` left without a lowering."""
    declared: set[str] = set()
    for o in ops:
        kernel = lower_one(o)
        if kernel not in declared:
            declared.add(kernel)
            declare(module, kernel)
    for weight in [o for o in module.walk() if isinstance(o, weight_cls)]:
        if not weight.results[0].uses:
            Rewriter.erase_op(weight)
    rest = [o for o in module.walk() if o.dialect_name() == dialect]
    left = next((o for o in rest if not isinstance(o, weight_cls)), rest[0] if rest else None)
    if left is not None:
        raise UnsupportedOpError(f"{pass_name}: '{left.name}' has no CPU lowering yet")


def memref1(elem: Attribute) -> MemRefType:
    return MemRefType(elem, [1])


def arg_types(kernel: str) -> list[Attribute]:
    """The MLIR argument types of a kernel, from its record (kernels.py)."""
    types = {"i64": i64, "f64": f64, "memref<1xf32>": memref1(f32), "memref<1xi8>": memref1(i8)}
    return [types[t] for t in RECORDS[kernel].mlir_types()]


def declare(module: ModuleOp, kernel: str) -> None:
    """An external declaration of a C kernel (types from its record) at the top of `module`."""
    decl = func.FuncOp.external(kernel, arg_types(kernel), [])
    block = module.body.block
    if block.first_op is None:
        block.add_op(decl)
    else:
        block.insert_op_before(decl, block.first_op)


def _lower_linear(linear: quant.LinearOp) -> str:
    wtype = linear.weight.type
    assert isinstance(wtype, quant.QuantTensorType)
    fmt = wtype.format
    kernel = sparse_kernel_for(wtype) if wtype.is_sparse else kernel_for(fmt)
    source = linear.weight.owner
    if not isinstance(source, quant.WeightOp):
        raise UnsupportedOpError("quant.linear: the CPU kernels take a quant.weight from the weight store")
    n, k = wtype.get_shape()
    xtype = linear.input.type
    assert isinstance(xtype, TensorType)
    xshape = list(xtype.get_shape())
    ops: list[Operation] = []

    def add(o: Operation) -> Operation:
        ops.append(o)
        return o

    m, dynamic = leading_rows(add, linear.input)

    x: SSAValue = linear.input  # read as [M, K], row-major: no reshape needed

    args: dict[str, SSAValue] = {"x": read_pointer(add, x)}
    buffers = {role: (store, shape, elem) for role, store, shape, elem in weight_buffers(source.weight_name, wtype)}
    dummy = add(memref.AllocaOp.get(f32, shape=[1])).results[0]  # for absent operands
    record = RECORDS[kernel]
    for role in (o.name for o in record.operands if o.is_pointer and o.name not in ("x", "bias", "y")):
        if role not in buffers:
            args[role] = dummy
            continue
        store, shape, elem = buffers[role]
        w = add(nn.WeightOp(store, TensorType(elem, shape))).results[0]
        args[role] = read_pointer(add, w)
    flags = 0
    if "zeros" in buffers:
        flags |= FLAG_ZEROS
    if linear.bias is not None:
        flags |= FLAG_BIAS
        args["bias"] = read_pointer(add, linear.bias)
    else:
        args["bias"] = dummy
    # the result is allocated in its own shape: a reshape of the buffer after
    # the call makes the CPU schedule loop forever on the ops that read it
    out = add(memref.AllocOp.get(f32, alignment=64, shape=[*xshape[:-1], n], dynamic_sizes=dynamic)).results[0]
    args["y"] = flat_pointer(add, out, f32)
    kept = -(-k // 4) * 2  # a sparse weight's scales count kept values
    consts = {"M": m, "N": n, "K": k, "group": group_of(fmt, kept if wtype.is_sparse else k), "flags": flags}

    operands = [args[o.name] if o.is_pointer else as_i64(add, consts[o.name]) for o in record.operands]
    add(func.CallOp(kernel, operands, []))
    to_tensor = bufferization.ToTensorOp(out, restrict=True, writable=True)
    symbolic_result(to_tensor, [*nn.shape_of(linear.input)[:-1], n])
    y = add(to_tensor).results[0]
    Rewriter.insert_op(ops, InsertPoint.before(linear))
    Rewriter.replace_op(linear, [], [y])
    return kernel


def leading_rows(add, x: SSAValue) -> tuple[int | SSAValue, list[SSAValue]]:
    """The rows of `x` read as [M, K] (the product of its dims but the last),
    a constant or, when a dim is dynamic (a size symbol), an index value
    computed at run time; and the run-time sizes of its dynamic dims, in
    order (for an allocation of the result)."""
    xshape = list(x.type.get_shape())  # type: ignore[attr-defined]
    dynamic = [add(tensor.DimOp(x, add(arith.ConstantOp(IntegerAttr(i, IndexType()))))).results[0]
               for i, d in enumerate(xshape[:-1]) if d == DYNAMIC_INDEX]
    static_rows = math.prod(d for d in xshape[:-1] if d != DYNAMIC_INDEX)
    if not dynamic:
        return static_rows, []
    m = dynamic[0]
    for size in dynamic[1:]:
        m = add(arith.MuliOp(m, size)).results[0]
    if static_rows != 1:
        m = add(arith.MuliOp(m, add(arith.ConstantOp(IntegerAttr(static_rows, IndexType()))).results[0])).results[0]
    return m, dynamic


def as_i64(add, value: int | SSAValue) -> SSAValue:
    """A kernel's i64 size argument: a constant, or an index value cast."""
    if isinstance(value, SSAValue):
        return add(arith.IndexCastOp(value, i64)).results[0]
    return add(arith.ConstantOp(IntegerAttr(value, i64))).results[0]


def symbolic_result(to_tensor: Operation, shape: list) -> None:
    """Gives a kernel result's tensor its symbolic type, for the nn ops that
    read it (drop_symbolic_shapes makes it plain again before upstream MLIR)."""
    to_tensor.results[0]._type = nn.tensor(shape, f32)  # noqa: SLF001 (a type-only change before any use)


def read_pointer(add, value: SSAValue) -> SSAValue:
    """A tensor's buffer, read-only, as a bare pointer (memref<1xT>) for a call."""
    vtype = value.type
    assert isinstance(vtype, TensorType)
    buf = add(bufferization.ToBufferOp(
        operands=[value], result_types=[MemRefType(vtype.element_type, vtype.get_shape())],
        properties={"read_only": UnitAttr()}))
    return flat_pointer(add, buf.results[0], vtype.element_type)


def flat_pointer(add, buf: SSAValue, elem: Attribute) -> SSAValue:
    """`buf` reinterpreted as memref<1xT> at offset 0 (a bare pointer at the call)."""
    cast = memref.ReinterpretCastOp(buf, [], [], [], DenseArrayBase.from_list(i64, [0]),
                                    DenseArrayBase.from_list(i64, [1]), DenseArrayBase.from_list(i64, [1]),
                                    memref1(elem))
    return add(cast).results[0]

