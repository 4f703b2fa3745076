"""
convert-nn-to-linalg: lowers the `nn` dialect to linalg, tensor, arith and math.

Composite ops (linear, softmax, layer_norm, sdpa, batch_norm, ...) first expand
into primitive `nn` ops; primitives become `linalg.generic`s (contractions
too: upstream `linalg-specialize-generic-ops` turns them back into named
matmuls for the CPU schedule) or tensor reshapes/slices. Broadcast operands
have their unit dims collapsed away so that every indexing map stays a
projected permutation, which keeps upstream elementwise fusion applicable.

`nn.weight` is left in place: weights stay symbols until the ABI pass; a
permutation of a weight folds into the weight (`perm`), so transposed
weights are laid out once at load time instead of on every call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sparcc.dialects import nn
from sparcc.dialects.nn import elem, ints, shape_of
from xdsl.context import Context
from xdsl.dialects import arith, tensor
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    AffineMapAttr,
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    ModuleOp,
    TensorType,
    f32,
    i64,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

PAR = linalg.IteratorTypeAttr.parallel()
UNROLL_BATCH = 16  # batched matmuls up to this batch lower to 2-d matmuls
RED = linalg.IteratorTypeAttr.reduction()


# ----------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------


class Scalar:
    """Builds scalar arith/math ops: appended to `block` (a linalg body) when
    given, else collected in `ops` (to replace one op with a sequence)."""

    def __init__(self, block: Block | None = None):
        self.block = block
        self.ops: list[Operation] = []

    def _add(self, op: Operation) -> SSAValue:
        if self.block is not None:
            self.block.add_op(op)
        else:
            self.ops.append(op)
        return op.results[0]

    def const(self, value: float, typ: Attribute = f32) -> SSAValue:
        return self._add(arith.ConstantOp(FloatAttr(value, typ)))

    def add(self, a, b):
        return self._add(arith.AddfOp(a, b))

    def sub(self, a, b):
        return self._add(arith.SubfOp(a, b))

    def mul(self, a, b):
        return self._add(arith.MulfOp(a, b))

    def div(self, a, b):
        return self._add(arith.DivfOp(a, b))

    def max(self, a, b):
        return self._add(arith.MaximumfOp(a, b))

    def neg(self, a):
        return self._add(arith.NegfOp(a))

    def exp(self, a):
        return self._add(mathd.ExpOp(a))

    def log(self, a):
        return self._add(mathd.LogOp(a))

    def tanh(self, a):
        return self._add(mathd.TanhOp(a))

    def erf(self, a):
        return self._add(mathd.ErfOp(a))

    def sqrt(self, a):
        return self._add(mathd.SqrtOp(a))

    def rsqrt(self, a):
        return self._add(mathd.RsqrtOp(a))

    def index(self, dim: int) -> SSAValue:
        return self._add(linalg.IndexOp(dim))

    def sigmoid(self, a):
        one = self.const(1.0, a.type)
        return self.div(one, self.add(one, self.exp(self.neg(a))))


Body = Callable[[Scalar, Sequence[SSAValue]], SSAValue]


def dims(n: int) -> list[AffineExpr]:
    return [AffineExpr.dimension(i) for i in range(n)]


def amap(num_dims: int, results: Sequence[AffineExpr]) -> AffineMapAttr:
    return AffineMapAttr(AffineMap(num_dims, 0, tuple(results)))


class Emitter:
    """Collects the ops that replace one matched op."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def add(self, op: Operation) -> SSAValue:
        self.ops.append(op)
        return op.results[0]

    # -- tensors ------------------------------------------------------------

    def empty(self, shape: Sequence[int], typ: Attribute) -> SSAValue:
        return self.add(tensor.EmptyOp([], TensorType(typ, list(shape))))

    def splat(self, value: float, typ: Attribute = f32) -> SSAValue:
        """A rank-0 tensor constant (scalars only; weights never go inline)."""
        t = TensorType(typ, [])
        return self.add(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, [value])))

    def filled(self, shape: Sequence[int], typ: Attribute, value: float) -> SSAValue:
        scalar = self.add(arith.ConstantOp(FloatAttr(value, typ)))
        return self.add(linalg.FillOp([scalar], [self.empty(shape, typ)]))

    def reshape(self, value: SSAValue, shape: Sequence[int]) -> SSAValue:
        """Any static reshape: collapse to 1-d (or 0-d), expand to the target."""
        src = shape_of(value)
        shape = tuple(shape)
        if src == shape:
            return value
        typ = elem(value)
        if len(src) > 1 or (len(src) == 1 and not shape):
            group = [list(range(len(src)))] if shape else []
            flat = [math.prod(src)] if shape else []
            value = self.add(
                tensor.CollapseShapeOp.build(
                    operands=[value],
                    result_types=[TensorType(typ, flat)],
                    properties={"reassociation": reassociation(group)},
                )
            )
        if not shape_of(value) and shape:  # 0-d -> [1, ..., 1]: a broadcast, not expand_shape
            return self.elementwise([value], shape, lambda s, x: x[0])
        if len(shape) > 1:
            value = self.add(
                tensor.ExpandShapeOp(
                    value, [], reassociation([list(range(len(shape)))]), list(shape), TensorType(typ, list(shape))
                )
            )
        return value

    def insert(self, value: SSAValue, dest: SSAValue, offsets: Sequence[int]) -> SSAValue:
        """`dest` with `value` written at `offsets`, copied by a linalg.copy into a slice.

        A bare tensor.insert_slice of a non-contiguous region bufferizes to a
        strided memref.copy, which lowers to a runtime-library call
        (`memrefCopy`) that the CPU backend does not link; linalg.copy
        becomes loops like every other linalg op.
        """
        sizes = list(shape_of(value))
        window = self.add(tensor.ExtractSliceOp.from_static_parameters(dest, offsets, sizes))
        copied = self.add(linalg.CopyOp([value], [window], [window.type]))
        return self.add(tensor.InsertSliceOp.from_static_parameters(copied, dest, offsets, sizes))

    def drop_unit_dims(self, value: SSAValue, keep: Sequence[int]) -> SSAValue:
        shape = shape_of(value)
        if list(keep) == list(range(len(shape))):
            return value
        return self.reshape(value, [shape[i] for i in keep])

    # -- linalg ---------------------------------------------------------------

    def generic(
        self,
        inputs: Sequence[SSAValue],
        in_maps: Sequence[AffineMapAttr],
        init: SSAValue,
        out_map: AffineMapAttr,
        iterators: Sequence[Attribute],
        body: Body,
    ) -> SSAValue:
        block = Block(arg_types=[elem(v) for v in inputs] + [elem(init)])
        scalar = Scalar(block)
        result = body(scalar, block.args)
        block.add_op(linalg.YieldOp(result))
        return self.add(
            linalg.GenericOp(
                list(inputs),
                [init],
                Region(block),
                [*in_maps, out_map],
                list(iterators),
                [init.type],
            )
        )

    def elementwise(
        self,
        inputs: Sequence[SSAValue],
        out_shape: Sequence[int],
        body: Body,
        out_type: Attribute | None = None,
    ) -> SSAValue:
        """A parallel generic over `out_shape`; inputs broadcast PyTorch-style."""
        rank = len(out_shape)
        operands, maps = [], []
        for v in inputs:
            shape = shape_of(v)
            offset = rank - len(shape)
            keep = [i for i, s in enumerate(shape) if not (s == 1 and out_shape[offset + i] != 1)]
            operands.append(self.drop_unit_dims(v, keep))
            maps.append(amap(rank, [AffineExpr.dimension(offset + i) for i in keep]))
        init = self.empty(out_shape, out_type or elem(inputs[0]))
        return self.generic(operands, maps, init, amap(rank, dims(rank)), [PAR] * rank, body)

    def reduce(self, value: SSAValue, red: Sequence[int], init: float, body: Body) -> SSAValue:
        shape = shape_of(value)
        rank = len(shape)
        kept = [i for i in range(rank) if i not in red]
        out = self.filled([shape[i] for i in kept], elem(value), init)
        return self.generic(
            [value],
            [amap(rank, dims(rank))],
            out,
            amap(rank, [AffineExpr.dimension(i) for i in kept]),
            [RED if i in red else PAR for i in range(rank)],
            body,
        )

    def matmul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        """[B?, M, K] x [B?, K, N] as contraction generics.

        Small batches become one 2-d matmul per batch entry: the CPU matmul
        kernel keeps its accumulators in registers only without a batch dim.
        """
        batched = len(shape_of(a)) == 3
        if batched and shape_of(a)[0] <= UNROLL_BATCH:
            nb, m, k = shape_of(a)
            n = shape_of(b)[-1]
            acc = self.empty([nb, m, n], elem(a))
            for i in range(nb):
                ai, bi, out = (
                    self.add(tensor.ExtractSliceOp(v, [i, 0, 0], [1, *shape_of(v)[1:]], [1, 1, 1],
                                                   TensorType(elem(v), list(shape_of(v)[1:]))))
                    for v in (a, b, acc)
                )
                zero = self.add(arith.ConstantOp(FloatAttr(0.0, elem(a))))
                out = self.add(linalg.FillOp([zero], [out]))
                mm = self.contract(ai, bi, out)
                acc = self.add(tensor.InsertSliceOp.from_static_parameters(mm, acc, [i, 0, 0], [1, m, n]))
            return acc
        *batch, m, k = shape_of(a)
        n = shape_of(b)[-1]
        return self.contract(a, b, self.filled([*batch, m, n], elem(a), 0.0))

    def contract(self, a: SSAValue, b: SSAValue, out: SSAValue) -> SSAValue:
        """out += a @ b on [B?, M, K] x [B?, K, N]: linalg.matmul when 2-d
        (the CPU schedule's fast kernel), a contraction generic when batched."""
        batched = len(shape_of(a)) == 3
        if not batched:
            return self.add(linalg.MatmulOp([a, b], [out]))
        d = dims(4 if batched else 3)
        bt = d[:1] if batched else []
        mi, ni, ki = d[-3], d[-2], d[-1]
        nd = len(d)
        return self.generic(
            [a, b],
            [amap(nd, [*bt, mi, ki]), amap(nd, [*bt, ki, ni])],
            out,
            amap(nd, [*bt, mi, ni]),
            [PAR] * (nd - 1) + [RED],
            lambda s, x: s.add(x[2], s.mul(x[0], x[1])),
        )

    def pad(self, value: SSAValue, low: Sequence[int], high: Sequence[int], fill: float) -> SSAValue:
        if not any(low) and not any(high):
            return value
        shape = shape_of(value)
        out = [s + lo + hi for s, lo, hi in zip(shape, low, high)]
        return self.insert(value, self.filled(out, elem(value), fill), low)


