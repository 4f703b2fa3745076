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
    "BlockCost",
    "Level",
    "SparseFormat",
    "SparseStorage",
    "TasdResult",
    "bandwidth",
    "block_occupancy",
    "choose_block",
    "convert",
    "decode",
    "density",
    "encode",
    "encode_coo",
    "nnz",
    "pad",
    "parse_format",
    "parse_tasd",
    "permute",
    "prune",
    "reorder",
    "row_occupancy",
    "tasd",
    "tasd_format",
    "to_coo",
    "unpad",
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

    def level_entries(self, shape: Sequence[int], index_lengths: Sequence[int]) -> list[int]:
        """Stored entries of each level of a matrix of `shape`, from the lengths of its
        index buffers in level order (SparseStorage.buffers(): positions then
        coordinates of a compressed level, coordinates of singleton and nm levels):
        a dense level multiplies its parent's entries by its size, any other has one
        entry per coordinate."""
        lengths = iter(index_lengths)
        counts, parents = [], 1
        for lv, size in zip(self.levels, self.level_sizes(shape), strict=True):
            if lv.kind == "dense":
                parents *= size
            else:
                if lv.kind == "compressed":
                    next(lengths)  # the positions
                parents = int(next(lengths))
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


# the largest block, group or divisor a spec may name: larger ones only pad a
# weight into a huge buffer (bsr:99999x99999 of a 16x4 weight is 37 GiB)
MAX_BLOCK = 4096


