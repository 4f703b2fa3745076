"""
The `sparse` dialect: weights stored in a sparse format.

A sparse tensor is a matrix of a known logical shape and element type whose
nonzeros are kept in a storage format (CSR, BSR, 2:4, ...). Formats are data,
not code: `#sparse.format<"bsr:4x4">` holds a spec string of
`sparse_formats.parse_format`, whose numpy `encode`/`decode` are the exact
reference every kernel must reproduce; the format is a list of storage levels
(dense, compressed, singleton, nm(n,m)) over split dimensions, plus bit widths
and padding, and the presets are built from those primitives.

    %w = sparse.weight @fc1.weight : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
    %n = sparse.nnz %w : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
    %c = sparse.convert %w : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
           -> !sparse.tensor<64x128xf32, #sparse.format<"bsr:4x4">>
    %p = sparse.prune %d {spec = "2:4"} : tensor<64x128xf32>
           -> !sparse.tensor<64x128xf32, #sparse.format<"2:4">>

`#sparse.format` is also a `quant.SparsityEncoding`: in the third slot of
`!quant.tensor<64x128, #quant.format<"int4:g32">, #sparse.format<"2:4">>` it
decides which weights are stored (its index buffers, e.g. `crd2: [64, 64] i8`
for 2:4) and the stored values [64, 64] are quantised by the quant format.
Only formats whose layout does not depend on the data (dense and nm levels:
N:M, V:N:M) have a static storage to report; the others raise ValueError
from `sparse_storage`.

Checks: a bad spec is a parse error at its place, with parse_format's
ValueError message verbatim (built from Python: a VerifyException with the
same message). A sparse.tensor is a static float matrix (rank 2, dims >= 1)
whose dims its format accepts (pad=none wants multiples of the block or group
size). Upstream MLIR has its own sparse_tensor dialect; ours is lowered away
before IR reaches MLIR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import ClassVar

from sparcc.dialects.quant import Buffer, matrix_shape
from sparcc.dialects.sparse_formats import SparseFormat, parse_format, parse_prune
from sparcc.dialects.spec_attr import SpecAttr
from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    IndexType,
    IntAttr,
    IntegerType,
    StringAttr,
    SymbolRefAttr,
    TensorType,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

Shape = tuple[int, ...]


@cache
def _format(spec: str) -> SparseFormat:
    return parse_format(spec)


def canonical_spec(spec: str) -> str:
    """The canonical form of a spec ("levels=(dense,compressed)" -> "csr"); ValueError if bad."""
    return _format(spec).spec


# ----------------------------------------------------------------------------
# the sparse format
# ----------------------------------------------------------------------------


@irdl_attr_definition(init=False)
class FormatAttr(SpecAttr):
    """A sparse format, by its canonical spec string (see sparse_formats.parse_format).

    #sparse.format<"csr">   #sparse.format<"bsr:4x4">   #sparse.format<"2:4">
    """

    name = "sparse.format"
    spec: StringAttr

    CANONICAL: ClassVar[Callable[[str], str]] = staticmethod(canonical_spec)
    SAMPLE: ClassVar[str] = 'a sparse spec such as "csr"'

    @property
    def format(self) -> SparseFormat:
        """The numpy reference format (encode/decode oracle)."""
        return _format(self.spec.data)

    def shape_error(self, shape: Sequence[int]) -> str | None:
        """Why a matrix of `shape` does not fit this format, or None."""
        try:
            self.format.padded_shape(shape)
        except ValueError as e:
            return str(e)
        return None

    def sparse_storage(self, shape: Sequence[int]) -> tuple[list[Buffer], list[int]]:
        """(index buffers, logical shape of the stored values) of a tensor of `shape`
        (quant.SparsityEncoding; [out, in, ...] is seen as [out, in * ...]).

        ValueError if the layout depends on the data (CSR, BSR, COO, ELL, ...)."""
        indices, values = self.format.static_storage(matrix_shape(shape))
        return [
            Buffer(role, dims, IntegerType(bits)) for role, dims, bits in indices
        ], values


# ----------------------------------------------------------------------------
# the sparse tensor type
# ----------------------------------------------------------------------------


def _type_error(shape: Sequence[int], element: Attribute, fmt: Attribute) -> str | None:
    if len(shape) != 2:
        return f"expected a matrix (rank 2), got rank {len(shape)}"
    if any(d < 1 for d in shape):
        dims = "x".join("?" if d < 0 else str(d) for d in shape)
        return f"expected static dims >= 1, got {dims}"
    if not isinstance(element, AnyFloat):
        return f"expected a float element type, got {element}"
    if not isinstance(fmt, FormatAttr):
        return f"expected a #sparse.format<...>, got {fmt}"
    return fmt.shape_error(shape)


@irdl_attr_definition(init=False)
class SparseTensorType(ParametrizedAttribute, TypeAttribute):
    """A matrix of `shape` and `element_type` stored in `format`.

    !sparse.tensor<64x128xf32, #sparse.format<"csr">>
    """

    name = "sparse.tensor"
    shape: ArrayAttr[IntAttr]
    element_type: Attribute
    format: FormatAttr

    def __init__(
        self, shape: Sequence[int], element_type: Attribute, format: FormatAttr | str
    ):
        fmt = format if isinstance(format, FormatAttr) else FormatAttr(format)
        super().__init__(ArrayAttr([IntAttr(d) for d in shape]), element_type, fmt)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            shape, element = parser.parse_ranked_shape()
            end = parser.pos
            parser.parse_punctuation(",", " after the shape of a sparse.tensor")
            at = parser.pos
            fmt = parser.parse_attribute()
            if not isinstance(fmt, FormatAttr):
                start, end = at, parser.pos
            if (message := _type_error(shape, element, fmt)) is not None:
                parser.raise_error(message, start, end)
        return (ArrayAttr([IntAttr(d) for d in shape]), element, fmt)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_dimension_list(self.get_shape())
            printer.print_string("x")
            printer.print_attribute(self.element_type)
            printer.print_string(", ")
            printer.print_attribute(self.format)

    def verify(self) -> None:
        if (
            message := _type_error(self.get_shape(), self.element_type, self.format)
        ) is not None:
            raise VerifyException(message)

    def get_shape(self) -> Shape:
        return tuple(d.data for d in self.shape.data)

    def dense_type(self) -> TensorType:
        """The logical tensor: tensor<shape x element>."""
        return TensorType(self.element_type, self.get_shape())


# ----------------------------------------------------------------------------
# ops
# ----------------------------------------------------------------------------


def _shape_and_element(value: SSAValue) -> tuple[Shape, Attribute]:
    typ = value.type
    assert isinstance(typ, TensorType | SparseTensorType)
    return tuple(typ.get_shape()), typ.element_type


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A sparse model weight, by name; its buffers live in the weight store.

    %w = sparse.weight @"fc1.weight" : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
    """

    name = "sparse.weight"
    sym_name = prop_def(SymbolRefAttr)
    result = result_def(SparseTensorType)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())
    assembly_format = "$sym_name attr-dict `:` type($result)"

    def __init__(self, name: str, typ: SparseTensorType):
        super().__init__(
            properties={"sym_name": SymbolRefAttr(name)}, result_types=[typ]
        )

    @property
    def weight_name(self) -> str:
        return self.sym_name.string_value()


