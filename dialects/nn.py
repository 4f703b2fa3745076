"""
The `nn` dialect: tensor operations with PyTorch semantics.

Every op works on ranked tensors and means exactly what the ATen op of the
same name means (broadcasting, dims, defaults). A dim is a number or, in a
program compiled for dynamic shapes, a symbolic size: an integer expression
over the program's size symbols s0, s1, ... (sympy). Such a tensor's type has
`?` there and lists its symbolic shape in the encoding, so that the shape
rules, the verifier and the lowering all see the same sizes:

    tensor<1x?x64xf32, "[1, s0, 64]"> Model weights
are never inlined: `nn.weight @name` refers to an entry of the weight store,
whose data reaches compiled code as a buffer.

Each op knows its result type (`infer_type`): builders compute it, and the
verifier checks the declared one against it, so shape bugs surface at the op
that has them.
"""

from __future__ import annotations

import abc
import functools
import math
import re
from collections.abc import Sequence
from typing import ClassVar, Union

import sympy

from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AnyFloat,
    BoolAttr,
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    f64,
    i1,
    i32,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    AttrSizedOperandSegments,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

Dim = Union[int, sympy.Expr]  # a size: a number, or an expression over size symbols
Shape = tuple[Dim, ...]


# ----------------------------------------------------------------------------
# symbolic sizes
# ----------------------------------------------------------------------------

_FUNCTIONS = {"floor": sympy.floor, "ceiling": sympy.ceiling, "Max": sympy.Max, "Min": sympy.Min, "Mod": sympy.Mod}


def size_symbol(name: str) -> sympy.Symbol:
    """A size symbol: a positive integer."""
    return sympy.Symbol(name, integer=True, positive=True)


@functools.lru_cache(maxsize=4096)
def parse_dim(text: str) -> Dim:
    """A dim from its printed form ("64", "s0", "2*s0 + 1", "floor(s0/2)")."""
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    names = set(re.findall(r"[A-Za-z_]\w*", text)) - set(_FUNCTIONS)
    if not names or not all(re.fullmatch(r"s\d+", n) for n in names):
        raise VerifyException(f"'{text}' is not a size expression over size symbols s0, s1, ...")
    try:
        expr = sympy.sympify(text, locals={**_FUNCTIONS, **{n: size_symbol(n) for n in names}})
    except (sympy.SympifyError, SyntaxError, TypeError) as e:
        raise VerifyException(f"'{text}' is not a size expression: {e}") from None
    return dim(expr)


def parse_dim_list(text: str) -> Shape:
    """A shape from its printed form ("[1, s0, 64]")."""
    inner = text.strip()[1:-1].strip()
    parts, depth, start = [], 0, 0
    for i, c in enumerate(inner):  # commas inside Min(a, b) do not separate dims
        depth += (c == "(") - (c == ")")
        if c == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    if inner:
        parts.append(inner[start:])
    return tuple(parse_dim(d) for d in parts)


def dim(value: Dim) -> Dim:
    """A size in normal form: a Python int when it is a number."""
    if isinstance(value, int):
        return value
    if isinstance(value, sympy.Expr):
        value = sympy.expand(value) if not value.has(sympy.floor, sympy.ceiling, sympy.Mod) else value
        if value.is_Integer:
            return int(value)
        return value
    return int(value)


def is_static(shape: Sequence[Dim]) -> bool:
    return all(isinstance(d, int) for d in shape)


def same(a: Dim, b: Dim) -> bool:
    """Whether two sizes are equal for every value of the symbols."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


def known_le(a: Dim, b: Dim) -> bool:
    """a <= b, unless it is known false (a symbolic comparison that sympy
    cannot decide counts as true: torch.export checked the program)."""
    if isinstance(a, int) and isinstance(b, int):
        return a <= b
    relation = sympy.Le(sympy.sympify(a), sympy.sympify(b))
    return relation is not sympy.false


def symbols_of(shape: Sequence[Dim]) -> set[sympy.Symbol]:
    return {s for d in shape if not isinstance(d, int) for s in d.free_symbols}


def dims_text(shape: Sequence[Dim]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# ----------------------------------------------------------------------------
# helpers shared by the ops' shape rules
# ----------------------------------------------------------------------------


def shape_of(value: SSAValue | Attribute) -> Shape:
    """A tensor's shape, with symbolic sizes where its type has `?`."""
    typ = value.type if isinstance(value, SSAValue) else value
    assert isinstance(typ, TensorType)
    static = tuple(typ.get_shape())
    if DYNAMIC_INDEX not in static:
        return static
    enc = typ.encoding
    if not isinstance(enc, StringAttr) or not (enc.data.startswith("[") and enc.data.endswith("]")):
        raise VerifyException(
            f"{typ}: a dynamic dim needs its symbolic size in the encoding, as in "
            'tensor<?x64xf32, "[s0, 64]">'
        )
    return _symbolic_shape(enc.data, static)


@functools.lru_cache(maxsize=4096)
def _symbolic_shape(text: str, static: tuple[int, ...]) -> Shape:
    shape = parse_dim_list(text)
    if len(shape) != len(static) or any(
        (s == DYNAMIC_INDEX) == isinstance(d, int) or (isinstance(d, int) and d != s) for d, s in zip(shape, static)
    ):
        raise VerifyException(f"the symbolic shape {text} does not match the type's shape "
                              f"{['?' if s == DYNAMIC_INDEX else s for s in static]}")
    return shape


def dim_attr(value: Dim) -> Attribute:
    """A size as a property: an i64, or the printed expression."""
    value = dim(value)
    return IntegerAttr(value, i64) if isinstance(value, int) else StringAttr(str(value))


def attr_dim(attr: Attribute) -> Dim:
    if isinstance(attr, StringAttr):
        return parse_dim(attr.data)
    return attr.value.data  # type: ignore[attr-defined]


def tensor(shape: Sequence[Dim], element: Attribute) -> TensorType:
    """The type of a tensor of `shape`: symbolic sizes are `?` plus the encoding."""
    shape = [dim(d) for d in shape]
    if is_static(shape):
        return TensorType(element, shape)
    return TensorType(
        element, [d if isinstance(d, int) else DYNAMIC_INDEX for d in shape], StringAttr(dims_text(shape))
    )


def elem(value: SSAValue) -> Attribute:
    typ = value.type
    assert isinstance(typ, TensorType)
    return typ.element_type


def broadcast_shapes(a: Shape, b: Shape) -> Shape:
    """PyTorch/numpy broadcasting of two shapes (a symbolic size broadcasts
    only with itself and with 1)."""
    out: list[Dim] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == 1 or y == 1:
            out.append(y if x == 1 else x)
        elif same(x, y):
            out.append(x)
        else:
            raise VerifyException(f"shapes {list(a)} and {list(b)} do not broadcast")
    return tuple(reversed(out))


def normalize_dim(dim: int, rank: int) -> int:
    if not -max(rank, 1) <= dim < max(rank, 1):
        raise VerifyException(f"dim {dim} is out of range for rank {rank}")
    return dim % max(rank, 1)


# On an entry function: for each of its leading results that is the new
# value of an input updated in place (a KV cache's index_copy_), that
# input's index, or -1 where the input has other readers too.
UPDATES_ATTR = "sparcc.updates"


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


def ints(attr: DenseArrayBase) -> tuple[int, ...]:
    return tuple(int(v) for v in attr.get_values())


class NnOp(IRDLOperation, abc.ABC):
    """Base: every nn op has one result whose type follows from its operands."""

    irdl_options = (ParsePropInAttrDict(),)

    @abc.abstractmethod
    def infer_type(self) -> TensorType: ...

    def verify_(self) -> None:
        for value in (*self.operands, *self.results):
            if isinstance(value.type, TensorType):
                shape_of(value)  # a `?` without its symbolic size is an error
        expected = self.infer_type()
        got = self.results[0].type
        if got != expected:
            raise VerifyException(f"expected result type {expected}, got {got}")


def _built(op: NnOp) -> NnOp:
    """Gives a freshly built op (result type still a placeholder) its type.

    Safe only because the op is not in any block yet and has no uses.
    """
    op.results[0]._type = op.infer_type()
    return op


_PLACEHOLDER = TensorType(f64, [])


