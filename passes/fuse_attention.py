"""
fuse-attention: chooses, for each `nn.sdpa`, whether its softmax is fused
with the two matmuls around it (online softmax over blocks of keys, as
FlashAttention does), so that the [L, S] score matrix is never stored.

Unfused, `nn.sdpa` lowers to scores = q @ k^T for every query and key, then
the scale/mask pass, the row maximum, exp, the row sum, the division and
the second matmul each read (and most write) all of it: for 12 heads of
2048 tokens that is 192 MiB, six times per call, from memory. Fused, the
lowering (convert-nn-to-linalg) runs

    for each block of bq queries:                  (all heads at once)
      m = -inf, l = 0, acc = 0                     ([H, bq] and [H, bq, Ev])
      for each block of bk keys (causal: only blocks at or left of the diagonal):
        s     = (q_blk @ k_blk^T) * scale + mask_blk      ([H, bq, bk], in cache)
        m'    = max(m, rowmax(s))
        p     = exp(s - m'),  alpha = exp(m - m')
        l     = l * alpha + rowsum(p)
        acc   = acc * alpha + p @ v_blk
        m     = m'
      out_blk = acc / l                            (0 where a row has no key: PyTorch's value)

A row whose keys so far are all masked keeps m = -inf; the exps then use 0
in its place, so that no -inf - -inf makes a NaN.

The decision goes through one cost interface, `choose(AttentionProblem)`
(a heuristic today; a learned model can replace it): fuse where the score
matrix does not fit in the second-level cache, so that the unfused passes
over it go to a slower level, and where block sizes divide the sequence
lengths. The chosen op gets

    sparcc.fusion = "<what, blocks, predicted speed-up>"   (the report prints it)
    sparcc.attention_blocks = [bq, bk]                     (what the lowering reads)

and every decision, fused or not, is appended to the module's
`sparcc.fusions` (the report's "fusions").

Left unfused (and said why in the op's `sparcc.fusion_skipped`): symbolic
sizes, element types other than f32, key/value batch dims that broadcast,
a mask whose batch dims broadcast over some but not all of the query's
(each head would need its own copy), or a sequence length without a block
size in range.

Options: `min_score_bytes` (default: the L2 size below), `max_block_bytes`
(the largest [H, bq, bk] block of scores), `min_gain` (the least predicted
speed-up that fuses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, Float32Type, IntegerAttr, ModuleOp, StringAttr, TensorType, i64
from xdsl.passes import ModulePass

from sparcc.dialects import nn

FUSION_ATTR = "sparcc.fusion"
SKIPPED_ATTR = "sparcc.fusion_skipped"
BLOCKS_ATTR = "sparcc.attention_blocks"
REPORT_ATTR = "sparcc.fusions"  # on the module: every decision, for the compile report
FUSE_ATTENTION = True  # switch (benchmarks/bench_attention.py compares both)

# The heuristic's machine, fitted to benchmarks/bench_attention.py on the
# 2-core Zen 4 VM at one thread (12 heads x 64; the unfused and fused
# programs timed side by side): the cost per f32 score of the unfused
# passes over a score matrix by where it lives, of the fused passes over a
# block that stays in cache, the two matmuls' rate, and the fused loop's
# overhead per (query block, key block) step.
L2_BYTES = 1 << 20
L3_BYTES = 32 << 20
NS_PER_SCORE_L2 = 0.6
NS_PER_SCORE_L3 = 1.2
NS_PER_SCORE_MEMORY = 2.5
NS_PER_SCORE_FUSED = 0.3
NS_PER_FLOP = 1 / 70  # about 70 GFLOP/s
NS_PER_BLOCK = 3000.0

MIN_SCORE_BYTES = L2_BYTES  # smaller score matrices stay unfused
MIN_GAIN = 1.05  # the least predicted speed-up that fuses


@dataclass(frozen=True)
class AttentionProblem:
    heads: int  # the product of the batch dims
    lq: int
    lk: int
    e: int
    ev: int
    causal: bool

    @property
    def score_bytes(self) -> int:
        return 4 * self.heads * self.lq * self.lk


@dataclass(frozen=True)
class AttentionChoice:
    fuse: bool
    bq: int = 0
    bk: int = 0
    predicted: float = 1.0  # unfused time / fused time, as the heuristic predicts
    why: str = ""


def _largest_divisor(n: int, cap: int, least: int = 1) -> int | None:
    return next((d for d in range(min(n, cap), least - 1, -1) if n % d == 0), None)


def predicted_ns(p: AttentionProblem, bq: int = 0, bk: int = 0) -> float:
    """The heuristic cost of one call, unfused (bq = 0) or in blocks."""
    flops = 2 * p.heads * p.lq * p.lk * (p.e + p.ev)
    scores = p.heads * p.lq * p.lk
    if not bq:
        per_score = (NS_PER_SCORE_L2 if p.score_bytes <= L2_BYTES else
                     NS_PER_SCORE_L3 if p.score_bytes <= L3_BYTES else NS_PER_SCORE_MEMORY)
        return flops * NS_PER_FLOP + scores * per_score
    steps = (p.lq // bq) * (p.lk // bk)
    if p.causal:  # the blocks right of the diagonal are skipped
        kept = sum(min(p.lk // bk, -(-(i + 1) * bq // bk)) for i in range(p.lq // bq)) / steps
        flops, scores, steps = flops * kept, scores * kept, steps * kept
    return flops * NS_PER_FLOP + scores * NS_PER_SCORE_FUSED + steps * NS_PER_BLOCK


def _size_text(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def choose(p: AttentionProblem, min_score_bytes: int = L2_BYTES, max_block_bytes: int = 512 << 10,
           min_gain: float = 1.05) -> AttentionChoice:
    """The cost interface: whether to fuse, and the block sizes."""
    if p.score_bytes < min_score_bytes:
        return AttentionChoice(False, why=f"scores ({_size_text(p.score_bytes)}) fit in cache")
    bk = _largest_divisor(p.lk, 128, 16)
    if bk is None:
        return AttentionChoice(False, why=f"no key block of 16..128 divides the key length {p.lk}")
    rows = max(1, max_block_bytes // (4 * p.heads * bk))
    bq = _largest_divisor(p.lq, min(64, rows))
    assert bq is not None  # 1 divides every length
    predicted = predicted_ns(p) / predicted_ns(p, bq, bk)
    if predicted < min_gain:
        return AttentionChoice(False, bq, bk, predicted, f"predicted {predicted:.2f}x")
    return AttentionChoice(True, bq, bk, predicted)


def _static(value) -> list[int] | None:
    typ = value.type
    if not isinstance(typ, TensorType) or not isinstance(typ.element_type, Float32Type):
        return None
    shape = list(typ.get_shape())
    return shape if all(d >= 0 for d in shape) else None


def problem_of(op: nn.SdpaOp) -> AttentionProblem | str:
    """The problem of `op`, or why it cannot run fused."""
    q, k, v = (_static(x) for x in (op.query, op.key, op.value))
    if q is None or k is None or v is None:
        return "symbolic sizes or a type other than f32"
    if not (q[:-2] == k[:-2] == v[:-2]):
        return "key/value batch dims broadcast against the query's"
    if op.mask is not None:
        mask = _static(op.mask)
        if mask is None:
            return "a mask with symbolic sizes or a type other than f32"
        lead = [1] * (len(q) - len(mask)) + mask[:-2] if len(mask) >= 2 else [1] * (len(q) - 2)
        if len(mask) > len(q) or not (all(d == 1 for d in lead) or lead == q[:-2]):
            return "a mask that broadcasts over some batch dims but not all"
    return AttentionProblem(math.prod(q[:-2]), q[-2], k[-2], q[-1], v[-1], op.is_causal.value.data)


@dataclass(frozen=True)
class FuseAttentionPass(ModulePass):
    name = "fuse-attention"

    # None: the module-level defaults below, read when the pass runs (the
    # benchmark sets them to 0 to time the fused form of every case)
    min_score_bytes: int | None = None
    max_block_bytes: int = 512 << 10
    min_gain: float | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not FUSE_ATTENTION:
            return
        decisions = list(op.attributes[REPORT_ATTR].data) if REPORT_ATTR in op.attributes else []
        for sdpa in [o for o in op.walk() if isinstance(o, nn.SdpaOp)]:
            problem = problem_of(sdpa)
            if isinstance(problem, str):
                sdpa.attributes[SKIPPED_ATTR] = StringAttr(problem)
                decisions.append(StringAttr(f"attention {_shape_text(sdpa)}: not fused ({problem})"))
                continue
            p = problem
            what = f"attention {p.heads}x{p.lq}x{p.lk}x{p.e}{' causal' if p.causal else ''}"
            choice = choose(problem, MIN_SCORE_BYTES if self.min_score_bytes is None else self.min_score_bytes,
                            self.max_block_bytes, MIN_GAIN if self.min_gain is None else self.min_gain)
            if not choice.fuse:
                sdpa.attributes[SKIPPED_ATTR] = StringAttr(choice.why)
                decisions.append(StringAttr(f"{what}: not fused ({choice.why})"))
                continue
            sdpa.attributes[BLOCKS_ATTR] = ArrayAttr([IntegerAttr(choice.bq, i64), IntegerAttr(choice.bk, i64)])
            sdpa.attributes[FUSION_ATTR] = StringAttr(
                f"{what}: online softmax, {choice.bq} queries x {choice.bk} keys per block, scores of "
                f"{_size_text(p.score_bytes)} not stored, predicted {choice.predicted:.2f}x"
            )
            decisions.append(sdpa.attributes[FUSION_ATTR])
        if decisions:
            op.attributes[REPORT_ATTR] = ArrayAttr(decisions)


def _shape_text(op: nn.SdpaOp) -> str:
    """heads x L x S x E, as the fused decisions print them ("?" for a size
    known only at run time)."""
    q, k = list(op.query.type.get_shape()), list(op.key.type.get_shape())
    heads = math.prod(q[:-2]) if all(d >= 0 for d in q[:-2]) else -1
    return "x".join(str(d) if d >= 0 else "?" for d in (heads, q[-2], k[-2], q[-1]))
