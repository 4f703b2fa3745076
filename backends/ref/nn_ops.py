"""
Handlers of the `nn` dialect, and of arith.constant (the frontend's scalar
constants): each op means what the ATen op of its name means, computed
with torch CPU ops as an array library.

Where PyTorch has no answer, the CPU target's choice is the IR's meaning
(passes/convert_nn_to_linalg.py): integer division by zero gives the
dividend (fmod and remainder give 0) instead of trapping, and x / -1 is a
wrapping negation. Index values from tensors are checked first and raise
the error the CPU target raises (sparcc.errors.run_time_error).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from sparcc.backends.ref.interpreter import Frame, handles, torch_dtype
from sparcc.dialects import nn
from sparcc.dialects.nn import elem, ints
from sparcc.errors import UnsupportedOpError, run_time_error
from sparcc.passes.convert_nn_to_linalg import INDEX_BOUNDS, INDEX_GATHER, INDEX_IN_SELF
from xdsl.dialects import arith
from xdsl.dialects.builtin import BoolAttr, DenseIntOrFPElementsAttr, TensorType

Tensor = torch.Tensor


def flag(attr: BoolAttr) -> bool:
    return bool(attr.value.data)  # an i1 IntegerAttr holds 0 or 1

# ----------------------------------------------------------------------------
# weights and constants
# ----------------------------------------------------------------------------


@handles(nn.WeightOp)
def _weight(f: Frame, op: nn.WeightOp) -> Tensor:
    """The stored tensor viewed row-major in the shape that `perm` maps onto
    the result's shape, then permuted (sparcc.backends.bind_weights)."""
    from sparcc.backends import weight_view

    perm = list(ints(op.perm)) if op.perm is not None else None
    return weight_view(f.weight(op.weight_name), list(f.shape(op.result)), perm, op.padded_rows)


@handles(arith.ConstantOp)
def _constant(f: Frame, op: arith.ConstantOp) -> Tensor:
    value = op.value
    if not isinstance(value, DenseIntOrFPElementsAttr) or not isinstance(op.result.type, TensorType):
        raise UnsupportedOpError(f"ref: arith.constant of {op.result.type}: only dense tensor constants are handled")
    dtype = torch_dtype(elem(op.result))
    data = torch.tensor(list(value.get_values()), dtype=torch.float64 if dtype.is_floating_point else torch.int64)
    return data.to(dtype).reshape(f.shape(op.result))


# ----------------------------------------------------------------------------
# elementwise
# ----------------------------------------------------------------------------