# ----------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A model parameter or buffer, by name; its data lives in the weight store.

    The op yields the stored tensor viewed (row-major) in the shape that
    `perm` maps onto the result type, then permuted by `perm` (identity when
    absent): reshapes and transposes of constant weights fold into the op and
    are paid once, at load time.

    With `pad_rows = R`, the stored tensor is first viewed as rows of L
    values (L: the last dim of that row-major view) and zero rows are
    appended up to R rows; the view then covers the padded tensor
    (customize-layout pads a Linear weight of 50257 outputs to whole panels).

    %w = nn.weight @"fc1.weight" : tensor<2048x512xf32>
    """

    name = "nn.weight"
    sym_name = prop_def(SymbolRefAttr)
    perm = opt_prop_def(DenseArrayBase.constr(i64))
    pad_rows = opt_prop_def(IntegerAttr)
    result = result_def(TensorType)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())
    assembly_format = "$sym_name attr-dict `:` type($result)"

    def __init__(self, name: str, typ: TensorType, perm: Sequence[int] | None = None, pad_rows: int | None = None):
        super().__init__(
            properties={
                "sym_name": SymbolRefAttr(name),
                "perm": None if perm is None else i64_array(perm),
                "pad_rows": None if pad_rows is None else IntegerAttr(pad_rows, i64),
            },
            result_types=[typ],
        )

    def verify_(self) -> None:
        if self.perm is not None:
            rank = len(shape_of(self.result))
            if sorted(ints(self.perm)) != list(range(rank)):
                raise VerifyException(
                    f"expected perm to permute {rank} dims, got {list(ints(self.perm))}"
                )
        if self.pad_rows is not None:
            view = self.view_shape()
            rows = self.pad_rows.value.data
            if any(not isinstance(d, int) or d < 0 for d in view) or not view or rows < 1 \
                    or math.prod(view) != rows * view[-1]:
                raise VerifyException(f"pad_rows = {rows} does not give rows of the view {list(view)}")

    def view_shape(self) -> list:
        """The row-major view of the (padded) stored tensor that `perm` permutes into the result."""
        shape = list(shape_of(self.result))
        if self.perm is None:
            return shape
        viewed = [0] * len(shape)
        for j, p in enumerate(ints(self.perm)):
            viewed[p] = shape[j]
        return viewed

    @property
    def padded_rows(self) -> int | None:
        return None if self.pad_rows is None else self.pad_rows.value.data

    @property
    def weight_name(self) -> str:
        return self.sym_name.string_value()


# ----------------------------------------------------------------------------
# elementwise
# ----------------------------------------------------------------------------


class UnaryOp(NnOp, abc.ABC):
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($result)"

    def __init__(self, input: SSAValue, properties: dict[str, Attribute] | None = None):
        super().__init__(
            operands=[input], result_types=[input.type], properties=properties or {}
        )

    def infer_type(self) -> TensorType:
        return self.input.type


@irdl_op_definition
class NegOp(UnaryOp):
    """%y = nn.neg %x : tensor<4xf32>"""

    name = "nn.neg"


@irdl_op_definition
class ReluOp(UnaryOp):
    """%y = nn.relu %x : tensor<4xf32>"""

    name = "nn.relu"


@irdl_op_definition
class GeluOp(UnaryOp):
    """%y = nn.gelu %x {approximate = "tanh"} : tensor<4xf32>"""

    name = "nn.gelu"
    approximate = prop_def(StringAttr, default_value=StringAttr("none"))

    def verify_(self) -> None:
        super().verify_()
        if self.approximate.data not in ("none", "tanh"):
            raise VerifyException(
                f'expected approximate "none" or "tanh", got "{self.approximate.data}"'
            )


@irdl_op_definition
class SiluOp(UnaryOp):
    """%y = nn.silu %x : tensor<4xf32>"""

    name = "nn.silu"


@irdl_op_definition
class SigmoidOp(UnaryOp):
    """%y = nn.sigmoid %x : tensor<4xf32>"""

    name = "nn.sigmoid"


@irdl_op_definition
class TanhOp(UnaryOp):
    """%y = nn.tanh %x : tensor<4xf32>"""

    name = "nn.tanh"


@irdl_op_definition
class ExpOp(UnaryOp):
    """%y = nn.exp %x : tensor<4xf32>"""

    name = "nn.exp"


@irdl_op_definition
class ErfOp(UnaryOp):
    """%y = nn.erf %x : tensor<4xf32>"""

    name = "nn.erf"


@irdl_op_definition
class LogOp(UnaryOp):
    """%y = nn.log %x : tensor<4xf32>"""

    name = "nn.log"


@irdl_op_definition
class SqrtOp(UnaryOp):
    """%y = nn.sqrt %x : tensor<4xf32>"""

    name = "nn.sqrt"


@irdl_op_definition
class RsqrtOp(UnaryOp):
    """%y = nn.rsqrt %x : tensor<4xf32>"""

    name = "nn.rsqrt"


class BinaryOp(NnOp, abc.ABC):
    """Elementwise with PyTorch broadcasting."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)"
    )

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[_PLACEHOLDER])
        _built(self)

    def infer_type(self) -> TensorType:
        if elem(self.lhs) != elem(self.rhs):
            raise VerifyException(
                f"expected operands of one element type, got {elem(self.lhs)} "
                f"and {elem(self.rhs)}"
            )
        return tensor(broadcast_shapes(shape_of(self.lhs), shape_of(self.rhs)), elem(self.lhs))


@irdl_op_definition
class AddOp(BinaryOp):
    """%z = nn.add %x, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>"""

    name = "nn.add"


@irdl_op_definition
class SubOp(BinaryOp):
    """%z = nn.sub %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>"""

    name = "nn.sub"


@irdl_op_definition
class MulOp(BinaryOp):
    """%z = nn.mul %x, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>"""

    name = "nn.mul"


@irdl_op_definition
class DivOp(BinaryOp):
    """%z = nn.div %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>"""

    name = "nn.div"


@irdl_op_definition
class MaximumOp(BinaryOp):
    """%z = nn.maximum %x, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>"""

    name = "nn.maximum"


# ----------------------------------------------------------------------------
# reductions and normalisations
# ----------------------------------------------------------------------------


class ReduceOp(NnOp, abc.ABC):
    """Reduces `dims`; `keepdim` keeps them as size 1 (ATen semantics)."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    dims = prop_def(DenseArrayBase.constr(i64))
    keepdim = prop_def(BoolAttr, default_value=BoolAttr.from_bool(False))
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, dims: Sequence[int], keepdim: bool = False):
        super().__init__(
            operands=[input],
            result_types=[_PLACEHOLDER],
            properties={
                "dims": i64_array(dims),
                "keepdim": BoolAttr.from_bool(keepdim),
            },
        )
        _built(self)

    def reduced_dims(self) -> tuple[int, ...]:
        rank = len(shape_of(self.input))
        return tuple(sorted({normalize_dim(d, rank) for d in ints(self.dims)}))

    def infer_type(self) -> TensorType:
        shape = shape_of(self.input)
        red = self.reduced_dims()
        keep = self.keepdim.value.data
        out = [1 if i in red else s for i, s in enumerate(shape) if keep or i not in red]
        return tensor(out, elem(self.input))


@irdl_op_definition
class SumOp(ReduceOp):
    """%s = nn.sum %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>"""

    name = "nn.sum"


@irdl_op_definition
class MeanOp(ReduceOp):
    """%m = nn.mean %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>"""

    name = "nn.mean"


@irdl_op_definition
class AmaxOp(ReduceOp):
    """%m = nn.amax %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>"""

    name = "nn.amax"


class DimOp(NnOp, abc.ABC):
    """An op over one dim whose result has the input's type."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr[IntegerType])
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, dim: int):
        super().__init__(
            operands=[input],
            result_types=[input.type],
            properties={"dim": IntegerAttr(dim, i64)},
        )

    def normalized_dim(self) -> int:
        return normalize_dim(self.dim.value.data, len(shape_of(self.input)))

    def infer_type(self) -> TensorType:
        self.normalized_dim()
        return self.input.type


@irdl_op_definition
class SoftmaxOp(DimOp):
    """%y = nn.softmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>"""

    name = "nn.softmax"


@irdl_op_definition
class LogSoftmaxOp(DimOp):
    """%y = nn.log_softmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>"""

    name = "nn.log_softmax"


