"""
GPU lowering: linalg on tensors (what the CPU target also starts from) ->
kernels in PTX for one NVIDIA architecture, plus the host's launch plan.

    index checks -> error buffer       the CPU runtime's hook becomes stores into
                                       a new last argument (_index_errors_to_buffer)
    bufferize (as on the CPU)          linalg on memrefs
    linalg-generalize-named-ops        every op a linalg.generic
    tile_using_forall (transform)      one forall tile per thread block:
                                       innermost parallel dims [.., 8, 32]
    scf-forall-to-parallel,
    convert-linalg-to-parallel-loops   block loop { thread loop { reductions } }
    loop-invariant-code-motion,
    promote_accumulators               a reduction accumulates in a register
    mapping attributes (map_loops)     threads: innermost dim -> x, then y, z;
                                       blocks: most tiles -> x; host leftovers
                                       -> one-thread kernels
    convert-parallel-loops-to-gpu,
    gpu-kernel-outlining               gpu.launch_func on the host
    plan (plan_launches)               the host function read into a list of
                                       launches, temporaries and constants
    nvvm-attach-target,
    gpu-lower-to-nvvm-pipeline,
    gpu-module-to-binary{format=isa}   PTX text, one module for all kernels

The host function is not compiled: the executable (target.py) replays the
plan with the CUDA driver (runtime.py) on torch's current stream. Kernels
take bare pointers (`kernel-bare-ptr-calling-convention`): a memref argument
is one device pointer, an index one i64, a float one f32.

Consecutive threads (x) take consecutive elements of the innermost parallel
dim, so loads and stores of row-major buffers coalesce. Reductions run in
each thread (a row of a softmax, a dot product of a matmul): correct for
every shape, fast only where the parallel dims are large. No tensor cores
here yet; the hand-written kernels (kernels.py) are where they go first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mlir import ir, passmanager
from mlir.dialects import linalg as linalg_dialect
from mlir.dialects import scf as scf_dialect
from mlir.dialects.transform import interpreter
from sparcc.errors import PipelineError

ARCHS = ("sm_80", "sm_90")  # what the tests compile for; any sm_XY that ptxas knows is accepted
DEFAULT_ARCH = "sm_90"
PTX_FEATURES = "+ptx80"  # PTX ISA 8.0: sm_80 and sm_90 (CUDA 12.0 or newer drivers)
BLOCK_TILE = (8, 32)  # threads of a block over the two innermost parallel dims (y, x)
MAX_THREADS = 1024  # per block (every NVIDIA GPU since sm_20)
KERNELS = "sparcc_kernels"  # the one gpu.module (and PTX module) of a program
TAG = "sparcc.gpu"

PREPARE = "canonicalize,eliminate-empty-tensors"
BUFFERIZE = (
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "canonicalize,cse,convert-bufferization-to-memref,func.func(linalg-generalize-named-ops)"
)
LOOPS = (
    # no canonicalize after the loops exist: it merges a block loop with its
    # thread loop (MergeNestedParallelLoops), and map_loops needs the two
    "canonicalize,scf-forall-to-parallel,func.func(convert-linalg-to-parallel-loops),"
    "fold-memref-alias-ops,cse"
)
TO_GPU = (
    "func.func(convert-parallel-loops-to-gpu),gpu-launch-sink-index-computations,"
    "gpu-kernel-outlining,canonicalize,cse"
)


def to_ptx_pipeline(arch: str) -> str:
    return (
        f"nvvm-attach-target{{chip={arch} features={PTX_FEATURES} O=3}},"
        f"gpu-lower-to-nvvm-pipeline{{cubin-chip={arch} cubin-features={PTX_FEATURES} cubin-format=isa "
        f"kernel-bare-ptr-calling-convention=true}}"
    )


@dataclass
class Buffer:
    """A memref the plan refers to: an argument of the entry function
    (inputs, weights, results, in that order) or a temporary."""

    kind: str  # "arg" | "temp"
    index: int  # the argument's position, or the temporary's
    shape: list[int]
    dtype: str  # MLIR element type: f32, bf16, i64, ...

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "shape": self.shape, "dtype": self.dtype}


@dataclass
class Step:
    """One host action: a kernel launch, or a device-to-device copy."""

    op: str  # "launch" | "copy"
    kernel: str = ""
    grid: list[int] = field(default_factory=list)
    block: list[int] = field(default_factory=list)
    # per kernel parameter: ["buf", buffer key] | ["i64", int] | ["i32", int] | ["f32", float] | ...
    args: list[list[Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "kernel": self.kernel, "grid": self.grid, "block": self.block, "args": self.args}


@dataclass
class Plan:
    """What the host does per call: temporaries to allocate, then steps."""

    args: list[Buffer]
    temps: list[Buffer]
    steps: list[Step]
    # constant tensors (memref.global): copied to the device once, at load
    consts: list[dict[str, Any]] = field(default_factory=list)  # shape, dtype, values (flat, row-major)
    # the argument (memref<4xi64>, last) where kernels report a bad index:
    # kind, dim, value, size (sparcc.errors.run_time_error); None when no op checks one
    error_arg: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "args": [b.as_dict() for b in self.args],
            "temps": [b.as_dict() for b in self.temps],
            "consts": self.consts,
            "error_arg": self.error_arg,
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass
class Lowered:
    plan: Plan
    kernels_mlir: str  # the gpu.module before NVVM (for inspection and lit)
    ptx: dict[str, str]  # arch -> PTX text
    seconds: dict[str, float]


def _run(module: ir.Module, stage: str, pipeline: str, seconds: dict[str, float]) -> None:
    start = time.perf_counter()
    before = str(module) if stage else ""
    try:
        passmanager.PassManager.parse(f"builtin.module({pipeline})").run(module.operation)
    except ir.MLIRError as e:
        diag = "; ".join(str(d.message) for d in e.error_diagnostics) or str(e)
        raise PipelineError(f"GPU stage '{stage}' failed: {diag}", _reproducer(stage, pipeline, before)) from None
    seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start


def _reproducer(stage: str, pipeline: str, text: str) -> str:
    import os
    import shlex
    import tempfile

    folder = tempfile.mkdtemp(prefix=f"sparcc-repro-gpu-{stage}-")
    src = os.path.join(folder, "input.mlir")
    with open(src, "w") as f:
        f.write(text)
    with open(os.path.join(folder, "replay.sh"), "w") as f:
        f.write(f"#!/bin/sh\nsparcc-opt {shlex.quote(src)} "
                f"--mlir-pipeline={shlex.quote(f'builtin.module({pipeline})')}\n")
    return folder


def _walk(root: ir.Operation, pred: Any) -> list[ir.Operation]:
    found: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if pred(op):
            found.append(op)
        return ir.WalkResult.ADVANCE

    root.walk(visit)
    return found


# ----------------------------------------------------------------------------
# the stages
# ----------------------------------------------------------------------------


def lower(text: str, archs: tuple[str, ...] = (DEFAULT_ARCH,)) -> Lowered:
    """linalg-on-tensors MLIR text (the CPU target's input) -> a launch plan
    and PTX per architecture. A failure of sparcc's own code is a
    PipelineError with the input kept as its reproducer."""
    try:
        return _lower(text, archs)
    except PipelineError:
        raise
    except Exception as e:  # noqa: BLE001 (a sparcc bug: the user gets a message and the input)
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise PipelineError(
            f"the GPU backend failed ({type(e).__name__}: {first})", _reproducer("gpu", "", text)
        ) from None


def _lower(text: str, archs: tuple[str, ...]) -> Lowered:
    seconds: dict[str, float] = {}
    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        error_arg = _index_errors_to_buffer(module)
        _reject_calls(module)
        _run(module, "prepare", PREPARE, seconds)
        _run(module, "bufferize", BUFFERIZE, seconds)
        _copies_to_linalg(module)
        _run(module, "generalize", "func.func(linalg-generalize-named-ops)", seconds)
        start = time.perf_counter()
        tile_blocks(module)
        seconds["tile"] = time.perf_counter() - start
        _run(module, "loops", LOOPS, seconds)
        _run(module, "hoist", "loop-invariant-code-motion", seconds)
        promote_accumulators(module)
        map_loops(module)
        _run(module, "to-gpu", TO_GPU, seconds)
        plan = plan_launches(module)
        plan.error_arg = error_arg
        merge_kernel_modules(module)
        kernels = str(module)
    ptx = {}
    for arch in archs:
        with ir.Context(), ir.Location.unknown():
            m = ir.Module.parse(kernels)
            _run(m, f"ptx-{arch}", to_ptx_pipeline(arch), seconds)
            ptx[arch] = _ptx_text(m, arch)
    return Lowered(plan, kernels, ptx, seconds)


INDEX_ERROR = "sparcc_rt_index_error"  # the CPU runtime's hook (passes/convert_nn_to_linalg.py)


def _index_errors_to_buffer(module: ir.Module) -> int | None:
    """Each call of the index-check hook becomes stores of its four values
    (kind, dim, value, size) into a new last argument of the entry function,
    memref<4xi64>, that the executable zeroes before a call and reads after
    it; returns that argument's position (None: no checks)."""
    calls = _walk(module.operation, lambda op: op.name == "func.call"
                  and str(op.attributes["callee"]).lstrip("@") == INDEX_ERROR)
    if not calls:
        return None
    from mlir.dialects import memref as memref_dialect

    entry = _entry(module)
    block = entry.regions[0].blocks[0]
    i64 = ir.IntegerType.get_signless(64)
    err_type = ir.MemRefType.get([4], i64)
    err = block.add_argument(err_type, ir.Location.unknown())
    fn_type = ir.FunctionType(ir.TypeAttr(entry.attributes["function_type"]).value)
    entry.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get([*fn_type.inputs, err_type],
                                                                            list(fn_type.results)))
    index = ir.IndexType.get()
    for call in calls:
        with ir.InsertionPoint(call), call.location:
            for k, value in enumerate(call.operands):
                pos = ir.Operation.create("arith.constant", [index],
                                          attributes={"value": ir.IntegerAttr.get(index, k)})
                memref_dialect.StoreOp(value, err, [pos.result])
        call.erase()
    for op in list(module.body.operations):
        op = op.operation
        if op.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == INDEX_ERROR:
            op.erase()
    return len(block.arguments) - 1


