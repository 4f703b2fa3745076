"""The quant dialect's number formats (sparcc.dialects.quant_formats) against independent references.

Mini-floats and MX scales are checked bit for bit against ml_dtypes; integers
against a plain per-block reference written here; NF4/SF4 levels against the
published table and scipy; LP against its definition.
"""

from __future__ import annotations

import math

import ml_dtypes as md  # a test dependency (pyproject [test]): the bit-exact reference
import numpy as np
import pytest
from sparcc.dialects import quant_formats as qf

# Random bit patterns include signalling NaNs, which warn when widened.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")

MINIFLOATS = [
    (qf.E4M3, md.float8_e4m3fn),
    (qf.E5M2, md.float8_e5m2),
    (qf.E2M1, md.float4_e2m1fn),
]


def bits32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).view(np.uint32)


def assert_same_floats(got: np.ndarray, want: np.ndarray) -> None:
    """Equal as float32 bit patterns (so -0 != +0), with any NaN equal to any NaN."""
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    bad = np.flatnonzero(bits32(got[ok]) != bits32(want[ok]))
    assert bad.size == 0, f"{bad.size} values differ, first: got {got[ok][bad[0]]!r}, want {want[ok][bad[0]]!r}"


def ml_codes(x: np.ndarray, dtype) -> np.ndarray:
    return np.asarray(x, np.float32).astype(dtype).view(np.uint8)


def adversarial(fmt: qf.Minifloat, rng: np.random.Generator) -> np.ndarray:
    """Every value, every tie between neighbours and the floats just around it, overflow, tiny, specials, random."""
    v = fmt.values.astype(np.float64)
    pos = np.unique(v[np.isfinite(v) & (v >= 0)])
    mids = (pos[:-1] + pos[1:]) / 2  # exact in float32: at most mbits + 2 significant bits
    mids32 = mids.astype(np.float32)
    assert np.array_equal(mids32.astype(np.float64), mids)
    top = pos[-1]
    step = top - pos[-2]
    above = np.array([top + step / 2, top + step / 2 * 1.0001, top + step, 2 * top, 1e30, np.finfo(np.float32).max])
    tiny = np.array([pos[1] / 2, pos[1] / 4, pos[1] * 0.75, pos[1] * 1e-3, np.finfo(np.float32).smallest_subnormal])
    parts = [
        pos,
        mids32,
        np.nextafter(mids32, np.float32(np.inf)),
        np.nextafter(mids32, np.float32(-np.inf)),
        above,
        tiny,
        np.nextafter(tiny.astype(np.float32), np.float32(np.inf)),
        np.exp2(rng.uniform(math.log2(pos[1]) - 4, math.log2(top) + 2, 20000)),
        rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32),  # any bit pattern
    ]
    x = np.concatenate([np.asarray(p, np.float32).ravel() for p in parts])
    x = np.concatenate([x, -x, np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan], np.float32)])
    if fmt.specials == "none":
        x = x[~np.isnan(x)]
    return x


# ----------------------------------------------------------------------------
# mini-floats and E8M0 against ml_dtypes
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,dtype", MINIFLOATS, ids=lambda f: getattr(f, "name", ""))
def test_minifloat_decode_every_code(fmt, dtype):
    codes = np.arange(2**fmt.bits, dtype=np.uint8)
    assert_same_floats(fmt.decode(codes), codes.view(dtype).astype(np.float32))


@pytest.mark.parametrize("fmt,dtype", MINIFLOATS, ids=lambda f: getattr(f, "name", ""))
def test_minifloat_encode_matches_ml_dtypes_cast(fmt, dtype):
    x = adversarial(fmt, np.random.default_rng(1))
    got = fmt.encode(x, saturate=False)
    want = ml_codes(x, dtype)
    bad = np.flatnonzero(got != want)
    first = bad[0] if bad.size else 0
    assert bad.size == 0, f"{bad.size} codes differ, first x={x[first]!r}: got {got[first]:#x}, want {want[first]:#x}"


