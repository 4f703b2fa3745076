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

import contextvars
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sympy

from sparcc.dialects import nn
from sparcc.dialects.nn import Dim, elem, ints, shape_of
from sparcc.errors import DynamicShapeError
from xdsl.context import Context
from xdsl.dialects import arith, func, scf, tensor
from xdsl.dialects import math as mathd
from xdsl.dialects.arith import FloatingPointLikeBinaryOperation
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AffineMapAttr,
    ArrayAttr,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    f32,
    f64,
    i1,
    i64,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.irdl import irdl_op_definition
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


@irdl_op_definition
class RemFOp(FloatingPointLikeBinaryOperation):
    """arith.remf (C fmod), which xDSL's arith lacks; upstream lowers it to frem."""

    name = "arith.remf"


FLOATS = (Float16Type, BFloat16Type, Float32Type, Float64Type)


def is_float(typ: Attribute) -> bool:
    return isinstance(typ, FLOATS)


def int_limit(typ: Attribute, high: bool) -> int:
    """The largest (smallest) value of an integer type; i1 is bool (0/1)."""
    width = typ.width.data  # type: ignore[attr-defined]
    if width == 1:
        return int(high)
    return 2 ** (width - 1) - 1 if high else -(2 ** (width - 1))


_CMPF = {"eq": "oeq", "ne": "une", "lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge"}
_CMPI = {"eq": "eq", "ne": "ne", "lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge"}
_CMPU = {"eq": "eq", "ne": "ne", "lt": "ult", "le": "ule", "gt": "ugt", "ge": "uge"}


class Scalar:
    """Builds scalar arith/math ops: appended to `block` (a linalg body) when
    given, else collected in `ops` (to replace one op with a sequence).

    Every method follows its operands' type: floats use arith's f-ops and
    math, integers the signed i-ops, and i1 (bool) the logical ones."""

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
        """A constant; +-inf for an integer type is its largest/smallest value."""
        if is_float(typ):
            return self._add(arith.ConstantOp(FloatAttr(value, typ)))
        if math.isinf(value):
            value = int_limit(typ, value > 0)
        if isinstance(typ, IndexType):
            return self._add(arith.ConstantOp(IntegerAttr(int(value), typ)))
        if typ.width.data == 1:  # type: ignore[attr-defined]
            value = bool(value)
        return self._add(arith.ConstantOp(IntegerAttr(int(value), typ)))

    def _pick(self, a, b, f, i, b1=None):
        if is_float(a.type):
            return self._add(f(a, b))
        if b1 is not None and a.type.width.data == 1:
            return self._add(b1(a, b))
        return self._add(i(a, b))

    def add(self, a, b):
        return self._pick(a, b, arith.AddfOp, arith.AddiOp, arith.OrIOp)

    def sub(self, a, b):
        return self._pick(a, b, arith.SubfOp, arith.SubiOp, arith.XOrIOp)

    def mul(self, a, b):
        return self._pick(a, b, arith.MulfOp, arith.MuliOp, arith.AndIOp)

    def div(self, a, b):
        """a / b; integers divide toward zero (a zero divisor gives 0, not a trap)."""
        if is_float(a.type):
            return self._add(arith.DivfOp(a, b))
        return self._int_div(a, b, arith.DivSIOp)

    def floor_div(self, a, b):
        """Integers: floor(a / b). Floats: PyTorch's CPU div_floor, which
        is not floor(a / b) where a / b rounds to an integer (1 // 0.1 is
        9): (a - fmod(a, b)) / b, one less where fmod's sign is not b's,
        rounded to the nearest integer; a zero quotient keeps the sign of
        a / b, and a zero divisor gives a / b."""
        if not is_float(a.type):
            return self._int_div(a, b, arith.FloorDivSIOp)
        zero, one = self.const(0.0, a.type), self.const(1.0, a.type)
        mod = self.fmod(a, b)
        div = self.div(self.sub(a, mod), b)
        off = self.and_(self.cmp("ne", mod, zero), self.cmp("ne", self.cmp("lt", b, zero), self.cmp("lt", mod, zero)))
        div = self.select(off, self.sub(div, one), div)
        floor = self.floor(div)
        floor = self.select(self.cmp("gt", self.sub(div, floor), self.const(0.5, a.type)), self.add(floor, one), floor)
        quotient = self.div(a, b)
        floor = self.select(self.cmp("eq", div, zero), self._add(mathd.CopySignOp(zero, quotient)), floor)
        return self.select(self.cmp("eq", b, zero), quotient, floor)

    def trunc_div(self, a, b):
        if is_float(a.type):
            return self.trunc(self.div(a, b))
        return self._int_div(a, b, arith.DivSIOp)

    def _int_div(self, a, b, op):
        """Integer division that never traps: a zero divisor divides by one and
        x / -1 is a wrapping negation (the x86 idiv of INT_MIN by -1 faults)."""
        zero, one = self.const(0, b.type), self.const(1, b.type)
        minus = self.const(-1, b.type) if b.type.width.data > 1 else one
        safe = self.select(self.cmp("eq", b, zero), one, b)
        safe = self.select(self.cmp("eq", safe, minus), one, safe)
        q = self._add(op(a, safe))
        return self.select(self.cmp("eq", b, minus), self.sub(zero, a), q)

    def fmod(self, a, b):
        if is_float(a.type):
            return self._add(RemFOp(a, b))
        zero, one = self.const(0, b.type), self.const(1, b.type)
        safe = self.select(self.cmp("eq", b, zero), one, b)
        safe = self.select(self.cmp("eq", safe, self.const(-1, b.type)), one, safe)
        return self._add(arith.RemSIOp(a, safe))

    def remainder(self, a, b):
        """Python's a % b: the result has the divisor's sign."""
        r = self.fmod(a, b)
        zero = self.const(0, a.type)
        fix = self.and_(self.cmp("ne", r, zero), self.cmp("ne", self.cmp("lt", r, zero), self.cmp("lt", b, zero)))
        return self.select(fix, self.add(r, b), r)

    def max(self, a, b):
        return self._pick(a, b, arith.MaximumfOp, arith.MaxSIOp, arith.OrIOp)

    def min(self, a, b):
        return self._pick(a, b, arith.MinimumfOp, arith.MinSIOp, arith.AndIOp)

    def and_(self, a, b):
        return self._add(arith.AndIOp(a, b))

    def or_(self, a, b):
        return self._add(arith.OrIOp(a, b))

    def xor(self, a, b):
        return self._add(arith.XOrIOp(a, b))

    def not_(self, a):
        return self.xor(a, self.const(-1 if a.type.width.data > 1 else 1, a.type))

    def neg(self, a):
        if is_float(a.type):
            return self._add(arith.NegfOp(a))
        return self.sub(self.const(0, a.type), a)

    def abs(self, a):
        return self._add((mathd.AbsFOp if is_float(a.type) else mathd.AbsIOp)(a))

    def sign(self, a):
        zero, one, minus = self.const(0, a.type), self.const(1, a.type), self.const(-1, a.type)
        return self.select(self.cmp("gt", a, zero), one, self.select(self.cmp("lt", a, zero), minus, self.mul(a, zero)))

    def cmp(self, predicate: str, a, b):
        if is_float(a.type):
            return self._add(arith.CmpfOp(a, b, _CMPF[predicate]))
        table = _CMPU if isinstance(a.type, IndexType) or a.type.width.data == 1 else _CMPI
        return self._add(arith.CmpiOp(a, b, table[predicate]))

    def select(self, cond, a, b):
        return self._add(arith.SelectOp(cond, a, b))

    def cast(self, a, typ: Attribute):
        """PyTorch's conversion: floats to integers truncate, anything to bool is != 0."""
        src = a.type
        if src == typ:
            return a
        if isinstance(typ, IntegerType) and typ.width.data == 1:
            return self.cmp("ne", a, self.const(0, src))
        if is_float(src) and is_float(typ):
            wider = src.bitwidth < typ.bitwidth  # type: ignore[attr-defined]
            if src.bitwidth == typ.bitwidth:  # f16 <-> bf16: through f32
                return self.cast(self.cast(a, f32), typ)
            return self._add((arith.ExtFOp if wider else arith.TruncFOp)(a, typ))
        if is_float(src):
            return self._add(arith.FPToSIOp(a, typ))
        if is_float(typ):
            return self._add((arith.UIToFPOp if src.width.data == 1 else arith.SIToFPOp)(a, typ))
        if src.width.data < typ.width.data:
            return self._add((arith.ExtUIOp if src.width.data == 1 else arith.ExtSIOp)(a, typ))
        return self._add(arith.TruncIOp(a, typ))

    def pow(self, a, b):
        if is_float(a.type):
            return self._add(mathd.PowFOp(a, b))
        return self._add(mathd.IPowIOp(a, b))

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

    def floor(self, a):
        return self._add(mathd.FloorOp(a)) if is_float(a.type) else a

    def trunc(self, a):
        return self._add(mathd.TruncOp(a)) if is_float(a.type) else a

    def erfc(self, a):
        """libm's erfc (`MathErfcOp`): 1 - erf(a) loses every digit where
        erf(a) rounds to 1."""
        return self._add(MathErfcOp(a))

    def special(self, fn: str, args: Sequence[SSAValue], typ: Attribute):
        """PyTorch's special function `fn` (nn.SPECIAL_FUNCTIONS) of `args`:
        a call of the runtime's `special_symbol` for their type (f16 and bf16
        compute in f32, as PyTorch's kernels do), or arith where that is exact."""
        if fn in ARITH_SPECIAL:
            return getattr(self, fn)(*args)
        narrow = args[0].type not in (f32, f64)
        if narrow:
            args = [self.cast(a, f32) for a in args]
        wide = f32 if narrow and is_float(typ) else typ
        result = self._add(func.CallOp(special_symbol(fn, args[0].type), list(args), [wide]))
        return self.cast(result, typ)

    def nextafter(self, a, b):
        """The float next to `a` toward `b`, in `a`'s own width: one step of
        its bits (sign and magnitude) away from or toward zero; the smallest
        subnormal with `b`'s sign from zero; `b` where a == b; NaN from NaN."""
        bits = IntegerType(a.type.bitwidth)  # type: ignore[attr-defined]
        zero, one = self.const(0.0, a.type), self.const(1, bits)
        n = self._add(arith.BitcastOp(a, bits))
        away = self.cmp("eq", self.cmp("lt", a, b), self.cmp("gt", a, zero))
        step = self._add(arith.BitcastOp(self.select(away, self.add(n, one), self.sub(n, one)), a.type))
        tiny = self._add(mathd.CopySignOp(self._add(arith.BitcastOp(one, a.type)), b))
        r = self.select(self.cmp("eq", a, zero), tiny, step)
        r = self.select(self.cmp("eq", a, b), b, r)
        return self.select(self._add(arith.CmpfOp(a, b, "uno")), self.add(a, b), r)

    def fmax(self, a, b, predicate: str):
        """fmax/fmin: the other operand where one is NaN; integers: max/min."""
        if not is_float(a.type):
            return self.max(a, b) if predicate == "gt" else self.min(a, b)
        pick = self.or_(self.cmp(predicate, a, b), self.cmp("ne", b, b))
        return self.select(pick, a, b)

    def hypot(self, a, b):
        """max * sqrt(1 + (min/max)^2), so that a^2 + b^2 cannot overflow; 0
        when both are 0, inf when either is inf (even with a NaN), as C's."""
        x, y = self.abs(a), self.abs(b)
        big, small = self.select(self.cmp("ge", x, y), x, y), self.select(self.cmp("ge", x, y), y, x)
        zero, one = self.const(0.0, a.type), self.const(1.0, a.type)
        ratio = self.div(small, big)
        r = self.mul(big, self.sqrt(self.add(one, self.mul(ratio, ratio))))
        r = self.select(self.cmp("eq", big, zero), zero, r)
        inf = self.const(math.inf, a.type)
        either = self.or_(self.cmp("eq", x, inf), self.cmp("eq", y, inf))
        # a NaN operand makes the compares false: r is NaN unless the other is inf
        return self.select(either, inf, self.select(self.cmp("ne", x, x), x, self.select(self.cmp("ne", y, y), y, r)))

    def math(self, op: type[Operation], a):
        """A one-operand math op on floats; integers pass through (floor, round, ...)."""
        return self._add(op(a)) if is_float(a.type) else a

    def index(self, dim: int) -> SSAValue:
        return self._add(linalg.IndexOp(dim))

    def sigmoid(self, a):
        one = self.const(1.0, a.type)
        return self.div(one, self.add(one, self.exp(self.neg(a))))


Body = Callable[[Scalar, Sequence[SSAValue]], SSAValue]


# ----------------------------------------------------------------------------
# symbolic sizes (programs compiled for dynamic shapes)
# ----------------------------------------------------------------------------

# Where each size symbol of the function being lowered is found: an
# argument and its dim. Every use reads it with its own `tensor.dim` (tagged
# `sparcc.size`; lower-entry-abi makes the symbols arguments), so that no
# size op sits unused where the rewriter's dead-code elimination would take it.
SIZES: contextvars.ContextVar[dict[sympy.Symbol, tuple[SSAValue, int]]] = contextvars.ContextVar(
    "sparcc_sizes", default={}
)


class DynamicShapeUnsupported(Exception):
    """A lowering met a symbolic size where it needs a number."""


