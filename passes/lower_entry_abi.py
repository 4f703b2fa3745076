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
`[{name = "...", perm = array<i64: ...>}, ...]` (and `pad_rows` where the
nn.weight has it).

A program compiled for dynamic shapes (convert-nn-to-linalg recorded its
size symbols in `sparcc.sizes` and the symbolic shapes in `sparcc.arg_dims`
and `sparcc.result_dims`) takes one `index` argument per size symbol, after
the destinations. Its dynamic buffers still arrive as bare pointers (a
`memref<1xT>` argument) and are viewed in their shape with
`memref.reinterpret_cast`, row-major, sizes and strides computed from the
symbols; each `tensor.dim` tagged `sparcc.size` becomes the symbol's argument.

A result that is a C kernel's own buffer (`bufferization.to_tensor %alloc`,
as lower-quant and lower-sparse make them) takes the destination in place
of the alloc: the kernel writes into the caller's memory, with no copy.

With `in-place-updates` (the CPU target), a result that the frontend marked
as the new value of an input (`sparcc.updates`: a KV cache that the model
updates with index_copy_) is computed where its destination lies: the
function first copies the input into the destination unless the caller
passed the same buffer for both (the JIT does, for large inputs), and reads
the input through the destination. An update of a few rows (one token's
keys) then writes those rows and nothing else, instead of rewriting the
whole cache every call. Static shapes only.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from sparcc.dialects import nn
from sparcc.dialects.nn import Dim, i64_array, ints
from xdsl.context import Context
from xdsl.dialects import arith, bufferization, func, memref, scf, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    ArrayAttr,
    IndexType,
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


def _texts(f: func.FuncOp, name: str) -> list[str]:
    attr = f.attributes.get(name)
    return [a.data for a in attr.data] if isinstance(attr, ArrayAttr) else []  # type: ignore[attr-defined]


