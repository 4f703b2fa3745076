"""The sparse formats' numpy reference (encode/decode/prune) against scipy.sparse,
and the sparse dialect's composition with quant.tensor."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp
from sparcc.dialects import quant, sparse
from sparcc.dialects.quant import QuantTensorType
from sparcc.dialects.sparse_formats import (
    block_occupancy,
    decode,
    density,
    encode,
    nnz,
    parse_format,
    prune,
    row_occupancy,
)
from xdsl.dialects.builtin import IntegerType, TensorType, f32, i8
from xdsl.utils.exceptions import VerifyException

PRESETS = [
    "dense",
    "csr",
    "csc",
    "coo",
    "dcsr",
    "ell",
    "bsr:4x4",
    "bsr:2x3",
    "2:4",
    "1:8",
    "vnm:4:2:4",
    "levels=(d0/2:compressed(nu),d1/2:singleton,d0%2:dense,d1%2:dense)",  # blocked COO
    "levels=(compressed,compressed);order=(1,0)",  # DCSC
    "levels=(d1:dense,d0/4:dense,d0%4:nm(1,4))",  # 1:4 down the columns
]
# empty rows/columns, all-zero, 1x1, non-divisible and divisible shapes
SHAPES = [(1, 1), (7, 10), (8, 16), (13, 5), (3, 33)]


def random_sparse(shape, density=0.3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) >= density] = 0
    if shape[0] > 2:
        w[1] = 0  # an empty row
    return w


def fits(w: np.ndarray, spec: str) -> np.ndarray:
    """`w` pruned to the pattern an N:M format needs (unchanged for the others)."""
    fmt = parse_format(spec)
    if "nm(1,4)" in spec:
        return prune(w.T, "1:4").T.copy()
    if spec.startswith("vnm"):
        return prune(w, spec)
    if any(lv.kind == "nm" for lv in fmt.levels):
        return prune(w, fmt.spec)
    return w


# ----------------------------------------------------------------------------
# spec strings
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("CSR", "csr"),
        ("bsr:4", "bsr:4x4"),
        ("bcsr:2x8", "bsr:2x8"),
        ("nm:2:4", "2:4"),
        ("vnm:64:2:4", "vnm:64:2:4"),
        ("levels=(dense,compressed);order=(1,0);pos=32;crd=32", "csc"),
        ("levels=(dense,compressed);block=(4,4)", "bsr:4x4"),
        ("levels=(dense,nm(2,4))", "2:4"),
        ("levels=(d0:compressed(nu),d1:singleton)", "coo"),
        ("levels=(compressed,dense)", "levels=(compressed,dense)"),
        ("csr;crd=16;pos=64", "csr;pos=64;crd=16"),
        ("2:4;crd=8", "2:4"),
        ("nm:2:512", "2:512"),  # crd defaults to 32 bits once M > 256
    ],
)
def test_spec_canonical_and_round_trip(spec: str, canonical: str) -> None:
    fmt = parse_format(spec)
    assert fmt.spec == canonical
    assert fmt.crd == (32 if spec == "nm:2:512" else fmt.crd)
    assert parse_format(fmt.spec) == fmt


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "expected a string like"),
        ("csx", "unknown format 'csx'"),
        ("nm:5:4", r"expected 1 <= n <= m"),
        ("csr;pos=12", "pos must be 8, 16, 32 or 64 bits"),
        ("levels=(dense,singleton)", "a singleton level must follow"),
        ("levels=(d0:dense,d1/4:compressed,d1%2:dense)", "must split it exactly"),
        ("levels=(dense,compressed);order=(1,1)", "order must be a permutation"),
        ("csr;block=(2,2)", "does not apply to the preset"),
    ],
)
def test_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^sparse spec '{re.escape(spec)}': .*{message}"
    ):
        parse_format(spec)


def test_presets_are_built_from_primitives() -> None:
    bsr = parse_format("bsr:2x3").levels
    assert [(lv.kind, lv.expr_str) for lv in bsr] == [
        ("dense", "d0/2"),
        ("compressed", "d1/3"),
        ("dense", "d0%2"),
        ("dense", "d1%3"),
    ]
    vnm = parse_format("vnm:64:2:4").levels
    assert [(lv.type_str, lv.expr_str) for lv in vnm] == [
        ("dense", "d0/64"),
        ("dense", "d1/4"),
        ("nm(2,4)", "d1%4"),
        ("dense", "d0%64"),
    ]


# ----------------------------------------------------------------------------
# encode / decode
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", PRESETS)
@pytest.mark.parametrize("shape", SHAPES)
def test_round_trip_exact(spec: str, shape) -> None:
    for seed, dens in [(0, 0.3), (1, 0.0), (2, 1.0)]:
        w = fits(random_sparse(shape, dens, seed), spec)
        w[w == 0] = 0  # no -0.0: a zero is not stored
        st = encode(w, spec)
        back = decode(st)
        assert back.dtype == w.dtype and back.shape == w.shape
        assert np.array_equal(back, w)
        assert st.nnz == nnz(w)


def test_round_trip_keeps_negative_zero_in_blocks_and_dtypes() -> None:
    w = np.zeros((4, 4), np.float16)
    w[0, 0], w[0, 1] = 1.5, -0.0
    back = decode(encode(w, "bsr:2x2"))
    assert np.array_equal(back.view(np.uint16), w.view(np.uint16))
    w64 = random_sparse((5, 9), seed=3).astype(np.float64)
    assert np.array_equal(decode(encode(w64, "csc")), w64)


def canonical_scipy(m):
    m = m.copy()
    m.eliminate_zeros()
    m.sort_indices()
    return m


@pytest.mark.parametrize("shape", SHAPES)
def test_csr_csc_match_scipy(shape) -> None:
    w = random_sparse(shape, seed=4)
    ref = canonical_scipy(sp.csr_matrix(w))
    st = encode(w, "csr")
    assert np.array_equal(st.positions[1], ref.indptr)
    assert np.array_equal(st.coordinates[1], ref.indices)
    assert np.array_equal(st.values, ref.data)
    ref = canonical_scipy(sp.csc_matrix(w))
    st = encode(w, "csc")
    assert np.array_equal(st.positions[1], ref.indptr)
    assert np.array_equal(st.coordinates[1], ref.indices)
    assert np.array_equal(st.values, ref.data)


@pytest.mark.parametrize("shape", SHAPES)
def test_coo_and_dcsr_match_scipy(shape) -> None:
    w = random_sparse(shape, seed=5)
    ref = sp.coo_matrix(w)
    order = np.lexsort((ref.col, ref.row))
    st = encode(w, "coo")
    assert st.positions[0].tolist() == [0, ref.nnz]
    assert np.array_equal(st.coordinates[0], ref.row[order])
    assert np.array_equal(st.coordinates[1], ref.col[order])
    assert np.array_equal(st.values, ref.data[order])
    # dcsr: the nonempty rows, then CSR over them
    csr = canonical_scipy(sp.csr_matrix(w))
    rows = np.flatnonzero(np.diff(csr.indptr))
    st = encode(w, "dcsr")
    assert np.array_equal(st.coordinates[0], rows)
    assert np.array_equal(st.positions[1], np.concatenate([[0], csr.indptr[rows + 1]]))
    assert np.array_equal(st.coordinates[1], csr.indices)


@pytest.mark.parametrize(
    ("shape", "block"),
    [((8, 12), (4, 4)), ((6, 9), (2, 3)), ((1, 1), (1, 1)), ((7, 10), (4, 4))],
)
def test_bsr_matches_scipy(shape, block) -> None:
    w = random_sparse(shape, 0.1, seed=6)
    r, c = block
    padded = np.zeros((-(-shape[0] // r) * r, -(-shape[1] // c) * c), np.float32)
    padded[: shape[0], : shape[1]] = w  # scipy needs divisible shapes: compare padded
    ref = sp.bsr_matrix(padded, blocksize=block)
    ref.eliminate_zeros()  # drops all-zero blocks
    ref.sort_indices()
    st = encode(w, f"bsr:{r}x{c}")
    assert np.array_equal(st.positions[1], ref.indptr)
    assert np.array_equal(st.coordinates[1], ref.indices)
    assert np.array_equal(st.values.reshape(-1, r, c), ref.data)


def test_ell_layout() -> None:
    w = np.array([[0, 2, 0, 3], [0, 0, 0, 0], [5, 0, 0, 0]], np.float32)
    st = encode(w, "ell")
    assert st.positions[1].tolist() == [2]
    # short rows are padded with the smallest unused columns and zeros
    assert st.coordinates[1].tolist() == [1, 3, 0, 1, 0, 1]
    assert st.values.tolist() == [2, 3, 0, 0, 5, 0]


def test_nm_layout_and_widths() -> None:
    w = np.array([[0, 7, 0, 0, 1, 0, 2, 0]], np.float32)
    st = encode(w, "2:4")
    assert st.coordinates[2].dtype == np.uint8
    assert st.coordinates[2].tolist() == [0, 1, 0, 2]  # group 0 padded with column 0
    assert st.values.tolist() == [0, 7, 1, 2]
    assert encode(w, "2:4;crd=16").coordinates[2].dtype == np.uint16
    assert encode(w, "csr;pos=64").positions[1].dtype == np.uint64


def test_vnm_shares_the_column_choice() -> None:
    w = prune(np.arange(1, 33, dtype=np.float32).reshape(4, 8), "vnm:2:2:4")
    st = encode(w, "vnm:2:2:4")
    assert st.coordinates[2].tolist() == [2, 3, 2, 3, 2, 3, 2, 3]
    assert np.array_equal(decode(st), w)
    # one row of the pair breaks the shared pattern
    bad = w.copy()
    bad[1, 0] = 1.0
    with pytest.raises(
        ValueError,
        match=r"the group \[0:2, 0:4\] has 3 nonzero positions \(shared by the block's rows\), more than N=2 of M=4",
    ):
        encode(bad, "vnm:2:2:4")


def test_nm_violation_names_the_group() -> None:
    w = np.zeros((3, 8), np.float32)
    w[2, 4:7] = 1
    with pytest.raises(
        ValueError,
        match=r"sparse format '2:4': the group \[2, 4:8\] has 3 nonzero positions, more than N=2 of M=4; prune it first",
    ):
        encode(w, "2:4")


def test_pad_none_rejects_non_divisible() -> None:
    with pytest.raises(
        ValueError,
        match=r"dimension 1 of shape \[4, 10\] is not a multiple of 4 \(pad=none\)",
    ):
        encode(np.zeros((4, 10), np.float32), "2:4;pad=none")
    st = encode(
        np.ones((4, 10), np.float32) * np.array([1, 1, 0, 0] * 2 + [1, 1]), "2:4"
    )
    assert st.values.size == 4 * 3 * 2  # the last group padded to 4 columns


def test_widths_overflow_is_an_error() -> None:
    with pytest.raises(ValueError, match="coordinates up to 299 do not fit in 8 bits"):
        encode(np.eye(300, dtype=np.float32), "csr;crd=8")


# ----------------------------------------------------------------------------
# prune and queries
# ----------------------------------------------------------------------------


def test_prune_unstructured() -> None:
    w = np.random.default_rng(7).standard_normal((20, 30)).astype(np.float32)
    p = prune(w, "unstructured:0.9")
    assert nnz(p) == 60
    assert np.abs(p[p != 0]).min() >= np.abs(w[p == 0]).max()
    assert (
        np.array_equal(prune(w, "unstructured:0"), w)
        and nnz(prune(w, "unstructured:1")) == 0
    )


@pytest.mark.parametrize(
    ("shape", "n", "m"), [((6, 16), 2, 4), ((5, 13), 2, 4), ((4, 24), 1, 8)]
)
def test_prune_nm_keeps_n_largest(shape, n, m) -> None:
    w = np.random.default_rng(8).standard_normal(shape).astype(np.float32)
    p = prune(w, f"{n}:{m}")
    cols = -(-shape[1] // m) * m
    pw, pp = np.zeros((shape[0], cols)), np.zeros((shape[0], cols))
    pw[:, : shape[1]], pp[:, : shape[1]] = np.abs(w), np.abs(p)
    for gw, gp in zip(pw.reshape(-1, m), pp.reshape(-1, m), strict=True):
        kept = np.flatnonzero(gp)
        assert len(kept) == min(n, np.count_nonzero(gw))
        assert set(kept) == set(np.argsort(-gw, kind="stable")[: len(kept)])
    assert np.array_equal(decode(encode(p, f"{n}:{m}")), p)


def test_prune_blocks_by_norm() -> None:
    w = np.ones((8, 8), np.float32)
    w[4:, 4:] = 5  # the largest block
    w[:4, 4:] = 3
    p = prune(w, "block:4x4:0.5")
    assert block_occupancy(p, (4, 4)).tolist() == [[0, 16], [0, 16]]
    assert np.array_equal(p[:, 4:], w[:, 4:])


def test_queries() -> None:
    w = np.array([[0, 1, 0], [0, 0, 0], [2, 3, 0]], np.float32)
    assert nnz(w) == 3 and density(w) == pytest.approx(1 / 3)
    assert row_occupancy(w).tolist() == [1, 0, 2]
    assert block_occupancy(w, (2, 2)).tolist() == [[1, 0], [2, 0]]
    st = encode(w, "bsr:2x2")
    assert st.nnz == 3 and st.stored == 8 and density(st) == pytest.approx(1 / 3)


def test_prune_spec_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"prune spec 'unstructured:2': expected a sparsity in \[0, 1\]",
    ):
        prune(np.ones((2, 2)), "unstructured:2")
    with pytest.raises(ValueError, match="expected 1 <= N <= M"):
        prune(np.ones((2, 2)), "5:4")


# ----------------------------------------------------------------------------
# the dialect: #sparse.format in the sparsity slot of !quant.tensor
# ----------------------------------------------------------------------------


def test_quant_tensor_with_sparse_slot_storage() -> None:
    typ = QuantTensorType([64, 128], "int4:g32", sparse.FormatAttr("nm:2:4"))
    typ.verify()
    assert (
        str(typ)
        == '!quant.tensor<64x128, #quant.format<"int4:g32">, #sparse.format<"2:4">>'
    )
    # the 2:4 coordinates (one byte per kept weight), then int4 codes and scales of [64, 64] values
    assert typ.storage() == [
        ("crd2", [64, 64], i8),
        ("codes", [64, 32], i8),
        ("scales", [64, 2], f32),
    ]
    vnm = QuantTensorType(
        [128, 64], "int8:channel", sparse.FormatAttr("vnm:64:2:4;crd=16")
    )
    assert vnm.storage() == [
        ("crd2", [2, 32], IntegerType(16)),
        ("codes", [2, 2048], i8),
        ("scales", [2, 1], f32),
    ]
    d = quant.DequantizeOp(quant.WeightOp("w", typ).result)
    assert d.result.type == TensorType(f32, [64, 128])


def test_data_dependent_formats_have_no_static_storage() -> None:
    # a quantised tensor's sparsity must have a static layout: the type refuses CSR
    with pytest.raises(VerifyException, match="stores a data-dependent number of entries"):
        QuantTensorType([64, 128], "int4:g32", sparse.FormatAttr("csr"))
    with pytest.raises(ValueError, match="stores a data-dependent number of entries"):
        parse_format("csr").static_storage([64, 128])


def test_sparse_tensor_type_and_ops_from_python() -> None:
    typ = sparse.SparseTensorType([8, 16], f32, "levels=(dense,compressed)")
    assert str(typ) == '!sparse.tensor<8x16xf32, #sparse.format<"csr">>'
    w = sparse.WeightOp("w", typ)
    sparse.NnzOp(w.result).verify()
    with pytest.raises(VerifyException, match="sparse spec 'xyz': unknown format"):
        sparse.SparseTensorType([8, 16], f32, "xyz").verify()
    with pytest.raises(VerifyException, match="not a multiple of 4"):
        sparse.SparseTensorType([8, 10], f32, "2:4;pad=none").verify()


@pytest.mark.parametrize("spec", PRESETS)
@pytest.mark.parametrize("shape", SHAPES)
def test_level_entries_from_the_index_buffers(spec: str, shape: tuple[int, int]) -> None:
    s = encode(fits(random_sparse(shape, 0.4, 3), spec), spec)
    fmt = s.format
    lengths = [len(b) for key, b in s.buffers().items() if key != "values"]
    entries = fmt.level_entries(shape, lengths)
    assert len(entries) == len(fmt.levels) and entries[-1] == s.stored
    for l, lv in enumerate(fmt.levels):
        if s.coordinates[l] is not None:  # one entry per stored coordinate
            assert entries[l] == len(s.coordinates[l])
        if lv.kind == "compressed" and not lv.pad:  # positions frame the parents' entries
            assert len(s.positions[l]) == (entries[l - 1] if l else 1) + 1
    if (static := fmt.static_entries(shape)) is not None:
        assert entries == static
