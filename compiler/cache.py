"""
The on-disk compile cache: compiled libraries, reused across processes.

    $SPARCC_CACHE_DIR (default ~/.cache/sparcc, or under $XDG_CACHE_HOME)
      jit/<key>/libmodel.so        the compiled model
      jit/<key>/libsparcc_rt.so    the runtime it links (RUNPATH=$ORIGIN)
      jit/<key>/entry.json         what the caller needs besides the code,
                                   and the sha256 of libmodel.so

The key hashes the imported `nn` IR (which names every weight with its
shape and dtype: the weights' identity; their values never enter the
code), the compile options, the host CPU and sparcc's version and source.

An entry is complete only once its folder has been renamed into place, and
it is checked on every hit: a missing file, a bad entry.json or a library
whose hash differs (a truncated or corrupted entry) is deleted and rebuilt.
Two processes that build the same entry at once each build in a private
folder; the first rename wins and the other uses the winner's entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sparcc
from sparcc.backends.cpu import toolchain

ENTRY = "entry.json"
LIBRARY = "libmodel.so"

# counts for this process: tests and users can see whether a call compiled
STATS = {"compiles": 0, "hits": 0, "rebuilt": 0}


def enabled() -> bool:
    return os.environ.get("SPARCC_CACHE", "1").strip().lower() not in ("0", "off", "no", "false")


def folder() -> Path:
    return toolchain.cache_root() / "jit"


@functools.cache
def compiler_digest() -> str:
    """sparcc's version and a hash of its own sources: an edited compiler
    never reuses code that an older one built."""
    h = hashlib.sha256(sparcc.__version__.encode())
    root = Path(sparcc.__file__).resolve().parent
    roots = [root]
    for mod in ("sparcc.dialects", "sparcc.passes", "sparcc.backends"):
        spec = __import__(mod, fromlist=["x"])
        roots.append(Path(spec.__file__).resolve().parent)
    for r in roots:
        for path in sorted(r.rglob("*")):
            if path.suffix in (".py", ".c") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(r)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def key(ir_text: str, options: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for part in (
        compiler_digest(),
        json.dumps(options, sort_keys=True),
        toolchain.host_cpu(),
        ",".join(toolchain.host_features()),
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


def _valid(entry: Path) -> dict[str, Any] | None:
    """The entry's metadata if the entry is complete and intact, else None."""
    try:
        meta = json.loads((entry / ENTRY).read_text())
        lib = entry / LIBRARY
        if not (entry / toolchain.RUNTIME).is_file():
            return None
        if meta.get("sha256") != sha256_file(lib):
            return None
        return meta
    except (OSError, ValueError, AttributeError):
        return None


def _discard(entry: Path) -> None:
    """Moves a bad entry out of the way (atomically), then deletes it."""
    trash = entry.parent / f".trash-{uuid.uuid4().hex}"
    try:
        os.rename(entry, trash)
    except OSError:
        return  # someone else moved it already
    shutil.rmtree(trash, ignore_errors=True)


def get_or_build(k: str, build: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any], bool]:
    """The entry for key `k`: found and checked, or built by `build(folder)`
    (which writes libmodel.so into folder and returns the metadata). The
    flag says whether the entry was found (True) or built here (False)."""
    entry = folder() / k
    if entry.exists():
        meta = _valid(entry)
        if meta is not None:
            STATS["hits"] += 1
            return entry, meta, True
        STATS["rebuilt"] += 1
        _discard(entry)
    folder().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder(), prefix=f".build-{k}-"))
    try:
        meta = build(tmp)
        STATS["compiles"] += 1
        meta["sha256"] = sha256_file(tmp / LIBRARY)
        (tmp / ENTRY).write_text(json.dumps(meta, indent=1))
        for attempt in range(2):
            try:
                os.rename(tmp, entry)
                return entry, meta, False
            except OSError:
                # another process finished first: use its entry if it is sound
                theirs = _valid(entry)
                if theirs is not None:
                    return entry, theirs, False
                if attempt == 0:
                    _discard(entry)
        raise OSError(f"could not place the compiled entry at {entry}")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def clear() -> None:
    shutil.rmtree(folder(), ignore_errors=True)
