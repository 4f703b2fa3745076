"""The `hls` target: Vitis-style HLS C++ for an FPGA, checked by C simulation.

nn -> linalg (sparcc passes) -> loops on memrefs (upstream MLIR,
lower.py) -> schedule attributes (schedule.py) -> C++ (emit.py) + QoR
estimate (qor.py) -> project files (project.py). `sparcc.jit(model,
target="hls")` builds the design with g++ against the ap_types headers and
calls it in-process (the C simulation); `sparcc compile --target hls`
writes the project folder.

Options (schedule, precision, interface) are set for the compiles inside
`with options(...)`, or per call of compile_hls().
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sparcc.backends import Target
from sparcc.errors import PipelineError, SparccError
from sparcc.specs import tree_json

LIBRARY = "libcsim.so"


WEIGHTS = ("auto", "header", "bin")
AUTO_BIN = 1 << 18  # weight elements above which "auto" writes weights.bin (g++ on a weights.h of millions of
# initialisers runs out of memory)


@dataclass
class Options:
    schedule: dict[str, Any] = field(default_factory=dict)
    precision: Any = None
    interface: str = "m_axi"
    weights: str = "auto"  # header: ROM initialisers in weights.h; bin: weights.bin through a port; auto: by size


_default = _options = Options()


@contextlib.contextmanager
def options(schedule: dict[str, Any] | None = None, precision: Any = None, interface: str = "m_axi",
            weights: str = "auto") -> Iterator[Options]:
    """The hls target's options for the compiles (sparcc.jit's first call,
    sparcc.compile) made inside the block."""
    global _options
    from sparcc.backends.hls.schedule import parse_precision

    parse_precision(precision)  # a bad spec fails here, before any work
    _check_weights(weights)
    saved, _options = _options, Options(dict(schedule or {}), precision, interface, weights)
    try:
        yield _options
    finally:
        _options = saved


def current_options() -> Options:
    """The options of `with options(...)`, else those `sparcc compile
    --hls-*` left in SPARCC_HLS_PRECISION / _SCHEDULE / _INTERFACE."""
    import os

    from sparcc.backends.hls.schedule import ScheduleError

    if _options is not _default:
        return _options
    schedule: dict[str, Any] = {}
    if text := os.environ.get("SPARCC_HLS_SCHEDULE", "").strip():
        try:
            schedule = json.loads(text)
        except ValueError as e:
            raise ScheduleError(f"--hls-schedule {text!r} is not JSON: {e}") from None
        if not isinstance(schedule, dict):
            raise ScheduleError(f"--hls-schedule {text!r}: expected a JSON object of layer glob -> primitives")
    return Options(schedule, os.environ.get("SPARCC_HLS_PRECISION") or None,
                   os.environ.get("SPARCC_HLS_INTERFACE") or "m_axi",
                   _check_weights(os.environ.get("SPARCC_HLS_WEIGHTS") or "auto"))


def _check_weights(weights: str) -> str:
    from sparcc.backends.hls.schedule import ScheduleError

    if weights not in WEIGHTS:
        raise ScheduleError(f"hls weights {weights!r}: expected one of {', '.join(WEIGHTS)} (header: C initialisers "
                            "in weights.h; bin: weights.bin, read through a port by the first call)")
    return weights


def gxx() -> str | None:
    return shutil.which("g++")


class HlsTarget(Target):
    name = "hls"
    summary = "Vitis HLS C++ for an FPGA (xczu7ev, 200 MHz QoR estimate); runs as a g++ C simulation"
    pipeline: ClassVar[tuple[str, ...]] = ("hls-lower-sparse", "hls-lower-quant", "convert-nn-to-linalg", "fuse-elementwise", "widen-bool-tensors",
                                           "lower-entry-abi")
    max_threads = 1
    cacheable = False  # options live outside the IR
    writes_artifacts = True

    def unavailable(self) -> str | None:
        from sparcc.backends.hls.project import ap_types_dir

        if gxx() is None:
            return "no g++ on PATH for the C simulation; install g++"
        if ap_types_dir() is None:
            return "the ap_types headers (ap_fixed.h) are missing: pip install hls4ml (they ship with it)"
        return None

    def quant_store(self, name: str, typ: Any, quantized: Any) -> dict[str, Any]:
        from sparcc.backends.hls.lower_quant import store_entries

        try:
            return store_entries(name, typ, quantized)
        except ValueError as e:
            raise SparccError(str(e)) from None

    def sparse_quant_kernel(self, sparse_fmt: Any, quant_fmt: Any) -> str:
        from sparcc.backends.hls.lower_sparse import nm_of

        if nm_of(sparse_fmt) is None:
            raise ValueError(f"target 'hls' takes sparse quantised layers in N:M (e.g. sparsity '2:4' with quant "
                             f"'nf4:g32'), not '{getattr(sparse_fmt, 'spec', sparse_fmt)}'")
        return "hls: codes of the kept values through the value table, x read through their positions"

    def sparse_kind(self, fmt: Any) -> str:
        from sparcc.backends.hls.lower_sparse import is_csr, is_ell, nm_of

        if is_ell(fmt):
            return "ell"
        if is_csr(fmt):
            return "csr"
        if nm_of(fmt) is None:
            raise ValueError(f"target 'hls' takes N:M, ELL and CSR sparsity (e.g. '2:4', 'unstructured:0.9@ell', "
                             f"'unstructured:0.9@csr'), not '{getattr(fmt, 'spec', fmt)}'")
        return "nm"

    def build(self, module: Any, folder: Path, threads: int) -> dict[str, Any]:
        design = generate(str(module), current_options())
        design.write(folder)
        return self._meta(design)

    @staticmethod
    def _meta(design: Design) -> dict[str, Any]:
        return {**design.meta(), "library": LIBRARY, "ir": {"linalg": "linalg.mlir", "hls": "hls.mlir"},
                "seconds": design.seconds, "schedule": design.schedule_lines(), "fallbacks": []}

    def load(self, folder: Path, meta: dict[str, Any], program: Any, threads: int) -> CsimExecutable:
        from sparcc.backends.hls.project import weights_h

        if meta.get("data_trips"):  # loops whose trip counts are data: the design again, with the weights at hand
            design = generate((folder / "linalg.mlir").read_text(), current_options(), program.weights)
            design.write(folder)
            meta.update(self._meta(design))  # the program's report reads the schedule from here
        kernel = kernel_from_meta(meta)
        (folder / "weights.h").write_text(weights_h(kernel, program.weights))
        words = None
        if kernel.weights_file:
            from sparcc.backends.hls.project import weights_bin

            (folder / "weights.bin").write_bytes(weights_bin(kernel, program.weights))
            words = np.fromfile(folder / "weights.bin", dtype="<u4")
        from sparcc.backends.hls.pragmas import check

        check((folder / "kernel.cpp").read_text(), "kernel.cpp", {b.name: b.size for b in kernel.buffers})
        lib = compile_library(folder)
        exe = CsimExecutable(lib, kernel, [w for w in program.weights.values() if isinstance(w, torch.Tensor)], words)
        exe.store = program.weights  # by name: what the bit-exact model (interp.py) binds
        exe.options = current_options()
        return exe

    def write_artifact(self, folder: Path, prepared: Any, threads: int, stages: Any, name: str) -> Any:
        return write_project(folder, prepared, stages, name, current_options())

    def load_artifact(self, folder: Path, manifest: dict[str, Any], threads: int | None, verify: bool) -> Any:
        return load_project(folder, manifest, verify)


@dataclass
class Design:
    """An emitted design: its C++, QoR report and buffers."""

    kernel: Any
    report: dict[str, Any]
    linalg: str
    hls_ir: str
    layers: list[str]
    seconds: dict[str, float]

    def write(self, folder: Path) -> None:
        from sparcc.backends.hls import project, qor

        (folder / "linalg.mlir").write_text(self.linalg)
        (folder / "hls.mlir").write_text(self.hls_ir)
        (folder / "kernel.h").write_text(project.kernel_h(self.kernel))
        (folder / "kernel.cpp").write_text(project.kernel_cpp(self.kernel))
        (folder / "report.json").write_text(json.dumps(self.report, indent=1))
        (folder / "report.txt").write_text(qor.text(self.report))

    def meta(self) -> dict[str, Any]:
        k = self.kernel
        return {
            "interface": k.interface, "dataflow": k.dataflow, "fixed": sorted(k.fixed_types), "qor": self.report,
            "weights_file": k.weights_file,
            "data_trips": any("trips" in loop for n in self.report["nests"] for loop in _loops(n["loop"])),
            "buffers": [{"name": b.name, "shape": b.shape, "elem": b.elem, "role": b.role, "ctype": b.ctype,
                         "weight": b.weight, "perm": b.value if b.role == "weight" else None,
                         "value": b.value.tolist() if b.role == "constant" else None,
                         "partition": list(b.partition) if b.partition else None} for b in k.buffers],
        }

    def schedule_lines(self) -> list[str]:
        out = []
        for n in self.report["nests"]:
            cur, parts = n["loop"], []
            while True:
                trip = f"{cur['trips']['min']}..{cur['trips']['max']}" if "trips" in cur else cur["trip"]
                parts.append(f"{cur['label']}[{trip}" + (f"/u{cur['unroll']}" if cur["unroll"] > 1 else "")
                             + (f" II={cur['ii']}" if "ii" in cur else "") + "]")
                if "loops" not in cur:
                    break
                cur = cur["loops"][0]
            out.append(f"{n['layer']}: {' '.join(parts)} {n['latency']} cycles")
        return out


def _loops(loop: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield loop
    for c in loop.get("loops", []):
        yield from _loops(c)


def generate(linalg: str, opts: Options, store: dict[str, Any] | None = None) -> Design:
    """linalg text -> the emitted, scheduled and checked design. `store`
    (the weights by name) gives the trip counts of loops whose bounds are
    data (CSR rows); without it the QoR model estimates them."""
    from sparcc.backends.hls import emit, lower, qor, schedule

    t0 = time.perf_counter()
    module = lower.to_loops(linalg)
    t1 = time.perf_counter()
    with module.context:
        func = emit.entry_function(module)
        n_in, weights = emit.signature(func)
        args = list(func.arguments)
        for i, a in enumerate(args):
            if not str(a.type).startswith("memref<") or "?" in str(a.type):
                what = f"input {i}" if i < n_in else "a weight" if i < n_in + len(weights) else "an output"
                raise emit.EmitError(
                    f"{what} has type {a.type}: HLS needs static sizes; compile for fixed input shapes (no dynamic=)"
                )
        weight_names = {args[n_in + i]: w["name"] for i, w in enumerate(weights)}
        layers = schedule.annotate(module, func, weight_names, opts.schedule,
                                   schedule.parse_precision(opts.precision), opts.interface)
        emitter = emit.Emitter(func)
        kernel = emitter.run(module)
        if schedule.annotate_trips(func, emitter.views, store):  # the loop_tripcount pragmas
            emitter = emit.Emitter(func)
            kernel = emitter.run(module)
        kernel.weights_file = weights_file(kernel, opts)
        schedule.check_partitions(kernel)
        report = qor.report(func, kernel, emitter.views)
        schedule.check_pipelines(report)
        if schedule.settle(func, report):  # the heuristic's pipelines ask for the II the model says they reach
            emitter = emit.Emitter(func)
            kernel = emitter.run(module)
            kernel.weights_file = weights_file(kernel, opts)
            report = qor.report(func, kernel, emitter.views)
        hls_ir = str(module)
    t2 = time.perf_counter()
    return Design(kernel, report, linalg, hls_ir, layers, {"hls-loops": t1 - t0, "hls-emit": t2 - t1})


def weights_file(kernel: Any, opts: Options) -> bool:
    """Whether the design reads its weights from weights.bin."""
    if opts.weights == "auto":
        return sum(b.size for b in kernel.buffers if b.role in ("weight", "constant")) > AUTO_BIN
    return opts.weights == "bin"


def kernel_from_meta(meta: dict[str, Any]) -> Any:
    from sparcc.backends.hls.emit import Buffer, Kernel

    bufs = []
    for d in meta["buffers"]:
        b = Buffer(d["name"], d["shape"], d["elem"], d["role"], d["ctype"], d["weight"])
        b.value = d["perm"] if d["role"] == "weight" else (np.array(d["value"]) if d["value"] is not None else None)
        b.partition = tuple(d["partition"]) if d["partition"] else None
        bufs.append(b)
    return Kernel("sparcc_top", "", bufs, [b for b in bufs if b.role == "input"],
                  [b for b in bufs if b.role == "output"], [b for b in bufs if b.role == "weight"],
                  meta["interface"], meta["dataflow"], set(meta["fixed"]), weights_file=meta.get("weights_file", False))


def compile_library(folder: Path) -> ctypes.CDLL:
    """kernel.cpp (with weights.h) -> a shared library, with g++ against the
    ap_types headers: the C simulation that sparcc.jit calls."""
    from sparcc.backends.hls.project import ap_types_dir

    inc = ap_types_dir()
    if inc is None or gxx() is None:
        raise SparccError("the hls C simulation needs g++ and the ap_types headers (pip install hls4ml)")
    cmd = [gxx(), "-std=c++14", "-O2", "-Wno-unknown-pragmas", "-fPIC", "-shared", f"-I{inc}",
           str(folder / "kernel.cpp"), "-o", str(folder / LIBRARY)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise PipelineError(f"g++ rejected the emitted HLS C++ (a sparcc bug): {done.stderr[-1500:]}", str(folder))
    return ctypes.CDLL(str(folder / LIBRARY))


class CsimExecutable:
    """The C-simulation library's sparcc_run(args): inputs, then outputs."""

    def __init__(self, lib: ctypes.CDLL, kernel: Any, weights: list[torch.Tensor], words: np.ndarray | None = None):
        self.lib, self.kernel, self.weights = lib, kernel, weights
        self.words = words  # weights.bin, kept alive: the design reads it on its first call
        if words is not None:
            lib.sparcc_set_weights.argtypes = [ctypes.c_void_p]
            lib.sparcc_set_weights(words.ctypes.data)
        self._fn = lib.sparcc_run
        self._fn.argtypes = [ctypes.c_void_p]
        self._fn.restype = None
        self._take = lib.sparcc_take_error
        self._take.argtypes = [ctypes.c_void_p]
        self._take.restype = ctypes.c_longlong

    def __call__(self, inputs: Sequence[torch.Tensor], results: Sequence[torch.Tensor], sizes: Sequence[int]) -> None:
        ptrs = (ctypes.c_void_p * (len(inputs) + len(results)))(*[t.data_ptr() for t in [*inputs, *results]])
        self._fn(ptrs)

    def take_error(self) -> SparccError | None:
        from sparcc.errors import run_time_error

        error = (ctypes.c_longlong * 3)()
        kind = self._take(error)
        return run_time_error(kind, *error) if kind else None


