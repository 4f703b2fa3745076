"""
CPU schedules: which linalg ops get tiled and vectorised, and how.

Runs on the bufferized module (linalg on memrefs). `build(module)` tags each
op it schedules with `sparcc.sched = N`, and returns a transform-dialect
script that matches the ops by tag, plus one `Decision` per op for the
compile report. `tile_sizes` is the one function that decides matmul tiles:
the learned cost model replaces it.

Matmuls (`linalg.matmul` / `linalg.batch_matmul`, after upstream
specialisation of our contraction generics): split so that the main part is
divisible by the register tile, cache-tile [mc, nc, kc] in loop order
n, k, m, register-tile [mr, nr, 1] in order n, m, k, vectorise the
mr x nr x 1 tile. Folding subviews into the transfers lets
`hoist_redundant_vector_transfers` keep the accumulator tile in registers
across the K loop (without the fold the hoist does nothing).

Elementwise and reduction generics: every loop but the innermost is tiled
to 1; the innermost is vectorised, split into a divisible main part and a
short tail where the vector width does not divide it (never masked).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mlir import ir

_A = "!transform.any_op"
TAG = "sparcc.sched"

# Every pattern group of the script runs under these bounds, so that a group
# that never converges on some IR (upstream has several: README) fails the
# schedule, which falls back to loops with a warning, instead of hanging the
# compile. 10 iterations is what upstream's own passes allow.
MAX_PATTERN_ITERATIONS = 10
MAX_PATTERN_REWRITES = 1 << 20  # per iteration


@dataclass
class Decision:
    op: str
    shape: tuple[int | str, ...]  # "?" for a size known only at run time
    tiles: dict[str, int] | list[int] | str  # a str: why the op stays plain loops

    def __str__(self) -> str:
        if isinstance(self.tiles, str):
            return f"{self.op} {list(self.shape)} {self.tiles}"
        if isinstance(self.tiles, dict) and "choice" in self.tiles:
            tiles = {k: v for k, v in self.tiles.items() if k != "choice"}
            return f"{self.op} {list(self.shape)} tiles={tiles} ({self.tiles['choice']['summary']})"
        return f"{self.op} {list(self.shape)} tiles={self.tiles}"


# ----------------------------------------------------------------------------
# tile sizes (the cost model's job)
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VectorUnit:
    """What register tiles are sized by: float32 lanes per vector register
    and the number of vector registers (AVX-512: 16 and 32; AVX2: 8 and 16)."""

    lanes: int
    registers: int

    def vectors(self, nr: int) -> int:
        """Registers that hold `nr` values of a row."""
        return -(-nr // self.lanes)

    def max_rows(self, nr: int) -> int:
        """The most rows mr of an mr x nr tile whose accumulators, row of B
        and one broadcast of A fit the registers."""
        v = self.vectors(nr)
        return (self.registers - 1 - v) // v

    def fits(self, mr: int, nr: int) -> bool:
        return mr <= self.max_rows(nr)


AVX512 = VectorUnit(16, 32)
AVX2 = VectorUnit(8, 16)
# None: the host's (vector_unit()); a test or a cross-compile may set one
VECTOR_UNIT: VectorUnit | None = None


@contextmanager
def vector_unit_of(target: dict[str, float] | None) -> Iterator[None]:
    """The schedule as the machine that `target` (tuning.machine()'s
    features; None: this one) describes would build it: its tiles and
    heuristic, for evaluating rows that another machine measured."""
    global VECTOR_UNIT
    saved = VECTOR_UNIT
    if target is not None and "simd_lanes" in target:
        VECTOR_UNIT = AVX512 if int(target["simd_lanes"]) >= 16 else AVX2
    try:
        yield
    finally:
        VECTOR_UNIT = saved


def vector_unit() -> VectorUnit:
    """The vector unit of the CPU the code is built for: AVX-512 where the
    host has it, else AVX2's 16 registers of 8 lanes (a 6x64 tile, 24
    AVX-512 accumulators, spilled to the stack on AVX2 and ran a 3x3
    convolution 4x slower than PyTorch)."""
    if VECTOR_UNIT is not None:
        return VECTOR_UNIT
    from sparcc.backends.cpu import toolchain

    return AVX512 if "avx512f" in toolchain.host_features() else AVX2


def _largest_divisor_leq(n: int, cap: int, multiple_of: int = 1) -> int:
    """Largest d <= cap with d | n and d % multiple_of == 0 (n if none)."""
    best = None
    d = multiple_of
    while d <= min(n, cap):
        if n % d == 0:
            best = d
        d += multiple_of
    return best if best is not None else n


def tile_sizes(m: int, n: int, k: int) -> dict[str, int]:
    """Tiles for C[m,n] += A[m,k] @ B[k,n] (per batch for batch_matmul).

    mr x nr is the register tile: mr*nr/L accumulators + nr/L B vectors + 1
    broadcast must fit the vector registers (vector_unit(): L lanes; 32 zmm
    registers of 16 lanes with AVX-512). mc, nc, kc are cache tiles.
    A kc x nr panel of B is packed into a contiguous buffer when it is reused
    by at least pack_min_m rows and is deep (kc >= pack_min_k): measured here,
    packing won on the MLP's K=512/2048 panels and lost on the encoder's K=256
    and at 16 rows. Below WHOLE_ROWS_MAX_M rows, mr divides M where a tile
    that does fits (_whole_row_tile).
    """
    vu = vector_unit()
    if vu == AVX512:
        ladder = ((64, 6, True), (32, 12, True), (16, 14, False))
    else:  # the widest row of B whose tile still fits, then one vector
        wide = 4 if vu.registers >= 32 or m <= 2 else 2  # a row or two: more chains per row
        ladder = ((wide * vu.lanes, vu.max_rows(wide * vu.lanes), False),
                  (vu.lanes, min(14, vu.registers - 2), False))
    for width, rows, divides in ladder:
        if (n % width == 0) if divides else n >= width:
            mr, nr = rows, width
            break
    else:
        mr, nr = 8, max(n, 1)
    mr, nr = min(mr, m), min(nr, n)
    if m % mr and m < WHOLE_ROWS_MAX_M and (whole := _whole_row_tile(m, n)) is not None:
        mr, nr = whole
    kc = _largest_divisor_leq(k, 512)
    if kc < 64 and k > 512:
        kc = k
    nc = _largest_divisor_leq(n - n % nr, 256, nr) if n >= nr else n
    mmain = m - m % mr
    mc = _largest_divisor_leq(mmain, 1024, mr) if mmain else m
    return dict(mr=mr, nr=nr, mc=mc, nc=nc, kc=kc, pack_min_m=PACK_MIN_M, pack_min_k=512)


# Below this many rows, a register tile whose mr does not divide M is
# replaced by one that does (_whole_row_tile): the rows left over would be a
# loop nest of their own that streams all of B again, and at a few rows
# (a batch-1 CNN's late stages, 16 or 50 tokens) streaming B is the cost.
WHOLE_ROWS_MAX_M = 64
# Fewest rows that reuse a packed panel of B enough to pay for its copy
# (1 thread, Linear at M=16: packing cost 1.15-1.45x; at M=24 it saved 7%).
PACK_MIN_M = 20


def _whole_row_tile(m: int, n: int) -> tuple[int, int] | None:
    """The register tile (mr, nr) with mr dividing m and nr of 4, 2 or 1
    vector registers dividing n that fits the registers (mr*nr/L
    accumulators + nr/L B vectors + 1 broadcast, L lanes) and does the most
    FMAs per load (mr broadcasts of A and nr/L vectors of B feed mr*nr/L
    FMAs per k); None when no such tile has a quarter of the registers as
    accumulators and 1.5 FMAs a load (1.3 with 16 registers, where 6x16
    does 1.5) (a thin or broadcast-bound tile loses more than the second
    pass over B costs)."""
    vu = vector_unit()
    least = 1.5 if vu.registers >= 32 else 1.3
    best: tuple[float, int, int, int] | None = None
    for v in (4, 2, 1):
        nr = v * vu.lanes
        if n % nr or nr > n:
            continue
        limit = vu.max_rows(nr)
        mr = max(d for d in range(1, min(limit, m) + 1) if m % d == 0)
        acc = mr * v
        score = (acc / (mr + v), acc, mr, nr)
        if acc < vu.registers // 4 or score[0] < least:  # 6x64 does 2.4 FMAs a load; 17x16 (M=17) 0.94 ran 1.7x slower
            continue
        if best is None or score > best:
            best = score
    return None if best is None else (best[2], best[3])


# Smallest ops worth a parallel region: forking and joining the team costs
# a few microseconds, about what 2^18 multiply-adds or 2^15 elementwise
# results take on one core here.
PARALLEL_MIN_MACS = 1 << 18
PARALLEL_MIN_ELEMENTS = 1 << 15
# least panels per thread for an uneven split of a panel matmul (_packed_matmul)
UNEVEN_PANELS_MIN = 4
# rows below which panels as wide as a vector go several to a register tile
# (one row of one panel is one FMA chain; a switch for benchmarks)
JT_ROWS = 4
# With 32 vector registers (AVX-512) the panels of one vector go side by side
# at one row more (4: a CNN's last stage at 2x2 pixels, in customize-layout's
# row panels) and up to 16 accumulators instead of 10. Four rows against
# 16-wide panels had one panel to a tile, 4 accumulators, one read stream:
# Linear(4608, 512) x 16 at 4 rows read 8.4 GB/s against 15.6 at one row
# (1 thread, weights from memory); with 4 panels side by side 1.55x faster,
# 3 rows 1.12x, 2 rows 1.07x (a switch for benchmarks)
WIDE_SIDE_BY_SIDE = True
SPLIT_PLAIN_LOOPS = True  # _split_plain_loops (a switch for benchmarks)
WINDOW_OPS = True  # _window_op: pooling and grouped convolutions (a switch for benchmarks)
# Widest vector of a window op's output row (4 zmm accumulators)
WINDOW_MAX_WIDTH = 64
WINDOW_MIN_WIDTH = 32  # shorter output rows are left to the plain loops
# A row that no tap shifts (channels-last: the row is the channels, the
# window moves over the pixels) is vectorised from this width: 8 lanes are
# one AVX2 vector, and nothing of the row is read twice. regnet_y_400mf's
# grouped convolutions (8 channels a group) and mobilenet_v3_small's
# 16-channel depthwise one, 2 threads: 1.23x and 1.12x the whole model.
CHANNEL_ROW_MIN_WIDTH = 8
# Rows of a matmul that its register tile's mr does not divide are a tile of
# their own inside the panel loops (_matmul_piece); off: a matmul piece of
# their own, which streams B again (a switch for benchmarks)
REMAINDER_ROWS_IN_PANEL = True
# a one-row matmul whose B is in panels of up to this many vectors takes
# the whole panel width as its register tile (its accumulators and one
# broadcast fit: B is not held in registers when one row uses it); 0: the
# cost model's nr (a switch for benchmarks)
PANEL_ROW_VECTORS = 8
# rows against panels wider than a vector, where the rows by one whole panel
# are at most PANEL_ROW_VECTORS accumulators (so up to 4 rows): the register
# tile is the rows by whole panels, several side by side while the
# accumulators fit (a switch for benchmarks)
ROW_PANELS_SIDE_BY_SIDE = True
# The linalg ops that no schedule vectorised become loops before the hoisting
# of accumulators (see _wrap); a switch for benchmarks.
LOOPS_BEFORE_HOISTING = True


def parallel_split(m: int, n: int, k: int, threads: int, batch: int = 1) -> tuple[str, int] | None:
    """How a matmul is divided among `threads`: ("b"|"n"|"m", chunk), or None
    to run it on one thread. Every thread gets an equal, static chunk, so
    each thread's piece keeps static shapes; N is preferred (threads read
    disjoint weight panels), then M (threads share the panels)."""
    if threads <= 1 or batch * m * n * k < PARALLEL_MIN_MACS:
        return None
    if batch % threads == 0:
        return ("b", batch // threads)
    nr = tile_sizes(m, n, k)["nr"]
    if n % threads == 0 and (n // threads) % nr == 0:
        return ("n", n // threads)
    if m % threads == 0 and m // threads >= 8:
        return ("m", m // threads)
    return None


def parallel_dim(ranges: list[int], iterators: list[str], threads: int) -> int | None:
    """The loop of an elementwise/reduction op split among threads, if any:
    the outermost parallel loop that divides evenly."""
    total = 1
    for r in ranges:
        total *= r
    if threads <= 1 or total < PARALLEL_MIN_ELEMENTS:
        return None
    for i, (r, it) in enumerate(zip(ranges, iterators)):
        if it == "parallel" and r % threads == 0 and r >= threads and i < len(ranges) - 1:
            return i
    return None


# ----------------------------------------------------------------------------
# script generation
# ----------------------------------------------------------------------------


class _Script:
    """One section of the script (matmuls, or elementwise ops). `match(tag)`
    names the handle of the op tagged `tag`; `header` then matches all of
    the section's ops in one walk of the module (an op tagged `section` as
    well) and splits the result into those handles, in payload order. A
    match per op walked the whole module once per op: 0.3-0.4 s of
    vit_tiny's 1.5 s schedule (627 ops)."""

    def __init__(self, section: str) -> None:
        self.n = 0
        self.lines: list[str] = []
        self.section = section
        self.handles: dict[int, str] = {}

    def v(self, prefix: str = "h") -> str:
        self.n += 1
        return f"%{prefix}{self.n}"

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def match(self, tag: int) -> str:
        h = self.v("op")
        self.handles[tag] = h
        return h

    def header(self, module: ir.Module) -> list[str]:
        """Tags the section's ops with `section` and returns the lines that
        bind their handles: one match, then split_handle in the order in
        which the match finds them (a post-order walk, as here; linalg ops
        do not nest, so the order is the ops' order in the function)."""
        order: list[str] = []

        def visit(op: ir.Operation) -> ir.WalkResult:
            if TAG in op.attributes:
                h = self.handles.get(ir.IntegerAttr(op.attributes[TAG]).value)
                if h is not None:
                    op.attributes[self.section] = ir.UnitAttr.get()
                    order.append(h)
            return ir.WalkResult.ADVANCE

        module.operation.walk(visit, ir.WalkOrder.POST_ORDER)
        if not order:
            return []
        if len(order) != len(self.handles):
            raise AssertionError(f"schedule: {len(self.handles)} ops matched, {len(order)} tagged")
        found = self.v("all")
        return [
            f"    {found} = transform.structured.match attributes{{{self.section}}} in %root : ({_A}) -> {_A}",
            f"    {', '.join(order)} = transform.split_handle {found} : ({_A}) -> ({', '.join([_A] * len(order))})",
        ]

    def tile(self, h: str, sizes: list[int], interchange: list[int] | None = None) -> str:
        loops = [self.v("l") for s in sizes if s != 0]
        t = self.v("t")
        inter = f" interchange = [{', '.join(map(str, interchange))}]" if interchange else ""
        types = ", ".join([_A] * (1 + len(loops)))
        self.emit(
            f"{', '.join([t] + loops)} = transform.structured.tile_using_for {h} "
            f"tile_sizes [{', '.join(map(str, sizes))}]{inter} : ({_A}) -> ({types})"
        )
        return t

    def forall(self, h: str, sizes: list[int]) -> str:
        """Tiles `h` with an scf.forall (one iteration per thread)."""
        t, f = self.v("t"), self.v("f")
        self.emit(
            f"{t}, {f} = transform.structured.tile_using_forall {h} "
            f"tile_sizes [{', '.join(map(str, sizes))}] : ({_A}) -> ({_A}, {_A})"
        )
        return t

    def split(self, h: str, dim: int, at: int) -> tuple[str, str]:
        s, a, b = self.v("s"), self.v("p"), self.v("p")
        self.emit(f"{s} = transform.structured.split {h} after {at} {{dimension = {dim}}} : {_A}")
        self.emit(f"{a}, {b} = transform.split_handle {s} : ({_A}) -> ({_A}, {_A})")
        return a, b

    def fold_unit_dims_and_vectorize(self, h: str) -> None:
        """Folds the unit dims of the tile `h` away inside its enclosing loop
        only (fold_unit_extent_dims_via_slices: on the function it would
        rewrite ops whose tiles are already decided), then vectorises what
        is left."""
        loop = self.v("l")
        self.emit(f'{loop} = transform.get_parent_op {h} {{op_name = "scf.for"}} : ({_A}) -> {_A}')
        self.emit(f"transform.apply_patterns to {loop} {{\n"
                  f"      transform.apply_patterns.linalg.fold_unit_extent_dims_via_slices\n"
                  f"    }} {{max_iterations = {MAX_PATTERN_ITERATIONS}, max_num_rewrites = {MAX_PATTERN_REWRITES}}} : {_A}")
        t = self.v("t")
        self.emit(f'{t} = transform.structured.match ops{{["linalg.generic"]}} in {loop} : ({_A}) -> {_A}')
        self.vectorize(t)

    def vectorize(self, h: str, sizes: list[int] | None = None) -> None:
        vs = f" vector_sizes [{', '.join(map(str, sizes))}]" if sizes else ""
        self.emit(f"transform.structured.vectorize {h}{vs} : {_A}")