def size_value(d: Dim, ops: list[Operation], sizes: dict[sympy.Symbol, SSAValue] | None = None) -> SSAValue:
    """An `index` value of the size `d`, built with arith ops appended to `ops`;
    a symbol's value comes from `sizes`, else from the function's argument
    (SIZES)."""
    where = SIZES.get()
    sizes = {} if sizes is None else sizes

    def add(op: Operation) -> SSAValue:
        ops.append(op)
        return op.results[0]

    def const(n: int) -> SSAValue:
        return add(arith.ConstantOp(IntegerAttr(int(n), IndexType())))

    def build(x: sympy.Expr) -> SSAValue:
        if isinstance(x, int) or x.is_Integer:
            return const(int(x))
        if x.is_Symbol:
            if x in sizes:
                return sizes[x]
            if x not in where:
                raise DynamicShapeUnsupported(f"size symbol {x} has no value in this function")
            arg, i = where[x]
            size = tensor.DimOp(arg, const(i))
            size.attributes["sparcc.size"] = StringAttr(str(x))
            return add(size)
        if x.is_Add or x.is_Mul:
            parts = [build(a) for a in x.args]
            value = parts[0]
            for other in parts[1:]:
                value = add((arith.AddiOp if x.is_Add else arith.MuliOp)(value, other))
            return value
        if isinstance(x, (sympy.floor, sympy.ceiling)):
            num, den = sympy.fraction(sympy.together(x.args[0]))
            if not den.is_Integer:
                raise DynamicShapeUnsupported(f"size {x}")
            div = arith.FloorDivSIOp if isinstance(x, sympy.floor) else arith.CeilDivSIOp
            return add(div(build(sympy.expand(num)), const(int(den))))
        if isinstance(x, sympy.Mod):
            return add(arith.RemSIOp(build(x.args[0]), build(x.args[1])))
        if isinstance(x, (sympy.Max, sympy.Min)):
            parts = [build(a) for a in x.args]
            value = parts[0]
            for other in parts[1:]:
                value = add((arith.MaxSIOp if isinstance(x, sympy.Max) else arith.MinSIOp)(value, other))
            return value
        if x.is_Pow and x.exp.is_Integer and x.exp > 0:
            base = build(x.base)
            value = base
            for _ in range(int(x.exp) - 1):
                value = add(arith.MuliOp(value, base))
            return value
        raise DynamicShapeUnsupported(f"size {x}")

    return build(d if isinstance(d, int) else sympy.sympify(d))


def static(d: Dim) -> int:
    """`d`, which a lowering needs as a number."""
    if not isinstance(d, int):
        raise DynamicShapeUnsupported(f"a symbolic size ({d}) where this lowering needs a number")
    return d


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

    def size(self, d: Dim) -> SSAValue:
        """An `index` value of the size `d`."""
        return size_value(d, self.ops)

    def sizes(self, shape: Sequence[Dim]) -> list[SSAValue]:
        """The values of the symbolic sizes of `shape`, in order."""
        return [self.size(d) for d in shape if not isinstance(d, int)]

    def mixed(self, values: Sequence[Dim]) -> list[SSAValue | int]:
        """Offsets/sizes for slice ops: numbers stay static."""
        return [v if isinstance(v, int) else self.size(v) for v in values]

    def empty(self, shape: Sequence[Dim], typ: Attribute) -> SSAValue:
        return self.add(tensor.EmptyOp(self.sizes(shape), nn.tensor(shape, typ)))

    def size_i64(self, d: Dim) -> int | SSAValue:
        """A size for scalar code: a number, or an i64 value of a symbolic one."""
        if isinstance(d, int):
            return d
        return self.add(arith.IndexCastOp(self.size(d), i64))

    def size_tensor(self, d: Dim, typ: Attribute) -> SSAValue:
        """A rank-0 tensor holding the size `d` as a `typ` number."""
        if isinstance(d, int):
            return self.splat(float(d) if is_float(typ) else d, typ)
        s = Scalar()
        value = s.cast(s._add(arith.IndexCastOp(self.size(d), i64)), typ)
        self.ops += s.ops
        return self.add(tensor.FromElementsOp(value, result_type=TensorType(typ, [])))

    def splat(self, value: float, typ: Attribute = f32) -> SSAValue:
        """A rank-0 tensor constant (scalars only; weights never go inline)."""
        t = TensorType(typ, [])
        value = value if is_float(typ) else int(value)
        return self.add(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, [value])))

    def scalar(self, value: float, typ: Attribute) -> SSAValue:
        s = Scalar()
        result = s.const(value, typ)
        self.ops += s.ops
        return result

    def filled(self, shape: Sequence[int], typ: Attribute, value: float) -> SSAValue:
        """A tensor of `value` (+-inf: an integer type's extreme)."""
        return self.add(linalg.FillOp([self.scalar(value, typ)], [self.empty(shape, typ)]))

    def reshape(self, value: SSAValue, shape: Sequence[Dim]) -> SSAValue:
        """Any reshape: collapse to 1-d (or 0-d), expand to the target."""
        src = shape_of(value)
        shape = tuple(nn.dim(d) for d in shape)
        if len(src) == len(shape) and all(nn.same(a, b) for a, b in zip(src, shape)):
            return value
        typ = elem(value)
        if not (nn.is_static(src) and nn.is_static(shape)):
            return self._reshape_by_groups(value, src, shape)
        if len(src) > 1 or (len(src) == 1 and not shape):
            group = [list(range(len(src)))] if shape else []
            flat = [math.prod(src)] if shape else []
            value = self.add(
                tensor.CollapseShapeOp.build(
                    operands=[value],
                    result_types=[nn.tensor(flat, typ)],
                    properties={"reassociation": reassociation(group)},
                )
            )
        if not shape_of(value) and shape:  # 0-d -> [1, ..., 1]: a broadcast, not expand_shape
            return self.elementwise([value], shape, lambda s, x: x[0])
        if len(shape) > 1:
            value = self.add(
                tensor.ExpandShapeOp(
                    value, self.sizes(shape), reassociation([list(range(len(shape)))]),
                    [d if isinstance(d, int) else DYNAMIC_INDEX for d in shape], nn.tensor(shape, typ),
                )
            )
        elif len(shape) == 1 and not nn.same(shape_of(value)[0], shape[0]):
            raise DynamicShapeUnsupported(f"reshape of {list(src)} to {list(shape)}")
        return value

    def _reshape_by_groups(self, value: SSAValue, src: tuple[Dim, ...], dst: tuple[Dim, ...]) -> SSAValue:
        """A reshape with symbolic sizes: the dims are cut into runs of equal
        size (each symbolic size in a run of its own on each side), the
        source runs are collapsed and expanded into the target's runs."""
        src_groups, dst_groups = _reshape_groups(src, dst)
        typ = elem(value)
        middle = [nn.dim(math.prod(src[k] for k in g)) for g in src_groups]
        if len(middle) != len(src):
            value = self.add(tensor.CollapseShapeOp.build(
                operands=[value], result_types=[nn.tensor(middle, typ)],
                properties={"reassociation": reassociation(src_groups)},
            ))
        if len(middle) != len(dst):
            value = self.add(tensor.ExpandShapeOp(
                value, self.sizes(dst), reassociation(dst_groups),
                [d if isinstance(d, int) else DYNAMIC_INDEX for d in dst], nn.tensor(dst, typ),
            ))
        return value

    def insert(
        self, value: SSAValue, dest: SSAValue, offsets: Sequence[int], strides: Sequence[int] | None = None
    ) -> SSAValue:
        """`dest` with `value` written at `offsets`, copied by a linalg.copy into a slice.

        A bare tensor.insert_slice of a non-contiguous region bufferizes to a
        strided memref.copy, which lowers to a runtime-library call
        (`memrefCopy`) that the CPU backend does not link; linalg.copy
        becomes loops like every other linalg op.
        """
        sizes = list(shape_of(value))
        strides = list(strides) if strides is not None else [1] * len(sizes)
        if nn.is_static(sizes) and nn.is_static(offsets):
            window = self.add(tensor.ExtractSliceOp.from_static_parameters(dest, offsets, sizes, strides))
            copied = self.add(linalg.CopyOp([value], [window], [window.type]))
            return self.add(tensor.InsertSliceOp.from_static_parameters(copied, dest, offsets, sizes, strides))
        window = self.add(tensor.ExtractSliceOp(dest, self.mixed(offsets), self.mixed(sizes), strides,
                                                nn.tensor(sizes, elem(dest))))
        copied = self.add(linalg.CopyOp([value], [window], [window.type]))
        dynamic_offsets = [self.size(o) for o in offsets if not isinstance(o, int)]
        return self.add(tensor.InsertSliceOp.get(
            copied, dest, [d if isinstance(d, int) else DYNAMIC_INDEX for d in sizes],
            [o if isinstance(o, int) else DYNAMIC_INDEX for o in offsets], list(strides),
            offsets=dynamic_offsets, sizes=self.sizes(sizes), result_type=dest.type,
        ))

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
        if batched and isinstance(shape_of(a)[0], int) and shape_of(a)[0] <= UNROLL_BATCH:
            nb, m, k = shape_of(a)
            n = shape_of(b)[-1]
            acc = self.empty([nb, m, n], elem(a))
            for i in range(nb):
                ai, bi, out = (
                    self.add(tensor.ExtractSliceOp(v, [i, 0, 0], self.mixed([1, *shape_of(v)[1:]]), [1, 1, 1],
                                                   nn.tensor(shape_of(v)[1:], elem(v))))
                    for v in (a, b, acc)
                )
                zero = self.scalar(0.0, elem(a))
                out = self.add(linalg.FillOp([zero], [out]))
                mm = self.contract(ai, bi, out)
                acc = self.add(tensor.InsertSliceOp.get(
                    mm, acc, [1] + [d if isinstance(d, int) else DYNAMIC_INDEX for d in (m, n)], [i, 0, 0],
                    [1, 1, 1], sizes=self.sizes([m, n]),
                ))
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
            _fma,
        )

    def pad(self, value: SSAValue, low: Sequence[int], high: Sequence[int], fill: float) -> SSAValue:
        if not any(low) and not any(high):
            return value
        shape = shape_of(value)
        out = [s + lo + hi for s, lo, hi in zip(shape, low, high)]
        return self.insert(value, self.filled(out, elem(value), fill), low)


def _reshape_groups(src: Sequence[Dim], dst: Sequence[Dim]) -> tuple[list[list[int]], list[list[int]]]:
    """Runs of dims of equal size in `src` and `dst` (a reshape's
    reassociation on both sides); DynamicShapeUnsupported when the sizes do
    not line up or a target run would hold two symbolic sizes."""
    src_groups: list[list[int]] = []
    dst_groups: list[list[int]] = []
    i = j = 0
    while i < len(src) and j < len(dst):
        gi, gj = [i], [j]
        pa, pb = src[i], dst[j]
        i, j = i + 1, j + 1
        while not nn.same(pa, pb):
            ratio = sympy.simplify(sympy.sympify(pb) / sympy.sympify(pa))
            if ratio.is_integer and i < len(src):
                gi.append(i)
                pa = nn.dim(pa * src[i])
                i += 1
            elif j < len(dst):
                gj.append(j)
                pb = nn.dim(pb * dst[j])
                j += 1
            else:
                raise DynamicShapeUnsupported(f"reshape of {list(src)} to {list(dst)}")
        src_groups.append(gi)
        dst_groups.append(gj)
    # trailing unit dims join the last run
    for k in range(i, len(src)):
        if src[k] != 1 or not src_groups:
            raise DynamicShapeUnsupported(f"reshape of {list(src)} to {list(dst)}")
        src_groups[-1].append(k)
    for k in range(j, len(dst)):
        if dst[k] != 1 or not dst_groups:
            raise DynamicShapeUnsupported(f"reshape of {list(src)} to {list(dst)}")
        dst_groups[-1].append(k)
    for g in dst_groups:
        if sum(not isinstance(dst[k], int) for k in g) > 1:
            raise DynamicShapeUnsupported(f"reshape of {list(src)} to {list(dst)}: two symbolic sizes in one run")
    return src_groups, dst_groups


def reassociation(groups: Sequence[Sequence[int]]) -> ArrayAttr:
    return ArrayAttr([ArrayAttr([IntegerAttr(i, i64) for i in g]) for g in groups])


# ----------------------------------------------------------------------------
# patterns: one per source op
# ----------------------------------------------------------------------------


def _dynamic_error(op: Operation, why: str) -> DynamicShapeError:
    error = DynamicShapeError(f"{op.name} on {', '.join(str(t) for t in op.operand_types)}: {why}")
    error.short = str(error)  # the rewriter adds the IR to the message; the user gets this
    return error


@irdl_op_definition
class MathErfcOp(mathd.FloatingPointLikeUnaryMathOperation):
    """Upstream's `math.erfc`, which xDSL's math dialect lacks (same syntax as
    the other math ops); convert-math-to-libm calls erfc/erfcf for it."""

    name = "math.erfc"


SPECIAL_PREFIX = "sparcc_sf_"
ARITH_SPECIAL = frozenset({"nextafter"})  # special functions built from arith ops (Scalar.special), not called


def special_symbol(fn: str, typ: Attribute) -> str:
    """The C function that computes special function `fn` on `typ` (f32 or
    f64) values: `float sparcc_sf_digamma_f32(float)`. The CPU target's
    runtime defines one per function and type (backends/cpu/specfun.c)."""
    return f"{SPECIAL_PREFIX}{fn}_{'f32' if typ == f32 else 'f64'}"


class Lowering(RewritePattern):
    """Replaces one nn op by what `emit` builds."""

    op_type: type[Operation]

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, self.op_type):
            return
        e = Emitter()
        try:
            result = self.emit(e, op)
        except DynamicShapeUnsupported as err:
            raise _dynamic_error(op, str(err)) from None
        except TypeError as err:  # a sympy comparison that a lowering needs decided
            if "Relational" not in str(err):
                raise
            raise _dynamic_error(op, "this lowering needs numbers, not symbolic sizes") from None
        if result is None:
            return
        rewriter.replace(op, e.ops, [result])

    def emit(self, e: Emitter, op) -> SSAValue | None:
        raise NotImplementedError


