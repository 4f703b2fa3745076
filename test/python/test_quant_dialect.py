"""The quant dialect (sparcc.dialects.quant): its storage description against the
numpy oracle's actual quantize() output, its attribute helpers, builders, and
how a sparsity encoding composes with a format."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from sparcc.dialects import quant
from sparcc.dialects.quant import Buffer, FormatAttr, QuantTensorType
from sparcc.dialects.quant_formats import parse_format
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, IntAttr, TensorType, f16, f32, i8
from xdsl.ir import Block, ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

SPECS = [
    "int8",
    "int8:tensor",
    "int8:g32:asym",
    "int8:tensor:asym",
    "int4",
    "int4:g32:asym",
    "int4:channel:asym",
    "nf4:g64",
    "sf4:g32",
    "apot4:g128",
    "e2m1",
    "e2m1:none",
    "e2m1s:g32",
    "mxfp4",
    "fp8_e4m3:channel",
    "fp8_e5m2",
    "fp8_e4m3:none",
    "lp:n=4,es=1,rs=2,sf=0:g128",
    "lp:n=3:channel",
    "lp:n=6:g8",
]

# odd K, K below/above/not a multiple of the group, 1-d and 3-d tensors
SHAPES = [(4, 64), (3, 7), (5, 33), (2, 200), (1, 1), (37,), (4, 3, 3, 3), (6, 129)]

DTYPES = {np.dtype(np.uint8): i8, np.dtype(np.float32): f32}


def oracle_storage(spec: str, shape: Sequence[int]) -> list[tuple[str, list[int], object]]:
    w = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    q = parse_format(spec).quantize(w)
    arrays = [("codes", q.codes), ("scales", q.scales), ("zeros", q.zero_points)]
    return [(role, list(a.shape), DTYPES[a.dtype]) for role, a in arrays if a is not None]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_storage_matches_quantize(spec: str, shape: tuple[int, ...]) -> None:
    typ = QuantTensorType(shape, spec)
    assert typ.storage() == oracle_storage(spec, shape)
    assert typ.format.storage(shape) == typ.storage()


def test_storage_example() -> None:
    typ = QuantTensorType([4096, 4096], "nf4:g64")
    assert typ.storage() == [("codes", [4096, 2048], i8), ("scales", [4096, 64], f32)]
    assert QuantTensorType([4096, 11008], "int4:g128:asym").storage() == [
        ("codes", [4096, 5504], i8),
        ("scales", [4096, 86], f32),
        ("zeros", [4096, 86], f32),
    ]
    assert QuantTensorType([16, 100], "mxfp4").storage() == [
        ("codes", [16, 50], i8),
        ("scales", [16, 4], i8),
    ]
    assert typ.storage([8, 65]) == [("codes", [8, 33], i8), ("scales", [8, 2], f32)]


@pytest.mark.parametrize(
    "spec, canonical, bits, granularity, group, zeros, scale",
    [
        ("NF4", "nf4:g64", 4, "group", 64, False, f32),
        ("int8", "int8:channel", 8, "channel", None, False, f32),
        ("int4:asym:g32", "int4:g32:asym", 4, "group", 32, True, f32),
        ("mxfp4:g32", "mxfp4", 4, "group", 32, False, i8),
        ("fp8_e5m2", "fp8_e5m2:tensor", 8, "tensor", None, False, f32),
        ("e2m1:none", "e2m1:none", 4, "none", None, False, None),
        ("sf4:g128", "sf4:nu=5:g128", 4, "group", 128, False, f32),
        ("lp:n=3", "lp:n=3,es=1,rs=2,sf=0:g64", 3, "group", 64, False, f32),
    ],
)
def test_format_helpers(spec, canonical, bits, granularity, group, zeros, scale) -> None:
    fmt = FormatAttr(spec)
    assert fmt.spec.data == canonical
    assert fmt == FormatAttr(canonical)
    assert fmt.format.spec == canonical
    assert (fmt.bits, fmt.granularity, fmt.group_size) == (bits, granularity, group)
    assert fmt.has_zero_points == zeros
    assert fmt.scale_type == scale
    assert fmt.packed == (bits <= 4)


def test_bad_spec_is_a_verify_error_with_the_formats_message() -> None:
    with pytest.raises(ValueError) as want:
        parse_format("nf4:g63")
    with pytest.raises(VerifyException) as got:
        FormatAttr("nf4:g63")
    assert str(got.value) == str(want.value)
    # a non-canonical spec smuggled past __init__ is rejected too
    with pytest.raises(VerifyException, match='expected the canonical spec "nf4:g64", got "nf4"'):
        FormatAttr.new([quant.StringAttr("nf4")])


@pytest.mark.parametrize(
    "shape, message", [([], "rank >= 1"), ([4, 0], "got 4x0"), ([-1, 4], r"got \?x4")]
)
def test_bad_type(shape, message) -> None:
    with pytest.raises(VerifyException, match=message):
        QuantTensorType(shape, "nf4")


def parse_type(text: str):
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(quant.Quant)
    return Parser(ctx, text).parse_type()


def test_type_text_round_trip() -> None:
    typ = parse_type('!quant.tensor<16x8, #quant.format<"int4:asym">>')
    assert typ == QuantTensorType([16, 8], "int4:g128:asym")
    assert str(typ) == '!quant.tensor<16x8, #quant.format<"int4:g128:asym">>'
    assert parse_type(str(typ)) == typ
    assert typ.dequantized_type() == TensorType(f32, [16, 8])


def test_builders_infer_types() -> None:
    block = Block(arg_types=[TensorType(f32, [2, 3, 8]), TensorType(f32, [16])])
    x, b = block.args
    w = quant.WeightOp("fc.weight", QuantTensorType([16, 8], "nf4:g64"))
    d = quant.DequantizeOp(w.result)
    q = quant.QuantizeOp(d.result, "int8")
    y = quant.LinearOp(x, q.result, b)
    for op in (w, d, q, y):
        op.verify()
    assert w.weight_name == "fc.weight"
    assert d.result.type == TensorType(f32, [16, 8])
    assert q.result.type == QuantTensorType([16, 8], "int8:channel")
    assert y.result.type == TensorType(f32, [2, 3, 16])


def test_linear_rejects_mismatched_k() -> None:
    x = Block(arg_types=[TensorType(f32, [2, 9])]).args[0]
    w = quant.WeightOp("w", QuantTensorType([16, 8], "nf4"))
    with pytest.raises(VerifyException, match=r"expected weight of shape \[out, 9\], got \[16, 8\]"):
        quant.LinearOp(x, w.result)


def test_quantize_rejects_f16() -> None:
    x = Block(arg_types=[TensorType(f16, [4, 8])]).args[0]
    op = quant.QuantizeOp(x, "nf4")
    with pytest.raises(VerifyException, match="expected an f32 input"):
        op.verify()


# ----------------------------------------------------------------------------
# composition with a sparsity encoding: a stand-in for the sparse dialect's
# ----------------------------------------------------------------------------


@irdl_attr_definition
class NMEncoding(ParametrizedAttribute):
    """N of every M weights along a row kept; a 1-byte index per kept weight."""

    name = "test_sparse.nm"
    n: IntAttr
    m: IntAttr

    def sparse_storage(self, shape):
        rows, cols = shape
        kept = -(-cols // self.m.data) * self.n.data
        return [Buffer("indices", [rows, kept], i8)], [rows, kept]


def test_sparsity_slot_composes_storage() -> None:
    nm = NMEncoding(IntAttr(2), IntAttr(4))
    typ = QuantTensorType([64, 128], "int4:g32:asym", nm)
    assert typ.is_sparse
    assert typ.storage() == [
        ("indices", [64, 64], i8),
        ("codes", [64, 32], i8),
        ("scales", [64, 2], f32),
        ("zeros", [64, 2], f32),
    ]
    assert str(typ) == (
        '!quant.tensor<64x128, #quant.format<"int4:g32:asym">, #test_sparse.nm<#builtin.int<2>, '
        "#builtin.int<4>>>"
    )
    # ops see the same logical f32 tensor
    d = quant.DequantizeOp(quant.WeightOp("w", typ).result)
    assert d.result.type == TensorType(f32, [64, 128])
    with pytest.raises(VerifyException, match="expected a sparsity encoding"):
        QuantTensorType([64, 128], "nf4", IntAttr(3))
