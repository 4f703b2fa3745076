"""
Ahead-of-time artifacts: a compiled model as a folder that runs without compiling.

`compile(model, args, out, target=...)` writes one (what `sparcc compile`
runs): the target's writer (Target.write_artifact) fills a private folder
beside `out`, which replaces `out`'s files only once it is complete.
`load(out)` reads its manifest.json, which names the target, and returns
that target's `CompiledProgram` (Target.load_artifact). What the folder
holds is the target's (the CPU's: backends/cpu/artifact.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sparcc
import torch
from sparcc.errors import SparccError

FORMAT = 1  # manifest layout; load() reads this one only
MANIFEST = "manifest.json"


@dataclass
class Artifact:
    """What `compile` wrote."""

    folder: Path
    manifest: dict[str, Any]
    report: str


# ----------------------------------------------------------------------------
# compile
# ----------------------------------------------------------------------------


def compile(
    model: torch.nn.Module | Callable[..., Any],
    args: Sequence[torch.Tensor],
    out: str | os.PathLike[str],
    target: str = "cpu",
    threads: int | None = None,
    progress: bool | None = None,
    name: str | None = None,
    quant: Any = None,
    sparsity: Any = None,
) -> Artifact:
    """Compiles `model` for `args` into the folder `out` (created if needed).

    threads: the team size the code is divided for (default
    SPARCC_NUM_THREADS, else this process's CPUs). progress: a progress bar
    on stderr (default: when stderr is a terminal). name: what the report
    calls the model. quant: weight quantisation per layer (sparcc/quantize.py).
    sparsity: weight pruning and sparse storage per layer (sparcc/sparsify.py)."""
    from sparcc.backends import get_target
    from sparcc.driver import prepare

    tgt = get_target(target, compiling=True)
    if not tgt.writes_artifacts:
        raise SparccError(f"target '{tgt.name}' does not write ahead-of-time artifacts; use sparcc.jit")
    threads = tgt.check_threads(threads)
    if not str(out).strip():
        raise SparccError(f"output {str(out)!r}: expected the name of a folder for the artifact")
    if any(isinstance(a, torch.Tensor) and a.layout != torch.strided for a in args):
        raise SparccError(
            "sparse inputs are not supported in ahead-of-time artifacts yet (their buffers "
            "have no C API); compile with sparcc.jit, or pass the input dense"
        )
    final = Path(os.path.realpath(out))
    work = _prepare(final)
    stages = Stages(["import", "passes", "lower", "weights", "build"], progress)
    try:
        with stages("import", "importing the model (torch.export)"):
            prepared = prepare(model, args, tgt, quant, sparsity, threads=threads)
        try:
            result = tgt.write_artifact(work, prepared, threads, stages,
                                        name or getattr(model, "__name__", type(model).__name__))
        except OSError as e:
            raise SparccError(f"could not write the artifact into '{work}': {e.strerror or e}") from None
        _swap_into_place(work, final)
    finally:
        stages.close()
        shutil.rmtree(work, ignore_errors=True)
    result.folder = Path(out)
    return result


def _prepare(folder: Path) -> Path:
    """Checks that `folder` can take an artifact and returns the empty
    temporary folder beside it that the compile writes into: the user's
    folder is touched only once the artifact is complete (_swap_into_place),
    so a failed or interrupted compile leaves a good artifact as it was."""
    try:
        if folder.exists() and not folder.is_dir():
            raise SparccError(f"output '{folder}' is a file, not a folder; pass -o a folder")
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SparccError(f"cannot create the output folder '{folder}': {e.strerror or e}") from None
    work = folder.parent / f".{folder.name}.sparcc-{uuid.uuid4().hex[:12]}"
    try:
        work.mkdir()  # with the user's umask, as the artifact folder will have
        return work
    except OSError as e:
        raise SparccError(f"cannot write the artifact beside '{folder}': {e.strerror or e}") from None


def _swap_into_place(work: Path, folder: Path) -> None:
    """Moves the complete artifact in `work` to `folder`: a new folder by one
    rename; into an existing one (which may hold other files, or be someone's
    working directory) file by file, each replaced atomically, the manifest
    last. Until then the previous artifact is untouched; in the moment
    between the renames, load() would find hashes that do not match."""
    try:
        if not folder.exists():
            os.rename(work, folder)
            return
        ours = sorted(p.name for p in work.iterdir() if p.name != MANIFEST) + [MANIFEST]
        for name in ours:
            if (folder / name).is_dir() and not (folder / name).is_symlink():
                shutil.rmtree(folder / name)
            os.replace(work / name, folder / name)
    except OSError as e:
        raise SparccError(f"could not move the artifact into '{folder}': {e.strerror or e}") from None


class Stages:
    """Times named stages; shows them as a progress bar on stderr."""

    def __init__(self, names: list[str], enabled: bool | None):
        from tqdm import tqdm

        self.seconds: dict[str, float] = {}
        self.bar = tqdm(
            total=len(names), file=sys.stderr, leave=False, dynamic_ncols=True,
            disable=not (sys.stderr.isatty() if enabled is None else enabled),
            bar_format="sparcc: {desc} {bar} {n_fmt}/{total_fmt} [{elapsed}]",
        )

    @contextlib.contextmanager
    def __call__(self, name: str, what: str) -> Iterator[None]:
        self.bar.set_description_str(what)
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------


def load(folder: str | os.PathLike[str], threads: int | None = None, verify: bool = True) -> Any:
    """Loads an artifact that `compile` (or `sparcc compile`) wrote: a
    callable like `sparcc.jit`'s programs, without compiling.

    threads: the runtime's team size (default SPARCC_NUM_THREADS, else the
    threads the code was divided for). verify: check the files' sha256
    against the manifest (reads every file once)."""
    from sparcc.backends import get_target

    path = Path(folder)
    if not path.is_dir():
        raise SparccError(f"'{path}': no such folder (expected what `sparcc compile -o` wrote)")
    if (path / "shard.json").is_file() or (path / "rank0" / "shard.json").is_file():
        from sparcc.shard import load_sharded  # sparcc compile --shard: one artifact per rank

        return load_sharded(path, threads)
    m = read_manifest(path)
    tgt = get_target(m.get("target"))
    if threads is not None:
        tgt.check_threads(threads)
    return tgt.load_artifact(path, m, threads, verify)


def read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    try:
        m = json.loads(file.read_text())
    except FileNotFoundError:
        raise SparccError(f"'{path}' has no {MANIFEST}: not a sparcc artifact, or its compile did not finish") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SparccError(f"'{file}' is corrupt ({e}); recompile it") from None
    if not isinstance(m, dict) or "format" not in m or "sparcc_version" not in m:
        raise SparccError(f"'{file}' is corrupt (no format or sparcc_version); recompile it")
    if m["format"] != FORMAT:
        raise SparccError(
            f"'{path}' was written by sparcc {m['sparcc_version']} (artifact format {m['format']}); "
            f"sparcc {sparcc.__version__} reads format {FORMAT}: recompile it with this sparcc"
        )
    return m
