"""
The compile driver: PyTorch model + example inputs -> a callable program.

  prepare: import (torch.export -> nn), prune and quantise weights
  -> target.pipeline (xDSL passes) -> target.build -> target.load -> CompiledProgram

The target is whatever sparcc.backends.get_target returns; nothing here
knows one. `CompiledProgram` checks every call's arguments against the
signature it was built for, allocates the results, runs the target's
executable and keeps the IR of each stage for inspection
(`program.ir[stage]`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from sparcc.errors import InputMismatchError, PipelineError, SparccError
from sparcc.specs import ImportedProgram, TensorSpec, dims_text, sparse_format
from torch.utils import _pytree as pytree

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

# The compiler's own modules (the frontend, xDSL, sympy, MLIR) are imported
# where they are used: a warm start (sparcc.trace_cache) and a loaded program
# run without them.


def run_passes(module: ModuleOp, names: Sequence[str], source: str | None = None,
               threads: int = 1) -> dict[str, float]:
    """Applies the passes `names` in order, for code that runs on `threads`
    threads (sparcc.passes.team_size: cost decisions that depend on it). A
    pass (or the final verifier) that raises anything but a SparccError is a
    sparcc bug: it becomes a PipelineError whose reproducer replays `source`
    (the module's text before the first pass) through the passes up to the
    failing one."""
    from sparcc.passes import TEAM

    token = TEAM.set(max(1, threads))
    try:
        return _run_passes(module, names, source)
    finally:
        TEAM.reset(token)


def _run_passes(module: ModuleOp, names: Sequence[str], source: str | None) -> dict[str, float]:
    from sparcc.passes import PASSES

    from xdsl.context import Context

    from xdsl.utils.arg_spec import parse_pipeline

    ctx = Context(allow_unregistered=True)
    timings = {}
    for i, name in enumerate(names):
        start = time.perf_counter()
        try:
            spec = next(iter(parse_pipeline(name)))  # a name, or a name{option=value ...}
            cls = PASSES[spec.name]()
            (cls.from_pass_spec(spec) if spec.parameters else cls()).apply(ctx, module)
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
    executable: Any  # sparcc.backends.Executable: runs one checked call
    ir: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    # dynamic programs: the size symbols, in ABI order, with their (min, max)
    symbols: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    # inputs the model updates in place: results[k] is written back into
    # input mutated[k] after each call (the leading results)
    mutated: list[int] = field(default_factory=list)
    # per mutated input: the program may compute the new value in the input's
    # own buffer (then nothing is written back)
    in_place: list[bool] = field(default_factory=list)
    # the program draws random numbers (rand, randn, ...): each call is seeded
    # from torch's generator first, so that torch.manual_seed repeats it
    random: bool = False
    # the user's complex inputs and results (ImportedProgram): the kernel
    # takes and returns their real pairs; a call passes view_as_real of each
    # such input and returns view_as_complex of each such result
    complex_inputs: list[int] = field(default_factory=list)
    complex_outputs: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.symbols:
            self._sizes = _SizeRules(self.inputs, self.outputs, self.symbols)
        self._expected = [(s.dtype, torch.Size(s.shape) if not self.symbols else None) for s in self.inputs]
        self._device = getattr(self.executable, "device", "cpu")  # where inputs and results live (gpu: "cuda")
        self._sparse = any(s.format is not None for s in self.inputs)
        self._last_extents: tuple[Any, ...] | None = None  # _aliases: the last call's input extents
        self._last_shared: set[int] = set()  # and which of them overlap
        # per update of a program of fixed shapes and dense inputs: whether
        # its result may be the input's own buffer (_aliases); None otherwise
        self._may_alias: list[bool] | None = None if self.symbols or self._sparse else [
            ok and tuple(self.inputs[i].shape) == tuple(self.outputs[k].shape)
            and self.inputs[i].dtype == self.outputs[k].dtype
            and math.prod(self.outputs[k].shape) * self.outputs[k].dtype.itemsize >= IN_PLACE_MIN_BYTES
            for k, (i, ok) in enumerate(zip(self.mutated, self.in_place))]
        self._one_result = len(self.outputs) - len(self.mutated) == 1 and (
            self.output_tree is None or self.output_tree.is_leaf()
        )

    @property
    def weights(self) -> list[torch.Tensor]:
        """The bound weight buffers (kept alive by the program)."""
        return self.executable.weights

    @property
    def kernel(self) -> Any:
        """The target's loaded code (the CPU target: a Kernel with its library)."""
        return getattr(self.executable, "kernel", None)

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
            if a.device.type != self._device:
                raise InputMismatchError(f"input {i}: expected a {self._device.upper()} tensor, got device {a.device}")
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

    def takes_exactly(self, args: Sequence[Any]) -> bool:
        """Whether `args` go to the kernel as they are: dense contiguous
        tensors of exactly the signature's dtypes and shapes, on its device."""
        return not self._sparse and not self.symbols and len(args) == len(self._expected) and all(
            isinstance(a, torch.Tensor) and (a.dtype, a.shape) == e and (a.is_cuda if self._device == "cuda" else a.is_cpu)
            and a.is_contiguous()
            for a, e in zip(args, self._expected)
        )

    def __call__(self, *args: Any) -> Any:
        if self.complex_inputs:
            args = self._as_pairs(args)
        if self.symbols:
            return self._call_dynamic(args)
        # fast path: the signature matches exactly; anything else gets check()'s messages
        if self.takes_exactly(args):
            return self.run_exact(args)
        try:
            inputs = self.check(args)
        except (RuntimeError, MemoryError) as e:  # a huge input's contiguous copy does not fit
            raise SparccError(f"cannot allocate this call's buffers: {str(e).splitlines()[0]}") from None
        return self._run(args, inputs)

    def _as_pairs(self, args: Sequence[Any]) -> tuple[Any, ...]:
        """Each complex input as its real pairs (a view; a conjugate view is
        resolved first); anything else as it is, for check()'s messages."""
        out = list(args)
        for i in self.complex_inputs:
            if i < len(out) and isinstance(out[i], torch.Tensor) and out[i].is_complex():
                out[i] = torch.view_as_real(out[i].resolve_conj())
        return tuple(out)

    def run_exact(self, args: Sequence[torch.Tensor]) -> Any:
        """A call whose arguments takes_exactly() accepted."""
        return self._run(args, args)

    def _run(self, args: Sequence[Any], inputs: Sequence[torch.Tensor]) -> Any:
        try:
            results = self._results([s.shape for s in self.outputs], args, inputs)
        except (RuntimeError, MemoryError) as e:  # a result does not fit
            raise SparccError(f"cannot allocate this call's buffers: {str(e).splitlines()[0]}") from None
        if self.random:
            self._seed()
        self.executable(inputs, results, ())
        return self._finish(results, args)

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
            results = self._results(self._sizes.outputs(values), args, inputs)
        except (RuntimeError, MemoryError) as e:  # as in __call__
            raise SparccError(f"cannot allocate this call's buffers: {str(e).splitlines()[0]}") from None
        if self.random:
            self._seed()
        self.executable(inputs, results, values)
        return self._finish(results, args)

    def _seed(self) -> None:
        """This call's random seed, drawn from torch's default generator."""
        seed = getattr(self.executable, "set_random_seed", None)
        if seed is not None:
            seed(int(torch.randint(0, 1 << 62, (), dtype=torch.int64)))

    def _results(self, shapes: Sequence[Any], args: Sequence[Any], inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """This call's result buffers: new ones, or an updated input's own."""
        aliased = self._aliases(shapes, args, inputs) if self.mutated else {}
        device = inputs[0].device if self._device != "cpu" and inputs else None
        return [aliased[k] if k in aliased else torch.empty(shape, dtype=s.dtype, device=device)
                for k, (shape, s) in enumerate(zip(shapes, self.outputs))]

    def _aliases(self, shapes: Sequence[Any], args: Sequence[Any], inputs: Sequence[torch.Tensor]) -> dict[int, torch.Tensor]:
        """Points the result of each in-place update at its input's own buffer
        (a KV cache is then updated where it lies, not copied back), when the
        input went to the kernel as it is, shares no memory with another
        input, and is large (IN_PLACE_MIN_BYTES). A call that fails an index
        check may have written such an input already (a KV cache row at a
        valid position); smaller ones (a length counter) are written back only
        after a call that succeeds."""
        # the overlap of the last call's inputs is kept (a decode step passes
        # the same KV cache buffers every time); a program of fixed shapes
        # and dense inputs knows them by their addresses
        fixed = self._may_alias is not None
        key = tuple(t.data_ptr() for t in inputs) if fixed else tuple(
            (t.data_ptr(), t.numel() * t.element_size()) if isinstance(t, torch.Tensor)
            and t.layout == torch.strided else None for t in inputs)
        if key != self._last_extents:
            self._last_extents, self._last_shared = key, _overlapping(inputs)
        shared = self._last_shared
        aliased = {}
        if fixed:  # each input's shape and dtype are the signature's: what may alias is known
            for k, (i, ok) in enumerate(zip(self.mutated, self._may_alias)):
                if ok and inputs[i] is args[i] and i not in shared:
                    aliased[k] = args[i]
            return aliased
        for k, (i, ok) in enumerate(zip(self.mutated, self.in_place)):
            a = args[i]
            if (ok and inputs[i] is a and i not in shared and tuple(a.shape) == tuple(shapes[k])
                    and a.dtype == self.outputs[k].dtype and a.numel() * a.element_size() >= IN_PLACE_MIN_BYTES):
                aliased[k] = a
        return aliased

    def _finish(self, results: list[torch.Tensor], args: Sequence[Any]) -> Any:
        if (error := self.executable.take_error()) is not None:
            raise error
        if self.mutated:
            for i, new in zip(self.mutated, results):
                if new is not args[i]:
                    _write_back(args[i], new)
            results = results[len(self.mutated):]
        if self.complex_outputs:  # an updated complex input was written back through its pairs view
            results = list(results)
            for k in self.complex_outputs:
                if k >= len(self.mutated):
                    results[k - len(self.mutated)] = torch.view_as_complex(results[k - len(self.mutated)])
        if self._one_result:
            return results[0]
        if self.output_tree is None:
            return tuple(results)
        return pytree.tree_unflatten(results, self.output_tree)


IN_PLACE_MIN_BYTES = 64 * 1024


def _overlapping(inputs: Sequence[Any]) -> set[int]:
    """The indices of the dense inputs whose memory overlaps another's."""
    spans = sorted((t.data_ptr(), t.data_ptr() + t.numel() * t.element_size(), k)
                   for k, t in enumerate(inputs) if isinstance(t, torch.Tensor) and t.layout == torch.strided)
    shared: set[int] = set()
    reach, owner = -1, -1  # the furthest end so far, and whose
    for start, end, k in spans:
        if start < reach:
            shared |= {k, owner}
        if end > reach:
            reach, owner = end, k
    return shared


def _write_back(dst: torch.Tensor, src: torch.Tensor) -> None:
    """dst[...] = src for an input the model updates in place. A contiguous
    pair is one memmove on this thread: torch's copy_ would run a KV cache's
    few hundred KiB on its OpenMP team, whose threads then spin against
    sparcc's own on every decode step."""
    if dst.is_contiguous() and dst.dtype == src.dtype and dst.shape == src.shape:
        ctypes.memmove(dst.data_ptr(), src.data_ptr(), src.numel() * src.element_size())
    else:
        dst.copy_(src)


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
        from sparcc.frontend import rejected_by_pytorch

        why = rejected_by_pytorch(model, args)
        if why is None:
            raise
        sig = ", ".join(f"{str(a.dtype).removeprefix('torch.')}{list(a.shape)}" for a in args
                        if isinstance(a, torch.Tensor))
        raise InputMismatchError(f"PyTorch itself rejects these inputs ({sig}): {why}") from None


@dataclass
class Prepared:
    """A model imported for one target, its weights pruned and quantised:
    what the JIT (compile_program) and the AOT writer (sparcc.artifact)
    both start from."""

    model: Any
    args: Sequence[Any]
    target: Any  # sparcc.backends.Target
    imported: ImportedProgram
    quant: Any  # QuantSpec | None
    sparsity: Any  # sparsify's spec | None
    quant_layers: list[Any]
    sparse_layers: list[Any]
    ir: dict[str, str]  # "nn": the module before the target's passes
    import_seconds: float
    threads: int = 1  # the team the code is built for

    def run_passes(self) -> dict[str, float]:
        """The target's passes over the module, in place; seconds per pass."""
        with pytorch_rejects(self.model, self.args):
            return run_passes(self.imported.module, self.target.pipeline, self.ir["nn"], self.threads)


def prepare(model: Any, args: Sequence[Any], target: Any, quant: Any = None, sparsity: Any = None,
            dynamic: Any = None, threads: int | None = None) -> Prepared:
    """Parses the specs (a bad one fails before any work), imports `model`
    (torch.export), prunes and quantises its weights for `target`'s kernels."""
    from sparcc.quantize import apply_quant, parse_quant_spec
    from sparcc.sparsify import apply_sparsity, parse_sparsity_spec

    spec = parse_quant_spec(quant)
    sparse_spec = parse_sparsity_spec(sparsity, target)
    start = time.perf_counter()
    with pytorch_rejects(model, args):
        from sparcc.frontend import import_module

        imported: ImportedProgram = import_module(model, args, dynamic)
    seconds = time.perf_counter() - start
    sparse_layers = apply_sparsity(imported, sparse_spec, spec, target, threads)
    layers = apply_quant(imported, spec, target)
    return Prepared(model, args, target, imported, spec, sparse_spec, layers, sparse_layers,
                    {"nn": str(imported.module)}, seconds, threads or 1)


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

    target: a name in sparcc.backends.TARGETS ("cpu", "ref", ...).
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
    from sparcc.backends import get_target

    start = time.perf_counter()
    tgt = get_target(target)
    threads = tgt.check_threads(threads)
    use = tgt.cacheable and (use_cache if use_cache is not None else cache.enabled())
    quant, sparsity = _parsed_specs(quant, sparsity, tgt)  # once: the key and prepare() both read them
    trace_key = _trace_key(model, args, tgt, threads, quant, sparsity, dynamic) if use else None
    if trace_key is not None:
        program = _warm_start(trace_key, model, tgt, threads, start)
        if program is not None:
            return program
    prepared = prepare(model, args, tgt, quant, sparsity, dynamic, threads)
    imported, ir = prepared.imported, dict(prepared.ir)

    def build(folder: Path) -> dict[str, Any]:
        pass_times = prepared.run_passes()
        meta = tgt.build(imported.module, folder, threads)
        meta["seconds"] = {**pass_times, **meta.get("seconds", {})}
        return meta

    compiled_key = None
    if use:
        compiled_key = cache.key(ir["nn"], _cache_options(tgt, threads), tgt)  # formats are in the IR
        folder, meta, hit = cache.get_or_build(compiled_key, build, tgt.required_files())
        cached = "hit" if hit else "built"
    else:
        folder = Path(tempfile.mkdtemp(prefix="sparcc-jit-"))
        try:
            meta = build(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        cache.STATS["compiles"] += 1
        cached = "off" if tgt.cacheable else "none"
    program = _program(tgt, threads, folder, meta, cached, imported, ir, {"import": prepared.import_seconds})
    report = program.report
    # the error of the pruned/quantised program against the float32 model, run once
    spec, sparse_spec = prepared.quant, prepared.sparsity
    error = _output_error(model, args, program) if spec is not None or sparse_spec is not None else {}
    if sparse_spec is not None:
        report["sparsity"] = {"spec": sparse_spec.as_dict(), "layers": [r.as_dict() for r in prepared.sparse_layers], **error}
    if spec is not None:
        report["quant"] = {"spec": spec.as_dict(), "layers": [r.as_dict() for r in prepared.quant_layers], **error}
    if trace_key is not None and compiled_key is not None:
        from sparcc import trace_cache

        extra = {k: report[k] for k in ("sparsity", "quant") if k in report}
        report["trace"] = "saved" if trace_cache.save(trace_key, model, imported, ir["nn"], compiled_key, extra) else "not kept"
    report["seconds"]["total"] = time.perf_counter() - start
    if cached in ("off", "none"):
        # no cache entry to keep: the folder goes when the program is freed, or
        # at exit (a loaded library stays mapped; dlopen never reads it again)
        weakref.finalize(program, shutil.rmtree, folder, True)
    return program


def _cache_options(tgt: Any, threads: int) -> dict[str, Any]:
    options = {"target": tgt.name, "threads": threads, "pipeline": list(tgt.pipeline)}
    if tgt.cost_space_names:  # a new cost model file, or SPARCC_MEASURE_TOP, changes the code built
        from sparcc import costmodel

        options["costmodel"] = costmodel.fingerprint(tgt.cost_space_names)
    return options


def _program(tgt: Any, threads: int, folder: Path, meta: dict[str, Any], cached: str, imported: ImportedProgram,
             ir: dict[str, str], seconds: dict[str, float]) -> CompiledProgram:
    """The loaded program of a compiled entry, with its report."""
    for stage, file in meta.get("ir", {}).items():
        ir[stage] = (folder / file).read_text()
    executable = tgt.load(folder, meta, imported, threads)
    report = {
        "target": tgt.name,
        "threads": threads,
        "cache": cached,
        "library": str(folder / meta["library"]) if "library" in meta else str(folder),
        "ops": imported.ops,
        "seconds": {**seconds, **(meta.get("seconds", {}) if cached not in ("hit", "warm") else {})},
        "schedule": meta.get("schedule", []),
        "choices": meta.get("choices", []),  # the cost model's decisions (sparcc.costmodel.choose)
        "fallbacks": meta.get("fallbacks", []),
        "outlined": meta.get("outlined", {}),
        # the bytes of each function's planned intermediate buffers (backends/cpu/plan_buffers.py)
        "arenas": meta.get("arenas", {}),
        # what the fusion passes chose, with the predicted gain, and what they left alone and why
        "fusions": meta.get("fusions", []),
    }
    if imported.symbols:
        report["dynamic"] = {
            "symbols": {n: {"min": lo, "max": hi} for n, (lo, hi) in imported.symbols.items()},
            "inputs": [str(s) for s in imported.inputs],
            "outputs": [str(s) for s in imported.outputs],
        }
    return CompiledProgram(
        imported.inputs, imported.outputs, imported.output_tree, executable, ir, report, imported.symbols,
        imported.mutated, imported.in_place, random=imported.random,
        complex_inputs=imported.complex_inputs, complex_outputs=imported.complex_outputs,
    )


def _parsed_specs(quant: Any, sparsity: Any, tgt: Any) -> tuple[Any, Any]:
    from sparcc.quantize import parse_quant_spec
    from sparcc.sparsify import parse_sparsity_spec

    return parse_quant_spec(quant), parse_sparsity_spec(sparsity, tgt)


def _trace_key(model: Any, args: Sequence[Any], tgt: Any, threads: int, spec: Any, sparse_spec: Any,
               dynamic: Any) -> str | None:
    """The trace cache's key (sparcc.trace_cache) for the parsed quant and
    sparsity specs, or None: no warm start (a model that holds per-call
    state, or something the key cannot describe)."""
    from sparcc import trace_cache

    if getattr(model, "sparcc_traceable", True) is False:
        return None
    if any(not isinstance(a, torch.Tensor) for a in args):
        return None  # import_module names the bad argument
    parts = [
        json.dumps(_cache_options(tgt, threads), sort_keys=True), *tgt.identity(),
        json.dumps(spec.as_dict() if spec is not None else None, sort_keys=True, default=str),
        json.dumps(sparse_spec.as_dict() if sparse_spec is not None else None, sort_keys=True, default=str),
        repr(dynamic),
    ]
    return trace_cache.fingerprint(model, args, parts)


def _warm_start(key: str, model: Any, tgt: Any, threads: int, start: float) -> CompiledProgram | None:
    """The program that the trace cache and the compile cache hold for
    `key`, loaded without torch.export; None when either misses."""
    from sparcc import cache, trace_cache

    entry = trace_cache.find(key, model)
    if entry is None:
        return None
    imported = trace_cache.imported_program(entry, model)
    found = cache.lookup(entry.compiled_key, tgt.required_files()) if imported is not None else None
    if found is None:
        return None
    folder, meta = found
    program = _program(tgt, threads, folder, meta, "hit", imported, {"nn": trace_cache.nn_text(entry)},
                       {"import": 0.0})
    program.report.update(entry.data.get("extra", {}))
    program.report["trace"] = "hit"
    program.report["seconds"]["total"] = time.perf_counter() - start
    return program


def _output_error(model: Any, args: Sequence[torch.Tensor], program: CompiledProgram) -> dict[str, float]:
    """How far the quantised program's outputs are from the float32 model's
    on the example inputs: max abs error and relative L2 error."""
    # on copies: a model that updates its inputs in place (a KV cache) must
    # not see this call
    with torch.no_grad():
        want = pytree.tree_leaves(model(*[a.clone() for a in args]))
    got = pytree.tree_leaves(program(*[a.clone() for a in args]))
    num = sum(float(torch.sum((g.double() - w.double()) ** 2)) for g, w in zip(got, want))
    den = sum(float(torch.sum(w.double() ** 2)) for w in want)
    return {
        "output_max_abs_err": max(float((g - w).abs().max()) for g, w in zip(got, want)),
        "output_rel_l2_err": (num / den) ** 0.5 if den > 0 else float(num > 0),
    }
