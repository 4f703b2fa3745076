"""
The CPU target's cost spaces: what `sparcc tune` measures and the cost
model chooses among (sparcc/costmodel.py is the target-independent half).

`cpu.matmul`: one matmul's schedule (schedule.matmul_space: split among
threads, register tile, kc, packing). A candidate is built as a one-matmul
library with its configuration forced (schedule.forced_matmul), and every
candidate of a problem is timed in one worker process of its own
(`python -m sparcc.backends.cpu.tuning SPEC`), which imports neither torch
nor torch: a candidate that crashes takes only that worker down, and the
candidates are timed in interleaved rounds, so that a change of machine
load during the run hits all of them alike. A one-thread candidate is timed
by its thread's CPU time, pinned to one core: another process that takes
the core for a while does not count (it would on the wall clock).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparcc.backends.cpu import schedule
from sparcc.backends.cpu.schedule import (
    MATMUL_KEYS,
    MatmulProblem,
    check_matmul,
    heuristic_matmul,
    matmul_features,
    matmul_space,
)

MATMUL = "cpu.matmul"
# A sample is at least this long (several calls of a short kernel); the
# lower quartile of ROUNDS samples is a candidate's time; a candidate whose samples
# spread more than NOISY (interquartile range / median) is timed again, up
# to RETRIES more times, and kept with its noise recorded.
SAMPLE_SECONDS = 0.002
ROUNDS = 7
NOISY = 0.05
RETRIES = 2
# The weight operand (B, or a sparse layer's storage) rotates among copies
# that together exceed this: in a model each layer's weights come from L3
# (or memory), not from the L2 that one kernel timed alone keeps them in.
# Timed warm, a 17-row Linear(192, 576) preferred a 14x32 tile that ran
# 1.4x slower than the heuristic's 6x64 in timm's ViT-tiny.
ROTATE_BYTES = 8 << 20


@functools.cache
def machine() -> dict[str, float]:
    """The target features the cost model sees: cores, vector width, L1/L2
    size, and whether the CPU is AMD's (Zen 4 runs a 512-bit FMA as two
    256-bit halves, so the register tile that wins differs: GEMM 1024^3's
    best tile was 4x64 on Zen 4 and 14x32 on Sapphire Rapids). Every row
    that `sparcc tune` measures records them, so one model learns from rows
    of several machines."""
    from sparcc.backends.cpu import toolchain

    def cache_kib(index: int, default: float) -> float:
        try:
            text = Path(f"/sys/devices/system/cpu/cpu0/cache/index{index}/size").read_text().strip()
            return float(text[:-1]) * (1024 if text.endswith("M") else 1) if text[-1] in "KM" else float(text) / 1024
        except (OSError, ValueError, IndexError):
            return default

    lanes = schedule.vector_unit().lanes
    return {"cores": float(os.cpu_count() or 1), "simd_lanes": float(lanes),
            "l1d_kib": cache_kib(0, 48.0), "l2_kib": cache_kib(2, 2048.0),
            "amd": float(toolchain.host_vendor() == "AuthenticAMD")}


def problem_from(values: dict[str, Any]) -> MatmulProblem:
    """A matmul problem from {"M", "N", "K"[, "batch", "threads"]} (either case)."""
    v = {str(k).lower(): x for k, x in values.items()}
    try:
        dims = [int(v[k]) for k in ("m", "n", "k")]
        batch, threads = int(v.get("batch", 1)), int(v.get("threads", 1))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"a matmul problem needs whole numbers M, N, K (batch, threads optional): {values}") from None
    if min(dims + [batch, threads]) < 1:
        raise ValueError(f"a matmul problem's sizes must be at least 1: {values}")
    return MatmulProblem(batch, *dims, threads)


def features(p: MatmulProblem, config: dict[str, Any], target: dict[str, float] | None = None) -> dict[str, float]:
    return matmul_features(p, config, target or machine())


def describe(config: dict[str, Any]) -> str:
    split = "" if config["split"] == "none" else f" split {config['split']}"
    return f"{config['mr']}x{config['nr']} kc{config['kc']}{' pack' if config['pack'] else ''}{split}"


class MatmulSpace:
    """The cost space `cpu.matmul` (sparcc.costmodel.CostSpace)."""

    name = MATMUL
    problem_keys = ("M", "N", "K", "batch", "threads")

    def problem(self, values: dict[str, Any]) -> MatmulProblem:
        return problem_from(values)

    def problem_dict(self, p: MatmulProblem) -> dict[str, int]:
        return p.as_dict()

    def candidates(self, p: MatmulProblem) -> list[dict[str, Any]]:
        return matmul_space(p)

    def heuristic(self, p: MatmulProblem) -> dict[str, Any]:
        return heuristic_matmul(p)

    def features(self, p: MatmulProblem, config: dict[str, Any],
                 target: dict[str, float] | None = None) -> dict[str, float]:
        return features(p, config, target)

    def target_features(self) -> dict[str, float]:
        return machine()

    def key(self, config: dict[str, Any]) -> tuple:
        return tuple(config[k] for k in MATMUL_KEYS)

    def describe(self, config: dict[str, Any]) -> str:
        return describe(config)

    def measure(self, p: MatmulProblem, configs: Sequence[dict[str, Any]],
                progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        return measure_matmul(p, configs, progress)

    def domain(self, problems: Sequence[MatmulProblem],
               targets: Sequence[dict[str, float] | None] = ()) -> dict[str, Any]:
        """What a model trained on `problems` (measured on machines with
        `targets`' features; None: this one) has seen: the thread counts (a
        model that never saw 2 threads does not choose how to split) and the
        vector widths."""
        lanes = {int((t or machine())["simd_lanes"]) for t in targets} or {schedule.vector_unit().lanes}
        return {"threads": sorted({p.threads for p in problems}), "simd_lanes": sorted(lanes)}

    def as_target(self, target: dict[str, float] | None) -> Any:
        """Heuristic and tiles of the machine that `target` describes."""
        return schedule.vector_unit_of(target)

    def covers(self, domain: dict[str, Any], p: MatmulProblem) -> str | None:
        seen = domain.get("threads", [1])
        if p.threads not in seen:
            return f"the model was trained on {', '.join(map(str, seen))} thread(s), not {p.threads}"
        # a model that never saw this vector width ranks tiles sized for
        # another register file (the shipped default: AVX-512 machines only)
        widths = domain.get("simd_lanes", [16])
        lanes = schedule.vector_unit().lanes
        if lanes not in widths:
            return (f"the model was trained on {', '.join(f'{w}-lane' for w in widths)} vectors, "
                    f"not this CPU's {lanes}-lane ones")
        return None


SPACE = MatmulSpace()


# At one or two rows per thread, a matmul whose B sits in panels (a weight
# the customize-layout pass stored so) is a stream of B, and the panels
# change that stream; the model's rows time B row-major (tune builds B as an
# argument). There the model's choices did not carry over: on the Zen 3 VM
# it chose 1x8 tiles (one FMA chain) for the Llama decoder's one-row
# linears, which ran 1.2x slower in decoding than the heuristic's 1x32.
PANEL_MODEL_MIN_ROWS = 3


def choose(p: MatmulProblem, panels: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schedule's question to the cost model for one matmul. A model
    trained at one thread still schedules a multi-thread matmul: the
    heuristic splits it, and each thread's piece, which runs on its own,
    gets the model's choice for that piece at one thread. `panels`: B is
    stored in panels; one- and two-row pieces of those take the heuristic
    (PANEL_MODEL_MIN_ROWS)."""
    from sparcc import costmodel

    # a model's layers repeat their shapes; the switch below is part of the key (benchmarks toggle it)
    key = (p, panels, schedule.vector_unit(), SPLIT_MIN_ACCUMULATORS, costmodel.fingerprint((MATMUL,)))
    if key not in _CHOSEN:
        heuristic = heuristic_matmul(p) if panels else None
        rows = p.piece(heuristic["split"])[0] if heuristic else 0
        if heuristic and rows < PANEL_MODEL_MIN_ROWS:
            why = (f"heuristic: {rows} row(s) per thread with B in panels (the model was measured on row-major B, "
                   "and single-row panel kernels are B's stream)")
            _CHOSEN[key] = heuristic, {"space": MATMUL, "problem": p.as_dict(), "by": "heuristic", "model": None,
                                       "warning": None, "summary": why, "candidates": len(matmul_space(p))}
        else:
            _CHOSEN[key] = _choose(p, panels)
    config, record = _CHOSEN[key]
    return dict(config), dict(record)