def _reject_calls(module: ir.Module) -> None:
    """A call of a C kernel (lower-quant, lower-sparse) has no GPU code: one
    clear error naming it."""
    from sparcc.passes.convert_nn_to_linalg import SPECIAL_PREFIX

    for call in _walk(module.operation, lambda op: op.name == "func.call"):
        callee = str(call.attributes["callee"]).lstrip("@")
        if callee.startswith(SPECIAL_PREFIX):
            fn = callee.removeprefix(SPECIAL_PREFIX).rsplit("_", 1)[0]
            raise PipelineError(
                f"the GPU target has no code for PyTorch's special function '{fn}' (it is a function of the "
                f"CPU runtime, '{callee}'); compile this model for target 'cpu'"
            )
        raise PipelineError(
            f"the GPU target has no kernel for '{callee}' (a CPU kernel the model's lowering calls: "
            f"a quantised or sparse layer); compile this model for target 'cpu'"
        )


def _copies_to_linalg(module: ir.Module) -> None:
    """memref.copy (what bufferisation writes a result with) as linalg.copy,
    so that it becomes a kernel like every other op."""
    for op in _walk(module.operation, lambda o: o.name == "memref.copy"):
        src, dst = op.operands
        with ir.InsertionPoint(op), op.location:
            linalg_dialect.copy(src, outs=[dst])
        op.erase()


