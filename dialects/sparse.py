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

from sparcc.dialects import nn
from sparcc.dialects.quant import Buffer, matrix_shape
from sparcc.dialects.sparse_formats import SparseFormat, parse_format, parse_prune
from sparcc.dialects.spec_attr import SpecAttr
from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    DenseArrayBase,
    IndexType,
    IntAttr,
    IntegerType,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
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
    """The shape (symbolic where a dense tensor's dims are dynamic) and element type."""
    typ = value.type
    assert isinstance(typ, TensorType | SparseTensorType)
    if isinstance(typ, TensorType):
        return nn.shape_of(typ), typ.element_type
    return tuple(typ.get_shape()), typ.element_type


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A sparse model weight, by name; its buffers live in the weight store.

    %w = sparse.weight @"fc1.weight" : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
    %w = sparse.weight @"fc1.weight" {entries = array<i64: 64, 819>} : !sparse.tensor<...>

    `entries` (optional) gives the number of stored entries of each level, so
    that the buffers' sizes are known (lowering needs them): positions of
    level l have entries[l-1] + 1 values, coordinates entries[l], values
    entries[-1]. The compiler sets it when it encodes the weight; it must
    agree with the format for the levels whose size does not depend on data.
    """

    name = "sparse.weight"
    sym_name = prop_def(SymbolRefAttr)
    entries = opt_prop_def(DenseArrayBase.constr(i64))
    result = result_def(SparseTensorType)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())
    assembly_format = "$sym_name attr-dict `:` type($result)"

    def __init__(self, name: str, typ: SparseTensorType, entries: Sequence[int] | None = None):
        super().__init__(
            properties={
                "sym_name": SymbolRefAttr(name),
                "entries": None if entries is None else DenseArrayBase.from_list(i64, list(entries)),
            },
            result_types=[typ],
        )

    @property
    def weight_name(self) -> str:
        return self.sym_name.string_value()

    @property
    def level_entries(self) -> list[int] | None:
        return None if self.entries is None else [int(v) for v in self.entries.get_values()]

    def verify_(self) -> None:
        counts = self.level_entries
        if counts is None:
            return
        typ = self.result.type
        assert isinstance(typ, SparseTensorType)
        fmt = typ.format.format
        if len(counts) != len(fmt.levels):
            raise VerifyException(
                f"expected {len(fmt.levels)} level entry counts for format "
                f'"{typ.format.spec.data}", got {len(counts)}'
            )
        if any(c < 0 for c in counts):
            raise VerifyException(f"expected entry counts >= 0, got {counts}")
        static = fmt.static_entries(typ.get_shape())
        if static is not None and list(static) != counts:
            raise VerifyException(
                f'format "{typ.format.spec.data}" stores {list(static)} entries per level '
                f"for shape {list(typ.get_shape())}, got {counts}"
            )


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


def _f32_shape(value: SSAValue, what: str) -> Shape:
    typ = value.type
    if not isinstance(typ, TensorType) or typ.element_type != f32:
        raise VerifyException(f"expected {what} to be a float32 tensor, got {typ}")
    return nn.shape_of(typ)


def _sparse_f32(value: SSAValue, what: str) -> Shape:
    typ = value.type
    if not isinstance(typ, SparseTensorType) or typ.element_type != f32:
        raise VerifyException(f"expected {what} to be a float32 !sparse.tensor, got {typ}")
    return typ.get_shape()


@irdl_op_definition
class MatmulOp(IRDLOperation):
    """C = A @ B (+ acc) for a sparse A [M, K] and a dense B [K, N] (SpMM; SpMV
    when N = 1). With `acc`, the product is added to it (sums of parts, TASD).

    %c = sparse.matmul %a, %b : (!sparse.tensor<64x32xf32, #sparse.format<"csr">>,
           tensor<32x8xf32>) -> tensor<64x8xf32>
    """

    name = "sparse.matmul"
    lhs = operand_def(SparseTensorType)
    rhs = operand_def(TensorType)
    acc = opt_operand_def(TensorType)
    result = result_def(TensorType)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs (`acc` $acc^)? attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue, acc: SSAValue | None = None):
        (m, _), (_, n) = _shape_and_element(lhs)[0], _shape_and_element(rhs)[0]
        super().__init__(operands=[lhs, rhs, [acc] if acc else []], result_types=[nn.tensor([m, n], f32)])

    def verify_(self) -> None:
        a, b = _sparse_f32(self.lhs, "the lhs"), _f32_shape(self.rhs, "the rhs")
        if len(b) != 2 or b[0] != a[1]:
            raise VerifyException(f"expected a rhs of shape [{a[1]}, N], got {list(b)}")
        want = nn.tensor([a[0], b[1]], f32)
        if self.result.type != want:
            raise VerifyException(f"expected result type {want}, got {self.result.type}")
        if self.acc is not None and self.acc.type != want:
            raise VerifyException(f"expected acc of type {want}, got {self.acc.type}")


@irdl_op_definition
class LinearOp(IRDLOperation):
    """y = x @ W^T (+ bias) (+ acc) over the last dim of x, for a sparse weight
    W [out, in] (torch Linear). With `acc` the product is added to it.

    %y = sparse.linear %x, %w, %b : tensor<4x128xf32>,
           !sparse.tensor<64x128xf32, #sparse.format<"2:4">>, tensor<64xf32> -> tensor<4x64xf32>
    %z = sparse.linear %x, %w2 acc %y : tensor<4x128xf32>, !sparse.tensor<...> acc tensor<4x64xf32>
           -> tensor<4x64xf32>
    """

    name = "sparse.linear"
    input = operand_def(TensorType)
    weight = operand_def(SparseTensorType)
    bias = opt_operand_def(TensorType)
    acc = opt_operand_def(TensorType)
    result = result_def(TensorType)
    irdl_options = (ParsePropInAttrDict(), AttrSizedOperandSegments(as_property=True))
    traits = traits_def(Pure())
    assembly_format = (
        "$input `,` $weight (`,` $bias^)? (`acc` $acc^)? attr-dict `:` type($input) `,` type($weight)"
        " (`,` type($bias)^)? (`acc` type($acc)^)? `->` type($result)"
    )

    def __init__(
        self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None, acc: SSAValue | None = None
    ):
        x, w = _shape_and_element(input)[0], _shape_and_element(weight)[0]
        super().__init__(
            operands=[input, weight, [bias] if bias else [], [acc] if acc else []],
            result_types=[nn.tensor([*x[:-1], w[0]], f32)],
        )

    def verify_(self) -> None:
        x, w = _f32_shape(self.input, "the input"), _sparse_f32(self.weight, "the weight")
        if not x or x[-1] != w[1]:
            raise VerifyException(f"expected an input of shape [..., {w[1]}], got {list(x)}")
        if self.bias is not None and _f32_shape(self.bias, "the bias") != (w[0],):
            raise VerifyException(f"expected a bias of shape [{w[0]}], got {self.bias.type}")
        want = nn.tensor([*x[:-1], w[0]], f32)
        if self.result.type != want:
            raise VerifyException(f"expected result type {want}, got {self.result.type}")
        if self.acc is not None and self.acc.type != want:
            raise VerifyException(f"expected acc of type {want}, got {self.acc.type}")


def _pattern(v: int, n: int, m: int) -> str:
    return f"{n}:{m}" if v == 1 else f"vnm:{v}:{n}:{m}"


Sparse = Dialect(
    "sparse",
    [
        WeightOp,
        ConvertOp,
        NnzOp,
        PruneOp,
        MatmulOp,
        LinearOp,
    ],
    [
        FormatAttr,
        SparseTensorType,
    ],
)