@pytest.mark.parametrize("fmt,dtype", MINIFLOATS, ids=lambda f: getattr(f, "name", ""))
def test_minifloat_saturating_encode_differs_only_on_overflow(fmt, dtype):
    x = adversarial(fmt, np.random.default_rng(2))
    over = np.isinf(x) | (np.abs(x.astype(np.float64)) > fmt.max_value) & ~np.isnan(x)
    # Values that round down onto max are not overflow in either mode.
    want = ml_codes(x, dtype)
    lands_on_max = np.isfinite(fmt.decode(want)) & (np.abs(fmt.decode(want)) == fmt.max_value)
    got = fmt.encode(x)
    keep = ~over | lands_on_max
    assert np.array_equal(got[keep], want[keep])
    # Overflow saturates to +-max, except that E5M2 keeps +-Inf.
    sat = got[over & ~lands_on_max]
    vals = fmt.decode(sat).astype(np.float64)
    xs = x[over & ~lands_on_max].astype(np.float64)
    if fmt.specials == "ieee":
        assert np.array_equal(vals[np.isinf(xs)], xs[np.isinf(xs)])
        xs, vals = xs[~np.isinf(xs)], vals[~np.isinf(xs)]
    assert np.array_equal(vals, np.sign(xs) * fmt.max_value)


def test_fp8_special_cases_by_name():
    e4, e5 = qf.E4M3, qf.E5M2
    assert list(e4.encode(np.array([1e6, -1e6, np.inf, -np.inf, 464, 465, np.nan, -np.nan], np.float32))) == [
        0x7E, 0xFE, 0x7E, 0xFE, 0x7E, 0x7E, 0x7F, 0xFF,
    ]
    assert list(e4.encode(np.array([1e6, np.inf, 465], np.float32), saturate=False)) == [0x7F, 0x7F, 0x7F]
    got = e5.encode(np.array([1e6, 61440, np.inf, -np.inf, np.nan], np.float32))
    assert list(got) == [0x7B, 0x7B, 0x7C, 0xFC, 0x7E]
    assert list(e5.encode(np.array([1e6, 61440, 61439], np.float32), saturate=False)) == [0x7C, 0x7C, 0x7B]
    assert e4.max_value == 448 and e5.max_value == 57344 and qf.E2M1.max_value == 6
    assert list(e4.encode(np.array([0.0, -0.0, -1e-30], np.float32))) == [0x00, 0x80, 0x80]


def test_e2m1_values_and_nan():
    assert sorted(set(np.abs(qf.E2M1.values).tolist())) == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    # ties go to the even code: 0.25 -> 0, 0.75 -> 1, 2.5 -> 2, 5 -> 4 (the even neighbour)
    got = qf.E2M1.decode(qf.E2M1.encode(np.array([0.25, 0.75, 1.25, 2.5, 3.5, 5.0, 7.0, 100.0], np.float32)))
    assert got.tolist() == [0, 1, 1, 2, 4, 4, 6, 6]
    with pytest.raises(ValueError, match="no NaN"):
        qf.E2M1.encode(np.array([1.0, np.nan], np.float32))  # ml_dtypes gives an arbitrary code here


@pytest.mark.parametrize("fmt", [f for f, _ in MINIFLOATS], ids=lambda f: f.name)
def test_minifloat_every_code_round_trips(fmt):
    codes = np.arange(2**fmt.bits, dtype=np.uint8)
    v = fmt.decode(codes)
    ok = ~np.isnan(v)
    assert np.array_equal(fmt.encode(v[ok], saturate=False), codes[ok])


def test_e8m0_decode_every_code():
    codes = np.arange(256, dtype=np.uint8)
    assert_same_floats(qf.decode_e8m0(codes), codes.view(md.float8_e8m0fnu).astype(np.float32))


def test_e8m0_encode_matches_ml_dtypes():
    rng = np.random.default_rng(3)
    powers = np.ldexp(np.float32(1), np.arange(-127, 128)).astype(np.float32)
    normals = np.exp2(rng.uniform(-126, 127.9, 20000)).astype(np.float32)
    ties = (powers[1:-1] * np.float32(1.5)).astype(np.float32)
    special = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.5 * 2.0**127, np.finfo(np.float32).max], np.float32)
    x = np.concatenate([powers, normals, ties, np.nextafter(ties, np.float32(0)), special])
    assert np.array_equal(qf.encode_e8m0(x), ml_codes(x, md.float8_e8m0fnu))


def test_e8m0_below_smallest_saturates_to_code_0():
    # Our choice; ml_dtypes maps 1.4 * 2^-127 (a float32 subnormal) to 2^-126, which is not the nearest.
    x = np.array([1.4 * 2.0**-127, 2.0**-128, 2.0**-149], np.float32)
    assert qf.encode_e8m0(x).tolist() == [0, 0, 0]
    assert qf.encode_e8m0(np.array([1.6 * 2.0**-127], np.float32)).tolist() == [1]


