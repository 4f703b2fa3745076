"""The CPU target: sparcc's passes to linalg, upstream MLIR to LLVM IR, a
shared library built with opt/llc/gcc and called through ctypes."""

from __future__ import annotations

import ctypes
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from sparcc.backends import Target, bind_weights, weight_abi  # noqa: F401 (artifact.py takes them from here)
from sparcc.backends import cpu
from sparcc.backends.cpu import toolchain
from sparcc.errors import InputMismatchError, PipelineError, SparccError, run_time_error

LIBRARY = "libmodel.so"
MAX_THREADS = 255  # the runtime's thread pool holds at most this many (runtime.c)

# Throughput of each sparse kernel kind per stored value, relative to sparcc's
# dense code per weight, measured by benchmarks/calibrate_sparse.py
# (Linear(4096, 4096), batch 64, 2 threads, 2-core SPR VM; unstructured kinds
# at 10 % density, bsr:4x4 at 25 %, N:M at 50 %): a layer is predicted faster
# than dense when its stored fraction (padding included) is below its kind's
# rate. Re-measure when a kernel or the dense code changes.
RELATIVE_RATE = {
    "csr": 0.69, "csc": 0.22, "coo": 0.52, "dcsr": 0.73, "ell": 0.63,
    "bsr": 1.49, "nm": 0.99, "vnm": 1.43,
}
# The same for the portable kernels of a host without AVX-512 (spkernels.c's
# #else: one contiguous multiply-add over the batch per stored value, rows
# among the threads; CSC and COO serial): Linear(4096, 4096) at 1 and 64
# rows, 1 thread, a Zen 3 VM under load (2026-12-07): CSR at 10 % density
# 0.15-0.26, 2:4 0.23-0.33, bsr:4x4 at 50 % 0.14-0.26. Rough; re-measure
# with benchmarks/calibrate_sparse.py on such a host.
PORTABLE_RATE = {
    "csr": 0.2, "csc": 0.02, "coo": 0.02, "dcsr": 0.2, "ell": 0.2,
    "bsr": 0.2, "nm": 0.25, "vnm": 0.25,
}


def relative_rate() -> dict[str, float]:
    """The rate table of the kernels this host runs."""
    return RELATIVE_RATE if "avx512f" in toolchain.host_features() else PORTABLE_RATE


def fusions(module: Any) -> list[str]:
    """The fusion passes' decisions (passes/fuse_attention.py), as the
    module's `sparcc.fusions` lists them."""
    from sparcc.passes.fuse_attention import REPORT_ATTR

    found = module.attributes.get(REPORT_ATTR)
    return [a.data for a in found.data] if found is not None else []


