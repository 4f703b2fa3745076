"""
widen-bool-tensors: stores every boolean tensor as one byte per element.

nn and linalg compute booleans as i1, but an i1 tensor that reaches memory
is unsafe: a vectorised store of vector<16xi1> packs 16 values into two
bytes, while a scalar load of element 3 reads byte 3, and PyTorch hands bools
over as bytes. After this pass no value has type tensor<...xi1>: such
tensors become tensor<...xi8> holding 0 or 1, and the scalar code that
touches them converts at the edge:

  - a linalg.generic reads an i8 element and compares it with 0 (i1 inside);
    it yields i1 results widened with arith.extui;
  - linalg.fill widens its scalar; tensor.extract of a widened tensor
    compares the loaded byte with 0; dense i1 constants are rebuilt as i8;
  - function signatures and every other op (reshapes, slices, copies,
    nn.weight) only change type.

Runs after convert-nn-to-linalg and fuse-elementwise (fusion leaves fewer
boolean tensors to widen) and before lower-entry-abi.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, IntegerAttr, ModuleOp, TensorType, i1, i8
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass


def _wide(typ: Attribute) -> Attribute:
    if isinstance(typ, TensorType) and typ.element_type == i1:
        return TensorType(i8, typ.get_shape(), typ.encoding)
    return typ


def _retype(value: SSAValue) -> bool:
    wide = _wide(value.type)
    if wide is value.type:
        return False
    value._type = wide  # the op is rewritten in place; its users follow below
    return True


def _narrow_arg(block: Block, index: int) -> None:
    """Block argument `index` becomes i8; its uses see (arg != 0) as i1."""
    arg = block.args[index]
    if arg.type != i1:
        return
    arg._type = i8
    uses = list(arg.uses)
    if not uses:
        return
    zero = arith.ConstantOp(IntegerAttr(0, i8))
    test = arith.CmpiOp(arg, zero, "ne")
    first = block.first_op
    block.insert_op_before(zero, first) if first else block.add_op(zero)
    block.insert_op_after(test, zero)
    for use in uses:
        use.operation.operands[use.index] = test.result


def _generic(op: linalg.GenericOp) -> None:
    block = op.body.block
    for i, value in enumerate([*op.inputs, *op.outputs]):
        if isinstance(value.type, TensorType) and value.type.element_type == i8 and block.args[i].type == i1:
            _narrow_arg(block, i)
    yield_op = block.last_op
    assert isinstance(yield_op, linalg.YieldOp)
    for j, result in enumerate(op.results):
        if _retype(result) and yield_op.operands[j].type == i1:
            wide = arith.ExtUIOp(yield_op.operands[j], i8)
            block.insert_op_before(wide, yield_op)
            yield_op.operands[j] = wide.result


def _body_args(op: Operation) -> None:
    """The implicit body of a named linalg op takes bytes where its operands are bytes."""
    for region in op.regions:
        for block in region.blocks:
            for arg, value in zip(block.args, op.operands):
                if arg.type == i1 and isinstance(value.type, TensorType) and value.type.element_type == i8:
                    arg._type = i8
                elif arg.type == i1 and value.type == i8:
                    arg._type = i8


def _op(op: Operation) -> None:
    if isinstance(op, linalg.GenericOp):
        _generic(op)
        return
    if isinstance(op, linalg.FillOp) and _retype(op.results[0]) and op.inputs[0].type == i1:
        wide = arith.ExtUIOp(op.inputs[0], i8)
        op.parent_block().insert_op_before(wide, op)
        op.operands[0] = wide.result
        _body_args(op)
        return
    if isinstance(op, linalg.CopyOp):  # its body only yields: bytes in, bytes out
        _retype(op.results[0]) if op.results else None
        _body_args(op)
        return
    if isinstance(op, arith.ConstantOp) and isinstance(op.value, DenseIntOrFPElementsAttr) and _wide(op.result.type) is not op.result.type:
        values = [int(bool(v)) for v in op.value.get_values()]
        wide = arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(_wide(op.result.type), values))
        op.parent_block().insert_op_before(wide, op)
        op.result.replace_all_uses_with(wide.result)
        op.detach()
        op.erase()
        return
    if isinstance(op, tensor.ExtractOp) and isinstance(op.tensor.type, TensorType) and op.tensor.type.element_type == i8 and op.result.type == i1:
        op.result._type = i8
        uses = list(op.result.uses)
        zero = arith.ConstantOp(IntegerAttr(0, i8))
        test = arith.CmpiOp(op.result, zero, "ne")
        op.parent_block().insert_op_after(zero, op)
        op.parent_block().insert_op_after(test, zero)
        for use in uses:
            use.operation.operands[use.index] = test.result
        return
    for result in op.results:
        _retype(result)


@dataclass(frozen=True)
class WidenBoolTensorsPass(ModulePass):
    name = "widen-bool-tensors"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in op.ops:
            if not isinstance(fn, func.FuncOp) or fn.is_declaration:
                continue
            for arg in fn.body.block.args:
                _retype(arg)
            for inner in list(fn.walk()):
                if inner is not fn:
                    _op(inner)
            inputs = [_wide(t) for t in fn.function_type.inputs.data]
            outputs = [_wide(t) for t in fn.function_type.outputs.data]
            fn.function_type = func.FunctionType.from_lists(inputs, outputs)