# ----------------------------------------------------------------------------
# MXFP4 against an ml_dtypes reference
# ----------------------------------------------------------------------------


def mx_reference(w: np.ndarray):
    """OCP MX v1.0 per block of 32 with ml_dtypes doing every rounding."""
    rows, cols = w.shape
    blocks = w.reshape(rows, cols // 32, 32)
    amax = np.abs(blocks).max(axis=-1)
    e = np.where(amax > 0, np.floor(np.log2(np.where(amax > 0, amax, 1).astype(np.float64))) - 2, -127)
    x = np.exp2(np.clip(e, -127, 127)).astype(np.float32)
    scale_codes = ml_codes(x, md.float8_e8m0fnu)
    elem = (blocks / x[..., None]).astype(md.float4_e2m1fn)
    scale = scale_codes.view(md.float8_e8m0fnu).astype(np.float32)
    deq = (elem.astype(np.float32) * scale[..., None]).reshape(rows, cols)
    return elem.view(np.uint8).reshape(rows, cols), scale_codes, deq


def test_mxfp4_matches_ml_dtypes_reference():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((16, 256)).astype(np.float32)
    w *= np.exp2(rng.integers(-30, 30, (16, 8))).repeat(32, axis=1).astype(np.float32)  # block magnitudes 2^-30..2^30
    w[0, :32] = 0  # an all-zero block
    w[1, :32] = rng.uniform(-1, 1, 32).astype(np.float32)
    w[1, 5] = 4.0  # amax exactly a power of two
    w[2, 32:64] = np.float32(7.9)  # saturates: amax/X = 7.9 > 6
    fmt = qf.parse_format("mxfp4")
    codes, scales, zero = fmt.encode(w)
    want_codes, want_scales, want = mx_reference(w)
    assert zero is None
    assert np.array_equal(scales, want_scales)
    assert np.array_equal(codes, want_codes)
    assert_same_floats(fmt.decode(codes, scales, None, w.shape), want)
    got = fmt.roundtrip(w)
    assert np.all(got[0, :32] == 0) and scales[0, 0] == 0
    assert np.all(got[2, 32:64] == 6.0), "values above 6 * X saturate to 6 * X"


# ----------------------------------------------------------------------------
# integers against a plain reference
# ----------------------------------------------------------------------------


def int_reference(w: np.ndarray, bits: int, block: int | None, asym: bool) -> np.ndarray:
    """Quantize-dequantize each block of `block` weights of a row (None: the whole row) the obvious way."""
    out = np.empty_like(w)
    rows, cols = w.shape
    size = block or cols
    for r in range(rows):
        for start in range(0, cols, size):
            x = w[r, start : start + size]
            if asym:
                qmax = np.float32(2**bits - 1)
                lo, hi = np.float32(min(x.min(), 0)), np.float32(max(x.max(), 0))
                s = np.float32((hi - lo) / qmax)
                z = np.float32(np.clip(np.rint(-lo / s), 0, qmax)) if s else np.float32(0)
                q = np.clip(np.rint(x / s) + z, 0, qmax) if s else np.zeros_like(x)
                out[r, start : start + size] = ((q - z) * s).astype(np.float32)
            else:
                qmax = np.float32(2 ** (bits - 1) - 1)
                s = np.float32(np.abs(x).max() / qmax)
                q = np.clip(np.rint(x / s), -qmax, qmax) if s else np.zeros_like(x)
                out[r, start : start + size] = (q * s).astype(np.float32)
    return out


@pytest.mark.parametrize(
    "spec,bits,block,asym",
    [
        ("int8:channel", 8, None, False),
        ("int8:channel:asym", 8, None, True),
        ("int8:g32", 8, 32, False),
        ("int4:g32", 4, 32, False),
        ("int4:g64:asym", 4, 64, True),
        ("int4:g128", 4, 128, False),
        ("int4:g128:asym", 4, 128, True),
    ],
)
def test_integers_match_reference(spec, bits, block, asym):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 384)).astype(np.float32)
    w[1] = 0  # all-zero groups
    w[2] = np.abs(w[2]) + 0.5  # all positive: the zero point sits at an end
    w[3] = -np.abs(w[3]) - 0.5  # all negative
    w[4, :128] = w[4, 0]  # a constant group
    fmt = qf.parse_format(spec)
    got = fmt.roundtrip(w)
    assert np.all(np.isfinite(got))
    assert_same_floats(got + 0.0, int_reference(w, bits, block, asym) + 0.0)
    assert np.all(got[1] == 0)