class CpuTarget(Target):
    name = "cpu"
    summary = "this machine's CPU: upstream MLIR to LLVM IR, a shared library called through ctypes"
    passes: ClassVar[tuple[str, ...]] = (
        "lower-sparse", "lower-quant", "fuse-attention", "channels-last", "convert-nn-to-linalg", "customize-layout",
        "fuse-elementwise", "fuse-epilogue", "widen-bool-tensors", "approximate-math", "lower-entry-abi{in-place-updates=true}",
    )

    @property
    def pipeline(self) -> tuple[str, ...]:  # type: ignore[override]
        """`passes`; SPARCC_LAYOUT=0 leaves out customize-layout (to measure
        what it gains; the pipeline is part of both cache keys)."""
        if os.environ.get("SPARCC_LAYOUT", "").strip() == "0":
            return tuple(p for p in self.passes if p != "customize-layout")
        return self.passes
    max_threads = MAX_THREADS
    writes_artifacts = True

    def unavailable(self) -> str | None:
        try:
            missing = [t for t in ("opt", "llc") if not (toolchain.llvm_bin() / t).exists()]
        except Exception as e:  # noqa: BLE001 (the LLVM tools package is missing or broken)
            return f"LLVM's opt and llc are not installed ({e}); pip install the project again"
        if missing:
            return f"LLVM's {' and '.join(missing)} are missing from {toolchain.llvm_bin()}"
        if shutil.which(toolchain.gcc()) is None:
            return f"no C compiler ({toolchain.gcc()}) on PATH; install gcc"
        return None

    def identity(self) -> list[str]:
        return [toolchain.host_cpu(), ",".join(toolchain.host_features())]

    def default_threads(self) -> int:
        return cpu.default_threads()

    def required_files(self) -> set[str]:
        return {LIBRARY, toolchain.RUNTIME}

    # -- kernel library ----------------------------------------------------
    def quant_store(self, name: str, typ: Any, quantized: Any) -> dict[str, Any]:
        from sparcc.backends.cpu.lower_quant import weight_buffers
        from sparcc.backends.cpu.qlinear import kernel_operands
        from sparcc.backends.cpu.sqlinear import pack

        operands = pack(quantized) if typ.is_sparse else kernel_operands(quantized)
        store = {}
        for role, entry, shape, _elem in weight_buffers(name, typ):
            data = operands[role]
            if list(data.shape) != shape:
                raise SparccError(
                    f"{name}: the {role} of format {typ.format.spec.data} have shape "
                    f"{list(data.shape)}, the IR expects {shape}"
                )
            store[entry] = data
        return store

    def sparse_quant_kernel(self, sparse_fmt: Any, quant_fmt: Any) -> str:
        from sparcc.backends.cpu.sqlinear import check

        return check(sparse_fmt, quant_fmt)

    def sparse_kind(self, fmt: Any) -> str:
        from sparcc.backends.cpu.sparse_kernels import call_params

        return call_params(fmt)[0]

    cost_space_names = ("cpu.matmul", "cpu.sparse")

    def cost_spaces(self) -> dict[str, Any]:
        from sparcc.backends.cpu import tuning

        return {tuning.MATMUL: tuning.SPACE, tuning.SPARSE: tuning.SPARSE_SPACE}

    def sparse_speedup(self, parts: Sequence[tuple[str, int]], rows: int, cols: int) -> float:
        rates = relative_rate()
        cost = sum(stored / rates[kind] for kind, stored in parts)
        return rows * cols / cost if cost else float("inf")

    def sparse_estimate(self, parts: Sequence[tuple[str, int]], rows: int, cols: int,
                        batch_rows: int | None = None, formats: Sequence[str] | None = None,
                        threads: int | None = None) -> tuple[float, str]:
        """The cost model of `cpu.sparse` where it has one that covers the
        layer (one part, static input rows), else RELATIVE_RATE."""
        rate = self.sparse_speedup(parts, rows, cols)
        if batch_rows is None or not formats or len(parts) != 1 or len(formats) != 1:
            return rate, "the kernel rate table"
        from sparcc import costmodel
        from sparcc.backends.cpu import tuning

        model, warning = costmodel.load(tuning.SPARSE)
        if model is None:
            return rate, "the kernel rate table" + (f" ({warning})" if warning else "")
        p = tuning.layer_problem(batch_rows, rows, cols, formats[0], parts[0][1], threads or self.default_threads())
        outside = tuning.SPARSE_SPACE.covers(model.meta.get("domain", {}), p)
        if outside:
            return rate, f"the kernel rate table ({outside})"
        dense, sparse = costmodel.rank(tuning.SPARSE_SPACE, p, model,
                                       [{"run": "dense"}, {"run": "sparse", "format": p.fmt}])
        source = "default" if model.source == "default" else model.source
        return dense / sparse, f"the cost model ({source})"

    def upstream_steps(self) -> dict[str, Any]:
        from sparcc.backends.cpu import outline, plan_buffers

        return {
            "plan-buffers": plan_buffers.plan_module,
            "outline-loop-nests": outline.outline_loop_nests,
            "hoist-loop-buffers": plan_buffers.hoist_out_of_loops,
            # as for a team of 2 threads
            "independent-loops-to-forall": lambda module: cpu._independent_loops_to_forall(module, 2),
        }

    # -- build and load ----------------------------------------------------
    def build(self, module: Any, folder: Path, threads: int) -> dict[str, Any]:
        text = str(module)
        (folder / "linalg.mlir").write_text(text)
        lowered = cpu.lower(text, threads)
        tool_times = toolchain.build_shared(lowered.llvm_ir, folder, "model")
        return {
            "weights": weight_abi(module),
            "schedule": [str(d) for d in lowered.decisions],
            "choices": [d.tiles["choice"] for d in lowered.decisions if isinstance(d.tiles, dict) and "choice" in d.tiles],
            "fallbacks": [lowered.fallback] if lowered.fallback else [],
            "outlined": lowered.outlined,
            "arenas": lowered.arenas,
            "fusions": fusions(module),
            "seconds": {**{t.name: t.seconds for t in lowered.timings}, **tool_times},
            "ir": {"linalg": "linalg.mlir"},
            "library": LIBRARY,
        }

    def load(self, folder: Path, meta: dict[str, Any], program: Any, threads: int) -> CpuExecutable:
        path = folder / LIBRARY
        try:
            library = cpu.load_library(path, threads)
        except OSError as e:  # e.g. an undefined symbol: a lowering left a call that nothing provides
            raise PipelineError(f"the compiled library does not load: {e}", str(folder)) from None
        weights = bind_weights(meta["weights"], program.weights)
        n_args = sum(abi_arguments(s) for s in program.inputs) + len(weights) + len(program.outputs)
        return CpuExecutable(library, path, weights, n_args + len(program.symbols), program.inputs)

    # -- ahead of time -----------------------------------------------------
    def write_artifact(self, folder: Path, prepared: Any, threads: int, stages: Any, name: str) -> Any:
        from sparcc.backends.cpu import artifact

        return artifact.write(folder, prepared, threads, stages, name)

    def load_artifact(self, folder: Path, manifest: dict[str, Any], threads: int | None, verify: bool) -> Any:
        from sparcc.backends.cpu import artifact

        return artifact.load(folder, manifest, threads, verify)