@irdl_op_definition
class LayerNormOp(NnOp):
    """Normalises the last `normalized_ndim` dims; weight and bias are optional.

    %y = nn.layer_norm %x weight %w : tensor<8xf32> bias %b : tensor<8xf32>
           {normalized_ndim = 1 : i64, eps = 1.0e-05 : f64} : tensor<2x8xf32>
    """

    name = "nn.layer_norm"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    weight = opt_operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(T)
    normalized_ndim = prop_def(IntegerAttr[IntegerType])
    eps = prop_def(FloatAttr[AnyFloat])
    irdl_options = (ParsePropInAttrDict(), AttrSizedOperandSegments(as_property=True))
    traits = traits_def(Pure())
    assembly_format = (
        "$input (`weight` $weight^ `:` type($weight))? (`bias` $bias^ `:` type($bias))? "
        "attr-dict `:` type($input)"
    )

    def __init__(self, input, weight, bias, normalized_ndim: int, eps: float):
        super().__init__(
            operands=[input, [weight] if weight else [], [bias] if bias else []],
            result_types=[input.type],
            properties={
                "normalized_ndim": IntegerAttr(normalized_ndim, i64),
                "eps": FloatAttr(eps, f64),
            },
        )

    def infer_type(self) -> TensorType:
        shape = shape_of(self.input)
        n = self.normalized_ndim.value.data
        if not 1 <= n <= len(shape):
            raise VerifyException(f"expected normalized_ndim in [1, {len(shape)}], got {n}")
        for operand in (self.weight, self.bias):
            if operand is not None and shape_of(operand) != shape[len(shape) - n :]:
                raise VerifyException(
                    f"expected affine parameters of shape {list(shape[-n:])}, "
                    f"got {list(shape_of(operand))}"
                )
        return self.input.type


@irdl_op_definition
class BatchNormOp(NnOp):
    """Inference-mode batch norm over dim 1 with running statistics.

    %y = nn.batch_norm %x, %mean, %var, %w, %b {eps = 1.0e-05 : f64}
           : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>,
              tensor<3xf32>) -> tensor<1x3x4x4xf32>
    """

    name = "nn.batch_norm"
    input = operand_def(TensorType)
    mean = operand_def(TensorType)
    var = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    result = result_def(TensorType)
    eps = prop_def(FloatAttr[AnyFloat])
    traits = traits_def(Pure())
    assembly_format = (
        "$input `,` $mean `,` $var `,` $weight `,` $bias attr-dict `:` "
        "functional-type(operands, results)"
    )

    def __init__(self, input, mean, var, weight, bias, eps: float):
        super().__init__(
            operands=[input, mean, var, weight, bias],
            result_types=[input.type],
            properties={"eps": FloatAttr(eps, f64)},
        )

    def infer_type(self) -> TensorType:
        shape = shape_of(self.input)
        if len(shape) < 2:
            raise VerifyException(f"expected an input of rank >= 2, got rank {len(shape)}")
        for operand in (self.mean, self.var, self.weight, self.bias):
            if shape_of(operand) != (shape[1],):
                raise VerifyException(
                    f"expected per-channel operands of shape [{shape[1]}], "
                    f"got {list(shape_of(operand))}"
                )
        return self.input.type


# ----------------------------------------------------------------------------
# contractions
# ----------------------------------------------------------------------------


@irdl_op_definition
class LinearOp(NnOp):
    """y = x @ weight^T + bias, over the last dim of x.

    %y = nn.linear %x, %w, %b : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>)
           -> tensor<4x16xf32>
    """

    name = "nn.linear"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None):
        super().__init__(
            operands=[input, weight, [bias] if bias else []], result_types=[_PLACEHOLDER]
        )
        _built(self)

    def infer_type(self) -> TensorType:
        x, w = shape_of(self.input), shape_of(self.weight)
        if len(w) != 2 or not x or x[-1] != w[1]:
            raise VerifyException(
                f"expected weight of shape [out, {x[-1] if x else '?'}], got {list(w)}"
            )
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(
                f"expected bias of shape [{w[0]}], got {list(shape_of(self.bias))}"
            )
        return tensor((*x[:-1], w[0]), elem(self.input))


@irdl_op_definition
class MatmulOp(NnOp):
    """Matrix product of [..., M, K] and [..., K, N] (batch dims broadcast).

    %z = nn.matmul %x, %y : tensor<2x4x8xf32>, tensor<2x8x3xf32> -> tensor<2x4x3xf32>
    """

    name = "nn.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)"
    )

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[_PLACEHOLDER])
        _built(self)

    def infer_type(self) -> TensorType:
        a, b = shape_of(self.lhs), shape_of(self.rhs)
        if len(a) < 2 or len(b) < 2:
            raise VerifyException(f"expected operands of rank >= 2, got {list(a)} and {list(b)}")
        if a[-1] != b[-2]:
            raise VerifyException(
                f"expected lhs columns ({a[-1]}) to equal rhs rows ({b[-2]})"
            )
        batch = broadcast_shapes(a[:-2], b[:-2])
        return tensor((*batch, a[-2], b[-1]), elem(self.lhs))


@irdl_op_definition
class SdpaOp(NnOp):
    """softmax(q @ k^T * scale + mask) @ v on [..., L, E] tensors.

    With `sparcc.kv_groups = g` (the CPU's fuse-attention sets it for a
    grouped-query model's decode step), k and v have 1/g of q's heads (dim
    -3): query head h reads key/value head h // g (PyTorch's enable_gqa).

    %o = nn.sdpa %q, %k, %v {is_causal = true, scale = 0.125 : f64}
           : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>)
           -> tensor<1x2x4x8xf32>
    """

    name = "nn.sdpa"
    query = operand_def(TensorType)
    key = operand_def(TensorType)
    value = operand_def(TensorType)
    mask = opt_operand_def(TensorType)
    result = result_def(TensorType)
    is_causal = prop_def(BoolAttr, default_value=BoolAttr.from_bool(False))
    scale = prop_def(FloatAttr[AnyFloat])
    traits = traits_def(Pure())
    assembly_format = (
        "$query `,` $key `,` $value (`,` `mask` $mask^)? attr-dict `:` "
        "functional-type(operands, results)"
    )

    def __init__(self, q, k, v, mask, is_causal: bool, scale: float):
        super().__init__(
            operands=[q, k, v, [mask] if mask else []],
            result_types=[_PLACEHOLDER],
            properties={
                "is_causal": BoolAttr.from_bool(is_causal),
                "scale": FloatAttr(scale, f64),
            },
        )
        _built(self)

    def infer_type(self) -> TensorType:
        q, k, v = shape_of(self.query), shape_of(self.key), shape_of(self.value)
        if not (len(q) == len(k) == len(v) >= 2) or q[-1] != k[-1] or k[-2] != v[-2]:
            raise VerifyException(
                f"expected q [..., L, E], k [..., S, E], v [..., S, Ev], got "
                f"{list(q)}, {list(k)}, {list(v)}"
            )
        if self.mask is not None:
            broadcast_shapes((*q[:-1], k[-2]), shape_of(self.mask))
        if self.is_causal.value.data and self.mask is not None:
            raise VerifyException("expected either is_causal or a mask, not both")
        return tensor((*q[:-1], v[-1]), elem(self.query))


