"""
The on-disk compile cache: compiled libraries, reused across processes.

    $SPARCC_CACHE_DIR (default ~/.cache/sparcc, or under $XDG_CACHE_HOME)
      jit/<key>/libmodel.so        the compiled model
      jit/<key>/libsparcc_rt.so    the runtime it links (RUNPATH=$ORIGIN)
      jit/<key>/linalg.mlir        the IR after sparcc's passes
      jit/<key>/entry.json         what the caller needs besides the code,
                                   the sha256 of every other file of the
                                   entry, and a sha256 of itself

The key hashes the imported `nn` IR (which names every weight with its
shape and dtype: the weights' identity; their values never enter the
code), the compile options, the host CPU and sparcc's version and source.

An entry is complete only once its folder has been renamed into place, and
it is checked on every hit: a missing, extra or changed file, or an
entry.json that does not match its own hash (a truncated or corrupted
entry), gets the entry deleted and rebuilt.
Two processes that build the same entry at once each build in a private
folder; the first rename wins and the other uses the winner's entry.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sparcc
from sparcc.errors import SparccError

ENTRY = "entry.json"
LIBRARY = "libmodel.so"  # the CPU target's library in its entries (tests damage it)

# counts for this process: tests and users can see whether a call compiled
STATS = {"compiles": 0, "hits": 0, "rebuilt": 0}


def enabled() -> bool:
    return os.environ.get("SPARCC_CACHE", "1").strip().lower() not in ("0", "off", "no", "false")


def root() -> Path:
    """$SPARCC_CACHE_DIR, else $XDG_CACHE_HOME/sparcc, else ~/.cache/sparcc."""
    env = os.environ.get("SPARCC_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sparcc"


def folder() -> Path:
    return root() / "jit"


@functools.cache
def compiler_digest() -> str:
    """sparcc's version and a hash of its own sources: an edited compiler
    never reuses code that an older one built."""
    h = hashlib.sha256(sparcc.__version__.encode())
    root = Path(sparcc.__file__).resolve().parent
    roots = [root]
    for mod in ("sparcc.dialects", "sparcc.passes", "sparcc.backends"):
        spec = importlib.util.find_spec(mod)  # found, not imported: a warm start needs no xDSL
        roots.append(Path(spec.origin).resolve().parent)
    for r in roots:
        for path in sorted(r.rglob("*")):
            if path.suffix in (".py", ".c") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(r)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def key(ir_text: str, options: dict[str, Any], target: Any) -> str:
    """The entry of `ir_text` compiled with `options` by `target` (a
    sparcc.backends.Target, whose identity() names the host it builds for)."""
    h = hashlib.sha256()
    for part in (
        compiler_digest(),
        json.dumps(options, sort_keys=True),
        *target.identity(),
        ir_text,
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _seal(meta: dict[str, Any], files: dict[str, str]) -> str:
    """entry.json's text: the metadata, the files' hashes and a hash of both."""
    body = {"meta": meta, "files": files}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return json.dumps({**body, "sha256": digest}, indent=1)


def _valid(entry: Path, required: frozenset[str] | set[str]) -> dict[str, Any] | None:
    """The entry's metadata if the entry is complete and intact, else None."""
    try:
        sealed = json.loads((entry / ENTRY).read_bytes())
        body = {"meta": sealed["meta"], "files": sealed["files"]}
        if hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() != sealed["sha256"]:
            return None
        files = body["files"]
        present = {p.name for p in entry.iterdir()} - {ENTRY}
        if present != set(files) or not required <= present:
            return None
        for name, digest in files.items():
            if not (entry / name).is_file() or sha256_file(entry / name) != digest:
                return None
        return body["meta"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _discard(entry: Path) -> None:
    """Moves a bad entry out of the way (atomically), then deletes it."""
    trash = entry.parent / f".trash-{uuid.uuid4().hex}"
    try:
        os.rename(entry, trash)
    except OSError:
        return  # someone else moved it already
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)


def lookup(k: str, required: frozenset[str] | set[str] = frozenset()) -> tuple[Path, dict[str, Any]] | None:
    """The entry for key `k` and its metadata, if it is there and intact
    (counted as a hit); None otherwise (nothing is built or deleted)."""
    entry = folder() / k
    if os.path.lexists(entry):
        meta = _valid(entry, required)
        if meta is not None:
            STATS["hits"] += 1
            return entry, meta
    return None


def get_or_build(k: str, build: Callable[[Path], dict[str, Any]],
                 required: frozenset[str] | set[str] = frozenset()) -> tuple[Path, dict[str, Any], bool]:
    """The entry for key `k`: found and checked, or built by `build(folder)`
    (which writes the target's files, `required` among them, into folder and
    returns the metadata). The flag says whether the entry was found (True)
    or built here (False)."""
    entry = folder() / k
    if (found := lookup(k, required)) is not None:
        return (*found, True)
    if os.path.lexists(entry):  # there, but damaged or incomplete
        STATS["rebuilt"] += 1
        _discard(entry)
    try:
        folder().mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder(), prefix=f".build-{k}-"))
    except OSError as e:
        raise SparccError(
            f"cannot use the compile cache in '{folder()}': {e.strerror or e}; set SPARCC_CACHE_DIR "
            "to a folder you can write, or turn the cache off with SPARCC_CACHE=0"
        ) from None
    try:
        meta = build(tmp)
        STATS["compiles"] += 1
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        (tmp / ENTRY).write_text(_seal(meta, files))
        for attempt in range(2):
            try:
                os.rename(tmp, entry)
                return entry, meta, False
            except OSError:
                # another process finished first: use its entry if it is sound
                theirs = _valid(entry, required)
                if theirs is not None:
                    return entry, theirs, False
                if attempt == 0:
                    _discard(entry)
        raise SparccError(f"could not place the compiled entry at {entry}: something else keeps writing there")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def clear() -> None:
    """Deletes every compiled entry and the trace cache (sparcc.trace_cache)."""
    shutil.rmtree(folder(), ignore_errors=True)
    shutil.rmtree(root() / "trace", ignore_errors=True)
