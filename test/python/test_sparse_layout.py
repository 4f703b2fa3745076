"""The sparse dialect's mutation and layout primitives (sparse_formats: tasd, reorder,
choose_block, pad, convert) against their definitions, scipy and encode/decode."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee
from sparcc.dialects.sparse_formats import (
    bandwidth,
    choose_block,
    convert,
    decode,
    encode,
    encode_coo,
    nnz,
    pad,
    parse_format,
    parse_tasd,
    permute,
    prune,
    reorder,
    tasd,
    tasd_format,
    to_coo,
    unpad,
)
from test_sparse_formats import PRESETS  # every preset and three custom level lists

# 1x1, non-divisible and divisible shapes, an empty dimension
SHAPES = [(1, 1), (7, 10), (8, 16), (13, 5), (3, 33), (0, 4)]


def random_sparse(shape, density=0.3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) >= density] = 0
    if shape[0] > 2:
        w[1] = 0  # an empty row
    return w


def fits_every_preset(w: np.ndarray) -> np.ndarray:
    """`w` pruned so that every N:M preset above can store it (pruning only zeroes
    more, so each pattern survives the later prunes)."""
    w = prune(w, "1:8")
    w = prune(w, "vnm:4:2:4")
    return prune(w.T, "1:4").T.copy()


def same_buffers(a, b) -> bool:
    ba, bb = a.buffers(), b.buffers()
    return (
        a.format == b.format
        and a.shape == b.shape
        and ba.keys() == bb.keys()
        and all(
            ba[k].dtype == bb[k].dtype and ba[k].tobytes() == bb[k].tobytes()
            for k in ba
        )
    )


# ----------------------------------------------------------------------------
# TASD
# ----------------------------------------------------------------------------


def test_tasd_worked_example() -> None:
    # Worked by hand (docs/sparse_formats.md): 2:4 keeps 4, -3 | 5 and the zero at
    # column 4 (ties to the lower index); 1:4 of the residual [0 0 2 1 | 0 0 0 0]
    # keeps 2 | a zero. ||A||^2 = 55, ||R1||^2 = 4 + 1, ||R2||^2 = 1.
    a = np.array([[4, -3, 2, 1, 0, 5, 0, 0]], np.float32)
    r = tasd(a, "tasd:2:4+1:4")
    assert r.specs == ("2:4", "1:4") and r.formats == ("2:4", "1:4")
    assert r.parts[0].tolist() == [[4, -3, 0, 0, 0, 5, 0, 0]]
    assert r.parts[1].tolist() == [[0, 0, 2, 0, 0, 0, 0, 0]]
    assert r.residual.tolist() == [[0, 0, 0, 1, 0, 0, 0, 0]]
    assert r.nnz == (3, 1)  # the zero picks are not nonzeros
    assert r.rel_error == pytest.approx((np.sqrt(5 / 55), np.sqrt(1 / 55)))
    assert r.coverage == pytest.approx((3 / 5, 4 / 5))
    assert r.spec == "tasd:2:4+1:4"


@pytest.mark.parametrize(
    "parts",
    [
        ["2:4", "1:8"],
        ["1:4", "1:4", "1:4", "1:4"],  # four 1:4 parts hold every weight
        ["vnm:4:2:4", "2:4", "unstructured:0.95"],
        ["block:4x4:0.75", "2:8", "nm:1:4"],
        ["unstructured:0.5", "unstructured:0.5"],
    ],
)
@pytest.mark.parametrize("shape", [(16, 32), (7, 10), (1, 1)])
def test_tasd_properties(parts, shape) -> None:
    a = random_sparse(shape, 0.6, seed=11)
    r = tasd(a, parts)
    assert len(r.parts) == len(r.residuals) == len(r.rel_error) == len(parts)
    # greedy definition: part k prunes the residual of the parts before it
    rest = a
    for k, spec in enumerate(parts):
        assert np.array_equal(r.parts[k], prune(rest, spec))
        rest = rest - r.parts[k]
        assert np.array_equal(r.residuals[k], rest)
    assert np.array_equal(r.parts[0], prune(a, parts[0]))
    # exact: the residual plus the sum of the parts is A, for every truncation
    for t in range(1, len(parts) + 1):
        approx = r.approximation(t)
        assert np.array_equal(approx, sum(r.parts[:t], np.zeros_like(a)))
        assert np.array_equal(r.residuals[t - 1] + approx, a)
        assert approx.dtype == a.dtype
    assert np.array_equal(r.residual + r.approximation(), a)
    # disjoint supports, each part stores in its format
    support = np.zeros(a.shape, bool)
    for part, fmt in zip(r.parts, r.formats, strict=True):
        assert not (support & (part != 0)).any()
        support |= part != 0
        assert np.array_equal(decode(encode(part, fmt)), part)
    # the error never grows, and drops whenever a part holds a nonzero
    norm = np.linalg.norm(a.astype(np.float64))
    prev = 1.0
    for t, err in enumerate(r.rel_error):
        assert err == pytest.approx(
            np.linalg.norm(r.residuals[t].astype(np.float64)) / norm
        )
        assert err <= prev and (err < prev or r.nnz[t] == 0)
        prev = err
    # coverage: A's nonzeros held by the first t parts
    for t, cov in enumerate(r.coverage):
        held = np.count_nonzero(r.approximation(t + 1))
        assert held == sum(r.nnz[: t + 1])
        assert cov == pytest.approx(held / nnz(a))
    if parts == ["1:4", "1:4", "1:4", "1:4"]:
        assert r.coverage[-1] == 1.0 and r.rel_error[-1] == 0.0


def test_tasd_zero_picks_and_all_zero() -> None:
    a = np.zeros((4, 8), np.float32)
    a[0, 0] = 3.0
    r = tasd(a, ["2:4", "2:4"])
    # the first part takes the only nonzero; the second can only pick zeros
    assert r.nnz == (1, 0) and r.coverage == (1.0, 1.0)
    assert r.rel_error == (0.0, 0.0)
    z = tasd(np.zeros((3, 4), np.float32), ["2:4"])
    assert z.nnz == (0,) and z.rel_error == (0.0,) and z.coverage == (1.0,)


@pytest.mark.parametrize(
    ("part", "fmt"),
    [
        ("2:4", "2:4"),
        ("nm:1:8", "1:8"),
        ("vnm:64:2:4", "vnm:64:2:4"),
        ("block:4x2:0.5", "bsr:4x2"),
        ("unstructured:0.9", "csr"),
    ],
)
def test_tasd_format(part, fmt) -> None:
    assert tasd_format(part) == fmt
    assert parse_format(fmt).spec == fmt


def test_parse_tasd() -> None:
    assert parse_tasd("tasd:2:4+1:8") == ["2:4", "1:8"]
    assert parse_tasd(" TASD:vnm:8:2:4 + block:4x4:0.5+unstructured:0.9") == [
        "vnm:8:2:4",
        "block:4x4:0.5",
        "unstructured:0.9",
    ]
    with pytest.raises(
        ValueError, match=r"tasd spec 'tasd:2:4\+5:4': bad part 2 '5:4'"
    ):
        parse_tasd("tasd:2:4+5:4")
    with pytest.raises(ValueError, match=r"bad part 2 '': prune spec ''"):
        parse_tasd("tasd:2:4+")
    with pytest.raises(ValueError, match=r"tasd spec '2:4\+1:8': expected 'tasd:'"):
        parse_tasd("2:4+1:8")
    with pytest.raises(ValueError, match=r"tasd: bad part 1 'csr'"):
        tasd(np.ones((2, 4)), ["csr"])
    with pytest.raises(ValueError, match="at least one part"):
        tasd(np.ones((2, 4)), [])
    with pytest.raises(ValueError, match=r"2-D array, got shape \[4\]"):
        tasd(np.ones(4), ["2:4"])


# ----------------------------------------------------------------------------
# reorder, permute, bandwidth
# ----------------------------------------------------------------------------


def is_perm(p: np.ndarray, n: int) -> bool:
    return p.dtype == np.int64 and np.array_equal(np.sort(p), np.arange(n))


@pytest.mark.parametrize("method", ["rows", "cols", "rcm"])
@pytest.mark.parametrize("shape", [(1, 1), (9, 9), (7, 12), (0, 0)])
def test_reorder_gives_permutations_and_permute_round_trips(method, shape) -> None:
    if method == "rcm" and shape[0] != shape[1]:
        return
    a = random_sparse(shape, 0.3, seed=12)
    rp, cp = reorder(a, method)
    assert is_perm(rp, shape[0]) and is_perm(cp, shape[1])
    b = permute(a, rp, cp)
    assert nnz(b) == nnz(a)
    assert np.array_equal(permute(b, np.argsort(rp), np.argsort(cp)), a)


def test_reorder_rows_by_nonzeros() -> None:
    a = np.zeros((4, 5), np.float32)
    a[0, 0] = a[1, :3] = a[3, 1:3] = 1  # row nonzeros 1, 3, 0, 2
    rp, cp = reorder(a, "rows")
    assert rp.tolist() == [1, 3, 0, 2] and cp.tolist() == list(range(5))
    # stable: equal counts keep their order
    assert reorder(np.eye(3), "rows")[0].tolist() == [0, 1, 2]


def test_reorder_cols_makes_equal_columns_adjacent() -> None:
    rng = np.random.default_rng(13)
    patterns = rng.random((20, 5)) < 0.4  # five distinct column patterns
    patterns[:, 4] = False  # one is empty
    assert len({p.tobytes() for p in patterns.T}) == 5
    cols = rng.permutation(np.repeat(np.arange(5), 6))  # each used 6 times, shuffled
    a = np.where(patterns[:, cols], rng.standard_normal((20, 30)), 0.0)
    rp, cp = reorder(a, "cols")
    assert rp.tolist() == list(range(20))
    b = permute(a, rp, cp) != 0
    runs = 1 + sum(
        not np.array_equal(b[:, k], b[:, k + 1]) for k in range(b.shape[1] - 1)
    )
    assert runs == 5
    assert not b[:, -6:].any()  # empty columns last
    first = [np.flatnonzero(b[:, k])[0] for k in range(24)]
    assert first == sorted(first)  # by the first row touched


def banded(n: int, k: int, density: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    i, j = np.indices((n, n))
    keep = (np.abs(i - j) <= k) & (rng.random((n, n)) < density)
    keep |= np.abs(i - j) == 1  # connected: one component
    return np.where(keep, rng.standard_normal((n, n)), 0.0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("n", "k", "density"), [(60, 3, 1.0), (100, 2, 1.0), (200, 5, 0.6), (300, 8, 0.3)]
)
def test_rcm_recovers_a_scrambled_band(seed, n, k, density) -> None:
    a = banded(n, k, density, seed)
    p = np.random.default_rng(100 + seed).permutation(n)
    b = permute(a, p, p)
    assert bandwidth(b) > 4 * k  # the scrambling spread it
    rp, cp = reorder(b, "rcm")
    assert np.array_equal(rp, cp)
    mine = bandwidth(permute(b, rp, cp))
    q = reverse_cuthill_mckee(sp.csr_matrix(b != 0), symmetric_mode=False)
    ref = bandwidth(b[q][:, q])
    assert mine <= bandwidth(b)
    assert mine <= ref + k  # close to scipy's
    if density == 1.0:
        # a full band holds cliques of k+1 nodes (bandwidth >= k); Cuthill-McKee from
        # an end of the band has levels of k nodes, so bandwidth <= 2k - 1
        assert k <= mine <= 2 * k - 1


def test_rcm_worked_example_and_components() -> None:
    # the path 0 - 2 - 1 - 3 (bandwidth 2): Cuthill-McKee from node 0 (the smallest
    # degree, already peripheral) visits 0, 2, 1, 3; reversed: 3, 1, 2, 0
    a = np.eye(4)
    for i, j in [(0, 2), (2, 1), (1, 3)]:
        a[i, j] = 1  # one triangle only: rcm uses A + A^T
    assert bandwidth(a) == 2
    rp, cp = reorder(a, "rcm")
    assert rp.tolist() == [3, 1, 2, 0] and cp.tolist() == [3, 1, 2, 0]
    assert bandwidth(permute(a, rp, cp)) == 1
    # the path 1 - 2 - 3 - 4 - 5 with node 0 hanging off 3. Node 0 has the smallest
    # degree but is not peripheral (eccentricity 3); the search moves to node 1
    # (eccentricity 4; node 5 has no more), then visits 1, 2, 3, then 3's neighbours
    # by degree (0 before 4), then 5. Reversed: 5, 4, 0, 3, 2, 1.
    t = np.eye(6)
    for i, j in [(1, 2), (2, 3), (3, 4), (4, 5), (0, 3)]:
        t[i, j] = t[j, i] = 1
    assert reorder(t, "rcm")[0].tolist() == [5, 4, 0, 3, 2, 1]
    # 0 - 1, 1 - 2, 1 - 3, 2 - 4, 2 - 5: from node 0 (peripheral: node 4 has no
    # larger eccentricity) the neighbours of 1 come by degree, 3 (one) before 2
    # (three): 0, 1, 3, 2, 4, 5. Reversed: 5, 4, 2, 3, 1, 0.
    t = np.eye(6)
    for i, j in [(0, 1), (1, 2), (1, 3), (2, 4), (2, 5)]:
        t[i, j] = t[j, i] = 1
    assert reorder(t, "rcm")[0].tolist() == [5, 4, 2, 3, 1, 0]
    # two scrambled paths and an isolated node: each component is a path again
    n = 11
    d = np.zeros((n, n))
    for i in list(range(4)) + list(range(5, 10)):
        d[i, i + 1] = d[i + 1, i] = 1  # paths 0..4 and 5..10
    d[4, 5] = d[5, 4] = 0
    p = np.random.default_rng(14).permutation(n)
    rp, _ = reorder(permute(d, p, p), "rcm")
    assert bandwidth(permute(permute(d, p, p), rp, rp)) == 1


def test_bandwidth() -> None:
    assert bandwidth(np.zeros((3, 3))) == 0
    assert bandwidth(np.eye(4)) == 0
    a = np.zeros((3, 6))
    a[0, 5] = a[2, 1] = 1
    assert bandwidth(a) == 5


def test_reorder_and_permute_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"reorder: method 'rcm' needs a square matrix, got shape \[3, 4\]",
    ):
        reorder(np.ones((3, 4)), "rcm")
    with pytest.raises(
        ValueError,
        match="reorder: unknown method 'metis'; expected one of rows, rcm, cols",
    ):
        reorder(np.ones((3, 3)), "metis")
    with pytest.raises(
        ValueError, match=r"reorder expects a 2-D array, got shape \[2, 2, 2\]"
    ):
        reorder(np.ones((2, 2, 2)))
    with pytest.raises(
        ValueError,
        match=r"permute: row_perm must be a permutation of 0..2 \(length 3\)",
    ):
        permute(np.ones((3, 2)), [0, 0, 1], [0, 1])
    with pytest.raises(
        ValueError, match=r"permute: col_perm must be a permutation of 0..1"
    ):
        permute(np.ones((3, 2)), [0, 1, 2], [0, 1, 2])


# ----------------------------------------------------------------------------
# choose_block
# ----------------------------------------------------------------------------


def test_choose_block_worked_example() -> None:
    # by hand (docs): one dense 2x2 block of float32 in a 4x4 matrix.
    # 1x1 (CSR): 4 values * 4 + 4 coordinates * 4 + 5 positions * 4 = 52
    # 2x2: 1 block: 16 + 4 + 3 * 4 = 32; 4x4: 1 block: 64 + 4 + 2 * 4 = 76
    a = np.zeros((4, 4), np.float32)
    a[:2, :2] = [[1, 2], [3, 4]]
    r, c, report = choose_block(a, [(1, 1), (2, 2), (4, 4)])
    assert (r, c) == (2, 2)
    assert [(b.block, b.blocks, b.stored, b.fill, b.bytes) for b in report] == [
        ((1, 1), 4, 4, 1.0, 52),
        ((2, 2), 1, 4, 1.0, 32),
        ((4, 4), 1, 16, 0.25, 76),
    ]


def block_sparse(shape, block, frac, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r, c = block
    keep = rng.random((shape[0] // r, shape[1] // c)) < frac
    mask = np.repeat(np.repeat(keep, r, axis=0), c, axis=1)
    return np.where(mask, rng.uniform(1, 2, shape), 0).astype(np.float32)


def test_choose_block_finds_the_blocks_and_csr() -> None:
    r, c, _ = choose_block(block_sparse((64, 64), (4, 4), 0.1, seed=15))
    assert (r, c) == (4, 4)
    r, c, _ = choose_block(block_sparse((64, 64), (16, 1), 0.1, seed=15))
    assert (r, c) == (16, 1)
    r, c, _ = choose_block(random_sparse((64, 64), 0.1, seed=16))
    assert (r, c) == (1, 1)


@pytest.mark.parametrize("shape", [(64, 64), (13, 5), (1, 1), (6, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_choose_block_costs_are_the_bsr_buffers(shape, dtype) -> None:
    a = random_sparse(shape, 0.2, seed=17).astype(dtype)
    _, _, report = choose_block(a)
    for b in report:
        st = encode(a, f"bsr:{b.block[0]}x{b.block[1]}")
        assert b.bytes == sum(x.nbytes for x in st.buffers().values())
        assert b.stored == st.stored and b.blocks == len(st.coordinates[1])
        assert b.fill == (nnz(a) / st.stored if st.stored else 1.0)
    assert min(b.bytes for b in report) == next(
        b.bytes for b in report if b.block == choose_block(a)[:2]
    )


def test_choose_block_errors() -> None:
    with pytest.raises(
        ValueError, match=r"choose_block: block sizes must be >= 1, got \(0, 4\)"
    ):
        choose_block(np.ones((4, 4)), [(1, 1), (0, 4)])
    with pytest.raises(ValueError, match="at least one candidate"):
        choose_block(np.ones((4, 4)), [])


# ----------------------------------------------------------------------------
# pad / unpad
# ----------------------------------------------------------------------------


def test_pad_worked_example() -> None:
    # 2:4 groups 4 columns: 3x6 -> 3x8; bsr:2x2 tiles both: 3x5 -> 4x6
    assert pad(np.ones((3, 6)), "2:4").shape == (3, 8)
    assert pad(np.ones((3, 5)), "bsr:2x2").shape == (4, 6)


@pytest.mark.parametrize("spec", PRESETS)
@pytest.mark.parametrize("shape", SHAPES)
def test_pad_unpad(spec, shape) -> None:
    a = random_sparse(shape, 0.5, seed=18)
    p = pad(a, spec)
    fmt = parse_format(spec)
    assert p.shape == fmt.padded_shape(shape) and p.dtype == a.dtype
    assert all(p.shape[d] % fmt.tile(d) == 0 for d in range(2))
    assert np.array_equal(unpad(p, shape), a)
    assert nnz(p) == nnz(a)  # the padding is zeros
    # encode stores the padded matrix as it stores the original
    a = fits_every_preset(a)
    assert np.array_equal(encode(pad(a, spec), spec).values, encode(a, spec).values)


def test_pad_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"dimension 1 of shape \[4, 10\] is not a multiple of 4 \(pad=none\)",
    ):
        pad(np.zeros((4, 10)), "2:4;pad=none")
    with pytest.raises(
        ValueError, match=r"unpad: expected a shape within \[4, 8\], got \[5, 8\]"
    ):
        unpad(np.zeros((4, 8)), (5, 8))


# ----------------------------------------------------------------------------
# to_coo / encode_coo / convert
# ----------------------------------------------------------------------------


def test_convert_worked_example() -> None:
    # [[0, 2], [3, 0]]: csr pos [0, 1, 2], crd [1, 0]; coo rows [0, 1], cols [1, 0]
    a = np.array([[0, 2], [3, 0]], np.float32)
    st = encode(a, "csr")
    rows, cols, vals = to_coo(st)
    assert (
        rows.tolist() == [0, 1] and cols.tolist() == [1, 0] and vals.tolist() == [2, 3]
    )
    coo = convert(st, "coo")
    assert coo.positions[0].tolist() == [0, 2]
    assert coo.coordinates[0].tolist() == [0, 1] and coo.coordinates[1].tolist() == [
        1,
        0,
    ]
    assert coo.values.tolist() == [2, 3]


@pytest.mark.parametrize("shape", SHAPES)
def test_convert_every_preset_pair(shape) -> None:
    for seed, dens in [(0, 0.3), (1, 0.0), (2, 1.0)]:
        a = fits_every_preset(random_sparse(shape, dens, seed))
        a[a == 0] = 0  # no -0.0 here (test_convert_keeps_negative_zero)
        stored = {spec: encode(a, spec) for spec in PRESETS}
        for src, dst in itertools.product(PRESETS, PRESETS):
            got = convert(stored[src], dst)
            assert same_buffers(got, encode(decode(stored[src]), dst)), (src, dst)
            assert same_buffers(got, stored[dst]), (src, dst)


def test_convert_keeps_negative_zero_and_dtype() -> None:
    a = np.zeros((4, 6), np.float16)
    a[0, 0], a[0, 1], a[3, 5] = 1.5, -0.0, 2.0  # -0.0 inside a stored block
    st = encode(a, "bsr:2x2")
    for dst in ["bsr:2x2", "bsr:4x2", "dense", "csr", "2:4"]:
        got = convert(st, dst)
        assert got.values.dtype == np.float16
        assert same_buffers(got, encode(decode(st), dst)), dst
    assert np.signbit(decode(convert(st, "bsr:4x2"))[0, 1])


def test_convert_into_nm_needs_the_pattern() -> None:
    a = np.zeros((3, 8), np.float32)
    a[2, 4:7] = 1
    with pytest.raises(ValueError) as from_dense:
        encode(a, "2:4")
    with pytest.raises(ValueError) as converted:
        convert(encode(a, "csr"), "2:4")
    assert str(converted.value) == str(from_dense.value)
    assert "the group [2, 4:8] has 3 nonzero positions" in str(converted.value)


def test_to_coo_and_encode_coo() -> None:
    a = fits_every_preset(random_sparse((9, 14), 0.5, seed=19))
    ref = sp.coo_matrix(a)
    order = np.lexsort((ref.col, ref.row))
    for spec in PRESETS:
        rows, cols, vals = to_coo(encode(a, spec))
        nz = vals != 0  # explicit zeros (block fill, padding) are stored entries
        assert np.array_equal(rows[nz], ref.row[order])
        assert np.array_equal(cols[nz], ref.col[order])
        assert np.array_equal(vals[nz], ref.data[order])
        assert rows.dtype == cols.dtype == np.int64
    # encode_coo takes the entries in any order
    perm = np.random.default_rng(20).permutation(ref.nnz)
    for spec in PRESETS:
        st = encode_coo(ref.row[perm], ref.col[perm], ref.data[perm], a.shape, spec)
        assert same_buffers(st, encode(a, spec)), spec
    empty = encode_coo([], [], np.zeros(0, np.float32), (3, 5), "csr")
    assert same_buffers(empty, encode(np.zeros((3, 5), np.float32), "csr"))


def test_encode_coo_errors() -> None:
    with pytest.raises(
        ValueError, match=re.escape("encode_coo: coordinate (1, 2) is given twice")
    ):
        encode_coo([1, 0, 1], [2, 0, 2], np.ones(3), (3, 3), "csr")
    with pytest.raises(
        ValueError, match=re.escape("coordinate (3, 0) is outside the shape [3, 3]")
    ):
        encode_coo([3], [0], np.ones(1), (3, 3), "csr")
    with pytest.raises(ValueError, match="1-D rows, cols and values of one length"):
        encode_coo([0, 1], [0], np.ones(2), (3, 3), "csr")
    with pytest.raises(ValueError, match="integer coordinates"):
        encode_coo([0.5], [0], np.ones(1), (3, 3), "csr")
    with pytest.raises(ValueError, match=r"sparse spec 'csx': unknown format"):
        encode_coo([0], [0], np.ones(1), (3, 3), "csx")