def _pos_int(text: str, what: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise _SpecError(f"expected a positive integer for {what}, got '{text}'")
    if int(text) > MAX_BLOCK:
        raise _SpecError(f"{what} {text} is over {MAX_BLOCK}, the most sparcc takes")
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
    positions, coordinates, (i, j) = _encode_levels(fmt, sizes, *np.nonzero(padded))
    return SparseStorage(fmt, tuple(dense.shape), positions, coordinates, padded[i, j])


def _encode_levels(
    fmt: SparseFormat, sizes: list[int], nz_i: np.ndarray, nz_j: np.ndarray
) -> tuple[list, list, tuple[np.ndarray, np.ndarray]]:
    """The index buffers that the nonzeros at (nz_i, nz_j) of the padded matrix need,
    and the (row, column) of every stored value, in storage order."""
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
    return positions, coordinates, _dense_index(fmt, coords)


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
    out = np.zeros(fmt.padded_shape(storage.shape), dtype=storage.values.dtype)
    i, j = _stored_index(storage)
    out[i, j] = storage.values
    return out[: storage.shape[0], : storage.shape[1]]


def _stored_index(storage: SparseStorage) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) in the padded matrix of every stored value, in storage order."""
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
    if not len(parents):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return _dense_index(fmt, np.unravel_index(parents, sizes))


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


def _at_most(spec: str, *sizes: int) -> None:
    if max(sizes) > MAX_BLOCK:
        raise ValueError(f"prune spec '{spec}': {max(sizes)} is over {MAX_BLOCK}, the largest block or group sparcc takes")


def parse_prune(spec: str) -> tuple[str, tuple]:
    """('unstructured', (S,)) | ('nm', (N, M)) | ('vnm', (V, N, M)) | ('block', (R, C, S))."""
    text = spec.strip().lower()
    if m := re.fullmatch(r"unstructured:(.*)", text):
        return "unstructured", (_sparsity(m[1], spec),)
    if m := re.fullmatch(r"block:([0-9]+)x([0-9]+):(.*)", text):
        r, c = int(m[1]), int(m[2])
        if r < 1 or c < 1:
            raise ValueError(f"prune spec '{spec}': block sizes must be >= 1")
        _at_most(spec, r, c)
        return "block", (r, c, _sparsity(m[3], spec))
    if m := re.fullmatch(r"(?:nm:)?([0-9]+):([0-9]+)", text):
        n, mm = int(m[1]), int(m[2])
        if not 1 <= n <= mm:
            raise ValueError(f"prune spec '{spec}': expected 1 <= N <= M, got {n}:{mm}")
        _at_most(spec, mm)
        return "nm", (n, mm)
    if m := re.fullmatch(r"vnm:([0-9]+):([0-9]+):([0-9]+)", text):
        v, n, mm = int(m[1]), int(m[2]), int(m[3])
        if v < 1 or not 1 <= n <= mm:
            raise ValueError(f"prune spec '{spec}': expected V >= 1 and 1 <= N <= M")
        _at_most(spec, v, mm)
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


# ----------------------------------------------------------------------------
# mutation: TASD (tensor approximation via structured decomposition)
# ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TasdResult:
    """A = parts[0] + ... + parts[-1] + residual, each part in its structured format.

    `parts[k]` is dense (A's shape and dtype), zero outside its support; the supports
    are disjoint. For every truncation t = 1..len(parts), index t-1 of `residuals`
    (A - sum(parts[:t]), exact), `rel_error` (its Frobenius norm over A's, 0.0 for
    A = 0) and `coverage` (A's nonzeros that parts[:t] hold, over nnz(A); 1.0 for
    A = 0). `nnz[k]`: the nonzero values of part k; a pick of a residual zero is
    not one.
    """

    specs: tuple[str, ...]
    formats: tuple[str, ...]
    parts: tuple[np.ndarray, ...]
    residuals: tuple[np.ndarray, ...]
    rel_error: tuple[float, ...]
    coverage: tuple[float, ...]
    nnz: tuple[int, ...]

    @property
    def spec(self) -> str:
        """The spec string parse_tasd reads back: tasd:PART+PART..."""
        return "tasd:" + "+".join(self.specs)

    @property
    def residual(self) -> np.ndarray:
        """A minus the sum of all parts."""
        return self.residuals[-1]

    def approximation(self, t: int | None = None) -> np.ndarray:
        """sum(parts[:t]) (all parts by default); exact, the supports are disjoint."""
        out = np.zeros_like(self.parts[0])
        for part in self.parts[:t]:
            out = out + part
        return out


def parse_tasd(spec: str) -> list[str]:
    """`tasd:PART+PART...` -> the parts, each a prune spec (N:M, vnm:V:N:M,
    block:RxC:S, unstructured:S); ValueError naming a bad part."""
    text = spec.strip().lower()
    if not text.startswith("tasd:"):
        raise ValueError(
            f"tasd spec '{spec}': expected 'tasd:' then prune specs joined by '+', e.g. tasd:2:4+1:8"
        )
    parts = [p.strip() for p in text[len("tasd:") :].split("+")]
    for k, part in enumerate(parts):
        try:
            parse_prune(part)
        except ValueError as e:
            raise ValueError(
                f"tasd spec '{spec}': bad part {k + 1} '{part}': {e}"
            ) from None
    return parts


def tasd_format(part_spec: str) -> str:
    """The storage format of a TASD part: N:M -> N:M, vnm:V:N:M -> vnm:V:N:M,
    block:RxC:S -> bsr:RxC, unstructured:S -> csr."""
    kind, args = parse_prune(part_spec)
    if kind == "nm":
        return f"{args[0]}:{args[1]}"
    if kind == "vnm":
        return "vnm:{}:{}:{}".format(*args)
    if kind == "block":
        return f"bsr:{args[0]}x{args[1]}"
    return "csr"


def tasd(dense: np.ndarray, parts: Sequence[str] | str) -> TasdResult:
    """Greedy TASD (Jeong et al.): part k = prune(residual k-1, parts[k]) with
    residual 0 = A and residual k = residual k-1 minus part k.

    `parts`: prune specs, or one `tasd:...` string (parse_tasd). Each part keeps the
    residual's values where its pattern picks them, so the sums are exact."""
    specs = (
        parse_tasd(parts)
        if isinstance(parts, str)
        else [p.strip().lower() for p in parts]
    )
    if not specs:
        raise ValueError("tasd: expected at least one part, e.g. ['2:4', '1:8']")
    for k, part in enumerate(specs):
        try:
            parse_prune(part)
        except ValueError as e:
            raise ValueError(f"tasd: bad part {k + 1} '{part}': {e}") from None
    a = _matrix(dense, "tasd")

    def frob(x: np.ndarray) -> float:
        return float(np.sqrt(np.sum(np.square(np.abs(x.astype(np.float64))))))

    norm, total = frob(a), int(np.count_nonzero(a))
    out_parts, residuals, errors, coverage, counts = [], [], [], [], []
    r = a
    for part_spec in specs:
        part = prune(r, part_spec)
        r = np.where(part != 0, np.zeros_like(r), r)
        out_parts.append(part)
        residuals.append(r)
        counts.append(int(np.count_nonzero(part)))
        errors.append(frob(r) / norm if norm else 0.0)
        coverage.append(sum(counts) / total if total else 1.0)
    return TasdResult(
        tuple(specs),
        tuple(tasd_format(p) for p in specs),
        tuple(out_parts),
        tuple(residuals),
        tuple(errors),
        tuple(coverage),
        tuple(counts),
    )


# ----------------------------------------------------------------------------
# layout: reordering, block size, padding
# ----------------------------------------------------------------------------

REORDER_METHODS = ("rows", "rcm", "cols")


def _matrix(dense: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(dense)
    if a.ndim != 2:
        raise ValueError(f"{what} expects a 2-D array, got shape {list(a.shape)}")
    return a


def bandwidth(dense: np.ndarray) -> int:
    """max |i - j| over the nonzeros (0 for a diagonal or all-zero matrix)."""
    i, j = np.nonzero(_matrix(dense, "bandwidth"))
    return int(np.abs(i - j).max()) if len(i) else 0


def permute(
    dense: np.ndarray, row_perm: np.ndarray, col_perm: np.ndarray
) -> np.ndarray:
    """B[i, j] = A[row_perm[i], col_perm[j]]; undo with the inverse permutations
    (np.argsort of each)."""
    a = _matrix(dense, "permute")
    for name, p, n in (
        ("row_perm", row_perm, a.shape[0]),
        ("col_perm", col_perm, a.shape[1]),
    ):
        p = np.asarray(p)
        if p.ndim != 1 or len(p) != n or not np.array_equal(np.sort(p), np.arange(n)):
            raise ValueError(
                f"permute: {name} must be a permutation of 0..{n - 1} (length {n}) "
                f"for shape {list(a.shape)}, got {p.tolist()[:8]}{'...' if p.size > 8 else ''}"
            )
    return a[np.asarray(row_perm)][:, np.asarray(col_perm)]


def reorder(dense: np.ndarray, method: str = "rows") -> tuple[np.ndarray, np.ndarray]:
    """(row_perm, col_perm), int64, for permute(dense, row_perm, col_perm); identity
    along a dimension the method does not permute.

    rows: rows by nonzeros, most first (stable): balances work and narrows ELL.
    rcm:  reverse Cuthill-McKee on the pattern of A + A^T (square only; the same
          permutation for rows and columns): small bandwidth.
    cols: columns by their pattern, lexicographically from row 0 down, a nonzero
          before a zero (so by first row touched, then the next rows): columns used
          by the same rows become neighbours and identical columns adjacent, which
          fills blocks. Empty columns go last."""
    a = _matrix(dense, "reorder")
    rows, cols = a.shape
    ident_r, ident_c = np.arange(rows, dtype=np.int64), np.arange(cols, dtype=np.int64)
    nz = a != 0
    if method == "rows":
        return np.argsort(-nz.sum(axis=1), kind="stable").astype(np.int64), ident_c
    if method == "cols":
        packed = np.packbits(nz, axis=0)  # [ceil(rows/8), cols], row 0 the high bit
        keys = [255 - packed[k] for k in range(packed.shape[0] - 1, -1, -1)]
        order = np.lexsort(keys) if keys else ident_c
        return ident_r, order.astype(np.int64)
    if method == "rcm":
        if rows != cols:
            raise ValueError(
                f"reorder: method 'rcm' needs a square matrix, got shape {[rows, cols]}; "
                "use 'rows' or 'cols'"
            )
        perm = _rcm(nz | nz.T)
        return perm, perm.copy()
    raise ValueError(
        f"reorder: unknown method '{method}'; expected one of {', '.join(REORDER_METHODS)}"
    )


def _bfs_levels(root: int, adj: np.ndarray) -> tuple[int, np.ndarray]:
    """Eccentricity of `root` and the last level of its breadth-first search."""
    seen = np.zeros(len(adj), dtype=bool)
    seen[root] = True
    level, depth = np.array([root]), 0
    while True:
        nxt = np.flatnonzero(adj[level].any(axis=0) & ~seen)
        if not len(nxt):
            return depth, level
        seen[nxt] = True
        level, depth = nxt, depth + 1


def _rcm(adj: np.ndarray) -> np.ndarray:
    """Reverse Cuthill-McKee of a symmetric boolean pattern: each connected component
    (smallest degree first) from a pseudo-peripheral node (George-Liu), breadth-first,
    neighbours by degree ascending (ties to the lower index); then reversed."""
    adj = adj.copy()
    np.fill_diagonal(adj, False)
    deg = adj.sum(axis=1)
    visited = np.zeros(len(adj), dtype=bool)
    order: list[int] = []
    for seed in np.argsort(deg, kind="stable"):
        if visited[seed]:
            continue
        root = int(seed)
        depth, last = _bfs_levels(root, adj)
        while True:  # move to a node of the last level while the eccentricity grows
            cand = int(last[np.argmin(deg[last])])
            d2, last2 = _bfs_levels(cand, adj)
            if d2 <= depth:
                break
            root, depth, last = cand, d2, last2
        visited[root] = True
        queue, head = [root], 0
        while head < len(queue):
            nb = np.flatnonzero(adj[queue[head]] & ~visited)
            head += 1
            nb = nb[np.argsort(deg[nb], kind="stable")]
            visited[nb] = True
            queue.extend(nb.tolist())
        order.extend(queue)
    return np.array(order[::-1], dtype=np.int64)


BLOCK_CANDIDATES = ((1, 1), (1, 4), (4, 1), (2, 2), (4, 4), (8, 8), (16, 1), (1, 16))


@dataclass(frozen=True)
class BlockCost:
    """Storage of one matrix as bsr:RxC with 32-bit positions and coordinates.

    `blocks`: nonzero blocks; `stored`: stored values (blocks * R * C); `fill`:
    nnz / stored (1.0 when nothing is stored); `bytes`: values (the matrix's dtype)
    + coordinates (4 per block) + positions (4 per block row, plus 4). 1x1 is CSR."""

    block: tuple[int, int]
    blocks: int
    stored: int
    fill: float
    bytes: int


def choose_block(
    dense: np.ndarray, candidates: Sequence[tuple[int, int]] = BLOCK_CANDIDATES
) -> tuple[int, int, list[BlockCost]]:
    """(R, C, report): the block size of fewest stored bytes as bsr:RxC (the first
    candidate on a tie), and every candidate's BlockCost in the given order."""
    a = _matrix(dense, "choose_block")
    if not len(candidates):
        raise ValueError("choose_block: expected at least one candidate block size")
    total = int(np.count_nonzero(a))
    report = []
    for cand in candidates:
        r, c = (int(x) for x in cand)
        if r < 1 or c < 1:
            raise ValueError(
                f"choose_block: block sizes must be >= 1, got {tuple(cand)}"
            )
        blocks = int(np.count_nonzero(block_occupancy(a, (r, c))))
        stored = blocks * r * c
        block_rows = -(-a.shape[0] // r)
        nbytes = stored * a.dtype.itemsize + 4 * blocks + 4 * (block_rows + 1)
        report.append(
            BlockCost((r, c), blocks, stored, total / stored if stored else 1.0, nbytes)
        )
    best = min(report, key=lambda b: b.bytes)  # min keeps the first of equal costs
    return best.block[0], best.block[1], report


def pad(dense: np.ndarray, fmt: SparseFormat | str) -> np.ndarray:
    """`dense` with zero rows and columns appended up to fmt.padded_shape (a copy);
    ValueError where the format has pad=none and the shape does not divide."""
    if isinstance(fmt, str):
        fmt = parse_format(fmt)
    a = _matrix(dense, "pad")
    out = np.zeros(fmt.padded_shape(a.shape), dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def unpad(padded: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The top-left `shape` of a padded matrix: pad's inverse."""
    a = _matrix(padded, "unpad")
    if len(shape) != 2 or any(
        not 0 <= s <= p for s, p in zip(shape, a.shape, strict=True)
    ):
        raise ValueError(
            f"unpad: expected a shape within {list(a.shape)}, got {list(shape)}"
        )
    return a[: shape[0], : shape[1]]


# ----------------------------------------------------------------------------
# mutation: format conversion through coordinates
# ----------------------------------------------------------------------------


def to_coo(storage: SparseStorage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values) of every stored entry inside the matrix, row-major;
    explicit zeros (block fill, N:M and ELL padding) included, so that a -0.0 keeps
    its sign: `values != 0` selects the nonzeros. Walks the levels, no dense array."""
    i, j = _stored_index(storage)
    inside = (i < storage.shape[0]) & (j < storage.shape[1])
    i, j, v = i[inside], j[inside], storage.values[inside]
    order = np.lexsort((j, i))
    return i[order], j[order], v[order]


def encode_coo(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    shape: Sequence[int],
    fmt: SparseFormat | str,
) -> SparseStorage:
    """Stores the matrix of `shape` whose entries are (rows, cols, values), zero
    elsewhere, in `fmt`: the same buffers, bit for bit, as encode of that matrix.
    Entries with value 0 are not structure, but a stored slot takes their value
    (-0.0 stays -0.0). ValueError for out-of-range or duplicate coordinates."""
    if isinstance(fmt, str):
        fmt = parse_format(fmt)
    rows, cols, values = np.asarray(rows), np.asarray(cols), np.asarray(values)
    if len(shape) != 2 or any(int(s) < 0 for s in shape):
        raise ValueError(f"encode_coo expects a 2-D shape, got {list(shape)}")
    shape = (int(shape[0]), int(shape[1]))
    if not (
        rows.ndim == cols.ndim == values.ndim == 1
        and len(rows) == len(cols) == len(values)
    ):
        raise ValueError(
            "encode_coo expects 1-D rows, cols and values of one length, got shapes "
            f"{list(rows.shape)}, {list(cols.shape)}, {list(values.shape)}"
        )
    if len(rows) and not (
        np.issubdtype(rows.dtype, np.integer) and np.issubdtype(cols.dtype, np.integer)
    ):
        raise ValueError(
            f"encode_coo expects integer coordinates, got {rows.dtype} and {cols.dtype}"
        )
    rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    bad = (rows < 0) | (rows >= shape[0]) | (cols < 0) | (cols >= shape[1])
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"encode_coo: coordinate ({rows[k]}, {cols[k]}) is outside the shape {list(shape)}"
        )
    sizes = fmt.level_sizes(shape)
    width = fmt.padded_shape(shape)[1]
    key = rows * width + cols
    order = np.argsort(key, kind="stable")
    key, rows, cols, values = key[order], rows[order], cols[order], values[order]
    dup = np.flatnonzero(key[1:] == key[:-1])
    if len(dup):
        k = int(dup[0])
        raise ValueError(
            f"encode_coo: coordinate ({rows[k]}, {cols[k]}) is given twice"
        )
    nz = values != 0
    positions, coordinates, (i, j) = _encode_levels(fmt, sizes, rows[nz], cols[nz])
    leaf = i * width + j
    at = np.minimum(np.searchsorted(key, leaf), max(len(key) - 1, 0))
    out = np.zeros(len(leaf), dtype=values.dtype)
    if len(key):
        hit = key[at] == leaf
        out[hit] = values[at[hit]]
    return SparseStorage(fmt, shape, positions, coordinates, out)


def convert(storage: SparseStorage, fmt: SparseFormat | str) -> SparseStorage:
    """`storage` re-encoded in `fmt` through its coordinates (to_coo, encode_coo), no
    dense array: the same buffers as encode(decode(storage), fmt). Into an N:M format
    a matrix without the pattern raises encode's ValueError."""
    return encode_coo(*to_coo(storage), storage.shape, fmt)