_CHOSEN: dict[tuple, tuple[dict[str, Any], dict[str, Any]]] = {}


# A thread's piece of a split matmul keeps register tiles with more
# accumulators than the FMA units need in flight (2 pipes x 4 cycles of
# latency = 8 vectors): at 2 threads on the Zen 3 VM a 4x16 tile (8) ran
# 1.14-1.42x slower than 6x16 (12) on four square-ish shapes (GEMM 1024^3:
# 21.2 against 17.2 ms, MKL 16.2; benchmarks/bench_register_tiles.py
# --split), where the one-thread model, trained on rows timed alone, ranks
# them as a tie. Only pieces of row-major B with at least WHOLE_ROWS_MAX_M
# rows: resnet18's 16-row matmuls against panels took 6x16 tiles with a
# 4-row tail instead of 4x16 and the model ran 0.82x at 2 threads (resnet50
# 0.86x). 0: any tile (a switch for benchmarks).
SPLIT_MIN_ACCUMULATORS = 9


class _PieceSpace:
    """SPACE for one thread's piece of a split matmul of row-major B and at
    least WHOLE_ROWS_MAX_M rows: the tiles with fewer than
    SPLIT_MIN_ACCUMULATORS accumulators are left out (where one is left)."""

    def __init__(self, space: MatmulSpace):
        self._space = space

    def __getattr__(self, name: str) -> Any:
        return getattr(self._space, name)

    def candidates(self, p: MatmulProblem) -> list[dict[str, Any]]:
        out = self._space.candidates(p)
        vu = schedule.vector_unit()
        return [c for c in out if c["mr"] * vu.vectors(c["nr"]) >= SPLIT_MIN_ACCUMULATORS] or out


