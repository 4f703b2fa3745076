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

A length that no block size divides is padded to whole blocks: the keys
with zeros, masked to -inf past the real ones; the queries with zero rows,
whose outputs are dropped (ViT's 197 tokens: 4 blocks of 50 queries, 2 of
112 keys).

The decision goes through one cost interface, `choose(AttentionProblem)`
(a heuristic today; a learned model can replace it): fuse where the score
matrix is at least a quarter of the second-level cache (below that the
unfused passes stay in cache, and a tiny model's attention is one block
anyway) and the predicted gain, padding counted, is at least `min_gain`.
Blocks: keys 128 at most (a multiple of 16 when padded); queries 64 at most,
a block of scores within `max_block_bytes`, and at least 4 blocks from 64
queries up, so that the threads, which share the blocks of queries, all get
some. The chosen op gets

    sparcc.fusion = "<what, blocks, predicted speed-up>"   (the report prints it)
    sparcc.attention_blocks = [bq, bk]                     (what the lowering reads)

and every decision, fused or not, is appended to the module's
`sparcc.fusions` (the report's "fusions").

Sequence lengths known only at run time (a dynamic program) run fused for
every length, in blocks of DYNAMIC_BLOCKS (32 queries x 64 keys, so that a
short length wastes little padding) whose numbers are computed from the
sizes; except a few queries (at most FEW_QUERIES) against a key length known
only at run time, a decode step whose scores are a row a head.

Left unfused (and said why in the op's `sparcc.fusion_skipped`): element
types other than f32, symbolic batch or head sizes, key/value batch dims
that broadcast, and a mask whose batch dims broadcast over some but not all
of the query's (each head would need its own copy).

A few queries (at most FEW_QUERIES, a decode step) left unfused are
lowered without a transposed copy of the keys (each score a dot product of
a query row and a key row). When their keys and values are a grouped-query
model's repeated heads (Hugging Face's repeat_kv: `x[:, :, None]`
expanded and reshaped, a copy of the whole cache per layer and call), the
op takes the unrepeated ones instead, with

    sparcc.kv_groups = g        (query head h reads key/value head h // g)

which the lowering reads (PyTorch's enable_gqa semantics).

Options: `min_score_bytes` (default a quarter of the L2 size below), `max_block_bytes`
(the largest [H, bq, bk] block of scores), `min_gain` (the least predicted
speed-up that fuses), `threads` (default: the team size the driver builds
for; the predicted times are for that many threads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, Float32Type, IntegerAttr, ModuleOp, StringAttr, TensorType, i64
from xdsl.passes import ModulePass

from sparcc.dialects import nn
from sparcc.passes import team_size

FUSION_ATTR = "sparcc.fusion"
SKIPPED_ATTR = "sparcc.fusion_skipped"
BLOCKS_ATTR = "sparcc.attention_blocks"
REPORT_ATTR = "sparcc.fusions"  # on the module: every decision, for the compile report
# on the lowering's loop over blocks of queries: its iterations write disjoint
# rows (backends/cpu shares them among the threads)
INDEPENDENT_ATTR = "sparcc.independent_iterations"
GROUPS_ATTR = "sparcc.kv_groups"  # query heads per key/value head (see the module's docstring)
FUSE_ATTENTION = True  # switch (benchmarks/bench_attention.py compares both)

# The heuristic's machine, fitted to benchmarks/bench_attention.py on the
# 2-core Zen 4 VM (12 heads x 64, the unfused and fused programs timed side
# by side, one thread): the matmuls' rate, the cost per f32 score of the
# unfused passes over a score matrix by its size, of the fused passes over a
# block that stays in cache, and the fused loop's overhead per (query block,
# key block) step. With more threads, the unfused matmuls divide among them
# and its passes over the scores barely gain (measured: 1.0-1.6x at 2
# threads); the fused loop shares its blocks of queries.
L2_BYTES = 1 << 20
NS_PER_FLOP = 1 / 85  # about 85 GFLOP/s
NS_PER_SCORE_UNFUSED = ((4 << 20, 0.5), (16 << 20, 1.5), (None, 2.2))  # (score bytes up to, ns)
NS_PER_SCORE_FUSED = 0.45
NS_PER_BLOCK = 3000.0

MIN_SCORE_BYTES = L2_BYTES >> 2  # smaller score matrices stay unfused
DYNAMIC_BLOCKS = (32, 64)  # (queries, keys) per block where a length is known only at run time
FEW_QUERIES = 16  # up to this many queries and a key length known only at run time: unfused
# A prompt of up to LIVE_QUERIES queries against at least LIVE_KEYS_PER_QUERY
# times as many keys (a prefill into a long static KV cache) also takes the
# few-queries lowering when its mask lets it read only the live keys
# (live_key_block): the online softmax would read and transpose the whole cache.
LIVE_QUERIES = 64
LIVE_KEYS_PER_QUERY = 4
LIVE_KEY_BLOCKS = (128, 64, 32, 16)  # key block sizes of that lowering, the largest that divides the keys
MIN_GAIN = 1.05  # the least predicted speed-up that fuses


@dataclass(frozen=True)
class AttentionProblem:
    heads: int  # the product of the batch dims
    lq: nn.Dim  # a number, or a symbol in a dynamic program (then choose() is not asked)
    lk: nn.Dim
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


def predicted_ns(p: AttentionProblem, bq: int = 0, bk: int = 0, threads: int = 1) -> float:
    """The heuristic cost of one call on `threads` threads, unfused (bq = 0)
    or in blocks of bq queries and bk keys (lengths padded to whole blocks)."""
    flops = 2 * p.heads * p.lq * p.lk * (p.e + p.ev)
    scores = p.heads * p.lq * p.lk
    if not bq:
        per_score = next(ns for limit, ns in NS_PER_SCORE_UNFUSED if limit is None or p.score_bytes <= limit)
        return flops * NS_PER_FLOP / threads + scores * per_score
    nq, nk = -(-p.lq // bq), -(-p.lk // bk)
    padded = nq * bq * nk * bk / (p.lq * p.lk)
    steps = nq * nk
    kept = 1.0
    if p.causal:  # the blocks right of the diagonal are skipped
        kept = sum(min(nk, -(-(i + 1) * bq // bk)) for i in range(nq)) / steps
    flops, scores, steps = flops * padded * kept, scores * padded * kept, steps * kept
    one = flops * NS_PER_FLOP + scores * NS_PER_SCORE_FUSED + steps * NS_PER_BLOCK
    return one * -(-nq // threads) / nq if nq >= threads else one  # fewer blocks than threads: no sharing


def size_text(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def blocks(n: int, widest: int, multiple: int = 1) -> tuple[int, int]:
    """(block, padded length) for a length `n` cut into blocks of at most
    `widest`: the largest divisor of n from widest/2 to widest when there is
    one (no padding), else the fewest blocks of at most `widest`, evened out
    and rounded up to `multiple`, the last one padded (ViT's 197 tokens:
    keys in 2 blocks of 112, 224 in all)."""
    exact = _largest_divisor(n, widest, max(1, widest // 2))
    if exact is not None:
        return exact, n
    count = -(-n // widest)
    size = -(-(-(-n // count)) // multiple) * multiple
    return size, count * size


def choose(p: AttentionProblem, min_score_bytes: int = L2_BYTES >> 2, max_block_bytes: int = 512 << 10,
           min_gain: float = 1.05, threads: int = 1) -> AttentionChoice:
    """The cost interface: whether to fuse, and the block sizes, for code
    that runs on `threads` threads."""
    if p.score_bytes < min_score_bytes:
        return AttentionChoice(False, why=f"scores ({size_text(p.score_bytes)}) fit in cache")
    bk, _ = blocks(p.lk, 128, 16)
    # at most 64 queries, a block of scores within max_block_bytes, and at
    # least 4 blocks where there are 64 queries or more (the threads share them)
    rows = max(1, min(64, max_block_bytes // (4 * p.heads * bk), max(16, p.lq // 4)))
    bq, _ = blocks(p.lq, rows)
    predicted = predicted_ns(p, threads=threads) / predicted_ns(p, bq, bk, threads)
    if predicted < min_gain:
        return AttentionChoice(False, bq, bk, predicted, f"predicted {predicted:.2f}x")
    return AttentionChoice(True, bq, bk, predicted)


def _f32_shape(value) -> list | None:
    """The shape (symbols for sizes known only at run time) of an f32 tensor."""
    typ = value.type
    if not isinstance(typ, TensorType) or not isinstance(typ.element_type, Float32Type):
        return None
    return list(nn.shape_of(value))


def problem_of(op: nn.SdpaOp) -> AttentionProblem | str:
    """The problem of `op`, or why it cannot run fused. The sequence
    lengths may be symbolic (a dynamic program: see DYNAMIC_BLOCKS); the
    batch dims and head sizes must be numbers."""
    q, k, v = (_f32_shape(x) for x in (op.query, op.key, op.value))
    if q is None or k is None or v is None:
        return "a type other than f32"
    if not (nn.is_static(q[:-2]) and nn.is_static(k[:-2]) and nn.is_static(v[:-2])
            and all(isinstance(d, int) for d in (q[-1], k[-1], v[-1]))):
        return "symbolic batch or head sizes"
    if not (q[:-2] == k[:-2] == v[:-2]):
        return "key/value batch dims broadcast against the query's"
    if op.mask is not None:
        mask = _f32_shape(op.mask)
        if mask is None:
            return "a mask of a type other than f32"
        lead = [1] * (len(q) - len(mask)) + mask[:-2] if len(mask) >= 2 else [1] * (len(q) - 2)
        if len(mask) > len(q) or not nn.is_static(lead) or not (all(d == 1 for d in lead) or lead == q[:-2]):
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
    threads: int | None = None  # None: the team the driver builds for (sparcc.passes.team_size)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not FUSE_ATTENTION:
            return
        decisions = list(op.attributes[REPORT_ATTR].data) if REPORT_ATTR in op.attributes else []
        for sdpa in [o for o in op.walk() if isinstance(o, nn.SdpaOp)]:
            problem = problem_of(sdpa)
            if isinstance(problem, str):
                decisions.append(_leave_unfused(sdpa, f"attention {_shape_text(sdpa)}", problem))
                continue
            p = problem
            what = f"attention {p.heads}x{p.lq}x{p.lk}x{p.e}{' causal' if p.causal else ''}"
            if not (isinstance(p.lq, int) and isinstance(p.lk, int)):
                # lengths known only at run time: fused for every length, in
                # blocks small enough that a short one wastes little padding;
                # but a few queries against a growing key cache (a decode
                # step) keep their small [L, S] scores unfused
                if isinstance(p.lq, int) and p.lq <= FEW_QUERIES:
                    decisions.append(_leave_unfused(sdpa, what, f"{p.lq} queries: the scores stay small"))
                    continue
                bq, bk = DYNAMIC_BLOCKS
                if isinstance(p.lq, int):
                    bq = blocks(p.lq, bq)[0]
                if isinstance(p.lk, int):
                    bk = blocks(p.lk, bk, 16)[0]
                sdpa.attributes[BLOCKS_ATTR] = ArrayAttr([IntegerAttr(bq, i64), IntegerAttr(bk, i64)])
                sdpa.attributes[FUSION_ATTR] = StringAttr(
                    f"{what}: online softmax, {bq} queries x {bk} keys per block (lengths known at run time)")
                decisions.append(sdpa.attributes[FUSION_ATTR])
                continue
            if p.lq > FEW_QUERIES and few_queries(sdpa):
                decisions.append(_leave_unfused(sdpa, what, f"{p.lq} queries against {p.lk} keys: only the "
                                                "keys the mask leaves are read"))
                continue
            choice = choose(problem, MIN_SCORE_BYTES if self.min_score_bytes is None else self.min_score_bytes,
                            self.max_block_bytes, MIN_GAIN if self.min_gain is None else self.min_gain,
                            team_size() if self.threads is None else self.threads)
            if not choice.fuse:
                decisions.append(_leave_unfused(sdpa, what, choice.why))
                continue
            sdpa.attributes[BLOCKS_ATTR] = ArrayAttr([IntegerAttr(choice.bq, i64), IntegerAttr(choice.bk, i64)])
            sdpa.attributes[FUSION_ATTR] = StringAttr(
                f"{what}: online softmax, {choice.bq} queries x {choice.bk} keys per block, scores of "
                f"{size_text(p.score_bytes)} not stored, predicted {choice.predicted:.2f}x"
            )
            decisions.append(sdpa.attributes[FUSION_ATTR])
        if decisions:
            op.attributes[REPORT_ATTR] = ArrayAttr(decisions)


def _leave_unfused(op: nn.SdpaOp, what: str, why: str) -> StringAttr:
    """Marks `op` unfused (SKIPPED_ATTR = why), hands it unrepeated key/value
    heads where it can (_share_heads), and returns the report's line."""
    op.attributes[SKIPPED_ATTR] = StringAttr(why)
    return StringAttr(f"{what}: not fused ({why}){_share_heads(op)}")


def few_queries(op: nn.SdpaOp) -> bool:
    """Whether an unfused `op` takes the lowering for a few queries (a decode
    step: convert-nn-to-linalg's _sdpa_few_queries): batch and head dims of
    static size, and at most FEW_QUERIES queries, or at most LIVE_QUERIES
    against LIVE_KEYS_PER_QUERY times as many keys with a mask that lets
    the lowering skip dead keys (a prefill into a long cache)."""
    *lead, lq, _ = nn.shape_of(op.query)
    if not (isinstance(lq, int) and nn.is_static(lead)):
        return False
    if lq <= FEW_QUERIES:
        return True
    lk = nn.shape_of(op.key)[-2]
    return (lq <= LIVE_QUERIES and isinstance(lk, int) and lk >= LIVE_KEYS_PER_QUERY * lq
            and live_key_block(op) is not None)


def live_key_block(op: nn.SdpaOp) -> int | None:
    """The key block size of convert-nn-to-linalg's _sdpa_live_keys (which
    reads only the keys some query may attend to), or None where it does not
    apply: it needs an additive mask over the keys, shared by the heads (one
    per batch entry, or one for all), no is_causal, and a static number of
    keys (two blocks or more)."""
    q, k = nn.shape_of(op.query), nn.shape_of(op.key)
    lk, rank = k[-2], len(q)
    if op.mask is None or op.is_causal.value.data or not isinstance(lk, int) or rank < 3:
        return None
    ms = list(nn.shape_of(op.mask))
    ms = [1] * (rank - len(ms)) + ms
    if ms[-3] != 1 or ms[-1] != lk or not (all(x == 1 for x in ms[:-3]) or list(ms[:-3]) == list(q[:-3])):
        return None
    return next((b for b in LIVE_KEY_BLOCKS if lk % b == 0 and lk // b >= 2), None)


def _share_heads(op: nn.SdpaOp) -> str:
    """For an op of a few queries (few_queries) whose keys and values are
    repeated heads (repeat_kv), the unrepeated ones instead, with
    GROUPS_ATTR; what the report adds ("" when nothing changed)."""
    if len(nn.shape_of(op.query)) < 3 or not few_queries(op):  # no head dim, or another lowering
        return ""
    found = [_repeated_heads(v) for v in (op.key, op.value)]
    if None in found or found[0][1] != found[1][1]:  # type: ignore[index]
        return ""
    groups = found[0][1]  # type: ignore[index]
    for index, (source, _) in zip((1, 2), found):  # type: ignore[misc]
        shape = nn.shape_of(source)
        heads = nn.ReshapeOp(source, (*shape[:-3], shape[-2], shape[-1]))  # [..., KV, 1, S, E] -> [..., KV, S, E]
        op.parent_block().insert_op_before(heads, op)  # type: ignore[union-attr]
        repeated = op.operands[index]
        op.operands[index] = heads.result
        for dead in (repeated.owner, repeated.owner.input.owner):  # the reshape, then the expand, if now unused
            if isinstance(dead, nn.ShapedOp) and not dead.result.uses:
                dead.detach()
                dead.erase()
    op.attributes[GROUPS_ATTR] = IntegerAttr(groups, i64)
    return f"; key/value heads shared by {groups} query heads, not repeated"


def _repeated_heads(value: Any) -> tuple[Any, int] | None:
    """(x, g) when `value` is x [..., KV, 1, S, E] expanded to
    [..., KV, g, S, E] and reshaped to [..., KV * g, S, E] (each head
    repeated g times in a row: repeat_kv), else None."""
    reshape = value.owner
    if not isinstance(reshape, nn.ReshapeOp) or not isinstance(expand := reshape.input.owner, nn.ExpandOp):
        return None
    src, wide, out = nn.shape_of(expand.input), nn.shape_of(expand.result), nn.shape_of(reshape.result)
    if len(src) < 4 or len(wide) != len(src) or len(out) != len(src) - 1 or src[-3] != 1:
        return None
    groups = wide[-3]
    if not isinstance(groups, int) or groups < 2 or not isinstance(src[-4], int):
        return None
    same = all(nn.same(a, b) for a, b in zip((*src[:-3], *src[-2:]), (*wide[:-3], *wide[-2:])))
    if not same or list(out) != [*src[:-4], src[-4] * groups, *src[-2:]]:
        return None
    return expand.input, groups


def _shape_text(op: nn.SdpaOp) -> str:
    """heads x L x S x E, as the fused decisions print them (symbols for
    sizes known only at run time)."""
    q, k = list(nn.shape_of(op.query)), list(nn.shape_of(op.key))
    heads = math.prod(q[:-2]) if nn.is_static(q[:-2]) else "?"
    return "x".join(str(d) for d in (heads, q[-2], k[-2], q[-1]))