def _loop_sizes(op: ir.Operation) -> list[int] | None:
    """The static trip count of each loop of a linalg.generic, from the
    first operand dim that each loop indexes directly (None if dynamic)."""
    maps = [ir.AffineMapAttr(a).value for a in ir.ArrayAttr(op.attributes["indexing_maps"])]
    n = maps[0].n_dims
    sizes: list[int | None] = [None] * n
    for value, amap in zip(op.operands, maps):
        try:
            shape = ir.ShapedType(value.type).shape
        except ValueError:
            continue  # a scalar operand
        for r, expr in enumerate(amap.results):
            try:
                d = ir.AffineDimExpr(expr).position
            except ValueError:
                continue  # not a plain loop index
            if sizes[d] is None and shape[r] >= 0:
                    sizes[d] = shape[r]
    return None if any(s is None for s in sizes) else sizes  # type: ignore[return-value]


def block_tiles(iterators: list[bool], sizes: list[int]) -> list[int]:
    """A generic's forall tile sizes (0: not tiled): the innermost parallel
    loops get BLOCK_TILE (x: 32 wide, y: 8), outer parallel loops 1,
    reductions stay whole in each thread."""
    tiles = [0] * len(iterators)
    parallel = [d for d, p in enumerate(iterators) if p]
    for j, d in enumerate(reversed(parallel)):
        tiles[d] = min(BLOCK_TILE[-1 - j], sizes[d]) if j < len(BLOCK_TILE) else 1
    return tiles


