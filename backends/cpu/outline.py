"""Outlining of an entry function's loop nests into functions of their own.

After bufferisation, a model's `forward` is one function with a linalg op
(or a loop nest) per step of each layer. LLVM's `opt -O3` is worse than
linear in the size of one function: densenet121 (about 97,000 lines of LLVM
IR in `forward`) spent 105 s in `opt`. Here each top-level op that holds a
region (a linalg op, a loop) moves into a private, never-inlined function
that `forward` calls; `opt` then works function by function. Two ops that
print the same (the repeated blocks of a ResNet or a transformer: same
shapes, same constants) share one function, so the schedule and LLVM see
each distinct op once. This runs before the CPU schedule
(`backends/cpu/__init__.py: OUTLINE_FIRST`): the schedule's function-wide
steps (hoisting vector transfers restarts its walk of the function after
every hoist) then see one op's loops at a time.

What a nest uses from outside becomes an argument, except constants and
memref views (subview, reinterpret_cast, ...), which are cloned inside: the
constants keep their values visible to LLVM and make equal nests print the
same, and the views keep every memref argument of static shape and layout,
which the bare-pointer calling convention of the CPU pipeline needs. A nest
that would need a memref argument of dynamic shape stays where it is.
"""

from __future__ import annotations

from mlir import ir
from mlir.dialects import func

CLONED = frozenset({"arith.constant", "ub.poison"})
VIEWS = frozenset({
    "memref.subview", "memref.reinterpret_cast", "memref.expand_shape", "memref.collapse_shape",
    "memref.cast", "memref.transpose",
})
PREFIX = "sparcc_nest"


def outline_loop_nests(module: ir.Module) -> dict[str, int]:
    """Outlines the loop nests of every public function of `module` (the
    entry points). Returns how many nests moved, into how many distinct
    functions, and how many stayed (a memref of dynamic shape)."""
    symbols = ir.SymbolTable(module.operation)
    made: dict[str, str] = {}  # a nest's printed function body -> its function's name
    counts = {"nests": 0, "functions": 0, "kept": 0}
    entries = [
        op for op in module.body.operations
        if op.operation.name == "func.func" and "sym_visibility" not in op.attributes
        and len(op.regions[0].blocks)
    ]
    for entry in entries:
        block = entry.regions[0].blocks[0]
        for op in list(block.operations):
            if len(op.operation.regions) and op.operation.name != "func.return":
                counts["nests" if _outline(op.operation, module, symbols, made) else "kept"] += 1
    counts["functions"] = len(made)
    return counts


def _outline(op: ir.Operation, module: ir.Module, symbols: ir.SymbolTable, made: dict[str, str]) -> bool:
    nested_ops = _ops_within(op)  # walk order: equal nests capture in the same order
    inside = set(nested_ops)
    cloned: list[ir.Operation] = []  # constants and views to clone, producers first
    captured: list[ir.Value] = []  # the new function's arguments
    seen: set[ir.Value] = set()

    def need(value: ir.Value) -> bool:
        """Records an outside value the nest uses; False if it cannot be passed."""
        if value in seen:
            return True
        seen.add(value)
        owner = value.owner
        if not isinstance(owner, ir.Block):
            producer = owner.operation
            if producer.name in CLONED or producer.name in VIEWS:
                if not all(need(v) for v in producer.operands):
                    return False
                cloned.append(producer)
                return True
        if not _passable(value.type):
            return False
        captured.append(value)
        return True

    for nested in nested_ops:
        for operand in nested.operands:
            if not _defined_within(operand, inside) and not need(operand):
                return False
    if any(not _passable(r.type) for r in op.results):
        return False

    with op.location, ir.InsertionPoint(module.body):
        fn = func.FuncOp(PREFIX, ([v.type for v in captured], [r.type for r in op.results]))
        fn.attributes["sym_visibility"] = ir.StringAttr.get("private")
        fn.attributes["llvm.linkage"] = ir.Attribute.parse("#llvm.linkage<internal>")
        fn.attributes["passthrough"] = ir.ArrayAttr.get([ir.StringAttr.get("noinline")])
        noalias = ir.DictAttr.get({"llvm.noalias": ir.UnitAttr.get()})
        fn.attributes["arg_attrs"] = ir.ArrayAttr.get(
            [noalias if _own_buffer(v) else ir.DictAttr.get({}) for v in captured]
        )
        body = fn.add_entry_block()
    mapping = dict(zip(captured, body.arguments))
    with op.location, ir.InsertionPoint(body):
        for producer in cloned:
            copy = producer.clone()
            for i, operand in enumerate(producer.operands):
                copy.operands[i] = mapping[operand]
            for old, new in zip(producer.results, copy.results):
                mapping[old] = new
        ret = func.ReturnOp(list(op.results))
    with op.location, ir.InsertionPoint(op):
        call = func.CallOp([r.type for r in op.results], ir.FlatSymbolRefAttr.get(PREFIX), list(captured))
    for old, new in zip(op.results, call.results):
        old.replace_all_uses_with(new)
    op.move_before(ret.operation)
    for i, r in enumerate(op.results):
        ret.operation.operands[i] = r
    for nested in nested_ops:
        for i, operand in enumerate(nested.operands):
            if operand in mapping:
                nested.operands[i] = mapping[operand]

    # local scope: printing an op inside a module otherwise numbers the whole module
    key = fn.operation.get_asm(use_local_scope=True, assume_verified=True).replace(f"@{PREFIX}(", "@(", 1)
    name = made.get(key)
    if name is None:
        name = str(symbols.insert(fn.operation)).strip('"')
        made[key] = name
    else:
        fn.operation.erase()
    call.operation.attributes["callee"] = ir.FlatSymbolRefAttr.get(name)
    return True


def _ops_within(op: ir.Operation) -> list[ir.Operation]:
    found: list[ir.Operation] = []

    def visit(nested: ir.Operation) -> ir.WalkResult:
        found.append(nested)
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    return found


def _defined_within(value: ir.Value, inside: set[ir.Operation]) -> bool:
    owner = value.owner
    if isinstance(owner, ir.Block):
        return owner.owner.operation in inside
    return owner.operation in inside


def _own_buffer(value: ir.Value) -> bool:
    """Whether `value` is a memref that no other argument can alias: an
    allocation, or an argument of the entry function (the driver passes
    distinct buffers, and copies an input passed twice). Views of them are
    cloned inside, never passed."""
    if not isinstance(value.type, ir.MemRefType):
        return False
    owner = value.owner
    return isinstance(owner, ir.Block) or owner.operation.name in ("memref.alloc", "memref.alloca")


def _passable(typ: ir.Type) -> bool:
    """Whether a value of this type can be an argument under the
    bare-pointer convention: not a memref, or one of static shape and layout."""
    if not isinstance(typ, ir.MemRefType):
        return True
    if not typ.has_static_shape:
        return False
    strides, offset = typ.get_strides_and_offset()
    return not any(typ.is_dynamic_stride_or_offset(s) for s in [*strides, offset])