def lower_function(f: func.FuncOp, in_place_updates: bool = False) -> None:
    block = f.body.block
    n_inputs = len(block.args)
    updates = ints(f.attributes[nn.UPDATES_ATTR]) if in_place_updates and nn.UPDATES_ATTR in f.attributes else ()
    last_view: Operation | None = None  # the views open the body, in argument order

    def add_view(view: Operation) -> None:
        nonlocal last_view
        where = InsertPoint.after(last_view) if last_view else InsertPoint.at_start(block)
        Rewriter.insert_op(view, where)
        last_view = view

    # dynamic programs: one index argument per size symbol, last
    symbols = [nn.size_symbol(name) for name in _texts(f, "sparcc.sizes")]
    sizes = {sym: block.insert_arg(IndexType(), len(block.args)) for sym in symbols}
    arg_dims = [nn.parse_dim_list(t) for t in _texts(f, "sparcc.arg_dims")]
    result_dims = [nn.parse_dim_list(t) for t in _texts(f, "sparcc.result_dims")]

    def buffer(typ: Attribute, shape: tuple[Dim, ...] | None, index: int) -> SSAValue:
        """A new argument for a buffer of tensor type `typ` (symbolic `shape`),
        as a memref of that shape."""
        if shape is None or nn.is_static(shape):
            return block.insert_arg(_memref(typ), index)
        element = typ.element_type  # type: ignore[attr-defined]
        arg = block.insert_arg(MemRefType(element, [1]), index)
        ops: list[Operation] = []
        from sparcc.passes.convert_nn_to_linalg import size_value

        def mixed(d: Dim) -> SSAValue | int:
            return d if isinstance(d, int) else size_value(d, ops, sizes)

        strides = [nn.dim(sympy.Mul(*shape[i + 1 :])) for i in range(len(shape))]
        view = memref.ReinterpretCastOp.from_dynamic(
            arg, [0], [mixed(d) for d in shape], [mixed(st) for st in strides],
            MemRefType(element, [d if isinstance(d, int) else DYNAMIC_INDEX for d in shape]),
        )
        for op in [*ops, view]:
            add_view(op)
        return view.results[0]

    # size reads of the lowering: the symbols' arguments
    for op in [o for o in block.walk() if isinstance(o, tensor.DimOp) and "sparcc.size" in o.attributes]:
        op.result.replace_all_uses_with(sizes[nn.size_symbol(op.attributes["sparcc.size"].data)])  # type: ignore[attr-defined]
        Rewriter.erase_op(op)

    # inputs: memref arguments read through a restrict tensor view
    input_views: list[bufferization.ToTensorOp] = []
    for k, arg in enumerate(list(block.args[:n_inputs])):
        source = buffer(arg.type, arg_dims[k] if arg_dims else None, arg.index)
        to_tensor = bufferization.ToTensorOp(source, restrict=True)
        add_view(to_tensor)
        input_views.append(to_tensor)
        arg.replace_all_uses_with(to_tensor.tensor)
        block.erase_arg(arg)
    first_size = len(block.args) - len(symbols)  # weights and destinations go before the sizes

    # weights: one argument and one restrict view per distinct (name, perm, shape, pad_rows)
    views: dict[tuple[str, tuple[int, ...] | None, tuple[int, ...]], SSAValue] = {}
    entries: list[Attribute] = []
    for op in [o for o in block.walk() if isinstance(o, nn.WeightOp)]:
        if not op.result.uses:  # a weight every use of which was folded away
            Rewriter.erase_op(op)
            continue
        perm = ints(op.perm) if op.perm is not None else None
        key = (op.weight_name, perm, tuple(op.result.type.get_shape()), op.padded_rows)
        if key not in views:
            arg = block.insert_arg(_memref(op.result.type), first_size)
            first_size += 1
            view = bufferization.ToTensorOp(arg, restrict=True)
            add_view(view)
            views[key] = view.tensor
            entry: dict[str, Attribute] = {"name": StringAttr(op.weight_name)}
            if perm is not None:
                entry["perm"] = i64_array(perm)
            if op.pad_rows is not None:
                entry["pad_rows"] = op.pad_rows
            entries.append(DictionaryAttr(entry))
        op.result.replace_all_uses_with(views[key])
        Rewriter.erase_op(op)

    # results: written into caller-owned destinations
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    forwarded: set[Operation] = set()
    for k, value in enumerate(ret.arguments):
        dest = buffer(value.type, result_dims[k] if result_dims else None, first_size)
        first_size += 1
        alloc = _kernel_buffer(value)
        if alloc is not None and alloc not in forwarded and alloc.results[0].type == dest.type and not symbols:
            # a C kernel's result buffer (lower-quant, lower-sparse): the kernel
            # writes straight into the destination, no buffer and no copy
            forwarded.add(alloc)
            alloc.results[0].replace_all_uses_with(dest)
            Rewriter.erase_op(alloc)
            continue
        if k < len(updates) and updates[k] >= 0 and _static_same(input_views[updates[k]], value, dest):
            _update_in_place(input_views[updates[k]], dest, add_view)
            value = ret.arguments[k]  # the input itself, when the call leaves it as it was
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


def _static_same(view: bufferization.ToTensorOp, value: SSAValue, dest: SSAValue) -> bool:
    """Whether an input (its view), a result and the result's destination
    have one static type."""
    typ = view.tensor.type
    return (isinstance(typ, TensorType) and typ == value.type and nn.is_static(typ.get_shape())
            and isinstance(dest.type, MemRefType) and dest.type == view.memref.type)


def _update_in_place(view: bufferization.ToTensorOp, dest: SSAValue, add_view) -> None:
    """Reads the input of `view` through `dest` instead: the input is copied
    there first, unless it is `dest` itself (the caller passed one buffer
    for both). One-shot bufferisation then updates `dest` where it lies."""
    source = view.memref
    index = IndexType()
    ptrs = [memref.ExtractAlignedPointerAsIndexOp(operands=[b], result_types=[index]) for b in (source, dest)]
    distinct = arith.CmpiOp(ptrs[0], ptrs[1], "ne")
    copy = scf.IfOp(distinct, [], [memref.CopyOp(source, dest), scf.YieldOp()])
    through = bufferization.ToTensorOp(dest, restrict=True, writable=True)
    for op in (*ptrs, distinct, copy, through):
        add_view(op)
    view.tensor.replace_all_uses_with(through.tensor)
    Rewriter.erase_op(view)


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

    in_place_updates: bool = False  # the CPU target's: see the module's docstring

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for f in op.ops:
            if isinstance(f, func.FuncOp) and not f.is_declaration:
                lower_function(f, self.in_place_updates)