def tile_blocks(module: ir.Module) -> None:
    """Tiles each linalg.generic with a parallel loop into an scf.forall of
    block-sized tiles (transform.structured.tile_using_forall)."""
    seq = []
    for i, op in enumerate(_walk(module.operation, lambda o: o.name == "linalg.generic")):
        iterators = ["parallel" in str(a) for a in ir.ArrayAttr(op.attributes["iterator_types"])]
        sizes = _loop_sizes(op)
        if sizes is None:
            raise PipelineError("the GPU target compiles static shapes only; drop dynamic= for target 'gpu'")
        if not any(iterators):
            continue  # a full reduction: one thread (map_loops)
        tiles = block_tiles(iterators, sizes)
        if all(t in (0, s) for t, s in zip(tiles, sizes)):
            continue  # one block holds it all
        op.attributes[TAG] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), i)
        any_op = "!transform.any_op"
        seq.append(
            f"    %m{i} = transform.structured.match attributes {{{TAG} = {i} : i64}} in %root"
            f" : ({any_op}) -> {any_op}\n"
            f"    %t{i}, %f{i} = transform.structured.tile_using_forall %m{i} tile_sizes {tiles}"
            f" : ({any_op}) -> ({any_op}, {any_op})\n"
        )
    if not seq:
        return
    script = (
        "module attributes {transform.with_named_sequence} {\n"
        "  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {\n"
        + "".join(seq) + "    transform.yield\n  }\n}\n"
    )
    transform = ir.Module.parse(script)
    try:
        interpreter.apply_named_sequence(module.operation, transform.body.operations[0], transform.operation)
    except ir.MLIRError as e:
        diag = "; ".join(str(d.message) for d in e.error_diagnostics) or str(e)
        raise PipelineError(f"GPU stage 'tile' failed: {diag}", _reproducer("tile", "", str(module))) from None


def _inside(value: ir.Value, loop: ir.Operation) -> bool:
    """Whether `value` is defined in `loop`'s body (or is one of its block arguments)."""
    owner = value.owner
    op = owner.owner if isinstance(owner, ir.Block) else getattr(owner, "operation", owner)
    while op is not None:
        if op == loop:
            return True
        op = op.parent
    return False


def promote_accumulators(module: ir.Module) -> None:
    """In each scf.for (innermost first), a load and a later store of the
    same element of a temporary buffer (memref.alloc), at indices fixed in
    the loop, with no other access to that buffer in the loop, become one
    load before the loop, a loop-carried value and one store after it: a
    reduction (a matmul's dot product, a row sum) accumulates in a register,
    not in global memory. The buffer is a temporary (it aliases nothing) or
    an argument whose type no other buffer of the loop has: arguments alias
    only as a whole, when a result is an input updated in place (sparcc.driver
    gives both the same buffer), and then their types are equal."""
    loops = _walk(module.operation, lambda op: op.name == "scf.for" and len(op.results) == 0)
    depth = {}
    for loop in loops:
        d, op = 0, loop.parent
        while op is not None:
            d, op = d + 1, op.parent
        depth[loop] = d
    for loop in sorted(loops, key=lambda lp: -depth[lp]):
        _promote_in(loop)