def reassociation(groups: Sequence[Sequence[int]]) -> ArrayAttr:
    return ArrayAttr([ArrayAttr([IntegerAttr(i, i64) for i in g]) for g in groups])


# ----------------------------------------------------------------------------
# patterns: one per source op
# ----------------------------------------------------------------------------


class Lowering(RewritePattern):
    """Replaces one nn op by what `emit` builds."""

    op_type: type[Operation]

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, self.op_type):
            return
        e = Emitter()
        result = self.emit(e, op)
        if result is None:
            return
        rewriter.replace(op, e.ops, [result])

    def emit(self, e: Emitter, op) -> SSAValue | None:
        raise NotImplementedError


def lowering(op_type: type[Operation]):
    def wrap(fn: Callable[[Emitter, Operation], SSAValue | None]) -> type[Lowering]:
        return type(f"Lower{op_type.__name__}", (Lowering,), {"op_type": op_type, "emit": staticmethod(fn)})

    return wrap


UNARY: dict[type[Operation], Body] = {
    nn.NegOp: lambda s, x: s.neg(x[0]),
    nn.ReluOp: lambda s, x: s.max(x[0], s.const(0.0, x[0].type)),
    nn.SiluOp: lambda s, x: s.mul(x[0], s.sigmoid(x[0])),
    nn.SigmoidOp: lambda s, x: s.sigmoid(x[0]),
    nn.TanhOp: lambda s, x: s.tanh(x[0]),
    nn.ExpOp: lambda s, x: s.exp(x[0]),
    nn.LogOp: lambda s, x: s.log(x[0]),
    nn.ErfOp: lambda s, x: s.erf(x[0]),
    nn.SqrtOp: lambda s, x: s.sqrt(x[0]),
    nn.RsqrtOp: lambda s, x: s.rsqrt(x[0]),
}

