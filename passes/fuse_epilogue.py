"""
fuse-epilogue: runs the elementwise op that consumes a matmul's result (its
epilogue: bias, batch norm, activation, residual add, as fuse-elementwise
left them, one generic) on each block of columns of that result right after
the block is computed, while it is still in cache, instead of in a second
pass over the whole result.

    C = fill; C += A @ B;  D = epilogue(C, x1, x2, ...)          (C: [M, N])

becomes one loop over the N/NB column blocks j (iterations independent, so
the CPU backend shares them among its threads):

    C_j = fill; C_j += A @ B[:, j*NB : (j+1)*NB]                 (C_j: [M, NB])
    D[..., j*NB : (j+1)*NB] = epilogue(C_j, x1[..j..], x2[..j..], ...)

The epilogue may read C through reshapes (a channels-last convolution's
matmul [N*H*W, F] read as [N, H, W, F]) as long as the last dim it sees is
C's N; its other operands are sliced along the loop that runs over N and
read whole when they do not vary along it (a per-row statistic).

Chosen through one cost function (`choose`; a heuristic today): a block of
C of M x NB values must fit `l2_bytes` (so the epilogue reads it from L2),
the blocks divide among the threads, and the predicted saving must exceed
`min_saved_ns` and `min_share` of the matmul's own predicted time. The
saving is what the second pass over C costs (C written by the matmul and
read back by the epilogue, 2 x one thread's share of C) when that share
leaves L2: `NS_PER_BYTE_TRANSPOSED` a byte when the epilogue writes C in
another order than it reads it (the NCHW output of a channels-last
convolution), plus `NS_PER_BYTE_MEMORY` when the share exceeds the
last-level cache (`LLC_BYTES`); less `NS_PER_BLOCK` per block (one more
kernel call). A result read back in order from L3 costs nothing
measurable, so it is not fused. The share rule keeps fusion to matmuls
of small K, where the second pass is a visible part of the layer. Every fused matmul gets a report line with its blocks and predicted
saving; the others are counted by reason in one line.

Not fused: matmuls of dynamic shape, ones whose init is not a fill, whose
result has another reader, whose epilogue reads its output or `linalg.index`,
matmuls inside loops (fused attention's blocks), and customize-layout's
panel matmuls (few rows: their result is small).

Options: `l2_bytes`, `llc_bytes`, `min_saved_ns`, `min_share`, `threads`
(default: the team the driver builds for).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, scf, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX, ArrayAttr, IndexType, ModuleOp, StringAttr, TensorType, UnitAttr,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, SSAValue
from xdsl.ir.affine import AffineDimExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from sparcc.dialects.nn import elem, shape_of
from sparcc.passes import team_size
from sparcc.passes.convert_nn_to_linalg import Emitter
from sparcc.passes.fuse_attention import INDEPENDENT_ATTR, REPORT_ATTR, size_text

FUSE_EPILOGUE = True  # switch (benchmarks/bench_schedule.py --switch FUSE_EPILOGUE)

# The heuristic's machine (the Zen 3 VM: 512 KiB L2 a core, 32 MiB L3):
# what a byte of the result costs to write and read back in a second pass,
# by where it lies between the two passes. Measured with a 1x1 convolution
# of 64 -> 256 channels at 56x56 (3.1 MiB result), fused against unfused
# in one process: when the epilogue writes it transposed (the NCHW output
# after a channels-last convolution) the second pass reads it across cache
# lines, 0.25 ns a byte (3.72 -> 2.14 ms); in the same order, from L3, it
# costs nothing measurable (0.97-1.02x, the blocks' overhead included).
# From memory (a result larger than the last-level cache share), about
# 10 GB/s a core.
L2_BYTES = 512 << 10
LLC_BYTES = 16 << 20
NS_PER_BYTE_TRANSPOSED = 0.25
NS_PER_BYTE_MEMORY = 0.1
NS_PER_BLOCK = 400.0
NS_PER_FLOP = 1 / 60  # the matmul's own time: about 60 GFLOP/s a core
MIN_SAVED_NS = 2000.0
# The least saving, as a share of the matmul's predicted time, that fuses:
# the saving per result is fixed and the matmul's work grows with K.
MIN_SHARE = 0.05
BLOCK_MULTIPLE = 16  # a block is whole vector registers wide (16 f32: one AVX-512, two AVX2 registers)


@dataclass(frozen=True)
class EpilogueProblem:
    """An [M, N] matmul result of `elem_bytes`-byte values, K deep, on `threads` threads."""

    m: int
    n: int
    k: int
    elem_bytes: int
    threads: int = 1
    transposed: bool = False  # the epilogue writes the result in another order than the matmul's


@dataclass(frozen=True)
class Choice:
    fuse: bool
    nb: int = 0
    saved_ns: float = 0.0
    why: str = ""


def _share_bytes(p: EpilogueProblem) -> float:
    return p.m * p.n * p.elem_bytes / p.threads  # one thread's part of C


def predicted_saved_ns(p: EpilogueProblem, nb: int, l2_bytes: int = L2_BYTES, llc_bytes: int = LLC_BYTES) -> float:
    """What fusing in blocks of `nb` columns saves (ns; negative: it costs):
    the second pass's cost of one thread's share of C, by where C lies
    between the passes, less the blocks' overhead."""
    share = _share_bytes(p)
    per_byte = 0.0
    if share > l2_bytes:
        per_byte += NS_PER_BYTE_TRANSPOSED if p.transposed else 0.0
        per_byte += NS_PER_BYTE_MEMORY if share > llc_bytes else 0.0
    return 2 * share * per_byte - math.ceil(p.n // nb / p.threads) * NS_PER_BLOCK


def matmul_ns(p: EpilogueProblem) -> float:
    """The matmul's own predicted time (ns), its FLOPs shared by the threads."""
    return 2 * p.m * p.n * p.k * NS_PER_FLOP / p.threads


def choose(p: EpilogueProblem, l2_bytes: int = L2_BYTES, min_saved_ns: float = MIN_SAVED_NS,
           min_share: float = MIN_SHARE, llc_bytes: int = LLC_BYTES) -> Choice:
    """The widest block of whole vector registers that divides N, leaves
    every thread the same number of blocks, and keeps M x NB in L2; fused
    when it saves at least `min_saved_ns` and `min_share` of the matmul's
    time."""
    if _share_bytes(p) <= l2_bytes:
        return Choice(False, why="the result stays in L2")
    if not p.transposed and _share_bytes(p) <= llc_bytes:
        return Choice(False, why="the result stays in the last-level cache, in order")
    widths = [nb for nb in range(BLOCK_MULTIPLE, p.n, BLOCK_MULTIPLE)
              if p.n % nb == 0 and (p.n // nb) % p.threads == 0 and p.m * nb * p.elem_bytes <= l2_bytes]
    if not widths:
        return Choice(False, why="no block of columns fits L2 and the threads")
    nb = max(widths)
    saved = predicted_saved_ns(p, nb, l2_bytes, llc_bytes)
    if saved < min_saved_ns or saved < min_share * matmul_ns(p):
        return Choice(False, nb, saved, why="too little to save")
    return Choice(True, nb, saved)


# ----------------------------------------------------------------------------
# matching
# ----------------------------------------------------------------------------


@dataclass
class _Candidate:
    matmul: linalg.MatmulOp
    fill: linalg.FillOp
    reshapes: list[Operation]  # collapse/expand ops from C to what the epilogue reads
    epilogue: linalg.GenericOp
    index: int  # the epilogue's input that is C
    loop_dim: int  # the epilogue's loop that runs over C's N
    transposed: bool  # the epilogue writes C's values in another order than it reads them


def _static(value: SSAValue) -> bool:
    return isinstance(value.type, TensorType) and all(d >= 0 for d in value.type.get_shape())


def _only_user(value: SSAValue) -> Operation | None:
    uses = list(value.uses)
    return uses[0].operation if len(uses) == 1 else None


def _match(mm: linalg.MatmulOp) -> _Candidate | str:
    """The candidate around `mm`, or why it is none (for the report)."""
    if len(mm.res) != 1 or not all(_static(v) for v in [*mm.inputs, *mm.outputs]):
        return "dynamic shape"
    fill = mm.outputs[0].owner
    if not isinstance(fill, linalg.FillOp) or len(list(mm.outputs[0].uses)) != 1:
        return "init not a fill"
    value, reshapes = mm.res[0], []
    user = _only_user(value)
    while isinstance(user, (tensor.CollapseShapeOp, tensor.ExpandShapeOp)):
        reshapes.append(user)
        value = user.results[0]
        user = _only_user(value)
    if not isinstance(user, linalg.GenericOp):
        return "no elementwise epilogue"
    ep = user
    if len(ep.outputs) != 1 or any(it.data != linalg.IteratorType.PARALLEL for it in ep.iterator_types.data):
        return "no elementwise epilogue"
    maps = [m.data for m in ep.indexing_maps.data]
    if not all(m.is_projected_permutation() for m in maps) or len(maps[-1].results) != maps[-1].num_dims:
        return "no elementwise epilogue"
    body = ep.body.block
    if body.args[-1].uses or any(isinstance(o, linalg.IndexOp) for o in body.ops):
        return "epilogue reads its output or indices"
    index = next((i for i, v in enumerate(ep.inputs) if v is value), None)
    if index is None:  # C is the generic's output operand (overwritten in place)
        return "no elementwise epilogue"
    n = shape_of(mm.res[0])[1]
    seen = shape_of(value)
    last = maps[index].results[-1] if maps[index].results else None
    if not seen or seen[-1] != n or not isinstance(last, AffineDimExpr):
        return "epilogue reads C's columns split"
    if not _static(ep.outputs[0]) or not all(_static(v) for v in ep.inputs if isinstance(v.type, TensorType)):
        return "dynamic shape"
    read = [r.position for r in maps[index].results if isinstance(r, AffineDimExpr)]
    written = [r.position for r in maps[-1].results if isinstance(r, AffineDimExpr) and r.position in read]
    return _Candidate(mm, fill, reshapes, ep, index, last.position, transposed=read != written)


# ----------------------------------------------------------------------------
# the rewrite
# ----------------------------------------------------------------------------


def _slice(e: Emitter, value: SSAValue, dim: int, offset: SSAValue, nb: int) -> SSAValue:
    """`value`'s `nb` entries from `offset` along `dim`, whole along the others."""
    sizes = list(shape_of(value))
    sizes[dim] = nb
    offsets: list[SSAValue | int] = [0] * len(sizes)
    offsets[dim] = offset
    return e.add(tensor.ExtractSliceOp(value, offsets, sizes, [1] * len(sizes), TensorType(elem(value), sizes)))


def _position(m: AffineMap, loop: int) -> int | None:
    return next((p for p, r in enumerate(m.results) if isinstance(r, AffineDimExpr) and r.position == loop), None)


def _fuse(c: _Candidate, nb: int, report: str) -> None:
    mm, ep = c.matmul, c.epilogue
    a, b = mm.inputs
    m, n = shape_of(mm.res[0])
    blocks = n // nb
    maps = [x.data for x in ep.indexing_maps.data]
    out = ep.outputs[0]
    out_dim = _position(maps[-1], c.loop_dim)
    assert out_dim is not None  # the output map is a permutation

    body = Block(arg_types=[IndexType(), out.type])
    j, acc = body.args
    e = Emitter()
    offset = e.add(arith.MuliOp(j, e.size(nb)))
    b_j = _slice(e, b, 1, offset, nb)
    zeros = e.add(linalg.FillOp(list(c.fill.inputs), [e.empty([m, nb], elem(mm.res[0]))]))
    product = e.add(linalg.MatmulOp([a, b_j], [zeros]))
    seen = list(shape_of(ep.inputs[c.index]))
    inputs: list[SSAValue] = []
    for i, (value, imap) in enumerate(zip(ep.inputs, maps)):
        if i == c.index:  # the block of C, viewed as the epilogue reads C (the original's reshapes)
            inputs.append(e.reshape(product, seen[:-1] + [nb]))
            continue
        dim = _position(imap, c.loop_dim)
        inputs.append(value if dim is None else _slice(e, value, dim, offset, nb))
    window = _slice(e, acc, out_dim, offset, nb)
    block_ep = e.add(linalg.GenericOp(inputs, [window], ep.body.clone(), ep.indexing_maps, ep.iterator_types,
                                      [window.type]))
    sizes = list(shape_of(out))
    sizes[out_dim] = nb
    offsets = [0] * len(sizes)
    offsets[out_dim] = DYNAMIC_INDEX
    written = e.add(tensor.InsertSliceOp.get(block_ep, acc, sizes, offsets, [1] * len(sizes),
                                             offsets=[offset], result_type=out.type))
    body.add_ops([*e.ops, scf.YieldOp(written)])
    head = Emitter()
    loop = scf.ForOp(head.size(0), head.size(blocks), head.size(1), [out], body)
    loop.attributes[INDEPENDENT_ATTR] = UnitAttr()  # each block writes its own columns
    loop.attributes["sparcc.epilogue"] = StringAttr(report)
    Rewriter.insert_op([*head.ops, loop], InsertPoint.before(ep))
    ep.results[0].replace_all_uses_with(loop.results[0])
    Rewriter.erase_op(ep)
    for op in reversed(c.reshapes):
        Rewriter.erase_op(op)
    Rewriter.erase_op(mm)
    init = c.fill.outputs[0].owner
    Rewriter.erase_op(c.fill)
    if isinstance(init, tensor.EmptyOp) and not list(init.results[0].uses):
        Rewriter.erase_op(init)


def _what(ep: linalg.GenericOp) -> str:
    """The epilogue's ops, shortened for the report (`addf, mulf, maximumf`)."""
    names = [o.name.split(".")[-1] for o in ep.body.block.ops if not isinstance(o, (linalg.YieldOp, arith.ConstantOp))]
    shown = list(dict.fromkeys(names))
    if not shown:
        return "copy"
    return ", ".join(shown[:4]) + (", ..." if len(shown) > 4 else "")


@dataclass(frozen=True)
class FuseEpiloguePass(ModulePass):
    name = "fuse-epilogue"

    l2_bytes: int | None = None  # None: the module's defaults, read when the pass runs
    min_saved_ns: float | None = None
    min_share: float | None = None
    llc_bytes: int | None = None
    threads: int | None = None  # None: the team the driver builds for (sparcc.passes.team_size)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not FUSE_EPILOGUE:
            return
        l2 = L2_BYTES if self.l2_bytes is None else self.l2_bytes
        least = MIN_SAVED_NS if self.min_saved_ns is None else self.min_saved_ns
        share = MIN_SHARE if self.min_share is None else self.min_share
        llc = LLC_BYTES if self.llc_bytes is None else self.llc_bytes
        threads = max(1, team_size() if self.threads is None else self.threads)
        lines: list[StringAttr] = []
        left: Counter[str] = Counter()
        # a matmul inside a loop is part of another fusion (attention's blocks) or of another
        # function's body in a loop the lowering made; only top-level matmuls are candidates
        for mm in [o for o in op.walk() if isinstance(o, linalg.MatmulOp) and isinstance(o.parent_op(), func.FuncOp)]:
            found = _match(mm)
            if isinstance(found, str):
                left[found] += 1
                continue
            (m, k), (_, n) = shape_of(mm.inputs[0]), shape_of(mm.inputs[1])
            typ = elem(mm.res[0])
            width = getattr(typ, "bitwidth", 32)
            p = EpilogueProblem(m, n, k, max(1, width // 8), threads, found.transposed)
            choice = choose(p, l2, least, share, llc)
            if not choice.fuse:
                left[choice.why] += 1
                continue
            order = ", written transposed" if p.transposed else ""
            text = (f"epilogue: matmul [{m}, {n}, {k}] + {_what(found.epilogue)}{order} fused in {n // choice.nb} blocks "
                    f"of {choice.nb} columns, {size_text(m * n * p.elem_bytes)} result not read back, predicted "
                    f"{choice.saved_ns / 1000:.1f} us saved ({100 * choice.saved_ns / matmul_ns(p):.0f} % of the matmul)")
            _fuse(found, choice.nb, text)
            lines.append(StringAttr(text))
        if left:
            reasons = ", ".join(f"{why}: {count}" for why, count in sorted(left.items()))
            lines.append(StringAttr(f"epilogue: {sum(left.values())} matmuls not fused ({reasons})"))
        if lines:
            before = list(op.attributes[REPORT_ATTR].data) if REPORT_ATTR in op.attributes else []
            op.attributes[REPORT_ATTR] = ArrayAttr(before + lines)