def _promote_in(loop: ir.Operation) -> None:
    body = loop.regions[0].blocks[0]
    ops = [o.operation for o in body.operations]
    for load in ops:
        if load.name != "memref.load":
            continue
        buf = load.operands[0]
        owner = getattr(buf.owner, "operation", buf.owner)
        if isinstance(owner, ir.Block):  # an argument of the entry function
            others = {str(v.type) for op in _walk(loop, lambda o: o.name in ("memref.load", "memref.store"))
                      for v in op.operands if v != buf and str(v.type).startswith("memref")}
            if str(buf.type) in others:
                continue
        elif owner.name != "memref.alloc":
            continue
        indices = list(load.operands[1:])
        if any(_inside(i, loop) for i in indices):
            continue
        users = _walk(loop, lambda op: any(v == buf for v in op.operands))
        stores = [u for u in users if u.name == "memref.store" and u.parent == loop
                  and list(u.operands[2:]) == indices and u.operands[1] == buf]
        if len(users) != 2 or len(stores) != 1 or not load.is_before_in_block(stores[0]):
            continue
        _carry(loop, load, stores[0])
        return  # `loop` is gone; an outer loop's pass picks up the next buffer


def _carry(loop: ir.Operation, load: ir.Operation, store: ir.Operation) -> None:
    from mlir.dialects import memref as memref_dialect

    lb, ub, step = list(loop.operands)[:3]
    buf, indices = load.operands[0], list(load.operands[1:])
    with ir.InsertionPoint(loop), loop.location:
        init = memref_dialect.LoadOp(buf, indices)
        new = scf_dialect.ForOp(lb, ub, step, [init.result])
    old_body = loop.regions[0].blocks[0]
    new_body = new.body
    old_body.arguments[0].replace_all_uses_with(new.induction_variable)
    load.results[0].replace_all_uses_with(new.inner_iter_args[0])
    value = store.operands[0]
    load.erase()
    store.erase()
    for op in list(old_body.operations):
        op = op.operation
        if op.name == "scf.yield":
            continue
        op.detach_from_parent()
        ir.InsertionPoint(new_body).insert(op)
    with ir.InsertionPoint(new_body), loop.location:
        scf_dialect.YieldOp([value])
    with ir.InsertionPoint(loop), loop.location:
        memref_dialect.StoreOp(new.results[0], buf, indices)
    loop.erase()


def _mapping(processors: list[str]) -> ir.Attribute:
    identity = "map = (d0) -> (d0), bound = (d0) -> (d0)"
    return ir.Attribute.parse(
        "[" + ", ".join(f"#gpu.loop_dim_map<processor = {p}, {identity}>" for p in processors) + "]"
    )


def _processors(rank: int, level: str) -> list[str]:
    """Innermost dim -> x, the next -> y, then z; outer dims sequential."""
    names = [f"{level}_{a}" for a in "xyz"]
    return ["sequential"] * max(0, rank - 3) + list(reversed(names[: min(rank, 3)]))