def test_integers_round_half_to_even_and_saturate():
    fmt = qf.parse_format("int4:g8")
    w = np.array([[7.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 6.5]], np.float32)  # scale 7/7 = 1
    codes, scales, _ = fmt.encode(w)
    assert scales.tolist() == [[1.0]]
    assert fmt.element.decode(codes).tolist() == [[7, 0, 2, 2, -0, -2, -2, 6]]
    signed = qf.Integer(8, True)
    assert signed.encode(np.array([300.0, -300.0, -127.5])).view(np.int8).tolist() == [127, -127, -127]
    assert qf.Integer(4, False).encode(np.array([-3.0, 15.5, 16.0])).tolist() == [0, 15, 15]


def test_int_codes_are_packed_two_complement_nibbles():
    fmt = qf.parse_format("int4:g8")
    w = np.array([[-7.0, 1, 2, 3, 4, 5, 6, 7, -1]], np.float32)
    q = fmt.quantize(w)
    assert q.codes.shape == (1, 5) and q.scales.shape == (1, 2)
    assert q.codes[0, 0] == (0x9 | (1 << 4))  # -7 = 0b1001 in the low nibble, 1 in the high nibble


# ----------------------------------------------------------------------------
# lookup formats
# ----------------------------------------------------------------------------

#: QLoRA, Appendix E (and bitsandbytes' create_normal_map), copied independently.
QLORA_NF4 = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]


def test_nf4_levels_are_the_qlora_table():
    assert np.max(np.abs(qf.NF4.values.astype(np.float64) - QLORA_NF4)) <= 1e-7
    scipy_stats = pytest.importorskip("scipy.stats")
    # The construction in float64 reproduces the float32-computed table.
    assert np.max(np.abs(qf.quantile_levels(scipy_stats.norm.ppf) - QLORA_NF4)) < 2e-7


@pytest.mark.parametrize("nu", [5.0, 3.0, 30.0])
def test_sf4_levels(nu):
    scipy_stats = pytest.importorskip("scipy.stats")
    lv = qf.sf4_levels(nu)
    assert np.all(np.diff(lv) > 0)
    assert lv[0] == -1 and lv[-1] == 1 and np.count_nonzero(lv == 0) == 1
    # 16 levels cannot hold 0 and be symmetric: like NF4, 7 negative and 8 positive levels, ends +-1.
    assert np.count_nonzero(lv < 0) == 7 and np.count_nonzero(lv > 0) == 8
    # A direct construction with scipy.stats.t.ppf.
    p_pos = np.linspace(0.9677083, 0.5, 9)[:-1]
    p_neg = np.linspace(0.9677083, 0.5, 8)[:-1]
    top = scipy_stats.t.ppf(0.9677083, nu)
    want = np.sort(np.concatenate([scipy_stats.t.ppf(p_pos, nu), [0.0], scipy_stats.t.ppf(1 - p_neg, nu)])) / top
    assert np.max(np.abs(lv - want)) < 1e-12
    # Heavier tails than the normal: inner levels sit closer to 0 than NF4's.
    assert np.all(np.abs(lv[6:10]) <= np.abs(np.asarray(QLORA_NF4)[6:10]) + 1e-12)


def test_sf4_tends_to_nf4_for_large_nu():
    pytest.importorskip("scipy.stats")
    assert np.max(np.abs(qf.sf4_levels(1e7) - QLORA_NF4)) < 1e-5


def test_apot4_levels():
    v = qf.APOT4.values
    assert v[:8].tolist() == pytest.approx([0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0])
    assert np.array_equal(v[9:], -v[1:8])
    # -0 (code 8) is never produced; ties go to the even code (0.5 is between 0.4 = code 4 and 0.6 = code 5).
    codes = qf.APOT4.encode(np.array([-0.0, -1e-9, 0.05, 0.5, -0.5, 2.0, -2.0], np.float32))
    assert codes.tolist() == [0, 0, 0, 4, 12, 7, 15]


