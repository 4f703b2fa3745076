"""
The compile driver: PyTorch model + example inputs -> a callable program.

  import (torch.export -> nn)  ->  xDSL passes  ->  backend  ->  CompiledProgram

`CompiledProgram` checks every call's arguments against the signature it was
built for, binds the weights once (laid out as the IR asks: `perm`), and
keeps the IR of each stage for inspection (`program.ir[stage]`).
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from sparcc.backends.cpu import toolchain
from sparcc.cli import MAX_THREADS
from sparcc.dialects.nn import dims_text, ints
from sparcc.errors import InputMismatchError, PipelineError, SparccError, run_time_error
from sparcc.frontend import (
    ImportedProgram,
    TensorSpec,
    check_sparse_buffers,
    import_module,
    rejected_by_pytorch,
    sparse_buffers,
    sparse_format,
)
from torch.utils import _pytree as pytree
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

TARGETS = ("cpu",)
PIPELINE = ("lower-sparse", "lower-quant", "convert-nn-to-linalg", "fuse-elementwise", "widen-bool-tensors", "approximate-math", "lower-entry-abi")


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise SparccError(
            f"target '{target}' is not available; choose one of: {', '.join(TARGETS)}"
        )


def run_passes(module: ModuleOp, names: Sequence[str], source: str | None = None) -> dict[str, float]:
    """Applies the passes `names` in order. A pass (or the final verifier)
    that raises anything but a SparccError is a sparcc bug: it becomes a
    PipelineError whose reproducer replays `source` (the module's text
    before the first pass) through the passes up to the failing one."""
    from sparcc.passes import PASSES

    ctx = Context(allow_unregistered=True)
    timings = {}
    for i, name in enumerate(names):
        start = time.perf_counter()
        try:
            PASSES[name]()().apply(ctx, module)
        except SparccError:
            raise
        except Exception as e:  # noqa: BLE001 (a bug in a pass: the user gets a message and a reproducer)
            raise _pass_failure(f"pass '{name}'", names[: i + 1], e, source) from None
        timings[name] = time.perf_counter() - start
    try:
        module.verify()
    except Exception as e:  # noqa: BLE001
        raise _pass_failure("the IR after the passes", names, e, source) from None
    return timings


def _pass_failure(what: str, names: Sequence[str], error: Exception, source: str | None) -> PipelineError:
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    message = f"{what} failed ({type(error).__name__}: {first[:300]}): a sparcc bug, please report it"
    if source is None:
        return PipelineError(message)
    folder = Path(tempfile.mkdtemp(prefix="sparcc-repro-passes-"))
    (folder / "input.mlir").write_text(source)
    (folder / "replay.sh").write_text(
        f"#!/bin/sh\n# Replays the failing sparcc passes.\nsparcc-opt \"$(dirname \"$0\")/input.mlir\" -p {','.join(names)}\n"
    )
    (folder / "replay.sh").chmod(0o755)
    return PipelineError(message, str(folder))


@dataclass
class CompiledProgram:
    """A compiled model for one input signature."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    output_tree: Any
    fn: Callable[..., None]
    weights: list[torch.Tensor]  # bound buffers, in ABI order; kept alive here
    kernel: Any
    ir: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    # dynamic programs: the size symbols, in ABI order, with their (min, max)
    symbols: dict[str, tuple[int, int | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._weight_ptrs = [w.data_ptr() for w in self.weights]
        if self.symbols:
            self._sizes = _SizeRules(self.inputs, self.outputs, self.symbols)
        self._expected = [(s.dtype, torch.Size(s.shape) if not self.symbols else None) for s in self.inputs]
        self._sparse = any(s.format is not None for s in self.inputs)
        self._one_result = len(self.outputs) == 1 and (
            self.output_tree is None or self.output_tree.is_leaf()
        )
        # the runtime's record of index checks that failed (runtime.c), reached
        # through the model library, which links the runtime
        library = getattr(self.kernel, "library", None)
        self._take_error = getattr(library, "sparcc_rt_take_error", None) if library is not None else None
        if self._take_error is not None:
            self._take_error.argtypes = [ctypes.c_void_p]
            self._take_error.restype = ctypes.c_int64
            self._error = (ctypes.c_int64 * 3)()

    def __repr__(self) -> str:
        # short: the dataclass repr would print every weight tensor
        inputs = ", ".join(map(str, self.inputs))
        outputs = ", ".join(map(str, self.outputs))
        mib = sum(w.numel() * w.element_size() for w in self.weights) / 2**20
        where = self.report.get("artifact") or self.report.get("library", "")
        return (
            f"<sparcc program ({inputs}) -> ({outputs}), {len(self.weights)} weights ({mib:.1f} MiB), "
            f"{self.report.get('target', '?')}, {self.report.get('threads', '?')} thread(s), "
            f"cache {self.report.get('cache', '?')}: {where}>"
        )

    def check(self, args: Sequence[Any]) -> list[torch.Tensor]:
        if len(args) != len(self.inputs):
            raise InputMismatchError(
                f"expected {len(self.inputs)} input(s) "
                f"({', '.join(map(str, self.inputs))}), got {len(args)}"
            )
        out = []
        for i, (a, spec) in enumerate(zip(args, self.inputs)):
            if not isinstance(a, torch.Tensor):
                raise InputMismatchError(f"input {i}: expected a torch.Tensor {spec}, got {type(a).__name__}")
            if a.dtype != spec.dtype:
                raise InputMismatchError(f"input {i}: expected dtype {spec.dtype}, got {a.dtype}")
            if self.symbols:
                self._sizes.check_shape(i, a)
            elif tuple(a.shape) != spec.shape:
                raise InputMismatchError(
                    f"input {i}: expected shape {list(spec.shape)}, got {list(a.shape)}"
                )
            if a.device.type != "cpu":
                raise InputMismatchError(f"input {i}: expected a CPU tensor, got device {a.device}")
            fmt = sparse_format(a)
            if fmt != spec.format:
                raise InputMismatchError(
                    f"input {i}: expected a {'sparse ' + spec.format if spec.format else 'dense'} tensor, "
                    f"got {'a sparse ' + fmt if fmt else 'a dense one'} (layout {a.layout}"
                    + (f", indices {a.crow_indices().dtype}" if a.layout in (torch.sparse_csr, torch.sparse_bsr) else "")
                    + ")"
                )
            out.append(a if fmt is not None or a.is_contiguous() else a.contiguous())
        return out

    def _pointers(self, inputs: Sequence[torch.Tensor]) -> tuple[list[int], list[torch.Tensor]]:
        """Data pointers of the inputs in ABI order (a sparse input: its buffers),
        and the tensors that must stay alive during the call."""
        ptrs, keep = [], []
        for i, a in enumerate(inputs):
            if a.layout == torch.strided:
                ptrs.append(a.data_ptr())
                continue
            index, values = sparse_buffers(a)
            if (why := check_sparse_buffers(a, index, values)) is not None:
                raise InputMismatchError(f"input {i}: a sparse {a.layout} tensor of shape {list(a.shape)}: {why}")
            bufs = [*index, values]
            bufs = [b if b.is_contiguous() else b.contiguous() for b in bufs]
            keep += bufs
            ptrs += [b.data_ptr() for b in bufs]
        return ptrs, keep

    def __call__(self, *args: Any) -> Any:
        if self.symbols:
            return self._call_dynamic(args)
        # fast path: the signature matches exactly; anything else gets check()'s messages
        fast = not self._sparse and len(args) == len(self._expected) and all(
            isinstance(a, torch.Tensor) and (a.dtype, a.shape) == e and a.is_cpu and a.is_contiguous()
            for a, e in zip(args, self._expected)
        )
        try:
            inputs = args if fast else self.check(args)
            results = [torch.empty(s.shape, dtype=s.dtype) for s in self.outputs]
        except (RuntimeError, MemoryError) as e:  # a huge input's contiguous copy, or result, does not fit
            raise SparccError(f"cannot allocate this call's buffers: {str(e).splitlines()[0]}") from None
        if self._sparse:
            ptrs, _alive = self._pointers(inputs)
        else:
            ptrs = [a.data_ptr() for a in inputs]
        self.fn(*ptrs, *self._weight_ptrs, *[r.data_ptr() for r in results])
        return self._finish(results)

    def accepts(self, args: Sequence[Any]) -> bool:
        """Whether this program runs `args` (a dynamic program: any sizes in range)."""
        try:
            inputs = self.check(args)
            if self.symbols:
                self._sizes.values(inputs)  # every symbol agrees and is in its range
        except InputMismatchError:
            return False
        return True

    def _call_dynamic(self, args: Sequence[Any]) -> Any:
        try:
            inputs = self.check(args)
            values = self._sizes.values(inputs)
            results = [torch.empty(shape, dtype=s.dtype) for shape, s in zip(self._sizes.outputs(values), self.outputs)]
        except (RuntimeError, MemoryError) as e:  # as in __call__
            raise SparccError(f"cannot allocate this call's buffers: {str(e).splitlines()[0]}") from None
        ptrs, _alive = self._pointers(inputs)
        self.fn(*ptrs, *self._weight_ptrs, *[r.data_ptr() for r in results], *values)
        return self._finish(results)

    def _finish(self, results: list[torch.Tensor]) -> Any:
        if self._take_error is not None and (kind := self._take_error(self._error)):
            raise run_time_error(kind, *self._error)
        if self._one_result:
            return results[0]
        if self.output_tree is None:
            return tuple(results)
        return pytree.tree_unflatten(results, self.output_tree)


class _SizeRules:
    """The sizes of a dynamic program: the symbols' values from the inputs,
    checked against every input dim and each symbol's range, and the
    results' shapes."""

    def __init__(self, inputs: list[TensorSpec], outputs: list[TensorSpec], symbols: dict[str, tuple[int, int | None]]):
        import sympy

        from sparcc.dialects import nn

        self.names = list(symbols)
        self.ranges = [symbols[n] for n in self.names]
        syms = [nn.size_symbol(n) for n in self.names]
        self.where: dict[str, tuple[int, int]] = {}
        for i, spec in enumerate(inputs):
            for d, size in enumerate(spec.shape):
                if isinstance(size, sympy.Symbol) and str(size) not in self.where:
                    self.where[str(size)] = (i, d)
        self.inputs = inputs

        def rule(d: nn.Dim) -> Callable[..., int]:
            if isinstance(d, int):
                return lambda *_: d
            f = sympy.lambdify(syms, d, modules="math")
            return lambda *v: int(f(*v))

        self.input_rules = [[rule(d) for d in spec.shape] for spec in inputs]
        self.output_rules = [[rule(d) for d in spec.shape] for spec in outputs]

    def check_shape(self, i: int, a: torch.Tensor) -> None:
        spec = self.inputs[i]
        if a.dim() != len(spec.shape):
            raise InputMismatchError(f"input {i}: expected shape {dims_text(spec.shape)}, got {list(a.shape)}")
        for d, size in enumerate(spec.shape):
            if isinstance(size, int) and a.shape[d] != size:
                raise InputMismatchError(
                    f"input {i}: expected shape {dims_text(spec.shape)}, got {list(a.shape)} (dim {d} is not dynamic)"
                )

    def values(self, inputs: Sequence[torch.Tensor]) -> list[int]:
        values = []
        for name, (lo, hi) in zip(self.names, self.ranges):
            k, d = self.where[name]
            v = int(inputs[k].shape[d])
            if v < lo or (hi is not None and v > hi):
                bound = f"[{lo}, {hi}]" if hi is not None else f"at least {lo}"
                raise InputMismatchError(
                    f"input {k} dim {d}: size {v} is outside the range this program was compiled for "
                    f"({name} {bound})"
                )
            values.append(v)
        for i, (a, rules) in enumerate(zip(inputs, self.input_rules)):
            want = [r(*values) for r in rules]
            if list(a.shape) != want:
                raise InputMismatchError(
                    f"input {i}: expected shape {dims_text(self.inputs[i].shape)} = {want} for "
                    f"{', '.join(f'{n}={v}' for n, v in zip(self.names, values))}, got {list(a.shape)}"
                )
        return values

    def outputs(self, values: list[int]) -> list[list[int]]:
        return [[r(*values) for r in rules] for rules in self.output_rules]


@contextlib.contextmanager
def pytorch_rejects(model: Any, args: Sequence[Any]) -> Iterator[None]:
    """A PipelineError raised inside (IR that fails to verify) becomes an
    InputMismatchError when PyTorch itself rejects the call `model(*args)`:
    the user's inputs are wrong, and PyTorch's words say how."""
    try:
        yield
    except PipelineError:
        why = rejected_by_pytorch(model, args)
        if why is None:
            raise
        sig = ", ".join(f"{str(a.dtype).removeprefix('torch.')}{list(a.shape)}" for a in args
                        if isinstance(a, torch.Tensor))
        raise InputMismatchError(f"PyTorch itself rejects these inputs ({sig}): {why}") from None


def abi_arguments(spec: TensorSpec) -> int:
    """How many entry-function arguments one input takes: a sparse one, one
    per buffer (passes/lower_sparse.py)."""
    if spec.format is None:
        return 1
    from sparcc.dialects.sparse_formats import parse_format
    from sparcc.passes.lower_sparse import index_buffers

    return len(index_buffers(parse_format(spec.format), spec.shape, None)) + 1


def weight_abi(module: ModuleOp) -> list[dict[str, Any]]:
    """The entry function's weight parameters, in order: the store name, the
    `perm` (nn.weight semantics) and the parameter's shape."""
    entry = next(op for op in module.ops if isinstance(op, func.FuncOp) and not op.is_declaration)
    first = ints(entry.attributes["sparcc.num_inputs"])[0]  # type: ignore[arg-type]
    arg_types = entry.function_type.inputs.data
    abi = []
    for i, entry_attr in enumerate(entry.attributes["sparcc.weights"].data):  # type: ignore[attr-defined]
        fields = entry_attr.data
        abi.append({
            "name": fields["name"].data,
            "perm": list(ints(fields["perm"])) if "perm" in fields else None,
            "shape": list(arg_types[first + i].get_shape()),
        })
    return abi


def bind_weights(abi: list[dict[str, Any]], store: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The weight buffers in the order the entry function takes them."""
    buffers = []
    for w in abi:
        data, shape, perm = store[w["name"]], w["shape"], w["perm"]
        # nn.weight semantics: the stored tensor viewed row-major in the shape
        # that `perm` maps onto the argument's shape, then permuted
        if perm is not None:
            viewed = [0] * len(perm)
            for j, p in enumerate(perm):
                viewed[p] = shape[j]
            data = data.reshape(viewed).permute(*perm)
        else:
            data = data.reshape(shape)
        # in the store's dtype, which the frontend made the IR's (float64 stays float64)
        buffers.append(data.contiguous())
    return buffers


def compile_program(
    model: torch.nn.Module | Callable[..., Any],
    args: Sequence[torch.Tensor],
    target: str = "cpu",
    threads: int | None = None,
    use_cache: bool | None = None,
    quant: Any = None,
    sparsity: Any = None,
    dynamic: Any = None,
) -> CompiledProgram:
    """Imports, compiles (or finds in the on-disk cache) and loads `model`.

    dynamic: dims whose size may change without a recompile, {input index:
    {dim: (min, max)}} (max None: unbounded); the program then takes any
    sizes in range (frontend.import_module).

    threads: the team size the code is divided for (default
    SPARCC_NUM_THREADS, else this process's CPUs). use_cache: default on
    unless SPARCC_CACHE=0. quant: a weight quantisation spec
    (sparcc/quantize.py), e.g. {"*.fc1": "nf4:g64", "*": "int8:channel"}.
    sparsity: a weight sparsity spec (sparcc/sparsify.py), e.g.
    {"*.fc1": "2:4", "*": "unstructured:0.9"}.
    """
    from sparcc import cache
    from sparcc.backends import cpu
    from sparcc.quantize import apply_quant, parse_quant_spec
    from sparcc.sparsify import apply_sparsity, parse_sparsity_spec

    check_target(target)
    start = time.perf_counter()
    threads = cpu.default_threads() if threads is None else int(threads)
    if not 1 <= threads <= MAX_THREADS:
        raise SparccError(f"threads={threads}: must be 1 to {MAX_THREADS} (the most sparcc's thread pool runs)")
    spec = parse_quant_spec(quant)
    sparse_spec = parse_sparsity_spec(sparsity)
    with pytorch_rejects(model, args):
        imported: ImportedProgram = import_module(model, args, dynamic)
    import_time = time.perf_counter() - start
    sparse_layers = apply_sparsity(imported, sparse_spec, spec)
    layers = apply_quant(imported, spec)
    ir = {"nn": str(imported.module)}

    def build(folder: Path) -> dict[str, Any]:
        with pytorch_rejects(model, args):
            pass_times = run_passes(imported.module, PIPELINE, ir["nn"])
        text = str(imported.module)
        (folder / "linalg.mlir").write_text(text)
        lowered = cpu.lower(text, threads)
        tool_times = toolchain.build_shared(lowered.llvm_ir, folder, "model")
        return {
            "weights": weight_abi(imported.module),
            "schedule": [str(d) for d in lowered.decisions],
            "fallbacks": [lowered.fallback] if lowered.fallback else [],
            "outlined": lowered.outlined,
            "seconds": {**pass_times, **{t.name: t.seconds for t in lowered.timings}, **tool_times},
        }

    if use_cache if use_cache is not None else cache.enabled():
        options = {"target": target, "threads": threads, "pipeline": list(PIPELINE)}  # formats are in the IR
        folder, meta, hit = cache.get_or_build(cache.key(ir["nn"], options), build)
        cached = "hit" if hit else "built"
    else:
        folder = Path(tempfile.mkdtemp(prefix="sparcc-jit-"))
        try:
            meta = build(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        cache.STATS["compiles"] += 1
        cached = "off"
    ir["linalg"] = (folder / "linalg.mlir").read_text()
    path = folder / cache.LIBRARY
    try:
        library = cpu.load_library(path, threads)
    except OSError as e:  # e.g. an undefined symbol: a lowering left a call that nothing provides
        raise PipelineError(f"the compiled library does not load: {e}", str(folder)) from None
    kernel = cpu.Kernel(library, path, [], meta["schedule"], None)
    weights = bind_weights(meta["weights"], imported.weights)
    n_args = sum(abi_arguments(s) for s in imported.inputs) + len(weights) + len(imported.outputs)
    n_args += len(imported.symbols)
    fn = kernel.function("forward", n_args)
    report = {
        "target": target,
        "threads": threads,
        "cache": cached,
        "library": str(path),
        "ops": imported.ops,
        "seconds": {"import": import_time, **(meta["seconds"] if cached != "hit" else {})},
        "schedule": meta["schedule"],
        "fallbacks": meta["fallbacks"],
        "outlined": meta.get("outlined", {}),
    }
    if imported.symbols:
        report["dynamic"] = {
            "symbols": {n: {"min": lo, "max": hi} for n, (lo, hi) in imported.symbols.items()},
            "inputs": [str(s) for s in imported.inputs],
            "outputs": [str(s) for s in imported.outputs],
        }
    program = CompiledProgram(
        imported.inputs, imported.outputs, imported.output_tree, fn, weights, kernel, ir, report, imported.symbols
    )
    # the error of the pruned/quantised program against the float32 model, run once
    error = _output_error(model, args, program) if spec is not None or sparse_spec is not None else {}
    if sparse_spec is not None:
        report["sparsity"] = {"spec": sparse_spec.as_dict(), "layers": [r.as_dict() for r in sparse_layers], **error}
    if spec is not None:
        report["quant"] = {"spec": spec.as_dict(), "layers": [r.as_dict() for r in layers], **error}
    report["seconds"]["total"] = time.perf_counter() - start
    if cached == "off":
        # no cache entry to keep: the folder goes when the program is freed, or
        # at exit (the loaded library stays mapped; dlopen never reads it again)
        weakref.finalize(program, shutil.rmtree, folder, True)
    return program


def _output_error(model: Any, args: Sequence[torch.Tensor], program: CompiledProgram) -> dict[str, float]:
    """How far the quantised program's outputs are from the float32 model's
    on the example inputs: max abs error and relative L2 error."""
    with torch.no_grad():
        want = pytree.tree_leaves(model(*args))
    got = pytree.tree_leaves(program(*args))
    num = sum(float(torch.sum((g.double() - w.double()) ** 2)) for g, w in zip(got, want))
    den = sum(float(torch.sum(w.double() ** 2)) for w in want)
    return {
        "output_max_abs_err": max(float((g - w).abs().max()) for g, w in zip(got, want)),
        "output_rel_l2_err": (num / den) ** 0.5 if den > 0 else float(num > 0),
    }