def write_project(folder: Path, prepared: Any, stages: Any, name: str, opts: Options) -> Any:
    """The HLS project of `prepared` in `folder` (sparcc compile --target hls)."""
    import sparcc
    from sparcc.artifact import FORMAT, MANIFEST, Artifact
    from sparcc.backends.hls import project, qor
    from torch.utils import _pytree as pytree

    with stages("passes", "sparcc passes"):
        prepared.run_passes()
    with stages("lower", "loops, schedule and C++"):
        design = generate(str(prepared.imported.module), opts, prepared.imported.weights)
        design.write(folder)
    kernel = design.kernel
    with stages("weights", "weights and testbench"):
        (folder / "weights.h").write_text(project.weights_h(kernel, prepared.imported.weights))
        if kernel.weights_file:
            (folder / "weights.bin").write_bytes(project.weights_bin(kernel, prepared.imported.weights))
        shapes = ({k: tuple(v.shape) for k, v in prepared.model.state_dict().items()}
                  if isinstance(prepared.model, torch.nn.Module) else {})
        effective = effective_weights(kernel, prepared.imported.weights, shapes)
        with torch.no_grad():
            args = [a.clone() for a in prepared.args]
            if effective and isinstance(prepared.model, torch.nn.Module):
                out = torch.func.functional_call(prepared.model, effective, tuple(args), strict=False)
            else:
                out = prepared.model(*args)
            golden = [g.detach().numpy() for g in pytree.tree_leaves(out)]
        inputs = [a.detach().numpy() for a in prepared.args]
        atol, rtol = project.tolerances(kernel)
        (folder / "tb.cpp").write_text(project.tb_cpp(kernel, inputs, golden, atol, rtol))
        (folder / "Makefile").write_text(project.makefile(None))
        (folder / "run_hls.tcl").write_text(project.run_hls_tcl())
    with stages("build", "checking the pragmas"):
        from sparcc.backends.hls.pragmas import check_file

        check_file(folder / "kernel.cpp", folder / "weights.h")
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    manifest = {
        "format": FORMAT, "sparcc_version": sparcc.__version__, "target": "hls", "name": name, "threads": 1,
        "inputs": [{"dtype": str(s.dtype).removeprefix("torch."), "shape": list(s.shape)} for s in prepared.imported.inputs],
        "outputs": [{"dtype": str(s.dtype).removeprefix("torch."), "shape": list(s.shape)} for s in prepared.imported.outputs],
        "interface": kernel.interface, "precision": sorted(kernel.fixed_types) or ["float"],
        "weights": "weights.bin" if kernel.weights_file else "weights.h",
        "qor": {k: design.report[k] for k in ("device", "clock_mhz", "latency_cycles", "resources")},
        "tolerance": {"atol": atol, "rtol": rtol}, "fallbacks": [],
        "output_tree": tree_json(prepared.imported.output_tree),
        "sha256": {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in files},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return Artifact(folder, manifest, qor.text(design.report))


DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "int32": torch.int32}
SOURCES = ("kernel.cpp", "kernel.h", "weights.h")