def _matmul_piece(s: _Script, h: str, m: int, n: int, k: int, ts: dict[str, int], batched: bool) -> None:
    """`h` is a (batch_)matmul piece whose n is divisible by its tiles.

    Loops: n(nc) -> n(nr) -> k(kc) -> [pack the kc x nr panel of B into a
    contiguous stack buffer] -> m(mr) -> k(1) -> vectorised mr x nr x 1
    contraction, accumulators hoisted out of the k loop. Rows that mr does
    not divide (M = 49, a 7x7 feature map; 197 tokens) are one more tile of
    the rows left, inside the same k(kc) loop, so that they reuse the
    packed panel: a piece of their own streamed all of B a second time
    (Linear(4608, 512) at 49 rows: 6.1 ms, at 48 rows 3.9 ms).
    """
    mr = min(ts["mr"], m)
    nr = ts["nr"] if n % ts["nr"] == 0 else n
    nc = _largest_divisor_leq(n, ts["nc"], nr) if n % nr == 0 else n
    kc = ts["kc"] if k % ts["kc"] == 0 else k
    b, off = ([0], 1) if batched else ([], 0)
    if nc < n:
        h = s.tile(h, b + [0, nc, 0])
    # n(nr) and k(kc) loops, always materialised so that the panel copy has a loop to live in
    t, ln, lk = s.v("t"), s.v("l"), s.v("l")
    s.emit(
        f"{t}, {ln}, {lk} = transform.structured.tile_using_for {h} tile_sizes "
        f"[{', '.join(map(str, b + [0, nr, kc]))}] : ({_A}) -> ({_A}, {_A}, {_A})"
    )
    h = t
    if m >= ts["pack_min_m"] and kc >= ts["pack_min_k"]:
        packed = s.v("pk")
        s.emit(
            f"{packed} = transform.structured.promote {h} "
            f"{{operands_to_promote = [1], use_alloca}} : ({_A}) -> {_A}"
        )
        h = packed
        copy = s.v("cp")
        s.emit(f'{copy} = transform.structured.match ops{{["linalg.copy"]}} in {ln} : ({_A}) -> {_A}')
        s.vectorize(s.tile(copy, [1] * (1 + off) + [0]))
    for piece, rows in _row_tiles(s, h, off, m, mr):
        s.vectorize(s.tile(piece, b + [rows, 0, 1]))


