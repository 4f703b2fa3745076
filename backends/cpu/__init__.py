"""
CPU backend: linalg-on-tensors MLIR text -> upstream MLIR -> LLVM IR -> a .so.

`lower(text)` runs the MLIR stages with the upstream Python bindings and
returns LLVM IR; target.py (the CPU's `Target`) builds it into a shared
library (toolchain.py: opt, llc, gcc) and loads it. Entry
functions use the bare-pointer calling convention (`void f(float*, ...)`),
so a call costs one ctypes call, which releases the GIL.

Large ops run in parallel: the schedule tiles them with scf.forall over
`threads` workers, which lowers through the OpenMP dialect to calls into
sparcc's own runtime (runtime.c), renamed from __kmpc_* to sparcc_kmpc_*.

When a stage fails, the input IR of that stage is written to a reproducer
folder next to a script that replays it with `sparcc-opt --mlir-pipeline`,
and the error names both.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from sparcc.backends.cpu import toolchain
from sparcc.errors import PipelineError

if TYPE_CHECKING:
    from mlir import ir

# MLIR (and the schedule and outlining, which use it) is imported by the
# functions that lower: loading and calling a compiled library needs none of it.

# Stage name -> upstream pass pipeline. Traps this order avoids are listed in
# the README (development section). No cse before bufferization: it merges
# identical tensor.empty/linalg.fill chains (the zero-padded inputs of two
# convolutions, two matmul accumulators), and one-shot-bufferize must then copy
# the shared buffer for each writer; a copy of a slice is a strided memref.copy,
# which lowers to a call of `memrefCopy` that no linked library defines.
PREPARE = "canonicalize,eliminate-empty-tensors"
BUFFERIZE = (
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "canonicalize,cse,buffer-deallocation-pipeline,convert-bufferization-to-memref"
)
# Parallel loops become OpenMP regions before buffer-loop-hoisting: their
# bodies are then allocation scopes, so a thread's packing buffer cannot be
# hoisted into memory that the threads share. The scopes are then inlined
# (_inline_alloca_scopes): scf-to-cf would leave them with several blocks,
# which their verifier rejects.
PARALLEL = "scf-forall-to-parallel,convert-scf-to-openmp,func.func(buffer-loop-hoisting)"
# use-generic-functions: memref.alloc/dealloc call _mlir_memref_to_llvm_alloc/
# _free, which the runtime implements with free lists that keep large blocks
# for the next call (runtime.c: plain malloc gives them back to the system,
# and every call then page-faults its activations in again).
# The passes that work inside one op run nested under `any` (each function,
# and any other op with regions at the top level, as an OpenMP reduction's
# declaration), where MLIR spreads the ops over the context's threads; the
# conversions that add declarations to the module (math-to-funcs and -libm,
# memref, func, cf, openmp) run on the module. On rexnet_100 (477
# functions) this stage took 2.6 s as one module-level list, 1.3 s nested on
# 2 threads, with the same LLVM IR.
TO_LLVM = (
    "any(canonicalize,cse,convert-linalg-to-loops),convert-math-to-funcs,"
    "any(fold-memref-alias-ops,convert-vector-to-scf{full-unroll=true},expand-strided-metadata,lower-affine,"
    "convert-scf-to-cf,convert-math-to-llvm),convert-math-to-libm,"
    "any(convert-vector-to-llvm{reassociate-fp-reductions=true}),"
    "finalize-memref-to-llvm{use-generic-functions=true},any(convert-arith-to-llvm),"
    "convert-func-to-llvm{use-bare-ptr-memref-call-conv=true},convert-cf-to-llvm,"
    "any(convert-index-to-llvm,convert-ub-to-llvm),convert-openmp-to-llvm,reconcile-unrealized-casts"
)


@dataclass
class StageTiming:
    name: str
    seconds: float


@dataclass
class Lowered:
    """A module lowered to LLVM IR, with what the schedule decided."""

    llvm_ir: str
    timings: list[StageTiming] = field(default_factory=list)
    decisions: list = field(default_factory=list)  # schedule.Decision per scheduled op
    fallback: str | None = None  # why the schedule was not applied, if it was not
    outlined: dict[str, int] = field(default_factory=dict)  # outline.outline_loop_nests's counts
    arenas: dict[str, int] = field(default_factory=dict)  # plan_buffers: function -> its arena's bytes


@dataclass
class Kernel:
    """A compiled shared library, loaded; exposes its entry points."""

    library: ctypes.CDLL
    path: Path
    timings: list[StageTiming] = field(default_factory=list)
    decisions: list = field(default_factory=list)
    fallback: str | None = None

    def function(self, name: str, num_args: int) -> Callable[..., None]:
        """The entry point `name`, called with its `num_args` arguments
        (pointers and sizes). A library that has its packed form
        (packed_entries) is called through it: one argument, any count."""
        packed = getattr(self.library, name + PACKED, None)
        if packed is not None:
            packed.argtypes = [ctypes.c_void_p]
            packed.restype = None
            return _PackedCall(packed, num_args)
        try:
            fn = getattr(self.library, name)
        except AttributeError:
            raise PipelineError(f"compiled library {self.path} has no function '{name}'") from None
        fn.argtypes = [ctypes.c_void_p] * num_args
        fn.restype = None
        return fn


class _PackedCall:
    """Calls an entry point's packed form with its arguments in one array of
    64-bit slots (a pointer or a size each); the ctypes call releases the GIL."""

    def __init__(self, fn: ctypes._CFuncPtr, num_args: int):
        self.fn = fn
        self.slots = ctypes.c_uint64 * max(num_args, 1)
        self.num_args = num_args

    def __call__(self, *args: int) -> None:
        if len(args) != self.num_args:
            raise PipelineError(f"compiled entry point called with {len(args)} arguments, it takes {self.num_args}")
        self.fn(self.slots(*args))


def load_library(path: Path, threads: int | None = None) -> ctypes.CDLL:
    """Loads a sparcc library (its runtime comes along through RUNPATH). A
    library that does not load (a symbol that nothing defines, a missing
    runtime) is a PipelineError naming the 'load' stage and the library's
    folder, not a raw OSError; the link already rejects undefined symbols."""
    env = os.environ.get("SPARCC_ALLOC_CACHE_MB", "").strip()
    if env and not env.isdigit():  # runtime.c reads it; a typo there would turn the free lists off silently
        raise PipelineError(f"SPARCC_ALLOC_CACHE_MB='{env}' must be a whole number of MiB (0 turns the free lists off)")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise PipelineError(
            f"stage 'load' failed: the compiled library does not load ({e}). This is a sparcc bug or a "
            f"damaged build: please report it with the folder below, or delete it to rebuild",
            str(Path(path).parent),
        ) from None
    if threads is not None:
        set_num_threads(threads, lib)
    return lib


def set_num_threads(n: int, lib: ctypes.CDLL | None = None) -> None:
    """Team size of sparcc's runtime in this process."""
    rt = lib if lib is not None else ctypes.CDLL(str(toolchain.runtime_library()))
    rt.sparcc_rt_set_num_threads(ctypes.c_int(max(1, int(n))))