def lowering(op_type: type[Operation]):
    def wrap(fn: Callable[[Emitter, Operation], SSAValue | None]) -> type[Lowering]:
        return type(f"Lower{op_type.__name__}", (Lowering,), {"op_type": op_type, "emit": staticmethod(fn)})

    return wrap


ELEMENTWISE: dict[type[Operation], Body] = {
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
    nn.AbsOp: lambda s, x: s.abs(x[0]),
    nn.SinOp: lambda s, x: s.math(mathd.SinOp, x[0]),
    nn.CosOp: lambda s, x: s.math(mathd.CosOp, x[0]),
    nn.TanOp: lambda s, x: s.math(mathd.TanOp, x[0]),
    nn.AtanOp: lambda s, x: s.math(mathd.AtanOp, x[0]),
    nn.FloorOp: lambda s, x: s.math(mathd.FloorOp, x[0]),
    nn.CeilOp: lambda s, x: s.math(mathd.CeilOp, x[0]),
    nn.RoundOp: lambda s, x: s.math(mathd.RoundEvenOp, x[0]),
    nn.TruncOp: lambda s, x: s.math(mathd.TruncOp, x[0]),
    nn.SignOp: lambda s, x: s.sign(x[0]),
    nn.Log1pOp: lambda s, x: s.math(mathd.Log1pOp, x[0]),
    nn.Expm1Op: lambda s, x: s.math(mathd.ExpM1Op, x[0]),
    nn.Log2Op: lambda s, x: s.math(mathd.Log2Op, x[0]),
    nn.NotOp: lambda s, x: s.not_(x[0]),
    nn.AsinOp: lambda s, x: s.math(mathd.AsinOp, x[0]),
    nn.AcosOp: lambda s, x: s.math(mathd.AcosOp, x[0]),
    nn.SinhOp: lambda s, x: s.math(mathd.SinhOp, x[0]),
    nn.CoshOp: lambda s, x: s.math(mathd.CoshOp, x[0]),
    nn.AsinhOp: lambda s, x: s.math(mathd.AsinhOp, x[0]),
    nn.AcoshOp: lambda s, x: s.math(mathd.AcoshOp, x[0]),
    nn.AtanhOp: lambda s, x: s.math(mathd.AtanhOp, x[0]),
    nn.Log10Op: lambda s, x: s.math(mathd.Log10Op, x[0]),
    nn.ErfcOp: lambda s, x: s.erfc(x[0]),
    nn.Exp2Op: lambda s, x: s.math(mathd.Exp2Op, x[0]),
    nn.AddOp: lambda s, x: s.add(x[0], x[1]),
    nn.SubOp: lambda s, x: s.sub(x[0], x[1]),
    nn.MulOp: lambda s, x: s.mul(x[0], x[1]),
    nn.DivOp: lambda s, x: s.div(x[0], x[1]),
    nn.MaximumOp: lambda s, x: s.max(x[0], x[1]),
    nn.MinimumOp: lambda s, x: s.min(x[0], x[1]),
    nn.PowOp: lambda s, x: s.pow(x[0], x[1]),
    nn.FmodOp: lambda s, x: s.fmod(x[0], x[1]),
    nn.RemainderOp: lambda s, x: s.remainder(x[0], x[1]),
    nn.FloorDivOp: lambda s, x: s.floor_div(x[0], x[1]),
    nn.TruncDivOp: lambda s, x: s.trunc_div(x[0], x[1]),
    nn.Atan2Op: lambda s, x: s._add(mathd.Atan2Op(x[0], x[1])),
    nn.AndOp: lambda s, x: s.and_(x[0], x[1]),
    nn.OrOp: lambda s, x: s.or_(x[0], x[1]),
    nn.XorOp: lambda s, x: s.xor(x[0], x[1]),
    nn.ShlOp: lambda s, x: s._add(arith.ShLIOp(x[0], x[1])),
    nn.ShrOp: lambda s, x: s._add(arith.ShRSIOp(x[0], x[1])),
    nn.CopysignOp: lambda s, x: s._add(mathd.CopySignOp(x[0], x[1])),
    nn.FmaxOp: lambda s, x: s.fmax(x[0], x[1], "gt"),
    nn.FminOp: lambda s, x: s.fmax(x[0], x[1], "lt"),
    nn.HypotOp: lambda s, x: s.hypot(x[0], x[1]),
    nn.WhereOp: lambda s, x: s.select(x[0], x[1], x[2]),
}


def _gelu(s: Scalar, x: Sequence[SSAValue], approximate: str) -> SSAValue:
    v = x[0]
    half = s.mul(s.const(0.5, v.type), v)
    if approximate == "tanh":
        cube = s.mul(s.mul(v, v), v)
        inner = s.mul(s.const(math.sqrt(2 / math.pi), v.type), s.add(v, s.mul(s.const(0.044715, v.type), cube)))
        return s.mul(half, s.add(s.const(1.0, v.type), s.tanh(inner)))
    return s.mul(half, s.add(s.const(1.0, v.type), s.erf(s.mul(v, s.const(1 / math.sqrt(2), v.type)))))


def _elementwise_body(op: Operation) -> Body | None:
    if isinstance(op, nn.GeluOp):
        approx = op.approximate.data
        return lambda s, x: _gelu(s, x, approx)
    if isinstance(op, nn.CompareOp):
        predicate = op.predicate.data
        return lambda s, x: s.cmp(predicate, x[0], x[1])
    if isinstance(op, nn.CastOp):
        to = elem(op.result)
        return lambda s, x: s.cast(x[0], to)
    if isinstance(op, nn.SpecialOp):
        fn, to, n = op.fn.data, elem(op.result), len(op.inputs)
        return lambda s, x: s.special(fn, x[:n], to)
    return ELEMENTWISE.get(type(op))