def _row_tiles(s: _Script, h: str, dim: int, m: int, mr: int) -> list[tuple[str, int]]:
    """The register tiles' rows of `h` (m rows along `dim`, 1 <= mr <= m):
    [(h, mr)] where mr divides m, else the rows mr divides and the rows
    left, split apart where they are (inside the panel's loops), each with
    its tile's height."""
    main = m - m % mr
    if main == m:
        return [(h, mr)]
    a, b = s.split(h, dim, main)
    return [(a, mr), (b, m - main)]


def _matmul(
    s: _Script, h: str, shape: tuple[int, ...], batched: bool, threads: int = 1
) -> dict[str, Any]:
    if batched:
        batch, m, n, k = shape
    else:
        batch, (m, n, k) = 1, shape
    problem = MatmulProblem(batch, m, n, k, threads)
    config, choice = choose_matmul(problem)
    par = (config["split"], problem.chunk(config["split"])) if config["split"] != "none" else None
    if par is not None:
        dim, chunk = par
        sizes = {"b": [chunk, 0, 0, 0], "n": [0, chunk, 0], "m": [chunk, 0, 0]}[dim]
        if batched and dim != "b":
            sizes = [0] + sizes
        h = s.forall(h, sizes)
    m, n = problem.piece(config["split"])
    if batched:
        h = s.tile(h, [1, 0, 0, 0])
    ts = {key: config[key] for key in ("mr", "nr", "nc", "kc")}
    ts |= {"pack_min_m": config["pack"] or 1 << 30, "pack_min_k": 0}
    off = 1 if batched else 0
    pieces = [(h, m)]
    mmain = m - m % ts["mr"]
    if not REMAINDER_ROWS_IN_PANEL and 0 < mmain < m:  # the rows left as a piece of their own
        a, b = s.split(h, off, mmain)
        pieces = [(a, mmain), (b, m - mmain)]
    for hm, mp in pieces:
        nmain = n - n % ts["nr"]
        npieces = [(hm, n)]
        if 0 < nmain < n:
            a, b = s.split(hm, off + 1, nmain)
            npieces = [(a, nmain), (b, n - nmain)]
        for hn, np_ in npieces:
            _matmul_piece(s, hn, mp, np_, k, ts, batched)
    shown: dict[str, Any] = {key: config[key] for key in ("mr", "nr", "nc", "kc", "pack")}
    if par is not None:
        shown |= {"split": par[0], "threads": threads}
    return shown | ({"choice": choice} if choice else {})


