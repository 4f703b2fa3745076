"""
Static memory planning of a function's intermediate buffers (upstream MLIR,
after bufferisation, scheduling and outlining).

Upstream's ownership-based `buffer-deallocation-pipeline` frees every buffer
at the end of its block, so in a straight-line model function each
intermediate buffer lives until the function returns: the working memory of a
call is the sum of all of them (densenet121: 28 MiB against eager's 3). This
step gives each buffer the interval from its allocation to its last use, and
places the buffers in one arena at offsets such that buffers whose intervals
overlap never share bytes (greedy by size, best fit, as TFLite's arena
planner does). Each `memref.alloc` becomes a `memref.view` into the arena,
which is allocated once when the function starts and freed before it
returns; their deallocations go. The arena's size, the planned peak, is
what a call holds.

A buffer is planned only when nothing can observe it past its last use in
the block: a static shape with the identity layout, allocated in the
function's (single) top-level block, freed there by one unconditional
`memref.dealloc`, and never returned, yielded or branched with, through any
view of it. Everything else (dynamic sizes, buffers inside loops or parallel
regions, conditional deallocation) is left as it was, except that a safe
buffer that cannot go in the arena (its size is known only at run time) is
allocated just before its first use and freed just after its last, so that
the runtime's free lists pass its block on.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlir import ir

PLAN_BUFFERS = True  # the switch (benchmarks/bench_schedule.py --switch PLAN_BUFFERS)
ALIGN = 64  # bytes: each buffer starts on a cache line, as memref.alloc's alignment asked
# a use through one of these hands the buffer (or a view of it) to something
# that may keep it past the block: the buffer is not planned
# (storing into a buffer is a use; its address can only leave as a value,
# which the rule on results below catches)
_ESCAPES = frozenset({"func.return", "scf.yield", "scf.condition", "cf.br", "cf.cond_br", "omp.yield",
                      "memref.alloca_scope.return", "llvm.return"})


@dataclass
class Buffer:
    alloc: ir.Operation
    size: int | None  # bytes, rounded up to ALIGN; None: not static (it cannot go in the arena)
    first: int  # index of the alloc in the block
    last: int  # index of the last top-level op that uses it (or a view of it)
    deallocs: list[ir.Operation]
    offset: int = -1
    first_use: int | None = None  # index of the first top-level op that uses it


def plan_module(module: ir.Module) -> dict[str, int]:
    """Plans every function of `module`; returns, per function whose buffers
    were planned, the arena's size in bytes."""
    planned: dict[str, int] = {}
    if not PLAN_BUFFERS:
        return planned
    for op in module.body.operations:
        if op.operation.name == "func.func" and len(op.regions[0].blocks) == 1:
            size = plan_function(op)
            if size:
                planned[op.attributes["sym_name"].value] = size
    return planned


_SEQUENTIAL_LOOPS = frozenset({"scf.for", "scf.while"})


def hoist_out_of_loops(module: ir.Module) -> int:
    """Moves each static `memref.alloc` that a sequential loop's body
    allocates and frees (one `memref.dealloc` in the same block) out of the
    loop, its dealloc after the loop, as long as no view of it leaves an
    iteration; repeated, so that it leaves nested loops too. Returns how
    many moves were made.

    Runs before the parallel stage: upstream's `buffer-loop-hoisting` there
    (which moves the schedule's stack buffers out of loops) moves such an
    allocation without its deallocation, which then frees the one buffer
    once per iteration. A fresh buffer's contents are undefined, so reusing
    one buffer for every iteration changes nothing a program may read.
    Parallel loop bodies keep theirs: one buffer per thread."""
    from sparcc.backends.cpu import _ops_named

    moves = 0
    changed = True
    while changed:
        changed = False
        for alloc in _ops_named(module, "memref.alloc"):
            loop = alloc.parent
            if loop is None or loop.name not in _SEQUENTIAL_LOOPS or len(alloc.operands):
                continue
            deallocs = [u.owner for u in alloc.results[0].uses if u.owner.name == "memref.dealloc"]
            if len(deallocs) != 1 or deallocs[0].parent != loop or _leaves(alloc.results[0]):
                continue
            if deallocs[0].operation.block != alloc.operation.block:
                continue
            alloc.move_before(loop)
            deallocs[0].move_after(loop)
            moves += 1
            changed = True
    return moves


def _leaves(value: ir.Value) -> bool:
    """Whether `value` or a view of it may outlive its block."""
    from mlir import ir

    for use in value.uses:
        op = use.owner
        if op.name == "memref.dealloc":
            continue
        if _hands_away(op) or any(_leaves(r) for r in op.results if isinstance(r.type, ir.MemRefType)):
            return True
    return False


def _hands_away(op: ir.Operation) -> bool:
    """Whether `op`, using a buffer (or a view of it), may let it outlive
    its block other than through a view that `op` returns: it yields,
    returns or branches with it, binds it to a region's block argument
    (iter_args), takes its address as an integer, or turns it into anything
    but a view, a vector or a scalar (a pointer may carry the address away)."""
    from mlir import ir

    if op.name in _ESCAPES or op.name == "memref.extract_aligned_pointer_as_index":
        return True
    if any(isinstance(arg.type, ir.MemRefType) for region in op.regions for blk in region.blocks
           for arg in blk.arguments):
        return True
    return any(not (isinstance(r.type, (ir.MemRefType, ir.VectorType)) or _scalar(r.type)) for r in op.results)