@irdl_op_definition
class Conv2dOp(NnOp):
    """2-d convolution, NCHW input, [F, C/groups, KH, KW] weight.

    %y = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>,
           dilation = array<i64: 1, 1>, groups = 1 : i64}
           : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>

    With `channels_last = true` the input and the result are NHWC ([N, H, W,
    C] and [N, OH, OW, F]; the weight keeps PyTorch's layout): the
    channels-last pass (passes/channels_last.py) sets it.
    """

    name = "nn.conv2d"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    stride = prop_def(DenseArrayBase.constr(i64))
    padding = prop_def(DenseArrayBase.constr(i64))
    dilation = prop_def(DenseArrayBase.constr(i64))
    groups = prop_def(IntegerAttr[IntegerType])
    channels_last = prop_def(BoolAttr, default_value=BoolAttr.from_bool(False))
    traits = traits_def(Pure())
    assembly_format = "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(self, x, w, b, stride, padding, dilation, groups: int):
        super().__init__(
            operands=[x, w, [b] if b else []],
            result_types=[_PLACEHOLDER],
            properties={
                "stride": i64_array(stride),
                "padding": i64_array(padding),
                "dilation": i64_array(dilation),
                "groups": IntegerAttr(groups, i64),
            },
        )
        _built(self)

    def infer_type(self) -> TensorType:
        x, w = shape_of(self.input), shape_of(self.weight)
        g = self.groups.value.data
        if len(x) != 4 or len(w) != 4:
            raise VerifyException(f"expected 4-d input and weight, got {list(x)} and {list(w)}")
        nhwc = self.channels_last.value.data
        if nhwc and len(x) == 4:
            x = (x[0], x[3], x[1], x[2])  # checked as NCHW
        if g < 1 or x[1] % g or w[0] % g or w[1] * g != x[1]:
            raise VerifyException(
                f"expected weight [F, C/groups, KH, KW] with C={x[1]}, groups={g}, got {list(w)}"
            )
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(f"expected bias of shape [{w[0]}]")
        if not is_static(x[1:]):
            raise VerifyException(f"input {dims_text(x)}: only the batch dim of a convolution may be dynamic")
        (sh, sw), (ph, pw), (dh, dw) = (ints(self.stride), ints(self.padding), ints(self.dilation))
        oh = (x[2] + 2 * ph - dh * (w[2] - 1) - 1) // sh + 1
        ow = (x[3] + 2 * pw - dw * (w[3] - 1) - 1) // sw + 1
        if oh < 1 or ow < 1:
            raise VerifyException(f"kernel {list(w[2:])} does not fit input {list(x[2:])}")
        if nhwc:
            return tensor((x[0], oh, ow, w[0]), elem(self.input))
        return tensor((x[0], w[0], oh, ow), elem(self.input))


def pooled_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """Output extent of a pooling window (PyTorch's rule: with ceil_mode, the
    last window must start inside the input or its left padding)."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


class Pool2dOp(NnOp, abc.ABC):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    kernel = prop_def(DenseArrayBase.constr(i64))
    stride = prop_def(DenseArrayBase.constr(i64))
    padding = prop_def(DenseArrayBase.constr(i64))
    ceil_mode = prop_def(BoolAttr, default_value=BoolAttr.from_bool(False))
    # NHWC input and result (set by the channels-last pass)
    channels_last = prop_def(BoolAttr, default_value=BoolAttr.from_bool(False))
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x, kernel, stride, padding, extra: dict[str, Attribute] | None = None):
        super().__init__(
            operands=[x],
            result_types=[_PLACEHOLDER],
            properties={
                "kernel": i64_array(kernel),
                "stride": i64_array(stride),
                "padding": i64_array(padding),
                **(extra or {}),
            },
        )
        _built(self)

    def infer_type(self) -> TensorType:
        x = shape_of(self.input)
        nhwc = self.channels_last.value.data
        if len(x) != 4:
            raise VerifyException(f"expected a 4-d {'NHWC' if nhwc else 'NCHW'} input, got {list(x)}")
        if not is_static(x[1:]):
            raise VerifyException(f"input {dims_text(x)}: only the batch dim of a pooling may be dynamic")
        if nhwc:
            x = (x[0], x[3], x[1], x[2])
        (kh, kw), (sh, sw), (ph, pw) = ints(self.kernel), ints(self.stride), ints(self.padding)
        if 2 * ph > kh or 2 * pw > kw:
            raise VerifyException("expected padding at most half the kernel size")
        oh, ow = (pooled_size(n, k, st, p, self.ceil_mode.value.data) for n, k, st, p in ((x[2], kh, sh, ph), (x[3], kw, sw, pw)))
        if oh < 1 or ow < 1:
            raise VerifyException(f"kernel {[kh, kw]} does not fit input {list(x[2:])}")
        if nhwc:
            return tensor((x[0], oh, ow, x[1]), elem(self.input))
        return tensor((x[0], x[1], oh, ow), elem(self.input))


@irdl_op_definition
class MaxPool2dOp(Pool2dOp):
    """%y = nn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>,
    padding = array<i64: 0, 0>} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>"""

    name = "nn.max_pool2d"


@irdl_op_definition
class AvgPool2dOp(Pool2dOp):
    """As max_pool2d; `count_include_pad` as in PyTorch."""

    name = "nn.avg_pool2d"
    count_include_pad = prop_def(BoolAttr, default_value=BoolAttr.from_bool(True))


# ----------------------------------------------------------------------------
# data movement
# ----------------------------------------------------------------------------


@irdl_op_definition
class PermuteOp(NnOp):
    """%y = nn.permute %x {perm = array<i64: 1, 0>} : tensor<4x8xf32> -> tensor<8x4xf32>"""

    name = "nn.permute"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    perm = prop_def(DenseArrayBase.constr(i64))
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, perm: Sequence[int]):
        super().__init__(
            operands=[input], result_types=[_PLACEHOLDER], properties={"perm": i64_array(perm)}
        )
        _built(self)

    def infer_type(self) -> TensorType:
        shape, perm = shape_of(self.input), ints(self.perm)
        if sorted(perm) != list(range(len(shape))):
            raise VerifyException(f"expected a permutation of {len(shape)} dims, got {list(perm)}")
        return tensor([shape[p] for p in perm], elem(self.input))


class ShapedOp(NnOp, abc.ABC):
    """An op whose result shape is given by its result type."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        super().__init__(operands=[input], result_types=[tensor(shape, elem(input))])

    def infer_type(self) -> TensorType:
        self.check_shape(shape_of(self.input), shape_of(self.result))
        return self.result.type  # type: ignore[return-value]

    @abc.abstractmethod
    def check_shape(self, src: Shape, dst: Shape) -> None: ...

    def verify_(self) -> None:
        if elem(self.input) != elem(self.result):
            raise VerifyException("expected the same element type in and out")
        super().verify_()


@irdl_op_definition
class ReshapeOp(ShapedOp):
    """%y = nn.reshape %x : tensor<4x8xf32> -> tensor<32xf32>"""

    name = "nn.reshape"

    def check_shape(self, src: Shape, dst: Shape) -> None:
        if not same(math.prod(src), math.prod(dst)):
            raise VerifyException(
                f"expected {math.prod(src)} elements in the result, got {math.prod(dst)}"
            )


@irdl_op_definition
class ExpandOp(ShapedOp):
    """Broadcasts to the result shape.

    %y = nn.expand %x : tensor<1x8xf32> -> tensor<4x8xf32>
    """

    name = "nn.expand"

    def check_shape(self, src: Shape, dst: Shape) -> None:
        if len(dst) < len(src) or not all(same(a, b) for a, b in zip(broadcast_shapes(src, dst), dst)):
            raise VerifyException(f"cannot expand {list(src)} to {list(dst)}")


@irdl_op_definition
class ConcatOp(NnOp):
    """%z = nn.concat %x, %y {dim = 0 : i64} : (tensor<1x4xf32>, tensor<2x4xf32>) -> tensor<3x4xf32>"""

    name = "nn.concat"
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr[IntegerType])
    traits = traits_def(Pure())
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    def __init__(self, inputs: Sequence[SSAValue], dim: int):
        super().__init__(
            operands=[inputs], result_types=[_PLACEHOLDER], properties={"dim": IntegerAttr(dim, i64)}
        )
        _built(self)

    def normalized_dim(self) -> int:
        return normalize_dim(self.dim.value.data, len(shape_of(self.inputs[0])))

    def infer_type(self) -> TensorType:
        if not self.inputs:
            raise VerifyException("expected at least one input")
        d = self.normalized_dim()
        first = shape_of(self.inputs[0])
        for x in self.inputs:
            s = shape_of(x)
            if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first)) if i != d):
                raise VerifyException(
                    f"expected inputs that agree except in dim {d}, got {list(first)} and {list(s)}"
                )
        total = sum(shape_of(x)[d] for x in self.inputs)
        return tensor((*first[:d], total, *first[d + 1 :]), elem(self.inputs[0]))