BINARY: dict[type[Operation], Body] = {
    nn.AddOp: lambda s, x: s.add(x[0], x[1]),
    nn.SubOp: lambda s, x: s.sub(x[0], x[1]),
    nn.MulOp: lambda s, x: s.mul(x[0], x[1]),
    nn.DivOp: lambda s, x: s.div(x[0], x[1]),
    nn.MaximumOp: lambda s, x: s.max(x[0], x[1]),
}


def _gelu(s: Scalar, x: Sequence[SSAValue], approximate: str) -> SSAValue:
    v = x[0]
    half = s.mul(s.const(0.5, v.type), v)
    if approximate == "tanh":
        cube = s.mul(s.mul(v, v), v)
        inner = s.mul(s.const(math.sqrt(2 / math.pi), v.type), s.add(v, s.mul(s.const(0.044715, v.type), cube)))
        return s.mul(half, s.add(s.const(1.0, v.type), s.tanh(inner)))
    return s.mul(half, s.add(s.const(1.0, v.type), s.erf(s.mul(v, s.const(1 / math.sqrt(2), v.type)))))


class LowerUnary(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, nn.GeluOp):
            approx = op.approximate.data
            body: Body = lambda s, x: _gelu(s, x, approx)
        elif type(op) in UNARY:
            body = UNARY[type(op)]
        elif type(op) in BINARY:
            body = BINARY[type(op)]
        else:
            return
        e = Emitter()
        result = e.elementwise(list(op.operands), shape_of(op.results[0]), body)
        rewriter.replace(op, e.ops, [result])