def load_project(folder: Path, m: dict[str, Any], verify: bool) -> Any:
    """An hls project folder as a callable program: its kernel.cpp built
    with g++ (in a private folder) and called like sparcc.jit's."""
    import tempfile
    import weakref

    from sparcc.driver import CompiledProgram
    from sparcc.frontend import TensorSpec
    from torch.utils import _pytree as pytree

    sources = SOURCES + (("weights.bin",) if m.get("weights") == "weights.bin" else ())
    try:
        for name in sources:
            if not (folder / name).is_file():
                raise SparccError(f"'{folder}' is incomplete: {name} is missing; recompile it")
            if verify and hashlib.sha256((folder / name).read_bytes()).hexdigest() != m["sha256"][name]:
                raise SparccError(f"'{folder / name}' is corrupt (its sha256 differs from the manifest's); recompile it")
        inputs = [TensorSpec(tuple(int(d) for d in s["shape"]), DTYPES[s["dtype"]]) for s in m["inputs"]]
        outputs = [TensorSpec(tuple(int(d) for d in s["shape"]), DTYPES[s["dtype"]]) for s in m["outputs"]]
        tree = pytree.treespec_loads(m["output_tree"]) if m.get("output_tree") is not None else None
    except (KeyError, TypeError, ValueError) as e:
        raise SparccError(f"'{folder / 'manifest.json'}' is corrupt ({type(e).__name__}: {e}); recompile it") from None
    build = Path(tempfile.mkdtemp(prefix="sparcc-hls-load-"))
    for name in sources:
        shutil.copy(folder / name, build / name)
    lib = compile_library(build)
    words = np.fromfile(build / "weights.bin", dtype="<u4") if "weights.bin" in sources else None
    program = CompiledProgram(inputs, outputs, tree, CsimExecutable(lib, None, [], words), {},
                              {"target": "hls", "threads": 1, "cache": "aot", "library": str(build / LIBRARY),
                               "artifact": str(folder), "schedule": [], "fallbacks": []})
    weakref.finalize(program, shutil.rmtree, build, True)
    return program