class LowerElementwise(RewritePattern):
    """Every elementwise nn op: one parallel generic, operands broadcast."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        body = _elementwise_body(op)
        if body is None:
            return
        e = Emitter()
        result = e.elementwise(list(op.operands), shape_of(op.results[0]), body, elem(op.results[0]))
        rewriter.replace(op, e.ops, [result])


# reduction op -> (initial value, combine): one generic over the reduced dims
REDUCTIONS: dict[type[nn.ReduceOp], tuple[float, Callable[[Scalar, SSAValue, SSAValue], SSAValue]]] = {
    nn.SumOp: (0.0, Scalar.add),
    nn.ProdOp: (1.0, Scalar.mul),
    nn.AmaxOp: (-math.inf, Scalar.max),
    nn.AminOp: (math.inf, Scalar.min),
}


def _reduction(op_type: type[nn.ReduceOp]) -> type[Lowering]:
    init, combine = REDUCTIONS[op_type]

    def emit(e: Emitter, op: nn.ReduceOp):
        r = e.reduce(op.input, op.reduced_dims(), init, lambda s, x: combine(s, x[0], x[1]))
        return e.reshape(r, shape_of(op.result))

    return lowering(op_type)(emit)


# kept here: PATTERNS finds lowerings through Lowering.__subclasses__(), which holds them weakly
REDUCTION_LOWERINGS = [_reduction(t) for t in REDUCTIONS]


@lowering(nn.MeanOp)
def _mean(e: Emitter, op: nn.MeanOp):
    shape = shape_of(op.input)
    n = nn.dim(math.prod(shape[d] for d in op.reduced_dims()))
    total = e.add(nn.SumOp(op.input, op.reduced_dims(), op.keepdim.value.data))
    return e.add(nn.DivOp(total, e.size_tensor(n, elem(op.input))))


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


def _rows_times_columns(e: Emitter, a: SSAValue, b: SSAValue, out: Sequence[Dim], b_transposed: bool) -> SSAValue:
    """A matmul of equal-batch operands as one contraction generic whose
    innermost loop the CPU schedule vectorises although sizes are symbolic:
    [..., M, K] x [..., K, N] with N innermost (a row of b added per k), or,
    b_transposed, [..., M, K] x [..., N, K] with K innermost (dot products)."""
    rank = len(out)
    nb = rank - 2
    d = dims(rank + 1)
    batch = d[:nb]
    if b_transposed:  # loops: batch, m, n, k
        m, n, k = d[nb], d[nb + 1], d[nb + 2]
        iterators = [PAR] * rank + [RED]
        b_map = amap(rank + 1, [*batch, n, k])
    else:  # loops: batch, m, k, n
        m, k, n = d[nb], d[nb + 1], d[nb + 2]
        iterators = [PAR] * (nb + 1) + [RED, PAR]
        b_map = amap(rank + 1, [*batch, k, n])
    return e.generic(
        [a, b], [amap(rank + 1, [*batch, m, k]), b_map], e.filled(out, elem(a), 0.0),
        amap(rank + 1, [*batch, m, n]), iterators, _fma,
    )


def _symbolic(*shapes: Sequence[Dim]) -> bool:
    return not all(nn.is_static(shape) for shape in shapes)


@lowering(nn.MatmulOp)
def _matmul(e: Emitter, op: nn.MatmulOp):
    a, b = shape_of(op.lhs), shape_of(op.rhs)
    out = shape_of(op.result)
    if (_symbolic(a, b) and len(a) == len(b) >= 3 and isinstance(b[-1], int)
            and all(nn.same(x, y) for x, y in zip(a[:-2], b[:-2]))):
        # a batched matmul with symbolic sizes (attention's probs @ v): N innermost
        return _rows_times_columns(e, op.lhs, op.rhs, out, False)
    if len(b) == 2 and sum(not isinstance(d, int) for d in a[:-1]) > 1:
        # two symbolic sizes cannot share one reshaped dim (upstream's
        # expand_shape lowering takes one per group): a contraction over all dims
        rank = len(a)
        d = dims(rank + 1)
        out_map = amap(rank + 1, [*d[: rank - 1], d[rank - 1]])
        return e.generic(
            [op.lhs, op.rhs],
            [amap(rank + 1, [*d[: rank - 1], d[rank]]), amap(rank + 1, [d[rank], d[rank - 1]])],
            e.filled(out, elem(op.lhs), 0.0), out_map, [PAR] * rank + [RED],
            _fma,
        )
    if len(b) == 2:  # fold all of lhs's leading dims into M
        rows = math.prod(a[:-1])
        y = e.matmul(e.reshape(op.lhs, [rows, a[-1]]), op.rhs)
        return e.reshape(y, out)
    batch = out[:-2]
    nb = math.prod(batch)
    lhs = e.reshape(_expand_to(e, op.lhs, (*batch, *a[-2:])), [nb, *a[-2:]])
    rhs = e.reshape(_expand_to(e, op.rhs, (*batch, *b[-2:])), [nb, *b[-2:]])
    return e.reshape(e.matmul(lhs, rhs), out)


def _expand_to(e: Emitter, value: SSAValue, shape: Sequence[Dim]) -> SSAValue:
    src = shape_of(value)
    if len(src) == len(shape) and all(nn.same(a, b) for a, b in zip(src, shape)):
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
        return e.add(nn.WeightOp(src.weight_name, TensorType(elem(value), [static(d) for d in shape])))
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
    start, _, step = op.bounds()
    offsets: list[Dim] = [0] * len(shape)
    offsets[d] = start
    strides = [1] * len(shape)
    strides[d] = step
    view = e.add(tensor.ExtractSliceOp(op.input, e.mixed(offsets), e.mixed(out), strides, op.result.type))
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
        offset = nn.dim(offset + shape_of(x)[d])
    return acc


@lowering(nn.EmbeddingOp)
def _embedding(e: Emitter, op: nn.EmbeddingOp):
    """Rows of the table: an index of dim 0 that rejects negative indices (as
    PyTorch's embedding does)."""
    return e.add(nn.IndexOp(op.weight, [op.indices], [0], wrap=False))


@lowering(nn.SdpaOp)
def _sdpa(e: Emitter, op: nn.SdpaOp):
    from sparcc.passes.fuse_attention import BLOCKS_ATTR, GROUPS_ATTR, few_queries

    if BLOCKS_ATTR in op.attributes:  # fuse-attention chose the online softmax
        bq, bk = (a.value.data for a in op.attributes[BLOCKS_ATTR].data)
        return _sdpa_online(e, op, bq, bk)
    q, k = shape_of(op.query), shape_of(op.key)
    rank = len(q)
    if GROUPS_ATTR in op.attributes or few_queries(op):
        return _sdpa_few_queries(e, op)
    if _symbolic(q, k) and all(nn.same(x, y) for x, y in zip(q[:-2], k[:-2])):
        # symbolic sizes: q @ k^T as dot products over E, which stays static
        scores = _rows_times_columns(e, op.query, op.key, (*q[:-1], k[-2]), True)
    else:
        perm = list(range(rank - 2)) + [rank - 1, rank - 2]
        kt = e.add(nn.PermuteOp(op.key, perm))
        scores = e.add(nn.MatmulOp(op.query, kt))
    scores = e.add(nn.MulOp(scores, e.splat(op.scale.value.data, elem(op.query))))
    if op.mask is not None:
        scores = e.add(nn.AddOp(scores, op.mask))
    if op.is_causal.value.data:
        scores = _causal_mask(e, scores)
    return e.add(nn.MatmulOp(_attention_softmax(e, scores), op.value))


def _sdpa_few_queries(e: Emitter, op: nn.SdpaOp) -> SSAValue:
    """nn.sdpa for a few queries (a decode step): each score a dot product
    of a query row and a key row, read where they lie (no transposed copy of
    the keys), and each output row a sum of value rows. With GROUPS_ATTR
    (fuse-attention: grouped-query attention), key/value head j serves query
    heads j*g .. j*g+g-1, read once for all of them (no repeated copy).
    Loops: [batch, kv head, group, query, key | E] for the scores and
    [batch, kv head, group, query | key, Ev] for the output (named B H G M N
    K in both: N the keys, K the contracted or innermost dim)."""
    from sparcc.passes.fuse_attention import GROUPS_ATTR, live_key_block

    q, k, v = shape_of(op.query), shape_of(op.key), shape_of(op.value)
    if (bk := live_key_block(op)) is not None:
        return _sdpa_live_keys(e, op, bk)
    *lead, lq, d = q
    heads = lead[-1] if lead else 1
    groups = op.attributes[GROUPS_ATTR].value.data if GROUPS_ATTR in op.attributes else 1
    batch = math.prod(lead[:-1]) if lead else 1
    kv = heads // groups
    lk, dv = k[-2], v[-1]
    typ = elem(op.query)
    q5 = e.reshape(op.query, [batch, kv, groups, lq, d])
    k4 = e.reshape(op.key, [batch, kv, lk, d])
    v4 = e.reshape(op.value, [batch, kv, lk, dv])
    B, H, G, M, N, K = dims(6)
    scores = e.generic(
        [q5, k4], [amap(6, [B, H, G, M, K]), amap(6, [B, H, N, K])], e.filled([batch, kv, groups, lq, lk], typ, 0.0),
        amap(6, [B, H, G, M, N]), [PAR] * 5 + [RED], _fma,
    )
    scores = e.reshape(scores, [*lead, lq, lk])
    scores = e.add(nn.MulOp(scores, e.splat(op.scale.value.data, typ)))
    if op.mask is not None:
        scores = e.add(nn.AddOp(scores, op.mask))
    if op.is_causal.value.data:
        scores = _causal_mask(e, scores)
    p5 = e.reshape(_attention_softmax(e, scores), [batch, kv, groups, lq, lk])
    out = e.generic(
        [p5, v4], [amap(6, [B, H, G, M, N]), amap(6, [B, H, N, K])], e.filled([batch, kv, groups, lq, dv], typ, 0.0),
        amap(6, [B, H, G, M, K]), [PAR] * 4 + [RED, PAR], _fma,
    )
    return e.reshape(out, [*lead, lq, dv])


# Keys whose mask entry is below DEAD_KEY (-inf, or a float mask's finfo.min)
# add exactly 0 to a softmax row that also holds a key above LIVE_KEY: exp of
# a difference below -1e37 underflows. A decode step with a static KV cache
# masks every position past the tokens seen so far that way.
LIVE_KEY, DEAD_KEY = -1e30, -1e37


def _live_key_count(e: Emitter, mask: SSAValue, lk: int) -> SSAValue:
    """An index: one past the last key that any query row may attend to
    (mask above LIVE_KEY), when every other key is dead (below DEAD_KEY) and
    every row has a live key; else all lk keys (a NaN or a mask value in
    between, or a row that attends to nothing, is then computed as before).
    `mask` is [rows, lk]."""
    typ = elem(mask)
    rows = shape_of(mask)[0]
    RR, KK = dims(2)

    def live(s: Scalar, m: SSAValue) -> SSAValue:
        return s.cmp("gt", m, s.const(LIVE_KEY, typ))

    def last_body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        k1 = s._add(arith.AddiOp(s._add(arith.IndexCastOp(s.index(1), i64)), s.const(1, i64)))
        return s.max(x[1], s.select(live(s, x[0]), k1, s.const(0, i64)))

    def grey_body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        dead = s.cmp("lt", x[0], s.const(DEAD_KEY, typ))
        grey = s.not_(s.or_(live(s, x[0]), dead))  # NaN too
        return s.max(x[1], s.cast(grey, i64))

    def row_body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        return s.max(x[1], s.cast(live(s, x[0]), i64))

    both = amap(2, [RR, KK])
    last = e.generic([mask], [both], e.filled([], i64, 0), amap(2, []), [RED, RED], last_body)
    grey = e.generic([mask], [both], e.filled([], i64, 0), amap(2, []), [RED, RED], grey_body)
    row_live = e.generic([mask], [both], e.filled([rows], i64, 0), amap(2, [RR]), [PAR, RED], row_body)
    all_rows = e.generic([row_live], [amap(1, dims(1))], e.filled([], i64, 1), amap(1, []), [RED],
                         lambda s, x: s.min(x[1], x[0]))
    s = Scalar()
    pick = s.and_(s.cmp("eq", s._add(tensor.ExtractOp(grey, [], i64)), s.const(0, i64)),
                  s.cmp("eq", s._add(tensor.ExtractOp(all_rows, [], i64)), s.const(1, i64)))
    count = s.select(pick, s._add(tensor.ExtractOp(last, [], i64)), s.const(lk, i64))
    result = s._add(arith.IndexCastOp(count, IndexType()))
    e.ops += s.ops
    return result


def _sdpa_live_keys(e: Emitter, op: nn.SdpaOp, bk: int) -> SSAValue:
    """nn.sdpa for a few queries that reads only the keys some query may
    attend to: blocks of `bk` keys up to the last live one (`_live_key_count`,
    from the mask at run time), with the softmax online (a running row
    maximum, row sum and output rows), so that a decode step with a long
    static KV cache reads the cache's filled part only. Each (batch, kv head)
    pair is one iteration of a loop the threads share; keys and values are
    read in place (no transposed copy); with GROUPS_ATTR, kv head j serves
    query heads j*g .. j*g+g-1. Loops of the generics: [group, query, key |
    E] for the scores, [group, query | key, Ev] for the output."""
    from sparcc.passes.fuse_attention import FUSION_ATTR, GROUPS_ATTR, INDEPENDENT_ATTR

    q, k, v = shape_of(op.query), shape_of(op.key), shape_of(op.value)
    *lead, lq, d = q
    heads = lead[-1] if lead else 1
    groups = op.attributes[GROUPS_ATTR].value.data if GROUPS_ATTR in op.attributes else 1
    kv = heads // groups
    hv = (math.prod(lead[:-1]) if lead else 1) * kv  # batch x kv heads
    lk, dv = k[-2], v[-1]
    typ = elem(op.query)
    scale = op.scale.value.data

    def t(shape: Sequence[int], element: Attribute = typ) -> TensorType:
        return TensorType(element, list(shape))

    q4 = e.elementwise([e.reshape(op.query, [hv, groups, lq, d])], [hv, groups, lq, d],
                       lambda s, x: s.mul(x[0], s.const(scale, typ)))
    k3, v3 = e.reshape(op.key, [hv, lk, d]), e.reshape(op.value, [hv, lk, dv])
    ms = [1] * (len(q) - len(shape_of(op.mask))) + list(shape_of(op.mask))
    mb, mq = math.prod(ms[:-3]), ms[-2]  # mask rows: one block per batch entry (mb > 1), or shared
    mask = e.reshape(op.mask, [mb, mq, lk])
    live = _live_key_count(e, e.reshape(mask, [mb * mq, lk]), lk)
    blocks = e.add(arith.CeilDivUIOp(live, e.size(bk)))
    G, M, N, K = dims(4)
    gm, gmn = amap(3, [G, M]), amap(3, [G, M, N])

    # -- one (batch, kv head) pair ---------------------------------------------
    out_type = t([hv, groups, lq, dv])
    outer = Block(arg_types=[IndexType(), out_type])
    i, out = outer.args
    b = Emitter()
    qh = b.add(tensor.ExtractSliceOp(q4, [i, 0, 0, 0], [1, groups, lq, d], [1, 1, 1, 1], t([groups, lq, d])))
    m_init, l_init = b.filled([groups, lq], typ, -math.inf), b.filled([groups, lq], typ, 0.0)
    acc_init = b.filled([groups, lq, dv], typ, 0.0)

    # -- one block of keys -------------------------------------------------------
    inner = Block(arg_types=[IndexType(), t([groups, lq]), t([groups, lq]), t([groups, lq, dv])])
    j, m, l, acc = inner.args
    c = Emitter()
    k0 = c.add(arith.MuliOp(j, c.size(bk)))
    kb = c.add(tensor.ExtractSliceOp(k3, [i, k0, 0], [1, bk, d], [1, 1, 1], t([bk, d])))
    vb = c.add(tensor.ExtractSliceOp(v3, [i, k0, 0], [1, bk, dv], [1, 1, 1], t([bk, dv])))
    entry = c.add(arith.DivUIOp(i, c.size(kv))) if mb > 1 else 0  # pair i's batch entry
    mblock = c.add(tensor.ExtractSliceOp(mask, [entry, 0, k0], [1, mq, bk], [1, 1, 1], t([mq, bk])))
    if mq == 1:
        mblock, mmap = c.reshape(mblock, [bk]), amap(3, [N])
    else:
        mmap = amap(3, [M, N])
    scores = c.generic([qh, kb], [amap(4, [G, M, K]), amap(4, [N, K])], c.filled([groups, lq, bk], typ, 0.0),
                       amap(4, [G, M, N]), [PAR] * 3 + [RED], _fma)
    scores = c.generic([scores, mblock], [gmn, mmap], c.empty([groups, lq, bk], typ), gmn, [PAR] * 3,
                       lambda s, x: s.add(x[0], x[1]))
    alpha, m_new, probs, l_new = _online_softmax_step(c, scores, m, l)
    pv = c.generic([probs, vb], [amap(4, [G, M, N]), amap(4, [N, K])], c.filled([groups, lq, dv], typ, 0.0),
                   amap(4, [G, M, K]), [PAR, PAR, RED, PAR], _fma)
    acc_new = c.generic([alpha, pv], [gm, gmn], acc, gmn, [PAR] * 3, lambda s, x: s.add(s.mul(x[2], x[0]), x[1]))
    inner.add_ops([*c.ops, scf.YieldOp(m_new, l_new, acc_new)])
    keys = scf.ForOp(b.size(0), blocks, b.size(1), [m_init, l_init, acc_init], inner)
    b.ops.append(keys)
    _, l_end, acc_end = keys.results

    window = b.add(tensor.ExtractSliceOp(out, [i, 0, 0, 0], [1, groups, lq, dv], [1, 1, 1, 1], t([groups, lq, dv])))

    ob = b.generic([acc_end, l_end], [gmn, gm], window, gmn, [PAR] * 3, _normalised)
    written = b.add(tensor.InsertSliceOp.get(ob, out, [1, groups, lq, dv], [DYNAMIC_INDEX, 0, 0, 0], [1, 1, 1, 1],
                                             offsets=[i], result_type=out_type))
    outer.add_ops([*b.ops, scf.YieldOp(written)])
    pairs = scf.ForOp(e.size(0), e.size(hv), e.size(1), [e.empty([hv, groups, lq, dv], typ)], outer)
    if FUSION_ATTR in op.attributes:
        pairs.attributes[FUSION_ATTR] = op.attributes[FUSION_ATTR]
    pairs.attributes[INDEPENDENT_ATTR] = UnitAttr()  # each writes its own rows
    e.ops.append(pairs)
    return e.reshape(pairs.results[0], [*lead, lq, dv])


def _attention_softmax(e: Emitter, x: SSAValue) -> SSAValue:
    """Softmax over the last dim, but 0 (not NaN) in a row whose every score
    is -inf: a query that may attend to no key, as PyTorch's SDPA gives
    (a NaN there would reach every row through the next layer's keys)."""
    typ, last = elem(x), len(shape_of(x)) - 1
    zero = e.splat(0.0, typ)
    top = e.add(nn.AmaxOp(x, [last], True))
    top = e.add(nn.WhereOp(e.add(nn.CompareOp(top, e.splat(-math.inf, typ), "eq")), zero, top))
    ex = e.add(nn.ExpOp(e.add(nn.SubOp(x, top))))
    total = e.add(nn.SumOp(ex, [last], True))
    total = e.add(nn.WhereOp(e.add(nn.CompareOp(total, zero, "eq")), e.splat(1.0, typ), total))
    return e.add(nn.DivOp(ex, total))


def _fma(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
    """A contraction's body: the accumulator (x[2]) plus x[0] * x[1]."""
    return s.add(x[2], s.mul(x[0], x[1]))


def _normalised(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
    """An online softmax's output row: acc (x[0]) / row sum (x[1]), 0 where
    the row had no key."""
    typ = x[1].type
    empty = s.cmp("eq", x[1], s.const(0.0, typ))
    return s.select(empty, s.const(0.0, typ), s.div(x[0], x[1]))


def _online_softmax_step(c: Emitter, scores: SSAValue, m: SSAValue, l: SSAValue) -> tuple[SSAValue, ...]:
    """One block of keys of the online softmax: `scores` [A, B, keys], the
    running row maximum `m` and row sum `l` ([A, B]). Returns (alpha, the new
    maximum, the block's probabilities, the new sum); the new maximum and sum
    are written in place into m and l (bufferization wants each yielded
    value in the buffer of its iter_arg), and alpha reads m first."""
    a, b, bk = shape_of(scores)
    typ = elem(scores)
    rows2, rows3, all3 = amap(2, dims(2)), amap(3, dims(3)[:2]), amap(3, dims(3))
    row_max = c.reduce(scores, [2], -math.inf, lambda s, x: s.max(x[1], x[0]))
    alpha = c.generic([m, row_max], [rows2, rows2], c.empty([a, b], typ), rows2, [PAR] * 2,
                      lambda s, x: s.exp(s.sub(x[0], _unmasked(s, s.max(x[0], x[1])))))
    m_new = c.generic([row_max], [rows2], m, rows2, [PAR] * 2, lambda s, x: s.max(x[1], x[0]))
    probs = c.generic([scores, m_new], [all3, rows3], c.empty([a, b, bk], typ), all3, [PAR] * 3,
                      lambda s, x: s.exp(s.sub(x[0], _unmasked(s, x[1]))))
    row_sum = c.reduce(probs, [2], 0.0, lambda s, x: s.add(x[1], x[0]))
    l_new = c.generic([alpha, row_sum], [rows2] * 2, l, rows2, [PAR] * 2,
                      lambda s, x: s.add(s.mul(x[2], x[0]), x[1]))
    return alpha, m_new, probs, l_new


def _unmasked(s: Scalar, m: SSAValue) -> SSAValue:
    """A row maximum to subtract: 0 where every score of the row so far is
    -inf (masked), so that exp(-inf - m) is 0 instead of NaN."""
    none = s.cmp("eq", m, s.const(-math.inf, m.type))
    return s.select(none, s.const(0.0, m.type), m)


def _sdpa_online(e: Emitter, op: nn.SdpaOp, bq: int, bk: int) -> SSAValue:
    """nn.sdpa with its softmax fused into the matmuls (passes/fuse_attention.py
    says what and when): blocks of `bq` queries (a loop carrying the output),
    and in each, blocks of `bk` keys (a loop carrying the running row maximum,
    row sum and output rows), all heads at once. A length that its block
    does not divide is padded to whole blocks (keys masked past S, query
    rows dropped past L); the lengths may be symbolic (the numbers of blocks
    are then computed at run time, the blocks themselves stay static)."""
    from sparcc.passes.fuse_attention import FUSION_ATTR, INDEPENDENT_ATTR

    q, k, v = shape_of(op.query), shape_of(op.key), shape_of(op.value)
    lead, (lq, d), lk, dv = q[:-2], q[-2:], k[-2], v[-1]
    h = math.prod(lead)
    nq, nk = nn.dim(sympy.ceiling(sympy.sympify(lq) / bq)), nn.dim(sympy.ceiling(sympy.sympify(lk) / bk))
    lqp, lkp = nn.dim(nq * bq), nn.dim(nk * bk)  # padded lengths
    rows_padded = not (isinstance(lq, int) and lqp == lq)
    keys_padded = not (isinstance(lk, int) and lkp == lk)
    typ = elem(op.query)
    scale, causal = op.scale.value.data, op.is_causal.value.data

    def pad(value: SSAValue, high: Sequence[Dim]) -> SSAValue:
        return e.pad(value, [0] * len(high), [nn.dim(x) for x in high], 0.0) if any(
            not (isinstance(x, int) and x == 0) for x in high) else value

    # q * scale once (h * L * E products), instead of scaling every score
    q3 = e.elementwise([e.reshape(op.query, [h, lq, d])], [h, lq, d], lambda s, x: s.mul(x[0], s.const(scale, typ)))
    q3 = pad(q3, [0, lqp - lq, 0])
    # k^T once, in blocks: kt[h, j] is block j's [d, bk], contiguous (a
    # plain [h, d, S] transpose would put the rows of a block S floats apart,
    # which for S a multiple of 1024 all fall in the same cache sets)
    k3 = pad(e.reshape(op.key, [h, lk, d]), [0, lkp - lk, 0])
    kt = e.add(nn.PermuteOp(e.reshape(k3, [h, nk, bk, d]), [0, 1, 3, 2]))
    v3 = pad(e.reshape(op.value, [h, lk, dv]), [0, lkp - lk, 0])
    mask = None
    if op.mask is not None:
        ms = list(shape_of(op.mask))
        ms = [1] * (len(q) - len(ms)) + ms
        mh = 1 if all(x == 1 for x in ms[:-2]) else h
        mq, mk = (lqp if ms[-2] != 1 else 1), (lkp if ms[-1] != 1 else 1)
        mv = pad(e.reshape(op.mask, [mh, ms[-2], ms[-1]]), [0, nn.dim(mq - ms[-2]), nn.dim(mk - ms[-1])])
        mask = (mv, mh, mq, mk)
    d3 = dims(3)
    rows3, rows2 = amap(3, d3[:2]), amap(2, dims(2))
    all3 = amap(3, d3)
    c0 = e.size(0)
    last_key = e.size(lk) if keys_padded else None

    def t(shape: Sequence[int]) -> TensorType:
        return TensorType(typ, list(shape))

    # -- one block of queries ------------------------------------------------
    out_type = nn.tensor([h, lqp, dv], typ)
    outer = Block(arg_types=[IndexType(), out_type])
    i, out = outer.args
    b = Emitter()
    if causal:
        # iteration i takes query block i/2 (i even) or n-1-i/2 (i odd): a
        # thread's contiguous share of the iterations then holds as many
        # short rows of keys as long ones
        n = b.add(arith.SubiOp(b.size(nq), b.size(1)))
        half = b.add(arith.DivUIOp(i, b.size(2)))
        odd = b.add(arith.CmpiOp(b.add(arith.RemUIOp(i, b.size(2))), b.size(0), "ne"))
        block = b.add(arith.SelectOp(odd, b.add(arith.SubiOp(n, half)), half))
    else:
        block = i
    q0 = b.add(arith.MuliOp(block, b.size(bq)))
    qb = b.add(tensor.ExtractSliceOp(q3, [0, q0, 0], [h, bq, d], [1, 1, 1], t([h, bq, d])))
    m_init, l_init = b.filled([h, bq], typ, -math.inf), b.filled([h, bq], typ, 0.0)
    acc_init = b.filled([h, bq, dv], typ, 0.0)
    if causal:  # the key blocks up to the one holding the block's last query
        last = b.add(arith.AddiOp(q0, b.size(bq + bk - 1)))
        upper = b.add(arith.MinUIOp(b.add(arith.DivUIOp(last, b.size(bk))), b.size(nk)))
    else:
        upper = b.size(nk)

    # -- one block of keys -----------------------------------------------------
    inner = Block(arg_types=[IndexType(), t([h, bq]), t([h, bq]), t([h, bq, dv])])
    j, m, l, acc = inner.args  # key block j: keys k0 = j * bk onwards
    c = Emitter()
    k0 = c.add(arith.MuliOp(j, c.size(bk)))
    ktb = c.add(tensor.ExtractSliceOp(kt, [0, j, 0, 0], [h, 1, d, bk], [1, 1, 1, 1], t([h, d, bk])))
    vb = c.add(tensor.ExtractSliceOp(v3, [0, k0, 0], [h, bk, dv], [1, 1, 1], t([h, bk, dv])))
    scores = c.matmul(qb, ktb)  # [h, bq, bk]
    inputs, maps = [scores], [all3]
    if mask is not None:
        mv, mh, mq, mk = mask
        sizes = [mh, bq if mq != 1 else 1, bk if mk != 1 else 1]
        mb = c.add(tensor.ExtractSliceOp(mv, [0, q0 if mq != 1 else 0, k0 if mk != 1 else 0], sizes, [1, 1, 1],
                                         t(sizes)))
        keep = [i for i, n in enumerate(sizes) if n != 1 or [h, bq, bk][i] == 1]
        inputs.append(c.drop_unit_dims(mb, keep))
        maps.append(amap(3, [d3[i] for i in keep]))

    def masked(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        y = x[0]
        if mask is not None:
            y = s.add(y, x[1])
        if causal or keys_padded:
            j = s._add(arith.AddiOp(s.index(2), k0))
        if causal:  # -inf where the key's index passes the query's
            i = s._add(arith.AddiOp(s.index(1), q0))
            y = s.select(s._add(arith.CmpiOp(j, i, "ugt")), s.const(-math.inf, typ), y)
        if keys_padded:  # and past the last real key
            y = s.select(s._add(arith.CmpiOp(j, last_key, "uge")), s.const(-math.inf, typ), y)
        return y

    if mask is not None or causal or keys_padded:
        scores = c.generic(inputs, maps, c.empty([h, bq, bk], typ), all3, [PAR] * 3, masked)
    alpha, m_new, probs, l_new = _online_softmax_step(c, scores, m, l)
    pv = c.matmul(probs, vb)  # [h, bq, dv]
    acc_new = c.generic([alpha, pv], [rows3, all3], acc, all3, [PAR] * 3,
                        lambda s, x: s.add(s.mul(x[2], x[0]), x[1]))
    inner.add_ops([*c.ops, scf.YieldOp(m_new, l_new, acc_new)])
    keys = scf.ForOp(c0, upper, b.size(1), [m_init, l_init, acc_init], inner)
    b.ops.append(keys)
    _, l_end, acc_end = keys.results

    # out[:, q0:q0+bq] = acc / l, written in place (0 where a row had no key)
    window = b.add(tensor.ExtractSliceOp(out, [0, q0, 0], [h, bq, dv], [1, 1, 1], t([h, bq, dv])))

    ob = b.generic([acc_end, l_end], [all3, rows3], window, all3, [PAR] * 3, _normalised)
    written = b.add(tensor.InsertSliceOp.get(ob, out, [h, bq, dv], [0, DYNAMIC_INDEX, 0], [1, 1, 1], offsets=[q0],
                                             result_type=out.type))
    outer.add_ops([*b.ops, scf.YieldOp(written)])
    queries = scf.ForOp(c0, e.size(nq), e.size(1), [e.empty([h, lqp, dv], typ)], outer)
    if FUSION_ATTR in op.attributes:
        queries.attributes[FUSION_ATTR] = op.attributes[FUSION_ATTR]
    queries.attributes[INDEPENDENT_ATTR] = UnitAttr()  # each writes its own rows
    e.ops.append(queries)
    result = queries.results[0]
    if rows_padded:  # the padding rows go
        rows = e.add(tensor.ExtractSliceOp(result, [0, 0, 0], e.mixed([h, lq, dv]), [1, 1, 1],
                                           nn.tensor([h, lq, dv], typ)))
        result = e.add(linalg.CopyOp([rows], [e.empty([h, lq, dv], typ)], [nn.tensor([h, lq, dv], typ)]))
    return e.reshape(result, [*lead, lq, dv])


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
    if op.channels_last.value.data:
        return _conv2d_nhwc(e, op)
    _, _, oh, ow = shape_of(op.result)
    if (g == 1 and n == 1 and kh == kw == 1 and (sh, sw, ph, pw) == (1, 1, 0, 0)
            and CONV1X1_DIRECT_MIN_PIXELS and h * w >= CONV1X1_DIRECT_MIN_PIXELS
            and f * c * h * w >= CONV1X1_DIRECT_MIN_MACS):
        return _conv2d_1x1_direct(e, op)
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


# A 1x1 convolution (stride 1, no padding, batch 1) over at least this many
# pixels, and of at least CONV1X1_DIRECT_MIN_MACS multiply-adds, is
# W[F, C] @ X[C, H*W]: the NCHW input is already that matrix and the product
# is already the NCHW output, so neither the copy of the input into rows
# (im2col's [H*W, C]) nor the transposed write of the result is made; the
# matmul's vectors run along the pixels. Fewer pixels keep the rows form (its
# vectors run along the output channels instead). Smaller layers keep it
# too: mobilenet_v3_small at 64x64, whose 1x1 layers are 65K-300K
# multiply-adds, ran 15-40 % slower at 2 threads with them in this form
# (not understood; its layers alone were not slower), while the layers of
# 1M and more gained 1.16-4x alone. 0 pixels: never.
CONV1X1_DIRECT_MIN_PIXELS = 64
CONV1X1_DIRECT_MIN_MACS = 1 << 20


def _conv2d_1x1_direct(e: Emitter, op: nn.Conv2dOp) -> SSAValue:
    _, c, h, w = shape_of(op.input)
    f = shape_of(op.weight)[0]
    x = e.reshape(op.input, [c, h * w])
    wmat = reshape_or_fold(e, op.weight, [f, c])
    y = e.reshape(e.add(nn.MatmulOp(wmat, x)), [1, f, h, w])
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


def _conv2d_nhwc(e: Emitter, op: nn.Conv2dOp) -> SSAValue:
    """A channels-last convolution (NHWC in and out, the weight as PyTorch
    stores it, laid out anew at load time). Ungrouped ones are matmuls over
    rows of pixels: a 1x1 one multiplies the input itself (or its strided
    pixels) by the [C, F] weight, a larger one the windows gathered as
    [N*OH*OW, KH*KW*C] rows (runs of C contiguous values, copied a vector at
    a time) by the weight as [KH*KW*C, F]. Depthwise and grouped ones are
    loop nests whose innermost loop runs along the channels (the contiguous
    dim), vectorised by the CPU schedule; their reductions over the window
    come before it."""
    n, h, w, c = shape_of(op.input)
    f, cg, kh, kw = shape_of(op.weight)
    g = op.groups.value.data
    fg = f // g
    (sh, sw), (ph, pw), (dh, dw) = ints(op.stride), ints(op.padding), ints(op.dilation)
    _, oh, ow, _ = shape_of(op.result)
    typ = elem(op.input)
    if g == 1 and kh == kw == 1 and (ph, pw) == (0, 0):
        x = op.input
        if (sh, sw) != (1, 1):  # the pixels the 1x1 windows read
            N, OH, OW, C = dims(4)
            x = e.generic([x], [amap(4, [N, OH * sh, OW * sw, C])], e.empty([n, oh, ow, c], typ),
                          amap(4, dims(4)), [PAR] * 4, lambda s, v: v[0])
        wmat = e.add(nn.PermuteOp(reshape_or_fold(e, op.weight, [f, c]), [1, 0]))
        y = e.reshape(e.add(nn.MatmulOp(e.reshape(x, [n * oh * ow, c]), wmat)), [n, oh, ow, f])
    else:
        x = e.pad(op.input, [0, ph, pw, 0], [0, ph, pw, 0], 0.0)
        if g == 1:
            N, OH, OW, KH, KW, C = dims(6)
            patches = e.generic(
                [x], [amap(6, [N, OH * sh + KH * dh, OW * sw + KW * dw, C])],
                e.empty([n, oh, ow, kh, kw, c], typ), amap(6, dims(6)), [PAR] * 6, lambda s, v: v[0],
            )
            # [KH, KW, C, F] (laid out at load time) collapsed to [KH*KW*C, F]
            # in one step, so that customize-layout sees the weight (and
            # stores it in panels where the matmul streams it)
            w4 = e.add(nn.PermuteOp(op.weight, [2, 3, 1, 0]))
            wmat = e.add(tensor.CollapseShapeOp.build(
                operands=[w4], result_types=[nn.tensor([kh * kw * c, f], typ)],
                properties={"reassociation": reassociation([[0, 1, 2], [3]])},
            ))
            rows = e.reshape(patches, [n * oh * ow, kh * kw * c])
            y = e.reshape(e.add(nn.MatmulOp(rows, wmat)), [n, oh, ow, f])
        elif cg == 1 and fg == 1:  # depthwise: loops n oh ow | kh kw | c
            wd = e.add(nn.PermuteOp(reshape_or_fold(e, op.weight, [c, kh, kw]), [1, 2, 0]))
            N, OH, OW, KH, KW, C = dims(6)
            y = e.generic(
                [x, wd],
                [amap(6, [N, OH * sh + KH * dh, OW * sw + KW * dw, C]), amap(6, [KH, KW, C])],
                e.filled([n, oh, ow, c], typ, 0.0), amap(6, [N, OH, OW, C]),
                [PAR] * 3 + [RED] * 2 + [PAR], lambda s, v: s.add(v[2], s.mul(v[0], v[1])),
            )
        else:  # grouped: loops n oh ow g | kh kw c | f
            hp, wp = h + 2 * ph, w + 2 * pw
            x = e.reshape(x, [n, hp, wp, g, cg])
            wg = e.add(nn.PermuteOp(reshape_or_fold(e, op.weight, [g, fg, cg, kh, kw]), [0, 3, 4, 2, 1]))
            N, OH, OW, G, KH, KW, C, F = dims(8)
            y = e.generic(
                [x, wg],
                [amap(8, [N, OH * sh + KH * dh, OW * sw + KW * dw, G, C]), amap(8, [G, KH, KW, C, F])],
                e.filled([n, oh, ow, g, fg], typ, 0.0), amap(8, [N, OH, OW, G, F]),
                [PAR] * 4 + [RED] * 3 + [PAR], lambda s, v: s.add(v[2], s.mul(v[0], v[1])),
            )
            y = e.reshape(y, [n, oh, ow, f])
    if op.bias is not None:
        y = e.add(nn.AddOp(y, op.bias))
    return y


def _layout(nhwc: bool) -> Callable[[Any, Any, Any, Any], list[Any]]:
    """(n, c, h, w) in the order of a tensor's dims: NCHW, or NHWC."""
    return (lambda n, c, h, w: [n, h, w, c]) if nhwc else (lambda n, c, h, w: [n, c, h, w])


def _nchw(shape: Sequence[Dim], nhwc: bool) -> tuple[Dim, Dim, Dim, Dim]:
    """(n, c, h, w) of a 4-d shape laid out NCHW, or NHWC."""
    n, a, b, c = shape
    return (n, c, a, b) if nhwc else (n, a, b, c)


def _pool(e: Emitter, op: nn.Pool2dOp, fill: float, init: float, body: Body) -> SSAValue:
    (kh, kw), (sh, sw), (ph, pw) = ints(op.kernel), ints(op.stride), ints(op.padding)
    nhwc = op.channels_last.value.data
    lay = _layout(nhwc)
    n, c, oh, ow = _nchw(shape_of(op.result), nhwc)
    _, _, h, w = _nchw(shape_of(op.input), nhwc)
    # ceil_mode: the last windows may reach past the right/bottom padding
    high = [max(p, (o - 1) * st + k - size - p) for p, o, st, k, size in ((ph, oh, sh, kh, h), (pw, ow, sw, kw, w))]
    x = e.pad(op.input, lay(0, 0, ph, pw), lay(0, 0, *high), fill)
    window = e.empty([kh, kw], elem(op.input))
    if nhwc:  # loops n oh ow | kh kw | c: the channels innermost
        N, OH, OW, KH, KW, C = dims(6)
        iterators = [PAR] * 3 + [RED] * 2 + [PAR]
    else:  # loops n c oh ow | kh kw
        N, C, OH, OW, KH, KW = dims(6)
        iterators = [PAR] * 4 + [RED] * 2
    return e.generic(
        [x, window],
        [amap(6, lay(N, C, OH * sh + KH, OW * sw + KW)), amap(6, [KH, KW])],
        e.filled(lay(n, c, oh, ow), elem(op.input), init),
        amap(6, lay(N, C, OH, OW)),
        iterators,
        body,
    )


@lowering(nn.MaxPool2dOp)
def _max_pool(e: Emitter, op: nn.MaxPool2dOp):
    return _pool(e, op, -math.inf, -math.inf, lambda s, x: s.max(x[2], x[0]))


@lowering(nn.AvgPool2dOp)
def _avg_pool(e: Emitter, op: nn.AvgPool2dOp):
    total = _pool(e, op, 0.0, 0.0, lambda s, x: s.add(x[2], x[0]))
    (kh, kw), (sh, sw), (ph, pw) = ints(op.kernel), ints(op.stride), ints(op.padding)
    nhwc = op.channels_last.value.data
    _, _, h, w = _nchw(shape_of(op.input), nhwc)
    _, _, oh, ow = _nchw(shape_of(op.result), nhwc)
    include = op.count_include_pad.value.data
    rows = [_window(i, sh, ph, kh, h, include) for i in range(oh)]
    cols = [_window(j, sw, pw, kw, w, include) for j in range(ow)]
    if len(set(rows)) == 1 and len(set(cols)) == 1:
        return e.add(nn.DivOp(total, e.splat(float(rows[0] * cols[0]), elem(op.input))))
    typ = TensorType(elem(op.input), [oh, ow, 1] if nhwc else [oh, ow])
    divisor = e.add(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(typ, [float(r * c) for r in rows for c in cols])))
    return e.add(nn.DivOp(total, divisor))


def _window(i: int, stride: int, pad: int, k: int, size: int, include_pad: bool) -> int:
    """PyTorch's avg_pool divisor along one dim for window i: its taps inside
    the padded input (include_pad), else inside the unpadded input."""
    start = i * stride - pad
    end = min(start + k, size + pad)
    if include_pad:
        return end - start
    return min(end, size) - max(start, 0)


@lowering(nn.ArangeOp)
def _arange(e: Emitter, op: nn.ArangeOp):
    start, step = op.start.value.data, op.step.value.data
    typ = elem(op.result)

    def body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        i = s._add(arith.IndexCastOp(s.index(0), i64))
        if not is_float(typ) and float(start).is_integer() and float(step).is_integer():
            return s.cast(s.add(s.const(start, i64), s.mul(i, s.const(step, i64))), typ)
        value = s.add(s.const(start, f64), s.mul(s.cast(i, f64), s.const(step, f64)))
        return s.cast(value, typ)

    n = shape_of(op.result)[0]
    return e.generic([], [], e.empty([n], typ), amap(1, dims(1)), [PAR], body)


def _scan(e: Emitter, op: nn.DimOp, init: float, combine: Callable[[Scalar, SSAValue, SSAValue], SSAValue]):
    """out[.., i, ..] = combine over j <= i, in order, of x[.., j, ..]: one
    reduction over an extra loop j, where j > i contributes `init`, the
    combine's neutral element (quadratic in the dim's size, which is a
    sequence length or smaller in the models this serves). The body is
    combine(acc, select(...)), the form the vectoriser recognises as a
    reduction (add, mul, max, min)."""
    shape = shape_of(op.input)
    rank, d = len(shape), op.normalized_dim()
    typ = elem(op.input)

    def body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        keep = s.cmp("le", s.index(rank), s.index(d))
        return combine(s, x[1], s.select(keep, x[0], s.const(init, typ)))

    src = [AffineExpr.dimension(rank if k == d else k) for k in range(rank)]
    return e.generic(
        [op.input], [amap(rank + 1, src)], e.filled(shape, typ, init), amap(rank + 1, dims(rank)),
        [PAR] * rank + [RED], body,
    )


RANDOM_BASE = "sparcc_rt_random_base"  # the CPU runtime's: a fresh 64-bit base per random op and call


def _i64(value: int) -> int:
    """An unsigned 64-bit constant as the signed i64 that holds its bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _mix64(s: Scalar, z: SSAValue) -> SSAValue:
    """splitmix64's finaliser (wrapping i64 arithmetic)."""
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        z = s.mul(s.xor(z, s._add(arith.ShRUIOp(z, s.const(shift, i64)))), s.const(_i64(factor), i64))
    return s.xor(z, s._add(arith.ShRUIOp(z, s.const(31, i64))))


@lowering(nn.RandomOp)
def _random(e: Emitter, op: nn.RandomOp):
    """Counter-based random numbers: element i of the result hashes (base,
    i), base being the runtime's fresh value for this op and call, so that
    threads and tiles need no shared state. Uniform: the hash's top b bits
    times 2^-b, b the type's significand bits (24 for f32, 53 for f64, 11 and
    8 for f16 and bf16): exact, and below 1. Normal: Box-Muller from two
    such numbers (of 24 bits, 53 for f64), computed in f32 (f64 for f64).
    Not PyTorch's generator: the same distribution, other numbers."""
    shape = shape_of(op.result)
    rank = len(shape)
    typ = elem(op.result)
    bits = {64: 53, 32: 24}.get(typ.bitwidth, 8 if isinstance(typ, BFloat16Type) else 11)  # type: ignore[attr-defined]
    work = Float64Type() if typ.bitwidth == 64 else f32  # type: ignore[attr-defined]
    base = e.add(func.CallOp(RANDOM_BASE, [], [i64]))
    base = e.add(tensor.FromElementsOp(base, result_type=TensorType(i64, [])))
    strides = [e.size_i64(nn.dim(math.prod(shape[k + 1:]))) if shape[k + 1:] else 1 for k in range(rank)]
    normal = op.kind.data == "normal"
    if normal:  # Box-Muller's inputs at the working type's precision
        bits = 53 if work == Float64Type() else 24

    def unit(s: Scalar, z: SSAValue) -> SSAValue:
        top = s._add(arith.ShRUIOp(z, s.const(64 - bits, i64)))
        return s.mul(s._add(arith.SIToFPOp(top, work)), s.const(2.0 ** -bits, work))

    def body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        at = s.const(0, i64)
        for k, stride in enumerate(strides):
            i = s._add(arith.IndexCastOp(s.index(k), i64))
            at = s.add(at, s.mul(i, stride if isinstance(stride, SSAValue) else s.const(stride, i64)))
        key = s.add(x[0], s.mul(at, s.const(_i64(0xD1B54A32D192ED03), i64)))
        u = unit(s, _mix64(s, key))
        if not normal:
            return s.cast(u, typ)
        v = unit(s, _mix64(s, s.xor(key, s.const(_i64(0x5851F42D4C957F2D), i64))))
        one = s.const(1.0, work)
        radius = s.sqrt(s.mul(s.const(-2.0, work), s.log(s.sub(one, u))))  # 1 - u in (0, 1]
        angle = s.mul(v, s.const(2 * math.pi, work))
        return s.cast(s.mul(radius, s._add(mathd.CosOp(angle))), typ)

    return e.generic([base], [amap(rank, [])], e.empty(shape, typ), amap(rank, dims(rank)), [PAR] * rank, body)


@lowering(nn.CumsumOp)
def _cumsum(e: Emitter, op: nn.CumsumOp):
    return _scan(e, op, 0.0, lambda s, acc, x: s.add(acc, x))


@lowering(nn.CumprodOp)
def _cumprod(e: Emitter, op: nn.CumprodOp):
    return _scan(e, op, 1.0, lambda s, acc, x: s.mul(acc, x))


@lowering(nn.CummaxOp)
def _cummax(e: Emitter, op: nn.CummaxOp):
    return _scan(e, op, -math.inf, lambda s, acc, x: s.max(acc, x))


@lowering(nn.CumminOp)
def _cummin(e: Emitter, op: nn.CumminOp):
    return _scan(e, op, math.inf, lambda s, acc, x: s.min(acc, x))


def _log_add_exp(s: Scalar, a: SSAValue, b: SSAValue) -> SSAValue:
    """max + log1p(exp(min - max)), as PyTorch's logcumsumexp step; an
    infinite max (both -inf, or a +inf) is the result itself."""
    hi, lo = s.max(a, b), s.min(a, b)
    tail = s.math(mathd.Log1pOp, s.exp(s.sub(lo, hi)))
    infinite = s.cmp("eq", s.abs(hi), s.const(math.inf, a.type))
    return s.select(infinite, hi, s.add(hi, tail))


@lowering(nn.LogcumsumexpOp)
def _logcumsumexp(e: Emitter, op: nn.LogcumsumexpOp):
    return _scan(e, op, -math.inf, _log_add_exp)


@lowering(nn.ArgmaxOp)
def _argmax(e: Emitter, op: nn.ArgmaxOp):
    """The first extreme element's index, NaN counting as the extreme (as
    PyTorch): a reduction that carries (value, index) in two outputs."""
    shape = shape_of(op.input)
    rank = len(shape)
    d = nn.normalize_dim(op.dim.value.data, rank)
    typ = elem(op.input)
    largest = op.max.value.data
    kept = [k for k in range(rank) if k != d]
    red_shape = [shape[k] for k in kept]
    best = e.filled(red_shape, typ, -math.inf if largest else math.inf)
    where = e.filled(red_shape, i64, 0)
    block = Block(arg_types=[typ, typ, i64])
    s = Scalar(block)
    x, cur, at = block.args
    better = s.cmp("gt" if largest else "lt", x, cur)
    if is_float(typ):
        better = s.or_(better, s.and_(s.cmp("ne", x, x), s.cmp("eq", cur, cur)))
    i = s._add(arith.IndexCastOp(s.index(d), i64))
    first = s.cmp("eq", s.index(d), s.const(0, IndexType()))
    take = s.or_(better, first)
    block.add_op(linalg.YieldOp(s.select(take, x, cur), s.select(take, i, at)))
    out_map = amap(rank, [AffineExpr.dimension(k) for k in kept])
    generic = linalg.GenericOp(
        [op.input], [best, where], Region(block), [amap(rank, dims(rank)), out_map, out_map],
        [RED if k == d else PAR for k in range(rank)], [best.type, where.type],
    )
    e.add(generic)
    return e.reshape(generic.results[1], shape_of(op.result))


# ----------------------------------------------------------------------------
# indexing: values from user tensors are checked, reads are clamped
# ----------------------------------------------------------------------------

INDEX_ERROR = "sparcc_rt_index_error"
# what the runtime reports, and how the Python side raises it (sparcc.errors)
INDEX_BOUNDS, INDEX_IN_SELF, INDEX_GATHER = 1, 2, 3


def check_indices(e: Emitter, index: SSAValue, size: int, wrap: bool, kind: int, dim: int) -> SSAValue | None:
    """Calls the runtime's error hook, once, when any value of `index` lies
    outside [-size, size) (`wrap`) or [0, size). The call records the first
    bad value; the Python caller raises after the compiled function returns.
    Returns the i1 that says so (None for an empty index)."""
    if any(d == 0 for d in shape_of(index)):
        return None
    rank = len(shape_of(index))
    everything = list(range(rank))
    lo = e.reduce(index, everything, math.inf, lambda s, x: s.min(x[0], x[1]))
    hi = e.reduce(index, everything, -math.inf, lambda s, x: s.max(x[0], x[1]))
    s = Scalar()
    lo, hi = (s.cast(s._add(tensor.ExtractOp(v, [], elem(index))), i64) for v in (lo, hi))
    n = s._add(arith.IndexCastOp(e.size(size), i64)) if not isinstance(size, int) else s.const(size, i64)
    low = (s.const(-size, i64) if isinstance(size, int) else s.neg(n)) if wrap else s.const(0, i64)
    low_bad = s.cmp("lt", lo, low)
    bad = s.or_(low_bad, s.cmp("ge", hi, n))
    value = s.select(low_bad, lo, hi)
    args = [s.const(kind, i64), s.const(dim, i64), value, n]
    body = [func.CallOp(INDEX_ERROR, args, []), scf.YieldOp()]
    s.ops.append(scf.IfOp(bad, [], body))
    e.ops += s.ops
    return bad


def clamped_index(s: Scalar, value: SSAValue, size: int | SSAValue, wrap: bool) -> SSAValue:
    """An index of type `index` inside [0, size) for any integer `value`:
    negative values count from the end when `wrap`; reads never leave the
    tensor, even for values the check has reported. A symbolic size comes
    as an i64 value (Emitter.size_i64)."""
    v = s.cast(value, i64)
    if wrap:
        negative = s.cmp("lt", v, s.const(0, i64))
        v = s.select(negative, s.add(v, size if isinstance(size, SSAValue) else s.const(size, i64)), v)
    last = s.sub(size, s.const(1, i64)) if isinstance(size, SSAValue) else s.const(max(size - 1, 0), i64)
    v = s.max(s.min(v, last), s.const(0, i64))
    return s._add(arith.IndexCastOp(v, IndexType()))


@lowering(nn.GatherOp)
def _gather(e: Emitter, op: nn.GatherOp):
    shape = shape_of(op.input)
    rank = len(shape)
    d = nn.normalize_dim(op.dim.value.data, rank)
    check_indices(e, op.index, shape[d], False, INDEX_GATHER, d)
    source = op.input
    n = e.size_i64(shape[d])

    def body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        at = [clamped_index(s, x[0], n, False) if k == d else s.index(k) for k in range(rank)]
        return s._add(tensor.ExtractOp(source, at, elem(source)))

    out = shape_of(op.result)
    return e.generic([op.index], [amap(rank, dims(rank))], e.empty(out, elem(source)), amap(rank, dims(rank)),
                     [PAR] * rank, body)


@lowering(nn.IndexOp)
def _index(e: Emitter, op: nn.IndexOp):
    shape = shape_of(op.input)
    indexed = ints(op.indexed)
    wrap = op.wrap.value.data
    kind = INDEX_BOUNDS if wrap else INDEX_IN_SELF
    for i, d in zip(op.indices, indexed):
        check_indices(e, i, shape[d], wrap, kind, d)
    bshape, at = op.layout()
    out = shape_of(op.result)
    rank = len(out)
    # operands: the index tensors, broadcast onto the result dims [at, at + len(bshape))
    operands, maps = [], []
    for i in op.indices:
        ishape = shape_of(i)
        offset = len(bshape) - len(ishape)
        keep = [k for k, n in enumerate(ishape) if not (n == 1 and bshape[offset + k] != 1)]
        operands.append(e.drop_unit_dims(i, keep))
        maps.append(amap(rank, [AffineExpr.dimension(at + offset + k) for k in keep]))
    rest = [k for k in range(len(shape)) if k not in indexed]
    # result dim of each non-indexed input dim
    position = {k: (j if j < at else j + len(bshape)) for j, k in enumerate(rest)}
    source = op.input
    sizes = {k: e.size_i64(shape[k]) for k in indexed}

    def body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        values = dict(zip(indexed, x))
        where = [
            clamped_index(s, values[k], sizes[k], wrap) if k in values else s.index(position[k])
            for k in range(len(shape))
        ]
        return s._add(tensor.ExtractOp(source, where, elem(source)))

    return e.generic(operands, maps, e.empty(out, elem(source)), amap(rank, dims(rank)), [PAR] * rank, body)


def _loop_maps(e: Emitter, values: Sequence[SSAValue], shape: Sequence[Dim], loops: Sequence[int],
               num_loops: int) -> tuple[list[SSAValue], list[AffineMapAttr]]:
    """`values` broadcast (PyTorch's rule) to `shape`, whose dim k is loop
    `loops[k]` of a generic over `num_loops` loops: broadcast unit dims are
    dropped, so every map stays a projected permutation."""
    operands, maps = [], []
    for v in values:
        vshape = shape_of(v)
        offset = len(shape) - len(vshape)
        keep = [k for k, n in enumerate(vshape) if not (n == 1 and shape[offset + k] != 1)]
        operands.append(e.drop_unit_dims(v, keep))
        maps.append(amap(num_loops, [AffineExpr.dimension(loops[offset + k]) for k in keep]))
    return operands, maps


@lowering(nn.IndexPutOp)
def _index_put(e: Emitter, op: nn.IndexPutOp):
    """Reductions over the input's dims (parallel) and the index dims
    (innermost): with `accumulate`, each element adds the values whose
    indices name it (an add reduction; the neutral value is -0.0, which
    keeps -0.0). Otherwise the last index that names an element wins: its
    position is a max reduction, the value at it a sum of one value and
    neutral ones, and elements no index names keep the input's. Every
    reduction has an add or max combiner, so the CPU schedule vectorises
    it. Quadratic (input elements times index elements); MoE routing puts
    tokens x top-k rows. Bools go through i64 (a bool reduction, widened to
    bytes later, no longer has a combiner the vectoriser knows)."""
    shape = shape_of(op.input)
    rank = len(shape)
    typ = elem(op.input)
    indexed = ints(op.indexed)
    wrap = op.wrap.value.data
    if typ == i1:
        wide = [e.add(nn.CastOp(v, i64)) for v in (op.input, op.values)]
        put = e.add(nn.IndexPutOp(wide[0], op.indices, indexed, wide[1], op.accumulate.value.data, wrap))
        return e.add(nn.CastOp(put, i1))
    kind = INDEX_GATHER if op.error_kind() == "runtime" else INDEX_BOUNDS
    bad = [check_indices(e, i, shape[d], wrap, kind, d) for i, d in zip(op.indices, indexed)]
    if _slice_per_index(op):
        return _put_slices(e, op, bad[0])
    bshape, at = op.layout()
    nb = len(bshape)
    loops = rank + nb
    rest = [k for k in range(rank) if k not in indexed]
    # the loop of each dim of the indexed shape: input dims for the rest, index loops for the index dims
    value_loops = [*rest[:at], *range(rank, loops), *rest[at:]]
    where, where_maps = _loop_maps(e, op.indices, bshape, list(range(rank, loops)), loops)
    values, value_maps = _loop_maps(e, [op.values], op.indexed_shape(), value_loops, loops)
    sizes = {k: e.size_i64(shape[k]) for k in indexed}
    strides = [e.size_i64(nn.dim(math.prod(bshape[k + 1 :]))) for k in range(nb)]
    out_map, iterators = amap(loops, dims(rank)), [PAR] * rank + [RED] * nb

    def hit(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        """The index values `x` name this element."""
        found = [s.cmp("eq", clamped_index(s, v, sizes[k], wrap), s.index(k)) for k, v in zip(indexed, x)]
        for other in found[1:]:
            found[0] = s.and_(found[0], other)
        return found[0]

    def order(s: Scalar) -> SSAValue:
        """The position of this index element in index order."""
        at = s.const(0, i64)
        for k, stride in enumerate(strides):
            step = s.mul(s._add(arith.IndexCastOp(s.index(rank + k), i64)),
                         stride if isinstance(stride, SSAValue) else s.const(stride, i64))
            at = s.add(at, step)
        return at

    if op.accumulate.value.data:
        dest = e.add(linalg.CopyOp([op.input], [e.empty(shape, typ)], [op.input.type]))  # the input may have other users

        def add(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
            *index, value, acc = x
            return s.add(acc, s.select(hit(s, index), value, s.const(-0.0, typ)))

        return e.generic([*where, *values], [*where_maps, *value_maps], dest, out_map, iterators, add)

    def last(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        *index, acc = x
        return s.max(acc, s.select(hit(s, index), order(s), s.const(-1, i64)))

    winner = e.generic(where, where_maps, e.filled(shape, i64, -1), out_map, iterators, last)

    def pick(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        *_, won, value, acc = x  # the index operands only give the index loops their extents
        return s.add(acc, s.select(s.cmp("eq", order(s), won), value, s.const(-0.0, typ)))

    picked = e.generic([*where, winner, *values], [*where_maps, out_map, *value_maps], e.filled(shape, typ, -0.0),
                       out_map, iterators, pick)
    return e.elementwise([winner, picked, op.input], shape,
                         lambda s, x: s.select(s.cmp("ge", x[0], s.const(0, i64)), x[1], x[2]), typ)


def _slice_per_index(op: nn.IndexPutOp) -> bool:
    """Whether `op` writes (adds) one slice of its values per index value:
    one index tensor, 1-d, along one dim, and values of exactly the indexed
    shape (index_copy, index_add, a KV cache's update)."""
    if len(op.indices) != 1 or len(shape_of(op.indices[0])) != 1:
        return False
    want = op.indexed_shape()
    got = shape_of(op.values)
    return len(got) == len(want) and all(nn.same(a, b) for a, b in zip(got, want))


def _put_slices(e: Emitter, op: nn.IndexPutOp, bad: SSAValue | None) -> SSAValue:
    """input with slice k of the values written (added) at index[k] along
    the indexed dim, for k in order (a later index wins, or adds after the
    earlier ones, as PyTorch's CPU kernels do): work in the size of the
    values, not of the input (a one-token update of a KV cache writes one
    row). The result is the input updated where it lies when nothing else
    reads the input afterwards (one-shot bufferisation; lower-entry-abi
    makes an updated model input such a buffer). When the check found a
    bad index (`bad`), nothing is written: the call raises, and the input,
    updated in place or not, stays as it was, as in PyTorch."""
    shape = shape_of(op.input)
    rank = len(shape)
    d = ints(op.indexed)[0]
    index = op.indices[0]
    n = shape_of(index)[0]
    typ = elem(op.input)
    accumulate = op.accumulate.value.data
    wrap = op.wrap.value.data
    size = e.size_i64(shape[d])
    part = [1 if k == d else shape[k] for k in range(rank)]
    part_type = nn.tensor(part, typ)
    static_sizes = [DYNAMIC_INDEX if not isinstance(x, int) else x for x in part]

    def put(b: Emitter, acc: SSAValue, k: SSAValue) -> SSAValue:
        s = Scalar()
        at = clamped_index(s, s._add(tensor.ExtractOp(index, [k], elem(index))), size, wrap)
        b.ops += s.ops
        src = b.add(tensor.ExtractSliceOp(op.values, [k if j == d else 0 for j in range(rank)], b.mixed(part),
                                          [1] * rank, part_type))
        window = b.add(tensor.ExtractSliceOp(acc, [at if j == d else 0 for j in range(rank)], b.mixed(part),
                                             [1] * rank, part_type))
        if accumulate:  # added into the window itself: no temporary, no copy of it
            same = amap(rank, dims(rank))
            new = b.generic([src], [same], window, same, [PAR] * rank, lambda s, x: s.add(x[1], x[0]))
        else:
            new = b.add(linalg.CopyOp([src], [window], [part_type]))
        return b.add(tensor.InsertSliceOp.get(
            new, acc, static_sizes, [DYNAMIC_INDEX if j == d else 0 for j in range(rank)], [1] * rank,
            offsets=[at], sizes=b.sizes(part), result_type=acc.type,
        ))

    # one loop, whose trip count is 0 when the check found a bad index (an
    # scf.if choosing between the input and the update would make
    # bufferisation free or reuse the wrong buffer)
    trips: SSAValue = e.size(n)
    if bad is not None:
        trips = e.add(arith.SelectOp(bad, e.size(0), trips))
    body = Block(arg_types=[IndexType(), op.input.type])
    k, acc = body.args
    inner = Emitter()
    written = put(inner, acc, k)
    body.add_ops([*inner.ops, scf.YieldOp(written)])
    loop = scf.ForOp(e.size(0), trips, e.size(1), [op.input], body)
    e.ops.append(loop)
    return loop.results[0]


def _leading(e: Emitter, value: SSAValue, sizes: Sequence[Dim]) -> SSAValue:
    """The slice [0, sizes) of `value` (`value` itself when that is all of it)."""
    shape = shape_of(value)
    if all(nn.same(a, b) for a, b in zip(shape, sizes)):
        return value
    return e.add(tensor.ExtractSliceOp(value, e.mixed([0] * len(sizes)), e.mixed(sizes), [1] * len(sizes),
                                       nn.tensor(sizes, elem(value))))


# the value that leaves an element as it is, and the one an element starts
# from without its own value (scatter_reduce's include_self = false)
_SCATTER_NEUTRAL = {"sum": -0.0, "prod": 1.0, "amax": -math.inf, "amin": math.inf, "mean": -0.0}
_SCATTER_START = {"sum": 0.0, "prod": 1.0, "amax": -math.inf, "amin": math.inf, "mean": 0.0}
_SCATTER_COMBINE = {"sum": Scalar.add, "mean": Scalar.add, "prod": Scalar.mul, "amax": Scalar.max, "amin": Scalar.min}


@lowering(nn.ScatterOp)
def _scatter(e: Emitter, op: nn.ScatterOp):
    """Computed over the index's region of the input (the index's shape with
    the input's size along `dim`), then written into a copy of the input.
    Each element of the region reduces over the index positions along `dim`
    (innermost loop) that name it: sum, prod, amax, amin combine
    select(named, src, neutral) into the input's value, or, without
    include_self, into the reduction's start value, and elements that no
    index names (a count reduction) keep the input's. mean divides the sum
    by that count (+1 with include_self). Without a reduction the last
    position that names an element wins, as in index_put. Linear in the
    region times the index's size along `dim`. Bools go through i64."""
    shape = shape_of(op.input)
    rank, d = len(shape), op.normalized_dim()
    typ = elem(op.input)
    reduce, include_self = op.reduce.data, op.include_self.value.data
    if typ == i1:
        wide = [e.add(nn.CastOp(v, i64)) for v in (op.input, op.src)]
        scattered = e.add(nn.ScatterOp(wide[0], op.index, wide[1], d, reduce, include_self, op.error.data))
        return e.add(nn.CastOp(scattered, i1))
    ishape = shape_of(op.index)
    if any(n == 0 for n in ishape):
        return op.input
    check_indices(e, op.index, shape[d], False, INDEX_IN_SELF if op.error.data == "in_self" else INDEX_GATHER, d)
    region = [shape[d] if k == d else n for k, n in enumerate(ishape)]
    src, base = _leading(e, op.src, ishape), _leading(e, op.input, region)
    loops = rank + 1
    at = amap(loops, [AffineExpr.dimension(rank if k == d else k) for k in range(rank)])
    out_map, iterators = amap(loops, dims(rank)), [PAR] * rank + [RED]
    size = e.size_i64(shape[d])

    def named(s: Scalar, index: SSAValue) -> SSAValue:
        return s.cmp("eq", clamped_index(s, index, size, False), s.index(d))

    def count(start: int) -> SSAValue:
        def body(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
            return s.add(x[1], s.cast(named(s, x[0]), i64))

        return e.generic([op.index], [at], e.filled(region, i64, start), out_map, iterators, body)

    if reduce == "none":
        def last(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
            j = s._add(arith.IndexCastOp(s.index(rank), i64))
            return s.max(x[1], s.select(named(s, x[0]), j, s.const(-1, i64)))

        winner = e.generic([op.index], [at], e.filled(region, i64, -1), out_map, iterators, last)

        def pick(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
            _, won, value, acc = x  # the index operand only gives the loop along `dim` its extent
            j = s._add(arith.IndexCastOp(s.index(rank), i64))
            return s.add(acc, s.select(s.cmp("eq", j, won), value, s.const(-0.0, typ)))

        picked = e.generic([op.index, winner, src], [at, out_map, at], e.filled(region, typ, -0.0), out_map,
                           iterators, pick)
        value = e.elementwise([winner, picked, base], region,
                              lambda s, x: s.select(s.cmp("ge", x[0], s.const(0, i64)), x[1], x[2]), typ)
    else:
        combine = _SCATTER_COMBINE[reduce]

        def fold(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
            index, v, acc = x
            return combine(s, acc, s.select(named(s, index), v, s.const(_SCATTER_NEUTRAL[reduce], typ)))

        init = (e.add(linalg.CopyOp([base], [e.empty(region, typ)], [nn.tensor(region, typ)])) if include_self
                else e.filled(region, typ, _SCATTER_START[reduce]))  # a copy: the input may have other users
        value = e.generic([op.index, src], [at, at], init, out_map, iterators, fold)
        if reduce == "mean":
            def mean(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
                n, total, own = x[:3]
                none = s.cmp("eq", n, s.const(0, i64))
                n = s.cast(s.select(none, s.const(1, i64), n), typ)
                return s.select(none, own, s.div(total, n) if is_float(typ) else s.floor_div(total, n))

            value = e.elementwise([count(1 if include_self else 0), value, base], region, mean, typ)
        elif not include_self:
            value = e.elementwise([count(0), value, base], region,
                                  lambda s, x: s.select(s.cmp("eq", x[0], s.const(0, i64)), x[2], x[1]), typ)
    if all(nn.same(a, b) for a, b in zip(region, shape)):
        return value
    dest = e.add(linalg.CopyOp([op.input], [e.empty(shape, typ)], [op.input.type]))  # the input may have other users
    return e.insert(value, dest, [0] * rank)


@lowering(nn.ArgsortOp)
def _argsort(e: Emitter, op: nn.ArgsortOp):
    """A stable sort by ranks: element i's rank is the number of elements
    that sort before it (smaller, or equal and earlier), and position r
    takes the i of rank r. Two reductions over an extra loop (quadratic in
    the dim's size: MoE routers sort experts and tokens x top-k)."""
    shape = shape_of(op.input)
    rank, d = len(shape), op.normalized_dim()
    descending = op.descending.value.data
    other = amap(rank + 1, [AffineExpr.dimension(rank if k == d else k) for k in range(rank)])
    own = amap(rank + 1, dims(rank))

    def less(s: Scalar, a: SSAValue, b: SSAValue) -> SSAValue:
        """a sorts before b (NaN above every number)."""
        if descending:
            a, b = b, a
        below = s.cmp("lt", a, b)
        if is_float(a.type):
            below = s.or_(below, s.and_(s.cmp("eq", a, a), s.cmp("ne", b, b)))
        return below

    def count(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        mine, theirs, acc = x
        earlier = s.cmp("lt", s.index(rank), s.index(d))
        before = s.or_(less(s, theirs, mine), s.and_(earlier, s.not_(less(s, mine, theirs))))
        return s.add(acc, s.cast(before, i64))

    ranks = e.generic([op.input, op.input], [own, other], e.filled(shape, i64, 0), own, [PAR] * rank + [RED], count)

    def place(s: Scalar, x: Sequence[SSAValue]) -> SSAValue:
        their_rank, acc = x
        here = s.cmp("eq", their_rank, s._add(arith.IndexCastOp(s.index(d), i64)))
        i = s._add(arith.IndexCastOp(s.index(rank), i64))
        return s.add(acc, s.select(here, i, s.const(0, i64)))

    return e.generic([ranks], [other], e.filled(shape, i64, 0), own, [PAR] * rank + [RED], place)


@lowering(nn.PadOp)
def _pad(e: Emitter, op: nn.PadOp):
    return e.pad(op.input, ints(op.low), ints(op.high), op.value.value.data)


@lowering(nn.SliceScatterOp)
def _slice_scatter(e: Emitter, op: nn.SliceScatterOp):
    shape = shape_of(op.input)
    d = nn.normalize_dim(op.dim.value.data, len(shape))
    offsets, strides = [0] * len(shape), [1] * len(shape)
    offsets[d], strides[d] = op.start.value.data, op.step.value.data
    if math.prod(shape_of(op.src)) == 0:
        return op.input
    # written into a copy: the input may have other users
    dest = e.add(linalg.CopyOp([op.input], [e.empty(shape, elem(op.input))], [op.input.type]))
    return e.insert(op.src, dest, offsets, strides)


PATTERNS: list[RewritePattern] = [
    LowerElementwise(),
    *(
        cls()
        for cls in Lowering.__subclasses__()
    ),
]


class _ByType(RewritePattern):
    """PATTERNS, in their order, but only those that can match the op's type:
    the walker visits every op of the function, new ones included, and trying
    each of the ~150 lowerings on each op was 2/3 of this pass's time
    (densenet121: 665,000 pattern calls for 48,000 visits)."""

    def __init__(self) -> None:
        self.table: dict[type[Operation], list[RewritePattern]] = {}

    def candidates(self, op_type: type[Operation]) -> list[RewritePattern]:
        found = self.table.get(op_type)
        if found is None:
            found = [p for p in PATTERNS if not isinstance(p, Lowering) or issubclass(op_type, p.op_type)]
            self.table[op_type] = found
        return found

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        for pattern in self.candidates(type(op)):
            pattern.match_and_rewrite(op, rewriter)
            if rewriter.has_done_action:
                return


@dataclass(frozen=True)
class ConvertNnToLinalgPass(ModulePass):
    name = "convert-nn-to-linalg"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lowerings = GreedyRewritePatternApplier([_ByType()])  # its table of candidates serves every function
        for f in [f for f in op.ops if isinstance(f, func.FuncOp) and not f.is_declaration]:
            token = SIZES.set(bind_sizes(f))
            try:
                PatternRewriteWalker(lowerings, apply_recursively=True).rewrite_region(f.body)
            except DynamicShapeError as e:
                raise DynamicShapeError(
                    f"this program cannot run with dynamic sizes yet: {getattr(e, 'short', str(e))}"
                ) from None
            finally:
                SIZES.reset(token)
        drop_symbolic_shapes(op)
        declare_callees(op)


def declare_callees(module: ModuleOp) -> None:
    """Declares each function that the lowerings call (the runtime's index
    error hook, the special functions) and `module` does not define, with
    the types of its first call."""
    declared = {f.sym_name.data for f in module.ops if isinstance(f, func.FuncOp)}
    decls = []
    for call in module.walk():
        if not isinstance(call, func.CallOp) or call.callee.string_value() in declared:
            continue
        name = call.callee.string_value()
        declared.add(name)
        decls.append(func.FuncOp.external(name, [a.type for a in call.arguments], [r.type for r in call.results]))
    block = module.body.block
    if decls:
        block.insert_ops_before(decls, block.first_op) if block.first_op else block.add_ops(decls)


def bind_sizes(f: func.FuncOp) -> dict[sympy.Symbol, tuple[SSAValue, int]]:
    """Where each size symbol of `f` is found (the first argument dim that is
    exactly the symbol); records the symbols and the symbolic shapes of the
    arguments and results as attributes of `f`."""
    block = f.body.block
    sizes: dict[sympy.Symbol, tuple[SSAValue, int]] = {}
    for arg in block.args:
        if not isinstance(arg.type, TensorType):
            continue
        for i, d in enumerate(shape_of(arg)):
            if isinstance(d, sympy.Symbol) and d not in sizes:
                sizes[d] = (arg, i)
    if not sizes:
        return sizes
    missing = {s for arg in block.args if isinstance(arg.type, TensorType) for s in nn.symbols_of(shape_of(arg))}
    missing -= set(sizes)
    if missing:
        raise DynamicShapeError(f"size symbols {sorted(map(str, missing))} are not the size of any input dim")
    results = f.function_type.outputs.data
    f.attributes["sparcc.sizes"] = ArrayAttr([StringAttr(str(s)) for s in sizes])
    f.attributes["sparcc.arg_dims"] = ArrayAttr([StringAttr(nn.dims_text(shape_of(a))) for a in block.args])
    f.attributes["sparcc.result_dims"] = ArrayAttr([StringAttr(nn.dims_text(shape_of(t))) for t in results])
    return sizes


def drop_symbolic_shapes(module: ModuleOp) -> None:
    """Plain tensor types (`?`, no encoding) for upstream MLIR: the symbolic
    shapes have served the lowering, and the function keeps them as attributes."""

    def plain(typ: Attribute) -> Attribute:
        if isinstance(typ, TensorType) and isinstance(typ.encoding, StringAttr) and typ.encoding.data.startswith("["):
            return TensorType(typ.element_type, typ.get_shape())
        return typ

    for op in module.walk():
        for value in op.results:
            value._type = plain(value.type)  # noqa: SLF001 (a type-only change, uses stay valid)
        for region in op.regions:
            for block in region.blocks:
                for arg in block.args:
                    arg._type = plain(arg.type)  # noqa: SLF001
        if isinstance(op, func.FuncOp):
            op.function_type = func.FunctionType.from_lists(
                [plain(t) for t in op.function_type.inputs.data], [plain(t) for t in op.function_type.outputs.data]
            )