@irdl_op_definition
class ConvertOp(IRDLOperation):
    """The same matrix in another format (dense tensors count as a format).

    %c = sparse.convert %w : !sparse.tensor<8x8xf32, #sparse.format<"csr">>
           -> !sparse.tensor<8x8xf32, #sparse.format<"bsr:4x4">>

    Into an N:M format the values must already have the pattern (checked
    when the data is known: encode's ValueError); prune otherwise.
    """

    name = "sparse.convert"
    input = operand_def(SparseTensorType | TensorType)
    result = result_def(SparseTensorType | TensorType)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, result_type: Attribute):
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        src, dst = self.input.type, self.result.type
        if not isinstance(src, SparseTensorType) and not isinstance(
            dst, SparseTensorType
        ):
            raise VerifyException(
                f"expected a sparse operand or result, got {src} -> {dst}"
            )
        if _shape_and_element(self.input) != _shape_and_element(self.result):
            raise VerifyException(
                f"expected the same shape and element type, got {src} -> {dst}"
            )


@irdl_op_definition
class NnzOp(IRDLOperation):
    """The number of nonzero values of a sparse tensor.

    %n = sparse.nnz %w : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
    """

    name = "sparse.nnz"
    input = operand_def(SparseTensorType)
    result = result_def(IndexType())
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[IndexType()])


@irdl_op_definition
class PruneOp(IRDLOperation):
    """Zeroes the smallest-magnitude weights per `spec` (sparse_formats.prune) and
    stores the rest in the result's format.

    %p = sparse.prune %w {spec = "2:4"} : tensor<64x128xf32>
           -> !sparse.tensor<64x128xf32, #sparse.format<"2:4">>
    """

    name = "sparse.prune"
    input = operand_def(TensorType)
    spec = prop_def(StringAttr)
    result = result_def(SparseTensorType)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, spec: str, format: FormatAttr | str):
        shape, element = _shape_and_element(input)
        super().__init__(
            operands=[input],
            properties={"spec": StringAttr(spec)},
            result_types=[SparseTensorType(shape, element, format)],
        )

    def verify_(self) -> None:
        try:
            kind, args = parse_prune(self.spec.data)
        except ValueError as e:
            raise VerifyException(str(e)) from None
        result = self.result.type
        assert isinstance(result, SparseTensorType)
        if _shape_and_element(self.input) != _shape_and_element(self.result):
            raise VerifyException(
                f"expected a result of shape and element type {self.input.type}, got {result}"
            )
        # a structured result format holds only what an as-structured prune leaves
        fmt = result.format.format
        nms = [lv for lv in fmt.levels if lv.kind == "nm"]
        if nms:
            n, m = nms[0].n, nms[0].m
            v = fmt.levels[0].div if fmt.levels[0].dim == 0 else 1
            fits = (kind == "nm" and args[1] == m and args[0] <= n and v == 1) or (
                kind == "vnm" and args[2] == m and args[1] <= n and v % args[0] == 0
            )
            if not fits:
                raise VerifyException(
                    f'prune spec "{self.spec.data}" does not give the pattern of format '
                    f'"{result.format.spec.data}"; expected "{_pattern(v, n, m)}"'
                )


def _pattern(v: int, n: int, m: int) -> str:
    return f"{n}:{m}" if v == 1 else f"vnm:{v}:{n}:{m}"


Sparse = Dialect(
    "sparse",
    [
        WeightOp,
        ConvertOp,
        NnzOp,
        PruneOp,
    ],
    [
        FormatAttr,
        SparseTensorType,
    ],
)