def _packed_matmul(s: _Script, h: str, m: int, panels: int, p: int, k: int, threads: int = 1) -> dict[str, Any]:
    """A matmul whose B the customize-layout pass stored in panels:
    Cp[j, m, r] += A[m, k] * Bp[j, k, r] with loops (j, m, r, k) (Bp[j] is
    a contiguous k x p panel; a copy then writes Cp into C). The cost model chooses as for the plain
    matmul of the same shape; the tiles then follow the panels: threads split
    the panels (or the rows), each panel is cut into register-tile columns nr
    (a divisor of p) and k blocks, and no packing copy is made.

    Loops: j -> r(nr) -> k(kc) -> m(mr) -> k(1) -> vectorised mr x nr: the
    unit panel and k dims of the register tile are folded away inside its
    loop first (fold_unit_extent_dims_via_slices), which leaves an
    elementwise fma whose accumulators are hoisted as in the plain matmul."""
    n = panels * p
    problem = MatmulProblem(1, m, n, k, threads)
    config, choice = choose_matmul(problem, panels=True)
    split = config["split"]
    uneven = False
    if split == "n" and panels % threads:
        split = "m" if "m" in problem.splits() else "none"
    unit = vector_unit()
    lanes = unit.lanes

    def side_by_side(count: int) -> int:
        """Panels of one vector to a register tile at fewer than JT_ROWS rows:
        a tile of one panel is one FMA chain a row (latency-bound); up to 8
        panels side by side (10 accumulators in all) are more chains, and
        more read streams (WIDE_SIDE_BY_SIDE: a row more and 16 accumulators
        with 32 registers)."""
        wide = WIDE_SIDE_BY_SIDE and unit.registers >= 32 and JT_ROWS > 0
        rows, accumulators = (JT_ROWS + 1, 16) if wide else (JT_ROWS, 10)
        return _largest_divisor_leq(count, min(8, max(1, accumulators // m)), 1) if p == lanes and m < rows else 1

    if split == "none" and threads > 1 and m * n * k >= PARALLEL_MIN_MACS and panels >= UNEVEN_PANELS_MIN * threads \
            and (p > lanes or (p == lanes and side_by_side(panels) == 1)):
        # panels that do not divide among the threads (an ImageNet head: 125
        # of 8 on AVX2 at 3 rows or more; GPT-2's 50257 classes padded to 786
        # of 64) are dealt in chunks of ceil(panels / threads), the last one
        # shorter: the chunk's panel loop runs a dynamic number of panels,
        # one register tile each (several panels to a tile would leave a
        # partial tile that does not vectorise). Panels of one vector that
        # go several to a tile (side_by_side) run on one thread instead:
        # Linear(1280, 1000) at 1 row, 2 threads, 86 us against 145 split
        split, uneven = "n", True
    # panels narrower than a vector register: a register tile of one panel
    # would have one accumulator chain per row; several panels side by side
    # give the fmas independent chains (and the reads several streams)
    own = panels // threads if split == "n" else panels  # a thread's panels (uneven: jt stays 1)
    mp = m // threads if split == "m" else m
    row_panels = not uneven and lanes < p and mp * p <= PANEL_ROW_VECTORS * lanes and ROW_PANELS_SIDE_BY_SIDE
    jt = 1
    if p < lanes:
        jt = _largest_divisor_leq(own, max(1, 4 * lanes // p), 1)
    elif row_panels:
        # a few rows against panels of a few vectors (customize-layout's
        # ROW_PANEL): the rows by whole panels, as many
        # side by side as make PANEL_ROW_VECTORS accumulators, each panel one
        # read stream
        jt = _largest_divisor_leq(own, max(1, PANEL_ROW_VECTORS * lanes // (p * mp)), 1)
    elif not uneven:
        jt = side_by_side(own)
    if split == "n":
        h = s.forall(h, [-(-panels // threads) if uneven else panels // threads, 0, 0, 0])
    elif split == "m":
        h = s.forall(h, [0, m // threads, 0, 0])
    if row_panels or (mp == 1 and p <= PANEL_ROW_VECTORS * lanes):
        # one row: the tile spans the whole panel row, so the panel is read
        # once, front to back; tiles narrower than it walk the panel once per
        # column tile, every pass touching a part of each row (a 1x32 tile of
        # 64-wide panels: Linear(4096, 4096) at 1 row 1.16-1.30x slower at
        # 1 and 2 threads, where the weight comes from memory)
        nr = p
    else:
        nr = min(config["nr"], p)
        while p % nr:
            nr //= 2
    mr = mp if row_panels else min(config["mr"], mp)
    kc = config["kc"] if k % config["kc"] == 0 else k
    h = s.tile(h, [jt, 0, nr, kc])
    for hp, rows in _row_tiles(s, h, 1, mp, mr):
        t = s.tile(hp, [0, rows, 0, 1])
        s.fold_unit_dims_and_vectorize(t)
    shown: dict[str, Any] = {"layout": f"panels:{p}", "mr": mr, "nr": nr, "kc": kc}
    if jt > 1:
        shown["panels_per_tile"] = jt
    if split != "none":
        shown |= {"split": split, "threads": threads}
    if uneven:
        shown["uneven"] = True
    return shown | ({"choice": choice} if choice else {})


# ----------------------------------------------------------------------------
# the matmul search space (what the cost model chooses from)
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MatmulProblem:
    """C[batch, m, n] = A[batch, m, k] @ B[batch, k, n] on `threads` threads."""

    batch: int
    m: int
    n: int
    k: int
    threads: int = 1

    def chunk(self, split: str) -> int:
        return {"b": self.batch, "n": self.n, "m": self.m}[split] // self.threads

    def piece(self, split: str) -> tuple[int, int]:
        """(m, n) of one thread's share."""
        if split == "m":
            return self.m // self.threads, self.n
        if split == "n":
            return self.m, self.n // self.threads
        return self.m, self.n

    def splits(self) -> list[str]:
        """The ways to divide the work evenly among the threads (static
        shapes per thread): "none" always; "b", "n", "m" where they divide."""
        out = ["none"]
        t = self.threads
        if t <= 1 or self.batch * self.m * self.n * self.k < PARALLEL_MIN_MACS // 4:
            return out
        if self.batch % t == 0:
            out.append("b")
        if self.n % t == 0 and (self.n // t) % 16 == 0:
            out.append("n")
        if self.m % t == 0:
            out.append("m")
        return out

    def as_dict(self) -> dict[str, int]:
        return {"batch": self.batch, "m": self.m, "n": self.n, "k": self.k, "threads": self.threads}


MATMUL_KEYS = ("split", "mr", "nr", "nc", "kc", "pack")


def heuristic_matmul(p: MatmulProblem) -> dict[str, Any]:
    """The hand-written choice (tile_sizes, parallel_split): the cost
    model's fallback, and the baseline it is measured against."""
    par = parallel_split(p.m, p.n, p.k, p.threads, p.batch)
    split = par[0] if par is not None else "none"
    m, n = p.piece(split)
    ts = tile_sizes(m, n, p.k)
    pack = ts["pack_min_m"] if ts["kc"] >= ts["pack_min_k"] else 0
    if vector_unit() != AVX512 and m >= PACK_MIN_M and p.k >= 128:
        # 16 registers: B's row of a tile is 2 vectors, so each panel row is
        # reused by fewer FMAs and its strided reads cost more; packing won
        # from 20 rows and k = 128 on 40 unseen shapes of the Zen 3 dataset
        pack = 8
    return {"split": split, "mr": ts["mr"], "nr": ts["nr"], "nc": ts["nc"], "kc": ts["kc"], "pack": pack}


# register tiles tried per vector width of B with AVX-512: (nr, [mr...]);
# each has at most 31 - nr/16 accumulators of 16 lanes
_REGISTER_TILES = ((64, (2, 4, 6)), (32, (4, 8, 12, 14)), (16, (8, 14, 24)))


def register_tiles(vu: VectorUnit) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """(nr, [mr...]) tried per width of B's row: 4, 2 and 1 vector
    registers, each with the most rows that fit and two thirds and half of
    that (AVX-512 keeps the table the shipped cost model was trained on)."""
    if vu == AVX512:
        return _REGISTER_TILES
    out = []
    for v in (4, 2, 1):
        limit = vu.max_rows(v * vu.lanes)
        if limit >= 1:
            out.append((v * vu.lanes, tuple(sorted({limit, max(1, limit * 2 // 3), max(1, limit // 2)}))))
    return tuple(out)


def matmul_space(p: MatmulProblem) -> list[dict[str, Any]]:
    """Every configuration the schedule accepts for `p`, the heuristic's
    among them: split x register tile (whole-row tiles added) x kc x pack."""
    seen: set[tuple] = set()
    out: list[dict[str, Any]] = []

    def add(config: dict[str, Any]) -> None:
        key = tuple(config[k] for k in MATMUL_KEYS)
        if key not in seen:
            seen.add(key)
            out.append(config)

    add(heuristic_matmul(p))
    vu = vector_unit()
    for split in p.splits():
        m, n = p.piece(split)
        tiles: list[tuple[int, int]] = []
        for nr, mrs in register_tiles(vu):
            if nr > n and nr != vu.lanes:
                continue
            nr_ = min(nr, n)
            limit = vu.max_rows(nr)
            whole = max(d for d in range(1, min(limit, m) + 1) if m % d == 0)
            for mr in {*(min(x, m) for x in mrs), whole}:
                tiles.append((mr, nr_))
        kcs = sorted({_largest_divisor_leq(p.k, cap) for cap in (128, 256, 512)} | {p.k if p.k <= 1024 else p.k})
        kcs = [kc for kc in kcs if kc >= min(64, p.k) or kc == p.k]
        for mr, nr in sorted(set(tiles)):
            nc = _largest_divisor_leq(n - n % nr, 256, nr) if n >= nr else n
            for kc in kcs:
                for pack in ((0, 8) if m - m % mr >= 8 else (0,)):
                    add({"split": split, "mr": mr, "nr": nr, "nc": nc, "kc": kc, "pack": pack})
    return out


def check_matmul(p: MatmulProblem, config: dict[str, Any]) -> str | None:
    """Why `config` is not a valid schedule of `p`, or None."""
    missing = [k for k in MATMUL_KEYS if k not in config]
    if missing:
        return f"missing {', '.join(missing)}"
    if config["split"] not in p.splits():
        return f"split '{config['split']}' does not divide {p.as_dict()} evenly among {p.threads} threads"
    m, n = p.piece(config["split"])
    mr, nr, kc, nc = config["mr"], config["nr"], config["kc"], config["nc"]
    if not (1 <= mr <= m and 1 <= nr <= n and 1 <= kc <= p.k and nr <= nc <= n):
        return f"tiles mr={mr} nr={nr} nc={nc} kc={kc} do not fit m={m} n={n} k={p.k}"
    vu = vector_unit()
    if not vu.fits(mr, nr):
        return f"register tile {mr}x{nr} needs more than {vu.registers} vector registers of {vu.lanes} lanes"
    return None


def matmul_features(p: MatmulProblem, config: dict[str, Any], machine: dict[str, float]) -> dict[str, float]:
    """What the cost model sees of one configuration: the problem, the
    tiles, and what they imply (register use, FMAs per load, tails, cache
    footprints, traffic, arithmetic intensity), and the machine."""
    import math

    m, n = p.piece(config["split"])
    mr, nr, kc, nc = config["mr"], config["nr"], config["kc"], config["nc"]
    kc_eff = kc if p.k % kc == 0 else p.k
    lanes = int(machine.get("simd_lanes", vector_unit().lanes))  # the measuring machine's, not this one's
    vecs = -(-nr // lanes)
    acc = mr * vecs
    mmain = m - m % mr
    packed = int(config["pack"] > 0 and mmain >= config["pack"])
    row_passes = (1 if mmain else 0) + (1 if m % mr else 0)  # passes over B (a row tail streams it again)
    flops = 2.0 * p.batch * p.m * p.n * p.k
    # a register-level count: cycles of the FMA and load ports per k step of
    # each tile (2 of each a cycle), summed over the main tiles and the tails
    def tile_cycles(rows: int, cols: int) -> float:
        v = -(-cols // lanes)
        return max(rows * v, rows + v) / 2 if rows and cols else 0.0

    m_tail, n_tail = m % mr, n % nr
    cycles = p.k * ((mmain // mr) * (n // nr) * tile_cycles(mr, nr) + (n // nr) * tile_cycles(m_tail, nr)
                    + (mmain // mr) * tile_cycles(mr, n_tail) + tile_cycles(m_tail, n_tail))
    pack_copies = (p.k * (n - n_tail) / lanes) * (1 if packed else 0)
    traffic = 4.0 * p.batch * (p.m * p.k + p.k * p.n * row_passes + p.m * p.n)
    lg = lambda x: math.log2(max(x, 1))  # noqa: E731
    return {
        "log_m": lg(p.m), "log_n": lg(p.n), "log_k": lg(p.k), "log_batch": lg(p.batch), "threads": p.threads,
        "log_piece_m": lg(m), "log_piece_n": lg(n),
        "split_none": float(config["split"] == "none"), "split_b": float(config["split"] == "b"),
        "split_n": float(config["split"] == "n"), "split_m": float(config["split"] == "m"),
        "mr": mr, "nr": nr, "log_kc": lg(kc_eff), "log_nc": lg(nc), "packed": packed,
        "accumulators": acc, "fma_per_load": acc / (mr + vecs), "vector_fill": nr / (lanes * vecs),
        "m_tail": m % mr, "m_tail_frac": (m % mr) / m, "n_tail": n % nr, "n_tail_frac": (n % nr) / n,
        "row_passes": row_passes, "k_panels": p.k / kc_eff, "m_tiles": lg(m / mr),
        "panel_kib": kc_eff * nr * 4 / 1024, "a_block_kib": m * kc_eff * 4 / 1024, "b_block_kib": kc_eff * nc * 4 / 1024,
        "log_flops": lg(flops), "log_bytes": lg(traffic), "intensity": flops / traffic,
        "log_flops_per_thread": lg(flops / (p.threads if config["split"] != "none" else 1)),
        "log_tile_cycles": lg(cycles * p.batch), "fma_efficiency": flops / (2 * lanes) / max(cycles * p.batch, 1),
        "main_fraction": (mmain * (n - n_tail)) / (m * n), "log_pack_copies": lg(pack_copies),
        "pack_per_flop": pack_copies * 2 * lanes / flops,
        **machine,
    }


# A tuner's fixed configuration (sparcc tune builds one candidate at a
# time); None: the cost model (or the heuristic) chooses.
_FORCED: ContextVar[dict[str, Any] | None] = ContextVar("sparcc_forced_matmul", default=None)


@contextmanager
def forced_matmul(config: dict[str, Any]) -> Iterator[None]:
    token = _FORCED.set(config)
    try:
        yield
    finally:
        _FORCED.reset(token)


def choose_matmul(p: MatmulProblem, panels: bool = False) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The configuration of one matmul, and how it was chosen (None for a
    forced one): through sparcc's cost model over matmul_space. `panels`:
    B is a weight that the customize-layout pass stored in panels."""
    forced = _FORCED.get()
    if forced is not None:
        why = check_matmul(p, forced)
        if why is not None:
            raise ValueError(f"forced matmul schedule {forced} for {p.as_dict()}: {why}")
        return forced, None
    from sparcc.backends.cpu import tuning

    return tuning.choose(p, panels)


def _innermost(
    s: _Script, h: str, ranges: list[int], iterators: list[str], threads: int = 1
) -> list[int] | dict:
    """Tile all loops but the innermost to 1; vectorise the innermost. Large
    ops first split their outermost even parallel loop among the threads."""
    dim = parallel_dim(ranges, iterators, threads)
    if dim is not None:
        sizes = [0] * len(ranges)
        sizes[dim] = ranges[dim] // threads
        h = s.forall(h, sizes)
        ranges = list(ranges)
        ranges[dim] //= threads
    vector, tail = _vectorize_innermost(s, h, ranges, iterators)
    extra = ({"tail": tail} if tail else {}) | ({"split": dim, "threads": threads} if dim is not None else {})
    return {"vector": vector, **extra} if extra else vector


def _vectorize_innermost(s: _Script, h: str, ranges: list[int], iterators: list[str]) -> tuple[list[int], int]:
    """Vectorises the innermost loop with static sizes; returns the vector
    shape and the tail. An extent over the cap is split into a main part
    that a multiple of 16 lanes divides and a tail of under 16 lanes, each
    vectorised without masks: a masked transfer keeps its leading unit dims,
    and such an N-d transfer through a memref.expand_shape (softmax of a
    batched matmul at N=197) makes upstream's fold_memref_alias_ops loop
    forever."""
    last = ranges[-1]
    cap = 64 if iterators[-1] == "parallel" else 1024
    main = last if last <= cap else last - last % 16
    width = main if main <= cap else _largest_divisor_leq(main, cap, 16)
    pieces = [(h, width < main)]
    if main < last:
        a, b = s.split(h, len(ranges) - 1, main)
        pieces = [(a, width < main), (b, False)]
    for piece, tiled in pieces:
        sizes = [1] * (len(ranges) - 1) + [width if tiled else 0]
        if any(sizes):
            piece = s.tile(piece, sizes)
        s.vectorize(piece)
    return [1] * (len(ranges) - 1) + [width], last - main


# ----------------------------------------------------------------------------
# inspecting the payload
# ----------------------------------------------------------------------------

_VECTORIZABLE_BODY = ("arith.", "math.", "linalg.yield", "linalg.index")


def _shape(value: ir.Value) -> list[int]:
    return list(ir.ShapedType(value.type).shape)


def _dynamic(op: ir.Operation) -> bool:
    """Whether an operand of `op` has a size known only at run time."""
    return any(
        isinstance(v.type, (ir.MemRefType, ir.RankedTensorType)) and not ir.ShapedType(v.type).has_static_shape
        for v in op.operands
    )


def _dynamic_schedule(s: _Script, ew: _Script, op: ir.Operation, tag: int, threads: int) -> Decision | None:
    """The schedule of an op with sizes known only at run time (a dynamic
    program): the dynamic loops are tiled by 1, and what is left, which has
    static sizes, gets the static schedule. A 2-d matmul with a dynamic M
    runs one row at a time on the vectorised kernel (split over N among the
    threads); an op whose innermost loop is dynamic, or a matmul with a
    dynamic N or K, stays plain loops."""
    mark = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), tag)
    if op.name == "linalg.matmul":
        (m, k), (_, n) = _shape(op.operands[0]), _shape(op.operands[1])
        if _is_dyn(n) or _is_dyn(k) or not _is_dyn(m):
            return None
        op.attributes[TAG] = mark
        h = s.match(tag)
        ts = tile_sizes(1, n, k)
        par = parallel_split(64, n, k, threads) if threads > 1 else None
        if par is not None and par[0] == "n":
            h = s.forall(h, [0, par[1], 0])
            n = par[1]
            ts = {**tile_sizes(1, n, k), "split": "n", "threads": threads}
        h = s.tile(h, [1, 0, 0])
        npieces = [(h, n)]
        nmain = n - n % ts["nr"]
        if 0 < nmain < n:
            a, b = s.split(h, 1, nmain)
            npieces = [(a, nmain), (b, n - nmain)]
        for hn, np_ in npieces:
            _matmul_piece(s, hn, 1, np_, k, ts, False)
        return Decision("linalg.matmul", ("?", n, k), {**ts, "rows": 1})
    if op.name == "linalg.fill":
        shape = _shape(op.operands[1])
        ranges, iterators = shape, ["parallel"] * len(shape)
    elif op.name == "linalg.generic" and not _is_batch_matmul(op):
        found = _schedulable_generic(op)
        if found is None:
            return None
        ranges, iterators = found
    else:
        return None
    if not ranges or _is_dyn(ranges[-1]):
        return None
    op.attributes[TAG] = mark
    vector, tail = _vectorize_innermost(ew, ew.match(tag), ranges, iterators)
    shown = tuple("?" if _is_dyn(r) else r for r in ranges)
    return Decision(op.name, shown, {"vector": vector, "tail": tail} if tail else vector)


def _is_dyn(size: int) -> bool:
    return size == ir.ShapedType.get_dynamic_size()


def _loop_ranges(op: ir.Operation) -> list[int] | None:
    """Static loop extents of a generic whose maps are projected permutations
    and that reads and writes the innermost loop contiguously.

    A transposed innermost access (a permute generic) is left to plain loops:
    vectorising it makes the transform interpreter loop forever in the
    transfer-permutation/transpose lowering patterns.
    """
    maps = [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]
    n = maps[0].n_dims
    ranges: dict[int, int] = {}
    for value, amap in zip(op.operands, maps):
        shape = _shape(value)
        positions = []
        for size, expr in zip(shape, amap.results):
            expr = expr.maybe_downcast()
            if not isinstance(expr, ir.AffineDimExpr):
                return None
            ranges[expr.position] = size
            positions.append(expr.position)
        if n - 1 in positions[:-1]:
            return None
    if len(ranges) != n:
        return None
    return [ranges[i] for i in range(n)]


def _split_plain_loops(s: _Script, op: ir.Operation, tag: int, threads: int) -> Decision | None:
    """An all-parallel generic that is not vectorised (an im2col gather, a
    transpose: see _loop_ranges) still divides its outermost even loop
    among the threads; its loops stay scalar. The loop extents come from the
    output, whose map is a permutation of all loops."""
    if threads <= 1 or len(op.results) > 1 or not SPLIT_PLAIN_LOOPS:
        return None
    iterators = [str(a) for a in op.attributes["iterator_types"]]
    if any("reduction" in it for it in iterators):
        return None
    out_map = ir.AffineMapAttr(op.attributes["indexing_maps"][len(op.operands) - 1]).value
    shape = _shape(op.operands[len(op.operands) - 1])
    positions = []
    for expr in out_map.results:
        expr = expr.maybe_downcast()
        if not isinstance(expr, ir.AffineDimExpr):
            return None
        positions.append(expr.position)
    if sorted(positions) != list(range(out_map.n_dims)) or any(_is_dyn(d) for d in shape):
        return None
    ranges = [0] * out_map.n_dims
    for pos, size in zip(positions, shape):
        ranges[pos] = size
    if math.prod(ranges) < PARALLEL_MIN_ELEMENTS:
        return None
    dim = next((i for i, r in enumerate(ranges) if r % threads == 0 and r >= threads), None)
    if dim is None:
        return None
    op.attributes[TAG] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), tag)
    sizes = [0] * len(ranges)
    sizes[dim] = ranges[dim] // threads
    s.forall(s.match(tag), sizes)
    return Decision(op.name, tuple(ranges), {"loops": "scalar", "split": dim, "threads": threads})


def _window_terms(expr: Any) -> list[tuple[int, int]] | None:
    """An index expression as (loop, coefficient) terms: `d3`, `d3 * 2 + d5`,
    `d3 + d5 * 2`; None for anything else (constants, mods, divisions)."""
    expr = expr.maybe_downcast()
    if isinstance(expr, ir.AffineDimExpr):
        return [(expr.position, 1)]
    if isinstance(expr, ir.AffineMulExpr):
        lhs, rhs = expr.lhs.maybe_downcast(), expr.rhs.maybe_downcast()
        if isinstance(lhs, ir.AffineDimExpr) and isinstance(rhs, ir.AffineConstantExpr) and rhs.value > 0:
            return [(lhs.position, rhs.value)]
        return None
    if isinstance(expr, ir.AffineAddExpr):
        lhs, rhs = _window_terms(expr.lhs), _window_terms(expr.rhs)
        if lhs is None or rhs is None:
            return None
        return lhs + rhs
    return None


def _window_op(s: _Script, op: ir.Operation, tag: int, threads: int) -> Decision | None:
    """A window op (pooling, a grouped or depthwise convolution: a generic
    whose input is read at `oh * stride + kh`) that the other schedules leave
    to scalar loops on one thread: its output map is a permutation of the
    parallel loops, every loop's extent is the size of an operand dim that
    it indexes alone, and the output row (the output's innermost dim, `ow`)
    appears only in the innermost index of each input.

    Threads split the first parallel loop that divides evenly (the
    channels). A contiguous output row of WINDOW_MIN_WIDTH or more is
    vectorised: every loop is tiled by 1 but `ow`, cut into vectors of 2^k
    lanes (whole zmm registers for the main part, then 8, 4, 2, 1); the
    unit dims are folded away inside the innermost loop
    (fold_unit_extent_dims_via_slices), which leaves a 1-d elementwise op of
    an output vector and the input row at one tap, and the output vector
    stays in a register over the taps (hoisting). A strided row (stride 2)
    stays scalar loops, split among the threads; a short row is left alone
    (see below). Measured at batch 1 on a Zen 4 VM (`python
    benchmarks/bench_schedule.py --switch WINDOW_OPS`): depthwise 7x7 at 56
    1.18x at 1 thread and 1.87x at 2, stride-2 depthwise and max pool
    1.08-1.2x at 2 threads; whole models 0.96-1.12x, within the noise."""
    if not WINDOW_OPS or len(op.results) > 1 or _dynamic(op) or not _vectorizable_body(op, index=False):
        return None
    maps = [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]
    n = maps[0].n_dims
    iterators = ["reduction" if "reduction" in str(a) else "parallel" for a in op.attributes["iterator_types"]]
    ranges: dict[int, int] = {}
    terms: list[list[list[tuple[int, int]]]] = []
    for value, amap in zip(op.operands, maps):
        shape = _shape(value)
        operand = []
        for size, expr in zip(shape, amap.results):
            t = _window_terms(expr)
            if t is None:
                return None
            if len(t) == 1 and t[0][1] == 1:
                ranges[t[0][0]] = size
            operand.append(t)
        terms.append(operand)
    out = terms[-1]
    if len(ranges) != n or any(len(t) != 1 or t[0][1] != 1 for t in out):
        return None
    if sorted(t[0][0] for t in out) != sorted(i for i in range(n) if iterators[i] == "parallel"):
        return None
    if not any(len(t) > 1 for operand in terms[:-1] for t in operand):  # no window: the plain schedules' case
        return None
    ow = out[-1][0][0]
    stride = 1
    for operand in terms[:-1]:  # `ow` only in an operand's innermost index, with a stride there
        for i, t in enumerate(operand):
            coef = [c for d, c in t if d == ow]
            if coef and i != len(operand) - 1:
                return None
            if coef:
                stride = max(stride, coef[0])
    extents = [ranges[i] for i in range(n)]
    if math.prod(extents[i] for i in range(n) if iterators[i] == "parallel") < 256:
        return None  # a few outputs: plain loops cost less than a schedule
    dim = None
    if threads > 1 and math.prod(extents) >= PARALLEL_MIN_ELEMENTS:
        dim = next((i for i in range(n) if iterators[i] == "parallel" and i != ow
                    and extents[i] % threads == 0 and extents[i] >= threads), None)
    # a row under 32 lanes (14, 28: late stages) would be pieces of 8 + 4 + 2
    # lanes that each run every tap: slower than LLVM's own loops at 7x7
    # taps, and split among threads those ran 2-3x slower still
    # channels-last: no input's innermost index is a window (ow + kw)
    channel_row = all(len(operand[-1]) == 1 for operand in terms[:-1] if operand)
    if extents[ow] < (CHANNEL_ROW_MIN_WIDTH if channel_row else WINDOW_MIN_WIDTH) or (stride != 1 and dim is None):
        return None
    op.attributes[TAG] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), tag)
    h = s.match(tag)
    shown: dict[str, Any] = {"window": True}
    if dim is not None:
        sizes = [0] * n
        sizes[dim] = extents[dim] // threads
        h = s.forall(h, sizes)
        shown |= {"split": dim, "threads": threads}
    if stride != 1:  # scalar loops: tiled, a strided row ran slower than LLVM's own (max pool 3x3/2: 3x)
        return Decision(op.name, tuple(extents), shown | {"loops": "scalar", "stride": stride})
    # vectors of 2^k lanes only: a 48- or 14-lane vector is legalised by
    # widening, and its loads, which must not read past the row, become one
    # scalar load per lane. A main part of 16-lane multiples (64, 32 or 16
    # a vector), then one piece per power of two left (56 = 48 + 8).
    last = extents[ow]
    widths = []
    main = last - last % 16
    if main:
        widths.append((main, next(w for w in (64, 32, 16) if w <= WINDOW_MAX_WIDTH and main % w == 0)))
    rest = last - main
    for w in (8, 4, 2, 1):
        if rest >= w:
            widths.append((w, w))
            rest -= w
    pieces = []
    h_rest = h
    for extent, w in widths[:-1]:  # each split cuts what the one before left (its loops start at 0)
        a, h_rest = s.split(h_rest, ow, extent)
        pieces.append((a, w))
    pieces.append((h_rest, widths[-1][1]))
    # loops: the parallel ones, then the taps: each vector of the output row
    # accumulates over all taps in a register
    order = [i for i in range(n) if iterators[i] == "parallel"] + [i for i in range(n) if iterators[i] == "reduction"]
    for piece, w in pieces:
        sizes = [1] * n
        sizes[ow] = w
        t = s.tile(piece, sizes, order)
        s.fold_unit_dims_and_vectorize(t)
    shown |= {"vector": [widths[0][1]]}
    return Decision(op.name, tuple(extents), shown)


def _vectorizable_body(op: ir.Operation, index: bool = True) -> bool:
    """Whether every op of the generic's body is arith/math (and
    linalg.index, unless `index` is False) ending in linalg.yield."""
    allowed = _VECTORIZABLE_BODY if index else tuple(p for p in _VECTORIZABLE_BODY if p != "linalg.index")
    return all(inner.operation.name.startswith(allowed) for inner in op.regions[0].blocks[0].operations)


def _schedulable_generic(op: ir.Operation) -> tuple[list[int], list[str]] | None:
    body = list(op.regions[0].blocks[0].operations)
    if len(body[-1].operands) != 1:  # a reduction carrying (value, index): plain loops
        return None
    if not _vectorizable_body(op):
        return None
    ranges = _loop_ranges(op)
    if not ranges or 0 in ranges:
        return None
    iterators = [str(a).strip('"').split(".")[-1].strip("<>") for a in op.attributes["iterator_types"]]
    iterators = ["reduction" if "reduction" in it else "parallel" for it in iterators]
    if "reduction" in iterators and not _known_combiner(op):
        return None  # the vectoriser would fail on it (a log-add-exp scan): plain loops, no warning
    return ranges, iterators


# the reductions linalg's vectoriser turns into vector.multi_reduction
_COMBINERS = frozenset({
    "arith.addf", "arith.addi", "arith.mulf", "arith.muli", "arith.maximumf", "arith.minimumf",
    "arith.maxnumf", "arith.minnumf", "arith.maxsi", "arith.minsi", "arith.maxui", "arith.minui",
    "arith.andi", "arith.ori", "arith.xori",
})


def _known_combiner(op: ir.Operation) -> bool:
    """Whether the yielded value combines the accumulator (the output's block
    argument) with a known reduction op."""
    block = op.regions[0].blocks[0]
    yielded = list(block.operations)[-1].operands[0]
    owner = yielded.owner
    if not isinstance(owner, (ir.Operation, ir.OpView)):
        return True  # a block argument: nothing is combined
    acc = block.arguments[len(block.arguments) - 1]
    return owner.name in _COMBINERS and any(v == acc for v in owner.operands)


_BATCH_MATMUL_MAPS = (
    "(d0, d1, d2, d3) -> (d0, d1, d3)",
    "(d0, d1, d2, d3) -> (d0, d3, d2)",
    "(d0, d1, d2, d3) -> (d0, d1, d2)",
)


def _is_panel_matmul(op: ir.Operation) -> bool:
    """A matmul that customize-layout rewrote (its panel width is the
    innermost size of its output, Cp[j, m, r])."""
    return (op.name == "linalg.generic" and "sparcc.layout" in op.attributes
            and ir.StringAttr(op.attributes["sparcc.layout"]).value.startswith("panels:"))


def _is_batch_matmul(op: ir.Operation) -> bool:
    """A contraction generic that computes a batch_matmul (our lowering emits
    these for batches too large to unroll; upstream has the named op, xDSL not)."""
    if op.name != "linalg.generic" or len(op.operands) != 3:
        return False
    maps = [str(ir.AffineMapAttr(a).value) for a in op.attributes["indexing_maps"]]
    if tuple(m.removeprefix("affine_map<").removesuffix(">") for m in maps) != _BATCH_MATMUL_MAPS:
        return False
    body = [o.operation.name for o in op.regions[0].blocks[0].operations]
    return body == ["arith.mulf", "arith.addf", "linalg.yield"]


def _in_shared_loop(op: ir.Operation) -> bool:
    """Whether `op` runs inside an scf.forall whose iterations the threads
    already share (backends/cpu: _independent_loops_to_forall)."""
    from sparcc.passes.fuse_attention import INDEPENDENT_ATTR

    parent = op.parent
    while parent is not None and parent.name != "func.func":
        if parent.name == "scf.forall" and INDEPENDENT_ATTR in parent.attributes:
            return True
        parent = parent.parent
    return False


def build(module: ir.Module, threads: int = 1) -> tuple[str | None, list[Decision]]:
    """Tags the ops to schedule and returns (script, decisions)."""
    s, ew = _Script(f"{TAG}.mm"), _Script(f"{TAG}.ew")  # matmuls, then elementwise (see _wrap)
    decisions: list[Decision] = []
    ops: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name in ("linalg.matmul", "linalg.batch_matmul", "linalg.generic", "linalg.fill"):
            ops.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    team = threads
    for tag, op in enumerate(ops):
        threads = 1 if _in_shared_loop(op) else team
        if _dynamic(op):  # sizes known only at run time
            found = _dynamic_schedule(s, ew, op, tag, threads)
            if found is None and op.name in ("linalg.matmul", "linalg.generic"):
                # said in the report, as every fallback is
                shape = tuple("?" if _is_dyn(d) else d for d in _shape(op.operands[0]))
                found = Decision(op.name, shape, "plain loops: a dynamic size this schedule does not tile")
            if found is not None:
                decisions.append(found)
            continue
        name = "linalg.batch_matmul" if _is_batch_matmul(op) else op.name
        if name in ("linalg.matmul", "linalg.batch_matmul"):
            a, b = _shape(op.operands[0]), _shape(op.operands[1])
            shape = (*a[:-1], b[-1], a[-1])
            op.attributes[TAG] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), tag)
            ts = _matmul(s, s.match(tag), shape, name == "linalg.batch_matmul", threads)
            decisions.append(Decision(name, shape, ts))
        elif name == "linalg.fill":
            shape = tuple(_shape(op.operands[1]))
            if not shape or 0 in shape:
                continue
            op.attributes[TAG] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), tag)
            vec = _innermost(ew, ew.match(tag), list(shape), ["parallel"] * len(shape), threads)
            decisions.append(Decision(name, shape, vec))
        elif _is_panel_matmul(op):
            (m, k), (panels, _, p) = _shape(op.operands[0]), _shape(op.operands[2])  # A, Cp[j, m, r]
            op.attributes[TAG] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), tag)
            ts = _packed_matmul(s, s.match(tag), m, panels, p, k, threads)
            if "sparcc.padded_from" in op.attributes:  # customize-layout padded n to whole panels
                ts = {**ts, "padded_from": ir.IntegerAttr(op.attributes["sparcc.padded_from"]).value}
            decisions.append(Decision("linalg.matmul", (m, panels * p, k), ts))
        else:
            found = _schedulable_generic(op)
            if found is None:
                window = _window_op(ew, op, tag, threads)
                if window is not None:
                    decisions.append(window)
                    continue
                split = _split_plain_loops(ew, op, tag, threads)
                if split is not None:
                    decisions.append(split)
                continue
            ranges, iterators = found
            op.attributes[TAG] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), tag)
            vec = _innermost(ew, ew.match(tag), ranges, iterators, threads)
            decisions.append(Decision(name, tuple(ranges), vec))
    if not s.lines and not ew.lines:
        return None, decisions
    s.lines = s.header(module) + s.lines
    ew.lines = ew.header(module) + ew.lines
    return _wrap("\n".join(s.lines), "\n".join(_renumber(ew, s.n))), decisions


def _renumber(script: _Script, offset: int) -> list[str]:
    import re

    return [re.sub(r"%([a-z]+)(\d+)", lambda m: f"%{m[1]}{int(m[2]) + offset}", line) for line in script.lines]


# The script's stages, in order, each a named sequence; True where the stage
# works inside one function at a time. `apply` runs those nested under
# func.func, where MLIR spreads functions over the context's threads;
# ops of the other stages are matched by their tags across the module.
# On rexnet_100 (477 functions) the per-function stages took 1.95 of the
# interpreter's 2.7 s as one sequence over all functions, 0.75 s as a
# nested pass on 2 threads (1.4 s on one), with the same output.
STAGES = (("__sparcc_matmuls", False), ("__sparcc_contract", True),
          ("__sparcc_elementwise", False), ("__sparcc_lower", True))


def _wrap(matmuls: str, elementwise: str) -> str:
    """Matmuls are vectorised and turned into contractions first; elementwise
    ops are vectorised after that, so that a reduction of products (a
    variance, say) stays a reduction instead of becoming a contraction that
    the outer-product lowering would scalarise. Memref alias folding runs as
    the upstream pass, not as a bounded pattern group: on a KV-cache decoder
    (index_copy into a cache, then slices of it) its patterns cycle after
    canonicalisation, and a group that does not converge fails the whole
    schedule, while the pass stops after its iterations with valid IR.

    One named sequence per stage (STAGES); `__transform_main` includes them
    in order on the module, the form a reproducer runs with upstream tools."""
    bound = f"{{max_iterations = {MAX_PATTERN_ITERATIONS}, max_num_rewrites = {MAX_PATTERN_REWRITES}}}"
    funcs = f'    %func = transform.structured.match ops{{["func.func"]}} in %root : ({_A}) -> {_A}'
    bodies = {
        "__sparcc_matmuls": matmuls,
        "__sparcc_contract": f"""{funcs}
    transform.apply_patterns to %func {{
      transform.apply_patterns.vector.reduction_to_contract
      transform.apply_patterns.vector.transfer_permutation_patterns
      transform.apply_patterns.vector.cast_away_vector_leading_one_dim
    }} {bound} : {_A}""",
        "__sparcc_elementwise": elementwise,
        "__sparcc_lower": f"""{funcs}
    transform.apply_patterns to %func {{
      transform.apply_patterns.vector.cast_away_vector_leading_one_dim
      transform.apply_patterns.canonicalization
    }} {bound} : {_A}
    %loops = transform.apply_registered_pass "{'convert-linalg-to-loops' if LOOPS_BEFORE_HOISTING else 'canonicalize'}" to %func : ({_A}) -> {_A}
    %func1 = transform.apply_registered_pass "fold-memref-alias-ops" to %loops : ({_A}) -> {_A}
    transform.apply_patterns to %func1 {{
      transform.apply_patterns.canonicalization
    }} {bound} : {_A}
    transform.apply_cse to %func1 : {_A}
    %func2 = transform.structured.hoist_redundant_vector_transfers %func1 : ({_A}) -> {_A}
    transform.apply_patterns to %func2 {{
      transform.apply_patterns.vector.lower_contraction lowering_strategy = "outerproduct"
      transform.apply_patterns.vector.lower_outerproduct
      transform.apply_patterns.vector.lower_multi_reduction lowering_strategy = "innerreduction"
      transform.apply_patterns.vector.lower_masked_transfers
      transform.apply_patterns.vector.lower_masks
      transform.apply_patterns.vector.transfer_permutation_patterns
      transform.apply_patterns.vector.lower_transfer max_transfer_rank = 1
      transform.apply_patterns.vector.lower_transpose
      transform.apply_patterns.vector.lower_shape_cast
      transform.apply_patterns.vector.cast_away_vector_leading_one_dim
      transform.apply_patterns.canonicalization
    }} {bound} : {_A}""",
    }
    sequences = [
        f"""  transform.named_sequence @{name}(%root: {_A} {{transform.readonly}}) {{
{bodies[name]}
    transform.yield
  }}"""
        for name, _ in STAGES
    ]
    includes = "\n".join(
        f"    transform.include @{name} failures(propagate) (%root) : ({_A}) -> ()" for name, _ in STAGES
    )
    main = f"""  transform.named_sequence @__transform_main(%root: {_A} {{transform.readonly}}) {{
{includes}
    transform.yield
  }}"""
    return "module attributes {transform.with_named_sequence} {\n" + "\n".join([*sequences, main]) + "\n}\n"


def with_script(module_text: str, script: str) -> str:
    """One module holding the payload and the script, as the transform
    interpreter runs them (for reproducers)."""
    module, script_module = ir.Module.parse(module_text), ir.Module.parse(script)
    module.operation.attributes["transform.with_named_sequence"] = ir.UnitAttr.get()
    for op in list(script_module.body.operations):  # (a temporary module here aborted the process)
        module.body.append(op.detach_from_parent())
    return str(module)


def apply(module: ir.Module, script: str) -> None:
    """Runs `script`'s stages on `module` with the transform interpreter:
    the per-function stages as a pass nested under func.func (MLIR runs
    functions on the context's threads), after preloading the script as the
    context's transform library, where a nested interpreter finds its entry
    point (the library is read from a file: upstream has no other way in
    from Python). The result is the one `__transform_main` gives."""
    import os
    import tempfile

    from mlir import passmanager

    stages = ",".join(
        f"func.func(transform-interpreter{{entry-point={name}}})" if per_function
        else f"transform-interpreter{{entry-point={name}}}"
        for name, per_function in STAGES
    )
    fd, path = tempfile.mkstemp(prefix="sparcc-schedule-", suffix=".mlir")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(script)
        passmanager.PassManager.parse(
            f"builtin.module(transform-preload-library{{transform-library-paths={path}}},{stages},"
            "func.func(canonicalize,cse))"
        ).run(module.operation)
    finally:
        os.unlink(path)