def test_e2m1_supernormal():
    s = qf.E2M1S
    assert s.values[8] == -8 and np.array_equal(np.delete(s.values, 8), np.delete(qf.E2M1.values, 8))
    # -7 ties between -6 (0b1111) and -8 (0b1000): the even code; -0 is +0.
    assert s.encode(np.array([-7.0, -0.0, -9.0, 7.0, 100.0], np.float32)).tolist() == [8, 0, 8, 7, 7]
    fmt = qf.parse_format("e2m1s:g32")
    rng = np.random.default_rng(6)
    w = rng.standard_normal((2, 64)).astype(np.float32)
    w[0, 3] = 9.0  # largest magnitude positive -> negative scale
    w[1, 40] = -9.0
    codes, scales, _ = fmt.encode(w)
    assert scales[0, 0] < 0 and scales[1, 1] > 0
    got = fmt.decode(codes, scales, None, w.shape)
    assert got[0, 3] == 9.0 and got[1, 40] == -9.0
    # Every block's largest-magnitude weight is reconstructed exactly.
    blocks = np.abs(w).reshape(2, 2, 32).argmax(-1)
    for r in range(2):
        for b in range(2):
            assert got[r, 32 * b + blocks[r, b]] == w[r, 32 * b + blocks[r, b]]


def test_nearest_code_is_nearest_with_even_ties():
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.2, 1.2, 5000).astype(np.float32)
    codes = qf.NF4.encode(x)
    brute = np.argmin(np.abs(x[:, None].astype(np.float64) - qf.NF4.values.astype(np.float64)), axis=1)
    assert np.array_equal(codes, brute)
    v = qf.NF4.values.astype(np.float64)
    mids = ((v[:-1] + v[1:]) / 2).astype(np.float32)
    exact = mids.astype(np.float64) == (v[:-1] + v[1:]) / 2
    got = qf.NF4.encode(mids[exact])
    lower = np.flatnonzero(exact)
    assert np.array_equal(got, np.where(lower % 2 == 0, lower, lower + 1))


# ----------------------------------------------------------------------------
# logarithmic posits
# ----------------------------------------------------------------------------

LP_PARAMS = [
    (4, 1, 2, 0.0),
    (4, 0, 3, 0.0),
    (4, 1, 3, 0.0),
    (5, 1, 2, 1.5),
    (6, 2, 3, -2.0),
    (8, 1, 7, 0.0),
    (8, 0, 3, 0.0),
    (3, 0, 2, 0.0),
]


@pytest.mark.parametrize("n,es,rs,sf", LP_PARAMS)
def test_logposit_monotonic_and_round_trip(n, es, rs, sf):
    lp = qf.logposit(n, es, rs, sf)
    v = lp.values.astype(np.float64)
    half = 2 ** (n - 1)
    assert v[0] == 0 and np.isnan(v[half])
    assert np.all(np.diff(v[1:half]) > 0), "positive codes increase"
    signed = np.r_[np.arange(half + 1, 2**n), np.arange(0, half)]  # codes in signed-integer order, NaR left out
    assert np.all(np.diff(v[signed]) > 0), "two's complement order"
    assert np.array_equal(v[2**n - np.arange(1, half)], -v[1:half]), "negation is two's complement"
    codes = np.arange(2**n)
    assert np.array_equal(lp.encode(lp.values), codes)  # NaR included: NaN encodes to NaR
    # Between two neighbours: nearest, the midpoint to the even code; beyond maxpos saturates.
    mids = (v[signed][:-1] + v[signed][1:]) / 2
    got = lp.encode(mids)
    lo, hi = signed[:-1], signed[1:]
    assert np.array_equal(got, np.where(lo % 2 == 0, lo, hi))
    assert lp.encode(np.array([np.inf, -np.inf, 1e30])).tolist() == [half - 1, half + 1, half - 1]


def test_logposit_value_set_by_hand():
    # LP(4, es=1, rs=2, sf=0), positive codes after the sign bit:
    # 001: run of two 0s (capped), k=-2, e=1 -> 2^-3;  010: k=-1, e=0 -> 2^-2;  011: 2^-1
    # 100: k=0, e=0 -> 1;  101: 2;  110: run of two 1s, k=1, e=0 -> 4;  111: 8
    assert qf.logposit(4, 1, 2, 0).values[:8].tolist() == [0, 0.125, 0.25, 0.5, 1, 2, 4, 8]
    # es=0, rs=3: one fraction bit where the regime leaves room -> 2^(k + f/2)
    assert qf.logposit(4, 0, 3, 0).values[:8].tolist() == pytest.approx([0, 0.25, 0.5, 2**-0.5, 1, 2**0.5, 2, 4])
    # sf shifts the whole set: 2^-sf
    assert qf.logposit(4, 1, 2, 1.0).values[4] == 0.5