@lowering(nn.SumOp)
def _sum(e: Emitter, op: nn.SumOp):
    r = e.reduce(op.input, op.reduced_dims(), 0.0, lambda s, x: s.add(x[0], x[1]))
    return e.reshape(r, shape_of(op.result))


@lowering(nn.AmaxOp)
def _amax(e: Emitter, op: nn.AmaxOp):
    r = e.reduce(op.input, op.reduced_dims(), -math.inf, lambda s, x: s.max(x[0], x[1]))
    return e.reshape(r, shape_of(op.result))


@lowering(nn.MeanOp)
def _mean(e: Emitter, op: nn.MeanOp):
    shape = shape_of(op.input)
    n = math.prod(shape[d] for d in op.reduced_dims())
    total = e.add(nn.SumOp(op.input, op.reduced_dims(), op.keepdim.value.data))
    return e.add(nn.DivOp(total, e.splat(float(n), elem(op.input))))


@lowering(nn.SoftmaxOp)
def _softmax(e: Emitter, op: nn.SoftmaxOp):
    d = op.normalized_dim()
    shifted = e.add(nn.SubOp(op.input, e.add(nn.AmaxOp(op.input, [d], True))))
    ex = e.add(nn.ExpOp(shifted))
    return e.add(nn.DivOp(ex, e.add(nn.SumOp(ex, [d], True))))


@lowering(nn.LogSoftmaxOp)
def _log_softmax(e: Emitter, op: nn.LogSoftmaxOp):
    d = op.normalized_dim()
    shifted = e.add(nn.SubOp(op.input, e.add(nn.AmaxOp(op.input, [d], True))))
    lse = e.add(nn.LogOp(e.add(nn.SumOp(e.add(nn.ExpOp(shifted)), [d], True))))
    return e.add(nn.SubOp(shifted, lse))


@lowering(nn.LayerNormOp)
def _layer_norm(e: Emitter, op: nn.LayerNormOp):
    rank = len(shape_of(op.input))
    red = list(range(rank - op.normalized_ndim.value.data, rank))
    centered = e.add(nn.SubOp(op.input, e.add(nn.MeanOp(op.input, red, True))))
    var = e.add(nn.MeanOp(e.add(nn.MulOp(centered, centered)), red, True))
    eps = e.splat(op.eps.value.data, elem(op.input))
    y = e.add(nn.MulOp(centered, e.add(nn.RsqrtOp(e.add(nn.AddOp(var, eps))))))
    if op.weight is not None:
        y = e.add(nn.MulOp(y, op.weight))
    if op.bias is not None:
        y = e.add(nn.AddOp(y, op.bias))
    return y