def effective_weights(kernel: Any, store: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """The float weights a quantised or pruned design computes with, by
    parameter name (of shape `shapes`), rebuilt from its arrays (codes
    through the value table, less the zero points, times the scales; kept
    values at their columns): the testbench's golden outputs are PyTorch's with these. The
    arrays come in the entry's shapes (lower-entry-abi folds reshapes into
    them), so each is read row-major against the parameter's rows."""
    from sparcc.backends.hls.project import weight_data

    by_name = {b.weight: b for b in kernel.weights}
    out: dict[str, torch.Tensor] = {}
    for base in dict.fromkeys(w.partition("#")[0] for w in by_name if "#" in w):
        if base not in shapes:
            continue
        rows = shapes[base][0]
        cols = int(np.prod(shapes[base])) // rows

        def data(role: str) -> np.ndarray | None:
            b = by_name.get(f"{base}#{role}")
            return None if b is None else weight_data(b, store)

        if (codes := data("codes")) is not None:  # hls-lower-quant: (table[code] - zero) * scale
            codes = codes.astype(np.int64).reshape(rows, -1)
            vals = data("lut").reshape(-1)[codes]
            blocks = data("scales").reshape(rows, -1)
            if (zeros := data("zeros")) is not None:
                vals = vals - np.repeat(zeros.reshape(rows, -1), codes.shape[1] // blocks.shape[1], axis=1)
            vals = vals * np.repeat(blocks, codes.shape[1] // blocks.shape[1], axis=1)
        elif (vals := data("values")) is None:
            continue
        pos, crd = data("i0"), data("i1")
        if pos is None and crd is None:
            dense = vals.reshape(rows, cols)
        else:
            dense = np.zeros((rows, cols), np.float32)
            vals = vals.reshape(-1)
            if pos is not None and crd is not None:  # CSR: row r's columns are crd[pos[r]:pos[r+1]]
                r, col = np.repeat(np.arange(rows), np.diff(pos.astype(np.int64))), crd.reshape(-1).astype(np.int64)
            elif pos is not None:  # N:M: positions in groups of M, N per group
                n = by_name[f"{base}#i0"].shape[-1]
                kept = pos.size // rows
                m = cols * n // kept
                k = np.arange(kept)[None, :]
                col = ((k // n) * m + pos.reshape(rows, -1).astype(np.int64)).reshape(-1)
                r = np.repeat(np.arange(rows), kept)
            else:  # ELL: columns, padding entries hold zero
                col = crd.reshape(-1).astype(np.int64)
                r = np.repeat(np.arange(rows), col.size // rows)
            np.add.at(dense, (r, col), vals)
        out[base] = torch.from_numpy(np.asarray(dense, np.float32)).reshape(shapes[base])
    return out