def _loaded_runtime() -> ctypes.CDLL | None:
    """The runtime that this process's sparcc libraries share (they name it
    by its soname, so the first one loaded serves all), or None before any."""
    try:
        rt = ctypes.CDLL(toolchain.RUNTIME, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return None
    rt.sparcc_rt_alloc_cached.restype = rt.sparcc_rt_alloc_release.restype = ctypes.c_int64
    return rt


def cached_memory() -> int:
    """Bytes of freed intermediate buffers that the runtime keeps for the next
    call of compiled code (runtime.c; at most SPARCC_ALLOC_CACHE_MB MiB)."""
    rt = _loaded_runtime()
    return int(rt.sparcc_rt_alloc_cached()) if rt is not None else 0


def release_memory() -> int:
    """Gives those buffers back to the system; returns the bytes released.
    The next call of a model allocates (and page-faults) them again."""
    rt = _loaded_runtime()
    return int(rt.sparcc_rt_alloc_release()) if rt is not None else 0


def set_cached_memory_limit(mib: int) -> None:
    """The most (MiB) that the runtime keeps of freed buffers from now on (0:
    none, glibc's malloc then serves and takes back every block); empties
    what it holds. SPARCC_ALLOC_CACHE_MB sets it for a process (default 1024)."""
    rt = _loaded_runtime()
    if rt is None:
        raise PipelineError("no sparcc library is loaded in this process yet: compile or load a model first")
    rt.sparcc_rt_alloc_set_limit(ctypes.c_int64(max(0, int(mib)) << 20))


def default_threads() -> int:
    """SPARCC_NUM_THREADS, else the CPUs this process may run on."""
    env = os.environ.get("SPARCC_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise PipelineError(f"SPARCC_NUM_THREADS='{env}' is not a whole number") from None
        if n < 1:
            raise PipelineError(f"SPARCC_NUM_THREADS='{env}' must be at least 1")
        return n
    return len(os.sched_getaffinity(0))


def _reproducer(stage: str, pipeline: str, text: str) -> str:
    folder = tempfile.mkdtemp(prefix=f"sparcc-repro-{stage}-")
    src = os.path.join(folder, "input.mlir")
    with open(src, "w") as f:
        f.write(text)
    command = replay_command(src, pipeline)
    with open(os.path.join(folder, "replay.sh"), "w") as f:
        f.write(f"#!/bin/sh\n# Replays the failing sparcc stage '{stage}'.\n{command}\n")
    os.chmod(os.path.join(folder, "replay.sh"), 0o755)
    return folder


def replay_command(src: str, pipeline: str) -> str:
    if not pipeline:
        return f"sparcc-opt --mlir-pipeline='' {shlex.quote(src)}"
    return f"sparcc-opt {shlex.quote(src)} --mlir-pipeline={shlex.quote(f'builtin.module({pipeline})')}"


@contextmanager
def _copy_of(module: ir.Module) -> Iterator[ir.Operation]:
    """A copy of `module` for a reproducer, erased afterwards: printed only if
    a stage fails (copying costs a tenth of printing)."""
    copy = module.operation.clone()
    try:
        yield copy
    finally:
        copy.erase()


def _run(module: ir.Module, stage: str, pipeline: str, timings: list[StageTiming]) -> None:
    from mlir import ir, passmanager

    with _copy_of(module) as before:
        start = time.perf_counter()
        try:
            passmanager.PassManager.parse(f"builtin.module({pipeline})").run(module.operation)
        except ir.MLIRError as e:
            folder = _reproducer(stage, pipeline, str(before))
            diag = "; ".join(str(d.message) for d in e.error_diagnostics) or str(e)
            raise PipelineError(f"MLIR stage '{stage}' failed: {diag}", folder) from None
    timings.append(StageTiming(stage, time.perf_counter() - start))


def lower(text: str, threads: int = 1) -> Lowered:
    """linalg-on-tensors MLIR text -> LLVM IR text for this CPU. A failure
    of sparcc's own code between the MLIR stages is a PipelineError with the
    input kept as its reproducer, not a traceback."""
    try:
        return _lower(text, threads)
    except PipelineError:
        raise
    except Exception as e:  # noqa: BLE001 (a sparcc bug: the user gets a message and the input)
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        folder = _reproducer("cpu", "", text)
        raise PipelineError(
            f"the CPU backend failed ({type(e).__name__}: {first}): a sparcc bug, please report it", folder
        ) from None


def _lower(text: str, threads: int) -> Lowered:
    from mlir import ir
    from mlir.dialects import llvm as llvm_dialect
    from sparcc.backends.cpu import outline, plan_buffers

    timings: list[StageTiming] = []
    with ir.Context(), ir.Location.unknown():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as e:
            folder = _reproducer("parse", "", text)
            raise PipelineError(f"upstream MLIR could not parse sparcc's IR: {e}", folder) from None
        _run(module, "prepare", PREPARE, timings)
        _run(module, "bufferize", BUFFERIZE, timings)
        _strided_copies_to_loops(module)
        _independent_loops_to_forall(module, threads)
        def outline_nests() -> dict[str, int]:
            start = time.perf_counter()
            counts = outline.outline_loop_nests(module)
            timings.append(StageTiming("outline", time.perf_counter() - start))
            return counts

        if OUTLINE_FIRST:
            outlined = outline_nests()
        module, decisions, fallback = _schedule(module, timings, threads)
        if not OUTLINE_FIRST:
            outlined = outline_nests()
        start = time.perf_counter()
        plan_buffers.hoist_out_of_loops(module)
        timings.append(StageTiming("hoist", time.perf_counter() - start))
        _run(module, "parallel", PARALLEL, timings)
        _inline_alloca_scopes(module)
        start = time.perf_counter()
        arenas = plan_buffers.plan_module(module)
        timings.append(StageTiming("plan-buffers", time.perf_counter() - start))
        _run(module, "to-llvm", TO_LLVM, timings)
        start = time.perf_counter()
        llvm_ir = str(llvm_dialect.translate_module_to_llvmir(module.operation))
        timings.append(StageTiming("translate", time.perf_counter() - start))
    # our runtime implements the OpenMP entry points under its own names
    llvm_ir = llvm_ir.replace("@__kmpc_", "@sparcc_kmpc_")
    return Lowered(llvm_ir + packed_entries(llvm_ir), timings, decisions, fallback, outlined, arenas)


# Each linalg op moves into a function of its own before the schedule
# (outline.py), so that ops that print the same are scheduled once, and the
# schedule's function-wide steps (hoisting vector transfers, which restarts
# its walk of the function after every hoist) see one op's loops at a time:
# HF EfficientNet at 600x600 (1815 nests, 326 distinct) spent 14 s in the
# schedule, most of it hoisting in `forward`.
OUTLINE_FIRST = True

PACKED = "_packed"  # suffix of each entry point's one-argument form


def packed_entries(llvm_ir: str) -> str:
    """For each public entry function `f(a0, ..., an)`, an `f_packed(args)`
    that loads the arguments from an array of n+1 pointer-sized slots and
    calls f. ctypes passes at most 1024 arguments (a model with 1099 weight
    buffers could not be called), and one argument costs less to pass than
    hundreds."""
    out = []
    for match in re.finditer(r"^define void @([A-Za-z_][\w.]*)\((.*)\) ", llvm_ir, re.MULTILINE):
        name, params = match.group(1), match.group(2)
        if name.startswith("sparcc_") or name.endswith(PACKED):
            continue
        types = [p.strip().split()[0] for p in params.split(",")] if params.strip() else []
        lines = [f"define void @{name}{PACKED}(ptr %args) {{"]
        for i, typ in enumerate(types):
            lines.append(f"  %p{i} = getelementptr i64, ptr %args, i64 {i}")
            lines.append(f"  %a{i} = load {typ}, ptr %p{i}")
        lines.append(f"  call void @{name}({', '.join(f'{t} %a{i}' for i, t in enumerate(types))})")
        lines += ["  ret void", "}"]
        out.append("\n".join(lines))
    return "\n\n" + "\n\n".join(out) + "\n" if out else ""


def _independent_loops_to_forall(module: ir.Module, threads: int) -> None:
    """Replaces each scf.for that the lowering marked as having independent
    iterations (fused attention's blocks of queries, each writing its own
    rows) by an scf.forall, which becomes an OpenMP loop shared by the
    threads, when it counts from 0 by 1, carries no values once bufferised,
    and has at least as many iterations as threads (or a number known only
    at run time). The ops inside then run on one thread each
    (schedule.build sees the marked forall)."""
    from mlir import ir
    from mlir.dialects import scf
    from sparcc.passes.fuse_attention import FUSION_ATTR, INDEPENDENT_ATTR

    if threads < 2:
        return

    def constant(value: ir.Value) -> int | None:
        owner = value.owner
        if isinstance(owner, ir.Block) or owner.operation.name != "arith.constant":
            return None
        return ir.IntegerAttr(owner.operation.attributes["value"]).value

    for loop in _ops_named(module, "scf.for"):
        if INDEPENDENT_ATTR not in loop.attributes or len(loop.results):
            continue
        lower, upper, step = (constant(v) for v in loop.operands[:3])
        if lower != 0 or step != 1:
            continue
        if upper is not None and upper < threads:
            continue
        # an upper bound known only at run time (a dynamic program's number of blocks) is shared as it comes
        with ir.InsertionPoint(loop), loop.location:
            forall = scf.ForallOp([0], [upper if upper is not None else loop.operands[1]], [1])
        body = loop.regions[0].blocks[0]
        new_body = forall.regions[0].blocks[0]  # the builder leaves it empty, without its terminator
        body.arguments[0].replace_all_uses_with(new_body.arguments[0])
        for op in list(body.operations):
            if op.operation.name != "scf.yield":
                new_body.append(op.operation)
        with ir.InsertionPoint(new_body), loop.location:
            scf.InParallelOp()
        forall.operation.attributes[INDEPENDENT_ATTR] = ir.UnitAttr.get()
        if FUSION_ATTR in loop.attributes:
            forall.operation.attributes[FUSION_ATTR] = loop.attributes[FUSION_ATTR]
        loop.erase()


def _strided_copies_to_loops(module: ir.Module) -> None:
    """Replaces each memref.copy that involves a non-contiguous memref by a
    linalg.copy. finalize-memref-to-llvm lowers only copies between
    contiguous memrefs to a memcpy; any other becomes a call to the runtime
    library's `memrefCopy`, which sparcc does not link. Bufferisation makes
    such copies whenever one value is written into several slices (a `cat`
    of one tensor with itself, as rotary embeddings do); linalg.copy lowers
    to loops like every other linalg op."""
    from mlir import ir
    from mlir.dialects import linalg as linalg_dialect

    for op in _ops_named(module, "memref.copy"):
        src, dst = op.operands
        if all(_identity_layout(v.type) for v in (src, dst)):
            continue
        with ir.InsertionPoint(op), op.location:
            linalg_dialect.copy(src, outs=[dst])
        op.erase()


def _ops_named(module: ir.Module, name: str) -> list[ir.Operation]:
    """The ops of one kind in `module`, collected before any is rewritten."""
    from mlir import ir

    found: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == name:
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def _identity_layout(typ: ir.Type) -> bool:
    from mlir import ir

    memref = ir.MemRefType(typ)
    layout = memref.layout
    return isinstance(layout, ir.AffineMapAttr) and layout.value == ir.AffineMap.get_identity(memref.rank)


def _inline_alloca_scopes(module: ir.Module) -> None:
    """Replaces each memref.alloca_scope by its body. The scopes come from
    convert-scf-to-openmp, one per parallel iteration; an iteration's
    allocas then live until the outlined parallel function returns, and a
    thread runs at most a few iterations (the schedule splits into as many
    chunks as there are threads)."""
    for scope in _ops_named(module, "memref.alloca_scope"):
        if len(scope.results):
            continue  # ours have none; one with results stays as it is
        for inner in list(scope.regions[0].blocks[0].operations):
            if inner.operation.name == "memref.alloca_scope.return":
                continue
            inner.operation.move_before(scope)
        scope.erase()


def _schedule(module: ir.Module, timings: list[StageTiming], threads: int = 1):
    """Tiles and vectorises; if the schedule fails, says so and keeps loops."""
    from mlir import ir
    from sparcc.backends.cpu import schedule

    with _copy_of(module) as before:
        start = time.perf_counter()
        script, decisions = schedule.build(module, threads)
        if script is None:
            return module, decisions, None
        with _copy_of(module) as tagged:  # the script matches ops by the tags build() set: the reproducer needs them
            try:
                schedule.apply(module, script)
            except ir.MLIRError as e:
                folder = _reproducer(
                    "schedule", "transform-interpreter{entry-point=__transform_main}",
                    schedule.with_script(str(tagged), script),
                )
                diag = "; ".join(str(d.message) for d in e.error_diagnostics) or str(e)
                if "greedy pattern application failed" in diag:
                    diag += f": a pattern group did not converge in {schedule.MAX_PATTERN_ITERATIONS} iterations"
                fallback = (
                    f"the CPU schedule failed ({diag}); this kernel runs as plain loops and will be slow. "
                    f"Reproducer: {folder}"
                )
                warnings.warn(f"sparcc: {fallback}", stacklevel=3)
                return ir.Module.parse(str(before)), [], fallback
    timings.append(StageTiming("schedule", time.perf_counter() - start))
    return module, decisions, None