@irdl_op_definition
class SliceOp(NnOp):
    """Elements start, start+step, ... < end of one dim (bounds already clamped).

    %y = nn.slice %x {dim = 1 : i64, start = 2 : i64, end = 6 : i64, step = 2 : i64}
           : tensor<4x8xf32> -> tensor<4x2xf32>
    """

    name = "nn.slice"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr[IntegerType])
    start = prop_def(IntegerAttr[IntegerType] | StringAttr)  # a size expression when symbolic
    end = prop_def(IntegerAttr[IntegerType] | StringAttr)
    step = prop_def(IntegerAttr[IntegerType])
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, dim: int, start: Dim, end: Dim, step: int = 1):
        super().__init__(
            operands=[input],
            result_types=[_PLACEHOLDER],
            properties={
                "dim": IntegerAttr(dim, i64),
                "start": dim_attr(start),
                "end": dim_attr(end),
                "step": IntegerAttr(step, i64),
            },
        )
        _built(self)

    def bounds(self) -> tuple[Dim, Dim, int]:
        return attr_dim(self.start), attr_dim(self.end), self.step.value.data

    def infer_type(self) -> TensorType:
        shape = shape_of(self.input)
        d = normalize_dim(self.dim.value.data, len(shape))
        start, end, step = self.bounds()
        if step < 1 or not (known_le(0, start) and known_le(start, end) and known_le(end, shape[d])):
            raise VerifyException(
                f"expected 0 <= start <= end <= {shape[d]} and step >= 1, "
                f"got start={start} end={end} step={step}"
            )
        if step != 1 and not (isinstance(start, int) and isinstance(end, int)):
            raise VerifyException("a slice with symbolic bounds must have step 1")
        n = (end - start + step - 1) // step
        return tensor((*shape[:d], n, *shape[d + 1 :]), elem(self.input))


@irdl_op_definition
class EmbeddingOp(NnOp):
    """Rows of `weight` picked by integer `indices`.

    %y = nn.embedding %w, %i : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
    """

    name = "nn.embedding"
    weight = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$weight `,` $indices attr-dict `:` functional-type(operands, results)"

    def __init__(self, weight: SSAValue, indices: SSAValue):
        super().__init__(operands=[weight, indices], result_types=[_PLACEHOLDER])
        _built(self)

    def infer_type(self) -> TensorType:
        w = shape_of(self.weight)
        if len(w) != 2:
            raise VerifyException(f"expected a 2-d weight, got {list(w)}")
        if not isinstance(elem(self.indices), IntegerType):
            raise VerifyException(f"expected integer indices, got {elem(self.indices)}")
        return tensor((*shape_of(self.indices), w[1]), elem(self.weight))


# ----------------------------------------------------------------------------
# more elementwise ops, any element type (floats, integers, i1 for bool)
# ----------------------------------------------------------------------------


def _unary(op_name: str, cls: str, doc: str) -> type[UnaryOp]:
    return irdl_op_definition(type(cls, (UnaryOp,), {"name": op_name, "__doc__": doc, "__module__": __name__}))


AbsOp = _unary("nn.abs", "AbsOp", "%y = nn.abs %x : tensor<4xf32>")
SinOp = _unary("nn.sin", "SinOp", "%y = nn.sin %x : tensor<4xf32>")
CosOp = _unary("nn.cos", "CosOp", "%y = nn.cos %x : tensor<4xf32>")
TanOp = _unary("nn.tan", "TanOp", "%y = nn.tan %x : tensor<4xf32>")
AtanOp = _unary("nn.atan", "AtanOp", "%y = nn.atan %x : tensor<4xf32>")
FloorOp = _unary("nn.floor", "FloorOp", "%y = nn.floor %x : tensor<4xf32>")
CeilOp = _unary("nn.ceil", "CeilOp", "%y = nn.ceil %x : tensor<4xf32>")
RoundOp = _unary("nn.round", "RoundOp", "Half to even, as torch.round. %y = nn.round %x : tensor<4xf32>")
TruncOp = _unary("nn.trunc", "TruncOp", "%y = nn.trunc %x : tensor<4xf32>")
SignOp = _unary("nn.sign", "SignOp", "%y = nn.sign %x : tensor<4xf32>")
Log1pOp = _unary("nn.log1p", "Log1pOp", "%y = nn.log1p %x : tensor<4xf32>")
Expm1Op = _unary("nn.expm1", "Expm1Op", "%y = nn.expm1 %x : tensor<4xf32>")
Log2Op = _unary("nn.log2", "Log2Op", "%y = nn.log2 %x : tensor<4xf32>")
NotOp = _unary("nn.not", "NotOp", "Bitwise not (logical not on i1). %y = nn.not %x : tensor<4xi1>")
AsinOp = _unary("nn.asin", "AsinOp", "%y = nn.asin %x : tensor<4xf32>")
AcosOp = _unary("nn.acos", "AcosOp", "%y = nn.acos %x : tensor<4xf32>")
SinhOp = _unary("nn.sinh", "SinhOp", "%y = nn.sinh %x : tensor<4xf32>")
CoshOp = _unary("nn.cosh", "CoshOp", "%y = nn.cosh %x : tensor<4xf32>")
AsinhOp = _unary("nn.asinh", "AsinhOp", "%y = nn.asinh %x : tensor<4xf32>")
AcoshOp = _unary("nn.acosh", "AcoshOp", "%y = nn.acosh %x : tensor<4xf32>")
AtanhOp = _unary("nn.atanh", "AtanhOp", "%y = nn.atanh %x : tensor<4xf32>")
Log10Op = _unary("nn.log10", "Log10Op", "%y = nn.log10 %x : tensor<4xf32>")
ErfcOp = _unary("nn.erfc", "ErfcOp", "%y = nn.erfc %x : tensor<4xf32>")
Exp2Op = _unary("nn.exp2", "Exp2Op", "%y = nn.exp2 %x : tensor<4xf32>")


# PyTorch's special functions that `nn.special` computes, by name: the number
# of operands and, where it is not the operands' type, the result element type.
SPECIAL_FUNCTIONS: dict[str, int] = {
    "lgamma": 1, "digamma": 1, "polygamma": 2, "erfinv": 1, "i0": 1, "i0e": 1, "i1": 1, "i1e": 1,
    "ndtri": 1, "erfcx": 1, "zeta": 2, "nextafter": 2, "frexp_mantissa": 1, "frexp_exponent": 1,
    "bessel_j0": 1, "bessel_j1": 1, "bessel_y0": 1, "bessel_y1": 1, "spherical_bessel_j0": 1,
    "modified_bessel_i0": 1, "modified_bessel_i1": 1, "modified_bessel_k0": 1, "modified_bessel_k1": 1,
    "scaled_modified_bessel_k0": 1, "scaled_modified_bessel_k1": 1,
    # the orthogonal polynomials of (x, degree n)
    **{f"{kind}_polynomial_{v}": 2 for kind, vs in (("chebyshev", "tuvw"), ("shifted_chebyshev", "tuvw"),
                                                    ("hermite", ("h", "he")), ("laguerre", "l"), ("legendre", "p"))
       for v in vs},
}
SPECIAL_RESULT: dict[str, Attribute] = {"frexp_exponent": i32}


@irdl_op_definition
class SpecialOp(NnOp):
    """A special function of PyTorch (`SPECIAL_FUNCTIONS`), elementwise with
    broadcasting, computed as PyTorch's CPU kernel computes it.

    %y = nn.special "digamma" %x : (tensor<4xf32>) -> tensor<4xf32>
    """

    name = "nn.special"
    fn = prop_def(StringAttr)
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$fn $inputs attr-dict `:` functional-type($inputs, $result)"

    def __init__(self, fn: str, inputs: Sequence[SSAValue]):
        super().__init__(operands=[inputs], result_types=[_PLACEHOLDER], properties={"fn": StringAttr(fn)})
        _built(self)

    def infer_type(self) -> TensorType:
        fn = self.fn.data
        if fn not in SPECIAL_FUNCTIONS:
            raise VerifyException(f"expected a special function of {sorted(SPECIAL_FUNCTIONS)}, got '{fn}'")
        if len(self.inputs) != SPECIAL_FUNCTIONS[fn]:
            raise VerifyException(f"expected {SPECIAL_FUNCTIONS[fn]} operands for '{fn}', got {len(self.inputs)}")
        types = {elem(x) for x in self.inputs}
        if len(types) != 1 or not isinstance(elem(self.inputs[0]), (Float16Type, BFloat16Type, Float32Type, Float64Type)):
            raise VerifyException(f"expected float operands of one element type, got {', '.join(map(str, types))}")
        shape = shape_of(self.inputs[0])
        for x in self.inputs[1:]:
            shape = broadcast_shapes(shape, shape_of(x))
        return tensor(shape, SPECIAL_RESULT.get(fn, elem(self.inputs[0])))


def _binary(op_name: str, cls: str, doc: str) -> type[BinaryOp]:
    return irdl_op_definition(type(cls, (BinaryOp,), {"name": op_name, "__doc__": doc, "__module__": __name__}))