@lowering(nn.BatchNormOp)
def _batch_norm(e: Emitter, op: nn.BatchNormOp):
    shape = shape_of(op.input)
    per_channel = [shape[1]] + [1] * (len(shape) - 2)
    eps = e.splat(op.eps.value.data, elem(op.input))
    scale = e.add(nn.MulOp(op.weight, e.add(nn.RsqrtOp(e.add(nn.AddOp(op.var, eps))))))
    shift = e.add(nn.SubOp(op.bias, e.add(nn.MulOp(op.mean, scale))))
    y = e.add(nn.MulOp(op.input, e.reshape(scale, per_channel)))
    return e.add(nn.AddOp(y, e.reshape(shift, per_channel)))


@lowering(nn.LinearOp)
def _linear(e: Emitter, op: nn.LinearOp):
    wt = e.add(nn.PermuteOp(op.weight, [1, 0]))
    y = e.add(nn.MatmulOp(op.input, wt))
    return y if op.bias is None else e.add(nn.AddOp(y, op.bias))


@lowering(nn.MatmulOp)
def _matmul(e: Emitter, op: nn.MatmulOp):
    a, b = shape_of(op.lhs), shape_of(op.rhs)
    out = shape_of(op.result)
    if len(b) == 2:  # fold all of lhs's leading dims into M
        rows = math.prod(a[:-1])
        y = e.matmul(e.reshape(op.lhs, [rows, a[-1]]), op.rhs)
        return e.reshape(y, out)
    batch = out[:-2]
    nb = math.prod(batch)
    lhs = e.reshape(_expand_to(e, op.lhs, (*batch, *a[-2:])), [nb, *a[-2:]])
    rhs = e.reshape(_expand_to(e, op.rhs, (*batch, *b[-2:])), [nb, *b[-2:]])
    return e.reshape(e.matmul(lhs, rhs), out)


def _expand_to(e: Emitter, value: SSAValue, shape: Sequence[int]) -> SSAValue:
    if shape_of(value) == tuple(shape):
        return value
    return e.elementwise([value], shape, lambda s, x: x[0])


@lowering(nn.ExpandOp)
def _expand(e: Emitter, op: nn.ExpandOp):
    return _expand_to(e, op.input, shape_of(op.result))


@lowering(nn.ReshapeOp)
def _reshape(e: Emitter, op: nn.ReshapeOp):
    return reshape_or_fold(e, op.input, shape_of(op.result))


def reshape_or_fold(e: Emitter, value: SSAValue, shape: Sequence[int]) -> SSAValue:
    """A reshape; of an unpermuted weight it is the weight in the new shape."""
    src = value.owner
    if isinstance(src, nn.WeightOp) and src.perm is None:
        return e.add(nn.WeightOp(src.weight_name, TensorType(elem(value), list(shape))))
    return e.reshape(value, shape)


@lowering(nn.PermuteOp)
def _permute(e: Emitter, op: nn.PermuteOp):
    perm = ints(op.perm)
    src = op.input.owner
    if isinstance(src, nn.WeightOp):  # lay the weight out once, at load time
        base = ints(src.perm) if src.perm is not None else tuple(range(len(perm)))
        return e.add(nn.WeightOp(src.weight_name, op.result.type, [base[p] for p in perm]))
    rank = len(perm)
    inv = [perm.index(j) for j in range(rank)]
    init = e.empty(shape_of(op.result), elem(op.input))
    return e.generic(
        [op.input],
        [amap(rank, [AffineExpr.dimension(inv[j]) for j in range(rank)])],
        init,
        amap(rank, dims(rank)),
        [PAR] * rank,
        lambda s, x: x[0],
    )


@lowering(nn.SliceOp)
def _slice(e: Emitter, op: nn.SliceOp):
    shape = shape_of(op.input)
    d = nn.normalize_dim(op.dim.value.data, len(shape))
    out = shape_of(op.result)
    offsets = [0] * len(shape)
    offsets[d] = op.start.value.data
    strides = [1] * len(shape)
    strides[d] = op.step.value.data
    view = e.add(tensor.ExtractSliceOp(op.input, offsets, list(out), strides, op.result.type))
    # copied into a fresh tensor: a strided view that reaches a reshape or a
    # result would bufferize to a strided memref.copy (see Emitter.insert)
    return e.add(linalg.CopyOp([view], [e.empty(out, elem(op.input))], [op.result.type]))


