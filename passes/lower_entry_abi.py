"""
lower-entry-abi: gives each public function the calling convention that
compiled code exposes to the runtime.

  func @f(%x: tensor<..>) -> tensor<..>        (uses nn.weight @w)
becomes
  func @f(%x: memref<..>, %w: memref<..>, %out: memref<..>)

Inputs come first, then one buffer per distinct weight (name + layout), then
one destination buffer per result; the function writes its results into the
destinations (`bufferization.materialize_in_destination`) and returns
nothing. Buffers are owned by the caller, so no allocation crosses the
boundary and weights are bound once, never copied per call. The weight order
is recorded in the `sparcc.weights` attribute as
`[{name = "...", perm = array<i64: ...>}, ...]`.

A result that is a C kernel's own buffer (`bufferization.to_tensor %alloc`,
as lower-quant and lower-sparse make them) takes the destination in place
of the alloc: the kernel writes into the caller's memory, with no copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparcc.dialects import nn
from sparcc.dialects.nn import i64_array, ints
from xdsl.context import Context
from xdsl.dialects import bufferization, func, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter


def _memref(typ: Attribute) -> MemRefType:
    if not isinstance(typ, TensorType):
        raise ValueError(f"expected tensor arguments and results, got {typ}")
    return MemRefType(typ.element_type, typ.get_shape())


def lower_function(f: func.FuncOp) -> None:
    block = f.body.block
    n_inputs = len(block.args)
    last_view: Operation | None = None  # the views open the body, in argument order

    def add_view(view: Operation) -> None:
        nonlocal last_view
        where = InsertPoint.after(last_view) if last_view else InsertPoint.at_start(block)
        Rewriter.insert_op(view, where)
        last_view = view

    # inputs: memref arguments read through a restrict tensor view
    for arg in list(block.args):
        to_tensor = bufferization.ToTensorOp(block.insert_arg(_memref(arg.type), arg.index), restrict=True)
        add_view(to_tensor)
        arg.replace_all_uses_with(to_tensor.tensor)
        block.erase_arg(arg)

    # weights: one argument and one restrict view per distinct (name, perm, shape)
    views: dict[tuple[str, tuple[int, ...] | None, tuple[int, ...]], SSAValue] = {}
    entries: list[Attribute] = []
    for op in [o for o in block.walk() if isinstance(o, nn.WeightOp)]:
        if not op.result.uses:  # a weight every use of which was folded away
            Rewriter.erase_op(op)
            continue
        perm = ints(op.perm) if op.perm is not None else None
        key = (op.weight_name, perm, tuple(op.result.type.get_shape()))
        if key not in views:
            arg = block.insert_arg(_memref(op.result.type), len(block.args))
            view = bufferization.ToTensorOp(arg, restrict=True)
            add_view(view)
            views[key] = view.tensor
            entry: dict[str, Attribute] = {"name": StringAttr(op.weight_name)}
            if perm is not None:
                entry["perm"] = i64_array(perm)
            entries.append(DictionaryAttr(entry))
        op.result.replace_all_uses_with(views[key])
        Rewriter.erase_op(op)

    # results: written into caller-owned destinations
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    forwarded: set[Operation] = set()
    for value in ret.arguments:
        dest = block.insert_arg(_memref(value.type), len(block.args))
        alloc = _kernel_buffer(value)
        if alloc is not None and alloc not in forwarded and alloc.results[0].type == dest.type:
            # a C kernel's result buffer (lower-quant, lower-sparse): the kernel
            # writes straight into the destination, no buffer and no copy
            forwarded.add(alloc)
            alloc.results[0].replace_all_uses_with(dest)
            Rewriter.erase_op(alloc)
            continue
        store = bufferization.MaterializeInDestinationOp.build(
            operands=[value, dest],
            result_types=[[]],
            properties={"restrict": UnitAttr(), "writable": UnitAttr()},
        )
        Rewriter.insert_op(store, InsertPoint.before(ret))
    Rewriter.replace_op(ret, func.ReturnOp())

    f.function_type = func.FunctionType.from_lists([a.type for a in block.args], [])
    f.attributes["sparcc.weights"] = ArrayAttr(entries)
    f.attributes["sparcc.num_inputs"] = i64_array([n_inputs])


def _kernel_buffer(value: SSAValue) -> Operation | None:
    """The memref.alloc that `value` is a tensor view of (`bufferization.to_tensor
    %alloc restrict writable`), or None."""
    view = value.owner
    if not isinstance(view, bufferization.ToTensorOp) or view.restrict is None:
        return None
    alloc = view.memref.owner
    return alloc if isinstance(alloc, memref.AllocOp) else None


@dataclass(frozen=True)
class LowerEntryAbiPass(ModulePass):
    name = "lower-entry-abi"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for f in op.ops:
            if isinstance(f, func.FuncOp) and not f.is_declaration:
                lower_function(f)