# ----------------------------------------------------------------------------
# packing
# ----------------------------------------------------------------------------


def test_pack_bit_order():
    assert qf.pack_nibbles(np.array([1, 2, 3], np.uint8)).tolist() == [0x21, 0x03]
    assert qf.unpack_nibbles(np.array([0x21, 0x03], np.uint8), 3).tolist() == [1, 2, 3]


@pytest.mark.parametrize("n", [1, 2, 7, 64, 129])
def test_pack_round_trip(n):
    rng = np.random.default_rng(n)
    c = rng.integers(0, 16, (3, n)).astype(np.uint8)
    p = qf.pack_nibbles(c, axis=1)
    assert p.shape == (3, (n + 1) // 2) and p.dtype == np.uint8
    assert np.array_equal(qf.unpack_nibbles(p, n, axis=1), c)
    assert np.array_equal(qf.unpack_nibbles(qf.pack_nibbles(c.T, axis=0), n, axis=0), c.T)


def test_pack_rejects_bad_input():
    with pytest.raises(ValueError, match="0..15"):
        qf.pack_nibbles(np.array([16]))
    with pytest.raises(ValueError, match="bytes"):
        qf.unpack_nibbles(np.zeros(3, np.uint8), 3)


# ----------------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------------

SPECS = {
    "nf4:g64": "nf4:g64",
    "int8:channel": "int8:channel",
    "int4:g128:asym": "int4:g128:asym",
    "sf4:g128": "sf4:nu=5:g128",
    "sf4:nu=5:g128": "sf4:nu=5:g128",
    "mxfp4": "mxfp4",
    "fp8_e4m3": "fp8_e4m3:tensor",
    "fp8_e5m2:channel": "fp8_e5m2:channel",
    "e2m1:g32": "e2m1:g32",
    "e2m1s:g32": "e2m1s:g32",
    "apot4:g128": "apot4:g128",
    "lp:n=4,es=1,rs=2,sf=0:g128": "lp:n=4,es=1,rs=2,sf=0:g128",
    "lp:es=0": "lp:n=4,es=0,rs=3,sf=0:g64",
    "int4": "int4:g128",
    "INT4:asym:g32": "int4:g32:asym",
}


@pytest.mark.parametrize("spec", SPECS)
def test_specs_parse_and_round_trip(spec):
    fmt = qf.parse_format(spec)
    assert fmt.spec == SPECS[spec]
    assert qf.parse_format(fmt.spec).spec == fmt.spec
    rng = np.random.default_rng(8)
    w = rng.standard_normal((5, 100)).astype(np.float32)  # 100 is not a multiple of the group
    q = fmt.quantize(w)
    assert q.codes.dtype == np.uint8 and q.codes.shape == (5, 50 if fmt.bits <= 4 else 100)
    got = qf.dequantize(q)
    assert got.dtype == np.float32 and got.shape == w.shape
    rel = np.linalg.norm(got - w) / np.linalg.norm(w)
    assert rel < {"int8": 0.02, "fp8_e4m3": 0.04, "fp8_e5m2": 0.08}.get(fmt.name, 0.35), rel


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ("nf5:g64", "unknown format 'nf5'"),
        ("nf4:g63", "'g63'"),
        ("nf4:g8192", "'g8192'"),
        ("nf4:asym", "'asym'"),
        ("nf4:g64:channel", "granularity given twice"),
        ("nf4:blocky", "unknown part 'blocky'"),
        ("sf4:mu=3", "unknown parameter 'mu'"),
        ("sf4:nu=-1", "nu=-1"),
        ("sf4:nu=abc", "'nu=abc'"),
        ("lp:n=4,es=1,rs=4", "rs=4"),
        ("lp:n=9", "n=9"),
        ("lp:n=4,n=5", "'n=5'"),
        ("mxfp4:g64", "g64"),
        ("mxfp4:channel", "'channel'"),
        ("e2m1s:none", "'none'"),
        ("int8:asym:sym", "twice"),
        ("", "expected a string"),
    ],
)
def test_bad_specs_name_the_bad_part(spec, fragment):
    with pytest.raises(ValueError) as e:
        qf.parse_format(spec)
    assert fragment in str(e.value)
    assert str(e.value).startswith(f"quant spec {spec!r}") or spec == ""