MinimumOp = _binary("nn.minimum", "MinimumOp", "%z = nn.minimum %x, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>")
PowOp = _binary("nn.pow", "PowOp", "%z = nn.pow %x, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>")
FmodOp = _binary("nn.fmod", "FmodOp", "C fmod: the sign of the dividend. %z = nn.fmod %x, %y : tensor<4xi64>, tensor<i64> -> tensor<4xi64>")
RemainderOp = _binary("nn.remainder", "RemainderOp", "Python %: the sign of the divisor. %z = nn.remainder %x, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>")
FloorDivOp = _binary("nn.floor_div", "FloorDivOp", "%z = nn.floor_div %x, %y : tensor<4xi64>, tensor<i64> -> tensor<4xi64>")
TruncDivOp = _binary("nn.trunc_div", "TruncDivOp", "%z = nn.trunc_div %x, %y : tensor<4xi64>, tensor<i64> -> tensor<4xi64>")
Atan2Op = _binary("nn.atan2", "Atan2Op", "%z = nn.atan2 %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>")
AndOp = _binary("nn.and", "AndOp", "Bitwise and (logical on i1). %z = nn.and %x, %y : tensor<4xi1>, tensor<4xi1> -> tensor<4xi1>")
OrOp = _binary("nn.or", "OrOp", "%z = nn.or %x, %y : tensor<4xi1>, tensor<4xi1> -> tensor<4xi1>")
XorOp = _binary("nn.xor", "XorOp", "%z = nn.xor %x, %y : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>")
CopysignOp = _binary("nn.copysign", "CopysignOp", "The magnitude of x, the sign bit of y. %z = nn.copysign %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>")
FmaxOp = _binary("nn.fmax", "FmaxOp", "Maximum ignoring a NaN operand (NaN only if both are). %z = nn.fmax %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>")
FminOp = _binary("nn.fmin", "FminOp", "Minimum ignoring a NaN operand. %z = nn.fmin %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>")
ShlOp = _binary("nn.shl", "ShlOp", "Left shift of integers, modulo the width; the amount must be in [0, width). %z = nn.shl %x, %y : tensor<4xi32>, tensor<i32> -> tensor<4xi32>")
ShrOp = _binary("nn.shr", "ShrOp", "Arithmetic right shift of integers; the amount must be in [0, width). %z = nn.shr %x, %y : tensor<4xi32>, tensor<i32> -> tensor<4xi32>")
HypotOp = _binary("nn.hypot", "HypotOp", "sqrt(x^2 + y^2) without overflow. %z = nn.hypot %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>")

PREDICATES = ("eq", "ne", "lt", "le", "gt", "ge")


@irdl_op_definition
class CompareOp(BinaryOp):
    """Elementwise comparison with broadcasting; an i1 result.

    %z = nn.compare %x, %y {predicate = "lt"} : tensor<4xf32>, tensor<f32> -> tensor<4xi1>
    """

    name = "nn.compare"
    predicate = prop_def(StringAttr)

    def __init__(self, lhs: SSAValue, rhs: SSAValue, predicate: str):
        IRDLOperation.__init__(
            self, operands=[lhs, rhs], result_types=[_PLACEHOLDER], properties={"predicate": StringAttr(predicate)}
        )
        _built(self)

    def infer_type(self) -> TensorType:
        if self.predicate.data not in PREDICATES:
            raise VerifyException(f"expected a predicate in {', '.join(PREDICATES)}, got '{self.predicate.data}'")
        return tensor(shape_of(super().infer_type()), i1)