def _trip_counts(loop: ir.Operation) -> list[int] | None:
    n = len(loop.regions[0].blocks[0].arguments)
    counts = []
    for lb, ub, st in zip(loop.operands[:n], loop.operands[n: 2 * n], loop.operands[2 * n: 3 * n]):
        vals = []
        for v in (lb, ub, st):
            owner = getattr(v.owner, "operation", v.owner)
            if getattr(owner, "name", None) != "arith.constant":
                return None
            vals.append(ir.IntegerAttr(owner.attributes["value"]).value)
        counts.append(max(0, -(-(vals[1] - vals[0]) // vals[2])))
    return counts


def _block_processors(rank: int, counts: list[int] | None) -> list[str]:
    """Blocks: the dim with the most tiles on x (up to 2^31 - 1 blocks), the
    next on y and z (up to 65535 each); the rest sequential in each block."""
    if counts is None:
        return _processors(rank, "block")
    order = sorted(range(rank), key=lambda d: -counts[d])
    out = ["sequential"] * rank
    for d, axis in zip(order, "xyz"):
        out[d] = f"block_{axis}"
    return out


def map_loops(module: ir.Module) -> None:
    """Marks each outermost scf.parallel of the entry function for
    convert-parallel-loops-to-gpu: a tiled one (a forall of tiles around
    the tile's loop) to blocks, its inner loop to threads; an untiled one
    to threads of one block when it fits, else to blocks. Anything else the
    host would run (a loop over a full reduction) goes into a one-thread
    kernel: the host never touches device memory."""
    func = _entry(module)
    body = func.regions[0].blocks[0]
    serial: list[ir.Operation] = []  # consecutive ops the host would run: one one-thread kernel
    for op in list(body.operations):
        op = op.operation
        if op.name not in _HOST_OPS:
            serial.append(op)
            continue
        if serial:
            _wrap_in_one_thread(serial)
            serial = []
        if op.name == "scf.parallel":
            rank = len(op.regions[0].blocks[0].arguments)
            inner = [o.operation for o in op.regions[0].blocks[0].operations if o.operation.name == "scf.parallel"]
            counts = _trip_counts(op)
            if inner:
                op.attributes["mapping"] = _mapping(_block_processors(rank, counts))
                for loop in inner:
                    loop.attributes["mapping"] = _mapping(
                        _processors(len(loop.regions[0].blocks[0].arguments), "thread"))
            elif counts is not None and _prod(counts) <= MAX_THREADS:
                op.attributes["mapping"] = _mapping(_processors(rank, "thread"))
            else:
                op.attributes["mapping"] = _mapping(_processors(rank, "block"))
    if serial:
        _wrap_in_one_thread(serial)


# what the host function may hold after map_loops (plan_launches reads them)
_HOST_OPS = frozenset({
    "scf.parallel", "arith.constant", "memref.alloc", "memref.alloca", "memref.dealloc", "memref.get_global",
    "memref.expand_shape", "memref.collapse_shape", "memref.cast", "func.return",
})


def _prod(xs: list[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _wrap_in_one_thread(ops: list[ir.Operation]) -> None:
    """Moves `ops` (consecutive, in the entry function) into a one-iteration
    scf.parallel mapped to one thread: a kernel of their own."""
    first = ops[0]
    with ir.InsertionPoint(first), first.location:
        index = ir.IndexType.get()
        c0 = ir.Operation.create("arith.constant", [index], attributes={"value": ir.IntegerAttr.get(index, 0)})
        c1 = ir.Operation.create("arith.constant", [index], attributes={"value": ir.IntegerAttr.get(index, 1)})
        loop = scf_dialect.ParallelOp([], [c0.result], [c1.result], [c1.result], [])
        block = loop.regions[0].blocks.append(index)
    with ir.InsertionPoint(block), first.location:
        reduce = scf_dialect.ReduceOp([], 0)
    for op in ops:
        op.move_before(reduce.operation)
    loop.operation.attributes["mapping"] = _mapping(["thread_x"])


def _entry(module: ir.Module) -> ir.Operation:
    funcs = [op.operation for op in module.body.operations
             if op.operation.name == "func.func" and len(op.operation.regions[0].blocks)]
    if len(funcs) != 1:
        raise PipelineError(f"the GPU target expects one entry function, found {len(funcs)}")
    return funcs[0]


# ----------------------------------------------------------------------------
# the host side as data
# ----------------------------------------------------------------------------


def _memref(typ: ir.Type) -> tuple[list[int], str]:
    m = ir.MemRefType(typ)
    layout = m.layout
    if not (isinstance(layout, ir.AffineMapAttr) and layout.value == ir.AffineMap.get_identity(m.rank)):
        raise PipelineError(f"the GPU target passes only contiguous buffers to kernels, got {typ}")
    if any(d < 0 for d in m.shape):
        raise PipelineError("the GPU target compiles static shapes only; drop dynamic= for target 'gpu'")
    return list(m.shape), str(m.element_type)


def _constant(op: ir.Operation) -> list[Any]:
    attr = op.attributes["value"]
    typ = str(op.results[0].type)
    if typ == "index":
        return ["i64", ir.IntegerAttr(attr).value]
    if typ.startswith("i"):
        return [typ, ir.IntegerAttr(attr).value]
    if typ in ("f16", "bf16", "f32", "f64"):
        return [typ, ir.FloatAttr(attr).value]
    raise PipelineError(f"the GPU target cannot pass a constant of type {typ} to a kernel")


def plan_launches(module: ir.Module) -> Plan:
    """Reads the entry function after outlining: every op must be a
    constant, an allocation, a view that keeps its buffer contiguous, a
    launch, a deallocation or the return; anything else is a PipelineError
    naming it (the host runs no code of the model)."""
    func = _entry(module)
    block = func.regions[0].blocks[0]
    values: dict[Any, list[Any]] = {}
    args = []
    for i, a in enumerate(block.arguments):
        shape, dtype = _memref(a.type)
        args.append(Buffer("arg", i, shape, dtype))
        values[a] = ["buf", f"arg{i}"]
    temps: list[Buffer] = []
    steps: list[Step] = []
    consts: list[dict[str, Any]] = []
    for op in block.operations:
        op = op.operation
        name = op.name
        if name == "arith.constant":
            values[op.results[0]] = _constant(op)
        elif name in ("memref.alloc", "memref.alloca"):
            shape, dtype = _memref(op.results[0].type)
            temps.append(Buffer("temp", len(temps), shape, dtype))
            values[op.results[0]] = ["buf", f"temp{len(temps) - 1}"]
        elif name == "memref.get_global":
            values[op.results[0]] = ["buf", f"const{len(consts)}"]
            consts.append(_global_value(module, op))
        elif name in ("memref.expand_shape", "memref.collapse_shape", "memref.cast"):
            _memref(op.results[0].type)  # still contiguous, same pointer
            values[op.results[0]] = values[op.operands[0]]
        elif name == "gpu.launch_func":
            steps.append(_launch(op, values))
        elif name in ("memref.dealloc", "func.return"):
            continue
        else:
            raise PipelineError(f"the GPU target cannot run '{name}' on the host (only kernels run): {op}")
    return Plan(args, temps, steps, consts)


def _global_value(module: ir.Module, get: ir.Operation) -> dict[str, Any]:
    """The shape, dtype and values of the constant memref.global that `get` reads."""
    name = ir.FlatSymbolRefAttr(get.attributes["name"]).value
    glob = next(op.operation for op in module.body.operations
                if op.operation.name == "memref.global"
                and ir.StringAttr(op.operation.attributes["sym_name"]).value == name)
    if "constant" not in glob.attributes or "initial_value" not in glob.attributes:
        raise PipelineError(f"the GPU target supports constant globals only, got {glob}")
    shape, dtype = _memref(get.results[0].type)
    attr = ir.DenseElementsAttr(glob.attributes["initial_value"])
    count = _prod(shape)
    if attr.is_splat:
        value = attr.get_splat_value()
        scalar = ir.FloatAttr(value).value if dtype.startswith(("f", "bf")) else ir.IntegerAttr(value).value
        flat = [scalar] * count
    else:
        import numpy as np

        flat = np.array(attr).reshape(-1).tolist()
    return {"shape": shape, "dtype": dtype, "values": flat}


def _launch(op: ir.Operation, values: dict[Any, list[Any]]) -> Step:
    # operand segments: async deps, grid x y z, block x y z, cluster x y z,
    # dynamic shared memory, kernel operands, async object
    seg = list(ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"]))
    starts = [sum(seg[:k]) for k in range(len(seg))]
    operands = list(op.operands)
    if any(seg[7:11]):
        raise PipelineError("the GPU target launches no clusters and no dynamic shared memory")
    dims = []
    for k in range(1, 7):
        v = operands[starts[k]]
        if v not in values or values[v][0] != "i64":
            raise PipelineError("the GPU target needs launch sizes known at compile time")
        dims.append(int(values[v][1]))
    kernel_args = []
    for v in operands[starts[11]: starts[11] + seg[11]]:
        if v not in values:
            owner = v.owner
            raise PipelineError(f"a kernel argument comes from '{getattr(owner, 'name', owner)}', "
                                f"which the GPU target does not run on the host")
        kernel_args.append(values[v])
    kernel = str(op.attributes["kernel"])  # @module::@func
    module_name = kernel.split("::")[0].lstrip("@")
    grid, block = dims[:3], dims[3:]
    if grid[0] >= 2**31 or max(grid[1:]) > 65535 or block[0] * block[1] * block[2] > MAX_THREADS:
        raise PipelineError(f"kernel {module_name} needs a launch of grid {grid} and block {block}, beyond what "
                            f"NVIDIA GPUs take (grid x < 2^31, y and z <= 65535, {MAX_THREADS} threads a block)")
    return Step("launch", module_name, grid, block, kernel_args)


def merge_kernel_modules(module: ir.Module) -> None:
    """Moves every outlined kernel into one gpu.module (KERNELS), named after
    its own module (unique), and drops the host function: what is left is
    the device code alone, one PTX module for the program."""
    gpu_modules = [op.operation for op in module.body.operations if op.operation.name == "gpu.module"]
    with ir.InsertionPoint(module.body), ir.Location.unknown():
        target = ir.Operation.create("gpu.module", regions=1,
                                     attributes={"sym_name": ir.StringAttr.get(KERNELS)})
    body = target.regions[0].blocks.append()
    for gm in gpu_modules:
        name = ir.StringAttr(gm.attributes["sym_name"]).value
        for inner in list(gm.regions[0].blocks[0].operations):
            inner = inner.operation
            if inner.name == "gpu.func":
                inner.attributes["sym_name"] = ir.StringAttr.get(name)
                inner.detach_from_parent()
                ir.InsertionPoint(body).insert(inner)
        gm.erase()
    for op in list(module.body.operations):
        if op.operation.name in ("func.func", "memref.global"):
            op.operation.erase()


def _ptx_text(module: ir.Module, arch: str) -> str:
    binaries = [op.operation for op in module.body.operations if op.operation.name == "gpu.binary"]
    if len(binaries) != 1:
        raise PipelineError(f"the GPU lowering for {arch} left {len(binaries)} binaries, expected 1")
    obj = ir.ArrayAttr(binaries[0].attributes["objects"])[0]
    # #gpu.object<#nvvm.target<...>, properties = {...}, assembly = "..."> : the PTX is its string
    return _object_text(obj)


def _object_text(obj: ir.Attribute) -> str:
    try:
        from mlir.dialects import gpu as gpu_dialect

        return bytes(gpu_dialect.ObjectAttr(obj).object).decode()
    except Exception:  # noqa: BLE001 (older bindings: parse the printed attribute)
        text = str(obj)
        start = text.index('"') + 1
        end = text.rindex('"')
        return bytes(text[start:end], "utf-8").decode("unicode_escape")


# ----------------------------------------------------------------------------
# command line (the lit tests): python -m sparcc.backends.gpu.lower FILE --print kernels|plan|ptx
# ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Lowers FILE (linalg on tensors, what the CPU target starts from) and
    prints one stage: the kernels before NVVM, the launch plan (one step a
    line) or the PTX for --arch."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m sparcc.backends.gpu.lower", description=main.__doc__)
    parser.add_argument("file")
    parser.add_argument("--print", dest="what", choices=("kernels", "plan", "ptx"), default="kernels")
    parser.add_argument("--arch", default=DEFAULT_ARCH)
    opts = parser.parse_args(argv)
    try:
        with open(opts.file) as f:
            lowered = lower(f.read(), (opts.arch,))
    except (OSError, PipelineError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if opts.what == "kernels":
        print(lowered.kernels_mlir)
    elif opts.what == "ptx":
        print(lowered.ptx[opts.arch])
    else:
        plan = lowered.plan.as_dict()
        for key in ("args", "temps", "consts"):
            for item in plan[key]:
                print(key[:-1], json.dumps(item))
        for step in plan["steps"]:
            print("step", json.dumps(step))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