def _choose(p: MatmulProblem, panels: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    from sparcc import costmodel

    if p.threads > 1:
        model, _ = costmodel.load(MATMUL)
        domain = model.meta.get("domain", {}) if model is not None else {}
        if model is not None and SPACE.covers(domain, p) and SPACE.covers(domain, piece_problem(p, "none")) is None:
            split = heuristic_matmul(p)["split"]
            piece = piece_problem(p, split)
            tall = not panels and piece.m >= schedule.WHOLE_ROWS_MAX_M
            config, record = costmodel.choose(_PieceSpace(SPACE) if tall else SPACE, piece)
            record["summary"] += f"; for each thread's piece, split {split} by the heuristic"
            record["problem"] = p.as_dict()
            return {**config, "split": split}, record
    return costmodel.choose(SPACE, p)


def piece_problem(p: MatmulProblem, split: str) -> MatmulProblem:
    """What one thread computes under `split`, as a one-thread problem."""
    if split == "none":
        return MatmulProblem(p.batch, p.m, p.n, p.k, 1)
    if split == "b":
        return MatmulProblem(p.batch // p.threads, p.m, p.n, p.k, 1)
    m, n = p.piece(split)
    return MatmulProblem(p.batch, m, n, p.k, 1)


# ----------------------------------------------------------------------------
# building and timing candidates
# ----------------------------------------------------------------------------


def matmul_text(p: MatmulProblem) -> str:
    """A one-matmul program, as sparcc's passes hand it to the CPU backend
    (what `a @ b` imports to): inputs A, B, output C."""
    b, m, n, k = p.batch, p.m, p.n, p.k
    if b == 1:
        a_t, b_t, c_t = f"{m}x{k}xf32", f"{k}x{n}xf32", f"{m}x{n}xf32"
        body = (f"    %mm = linalg.matmul ins(%a, %b : tensor<{a_t}>, tensor<{b_t}>) "
                f"outs(%z : tensor<{c_t}>) -> tensor<{c_t}>\n")
    else:
        a_t, b_t, c_t = f"{b}x{m}x{k}xf32", f"{b}x{k}x{n}xf32", f"{b}x{m}x{n}xf32"
        maps = ("affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, "
                "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>")
        body = (f"    %mm = linalg.generic {{indexing_maps = [{maps}], iterator_types = "
                f"[\"parallel\", \"parallel\", \"parallel\", \"reduction\"]}} ins(%a, %b : tensor<{a_t}>, "
                f"tensor<{b_t}>) outs(%z : tensor<{c_t}>) {{\n"
                f"    ^bb0(%x: f32, %y: f32, %acc: f32):\n"
                f"      %p = arith.mulf %x, %y : f32\n      %s = arith.addf %acc, %p : f32\n"
                f"      linalg.yield %s : f32\n    }} -> tensor<{c_t}>\n")
    return (
        "builtin.module {\n"
        f"  func.func @forward(%0: memref<{a_t}>, %1: memref<{b_t}>, %2: memref<{c_t}>) attributes "
        "{sparcc.weights = [], sparcc.num_inputs = array<i64: 2>} {\n"
        f"    %a = bufferization.to_tensor %0 restrict : memref<{a_t}> to tensor<{a_t}>\n"
        f"    %b = bufferization.to_tensor %1 restrict : memref<{b_t}> to tensor<{b_t}>\n"
        "    %c0 = arith.constant 0.000000e+00 : f32\n"
        f"    %e = tensor.empty() : tensor<{c_t}>\n"
        f"    %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<{c_t}>) -> tensor<{c_t}>\n"
        f"{body}"
        f"    bufferization.materialize_in_destination %mm in restrict writable %2 : (tensor<{c_t}>, memref<{c_t}>) -> ()\n"
        "    func.return\n  }\n}\n"
    )


def build_candidate(p: MatmulProblem, config: dict[str, Any], folder: Path) -> Path:
    """The one-matmul library of `p` scheduled as `config`."""
    from sparcc.backends import cpu
    from sparcc.backends.cpu import toolchain
    from sparcc.backends.cpu.schedule import forced_matmul

    why = check_matmul(p, config)
    if why is not None:
        raise ValueError(f"{describe(config)} is not a schedule of {p.as_dict()}: {why}")
    folder.mkdir(parents=True, exist_ok=True)
    with forced_matmul(config):
        lowered = cpu.lower(matmul_text(p), p.threads)
    if lowered.fallback:
        raise RuntimeError(f"the schedule failed: {lowered.fallback}")
    toolchain.build_shared(lowered.llvm_ir, folder, "model")
    return folder / "libmodel.so"


def measure_matmul(p: MatmulProblem, configs: Sequence[dict[str, Any]],
                   progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Builds and times each configuration of `p`; one record per config:
    {"us": median microseconds or None, "noise": spread, "error": why not timed}."""
    out: list[dict[str, Any]] = [{} for _ in configs]
    with tempfile.TemporaryDirectory(prefix="sparcc-tune-") as tmp:
        libs: list[tuple[int, str]] = []
        for i, config in enumerate(configs):
            try:
                libs.append((i, str(build_candidate(p, config, Path(tmp) / f"c{i}"))))
            except Exception as e:  # noqa: BLE001 (a candidate that does not build is a data point, not a crash)
                out[i] = {"us": None, "noise": None, "error": f"build: {type(e).__name__}: {str(e)[:200]}"}
        if progress:
            progress(f"built {len(libs)}/{len(configs)}")
        pending = libs
        while pending:
            results, crashed = _run_worker(p, pending)
            for i, r in results.items():
                out[i] = r
            if crashed is None:
                break
            # the worker died on one library: record it, time the rest in a new worker
            out[crashed] = {"us": None, "noise": None, "error": "the timing process crashed on this candidate"}
            pending = [(i, lib) for i, lib in pending if i not in results and i != crashed]
    return out


def _run_worker(p: MatmulProblem, libs: list[tuple[int, str]]) -> tuple[dict[int, dict[str, Any]], int | None]:
    """Times `libs` in a fresh process; (results by index, the index it crashed on)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"problem": p.as_dict(), "libs": libs}, f)
        spec = f.name
    progress_file = spec + ".progress"
    try:
        run = subprocess.run([sys.executable, "-m", "sparcc.backends.cpu.tuning", spec, progress_file],
                             capture_output=True, text=True, timeout=1800, check=False)
        results: dict[int, dict[str, Any]] = {}
        for line in run.stdout.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                results[int(rec.pop("index"))] = rec
        if run.returncode == 0:
            return results, None
        started = Path(progress_file).read_text().split() if Path(progress_file).exists() else []
        crashed = int(started[-1]) if started else libs[0][0]
        return results, crashed
    finally:
        for path in (spec, progress_file):
            Path(path).unlink(missing_ok=True)


def _worker(spec_path: str, progress_path: str) -> None:
    """Times each library of the spec; prints one JSON line per library."""
    import ctypes

    import numpy as np

    from sparcc.backends import cpu

    spec = json.loads(Path(spec_path).read_text())
    p = MatmulProblem(**spec["problem"])
    _pin(p.threads)
    rng = np.random.default_rng(0)
    shape_a = (p.batch, p.m, p.k) if p.batch > 1 else (p.m, p.k)
    shape_b = (p.batch, p.k, p.n) if p.batch > 1 else (p.k, p.n)
    a = rng.standard_normal(shape_a, dtype=np.float32)
    b = rng.standard_normal(shape_b, dtype=np.float32)
    want = a @ b
    scale = float(np.abs(want).max()) or 1.0
    calls: dict[int, Callable[[], None]] = {}
    outputs: dict[int, Any] = {}
    results: dict[int, dict[str, Any]] = {}
    b_copies = [b] + [b.copy() for _ in range(_copies(b.nbytes) - 1)]
    log = open(progress_path, "a")  # noqa: SIM115 (the parent reads the last index started)
    for i, lib_path in spec["libs"]:
        log.write(f"{i}\n")
        log.flush()
        lib = cpu.load_library(Path(lib_path), p.threads)
        fn = lib.forward_packed
        fn.argtypes, fn.restype = [ctypes.c_void_p], None
        c = np.zeros(want.shape, dtype=np.float32)
        args = (ctypes.c_uint64 * 3)(a.ctypes.data, b.ctypes.data, c.ctypes.data)
        fn(args)
        if not np.isfinite(c).all() or float(np.abs(c - want).max()) > 1e-3 * scale:
            results[i] = {"us": None, "noise": None, "error": "wrong result"}
            continue
        calls[i] = _rotating(fn, [(ctypes.c_uint64 * 3)(a.ctypes.data, bc.ctypes.data, c.ctypes.data)
                                  for bc in b_copies])
        outputs[i] = c
    results.update(_time_calls(calls, p.threads))
    for i, rec in results.items():
        print(json.dumps({"index": i, **rec}), flush=True)


def _copies(nbytes: int) -> int:
    """Copies of a weight operand that together exceed ROTATE_BYTES."""
    return max(1, min(64, math.ceil(ROTATE_BYTES / max(nbytes, 1))))


def _rotating(fn: Callable[[Any], None], arg_sets: list[Any]) -> Callable[[], None]:
    """A call of `fn` on the next argument set each time."""
    nxt = itertools.cycle(arg_sets).__next__

    def call() -> None:
        fn(nxt())

    call.arg_sets = arg_sets  # type: ignore[attr-defined]  (kept alive with the call)
    return call


def _pin(threads: int) -> None:
    """One thread: stay on one core (not migrated between samples); which
    one varies by process, so that two tuners do not share one."""
    cpus = sorted(os.sched_getaffinity(0))
    if threads == 1 and len(cpus) > 1:
        chosen = os.environ.get("SPARCC_TUNE_CPU", "").strip()  # two tuners side by side: one core each
        os.sched_setaffinity(0, [int(chosen) if chosen.isdigit() and int(chosen) in cpus
                                 else cpus[os.getpid() % len(cpus)]])


def _time_calls(calls: dict[int, Callable[[], None]], threads: int) -> dict[int, dict[str, Any]]:
    """Times each call in interleaved rounds (module docstring): one record
    per call with the lower quartile and the median of its samples (us)."""
    # One thread: the CPU time of this thread, which a process that takes the
    # core meanwhile does not add to (the wall clock it does, and on a shared
    # machine that is most of the noise). More threads: the wall clock.
    clock = time.thread_time if threads == 1 else time.perf_counter
    if not calls:
        return {}
    first = next(iter(calls.values()))
    start = clock()
    first()
    reps = max(1, math.ceil(SAMPLE_SECONDS / max(clock() - start, 1e-7)))
    samples: dict[int, list[float]] = {i: [] for i in calls}
    todo = list(calls)
    for attempt in range(RETRIES + 1):
        order = list(todo)
        for _ in range(ROUNDS):
            random.shuffle(order)
            for i in order:
                fn = calls[i]
                fn()  # warm: caches, the thread team
                start = clock()
                for _ in range(reps):
                    fn()
                samples[i].append((clock() - start) / reps * 1e6)
        todo = [i for i in todo if _spread(samples[i]) > NOISY]
        if not todo or attempt == RETRIES:
            break
    out = {}
    for i, values in samples.items():
        values.sort()
        # the lower quartile: another process's burst slows some samples, never speeds one up
        out[i] = {"us": values[len(values) // 4], "median_us": values[len(values) // 2],
                  "noise": _spread(values), "samples": len(values)}
    return out


def _spread(values: list[float]) -> float:
    v = sorted(values)
    q1, q3, mid = v[len(v) // 4], v[(3 * len(v)) // 4], v[len(v) // 2]
    return (q3 - q1) / mid if mid > 0 else 0.0




# ----------------------------------------------------------------------------
# cpu.sparse: dense or sparse, and which storage format, for a Linear layer
# ----------------------------------------------------------------------------

SPARSE = "cpu.sparse"
# the formats a pattern can be stored in (the first: the pattern's usual one)
_FORMATS = {"unstructured": ("csr", "ell", "dcsr", "coo", "csc")}
_KINDS = ("csr", "csc", "coo", "dcsr", "ell", "bsr", "nm", "vnm")


@dataclass(frozen=True)
class SparseProblem:
    """y[m, n] = x[m, k] @ W[n, k]^T with W pruned to `pattern` (unstructured,
    N:M, block:RxC) at `density` (N:M: N/M), on `threads` threads. `stored`:
    the stored values per format when known (a compile knows its weight's)."""

    m: int
    n: int
    k: int
    density: float
    pattern: str
    threads: int = 1
    fmt: str = ""
    stored: float = 0.0  # stored values / (n * k) of `fmt`, when known (a compile's own weight)

    def prune_spec(self) -> str:
        if self.pattern == "unstructured":
            return f"unstructured:{1 - self.density:.6g}"
        if self.pattern.startswith("block:"):
            return f"{self.pattern}:{1 - self.density:.6g}"
        return self.pattern

    def formats(self) -> tuple[str, ...]:
        if self.pattern.startswith("block:"):
            return (f"bsr:{self.pattern.split(':', 1)[1]}",)
        return _FORMATS.get(self.pattern, (self.pattern,))

    def as_dict(self) -> dict[str, Any]:
        return {"m": self.m, "n": self.n, "k": self.k, "density": self.density, "pattern": self.pattern,
                "threads": self.threads, **({"format": self.fmt} if self.fmt else {})}


def sparse_problem(values: dict[str, Any]) -> SparseProblem:
    """From {"M", "N", "K", "density", "pattern"[, "format", "threads"]}:
    pattern "unstructured" (format csr, ell, dcsr, coo or csc), "N:M" or
    "block:RxC"."""
    from sparcc.dialects.sparse_formats import parse_prune

    v = {str(k).lower(): x for k, x in values.items()}
    try:
        m, n, k = (int(v[x]) for x in ("m", "n", "k"))
        threads = int(v.get("threads", 1))
        pattern = str(v.get("pattern", "unstructured")).strip().lower()
        density = float(v.get("density", 0))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"a sparse problem needs whole numbers M, N, K and a density: {values}") from None
    if pattern != "unstructured":
        try:
            kind, args = parse_prune(pattern if ":" in pattern and not pattern.startswith("block:")
                                     else f"{pattern}:0.5")
        except ValueError as e:
            raise ValueError(f"pattern '{pattern}': unstructured, N:M or block:RxC ({e})") from None
        if kind == "nm":
            density = args[0] / args[1]
    if not 0 < density <= 1 or min(m, n, k, threads) < 1:
        raise ValueError(f"a sparse problem needs sizes >= 1 and 0 < density <= 1: {values}")
    fmt = str(v.get("format", "")).strip().lower()
    p = SparseProblem(m, n, k, round(density, 6), pattern, threads)
    if fmt and fmt not in p.formats():
        raise ValueError(f"format '{fmt}' does not store pattern '{pattern}' (one of {', '.join(p.formats())})")
    return SparseProblem(m, n, k, round(density, 6), pattern, threads, fmt or p.formats()[0])


def layer_problem(batch_rows: int, rows: int, cols: int, fmt: str, stored: int, threads: int) -> SparseProblem:
    """The cpu.sparse problem of a compiled layer: its weight rows x cols in
    `fmt` with `stored` values, `batch_rows` input rows."""
    from sparcc.backends.cpu.sparse_kernels import call_params

    kind, params, _ = call_params(fmt)
    frac = stored / max(rows * cols, 1)
    if kind == "nm":
        pattern = f"{params[0]}:{params[1]}"
    elif kind == "bsr":
        pattern = f"block:{params[0]}x{params[1]}"
    else:
        pattern = "unstructured"
    fmt = fmt if pattern != "unstructured" else fmt.split("@")[0]
    return SparseProblem(batch_rows, rows, cols, round(min(frac, 1.0), 6), pattern, threads, fmt, frac)


@functools.lru_cache(maxsize=256)
def stored_fraction(n: int, k: int, prune_spec: str, fmt: str) -> float:
    """Stored values (padding included) / n*k for a random weight pruned to
    `prune_spec` and stored in `fmt`."""
    import numpy as np

    from sparcc.dialects.sparse_formats import encode, prune

    rows, cols = min(n, 1024), min(k, 1024)  # the fraction, not the weight: a corner is enough
    w = prune(np.random.default_rng(0).standard_normal((rows, cols), dtype=np.float32), prune_spec)
    return encode(w, fmt).stored / (rows * cols)


class SparseSpace:
    """The cost space `cpu.sparse` (sparcc.costmodel.CostSpace)."""

    name = SPARSE

    def problem(self, values: dict[str, Any]) -> SparseProblem:
        return sparse_problem(values)

    def problem_dict(self, p: SparseProblem) -> dict[str, Any]:
        return p.as_dict()

    def candidates(self, p: SparseProblem) -> list[dict[str, Any]]:
        return [{"run": "dense"}] + [{"run": "sparse", "format": f} for f in p.formats()]

    def heuristic(self, p: SparseProblem) -> dict[str, Any]:
        """The rate table's rule for the problem's format (this host's
        kernels: target.relative_rate): sparse where its stored fraction is
        below the kind's measured rate."""
        from sparcc.backends.cpu.sparse_kernels import call_params
        from sparcc.backends.cpu.target import relative_rate

        fmt = p.fmt or p.formats()[0]
        frac = stored_fraction(p.n, p.k, p.prune_spec(), fmt)
        return {"run": "sparse", "format": fmt} if frac < relative_rate()[call_params(fmt)[0]] else {"run": "dense"}

    def features(self, p: SparseProblem, config: dict[str, Any],
                 target: dict[str, float] | None = None) -> dict[str, float]:
        from sparcc.backends.cpu.sparse_kernels import call_params

        lg = lambda x: math.log2(max(x, 1))  # noqa: E731
        dense = config["run"] == "dense"
        if dense:
            frac = 1.0
        elif config["format"] == p.fmt and p.stored > 0:
            frac = p.stored
        else:
            frac = stored_fraction(p.n, p.k, p.prune_spec(), config["format"])
        kind, params, _ = ("dense", [0, 0, 0], 0) if dense else call_params(config["format"])
        weight_bytes = p.n * p.k * (4 if dense else frac * (8 if kind in ("csr", "csc", "coo", "dcsr", "ell") else 5))
        return {
            "log_m": lg(p.m), "log_n": lg(p.n), "log_k": lg(p.k), "threads": p.threads, "density": p.density,
            "dense": float(dense), **{f"kind_{x}": float(kind == x) for x in _KINDS},
            "stored_fraction": frac, "log_flops": lg(2 * p.m * p.n * p.k * frac),
            "log_stored": lg(p.n * p.k * frac), "log_weight": lg(p.n * p.k), "log_outputs": lg(p.m * p.n),
            "stored_per_row": p.k * frac, "block_rows": params[0] if kind == "bsr" else 1,
            "block_cols": params[1] if kind == "bsr" else 1, "group": params[1] if kind == "nm" else 1,
            "log_weight_bytes": lg(weight_bytes), "log_act_bytes": lg(4 * p.m * (p.n + p.k)),
            "intensity": 2 * p.m * p.n * p.k * frac / (weight_bytes + 4 * p.m * (p.n + p.k)),
            **(target or machine()),
        }

    def target_features(self) -> dict[str, float]:
        return machine()

    def key(self, config: dict[str, Any]) -> tuple:
        return (config["run"], config.get("format", ""))

    def describe(self, config: dict[str, Any]) -> str:
        return "dense" if config["run"] == "dense" else f"sparse {config['format']}"

    def measure(self, p: SparseProblem, configs: Sequence[dict[str, Any]],
                progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        return measure_sparse(p, configs)

    def domain(self, problems: Sequence[SparseProblem],
               targets: Sequence[dict[str, float] | None] = ()) -> dict[str, Any]:
        return SPACE.domain(problems, targets)  # type: ignore[arg-type]

    def covers(self, domain: dict[str, Any], p: SparseProblem) -> str | None:
        return SPACE.covers(domain, p)  # type: ignore[arg-type]


SPARSE_SPACE = SparseSpace()


def measure_sparse(p: SparseProblem, configs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Times each configuration of the layer in one worker process: dense is
    sparcc's compiled matmul (scheduled as a compile would), sparse the
    format's kernel (sparse_kernels.bind), on the same pruned weight."""
    with tempfile.TemporaryDirectory(prefix="sparcc-tune-") as tmp:
        lib = None
        if any(c["run"] == "dense" for c in configs):
            mp = MatmulProblem(1, p.m, p.n, p.k, p.threads)
            config, _ = choose(mp)
            lib = str(build_candidate(mp, config, Path(tmp) / "dense"))
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"problem": p.as_dict(), "prune": p.prune_spec(), "configs": list(configs), "lib": lib}))
        run = subprocess.run([sys.executable, "-m", "sparcc.backends.cpu.tuning", "--sparse", str(spec)],
                             capture_output=True, text=True, timeout=1800, check=False)
        out: list[dict[str, Any]] = [{"us": None, "noise": None, "error": "the timing process crashed"} for _ in configs]
        for line in run.stdout.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                out[int(rec.pop("index"))] = rec
        return out


def _sparse_worker(spec_path: str) -> None:
    import ctypes

    import numpy as np

    from sparcc.backends import cpu
    from sparcc.backends.cpu import sparse_kernels as sk
    from sparcc.dialects.sparse_formats import encode, prune

    spec = json.loads(Path(spec_path).read_text())
    pd = spec["problem"]
    threads = int(pd["threads"])
    _pin(threads)
    cpu.set_num_threads(threads)
    rng = np.random.default_rng(0)
    w = prune(rng.standard_normal((pd["n"], pd["k"]), dtype=np.float32), spec["prune"])
    x = rng.standard_normal((pd["m"], pd["k"]), dtype=np.float32)
    want = x @ w.T
    scale = float(np.abs(want).max()) or 1.0
    calls: dict[int, Callable[[], None]] = {}
    results: dict[int, dict[str, Any]] = {}
    alive: list[Any] = []  # the buffers the calls read and write
    for i, config in enumerate(spec["configs"]):
        if config["run"] == "dense":
            lib = cpu.load_library(Path(spec["lib"]), threads)
            fn = lib.forward_packed
            fn.argtypes, fn.restype = [ctypes.c_void_p], None
            wts = [np.ascontiguousarray(w.T) for _ in range(_copies(w.nbytes))]
            y = np.zeros(want.shape, np.float32)
            call = _rotating(fn, [(ctypes.c_uint64 * 3)(x.ctypes.data, wt.ctypes.data, y.ctypes.data) for wt in wts])
            keep = (wts, y)
        else:
            storage = encode(w, config["format"])
            size = sum(v.nbytes for v in storage.buffers().values())
            y = np.zeros(want.shape, np.float32)
            runs = [sk.bind(encode(w, config["format"]) if n else storage, x, sk.MODE_LINEAR, out=y)[0]
                    for n in range(_copies(size))]
            call = _rotating(lambda run: run(), runs)
            keep = (runs, y)
        call()
        if float(np.abs(y - want).max()) > 1e-3 * scale:
            results[i] = {"us": None, "noise": None, "error": "wrong result"}
            continue
        calls[i] = call
        alive.append(keep)
    results.update(_time_calls(calls, threads))
    for i, rec in results.items():
        print(json.dumps({"index": i, **rec}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--sparse":
        _sparse_worker(sys.argv[2])
    else:
        _worker(sys.argv[1], sys.argv[2])