@irdl_op_definition
class WhereOp(NnOp):
    """`a` where `cond`, else `b`, with broadcasting.

    %z = nn.where %c, %a, %b : (tensor<4xi1>, tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
    """

    name = "nn.where"
    cond = operand_def(TensorType)
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$cond `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, cond: SSAValue, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[cond, lhs, rhs], result_types=[_PLACEHOLDER])
        _built(self)

    def infer_type(self) -> TensorType:
        if elem(self.cond) != i1:
            raise VerifyException(f"expected an i1 condition, got {elem(self.cond)}")
        if elem(self.lhs) != elem(self.rhs):
            raise VerifyException(f"expected operands of one element type, got {elem(self.lhs)} and {elem(self.rhs)}")
        shape = broadcast_shapes(broadcast_shapes(shape_of(self.cond), shape_of(self.lhs)), shape_of(self.rhs))
        return tensor(shape, elem(self.lhs))


@irdl_op_definition
class CastOp(NnOp):
    """Converts the element type as PyTorch's `.to(dtype)` does (floats to
    integers truncate toward zero; anything to i1 is `!= 0`).

    %y = nn.cast %x : tensor<4xi64> -> tensor<4xf32>
    """

    name = "nn.cast"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, element: Attribute):
        super().__init__(operands=[input], result_types=[tensor(shape_of(input), element)])

    def infer_type(self) -> TensorType:
        return tensor(shape_of(self.input), elem(self.result))


@irdl_op_definition
class ArangeOp(NnOp):
    """start + i * step for i in [0, n), computed in f64 and converted to the
    result type (integer results are exact).

    %y = nn.arange {start = 0.0 : f64, step = 1.0 : f64} : tensor<8xi64>
    """

    name = "nn.arange"
    result = result_def(TensorType)
    start = prop_def(FloatAttr[AnyFloat])
    step = prop_def(FloatAttr[AnyFloat])
    traits = traits_def(Pure())
    assembly_format = "attr-dict `:` type($result)"

    def __init__(self, start: float, step: float, typ: TensorType):
        super().__init__(
            result_types=[typ], properties={"start": FloatAttr(float(start), f64), "step": FloatAttr(float(step), f64)}
        )

    def infer_type(self) -> TensorType:
        if len(shape_of(self.result)) != 1:
            raise VerifyException(f"expected a 1-d result, got {list(shape_of(self.result))}")
        return self.result.type  # type: ignore[return-value]


@irdl_op_definition
class RandomOp(NnOp):
    """Random numbers of the result type: `uniform` in [0, 1), or `normal`
    (mean 0, standard deviation 1); each call of the program draws new ones.
    Not Pure: two equal ops are two draws.

    %y = nn.random {kind = "normal"} : tensor<4x8xf32>
    """

    name = "nn.random"
    result = result_def(TensorType)
    kind = prop_def(StringAttr)
    assembly_format = "attr-dict `:` type($result)"

    KINDS: ClassVar = ("uniform", "normal")

    def __init__(self, kind: str, typ: TensorType):
        super().__init__(result_types=[typ], properties={"kind": StringAttr(kind)})

    def infer_type(self) -> TensorType:
        if self.kind.data not in self.KINDS:
            raise VerifyException(f"expected kind uniform or normal, got '{self.kind.data}'")
        if not isinstance(elem(self.result), AnyFloat):
            raise VerifyException(f"expected a floating-point result, got {elem(self.result)}")
        return self.result.type  # type: ignore[return-value]


@irdl_op_definition
class CumsumOp(DimOp):
    """Running sum along `dim`.

    %y = nn.cumsum %x {dim = 1 : i64} : tensor<4x8xi64> -> tensor<4x8xi64>
    """

    name = "nn.cumsum"


@irdl_op_definition
class CumprodOp(DimOp):
    """Running product along `dim`.

    %y = nn.cumprod %x {dim = 0 : i64} : tensor<8xf32> -> tensor<8xf32>
    """

    name = "nn.cumprod"


@irdl_op_definition
class CummaxOp(DimOp):
    """Running maximum along `dim` (a NaN stays from where it appears).

    %y = nn.cummax %x {dim = 0 : i64} : tensor<8xf32> -> tensor<8xf32>
    """

    name = "nn.cummax"


@irdl_op_definition
class CumminOp(DimOp):
    """Running minimum along `dim` (a NaN stays from where it appears).

    %y = nn.cummin %x {dim = 0 : i64} : tensor<8xf32> -> tensor<8xf32>
    """

    name = "nn.cummin"


@irdl_op_definition
class LogcumsumexpOp(DimOp):
    """log(cumsum(exp(x))) along `dim`, as a running log-add-exp (no overflow).

    %y = nn.logcumsumexp %x {dim = 0 : i64} : tensor<8xf32> -> tensor<8xf32>
    """

    name = "nn.logcumsumexp"


@irdl_op_definition
class ProdOp(ReduceOp):
    """%p = nn.prod %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>"""

    name = "nn.prod"


@irdl_op_definition
class AminOp(ReduceOp):
    """%m = nn.amin %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>"""

    name = "nn.amin"


@irdl_op_definition
class ArgmaxOp(NnOp):
    """Index (i64) of the first largest (`max`) or smallest element along `dim`.

    %i = nn.argmax %x {dim = 1 : i64, keepdim = false, max = true} : tensor<4x8xf32> -> tensor<4xi64>
    """

    name = "nn.argmax"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr[IntegerType])
    keepdim = prop_def(BoolAttr, default_value=BoolAttr.from_bool(False))
    max = prop_def(BoolAttr, default_value=BoolAttr.from_bool(True))
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, dim: int, keepdim: bool, largest: bool = True):
        super().__init__(
            operands=[input],
            result_types=[_PLACEHOLDER],
            properties={
                "dim": IntegerAttr(dim, i64),
                "keepdim": BoolAttr.from_bool(keepdim),
                "max": BoolAttr.from_bool(largest),
            },
        )
        _built(self)

    def infer_type(self) -> TensorType:
        shape = shape_of(self.input)
        d = normalize_dim(self.dim.value.data, len(shape))
        keep = self.keepdim.value.data
        return tensor([1 if i == d else s for i, s in enumerate(shape) if keep or i != d], i64)


@irdl_op_definition
class GatherOp(NnOp):
    """torch.gather: out[..i_d..] = input[..index[..i_d..]..] along `dim`.
    Indices outside [0, size) raise at run time (as PyTorch does).

    %y = nn.gather %x, %i {dim = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
    """

    name = "nn.gather"
    input = operand_def(TensorType)
    index = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr[IntegerType])
    traits = traits_def(Pure())
    assembly_format = "$input `,` $index attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, index: SSAValue, dim: int):
        super().__init__(operands=[input, index], result_types=[_PLACEHOLDER], properties={"dim": IntegerAttr(dim, i64)})
        _built(self)

    def infer_type(self) -> TensorType:
        shape, idx = shape_of(self.input), shape_of(self.index)
        d = normalize_dim(self.dim.value.data, len(shape))
        if len(idx) != len(shape) or any(a > b for i, (a, b) in enumerate(zip(idx, shape)) if i != d):
            raise VerifyException(f"expected an index of rank {len(shape)} no larger than {list(shape)} outside dim {d}, got {list(idx)}")
        if not isinstance(elem(self.index), IntegerType):
            raise VerifyException(f"expected integer indices, got {elem(self.index)}")
        return tensor(idx, elem(self.input))


class IndexingOp(NnOp, abc.ABC):
    """Base of nn.index and nn.index_put: `indexed` lists the input dims that
    integer index tensors select (one tensor each, broadcast together). When
    those dims are adjacent, the broadcast index dims replace them in place
    in the indexed shape; otherwise they come first. (Each op declares its
    own operands: IRDL orders a subclass's fields before its base's.)"""

    def layout(self) -> tuple[Shape, int]:
        """The broadcast shape of the index tensors and where its dims go in the indexed shape."""
        dims = ints(self.indexed)
        shape: Shape = ()
        for i in self.indices:
            shape = broadcast_shapes(shape, shape_of(i))
        adjacent = list(dims) == list(range(dims[0], dims[0] + len(dims)))
        return shape, (dims[0] if adjacent else 0)

    def indexed_shape(self) -> Shape:
        """The shape of input[indices] (PyTorch's advanced indexing)."""
        shape, dims = shape_of(self.input), ints(self.indexed)
        if not dims or len(dims) != len(self.indices) or list(dims) != sorted(set(dims)) or dims[-1] >= len(shape) or dims[0] < 0:
            raise VerifyException(f"expected one index tensor per indexed dim (ascending, < {len(shape)}), got {list(dims)}")
        for i in self.indices:
            if not isinstance(elem(i), IntegerType):
                raise VerifyException(f"expected integer indices, got {elem(i)}")
        bshape, at = self.layout()
        rest = [s for d, s in enumerate(shape) if d not in dims]
        return (*rest[:at], *bshape, *rest[at:])


@irdl_op_definition
class IndexOp(IndexingOp):
    """Advanced indexing (aten.index.Tensor): input[indices] (IndexingOp).
    Negative indices count from the end; others outside the dim raise at run
    time. `wrap = false` (index_select, embedding) rejects negative indices too.

    %y = nn.index %x[%i] {indexed = array<i64: 1>} : (tensor<4x8xf32>, tensor<3xi64>) -> tensor<4x3xf32>
    """

    name = "nn.index"
    input = operand_def(TensorType)
    indices = var_operand_def(TensorType)
    result = result_def(TensorType)
    indexed = prop_def(DenseArrayBase.constr(i64))
    wrap = prop_def(BoolAttr, default_value=BoolAttr.from_bool(True))
    traits = traits_def(Pure())
    assembly_format = "$input `[` $indices `]` attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, indices: Sequence[SSAValue], indexed: Sequence[int], wrap: bool = True):
        super().__init__(
            operands=[input, list(indices)],
            result_types=[_PLACEHOLDER],
            properties={"indexed": i64_array(indexed), "wrap": BoolAttr.from_bool(wrap)},
        )
        _built(self)

    def infer_type(self) -> TensorType:
        return tensor(self.indexed_shape(), elem(self.input))


@irdl_op_definition
class IndexPutOp(IndexingOp):
    """aten.index_put: `input` with input[indices] = values (`values` broadcast
    to the indexed shape, IndexingOp); `accumulate` adds instead, in index
    order. Where indices repeat without `accumulate`, the last write wins.
    Negative indices count from the end; `wrap = false` (index_add,
    index_copy) rejects them too. Indices outside the dim raise IndexError
    at run time, RuntimeError with `accumulate` and no `wrap` (as PyTorch's
    index_add does on tensors of rank 2 and more).

    %y = nn.index_put %x[%i], %v {indexed = array<i64: 0>, accumulate = true} : (tensor<8x4xf32>, tensor<3xi64>, tensor<3x4xf32>) -> tensor<8x4xf32>
    """

    name = "nn.index_put"
    input = operand_def(TensorType)
    indices = var_operand_def(TensorType)
    values = operand_def(TensorType)
    result = result_def(TensorType)
    indexed = prop_def(DenseArrayBase.constr(i64))
    accumulate = prop_def(BoolAttr, default_value=BoolAttr.from_bool(False))
    wrap = prop_def(BoolAttr, default_value=BoolAttr.from_bool(True))
    traits = traits_def(Pure())
    assembly_format = "$input `[` $indices `]` `,` $values attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, indices: Sequence[SSAValue], indexed: Sequence[int], values: SSAValue,
                 accumulate: bool = False, wrap: bool = True):
        super().__init__(
            operands=[input, list(indices), values],
            result_types=[input.type],
            properties={"indexed": i64_array(indexed), "accumulate": BoolAttr.from_bool(accumulate),
                        "wrap": BoolAttr.from_bool(wrap)},
        )

    def error_kind(self) -> str:
        """The error an index outside its dim raises: 'bounds' (IndexError)
        or 'runtime' (RuntimeError, index_add's)."""
        return "runtime" if self.accumulate.value.data and not self.wrap.value.data else "bounds"

    def infer_type(self) -> TensorType:
        want, got = self.indexed_shape(), shape_of(self.values)
        try:
            fits = broadcast_shapes(got, want) == tuple(want)
        except VerifyException:
            fits = False
        if not fits or elem(self.values) != elem(self.input):
            raise VerifyException(f"expected values of the input's element type that broadcast to {list(want)}, "
                                  f"got {self.values.type}")
        return self.input.type  # type: ignore[return-value]


SCATTER_REDUCTIONS = ("none", "sum", "prod", "mean", "amax", "amin")
SCATTER_ERRORS = ("runtime", "in_self")


@irdl_op_definition
class ScatterOp(NnOp):
    """torch.scatter_reduce: `input` where, for every position p of `index`,
    the element at p with dim `dim` replaced by index[p] is combined with
    src[p] by `reduce`: "none" replaces it (where indices repeat, the last
    position along `dim` wins), "sum", "prod", "mean" (integers: floor),
    "amax", "amin" (NaN wins). With `include_self = false` the input's value
    takes no part in an element that some index names. Only the index's
    region is read: `index` is no larger than `src`, nor than `input`
    outside `dim`. Indices outside [0, size) raise at run time, as
    RuntimeError (`error = "runtime"`, scatter's) or IndexError "index out
    of range in self" (`error = "in_self"`, index_reduce's).

    %y = nn.scatter %x, %i, %s {dim = 1 : i64, reduce = "sum"} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
    """

    name = "nn.scatter"
    input = operand_def(TensorType)
    index = operand_def(TensorType)
    src = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr[IntegerType])
    reduce = prop_def(StringAttr, default_value=StringAttr("none"))
    include_self = prop_def(BoolAttr, default_value=BoolAttr.from_bool(True))
    error = prop_def(StringAttr, default_value=StringAttr("runtime"))
    traits = traits_def(Pure())
    assembly_format = "$input `,` $index `,` $src attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, index: SSAValue, src: SSAValue, dim: int, reduce: str = "none",
                 include_self: bool = True, error: str = "runtime"):
        super().__init__(
            operands=[input, index, src],
            result_types=[input.type],
            properties={"dim": IntegerAttr(dim, i64), "reduce": StringAttr(reduce),
                        "include_self": BoolAttr.from_bool(include_self), "error": StringAttr(error)},
        )

    def normalized_dim(self) -> int:
        return normalize_dim(self.dim.value.data, len(shape_of(self.input)))

    def infer_type(self) -> TensorType:
        shape, idx, src = shape_of(self.input), shape_of(self.index), shape_of(self.src)
        d = self.normalized_dim()
        if self.reduce.data not in SCATTER_REDUCTIONS:
            raise VerifyException(f"expected reduce in {', '.join(SCATTER_REDUCTIONS)}, got '{self.reduce.data}'")
        if self.error.data not in SCATTER_ERRORS:
            raise VerifyException(f"expected error in {', '.join(SCATTER_ERRORS)}, got '{self.error.data}'")
        if not isinstance(elem(self.index), IntegerType) or elem(self.index) == i1:
            raise VerifyException(f"expected integer indices, got {elem(self.index)}")
        if elem(self.src) != elem(self.input):
            raise VerifyException(f"expected src of the input's element type {elem(self.input)}, got {elem(self.src)}")
        if (len(idx) != len(shape) or len(src) != len(shape)
                or not all(known_le(a, b) for a, b in zip(idx, src))
                or not all(known_le(a, b) for k, (a, b) in enumerate(zip(idx, shape)) if k != d)):
            raise VerifyException(f"expected an index of rank {len(shape)} no larger than src {list(src)}, "
                                  f"nor than the input {list(shape)} outside dim {d}, got {list(idx)}")
        return self.input.type  # type: ignore[return-value]


@irdl_op_definition
class ArgsortOp(NnOp):
    """Indices (i64) that sort `input` along `dim`, ascending or `descending`.
    Stable: equal values keep their order. NaN sorts above every number (last
    ascending, first descending), as in torch.sort(stable=True).

    %i = nn.argsort %x {dim = 1 : i64, descending = true} : tensor<4x8xf32> -> tensor<4x8xi64>
    """

    name = "nn.argsort"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr[IntegerType])
    descending = prop_def(BoolAttr, default_value=BoolAttr.from_bool(False))
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, dim: int, descending: bool = False):
        super().__init__(
            operands=[input],
            result_types=[_PLACEHOLDER],
            properties={"dim": IntegerAttr(dim, i64), "descending": BoolAttr.from_bool(descending)},
        )
        _built(self)

    def normalized_dim(self) -> int:
        return normalize_dim(self.dim.value.data, len(shape_of(self.input)))

    def infer_type(self) -> TensorType:
        shape = shape_of(self.input)
        if not shape:
            raise VerifyException("expected a tensor of rank >= 1, got a 0-d tensor")
        self.normalized_dim()
        return tensor(shape, i64)


@irdl_op_definition
class PadOp(NnOp):
    """Constant padding: `low`/`high` elements (>= 0) before/after each dim.

    %y = nn.pad %x {low = array<i64: 0, 1>, high = array<i64: 0, 2>, value = 0.0 : f64} : tensor<4x8xf32> -> tensor<4x11xf32>
    """

    name = "nn.pad"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    low = prop_def(DenseArrayBase.constr(i64))
    high = prop_def(DenseArrayBase.constr(i64))
    value = prop_def(FloatAttr[AnyFloat])
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, low: Sequence[int], high: Sequence[int], value: float):
        super().__init__(
            operands=[input],
            result_types=[_PLACEHOLDER],
            properties={"low": i64_array(low), "high": i64_array(high), "value": FloatAttr(float(value), f64)},
        )
        _built(self)

    def infer_type(self) -> TensorType:
        shape, lo, hi = shape_of(self.input), ints(self.low), ints(self.high)
        if len(lo) != len(shape) or len(hi) != len(shape) or min((*lo, *hi), default=0) < 0:
            raise VerifyException(f"expected {len(shape)} non-negative low and high pads, got {list(lo)} and {list(hi)}")
        return tensor([s + a + b for s, a, b in zip(shape, lo, hi)], elem(self.input))


@irdl_op_definition
class SliceScatterOp(NnOp):
    """`input` with `src` written over the slice start:end:step of `dim`.

    %y = nn.slice_scatter %x, %s {dim = 1 : i64, start = 0 : i64, end = 4 : i64, step = 2 : i64}
           : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<4x8xf32>
    """

    name = "nn.slice_scatter"
    input = operand_def(TensorType)
    src = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr[IntegerType])
    start = prop_def(IntegerAttr[IntegerType])
    end = prop_def(IntegerAttr[IntegerType])
    step = prop_def(IntegerAttr[IntegerType])
    traits = traits_def(Pure())
    assembly_format = "$input `,` $src attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, src: SSAValue, dim: int, start: int, end: int, step: int = 1):
        super().__init__(
            operands=[input, src],
            result_types=[input.type],
            properties={k: IntegerAttr(v, i64) for k, v in (("dim", dim), ("start", start), ("end", end), ("step", step))},
        )

    def infer_type(self) -> TensorType:
        shape = shape_of(self.input)
        d = normalize_dim(self.dim.value.data, len(shape))
        start, end, step = (a.value.data for a in (self.start, self.end, self.step))
        n = (end - start + step - 1) // step if step >= 1 and 0 <= start <= end <= shape[d] else -1
        want = (*shape[:d], n, *shape[d + 1 :])
        if shape_of(self.src) != want or elem(self.src) != elem(self.input):
            raise VerifyException(f"expected a source of shape {list(want)} and the input's element type, got {self.src.type}")
        return self.input.type  # type: ignore[return-value]


Nn = Dialect(
    "nn",
    [
        WeightOp,
        NegOp,
        ReluOp,
        GeluOp,
        SiluOp,
        SigmoidOp,
        TanhOp,
        ExpOp,
        ErfOp,
        LogOp,
        SqrtOp,
        RsqrtOp,
        AddOp,
        SubOp,
        MulOp,
        DivOp,
        MaximumOp,
        SumOp,
        MeanOp,
        AmaxOp,
        SoftmaxOp,
        LogSoftmaxOp,
        LayerNormOp,
        BatchNormOp,
        LinearOp,
        MatmulOp,
        SdpaOp,
        Conv2dOp,
        MaxPool2dOp,
        AvgPool2dOp,
        PermuteOp,
        ReshapeOp,
        ExpandOp,
        ConcatOp,
        SliceOp,
        EmbeddingOp,
        AbsOp, SinOp, CosOp, TanOp, AtanOp, FloorOp, CeilOp, RoundOp, TruncOp, SignOp, Log1pOp, Expm1Op, Log2Op, NotOp,
        AsinOp, AcosOp, SinhOp, CoshOp, AsinhOp, AcoshOp, AtanhOp, Log10Op, ErfcOp, Exp2Op, SpecialOp,
        MinimumOp, PowOp, FmodOp, RemainderOp, FloorDivOp, TruncDivOp, Atan2Op, AndOp, OrOp, XorOp, ShlOp, ShrOp,
        CopysignOp, FmaxOp, FminOp, HypotOp,
        CompareOp, WhereOp, CastOp, ArangeOp, RandomOp, CumsumOp, CumprodOp, CummaxOp, CumminOp, LogcumsumexpOp, ProdOp, AminOp, ArgmaxOp, GatherOp, IndexOp, PadOp,
        SliceScatterOp, IndexPutOp, ScatterOp, ArgsortOp,
    ],
    [],
)