def test_quantize_refuses_non_finite_weights():
    w = np.zeros((3, 4), np.float32)
    w[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf \(first at index \[2, 1\]\)"):
        qf.parse_format("nf4:g64").quantize(w)


def test_shapes_and_granularities():
    rng = np.random.default_rng(9)
    w = rng.standard_normal((4, 3, 20)).astype(np.float32)  # seen as [4, 60]
    for spec, scale_shape in [("int8:tensor", (1, 1)), ("int8:channel", (4, 1)), ("int8:g32", (4, 2))]:
        q = qf.parse_format(spec).quantize(w)
        assert q.scales.shape == scale_shape and q.codes.shape == (4, 60)
        assert qf.dequantize(q).shape == w.shape
    q = qf.parse_format("nf4:g8").quantize(rng.standard_normal(17).astype(np.float32))
    assert q.codes.shape == (1, 9) and q.scales.shape == (1, 3)
    q = qf.parse_format("fp8_e4m3:none").quantize(np.array([[1000.0, 0.1]], np.float32))
    assert q.scales is None and qf.dequantize(q).tolist() == [[448.0, np.float32(0.1015625)]]


# ----------------------------------------------------------------------------
# outlier-aware mixed precision
# ----------------------------------------------------------------------------


def test_outliers_kept_in_float32():
    rng = np.random.default_rng(10)
    w = rng.standard_normal((32, 256)).astype(np.float32)
    hot = np.array([3, 77, 200])
    w[:, hot] *= 50
    q = qf.quantize_with_outliers(w, 3)
    assert q.channels.tolist() == hot.tolist()
    got = qf.dequantize_with_outliers(q)
    assert np.array_equal(got[:, hot], w[:, hot])
    rest = np.setdiff1d(np.arange(256), hot)
    assert np.array_equal(got[:, rest], qf.parse_format("int4:g128").roundtrip(w[:, rest]))
    plain = qf.parse_format("int4:g128").roundtrip(w)
    assert np.mean((got - w) ** 2) < np.mean((plain - w) ** 2) / 10


def test_outliers_follow_activations_when_given():
    rng = np.random.default_rng(11)
    w = rng.standard_normal((8, 64)).astype(np.float32)
    act = np.ones(64)
    act[[5, 9]] = 100
    q = qf.quantize_with_outliers(w, 2, act_magnitude=act, spec="int4:g32")
    assert q.channels.tolist() == [5, 9] and q.base.spec == "int4:g32"
    none_kept = qf.dequantize_with_outliers(qf.quantize_with_outliers(w, 0))
    assert np.array_equal(none_kept, qf.parse_format("int4:g128").roundtrip(w))
    with pytest.raises(ValueError, match="k=64"):
        qf.quantize_with_outliers(w, 64)


# ----------------------------------------------------------------------------
# the claims docs/quant_formats.md makes about the error table
# ----------------------------------------------------------------------------


def mse(spec: str, w: np.ndarray) -> float:
    return float(np.mean((qf.parse_format(spec).roundtrip(w) - w) ** 2))


@pytest.fixture(scope="module")
def t5_weights() -> np.ndarray:
    return np.random.default_rng(12).standard_t(5, (512, 512)).astype(np.float32)


@pytest.fixture(scope="module")
def gaussian_weights() -> np.ndarray:
    return np.random.default_rng(13).standard_normal((512, 512)).astype(np.float32)


@pytest.mark.parametrize("granularity", ["g128", "g256", "channel"])
def test_sf4_beats_nf4_on_t5_weights_at_large_groups(t5_weights, granularity):
    assert mse(f"sf4:{granularity}", t5_weights) < 0.97 * mse(f"nf4:{granularity}", t5_weights)


def test_nf4_beats_sf4_on_gaussian_weights(gaussian_weights):
    assert mse("nf4:g64", gaussian_weights) < 0.9 * mse("sf4:g64", gaussian_weights)


def test_supernormal_helps_e2m1_on_t5_weights(t5_weights):
    assert mse("e2m1s:g32", t5_weights) < 0.97 * mse("e2m1:g32", t5_weights)


def test_mx_power_of_two_scale_costs_accuracy(t5_weights, gaussian_weights):
    for w in (t5_weights, gaussian_weights):
        assert mse("mxfp4", w) > 1.2 * mse("e2m1:g32", w)
