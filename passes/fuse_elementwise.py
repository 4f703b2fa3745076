"""
fuse-elementwise: merges an all-parallel `linalg.generic` into the generic
that consumes its result, so that chains like bias-add -> GELU, or
subtract -> exp -> sum in softmax, run as one loop nest with no
intermediate buffer.

A producer P fuses into a consumer C when
  - P is all-parallel, has one result, and that result has exactly one use, in C,
    and P's output map is a permutation;
  - P's body reads no `linalg.index` and not its own output;
  - C reads P's result through a permutation of all of C's loops, so every
    value of P is computed exactly once (a matmul, which reads each input
    element once per output row or column, never fuses its producers);
  - every loop of the fused generic is still a plain dim of one of its
    operands (a sum of a broadcast scalar keeps its broadcast).

Unlike upstream `linalg-fuse-elementwise-ops`, this pass never moves
reshapes through contractions, so matmuls stay 2-d/3-d and keep their fast
named kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.builtin import AffineMapAttr, ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)


def _maps(op: linalg.GenericOp) -> list[AffineMap]:
    return [m.data for m in op.indexing_maps.data]


def _is_permutation(m: AffineMap) -> bool:
    return m.num_dims == len(m.results) and m.is_projected_permutation()


def _fusable_producer(op: Operation | None, consumer: linalg.GenericOp) -> linalg.GenericOp | None:
    if not isinstance(op, linalg.GenericOp) or len(op.res) != 1 or len(op.outputs) != 1:
        return None
    if any(it.data != linalg.IteratorType.PARALLEL for it in op.iterator_types.data):
        return None
    if not _is_permutation(_maps(op)[-1]):
        return None
    uses = list(op.res[0].uses)
    if len(uses) != 1 or uses[0].operation is not consumer:  # read twice counts as two
        return None
    body = op.body.block
    if body.args[-1].uses or any(isinstance(o, linalg.IndexOp) for o in body.ops):
        return None
    return op


class FuseProducer(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, consumer: linalg.GenericOp, rewriter: PatternRewriter) -> None:
        maps = _maps(consumer)
        for i, operand in enumerate(consumer.inputs):
            producer = _fusable_producer(operand.owner, consumer)
            if producer is None or not _is_permutation(maps[i]):
                continue
            fused_map_list = fused_maps(producer, consumer, i)
            if not _covers_loops(fused_map_list):  # e.g. the sum of a broadcast scalar: no operand sizes a loop
                continue
            fused = fuse(producer, consumer, i, fused_map_list)
            rewriter.replace(consumer, fused)
            rewriter.erase(producer)
            return


def _covers_loops(maps: list[AffineMap]) -> bool:
    """Whether every loop of a generic with these maps is a plain dim of
    some operand, so that linalg can size it (and the op verifies)."""
    from xdsl.ir.affine import AffineDimExpr

    seen = {r.position for m in maps for r in m.results if isinstance(r, AffineDimExpr)}
    return all(d in seen for d in range(maps[0].num_dims)) if maps else True


def fused_maps(producer: linalg.GenericOp, consumer: linalg.GenericOp, index: int) -> list[AffineMap]:
    """The indexing maps of `fuse`'s result: the consumer's other inputs, the
    producer's inputs seen from the consumer's loops, the consumer's outputs."""
    c_maps, p_maps = _maps(consumer), _maps(producer)
    inverse = p_maps[-1].inverse_permutation()
    assert inverse is not None
    to_producer = inverse.compose(c_maps[index])  # producer loop space, seen from the consumer's loops
    keep = [c_maps[j] for j in range(len(consumer.inputs)) if j != index]
    if to_producer == AffineMap.identity(to_producer.num_dims) and p_maps[-1].num_dims == to_producer.num_dims:
        moved = p_maps[:-1]  # the same loops: the producer's maps as they are
    else:
        moved = [m.compose(to_producer) for m in p_maps[:-1]]
    return keep + moved + c_maps[len(consumer.inputs):]


def fuse(
    producer: linalg.GenericOp, consumer: linalg.GenericOp, index: int, maps: list[AffineMap] | None = None
) -> linalg.GenericOp:
    """The generic computing `consumer` with its input `index` computed inline.
    The body is the larger of the two bodies, taken over, with the other's
    ops moved into it: a chain of n fusions moves each op O(log n) times (a
    copy of the growing body per fusion was quadratic: 1,100 chained adds
    took 70 s). `producer` and `consumer` are left without bodies."""
    maps = fused_maps(producer, consumer, index) if maps is None else maps
    n_in, n_p = len(consumer.inputs), len(producer.inputs)
    keep = [j for j in range(n_in) if j != index]
    inputs = [consumer.inputs[j] for j in keep] + list(producer.inputs)
    c_block, p_block = consumer.body.block, producer.body.block
    p_yield = p_block.last_op
    assert isinstance(p_yield, linalg.YieldOp)
    if _size(c_block) >= _size(p_block):
        # the consumer's block: its args [inputs, outputs] become [kept inputs, producer inputs, outputs]
        block = c_block
        consumer.body.detach_block(block)
        new = [block.insert_arg(p_block.args[k].type, n_in + k) for k in range(n_p)]
        for k in range(n_p):
            p_block.args[k].replace_all_uses_with(new[k])
        first = block.first_op
        for op in list(p_block.ops)[:-1]:
            p_block.detach_op(op)
            block.insert_op_before(op, first)
        block.args[index].replace_all_uses_with(p_yield.operands[0])
        block.erase_arg(block.args[index])
    else:
        # the producer's block: [producer inputs, its output] becomes [kept inputs, producer inputs, outputs]
        block = p_block
        producer.body.detach_block(block)
        value = p_yield.operands[0]
        block.erase_op(p_yield)
        block.erase_arg(block.args[-1])
        for k, j in enumerate(keep):
            c_block.args[j].replace_all_uses_with(block.insert_arg(c_block.args[j].type, k))
        for k in range(len(consumer.outputs)):
            arg = c_block.args[n_in + k]
            arg.replace_all_uses_with(block.insert_arg(arg.type, len(block.args)))
        c_block.args[index].replace_all_uses_with(value)
        for op in list(c_block.ops):
            c_block.detach_op(op)
            block.add_op(op)

    return linalg.GenericOp(
        inputs,
        list(consumer.outputs),
        Region(block),
        [AffineMapAttr(m) for m in maps],
        consumer.iterator_types,
        [r.type for r in consumer.res],
    )


def _size(block: Block) -> int:
    return sum(1 for _ in block.ops)


@dataclass(frozen=True)
class FuseElementwisePass(ModulePass):
    name = "fuse-elementwise"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseProducer()])).rewrite_module(op)