class CpuExecutable:
    """A loaded library's `forward`, called with the data pointers of the
    inputs (a sparse input: one per buffer), the bound weights, the results
    and the size symbols' values."""

    def __init__(self, library: ctypes.CDLL, path: Path, weights: list[torch.Tensor], n_args: int,
                 inputs: Sequence[Any], entry: str = "forward"):
        from sparcc.backends.cpu import Kernel

        self.weights = weights
        self._sparse = any(s.format is not None for s in inputs)
        self.kernel = Kernel(library, path)
        self._fn = self.kernel.function(entry, n_args)
        self._weight_ptrs = [w.data_ptr() for w in weights]
        self._take_error = getattr(library, "sparcc_rt_take_error", None)
        if self._take_error is not None:
            self._take_error.argtypes = [ctypes.c_void_p]
            self._take_error.restype = ctypes.c_int64
            self._error = (ctypes.c_int64 * 3)()
        self._seed = getattr(library, "sparcc_rt_set_random_seed", None)
        if self._seed is not None:
            self._seed.argtypes = [ctypes.c_uint64]
            self._seed.restype = None

    def set_random_seed(self, seed: int) -> None:
        """The seed of the next call's random ops (this thread's)."""
        if self._seed is not None:
            self._seed(seed)

    def __call__(self, inputs: Sequence[torch.Tensor], results: Sequence[torch.Tensor], sizes: Sequence[int]) -> None:
        if self._sparse:
            ptrs, _alive = _pointers(inputs)
        else:
            ptrs = [a.data_ptr() for a in inputs]
        self._fn(*ptrs, *self._weight_ptrs, *[r.data_ptr() for r in results], *sizes)

    def take_error(self) -> SparccError | None:
        if self._take_error is not None and (kind := self._take_error(self._error)):
            return run_time_error(kind, *self._error)
        return None


def _pointers(inputs: Sequence[torch.Tensor]) -> tuple[list[int], list[torch.Tensor]]:
    """Data pointers of the inputs in ABI order (a sparse input: its buffers),
    and the tensors that must stay alive during the call."""
    from sparcc.frontend import check_sparse_buffers, sparse_buffers

    ptrs, keep = [], []
    for i, a in enumerate(inputs):
        if a.layout == torch.strided:
            ptrs.append(a.data_ptr())
            continue
        index, values = sparse_buffers(a)
        if (why := check_sparse_buffers(a, index, values)) is not None:
            raise InputMismatchError(f"input {i}: a sparse {a.layout} tensor of shape {list(a.shape)}: {why}")
        bufs = [b if b.is_contiguous() else b.contiguous() for b in [*index, values]]
        keep += bufs
        ptrs += [b.data_ptr() for b in bufs]
    return ptrs, keep


def abi_arguments(spec: Any) -> int:
    """How many entry-function arguments one input takes: a sparse one, one
    per buffer (lower_sparse.py)."""
    if spec.format is None:
        return 1
    from sparcc.dialects.sparse_formats import parse_format
    from sparcc.backends.cpu.lower_sparse import index_buffers

    return len(index_buffers(parse_format(spec.format), spec.shape, None)) + 1
