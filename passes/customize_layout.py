"""
customize-layout: chooses the memory layout of the weights that matmuls read,
and lays them out once, at load time, instead of on every call.

A `linalg.matmul` C[M, N] += A[M, K] @ B[K, N] whose B is a weight
(`nn.weight`, the model's [N, K] Linear weight or [K, N] as stored) reads B a
row of `nr` values at a time, K rows apart: a stride of 4N bytes between
consecutive loads, which the hardware prefetchers follow poorly, and which
the CPU schedule repairs per call by copying each [kc, nr] panel into a
contiguous buffer (from 20 rows of A up; below that it reads B strided). Here
B is stored instead in panels of P columns, each panel K x P and contiguous:

    Bp[N/P, K, P]  with  Bp[j, k, r] = B[k, j*P + r]

which `nn.weight` expresses by itself (the stored tensor viewed row-major as
[N/P, P, K] or [K, N/P, P], then permuted), so the weight binder builds it
when the program loads. The matmul becomes

    Cp[N/P, M, P] = fill;  Cp[j, m, r] += A[m, k] * Bp[j, k, r]   (loops j, m, r, k)
    C[m, j*P + r] = Cp[j, m, r]                                   (a copy, C viewed as [M, N/P, P])

The contraction is tagged `sparcc.layout = "panels:P"`; the CPU schedule
tiles it as its register-tiled matmul (one panel at a time, no packing copy)
and the report prints the layout with the tiles. Cp keeps the panel dim
first so that a register tile's unit panel dim leads (see
backends/cpu/schedule.py:_packed_matmul). The contraction's body is one
fused multiply-add.

Chosen where it pays (the cost interface: a heuristic today):
  - B is an `nn.weight` of rank 2, read only as matmul B operands
    (a weight read elsewhere too keeps its buffer and gets a second one);
  - f32, static shapes, and a panel width P in (64, 32, 16, 8) that divides N
    (the widest, the schedule's widest register tile; the schedule puts
    several panels of 8 side by side in a register tile);
  - A has at most `max_rows` rows (default 8) and B at least `min_bytes`
    bytes (default 256 KiB): a matmul that streams a large weight for few rows
    (batch-1 decoding, the last stages of a CNN), where the strided reads of
    B bound its speed (1 MiB until the CNNs ran channels-last: their 1x1
    convolutions on 2x2 and 4x4 pixels are such matmuls with weights of
    0.25-1 MiB; efficientnet_b0 1.15x / 1.11x at 1 / 2 threads,
    mobilenet_v3_small 1.26x / 1.27x); or at most `stream_rows` rows (default 32) and B at
    least `stream_bytes` (default 8 MiB), a weight that comes from memory
    on every call of a model (torchvision's vit_b_16 at 17 tokens: 111 ms
    without, 74 ms with, eager 72 ms, one thread); or at most `stream_rows`
    rows and B at least `min_bytes` when all the module's weights together
    reach `total_bytes` (default 32 MiB, a last-level cache): a call reads
    each weight once, so each comes from memory on every call
    (convnext_tiny at 16 rows and 2.25 MiB weights, 108 MiB in all: 1.15x at
    1 thread, 1.06x at 2; resnet50 1.05x / 1.13x). Measured (benchmarks/bench_layout.py): 1.2-1.7x on
    such shapes at 1 and 2 threads; with more rows the computation bounds it,
    the plain schedule's panel copy is amortised, and the extra copy of the
    result here made 16-256-row matmuls up to 1.7x slower at 2 threads.

One row (batch-1 decoding, a classifier head) takes panels of `row_panel`
columns (16) where n is a multiple of 4 of them for each thread (padded to
one where no panel, or only a narrower one, divides n): the CPU schedule puts several side by side in
its register tile, one read stream each, which reads a weight from memory
faster than the one stream of a wide panel (ROW_PANEL below). Up to 4 rows
take them too where the weight comes from memory.

Options: `panel` (P; the widest tried), `max_rows`, `min_bytes`, `stream_rows`,
`stream_bytes`, `total_bytes`, `row_panel` (0: one row as any other),
`threads` (the team the code runs on; default the compile's).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import math, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr, ArrayAttr, Float32Type, IntegerAttr, ModuleOp, StringAttr, TensorType, i64,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from sparcc.dialects import nn
from sparcc.passes import team_size

LAYOUT_ATTR = "sparcc.layout"
PANELS = (64, 32, 16, 8)
# switches (benchmarks/bench_schedule.py --switch NAME): the total_bytes rule,
# and panels of 8 (an ImageNet head's 1000 classes)
MODEL_STREAMS = True
NARROW_PANELS = True
PAD_PANELS = True  # pad a weight whose n no panel divides (a switch for benchmarks)
PADDED_ATTR = "sparcc.padded_from"  # on a padded contraction: the n that C keeps
# One row (batch-1 decoding, a classifier head): panels of ROW_PANEL columns,
# n a multiple of ROW_TILE_PANELS panels for each thread (padded to one where
# no panel divides n and that adds at most 1/32 of n), so that the
# schedule's one-row register tile spans several panels side by side, one
# read stream each, and every thread's share is whole tiles. A weight that
# comes from memory is read faster by several streams than by one (C
# microbenchmark of a 64 MiB GEMV on the Zen 3 VM, 1 thread: one 64-wide
# panel 17-20 GB/s, four 16-wide panels side by side 22-29 GB/s; 2 threads
# 28 against 46-48 GB/s).
ROW_PANEL = 16
ROW_TILE_PANELS = 4  # AVX2's 8 accumulators in panels of 2 vectors
# Two to ROW_PANEL_MAX_ROWS rows take them too where the weight comes from
# memory (stream_bytes, or the model's weights over total_bytes): the tile is
# the rows by whole panels, so each panel is read once front to back, where a
# 64-wide panel was walked in column tiles (Linear 4096x4096, 1 thread, one
# process: 2 rows 1.27x, 4 rows 1.50x with panels of 16).
ROW_PANEL_MAX_ROWS = 4
ROW_STREAMS = True  # a switch for benchmarks
# An n that the row group does not divide but a panel narrower than
# ROW_PANEL does (an ImageNet head's 1000 classes: panels of 8) is padded to
# the row group too (1024) where that adds at most 1/32 of n: panels of 8 go
# several to a tile on one thread, and half an AVX-512 vector each.
# Linear(1280, 1000) at 1 row on the AVX-512 Xeon VM: 219 -> 87 us at 2
# threads (eager 81), 215 -> 216 at 1 (a switch for benchmarks)
ROW_PADS_NARROW = True


def _reassociation(groups: list[list[int]]) -> ArrayAttr:
    return ArrayAttr([ArrayAttr([IntegerAttr(i, i64) for i in g]) for g in groups])


def _amap(results: list[int], num_dims: int = 4) -> AffineMapAttr:
    return AffineMapAttr(AffineMap(num_dims, 0, tuple(AffineExpr.dimension(i) for i in results)))


def panel_width(n: int, widest: int) -> int | None:
    """The widest panel in PANELS, at most `widest`, that divides n."""
    return next((p for p in PANELS if p <= widest and n % p == 0 and (NARROW_PANELS or p >= 16)), None)


def _static_f32(value: SSAValue) -> list[int] | None:
    typ = value.type
    if not isinstance(typ, TensorType) or not isinstance(typ.element_type, Float32Type):
        return None
    shape = list(typ.get_shape())
    return shape if all(d >= 0 for d in shape) else None


def _weight_bytes(module: ModuleOp) -> int:
    """The bytes of the module's weights (each store entry once)."""
    sizes: dict[str, int] = {}
    for op in module.walk():
        if isinstance(op, nn.WeightOp) and isinstance(op.result.type, TensorType):
            typ = op.result.type
            count = 1
            for d in typ.get_shape():
                count *= max(d, 0)
            sizes[op.weight_name] = count * max(getattr(typ.element_type, "bitwidth", 32) // 8, 1)
    return sum(sizes.values())


def padded_panel_width(n: int, widest: int) -> int:
    """The panel width for an n that no panel divides: the widest in PANELS,
    at most `widest`, whose zero padding adds at most 1/32 of n."""
    for p in PANELS:
        if p <= widest and (NARROW_PANELS or p >= 16) and (-n % p) * 32 <= n:
            return p
    return PANELS[-1] if NARROW_PANELS else 16


def _packed_weight(w: nn.WeightOp, k: int, n: int, p: int, padded: int | None = None) -> nn.WeightOp | None:
    """nn.weight of Bp[n/p, k, p] from the same store entry as `w` (B[k, n]);
    with `padded`, Bp[padded/p, k, p] from the [n, k] weight padded with zero
    rows (a Linear weight only).

    `w` may also be of rank R > 2, [d0, .., d(R-2), n] with k = d0 * .. *
    d(R-2) (a channels-last convolution's [KH, KW, C, F], which the matmul
    reads collapsed): the result is then [n/p, d0, .., d(R-2), p], which the
    caller collapses to [n/p, k, p]. Its view splits the stored dim that
    becomes n into [n/p, p]."""
    perm = list(nn.ints(w.perm)) if w.perm is not None else list(range(len(nn.shape_of(w.result))))
    if w.pad_rows is not None:
        return None
    if padded is not None:
        if perm != [1, 0]:
            return None
        return nn.WeightOp(w.weight_name, TensorType(Float32Type(), [padded // p, k, p]), [0, 2, 1], padded)
    shape = list(nn.shape_of(w.result))
    vn = perm[-1]  # the stored (viewed) dim that is n

    def split(v: int) -> int:
        return v if v < vn else v + 1

    new_perm = [vn, *(split(v) for v in perm[:-1]), vn + 1]
    return nn.WeightOp(w.weight_name, TensorType(Float32Type(), [n // p, *shape[:-1], p]), new_perm)


def _weight_of(b: SSAValue) -> nn.WeightOp | None:
    """The nn.weight that matmul operand `b` is: itself, or collapsed to
    [k, n] from [d0, .., n] (its leading dims merged)."""
    src = b.owner
    if isinstance(src, tensor.CollapseShapeOp):
        groups = [[int(i.value.data) for i in g.data] for g in src.reassociation.data]
        inner = src.src.owner
        rank = len(nn.shape_of(src.src))
        if isinstance(inner, nn.WeightOp) and groups == [list(range(rank - 1)), [rank - 1]]:
            return inner
        return None
    return src if isinstance(src, nn.WeightOp) else None


@dataclass(frozen=True)
class CustomizeLayoutPass(ModulePass):
    name = "customize-layout"

    panel: int = 64
    max_rows: int = 8
    min_bytes: int = 256 << 10
    stream_rows: int = 32
    stream_bytes: int = 8 << 20
    total_bytes: int = 32 << 20
    row_panel: int = ROW_PANEL  # 0: one-row matmuls take the panels of any other
    threads: int | None = None  # the team the code runs on (default: the compile's, sparcc.passes.team_size)

    def __post_init__(self) -> None:
        if self.row_panel and self.row_panel not in PANELS:
            raise ValueError(f"customize-layout: row_panel must be 0 or one of {', '.join(map(str, PANELS))}, "
                             f"not {self.row_panel}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"customize-layout: threads must be at least 1, not {self.threads}")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        matmuls = [m for m in op.walk() if isinstance(m, linalg.MatmulOp)]
        packed: dict[tuple[int, int], SSAValue] = {}  # (id of the weight op, P) -> its packed weight
        # all of a model's weights together larger than a last-level cache: a
        # call reads each once, so each comes from memory on every call
        streams = MODEL_STREAMS and _weight_bytes(op) >= self.total_bytes
        for mm in matmuls:
            self._rewrite(mm, packed, streams)

    def _rewrite(self, mm: linalg.MatmulOp, packed: dict[tuple[int, int], SSAValue], streams: bool) -> None:
        if len(mm.inputs) != 2 or len(mm.outputs) != 1 or len(mm.res) != 1:
            return
        a, b, out = mm.inputs[0], mm.inputs[1], mm.outputs[0]
        w = _weight_of(b)
        sa, sb, so = _static_f32(a), _static_f32(b), _static_f32(out)
        if w is None or sa is None or sb is None or so is None or len(sb) != 2:
            return
        (m, k), n = sa, sb[1]
        p = panel_width(n, self.panel)
        padded = None
        from_memory = streams or 4 * k * n >= self.stream_bytes
        if (m == 1 or (m <= ROW_PANEL_MAX_ROWS and from_memory)) and ROW_STREAMS and 0 < self.row_panel <= self.panel:
            group = self.row_panel * ROW_TILE_PANELS * (self.threads or team_size())
            if n % group == 0:
                p = self.row_panel
            elif (p is None or (ROW_PADS_NARROW and p < self.row_panel)) and PAD_PANELS and (-n % group) * 32 <= n:
                # as GPT-2's 50257 classes, or 1000 that only panels of 8 divide
                p, padded = self.row_panel, -(-n // group) * group
        if p is None and PAD_PANELS:
            # no panel divides n (GPT-2's 50257 classes): the weight is padded
            # with zero columns to whole panels, and C keeps the first n
            p = padded_panel_width(n, self.panel)
            padded = -(-n // p) * p
        rows = self.stream_rows if from_memory else self.max_rows
        if p is None or not 1 <= m <= rows or 4 * k * n < self.min_bytes:
            return
        fill = out.owner
        if not isinstance(fill, linalg.FillOp) or len(fill.inputs) != 1:
            return  # an accumulator that is not a constant: left as it is
        key = (id(w), p, padded)
        if key not in packed:
            new = _packed_weight(w, k, n, p, padded)
            if new is None:
                return
            Rewriter.insert_op(new, InsertPoint.before(w))
            packed[key] = new.result
            if len(nn.shape_of(new.result)) > 3:  # [n/p, d0, .., p] -> [n/p, k, p]
                rank = len(nn.shape_of(new.result))
                flat = tensor.CollapseShapeOp.build(
                    operands=[new.result], result_types=[TensorType(Float32Type(), [n // p, k, p])],
                    properties={"reassociation": _reassociation([[0], list(range(1, rank - 1)), [rank - 1]])},
                )
                Rewriter.insert_op(flat, InsertPoint.before(w))
                packed[key] = flat.results[0]
        bp = packed[key]
        np_ = padded if padded is not None else n
        nb = np_ // p
        f32 = Float32Type()
        # Cp[j, m, r] = fill; Cp[j, m, r] += A[m, k] * Bp[j, k, r]   (loops j, m, r, k)
        empty = tensor.EmptyOp([], TensorType(f32, [nb, m, p]))
        init = linalg.FillOp([fill.inputs[0]], [empty.tensor], [empty.tensor.type])
        # acc + a * b as one fused multiply-add: once the CPU schedule folds the
        # unit dims of a register tile, the body is elementwise, and a
        # separate mulf and addf would stay two instructions
        block = Block(arg_types=[f32] * 3)
        fma = math.FmaOp(block.args[0], block.args[1], block.args[2])
        block.add_ops([fma, linalg.YieldOp(fma.result)])
        contraction = linalg.GenericOp(
            [a, bp], [init.res[0]], Region(block), [_amap([1, 3]), _amap([0, 3, 2]), _amap([0, 1, 2])],
            [linalg.IteratorTypeAttr.parallel()] * 3 + [linalg.IteratorTypeAttr.reduction()],
            [TensorType(f32, [nb, m, p])],
        )
        contraction.attributes[LAYOUT_ATTR] = StringAttr(f"panels:{p}")
        # C[m, j*p + r] = Cp[j, m, r]: a copy into C viewed as [m, j, r]
        empty_c = tensor.EmptyOp([], TensorType(f32, [m, nb, p]))
        copy_block = Block(arg_types=[f32] * 2)
        copy_block.add_op(linalg.YieldOp(copy_block.args[0]))
        unpack = linalg.GenericOp(
            [contraction.res[0]], [empty_c.tensor], Region(copy_block),
            [_amap([1, 0, 2], 3), _amap([0, 1, 2], 3)], [linalg.IteratorTypeAttr.parallel()] * 3,
            [TensorType(f32, [m, nb, p])],
        )
        collapse = tensor.CollapseShapeOp.build(
            operands=[unpack.res[0]], result_types=[TensorType(f32, [m, np_])],
            properties={"reassociation": _reassociation([[0], [1, 2]])},
        )
        ops = [empty, init, contraction, empty_c, unpack, collapse]
        if padded is not None:
            contraction.attributes[PADDED_ATTR] = IntegerAttr(n, i64)
            ops.append(tensor.ExtractSliceOp.from_static_parameters(collapse.results[0], [0, 0], [m, n]))
        Rewriter.replace_op(mm, ops, [ops[-1].results[0]])
        if not fill.res[0].uses:
            Rewriter.erase_op(fill)
        if b.owner is not w and not b.uses:
            Rewriter.erase_op(b.owner)
        if not w.result.uses:  # every reader now takes the panels
            Rewriter.erase_op(w)
