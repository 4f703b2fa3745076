"""
The `quant` dialect: weights stored in a quantised number format.

A quantised tensor is a float32 tensor of a known logical shape whose data is
kept as small codes plus per-block scales (and zero points): the number
format says how. Formats are data, not code: `#quant.format<"nf4:g64">` holds
a spec string of `quant_formats.parse_format`, the exact numpy reference that
every kernel must reproduce bit for bit, and everything the compiler needs to
know about a format (bits, granularity, storage) is read from it.

    %w = quant.weight @fc1.weight : !quant.tensor<4096x4096, #quant.format<"nf4:g64">>
    %y = quant.linear %x, %w : (tensor<8x4096xf32>,
           !quant.tensor<4096x4096, #quant.format<"nf4:g64">>) -> tensor<8x4096xf32>

Storage (`QuantTensorType.storage()`, the buffers the ABI passes): a tensor
of shape [out, in, ...] is a matrix [rows, cols] = [out, in * ...] (1-D:
[1, n]); then

| role   | shape                      | element | present                    |
| ------ | -------------------------- | ------- | -------------------------- |
| codes  | [rows, ceil(cols / 2)]     | i8      | formats of <= 4 bits: two codes per byte, element 2i in the low nibble |
| codes  | [rows, cols]               | i8      | formats of 5..8 bits       |
| scales | [rows, ceil(cols / g)]     | f32     | `gN`                       |
| scales | [rows, 1] / [1, 1]         | f32     | `channel` / `tensor`; none for `none` |
| scales | [rows, ceil(cols / 32)]    | i8      | mxfp4: E8M0 codes          |
| zeros  | the scales' shape          | f32     | `asym` integers            |

i8 buffers hold unsigned bytes (codes, E8M0 exponents); MLIR's signless i8
is just the container. Two layout rules are deliberate and are the oracle's:

- A group size need not divide `cols`: the last group of a row is short (the
  oracle pads it with zeros, which changes no scale), so blocks = ceil(cols/g).
  Every group format, mxfp4 included, accepts any `in`.
- A 4-bit row of odd length ends in a byte whose high nibble is 0, so odd
  `in` is accepted too; nothing about a quantised weight needs padding in IR.

Sparsity composes with quantisation through the type's third, optional
parameter: `!quant.tensor<NxK, #quant.format<...>, #sparse.xxx<...>>`. The
sparse encoding decides *which* weights are stored (its index buffers, and
the logical shape of the stored values, e.g. [N, K/2] for 2:4); the format
decides *how* those values are stored (it quantises the values array). Any
attribute implementing `SparsityEncoding` fits the slot; without one the
tensor is dense. Ops read it as the same logical f32 tensor either way. The
encoding must have a static storage for the shape (N:M, V:N:M; not CSR:
a verify error). `dialects/sparse_quant.py` is the numpy reference of such
tensors (prune, store, quantise the values array: quant groups run over the
kept values of a row).

Checks: a bad spec or quant.tensor parameter in text is a parse error at its
place, with parse_format's ValueError message verbatim; built from Python it
is a VerifyException with the same message. A quant.tensor has any rank >= 1
and static dims >= 1 (as the oracle); quant.linear wants rank 2. Upstream
MLIR has its own `quant` dialect: like `nn`, ours is lowered away before IR
reaches MLIR.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import ClassVar, NamedTuple, Protocol, runtime_checkable

from sparcc.dialects import nn
from sparcc.dialects.quant_formats import QuantFormat, parse_format
from sparcc.dialects.spec_attr import SpecAttr
from xdsl.dialects.builtin import (
    ArrayAttr,
    IntAttr,
    NoneAttr,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    f32,
    i8,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

Shape = tuple[int, ...]


class Buffer(NamedTuple):
    """One storage buffer of a quantised tensor: ("codes", [4096, 2048], i8)."""

    role: str
    shape: list[int]
    element_type: Attribute


@cache
def _format(spec: str) -> QuantFormat:
    return parse_format(spec)


def canonical_spec(spec: str) -> str:
    """The canonical form of a spec ("NF4" -> "nf4:g64"); ValueError if it is bad."""
    return _format(spec).spec


def matrix_shape(shape: Sequence[int]) -> tuple[int, int]:
    """[out, in, ...] -> (out, in * ...); 1-D [n] -> (1, n): how a format sees a tensor."""
    rows = shape[0] if len(shape) >= 2 else 1
    return rows, math.prod(shape) // rows


# ----------------------------------------------------------------------------
# the number format
# ----------------------------------------------------------------------------


@irdl_attr_definition(init=False)
class FormatAttr(SpecAttr):
    """A number format, by its canonical spec string (see quant_formats.parse_format).

    #quant.format<"nf4:g64">   #quant.format<"int4:g128:asym">   #quant.format<"mxfp4">
    """

    name = "quant.format"
    spec: StringAttr

    CANONICAL: ClassVar[Callable[[str], str]] = staticmethod(canonical_spec)
    SAMPLE: ClassVar[str] = 'a quant spec such as "nf4:g64"'

    # --- what the compiler asks of a format -------------------------------------

    @property
    def format(self) -> QuantFormat:
        """The numpy reference format (quantize/dequantize oracle)."""
        return _format(self.spec.data)

    @property
    def bits(self) -> int:
        return self.format.bits

    @property
    def granularity(self) -> str:
        """"group", "channel" (one scale per row), "tensor" (one scale) or "none" (no scale)."""
        return self.format.granularity

    @property
    def group_size(self) -> int | None:
        """Weights per scale along a row for `gN` formats, else None."""
        return self.format.group if self.granularity == "group" else None

    @property
    def packed(self) -> bool:
        """Whether codes are packed two per byte (formats of at most 4 bits)."""
        return self.bits <= 4

    @property
    def has_zero_points(self) -> bool:
        return self.format.asym

    @property
    def scale_type(self) -> Attribute | None:
        """f32, i8 for E8M0 exponents (mxfp4), or None for granularity `none`."""
        if self.granularity == "none":
            return None
        return i8 if self.format.name == "mxfp4" else f32

    def blocks(self, shape: Sequence[int]) -> tuple[int, int]:
        """Shape [rows', blocks] of the scales (and zero points) of a tensor of `shape`."""
        rows, cols = matrix_shape(shape)
        if self.granularity == "group":
            return rows, -(-cols // self.format.group)
        return (rows, 1) if self.granularity == "channel" else (1, 1)

    def storage(self, shape: Sequence[int]) -> list[Buffer]:
        """The buffers of a dense tensor of `shape` in this format (module docstring)."""
        rows, cols = matrix_shape(shape)
        out = [Buffer("codes", [rows, (cols + 1) // 2 if self.packed else cols], i8)]
        if self.scale_type is not None:
            out.append(Buffer("scales", list(self.blocks(shape)), self.scale_type))
        if self.has_zero_points:
            out.append(Buffer("zeros", list(self.blocks(shape)), f32))
        return out


# ----------------------------------------------------------------------------
# the quantised tensor type
# ----------------------------------------------------------------------------


@runtime_checkable
class SparsityEncoding(Protocol):
    """What an attribute in the sparsity slot of `!quant.tensor` provides.

    The sparse dialect's encodings implement it; quant only composes them.
    """

    def sparse_storage(self, shape: Sequence[int]) -> tuple[list[Buffer], list[int]]:
        """(index buffers, logical shape of the stored values) of a tensor of `shape`."""
        ...


def _type_error(shape: Sequence[int], sparsity: Attribute) -> str | None:
    if not shape:
        return "expected a shape of rank >= 1"
    if any(d < 1 for d in shape):
        dims = "x".join("?" if d < 0 else str(d) for d in shape)
        return f"expected static dims >= 1, got {dims}"
    if not isinstance(sparsity, NoneAttr | SparsityEncoding):
        return f"expected a sparsity encoding in the third parameter, got {sparsity}"
    if isinstance(sparsity, SparsityEncoding):
        try:  # a layout that depends on the data, or a shape the encoding does not take
            sparsity.sparse_storage(shape)
        except ValueError as e:
            return f"sparsity {sparsity} cannot hold quantised values: {e}"
    return None


@irdl_attr_definition(init=False)
class QuantTensorType(ParametrizedAttribute, TypeAttribute):
    """A float32 tensor of `shape` stored in `format` (optionally also sparse).

    !quant.tensor<4096x4096, #quant.format<"nf4:g64">>
    """

    name = "quant.tensor"
    shape: ArrayAttr[IntAttr]
    format: FormatAttr
    sparsity: Attribute  # NoneAttr: dense; else a SparsityEncoding

    def __init__(
        self,
        shape: Sequence[int],
        format: FormatAttr | str,
        sparsity: Attribute | None = None,
    ):
        fmt = format if isinstance(format, FormatAttr) else FormatAttr(format)
        dims = ArrayAttr([IntAttr(d) for d in shape])
        super().__init__(dims, fmt, NoneAttr() if sparsity is None else sparsity)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            shape = parser.parse_dimension_list()
            end = parser.pos
            parser.parse_punctuation(",", " after the shape of a quant.tensor")
            at = parser.pos
            fmt = parser.parse_attribute()
            if not isinstance(fmt, FormatAttr):
                parser.raise_error(f"expected a #quant.format<...>, got {fmt}", at, parser.pos)
            sparsity: Attribute = NoneAttr()
            at = parser.pos
            if parser.parse_optional_punctuation(",") is not None:
                at = parser.pos
                sparsity = parser.parse_attribute()
            if (message := _type_error(shape, sparsity)) is not None:
                if sparsity != NoneAttr():
                    start, end = at, parser.pos
                parser.raise_error(message, start, end)
        return (ArrayAttr([IntAttr(d) for d in shape]), fmt, sparsity)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_dimension_list(self.get_shape())
            printer.print_string(", ")
            printer.print_attribute(self.format)
            if self.sparsity != NoneAttr():
                printer.print_string(", ")
                printer.print_attribute(self.sparsity)

    def verify(self) -> None:
        if (message := _type_error(self.get_shape(), self.sparsity)) is not None:
            raise VerifyException(message)

    def get_shape(self) -> Shape:
        return tuple(d.data for d in self.shape.data)

    @property
    def is_sparse(self) -> bool:
        return self.sparsity != NoneAttr()

    def dequantized_type(self) -> TensorType:
        """The logical tensor: tensor<shape x f32>."""
        return TensorType(f32, self.get_shape())

    def storage(self, shape: Sequence[int] | None = None) -> list[Buffer]:
        """The buffers that hold this tensor (of its own shape unless `shape` is given).

        Dense: the format's codes/scales/zeros. Sparse: the encoding's index
        buffers, then the format's buffers for the stored values.
        """
        shape = self.get_shape() if shape is None else tuple(shape)
        if not self.is_sparse:
            return self.format.storage(shape)
        assert isinstance(self.sparsity, SparsityEncoding)
        indices, values_shape = self.sparsity.sparse_storage(shape)
        return [*indices, *self.format.storage(values_shape)]


# ----------------------------------------------------------------------------
# ops
# ----------------------------------------------------------------------------


def _shape(value: SSAValue) -> Shape:
    typ = value.type
    assert isinstance(typ, TensorType | QuantTensorType)
    return tuple(typ.get_shape())


def _expect_f32(value: SSAValue, what: str) -> Shape:
    typ = value.type
    assert isinstance(typ, TensorType)
    if typ.element_type != f32:
        raise VerifyException(f"expected an f32 {what}, got {typ}")
    return nn.shape_of(typ)


class QuantOp(IRDLOperation, abc.ABC):
    """Base: one result whose type follows from the operands (as nn.NnOp)."""

    irdl_options = (ParsePropInAttrDict(),)

    @abc.abstractmethod
    def infer_type(self) -> Attribute: ...

    def verify_(self) -> None:
        expected = self.infer_type()
        got = self.results[0].type
        if got != expected:
            raise VerifyException(f"expected result type {expected}, got {got}")

    def _built(self) -> None:
        """Gives a freshly built op (no uses, in no block) its inferred type."""
        self.results[0]._type = self.infer_type()


_PLACEHOLDER = TensorType(f32, [])


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A quantised model weight, by name; codes and scales live in the weight store.

    %w = quant.weight @"fc1.weight" : !quant.tensor<16x8, #quant.format<"int8:channel">>
    """

    name = "quant.weight"
    sym_name = prop_def(SymbolRefAttr)
    result = result_def(QuantTensorType)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())
    assembly_format = "$sym_name attr-dict `:` type($result)"

    def __init__(self, name: str, typ: QuantTensorType):
        super().__init__(properties={"sym_name": SymbolRefAttr(name)}, result_types=[typ])

    @property
    def weight_name(self) -> str:
        return self.sym_name.string_value()


@irdl_op_definition
class DequantizeOp(QuantOp):
    """The float32 values of a quantised tensor.

    %y = quant.dequantize %q : !quant.tensor<16x8, #quant.format<"nf4:g64">> -> tensor<16x8xf32>
    """

    name = "quant.dequantize"
    input = operand_def(QuantTensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[_PLACEHOLDER])
        self._built()

    def infer_type(self) -> TensorType:
        typ = self.input.type
        assert isinstance(typ, QuantTensorType)
        return typ.dequantized_type()


@irdl_op_definition
class QuantizeOp(QuantOp):
    """Quantises float32 values into the result's (dense) format.

    %q = quant.quantize %w : tensor<16x8xf32> -> !quant.tensor<16x8, #quant.format<"int8:channel">>
    """

    name = "quant.quantize"
    input = operand_def(TensorType)
    result = result_def(QuantTensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, format: FormatAttr | str):
        fmt = format if isinstance(format, FormatAttr) else FormatAttr(format)
        super().__init__(
            operands=[input], result_types=[QuantTensorType(_shape(input), fmt)]
        )

    def infer_type(self) -> QuantTensorType:
        shape = _expect_f32(self.input, "input")
        result = self.result.type
        assert isinstance(result, QuantTensorType)
        if result.is_sparse:
            raise VerifyException("expected a dense result; sparsify the quantised tensor separately")
        return QuantTensorType(shape, result.format)


@irdl_op_definition
class LinearOp(QuantOp):
    """y = x @ dequantize(weight)^T + bias over the last dim of x (torch Linear).

    %y = quant.linear %x, %w, %b : (tensor<4x8xf32>,
           !quant.tensor<16x8, #quant.format<"int4:g128">>, tensor<16xf32>) -> tensor<4x16xf32>
    """

    name = "quant.linear"
    input = operand_def(TensorType)
    weight = operand_def(QuantTensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None):
        super().__init__(
            operands=[input, weight, [bias] if bias else []], result_types=[_PLACEHOLDER]
        )
        self._built()

    def infer_type(self) -> TensorType:
        x, w = _expect_f32(self.input, "input"), _shape(self.weight)
        if len(w) != 2:
            raise VerifyException(f"expected a rank-2 quantised weight [out, in], got {list(w)}")
        if not x:
            raise VerifyException(f"expected an input of rank >= 1, got {self.input.type}")
        if x[-1] != w[1]:
            raise VerifyException(f"expected weight of shape [out, {x[-1]}], got {list(w)}")
        if self.bias is not None and _expect_f32(self.bias, "bias") != (w[0],):
            raise VerifyException(
                f"expected bias of shape [{w[0]}], got {list(_shape(self.bias))}"
            )
        return nn.tensor((*x[:-1], w[0]), f32)


Quant = Dialect(
    "quant",
    [
        WeightOp,
        DequantizeOp,
        QuantizeOp,
        LinearOp,
    ],
    [
        FormatAttr,
        QuantTensorType,
    ],
)
