"""
Sparse formats of the `sparse` dialect: exact numpy reference encoders and decoders.

A format separates the *logical structure* of a sparse matrix from its
*memory layout*, as MLIR's sparse_tensor and UniSparse do. It is a list of
storage levels, outermost first. Each level walks one coordinate expression
of one matrix dimension (`d0`, `d1 / 4`, `d1 % 4`: a dimension may be split
into blocks) and has a level type that says which coordinates it stores:

| level type       | stores, under each parent entry                         | buffers      |
| ---------------- | ------------------------------------------------------- | ------------ |
| dense            | every coordinate 0..size-1                              | none         |
| compressed       | the coordinates that have a nonzero below them          | pos, crd     |
| compressed(nu)   | as compressed, one entry per stored leaf (non-unique)   | pos, crd     |
| compressed(pad)  | as compressed, padded to one width for all parents (ELL)| pos=[width], crd |
| singleton        | exactly one coordinate (after a non-unique level: COO)  | crd          |
| nm(n,m)          | exactly n of the m coordinates (N:M structured)         | crd          |

Blocked and structured formats are not special cases, they are splits:
BSR 4x4 is (d0/4: dense, d1/4: compressed, d0%4: dense, d1%4: dense), 2:4 is
(d0: dense, d1/4: dense, d1%4: nm(2,4)), and V:N:M (VENOM/Spatha: V rows share
each N-of-M column choice) is (d0/V: dense, d1/M: dense, d1%M: nm(N,M),
d0%V: dense). The presets below are built from these primitives:

| spec          | levels                                                      |
| ------------- | ----------------------------------------------------------- |
| dense         | d0: dense, d1: dense                                        |
| csr           | d0: dense, d1: compressed                                   |
| csc           | d1: dense, d0: compressed                                   |
| coo           | d0: compressed(nu), d1: singleton                           |
| dcsr          | d0: compressed, d1: compressed                              |
| ell           | d0: dense, d1: compressed(pad)                              |
| bsr:RxC       | d0/R: dense, d1/C: compressed, d0%R: dense, d1%C: dense (`bcsr`, `bsr:4` = 4x4) |
| N:M, nm:N:M   | d0: dense, d1/M: dense, d1%M: nm(N,M)                       |
| vnm:V:N:M     | d0/V: dense, d1/M: dense, d1%M: nm(N,M), d0%V: dense        |

Spec strings: a preset, or an explicit `levels=(...)`, then `;key=value`
options. `levels=(dense,compressed);order=(1,0)` gives one level per
dimension (level k walks dimension order[k]; `nm(n,m)` there splits its
dimension into groups of m; `block=(R,C)` tiles both dimensions into dense
RxC blocks); the general form names each level's expression:
`levels=(d0/4:dense,d1/4:compressed,d0%4:dense,d1%4:dense)`. Options:
`pos=8|16|32|64` and `crd=...` (unsigned bit widths of the position and
coordinate buffers; default 32, and 8 for the coordinates of N:M formats
with M <= 256), `pad=zero|none` (a dimension that its block or group size
does not divide is padded with zeros up to a multiple, or rejected). The
canonical spec is the preset when there is one, with non-default options.

Storage (`encode`), level by level, each entry of a level being one stored
coordinate under one entry (its parent) of the level above, in order:
`positions[l]` (compressed levels, length parents + 1: the entries of parent p
are pos[p]:pos[p+1]; for compressed(pad) a single number, the width),
`coordinates[l]` (every level but dense, one per entry, ascending under each
parent) and `values` (one per entry of the last level, the input's dtype).
Padded entries (N:M groups with fewer than N nonzeros, ELL rows shorter than
the width) take the smallest unused coordinates and the value 0, so every
stored coordinate is distinct and decoding is a plain scatter. Zero padding
outside the matrix (pad=zero) is stored like any zero and dropped by decode.

Pruning (`prune(dense, spec)`) by magnitude, ties to the lower index:
`unstructured:S` (keep round((1-S)*size) weights), `N:M` / `nm:N:M` (the N
largest of every M along a row), `vnm:V:N:M` (the N columns of every M with
the largest L2 norm over each block of V rows), `block:RxC:S` (the RxC
blocks of largest L2 norm, keeping round((1-S)*blocks) of them).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Level",
    "SparseFormat",
    "SparseStorage",
    "block_occupancy",
    "decode",
    "density",
    "encode",
    "nnz",
    "parse_format",
    "prune",
    "row_occupancy",
]

KINDS = ("dense", "compressed", "singleton", "nm")
WIDTHS = (8, 16, 32, 64)


@dataclass(frozen=True)
class Level:
    """One storage level: `kind` over the coordinate (d[dim] // div) % mod (mod 0: none).

    `nu`: non-unique (compressed before a singleton); `pad`: uniform width (ELL);
    `n`, `m`: the nm(n, m) level type.
    """

    kind: str
    dim: int
    div: int = 1
    mod: int = 0
    nu: bool = False
    pad: bool = False
    n: int = 0
    m: int = 0

    @property
    def type_str(self) -> str:
        if self.kind == "nm":
            return f"nm({self.n},{self.m})"
        if self.kind == "compressed" and (self.nu or self.pad):
            return "compressed(nu)" if self.nu else "compressed(pad)"
        return self.kind

    @property
    def expr_str(self) -> str:
        return (
            f"d{self.dim}"
            + (f"/{self.div}" if self.div != 1 else "")
            + (f"%{self.mod}" if self.mod else "")
        )

    @property
    def whole(self) -> bool:
        return self.div == 1 and self.mod == 0


@dataclass(frozen=True)
class SparseFormat:
    """A sparse matrix format: storage levels, buffer bit widths, padding (module docstring)."""

    levels: tuple[Level, ...]
    pos: int = 32
    crd: int = 32
    pad: str = "zero"
    rank: int = field(default=2, repr=False)

    # --- spec strings ----------------------------------------------------------

    @property
    def default_crd(self) -> int:
        ms = [lv.m for lv in self.levels if lv.kind == "nm"]
        return 8 if ms and max(ms) <= 256 else 32

    @property
    def spec(self) -> str:
        """The canonical spec string (a preset name when there is one)."""
        head = _preset_name(self.levels)
        if head is None:
            if all(lv.whole for lv in self.levels):
                head = "levels=(" + ",".join(lv.type_str for lv in self.levels) + ")"
                order = tuple(lv.dim for lv in self.levels)
                if order != tuple(range(self.rank)):
                    head += ";order=(" + ",".join(map(str, order)) + ")"
            else:
                head = (
                    "levels=("
                    + ",".join(f"{lv.expr_str}:{lv.type_str}" for lv in self.levels)
                    + ")"
                )
        opts = []
        if self.pos != 32:
            opts.append(f"pos={self.pos}")
        if self.crd != self.default_crd:
            opts.append(f"crd={self.crd}")
        if self.pad != "zero":
            opts.append(f"pad={self.pad}")
        return ";".join([head, *opts])

    def __str__(self) -> str:
        return self.spec

    # --- shape questions ----------------------------------------------------------

    def tile(self, dim: int) -> int:
        """The multiple that dimension `dim` is padded to (its outermost split)."""
        return max(lv.div for lv in self.levels if lv.dim == dim)

    def padded_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """`shape` padded to multiples of each dimension's tile; ValueError if it is
        not divisible and pad=none, or not a matrix."""
        if len(shape) != self.rank:
            raise ValueError(
                f"sparse format '{self.spec}' is for rank-{self.rank} tensors, got shape {list(shape)}"
            )
        out = []
        for d, size in enumerate(shape):
            t = self.tile(d)
            if size % t:
                if self.pad == "none":
                    raise ValueError(
                        f"sparse format '{self.spec}': dimension {d} of shape {list(shape)} "
                        f"is not a multiple of {t} (pad=none)"
                    )
                size += t - size % t
            out.append(size)
        return tuple(out)

    def level_sizes(self, shape: Sequence[int]) -> list[int]:
        padded = self.padded_shape(shape)
        return [lv.mod if lv.mod else padded[lv.dim] // lv.div for lv in self.levels]

    def static_entries(self, shape: Sequence[int]) -> list[int] | None:
        """Entries per level when they do not depend on the data (dense and nm levels
        only), else None."""
        counts, parents = [], 1
        for lv, size in zip(self.levels, self.level_sizes(shape), strict=True):
            if lv.kind == "dense":
                parents *= size
            elif lv.kind == "nm":
                parents *= lv.n
            else:
                return None
            counts.append(parents)
        return counts

    def static_storage(
        self, shape: Sequence[int]
    ) -> tuple[list[tuple[str, list[int], int]], list[int]]:
        """(index buffers as (role, shape, bits), values shape) for a static layout.

        Each buffer is shown as a matrix [entries of level 0, rest]. ValueError for
        formats whose sizes depend on the data (compressed and singleton levels)."""
        counts = self.static_entries(shape)
        if counts is None:
            raise ValueError(
                f"sparse format '{self.spec}' stores a data-dependent number of entries; "
                "a static storage layout needs dense and nm levels only (e.g. 2:4, vnm)"
            )
        first = counts[0]
        buffers = [
            (f"crd{l}", [first, c // first], self.crd)
            for l, (lv, c) in enumerate(zip(self.levels, counts, strict=True))
            if lv.kind == "nm"
        ]
        return buffers, [first, counts[-1] // first]


@dataclass
class SparseStorage:
    """The buffers of one encoded matrix (module docstring); `shape` is its logical shape."""

    format: SparseFormat
    shape: tuple[int, int]
    positions: list[np.ndarray | None]
    coordinates: list[np.ndarray | None]
    values: np.ndarray

    @property
    def stored(self) -> int:
        """Stored values (explicit zeros and padding included)."""
        return int(self.values.size)

    @property
    def nnz(self) -> int:
        """Nonzero values."""
        return int(np.count_nonzero(self.values))

    def buffers(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for l, (p, c) in enumerate(zip(self.positions, self.coordinates, strict=True)):
            if p is not None:
                out[f"pos{l}"] = p
            if c is not None:
                out[f"crd{l}"] = c
        out["values"] = self.values
        return out


# ----------------------------------------------------------------------------
# presets and parsing
# ----------------------------------------------------------------------------


def _lv(kind: str, dim: int, div: int = 1, mod: int = 0, **kw) -> Level:
    return Level(kind, dim, div, mod, **kw)


def dense_fmt() -> tuple[Level, ...]:
    return (_lv("dense", 0), _lv("dense", 1))


def csr() -> tuple[Level, ...]:
    return (_lv("dense", 0), _lv("compressed", 1))


def csc() -> tuple[Level, ...]:
    return (_lv("dense", 1), _lv("compressed", 0))


def coo() -> tuple[Level, ...]:
    return (_lv("compressed", 0, nu=True), _lv("singleton", 1))


def dcsr() -> tuple[Level, ...]:
    return (_lv("compressed", 0), _lv("compressed", 1))


def ell() -> tuple[Level, ...]:
    return (_lv("dense", 0), _lv("compressed", 1, pad=True))


def bsr(r: int, c: int) -> tuple[Level, ...]:
    return (
        _lv("dense", 0, r),
        _lv("compressed", 1, c),
        _lv("dense", 0, 1, r),
        _lv("dense", 1, 1, c),
    )


def nm(n: int, m: int) -> tuple[Level, ...]:
    return (_lv("dense", 0), _lv("dense", 1, m), _lv("nm", 1, 1, m, n=n, m=m))


def vnm(v: int, n: int, m: int) -> tuple[Level, ...]:
    return (
        _lv("dense", 0, v),
        _lv("dense", 1, m),
        _lv("nm", 1, 1, m, n=n, m=m),
        _lv("dense", 0, 1, v),
    )


FIXED = {
    "dense": dense_fmt,
    "csr": csr,
    "csc": csc,
    "coo": coo,
    "dcsr": dcsr,
    "ell": ell,
}


def _preset_name(levels: tuple[Level, ...]) -> str | None:
    for name, make in FIXED.items():
        if make() == levels:
            return name
    if len(levels) == 4 and levels == bsr(levels[0].div, levels[1].div):
        return f"bsr:{levels[0].div}x{levels[1].div}"
    nms = [lv for lv in levels if lv.kind == "nm"]
    if len(nms) == 1:
        n, m = nms[0].n, nms[0].m
        if levels == nm(n, m):
            return f"{n}:{m}"
        if levels == vnm(levels[0].div, n, m):
            return f"vnm:{levels[0].div}:{n}:{m}"
    return None


_INT = r"([0-9]+)"
_LEVEL_RE = re.compile(
    r"(?:d(?P<dim>[0-9]+)(?:/(?P<div>[0-9]+))?(?:%(?P<mod>[0-9]+))?:)?"
    r"(?P<kind>[a-z]+)(?:\((?P<args>[a-z0-9,]*)\))?$"
)


class _SpecError(ValueError):
    pass


def _pos_int(text: str, what: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise _SpecError(f"expected a positive integer for {what}, got '{text}'")
    return int(text)


def _parse_level(text: str, index: int, order: int | None) -> Level:
    m = _LEVEL_RE.match(text)
    if m is None:
        raise _SpecError(
            f"bad level '{text}'; expected [dK[/B][%M]:]TYPE with TYPE one of dense, compressed, "
            "compressed(nu), compressed(pad), singleton, nm(n,m)"
        )
    kind, args = m["kind"], m["args"]
    dim = (
        int(m["dim"])
        if m["dim"] is not None
        else (order if order is not None else index)
    )
    div = _pos_int(m["div"], "a level's divisor") if m["div"] else 1
    mod = _pos_int(m["mod"], "a level's modulus") if m["mod"] else 0
    kw: dict = {}
    if kind == "nm":
        parts = (args or "").split(",")
        if len(parts) != 2:
            raise _SpecError(f"bad level '{text}'; expected nm(n,m)")
        kw = {
            "n": _pos_int(parts[0], "n of nm(n,m)"),
            "m": _pos_int(parts[1], "m of nm(n,m)"),
        }
    elif kind == "compressed" and args is not None:
        if args not in ("nu", "pad"):
            raise _SpecError(f"bad level '{text}'; compressed takes (nu) or (pad)")
        kw = {args: True}
    elif kind not in KINDS or args is not None:
        raise _SpecError(
            f"unknown level type '{text}'; expected dense, compressed, compressed(nu), "
            "compressed(pad), singleton, nm(n,m)"
        )
    return Level(kind, dim, div, mod, **kw)


def _tuple(text: str, key: str) -> list[str]:
    if not (text.startswith("(") and text.endswith(")")):
        raise _SpecError(f"expected {key}=(...), got '{key}={text}'")
    inner = text[1:-1]
    # split at commas outside parentheses
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def _parse_preset(head: str) -> tuple[Level, ...] | None:
    if head in FIXED:
        return FIXED[head]()
    if m := re.fullmatch(r"(?:bsr|bcsr):([0-9]+)(?:x([0-9]+))?", head):
        r = _pos_int(m[1], "the block rows")
        return bsr(r, _pos_int(m[2], "the block columns") if m[2] else r)
    if m := re.fullmatch(r"(?:nm:)?([0-9]+):([0-9]+)", head):
        return nm(_pos_int(m[1], "N"), _pos_int(m[2], "M"))
    if m := re.fullmatch(r"vnm:([0-9]+):([0-9]+):([0-9]+)", head):
        return vnm(_pos_int(m[1], "V"), _pos_int(m[2], "N"), _pos_int(m[3], "M"))
    return None


def _expand_simple(
    levels: list[Level], block: tuple[int, int] | None
) -> tuple[Level, ...]:
    """One level per dimension -> levels with nm(n,m) split and RxC blocks appended."""
    out, inner = [], []
    for lv in levels:
        b = block[lv.dim] if block else 1
        if lv.kind == "nm":
            if b != 1:
                raise _SpecError("block=(...) does not combine with an nm(n,m) level")
            out.append(Level("dense", lv.dim, lv.m))
            out.append(lv.__class__("nm", lv.dim, 1, lv.m, n=lv.n, m=lv.m))
        else:
            out.append(Level(lv.kind, lv.dim, b, 0, nu=lv.nu, pad=lv.pad))
            if b != 1 or block:
                inner.append(Level("dense", lv.dim, 1, b))
    if block:
        inner.sort(key=lambda lv: lv.dim)
    return tuple(out + inner)


def _check(fmt: SparseFormat) -> None:
    """The structural rules a level list must satisfy."""
    levels = fmt.levels
    for d in range(fmt.rank):
        chain = sorted((lv for lv in levels if lv.dim == d), key=lambda lv: -lv.div)
        if not chain:
            raise _SpecError(f"dimension {d} has no level")
        if chain[0].mod:
            raise _SpecError(
                f"the outermost level of dimension {d} must not take a modulus, got {chain[0].expr_str}"
            )
        for outer, inner in itertools.pairwise(chain):
            if inner.mod == 0 or inner.div * inner.mod != outer.div:
                raise _SpecError(
                    f"levels of dimension {d} must split it exactly: {outer.expr_str} then "
                    f"{inner.expr_str}; expected d{d}/B then d{d}%B"
                )
        if chain[-1].div != 1:
            raise _SpecError(
                f"levels of dimension {d} must end in d{d}%B or d{d}, got {chain[-1].expr_str}"
            )
    if any(lv.dim >= fmt.rank for lv in levels):
        bad = next(lv for lv in levels if lv.dim >= fmt.rank)
        raise _SpecError(f"level {bad.expr_str} names a dimension >= {fmt.rank}")
    for i, lv in enumerate(levels):
        nxt = levels[i + 1] if i + 1 < len(levels) else None
        if lv.nu and (nxt is None or nxt.kind != "singleton"):
            raise _SpecError(
                "a compressed(nu) level must be followed by a singleton level"
            )
        if lv.kind == "singleton" and (
            i == 0 or not (levels[i - 1].nu or levels[i - 1].kind == "singleton")
        ):
            raise _SpecError(
                "a singleton level must follow a compressed(nu) or singleton level"
            )
        if lv.kind == "nm":
            if lv.mod != lv.m:
                raise _SpecError(
                    f"an nm({lv.n},{lv.m}) level must walk d{lv.dim}%{lv.m}, got {lv.expr_str}"
                )
            if not 1 <= lv.n <= lv.m:
                raise _SpecError(f"nm({lv.n},{lv.m}): expected 1 <= n <= m")
    if fmt.pos not in WIDTHS or fmt.crd not in WIDTHS:
        raise _SpecError(
            f"bit widths must be one of 8, 16, 32, 64, got pos={fmt.pos}, crd={fmt.crd}"
        )
    ms = [lv.m for lv in levels if lv.kind == "nm"]
    if ms and max(ms) - 1 >= 2**fmt.crd:
        raise _SpecError(f"crd={fmt.crd} cannot hold coordinates up to {max(ms) - 1}")


def parse_format(spec: str) -> SparseFormat:
    """Builds a format from a spec string (module docstring); ValueError if it is bad.

    The message starts with `sparse spec '<spec>': ` and says what was expected."""
    try:
        return _parse(spec)
    except _SpecError as e:
        raise ValueError(f"sparse spec '{spec}': {e}") from None


def _parse(spec: str) -> SparseFormat:
    text = spec.strip().lower()
    if not text:
        raise _SpecError(
            "expected a string like 'csr', 'bsr:4x4', '2:4' or 'levels=(dense,compressed)'"
        )
    parts = [p.strip() for p in text.split(";")]
    head, opts = parts[0], parts[1:]
    levels = _parse_preset(head)
    if levels is None and not head.startswith("levels="):
        raise _SpecError(
            f"unknown format '{head}'; expected one of dense, csr, csc, coo, dcsr, ell, "
            "bsr:RxC, N:M, nm:N:M, vnm:V:N:M, levels=(...)"
        )
    if levels is None:
        opts = parts  # levels=... is itself an option
    values: dict[str, str] = {}
    for opt in opts:
        key, eq, val = opt.partition("=")
        key = key.strip()
        if not eq:
            raise _SpecError(f"expected key=value, got '{opt}'")
        if key not in ("levels", "order", "block", "pos", "crd", "pad"):
            raise _SpecError(
                f"unknown option '{key}'; expected levels, order, block, pos, crd, pad"
            )
        if key in values:
            raise _SpecError(f"option '{key}' given twice")
        if key in ("levels", "order", "block") and levels is not None:
            raise _SpecError(f"option '{key}' does not apply to the preset '{head}'")
        values[key] = val.strip()
    if levels is None:
        texts = _tuple(values["levels"], "levels")
        explicit = [t.startswith("d") and ":" in t for t in texts]
        if any(explicit):
            if not all(explicit) or "order" in values or "block" in values:
                raise _SpecError(
                    "either name every level's expression (d0:dense,...) or none (then order= and block= apply)"
                )
            levels = tuple(_parse_level(t, i, None) for i, t in enumerate(texts))
        else:
            if len(texts) != 2:
                raise _SpecError(
                    f"expected one level per dimension (2), got {len(texts)}"
                )
            order = _tuple(values.get("order", "(0,1)"), "order")
            if sorted(order) != ["0", "1"]:
                raise _SpecError(
                    f"order must be a permutation of (0,1), got ({','.join(order)})"
                )
            order = [int(o) for o in order]
            block = None
            if "block" in values:
                b = _tuple(values["block"], "block")
                if len(b) != 2:
                    raise _SpecError(f"expected block=(R,C), got '{values['block']}'")
                block = (
                    _pos_int(b[0], "the block rows"),
                    _pos_int(b[1], "the block columns"),
                )
            simple = [_parse_level(t, i, order[i]) for i, t in enumerate(texts)]
            levels = _expand_simple(simple, block)
    default = SparseFormat(levels).default_crd
    fmt = SparseFormat(
        levels,
        pos=_width(values.get("pos", "32"), "pos"),
        crd=_width(values.get("crd", str(default)), "crd"),
        pad=values.get("pad", "zero"),
    )
    if fmt.pad not in ("zero", "none"):
        raise _SpecError(f"pad must be zero or none, got '{fmt.pad}'")
    _check(fmt)
    return fmt


def _width(text: str, key: str) -> int:
    if text not in ("8", "16", "32", "64"):
        raise _SpecError(f"{key} must be 8, 16, 32 or 64 bits, got '{text}'")
    return int(text)


# ----------------------------------------------------------------------------
# encode / decode
# ----------------------------------------------------------------------------


def _level_coords(fmt: SparseFormat, i: np.ndarray, j: np.ndarray) -> list[np.ndarray]:
    idx = (i, j)
    out = []
    for lv in fmt.levels:
        c = idx[lv.dim] // lv.div
        out.append(c % lv.mod if lv.mod else c)
    return out


def _fill(
    parents: np.ndarray, counts: np.ndarray, coords: np.ndarray, width, size: int
):
    """Pads the (sorted-by-parent) children of each parent to `width` with the smallest
    unused coordinates; returns (parent index, coordinate) of all entries, sorted."""
    npar = len(parents)
    taken = np.zeros((npar, size), dtype=bool)
    owner = np.repeat(np.arange(npar), counts)
    taken[owner, coords] = True
    need = width - counts
    free = ~taken
    rank = np.cumsum(free, axis=1)
    add = free & (rank <= need[:, None])
    keep = taken | add
    p, c = np.nonzero(keep)
    return p, c


def _to_uint(a: np.ndarray, bits: int, what: str, spec: str) -> np.ndarray:
    if a.size and int(a.max()) >= 2**bits:
        raise ValueError(
            f"sparse format '{spec}': {what} up to {int(a.max())} do not fit in {bits} bits"
        )
    return a.astype(np.dtype(f"uint{bits}"))


def encode(dense: np.ndarray, fmt: SparseFormat | str) -> SparseStorage:
    """Stores a 2-D array in `fmt` (module docstring for the buffers); exact."""
    if isinstance(fmt, str):
        fmt = parse_format(fmt)
    dense = np.asarray(dense)
    if dense.ndim != 2:
        raise ValueError(f"encode expects a 2-D array, got shape {list(dense.shape)}")
    sizes = fmt.level_sizes(dense.shape)
    padded = np.zeros(fmt.padded_shape(dense.shape), dtype=dense.dtype)
    padded[: dense.shape[0], : dense.shape[1]] = dense
    nz_i, nz_j = np.nonzero(padded)
    nzc = _level_coords(fmt, nz_i, nz_j)
    # prefix keys of every nonzero: key[l] = ravel of its first l level coordinates
    keys = [np.zeros(len(nz_i), dtype=np.int64)]
    for c, s in zip(nzc, sizes, strict=True):
        keys.append(keys[-1] * s + c)

    parents = np.zeros(1, dtype=np.int64)
    positions: list[np.ndarray | None] = []
    coordinates: list[np.ndarray | None] = []
    levels = fmt.levels
    l = 0
    while l < len(levels):
        lv, s = levels[l], sizes[l]
        if lv.kind == "dense":
            parents = (parents[:, None] * s + np.arange(s)).ravel()
            positions.append(None)
            coordinates.append(None)
        elif lv.kind == "compressed" and lv.nu:
            end = l + 1
            while end + 1 < len(levels) and levels[end + 1].kind == "singleton":
                end += 1
            leaves = np.unique(keys[end + 1])
            chain = [leaves]
            for k in range(end, l, -1):
                chain.insert(0, chain[0] // sizes[k])
            first = chain[0]
            pos = np.searchsorted(first // s, parents, "left")
            positions.append(
                _to_uint(np.append(pos, len(first)), fmt.pos, "positions", fmt.spec)
            )
            for k in range(l, end + 1):
                coordinates.append(
                    _to_uint(chain[k - l] % sizes[k], fmt.crd, "coordinates", fmt.spec)
                )
                if k > l:
                    positions.append(None)
            parents = leaves
            l = end + 1
            continue
        else:
            children = np.unique(keys[l + 1])
            par_idx = np.searchsorted(parents, children // s)
            counts = np.bincount(par_idx, minlength=len(parents))
            if lv.kind == "compressed" and not lv.pad:
                pos = np.concatenate([[0], np.cumsum(counts)])
                positions.append(_to_uint(pos, fmt.pos, "positions", fmt.spec))
            else:
                if lv.kind == "nm":
                    width = lv.n
                    if len(counts) and counts.max() > width:
                        bad = int(np.argmax(counts > width))
                        raise ValueError(
                            _nm_violation(fmt, sizes, l, parents[bad], int(counts[bad]))
                        )
                    positions.append(None)
                else:  # compressed(pad): ELL
                    width = int(counts.max()) if len(counts) else 0
                    positions.append(
                        _to_uint(np.array([width]), fmt.pos, "positions", fmt.spec)
                    )
                p, c = _fill(parents, counts, children % s, width, s)
                children = parents[p] * s + c
            coordinates.append(_to_uint(children % s, fmt.crd, "coordinates", fmt.spec))
            parents = children
        l += 1
    # values at the leaves
    coords = (
        np.unravel_index(parents, sizes)
        if len(parents)
        else [np.zeros(0, np.int64)] * len(sizes)
    )
    i, j = _dense_index(fmt, coords)
    return SparseStorage(fmt, tuple(dense.shape), positions, coordinates, padded[i, j])


def _dense_index(fmt: SparseFormat, coords) -> tuple[np.ndarray, np.ndarray]:
    idx = [np.zeros(len(coords[0]), np.int64) for _ in range(fmt.rank)]
    for lv, c in zip(fmt.levels, coords, strict=True):
        idx[lv.dim] = idx[lv.dim] + np.asarray(c, np.int64) * lv.div
    return idx[0], idx[1]


def _nm_violation(fmt: SparseFormat, sizes, l: int, key: int, count: int) -> str:
    lv = fmt.levels[l]
    prefix = list(np.unravel_index(int(key), sizes[:l])) if l else []
    lo = _dense_index(
        fmt, [np.array([c]) for c in prefix] + [np.array([0])] * (len(sizes) - l)
    )
    where = [int(lo[0][0]), int(lo[1][0])]
    span = [f"{where[0]}", f"{where[1]}"]
    span[lv.dim] = f"{where[lv.dim]}:{where[lv.dim] + lv.m}"
    extra = ""
    rows = [x for x in fmt.levels[l + 1 :] if x.kind == "dense"]
    if rows:
        r = rows[0]
        span[r.dim] = f"{where[r.dim]}:{where[r.dim] + r.mod}"
        extra = " (shared by the block's rows)"
    return (
        f"sparse format '{fmt.spec}': the group [{', '.join(span)}] has {count} nonzero "
        f"positions{extra}, more than N={lv.n} of M={lv.m}; prune it first (prune(w, '{lv.n}:{lv.m}'))"
    )


def decode(storage: SparseStorage) -> np.ndarray:
    """The dense 2-D array that `storage` holds; encode's exact inverse."""
    fmt = storage.format
    sizes = fmt.level_sizes(storage.shape)
    parents = np.zeros(1, dtype=np.int64)
    for l, (lv, s) in enumerate(zip(fmt.levels, sizes, strict=True)):
        crd = storage.coordinates[l]
        if lv.kind == "dense":
            parents = (parents[:, None] * s + np.arange(s)).ravel()
        elif lv.kind == "singleton":
            parents = parents * s + crd.astype(np.int64)
        elif lv.kind == "nm" or lv.pad:
            width = lv.n if lv.kind == "nm" else int(storage.positions[l][0])
            parents = np.repeat(parents, width) * s + crd.astype(np.int64)
        else:
            counts = np.diff(storage.positions[l].astype(np.int64))
            parents = np.repeat(parents, counts) * s + crd.astype(np.int64)
    out = np.zeros(fmt.padded_shape(storage.shape), dtype=storage.values.dtype)
    if len(parents):
        i, j = _dense_index(fmt, np.unravel_index(parents, sizes))
        out[i, j] = storage.values
    return out[: storage.shape[0], : storage.shape[1]]


# ----------------------------------------------------------------------------
# queries and pruning
# ----------------------------------------------------------------------------


def nnz(x: np.ndarray | SparseStorage) -> int:
    """Nonzero values of a dense array or an encoded matrix."""
    return x.nnz if isinstance(x, SparseStorage) else int(np.count_nonzero(x))


def density(x: np.ndarray | SparseStorage) -> float:
    size = math.prod(x.shape)
    return nnz(x) / size if size else 0.0


def row_occupancy(dense: np.ndarray) -> np.ndarray:
    """Nonzeros per row."""
    return np.count_nonzero(np.asarray(dense), axis=1)


def block_occupancy(dense: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """Nonzeros per RxC block (the last blocks padded with zeros), shape [ceil(rows/R), ceil(cols/C)]."""
    r, c = block
    dense = np.asarray(dense)
    br, bc = -(-dense.shape[0] // r), -(-dense.shape[1] // c)
    nzm = np.zeros((br * r, bc * c), dtype=np.int64)
    nzm[: dense.shape[0], : dense.shape[1]] = dense != 0
    return nzm.reshape(br, r, bc, c).sum(axis=(1, 3))


def _sparsity(text: str, spec: str) -> float:
    try:
        s = float(text)
    except ValueError:
        s = -1.0
    if not 0.0 <= s <= 1.0:
        raise ValueError(
            f"prune spec '{spec}': expected a sparsity in [0, 1], got '{text}'"
        )
    return s


def _top_mask(scores: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of the `keep` largest scores (ties to the lower flat index)."""
    flat = scores.ravel()
    order = np.argsort(-flat, kind="stable")
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:keep]] = True
    return mask.reshape(scores.shape)


def _group_top(scores: np.ndarray, n: int) -> np.ndarray:
    """Per row of `scores` [..., M]: mask of the n largest (ties to the lower index)."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    ranks = np.argsort(order, axis=-1, kind="stable")
    return ranks < n


def parse_prune(spec: str) -> tuple[str, tuple]:
    """('unstructured', (S,)) | ('nm', (N, M)) | ('vnm', (V, N, M)) | ('block', (R, C, S))."""
    text = spec.strip().lower()
    if m := re.fullmatch(r"unstructured:(.*)", text):
        return "unstructured", (_sparsity(m[1], spec),)
    if m := re.fullmatch(r"block:([0-9]+)x([0-9]+):(.*)", text):
        r, c = int(m[1]), int(m[2])
        if r < 1 or c < 1:
            raise ValueError(f"prune spec '{spec}': block sizes must be >= 1")
        return "block", (r, c, _sparsity(m[3], spec))
    if m := re.fullmatch(r"(?:nm:)?([0-9]+):([0-9]+)", text):
        n, mm = int(m[1]), int(m[2])
        if not 1 <= n <= mm:
            raise ValueError(f"prune spec '{spec}': expected 1 <= N <= M, got {n}:{mm}")
        return "nm", (n, mm)
    if m := re.fullmatch(r"vnm:([0-9]+):([0-9]+):([0-9]+)", text):
        v, n, mm = int(m[1]), int(m[2]), int(m[3])
        if v < 1 or not 1 <= n <= mm:
            raise ValueError(f"prune spec '{spec}': expected V >= 1 and 1 <= N <= M")
        return "vnm", (v, n, mm)
    raise ValueError(
        f"prune spec '{spec}': expected unstructured:S, N:M, nm:N:M, vnm:V:N:M or block:RxC:S"
    )


def prune(dense: np.ndarray, spec: str) -> np.ndarray:
    """`dense` with the smallest-magnitude weights zeroed per `spec` (module docstring)."""
    kind, args = parse_prune(spec)
    w = np.asarray(dense)
    if w.ndim != 2:
        raise ValueError(f"prune expects a 2-D array, got shape {list(w.shape)}")
    rows, cols = w.shape
    mag = np.abs(w.astype(np.float64))
    if kind == "unstructured":
        keep = round((1.0 - args[0]) * w.size)
        return np.where(_top_mask(mag, keep), w, np.zeros_like(w))
    if kind in ("nm", "vnm"):
        v, n, m = args if kind == "vnm" else (1, *args)
        pr, pc = -(-rows // v) * v, -(-cols // m) * m
        sq = np.zeros((pr, pc))
        sq[:rows, :cols] = mag**2
        groups = sq.reshape(pr // v, v, pc // m, m).sum(
            axis=1
        )  # [row blocks, groups, m]
        mask = np.repeat(_group_top(groups, n), v, axis=0).reshape(pr, pc)
        return np.where(mask[:rows, :cols], w, np.zeros_like(w))
    r, c, s = args
    br, bc = -(-rows // r), -(-cols // c)
    sq = np.zeros((br * r, bc * c))
    sq[:rows, :cols] = mag**2
    norms = sq.reshape(br, r, bc, c).sum(axis=(1, 3))
    keep = _top_mask(norms, round((1.0 - s) * norms.size))
    mask = np.repeat(np.repeat(keep, r, axis=0), c, axis=1)[:rows, :cols]
    return np.where(mask, w, np.zeros_like(w))