def plan_function(func: ir.Operation) -> int:
    """Plans one function (see the module's doc); returns the arena's size in
    bytes (0: nothing planned)."""
    block = func.regions[0].blocks[0]
    ops = list(block.operations)
    buffers = _buffers(ops)
    _tighten([b for b in buffers if b.size is None], ops)
    static = [b for b in buffers if b.size is not None]
    if len(static) < 2:  # one buffer: nothing to share
        _tighten(static, ops)
        return 0
    size = _place(static)
    _rewrite(block, ops, static, size)
    return size


def _byte_size(typ: ir.Type) -> int | None:
    """Bytes of a static, identity-layout memref whose elements have a whole
    number of bytes; None for any other."""
    from mlir import ir
    from sparcc.backends.cpu import _identity_layout

    if not isinstance(typ, ir.MemRefType):
        return None
    memref = ir.MemRefType(typ)
    if not memref.has_static_shape or not _identity_layout(memref):
        return None
    element = memref.element_type
    if isinstance(element, ir.IndexType):
        width = 64
    elif isinstance(element, ir.IntegerType):
        width = ir.IntegerType(element).width
    elif isinstance(element, ir.FloatType):
        width = ir.FloatType(element).width
    else:
        return None
    if width % 8:  # i1 and friends: how they are laid out is the lowering's business
        return None
    count = 1
    for extent in memref.shape:
        count *= extent
    return count * width // 8


def _buffers(ops: list[ir.Operation]) -> list[Buffer]:
    from mlir import ir

    found: dict[ir.Value, Buffer] = {}
    for i, op in enumerate(ops):
        op = op.operation
        if op.name == "memref.alloc":  # with size operands (dynamic), i1, ...: not for the arena
            size = None if len(op.operands) else _byte_size(op.results[0].type)
            found[op.results[0]] = Buffer(op, -(-size // ALIGN) * ALIGN if size else None, i, i, [])
    root: dict[ir.Value, ir.Value] = {value: value for value in found}  # a view -> the buffer it views
    unsafe: set[ir.Value] = set()

    for i, top in enumerate(ops):
        top = top.operation

        def visit(op: ir.Operation, i: int = i, top: ir.Operation = top) -> ir.WalkResult:
            for operand in op.operands:
                buffer = root.get(operand)
                if buffer is None:
                    continue
                if op.name == "memref.dealloc":
                    if op == top and operand == buffer:
                        found[buffer].deallocs.append(op)
                    else:  # freed inside a region, or through a view
                        unsafe.add(buffer)
                    continue
                found[buffer].last = i
                if found[buffer].first_use is None:
                    found[buffer].first_use = i
                if _hands_away(op):
                    unsafe.add(buffer)
                for result in op.results:
                    if isinstance(result.type, ir.MemRefType):  # a view: subview, collapse_shape, ...
                        root[result] = buffer
            return ir.WalkResult.ADVANCE

        top.walk(visit, ir.WalkOrder.PRE_ORDER)
    return [b for value, b in found.items() if value not in unsafe and len(b.deallocs) == 1]


def _scalar(typ: ir.Type) -> bool:
    from mlir import ir

    return isinstance(typ, (ir.IntegerType, ir.IndexType, ir.FloatType))


def _place(buffers: list[Buffer]) -> int:
    """Offsets for `buffers` (greedy by size, best fit among the gaps that
    the placed buffers live at the same time leave); returns the arena's size."""
    placed: list[Buffer] = []
    end = 0
    for b in sorted(buffers, key=lambda b: (-b.size, b.first)):
        live = sorted((p for p in placed if p.first <= b.last and b.first <= p.last), key=lambda p: p.offset)
        best, best_gap, cursor = None, None, 0
        for p in live:
            gap = p.offset - cursor
            if gap >= b.size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, p.offset + p.size)
        b.offset = best if best is not None else cursor
        placed.append(b)
        end = max(end, b.offset + b.size)
    return end


def _tighten(buffers: list[Buffer], ops: list[ir.Operation]) -> None:
    """Buffers that stay buffers (sizes known only at run time, or nothing
    to share an arena with): each is allocated just before its first use
    and freed just after its last, so that the runtime's free lists hand
    its block to a later buffer (upstream allocates where bufferisation put
    the tensor.empty, which can be the function's start, and frees at its
    end). Its size operands are defined before the allocation, so above
    any later point of the block too."""
    for b in buffers:
        if b.first_use is not None and b.first_use > b.first:
            b.alloc.move_before(ops[b.first_use])
        (dealloc,) = b.deallocs
        dealloc.move_after(ops[b.last] if b.last > b.first else b.alloc)


def _rewrite(block: ir.Block, ops: list[ir.Operation], buffers: list[Buffer], size: int) -> None:
    from mlir import ir
    from mlir.dialects import arith, memref

    i8 = ir.IntegerType.get_signless(8)
    index = ir.IndexType.get()
    arena_type = ir.MemRefType.get([size], i8)
    with ir.InsertionPoint.at_block_begin(block), ops[0].location:
        arena = memref.alloc(arena_type, [], [], alignment=ALIGN)
    for b in buffers:
        with ir.InsertionPoint(b.alloc), b.alloc.location:
            offset = arith.constant(index, b.offset)
            view = memref.view(b.alloc.results[0].type, arena, offset, [])
        b.alloc.results[0].replace_all_uses_with(view)
        for dealloc in b.deallocs:
            dealloc.erase()
        b.alloc.erase()
    terminator = ops[-1]
    with ir.InsertionPoint(terminator), terminator.location:
        memref.dealloc(arena)