@lowering(nn.ConcatOp)
def _concat(e: Emitter, op: nn.ConcatOp):
    d = op.normalized_dim()
    out = shape_of(op.result)
    # a filled (not empty) destination: eliminate-empty-tensors would otherwise
    # retarget the insert chain but not the slices taken from it, and the
    # copies would land in a temporary
    acc = e.filled(out, elem(op.result), 0.0)
    offset = 0
    for x in op.inputs:
        offsets = [0] * len(out)
        offsets[d] = offset
        acc = e.insert(x, acc, offsets)
        offset += shape_of(x)[d]
    return acc


@lowering(nn.EmbeddingOp)
def _embedding(e: Emitter, op: nn.EmbeddingOp):
    out = shape_of(op.result)
    rank = len(out)
    weight = op.weight

    def body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        row = s._add(arith.IndexCastOp(x[0], IndexType()))
        col = s.index(rank - 1)
        return s._add(tensor.ExtractOp(weight, [row, col], elem(op.result)))

    init = e.empty(out, elem(op.result))
    return e.generic(
        [op.indices], [amap(rank, dims(rank - 1))], init, amap(rank, dims(rank)), [PAR] * rank, body
    )


@lowering(nn.SdpaOp)
def _sdpa(e: Emitter, op: nn.SdpaOp):
    rank = len(shape_of(op.query))
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    kt = e.add(nn.PermuteOp(op.key, perm))
    scores = e.add(nn.MatmulOp(op.query, kt))
    scores = e.add(nn.MulOp(scores, e.splat(op.scale.value.data, elem(op.query))))
    if op.mask is not None:
        scores = e.add(nn.AddOp(scores, op.mask))
    if op.is_causal.value.data:
        scores = _causal_mask(e, scores)
    probs = e.add(nn.SoftmaxOp(scores, -1))
    return e.add(nn.MatmulOp(probs, op.value))


def _causal_mask(e: Emitter, scores: SSAValue) -> SSAValue:
    """-inf where key index j > query index i (PyTorch's is_causal)."""
    rank = len(shape_of(scores))

    def body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        i, j = s.index(rank - 2), s.index(rank - 1)
        future = s._add(arith.CmpiOp(j, i, "ugt"))
        return s._add(arith.SelectOp(future, s.const(-math.inf, x[0].type), x[0]))

    return e.elementwise([scores], shape_of(scores), body)


@lowering(nn.Conv2dOp)
def _conv2d(e: Emitter, op: nn.Conv2dOp):
    n, c, h, w = shape_of(op.input)
    f, cg, kh, kw = shape_of(op.weight)
    g = op.groups.value.data
    fg = f // g
    (sh, sw), (ph, pw), (dh, dw) = ints(op.stride), ints(op.padding), ints(op.dilation)
    _, _, oh, ow = shape_of(op.result)
    x = e.pad(op.input, [0, 0, ph, pw], [0, 0, ph, pw], 0.0)
    if g == 1:
        return _conv2d_im2col(e, op, x)
    hp, wp = h + 2 * ph, w + 2 * pw
    x = e.reshape(x, [n, g, cg, hp, wp])
    wt = e.reshape(op.weight, [g, fg, cg, kh, kw])
    # loops: n g f oh ow | c kh kw
    N, G, F, OH, OW, C, KH, KW = dims(8)
    out = e.filled([n, g, fg, oh, ow], elem(op.input), 0.0)
    y = e.generic(
        [x, wt],
        [
            amap(8, [N, G, C, OH * sh + KH * dh, OW * sw + KW * dw]),
            amap(8, [G, F, C, KH, KW]),
        ],
        out,
        amap(8, [N, G, F, OH, OW]),
        [PAR] * 5 + [RED] * 3,
        lambda s, v: s.add(v[2], s.mul(v[0], v[1])),
    )
    y = e.reshape(y, [n, f, oh, ow])
    if op.bias is not None:
        y = e.add(nn.AddOp(y, e.reshape(op.bias, [f, 1, 1])))
    return y


