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
            fused = fuse(producer, consumer, i)
            if not _covers_loops(_maps(fused)):  # e.g. the sum of a broadcast scalar: no operand sizes a loop
                continue
            rewriter.replace(consumer, fused)
            rewriter.erase(producer)
            return


def _covers_loops(maps: list[AffineMap]) -> bool:
    """Whether every loop of a generic with these maps is a plain dim of
    some operand, so that linalg can size it (and the op verifies)."""
    from xdsl.ir.affine import AffineDimExpr

    seen = {r.position for m in maps for r in m.results if isinstance(r, AffineDimExpr)}
    return all(d in seen for d in range(maps[0].num_dims)) if maps else True


def fuse(producer: linalg.GenericOp, consumer: linalg.GenericOp, index: int) -> linalg.GenericOp:
    """The generic computing `consumer` with its input `index` computed inline."""
    c_maps, p_maps = _maps(consumer), _maps(producer)
    inverse = p_maps[-1].inverse_permutation()
    assert inverse is not None
    # producer loop space, seen from the consumer's loops
    to_producer = inverse.compose(c_maps[index])

    keep = [j for j in range(len(consumer.inputs)) if j != index]
    inputs = [consumer.inputs[j] for j in keep] + list(producer.inputs)
    maps = [c_maps[j] for j in keep] + [m.compose(to_producer) for m in p_maps[:-1]]
    maps += c_maps[len(consumer.inputs) :]

    c_block, p_block = consumer.body.block, producer.body.block
    block = Block(
        arg_types=[c_block.args[j].type for j in keep]
        + [p_block.args[k].type for k in range(len(producer.inputs))]
        + [c_block.args[len(consumer.inputs) + k].type for k in range(len(consumer.outputs))]
    )
    mapping: dict[SSAValue, SSAValue] = {}
    for k, j in enumerate(keep):
        mapping[c_block.args[j]] = block.args[k]
    for k in range(len(producer.inputs)):
        mapping[p_block.args[k]] = block.args[len(keep) + k]
    for k in range(len(consumer.outputs)):
        mapping[c_block.args[len(consumer.inputs) + k]] = block.args[len(inputs) + k]

    for op in p_block.ops:
        if isinstance(op, linalg.YieldOp):
            mapping[c_block.args[index]] = mapping.get(op.operands[0], op.operands[0])
            break
        block.add_op(op.clone(value_mapper=mapping))
    for op in c_block.ops:
        block.add_op(op.clone(value_mapper=mapping))

    return linalg.GenericOp(
        inputs,
        list(consumer.outputs),
        Region(block),
        [AffineMapAttr(m) for m in maps],
        consumer.iterator_types,
        [r.type for r in consumer.res],
    )


@dataclass(frozen=True)
class FuseElementwisePass(ModulePass):
    name = "fuse-elementwise"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseProducer()])).rewrite_module(op)