def _float_only(name: str, fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def apply(x: Tensor) -> Tensor:
        if not x.is_floating_point():
            raise UnsupportedOpError(f"ref: {name} of {x.dtype}: a float op (the frontend computes it in float)")
        return fn(x)

    return apply


def _rounding(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """floor, ceil, round, trunc: integers are their own value."""
    return lambda x: fn(x) if x.is_floating_point() else x


def _not_on_bool(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """neg, relu, abs, sign of an i1 (0 - x is x xor 0, max(x, 0) is x): x."""
    return lambda x: x if x.dtype == torch.bool else fn(x)


FLOAT_UNARY: dict[type, Callable[[Tensor], Tensor]] = {
    nn.SiluOp: F.silu, nn.SigmoidOp: torch.sigmoid, nn.TanhOp: torch.tanh, nn.ExpOp: torch.exp,
    nn.ErfOp: torch.erf, nn.LogOp: torch.log, nn.SqrtOp: torch.sqrt, nn.RsqrtOp: torch.rsqrt,
    nn.SinOp: torch.sin, nn.CosOp: torch.cos, nn.TanOp: torch.tan, nn.AtanOp: torch.atan,
    nn.Log1pOp: torch.log1p, nn.Expm1Op: torch.expm1, nn.Log2Op: torch.log2,
    nn.AsinOp: torch.asin, nn.AcosOp: torch.acos, nn.SinhOp: torch.sinh, nn.CoshOp: torch.cosh,
    nn.AsinhOp: torch.asinh, nn.AcoshOp: torch.acosh, nn.AtanhOp: torch.atanh, nn.Log10Op: torch.log10,
    nn.ErfcOp: torch.erfc, nn.Exp2Op: torch.exp2,
}
UNARY: dict[type, Callable[[Tensor], Tensor]] = {
    nn.NegOp: _not_on_bool(torch.neg),  # integers wrap
    nn.ReluOp: _not_on_bool(torch.relu),
    nn.AbsOp: _not_on_bool(torch.abs),
    nn.SignOp: _not_on_bool(torch.sign),
    nn.NotOp: torch.bitwise_not,  # logical on bools
    nn.FloorOp: _rounding(torch.floor),
    nn.CeilOp: _rounding(torch.ceil),
    nn.RoundOp: _rounding(torch.round),  # half to even
    nn.TruncOp: _rounding(torch.trunc),
    **{op: _float_only(op.name, fn) for op, fn in FLOAT_UNARY.items()},
}


@handles(*UNARY)
def _unary(f: Frame, op: nn.UnaryOp) -> Tensor:
    return UNARY[type(op)](f[op.input])


@handles(nn.GeluOp)
def _gelu(f: Frame, op: nn.GeluOp) -> Tensor:
    return _float_only("nn.gelu", lambda x: F.gelu(x, approximate=op.approximate.data))(f[op.input])


# nn.special's functions: torch.special's (else torch's) function of the
# same name, but for these; polygamma's order n comes as a 0-d tensor
_SPECIAL_OWN: dict[str, Callable[..., Tensor]] = {
    "polygamma": lambda n, x: torch.polygamma(int(n), x),
    "frexp_mantissa": lambda x: torch.frexp(x).mantissa, "frexp_exponent": lambda x: torch.frexp(x).exponent,
}
SPECIAL: dict[str, Callable[..., Tensor]] = {
    fn: _SPECIAL_OWN.get(fn) or getattr(torch.special, fn, None) or getattr(torch, fn) for fn in nn.SPECIAL_FUNCTIONS
}


@handles(nn.SpecialOp)
def _special(f: Frame, op: nn.SpecialOp) -> Tensor:
    return SPECIAL[op.fn.data](*(f[x] for x in op.inputs))


def _safe_divisor(b: Tensor) -> Tensor:
    """The divisor compiled integer code divides by: 1 for 0 and -1."""
    return torch.where((b == 0) | (b == -1), torch.ones((), dtype=b.dtype), b)


def _int_div(a: Tensor, b: Tensor, mode: str) -> Tensor:
    """Integer division that never traps: x / 0 = x, x / -1 = -x (wrapping)."""
    return torch.where(b == -1, torch.neg(a), torch.div(a, _safe_divisor(b), rounding_mode=mode))


def _div(a: Tensor, b: Tensor) -> Tensor:
    return a / b if a.is_floating_point() else _int_div(a, b, "trunc")


def _floor_div(a: Tensor, b: Tensor) -> Tensor:
    return torch.div(a, b, rounding_mode="floor") if a.is_floating_point() else _int_div(a, b, "floor")


def _trunc_div(a: Tensor, b: Tensor) -> Tensor:
    return torch.div(a, b, rounding_mode="trunc") if a.is_floating_point() else _int_div(a, b, "trunc")


def _fmod(a: Tensor, b: Tensor) -> Tensor:
    return torch.fmod(a, b if a.is_floating_point() else _safe_divisor(b))


def _remainder(a: Tensor, b: Tensor) -> Tensor:
    """Python's %: the divisor's sign (PyTorch computes it from fmod, too)."""
    if a.is_floating_point():
        return torch.remainder(a, b)
    r = _fmod(a, b)
    return torch.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)


def _sub(a: Tensor, b: Tensor) -> Tensor:
    return torch.bitwise_xor(a, b) if a.dtype == torch.bool else a - b


BINARY: dict[type, Callable[[Tensor, Tensor], Tensor]] = {
    nn.AddOp: torch.add,  # on bools: or
    nn.SubOp: _sub,
    nn.MulOp: torch.mul,  # on bools: and
    nn.DivOp: _div,
    nn.MaximumOp: torch.maximum,
    nn.MinimumOp: torch.minimum,
    nn.PowOp: torch.pow,
    nn.FmodOp: _fmod,
    nn.RemainderOp: _remainder,
    nn.FloorDivOp: _floor_div,
    nn.TruncDivOp: _trunc_div,
    nn.Atan2Op: torch.atan2,
    nn.AndOp: torch.bitwise_and,
    nn.OrOp: torch.bitwise_or,
    nn.XorOp: torch.bitwise_xor,
    nn.ShlOp: torch.bitwise_left_shift,
    nn.ShrOp: torch.bitwise_right_shift,
    nn.CopysignOp: torch.copysign,
    nn.FmaxOp: torch.fmax,
    nn.FminOp: torch.fmin,
    nn.HypotOp: torch.hypot,
}


@handles(*BINARY)
def _binary(f: Frame, op: nn.BinaryOp) -> Tensor:
    return BINARY[type(op)](f[op.lhs], f[op.rhs])


COMPARE = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}


@handles(nn.CompareOp)
def _compare(f: Frame, op: nn.CompareOp) -> Tensor:
    return COMPARE[op.predicate.data](f[op.lhs], f[op.rhs])


@handles(nn.WhereOp)
def _where(f: Frame, op: nn.WhereOp) -> Tensor:
    return torch.where(f[op.cond], f[op.lhs], f[op.rhs])


@handles(nn.CastOp)
def _cast(f: Frame, op: nn.CastOp) -> Tensor:
    """PyTorch's .to(dtype): floats to integers truncate, anything to bool is != 0."""
    return f[op.input].to(torch_dtype(elem(op.result)))


@handles(nn.ArangeOp)
def _arange(f: Frame, op: nn.ArangeOp) -> Tensor:
    """start + i * step, in i64 when everything is integral, else in f64."""
    start, step = op.start.value.data, op.step.value.data
    (n,) = f.shape(op.result)
    dtype = torch_dtype(elem(op.result))
    if not dtype.is_floating_point and float(start).is_integer() and float(step).is_integer():
        return (int(start) + torch.arange(n, dtype=torch.int64) * int(step)).to(dtype)
    return (start + torch.arange(n, dtype=torch.float64) * step).to(dtype)


@handles(nn.RandomOp)
def _random(f: Frame, op: nn.RandomOp) -> Tensor:
    """From torch's generator (the CPU target's numbers differ: same distribution)."""
    draw = torch.rand if op.kind.data == "uniform" else torch.randn
    return draw(f.shape(op.result), dtype=torch_dtype(elem(op.result)))


# ----------------------------------------------------------------------------
# reductions and normalisations
# ----------------------------------------------------------------------------


def _sum(x: Tensor, dims: tuple[int, ...], keep: bool) -> Tensor:
    if x.dtype == torch.bool:  # i1 sums are ors
        return torch.any(x, dim=dims, keepdim=keep)
    return torch.sum(x, dim=dims, keepdim=keep, dtype=x.dtype)  # integers wrap in their own type


def _prod(x: Tensor, dims: tuple[int, ...], keep: bool) -> Tensor:
    if x.dtype == torch.bool:
        return torch.all(x, dim=dims, keepdim=keep)
    for d in sorted(dims, reverse=True):  # torch.prod takes one dim
        x = torch.prod(x, dim=d, keepdim=keep, dtype=x.dtype)
    return x


def _mean(x: Tensor, dims: tuple[int, ...], keep: bool) -> Tensor:
    if x.is_floating_point():
        return torch.mean(x, dim=dims, keepdim=keep)
    n = math.prod(x.shape[d] for d in dims)
    return _int_div(_sum(x, dims, keep), torch.tensor(n, dtype=x.dtype), "trunc")


REDUCTIONS: dict[type, Callable[[Tensor, tuple[int, ...], bool], Tensor]] = {
    nn.SumOp: _sum,
    nn.ProdOp: _prod,
    nn.MeanOp: _mean,
    nn.AmaxOp: lambda x, dims, keep: torch.amax(x, dim=dims, keepdim=keep),  # NaN propagates
    nn.AminOp: lambda x, dims, keep: torch.amin(x, dim=dims, keepdim=keep),
}


@handles(*REDUCTIONS)
def _reduce(f: Frame, op: nn.ReduceOp) -> Tensor:
    x, dims = f[op.input], op.reduced_dims()
    if not dims:  # torch reads no dims as all dims; here it is none
        return x
    return REDUCTIONS[type(op)](x, dims, flag(op.keepdim))


@handles(nn.SoftmaxOp)
def _softmax(f: Frame, op: nn.SoftmaxOp) -> Tensor:
    return torch.softmax(f[op.input], op.normalized_dim())


@handles(nn.LogSoftmaxOp)
def _log_softmax(f: Frame, op: nn.LogSoftmaxOp) -> Tensor:
    return torch.log_softmax(f[op.input], op.normalized_dim())


@handles(nn.CumprodOp, nn.CummaxOp, nn.CumminOp, nn.LogcumsumexpOp)
def _scan(f: Frame, op: nn.DimOp) -> Tensor:
    x, d = f[op.input], op.normalized_dim()
    if isinstance(op, nn.CumprodOp):
        return torch.cumprod(x, d, dtype=x.dtype)
    if isinstance(op, nn.LogcumsumexpOp):
        return torch.logcumsumexp(x, d)
    return (torch.cummax if isinstance(op, nn.CummaxOp) else torch.cummin)(x, d).values


@handles(nn.CumsumOp)
def _cumsum(f: Frame, op: nn.CumsumOp) -> Tensor:
    x, d = f[op.input], op.normalized_dim()
    if x.dtype == torch.bool:  # a running or
        return torch.cumsum(x.to(torch.int64), d) > 0
    return torch.cumsum(x, d, dtype=x.dtype)


@handles(nn.ArgmaxOp)
def _argmax(f: Frame, op: nn.ArgmaxOp) -> Tensor:
    """The first extreme element's index; NaN counts as the extreme."""
    x = f[op.input]
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    fn = torch.argmax if flag(op.max) else torch.argmin
    return fn(x, dim=nn.normalize_dim(op.dim.value.data, x.dim()), keepdim=flag(op.keepdim))


@handles(nn.LayerNormOp)
def _layer_norm(f: Frame, op: nn.LayerNormOp) -> Tensor:
    x = f[op.input]
    n = op.normalized_ndim.value.data
    return F.layer_norm(x, x.shape[x.dim() - n :], f.get(op.weight), f.get(op.bias), op.eps.value.data)


@handles(nn.BatchNormOp)
def _batch_norm(f: Frame, op: nn.BatchNormOp) -> Tensor:
    return F.batch_norm(
        f[op.input], f[op.mean], f[op.var], f[op.weight], f[op.bias], training=False, eps=op.eps.value.data
    )


# ----------------------------------------------------------------------------
# contractions, convolution, pooling
# ----------------------------------------------------------------------------


def linear(x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
    """x @ w^T + bias over the last dim of x (also the sparse and quantised linears)."""
    y = torch.matmul(x, w.t())
    return y if bias is None else y + bias


@handles(nn.LinearOp)
def _linear(f: Frame, op: nn.LinearOp) -> Tensor:
    return linear(f[op.input], f[op.weight], f.get(op.bias))


@handles(nn.MatmulOp)
def _matmul(f: Frame, op: nn.MatmulOp) -> Tensor:
    return torch.matmul(f[op.lhs], f[op.rhs])


@handles(nn.SdpaOp)
def _sdpa(f: Frame, op: nn.SdpaOp) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v; is_causal: -inf where key j > query i."""
    q, k, v = f[op.query], f[op.key], f[op.value]
    scores = torch.matmul(q, k.transpose(-2, -1)) * op.scale.value.data
    if op.mask is not None:
        scores = scores + f[op.mask]
    if flag(op.is_causal):
        rows, cols = scores.shape[-2:]
        future = torch.ones(rows, cols, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, -math.inf)
    return torch.matmul(torch.softmax(scores, -1), v)


def _nchw(f: Frame, op: nn.Conv2dOp | nn.Pool2dOp) -> Tensor:
    """The op's input as NCHW (channels_last: it is NHWC)."""
    x = f[op.input]
    return x.permute(0, 3, 1, 2) if flag(op.channels_last) else x


def _laid_out(op: nn.Conv2dOp | nn.Pool2dOp, y: Tensor) -> Tensor:
    return y.permute(0, 2, 3, 1).contiguous() if flag(op.channels_last) else y


@handles(nn.Conv2dOp)
def _conv2d(f: Frame, op: nn.Conv2dOp) -> Tensor:
    return _laid_out(op, F.conv2d(
        _nchw(f, op), f[op.weight], f.get(op.bias), ints(op.stride), ints(op.padding), ints(op.dilation),
        op.groups.value.data,
    ))


@handles(nn.MaxPool2dOp)
def _max_pool(f: Frame, op: nn.MaxPool2dOp) -> Tensor:
    return _laid_out(op, F.max_pool2d(_nchw(f, op), ints(op.kernel), ints(op.stride), ints(op.padding),
                                      ceil_mode=flag(op.ceil_mode)))


@handles(nn.AvgPool2dOp)
def _avg_pool(f: Frame, op: nn.AvgPool2dOp) -> Tensor:
    return _laid_out(op, F.avg_pool2d(_nchw(f, op), ints(op.kernel), ints(op.stride), ints(op.padding),
                                      ceil_mode=flag(op.ceil_mode), count_include_pad=flag(op.count_include_pad)))


# ----------------------------------------------------------------------------
# data movement
# ----------------------------------------------------------------------------


@handles(nn.PermuteOp)
def _permute(f: Frame, op: nn.PermuteOp) -> Tensor:
    return f[op.input].permute(ints(op.perm))


@handles(nn.ReshapeOp)
def _reshape(f: Frame, op: nn.ReshapeOp) -> Tensor:
    return f[op.input].reshape(f.shape(op.result))


@handles(nn.ExpandOp)
def _expand(f: Frame, op: nn.ExpandOp) -> Tensor:
    return f[op.input].expand(f.shape(op.result))


@handles(nn.ConcatOp)
def _concat(f: Frame, op: nn.ConcatOp) -> Tensor:
    return torch.cat([f[x] for x in op.inputs], op.normalized_dim())


def _window(rank: int, d: int, start: int, end: int, step: int) -> tuple[slice, ...]:
    return (slice(None),) * d + (slice(start, end, step),) + (slice(None),) * (rank - d - 1)


@handles(nn.SliceOp)
def _slice(f: Frame, op: nn.SliceOp) -> Tensor:
    x = f[op.input]
    start, end, step = op.bounds()
    d = nn.normalize_dim(op.dim.value.data, x.dim())
    return x[_window(x.dim(), d, f.dim(start), f.dim(end), step)]


@handles(nn.SliceScatterOp)
def _slice_scatter(f: Frame, op: nn.SliceScatterOp) -> Tensor:
    x = f[op.input]
    d = nn.normalize_dim(op.dim.value.data, x.dim())
    y = x.clone()
    y[_window(x.dim(), d, op.start.value.data, op.end.value.data, op.step.value.data)] = f[op.src]
    return y


@handles(nn.PadOp)
def _pad(f: Frame, op: nn.PadOp) -> Tensor:
    x = f[op.input]
    value = op.value.value.data
    pads = [p for lo, hi in reversed(list(zip(ints(op.low), ints(op.high)))) for p in (lo, hi)]
    return torch.constant_pad_nd(x, pads, value if x.is_floating_point() else int(value))


# ----------------------------------------------------------------------------
# indexing: values from tensors are checked as compiled code checks them
# ----------------------------------------------------------------------------


def check_indices(index: Tensor, size: int, wrap: bool, kind: int, dim: int) -> Tensor:
    """`index` as int64, or the error compiled code raises when a value lies
    outside [-size, size) (`wrap`) or [0, size): it reports the smallest value
    when that one is too low, else the largest."""
    index = index.to(torch.int64)
    if index.numel():
        lo, hi = int(index.min()), int(index.max())
        low = -size if wrap else 0
        if lo < low or hi >= size:
            raise run_time_error(kind, dim, lo if lo < low else hi, size)
    return index


@handles(nn.EmbeddingOp)
def _embedding(f: Frame, op: nn.EmbeddingOp) -> Tensor:
    w = f[op.weight]
    return w[check_indices(f[op.indices], w.shape[0], False, INDEX_IN_SELF, 0)]


@handles(nn.IndexOp)
def _index(f: Frame, op: nn.IndexOp) -> Tensor:
    """aten.index.Tensor with index tensors at the `indexed` dims."""
    x = f[op.input]
    wrap = flag(op.wrap)
    dims = ints(op.indexed)
    indices: list[Tensor | None] = [None] * (max(dims) + 1)
    for d, i in zip(dims, op.indices):
        indices[d] = check_indices(f[i], x.shape[d], wrap, INDEX_BOUNDS if wrap else INDEX_IN_SELF, d)
    return torch.ops.aten.index.Tensor(x, indices)


@handles(nn.GatherOp)
def _gather(f: Frame, op: nn.GatherOp) -> Tensor:
    x = f[op.input]
    d = nn.normalize_dim(op.dim.value.data, x.dim())
    return torch.gather(x, d, check_indices(f[op.index], x.shape[d], False, INDEX_GATHER, d))


@handles(nn.IndexPutOp)
def _index_put(f: Frame, op: nn.IndexPutOp) -> Tensor:
    """input[indices] = values (or +=, in index order); where indices repeat
    without accumulate, the last write wins (the CPU target's order)."""
    x = f[op.input]
    dims = ints(op.indexed)
    indices: list[Tensor | None] = [None] * (max(dims) + 1)
    kind = INDEX_GATHER if op.error_kind() == "runtime" else INDEX_BOUNDS
    for d, i in zip(dims, op.indices):
        indices[d] = check_indices(f[i], x.shape[d], flag(op.wrap), kind, d)
    # the flat position of every element of the indexed shape, in order
    where = torch.ops.aten.index.Tensor(torch.arange(x.numel()).reshape(x.shape), indices).reshape(-1)
    values = f[op.values].expand(torch.ops.aten.index.Tensor(x, indices).shape).reshape(-1)
    y = x.clone().reshape(-1)
    if flag(op.accumulate):  # PyTorch's CPU kernel adds in index order, as compiled code does
        if y.dtype == torch.bool:  # bools add as or
            return y.to(torch.int64).index_put_((where,), values.to(torch.int64), accumulate=True).ne(0).reshape(x.shape)
        return y.index_put_((where,), values, accumulate=True).reshape(x.shape)
    order = torch.arange(where.numel())
    last = torch.full((x.numel(),), -1, dtype=torch.int64).scatter_reduce(0, where, order, "amax")
    keep = last[where] == order
    y[where[keep]] = values[keep]
    return y.reshape(x.shape)


@handles(nn.ScatterOp)
def _scatter(f: Frame, op: nn.ScatterOp) -> Tensor:
    """torch.scatter_reduce over the index's region of src; without a
    reduction, the last position along `dim` that names an element wins
    (the CPU target's order)."""
    x, d = f[op.input], op.normalized_dim()
    kind = INDEX_IN_SELF if op.error.data == "in_self" else INDEX_GATHER
    index = check_indices(f[op.index], x.shape[d], False, kind, d)
    src = f[op.src][tuple(slice(0, n) for n in index.shape)]
    if op.reduce.data != "none":
        return x.scatter_reduce(d, index, src, op.reduce.data, include_self=flag(op.include_self))
    where = torch.arange(x.numel()).reshape(x.shape).gather(d, index).reshape(-1)  # flat positions named
    order = torch.arange(index.shape[d]).reshape([-1 if k == d else 1 for k in range(x.dim())]).expand(index.shape)
    order = order.reshape(-1)
    last = torch.full((x.numel(),), -1, dtype=torch.int64).scatter_reduce(0, where, order, "amax")
    keep = last[where] == order
    y = x.clone().reshape(-1)
    y[where[keep]] = src.reshape(-1)[keep]
    return y.reshape(x.shape)


@handles(nn.ArgsortOp)
def _argsort(f: Frame, op: nn.ArgsortOp) -> Tensor:
    """A stable sort's indices; NaN above every number."""
    x = f[op.input]
    return torch.sort(x, dim=op.normalized_dim(), descending=flag(op.descending), stable=True).indices