def _conv2d_im2col(e: Emitter, op: nn.Conv2dOp, x: SSAValue) -> SSAValue:
    """Ungrouped conv2d as one matmul: the windows of the (padded) input are
    gathered into [N*OH*OW, C*KH*KW] rows (im2col) and multiplied by the weight
    laid out as [C*KH*KW, F] (at load time, when it is a model weight), so
    convolutions run on the CPU's tiled, vectorised matmul kernel."""
    n, c, _, _ = shape_of(op.input)
    f, _, kh, kw = shape_of(op.weight)
    (sh, sw), (dh, dw) = ints(op.stride), ints(op.dilation)
    _, _, oh, ow = shape_of(op.result)
    N, OH, OW, C, KH, KW = dims(6)
    patches = e.generic(
        [x],
        [amap(6, [N, C, OH * sh + KH * dh, OW * sw + KW * dw])],
        e.empty([n, oh, ow, c, kh, kw], elem(x)),
        amap(6, dims(6)),
        [PAR] * 6,
        lambda s, v: v[0],
    )
    rows = e.reshape(patches, [n * oh * ow, c * kh * kw])
    wmat = e.add(nn.PermuteOp(reshape_or_fold(e, op.weight, [f, c * kh * kw]), [1, 0]))
    y = e.add(nn.MatmulOp(rows, wmat))
    y = e.add(nn.PermuteOp(e.reshape(y, [n, oh, ow, f]), [0, 3, 1, 2]))
    if op.bias is not None:
        y = e.add(nn.AddOp(y, e.reshape(op.bias, [f, 1, 1])))
    return y


def _pool(e: Emitter, op: nn.Pool2dOp, fill: float, init: float, body: Body) -> SSAValue:
    (kh, kw), (sh, sw), (ph, pw) = ints(op.kernel), ints(op.stride), ints(op.padding)
    n, c, oh, ow = shape_of(op.result)
    x = e.pad(op.input, [0, 0, ph, pw], [0, 0, ph, pw], fill)
    window = e.empty([kh, kw], elem(op.input))
    N, C, OH, OW, KH, KW = dims(6)
    out = e.filled([n, c, oh, ow], elem(op.input), init)
    return e.generic(
        [x, window],
        [amap(6, [N, C, OH * sh + KH, OW * sw + KW]), amap(6, [KH, KW])],
        out,
        amap(6, [N, C, OH, OW]),
        [PAR] * 4 + [RED] * 2,
        body,
    )


@lowering(nn.MaxPool2dOp)
def _max_pool(e: Emitter, op: nn.MaxPool2dOp):
    return _pool(e, op, -math.inf, -math.inf, lambda s, x: s.max(x[2], x[0]))


@lowering(nn.AvgPool2dOp)
def _avg_pool(e: Emitter, op: nn.AvgPool2dOp):
    total = _pool(e, op, 0.0, 0.0, lambda s, x: s.add(x[2], x[0]))
    (kh, kw), (sh, sw), (ph, pw) = ints(op.kernel), ints(op.stride), ints(op.padding)
    _, _, h, w = shape_of(op.input)
    _, _, oh, ow = shape_of(op.result)
    if op.count_include_pad.value.data or (ph == 0 and pw == 0):
        return e.add(nn.DivOp(total, e.splat(float(kh * kw), elem(op.input))))
    counts = [
        float(_window(i, sh, ph, kh, h) * _window(j, sw, pw, kw, w)) for i in range(oh) for j in range(ow)
    ]
    typ = TensorType(elem(op.input), [oh, ow])
    divisor = e.add(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(typ, counts)))
    return e.add(nn.DivOp(total, divisor))


def _window(i: int, stride: int, pad: int, k: int, size: int) -> int:
    """How many of window i's taps fall inside the unpadded input."""
    start = i * stride - pad
    return min(start + k, size) - max(start, 0)


PATTERNS: list[RewritePattern] = [
    LowerUnary(),
    *(
        cls()
        for cls in Lowering.__subclasses__()
    ),
]


@dataclass(frozen=True)
class ConvertNnToLinalgPass(ModulePass):
    name = "convert-nn-to-linalg"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier(PATTERNS), apply_recursively=True
        ).rewrite_module(op)
