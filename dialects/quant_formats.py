"""
Number formats of the `quant` dialect: exact numpy reference encoders and decoders.

Every format here is data: an *element format* (what each code means) plus a
*scaling rule* (how a block of weights picks its scale) plus a *granularity*
(which weights share a scale). `parse_format("nf4:g64")` builds one from a spec
string; `fmt.quantize(w)` gives a `QuantizedTensor` (packed codes, scales, zero
points) and `fmt.dequantize(q)` the float32 weights back. The compiler's
kernels must reproduce `dequantize` bit for bit; this module is their oracle.

Element formats (codes are uint8; a code's value is `fmt.element.values[code]`):

| name      | values                                                      | encoder          |
| --------- | ----------------------------------------------------------- | ---------------- |
| int8/int4 | two's complement in +-(2^(b-1)-1); asym: 0..2^b-1 and a zero point | half to even, saturate |
| nf4       | the 16 QLoRA NormalFloat levels, `NF4_LEVELS`               | nearest, ties to even code |
| sf4       | 16 Student's-t levels (nu=5 by default), `sf4_levels(nu)`   | nearest, ties to even code |
| apot4     | +-{0, .1, .2, .3, .4, .6, .8, 1} (APoT, sign-magnitude)      | nearest, ties to even code |
| e2m1      | OCP FP4: +-{0, .5, 1, 1.5, 2, 3, 4, 6}                       | round to nearest even, saturate |
| e2m1s     | e2m1 with the -0 code (0b1000) meaning -8 ("supernormal")  | nearest, ties to even code |
| fp8_e4m3  | OCP E4M3FN: no Inf, NaN = 0x7f/0xff, max 448                | round to nearest even, saturate |
| fp8_e5m2  | OCP E5M2 (IEEE-like): Inf 0x7c/0xfc, max 57344              | round to nearest even, saturate |
| lp        | logarithmic posits LP(n, es, rs, sf)                        | nearest, ties to even code |

Scaling rules: absmax (`scale = amax / max element value`, NF4's "absmax per
block"), min-max with an integer zero point (int `asym`), the OCP MX
power-of-two E8M0 scale (mxfp4), a signed absmax that puts each block's
largest-magnitude weight on the supernormal -8 (e2m1s), or none.

Conventions that hold for every format:

- Rounding is to the nearest representable value; an exact tie goes to the
  even code (for integers and mini-floats that is IEEE round-half-to-even).
  Weights are divided by their scale in float32 (`x / s`, one IEEE rounding),
  and the rounding decision is then exact (float64 arithmetic on float32 data).
- Out of range values saturate to the largest magnitude of their sign.
- `quantize` refuses weights that hold NaN or +-Inf (ValueError naming the
  first bad index). The element-level `encode` functions follow each format's
  own rules instead (documented on each).
- Scales are float32, one per block, except MXFP4's E8M0 codes (uint8). An
  all-zero block gets scale 0 (no division by zero; it decodes to zeros).
- Decoding computes `(value[code] - zero_point) * scale` exactly and rounds
  once to float32.
- Layout: a weight of shape [out, in, ...] is seen as a matrix
  [out, in * ...] (1-D as [1, n]). `channel` = one scale per row (axis 0),
  `gN` = one scale per N consecutive elements of a row (the input dim; a
  short last group is padded with zeros, which changes no scale), `tensor` =
  one scale. Sub-byte codes are packed two per byte along each row
  (`pack_nibbles`: element 2i in the low nibble of byte i, 2i+1 in the high
  nibble; an odd row ends in a zero high nibble); scales and zero points have
  shape [rows, blocks] in their own arrays.

Spec strings: `name[:part]...` where a part is a granularity (`tensor`,
`channel`, `none`, `g32`...), `sym`/`asym` (integers), or `key=value[,...]`
parameters (`sf4:nu=5`, `lp:n=4,es=1,rs=2,sf=0`). See `parse_format`.
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = [
    "APOT4",
    "APOT4_LEVELS",
    "E2M1",
    "E2M1S",
    "E4M3",
    "E5M2",
    "NF4",
    "NF4_LEVELS",
    "SF4_NU5_LEVELS",
    "Integer",
    "Lookup",
    "Minifloat",
    "OutlierQuantized",
    "QuantFormat",
    "QuantizedTensor",
    "decode_e8m0",
    "dequantize",
    "dequantize_with_outliers",
    "encode_e8m0",
    "logposit",
    "nearest_code",
    "pack_nibbles",
    "parse_format",
    "quantile_levels",
    "quantize_with_outliers",
    "sf4",
    "sf4_levels",
    "unpack_nibbles",
]


# ----------------------------------------------------------------------------
# packing
# ----------------------------------------------------------------------------


def pack_nibbles(codes: np.ndarray, axis: int = -1) -> np.ndarray:
    """Packs 4-bit codes two per byte along `axis`.

    Element 2i goes to the low nibble of byte i and element 2i+1 to its high
    nibble; an odd length leaves the last byte's high nibble 0. The result
    has length ceil(n / 2) along `axis`.
    """
    c = np.asarray(codes)
    if c.dtype.kind not in "ui":
        raise TypeError(f"pack_nibbles: expected integer codes, got {c.dtype}")
    if c.size and (c.min() < 0 or c.max() > 15):
        raise ValueError("pack_nibbles: codes must lie in 0..15")
    c = np.moveaxis(c.astype(np.uint8), axis, -1)
    if c.shape[-1] % 2:
        c = np.concatenate([c, np.zeros(c.shape[:-1] + (1,), np.uint8)], axis=-1)
    packed = c[..., 0::2] | (c[..., 1::2] << 4)
    return np.moveaxis(packed, -1, axis)


def unpack_nibbles(packed: np.ndarray, n: int, axis: int = -1) -> np.ndarray:
    """Inverse of `pack_nibbles`: the first `n` 4-bit codes along `axis`."""
    p = np.moveaxis(np.asarray(packed), axis, -1)
    if p.dtype != np.uint8:
        raise TypeError(f"unpack_nibbles: expected uint8 bytes, got {p.dtype}")
    if p.shape[-1] != (n + 1) // 2:
        raise ValueError(f"unpack_nibbles: {n} codes need {(n + 1) // 2} bytes, got {p.shape[-1]}")
    out = np.empty(p.shape[:-1] + (2 * p.shape[-1],), np.uint8)
    out[..., 0::2] = p & 0x0F
    out[..., 1::2] = p >> 4
    return np.moveaxis(out[..., :n], -1, axis)


# ----------------------------------------------------------------------------
# rounding to a value table
# ----------------------------------------------------------------------------


def nearest_code(x: np.ndarray, values: np.ndarray, codes: Sequence[int] | None = None) -> np.ndarray:
    """The code whose value is nearest to each x; an exact tie goes to the even code.

    `values[c]` is the value of code c; `codes` lists the codes the encoder may
    produce (default: every code whose value is not NaN; values must be
    distinct among them). Below the smallest or above the largest value, x
    saturates to it (so +-Inf does too). NaN inputs are the caller's business:
    they come out as an arbitrary code.
    """
    values = np.asarray(values, np.float64)
    if codes is None:
        codes = np.flatnonzero(~np.isnan(values))
    codes = np.asarray(codes, np.int64)
    order = np.argsort(values[codes], kind="stable")
    sv, sc = values[codes][order], codes[order]
    if np.any(np.diff(sv) <= 0):
        raise ValueError("nearest_code: the candidate values must be distinct")
    # Midpoints of float32 neighbours are exact in float64, so ties are exact.
    mid = (sv[:-1] + sv[1:]) / 2
    v = np.asarray(x, np.float64)
    i = np.searchsorted(mid, v, side="left")  # number of midpoints strictly below v
    i_c = np.minimum(i, len(mid) - 1)
    tie = (i < len(mid)) & (v == mid[i_c])
    # On a tie between sc[i] and sc[i+1], take the even one.
    up = tie & (sc[np.minimum(i + 1, len(sc) - 1)] % 2 == 0)
    return sc[np.where(up, i + 1, i)].astype(np.uint8)


# ----------------------------------------------------------------------------
# element formats
# ----------------------------------------------------------------------------


def _no_nan(name: str, nan: np.ndarray) -> ValueError:
    first = int(np.flatnonzero(nan.ravel())[0])
    return ValueError(f"{name} has no NaN: cannot encode NaN (first at flat index {first})")


class Element(abc.ABC):
    """What each code of a format means, and how a (scaled) value becomes a code."""

    name: str
    bits: int

    @cached_property
    @abc.abstractmethod
    def values(self) -> np.ndarray:
        """float32 value of every code, indexed by code (NaN where the code is NaN)."""

    @cached_property
    def max_value(self) -> float:
        """The largest finite magnitude, which absmax scaling maps a block's amax to."""
        return float(np.nanmax(np.abs(self.values)))

    @abc.abstractmethod
    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes (uint8) for already-scaled values x: nearest, ties to even, saturating."""

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """float32 values of codes."""
        return self.values[np.asarray(codes, np.uint8)]


@dataclass(frozen=True, eq=False)
class Integer(Element):
    """b-bit integers: signed two's complement clipped to +-(2^(b-1)-1), or unsigned 0..2^b-1.

    The signed form is symmetric: the most negative code (-2^(b-1)) is never
    produced, though it decodes. Rounding is half to even (np.rint).
    """

    bits: int
    signed: bool

    @property
    def name(self) -> str:
        return f"{'s' if self.signed else 'u'}int{self.bits}"

    @property
    def qmin(self) -> int:
        return -(2 ** (self.bits - 1) - 1) if self.signed else 0

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    @cached_property
    def values(self) -> np.ndarray:
        c = np.arange(2**self.bits)
        if self.signed:
            c = np.where(c >= 2 ** (self.bits - 1), c - 2**self.bits, c)
        return c.astype(np.float32)

    @cached_property
    def max_value(self) -> float:
        return float(self.qmax)

    def encode(self, x: np.ndarray) -> np.ndarray:
        q = np.clip(np.rint(np.asarray(x, np.float64)), self.qmin, self.qmax).astype(np.int64)
        return (q & (2**self.bits - 1)).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class Minifloat(Element):
    """A small binary floating-point format: sign, `ebits` exponent bits (bias), `mbits` mantissa bits.

    `specials` says what the top exponent means:
    - "ieee": the top exponent field is Inf (mantissa 0) and NaN (else), as in E5M2;
    - "fn":   only the all-ones code S.1..1.1..1 is NaN, no Inf, as in E4M3FN;
    - "none": every code is a finite number, as in E2M1.
    Exponent field 0 holds zero and the subnormals.
    """

    name: str
    ebits: int
    mbits: int
    bias: int
    specials: str

    @property
    def bits(self) -> int:
        return 1 + self.ebits + self.mbits

    @cached_property
    def values(self) -> np.ndarray:
        c = np.arange(2**self.bits)
        sign = np.where(c >> (self.bits - 1), -1.0, 1.0)
        e = (c >> self.mbits) & (2**self.ebits - 1)
        m = c & (2**self.mbits - 1)
        mag = np.where(
            e == 0,
            np.ldexp(m.astype(np.float64), 1 - self.bias - self.mbits),
            np.ldexp(1.0 + m / 2**self.mbits, e - self.bias),
        )
        top = e == 2**self.ebits - 1
        if self.specials == "ieee":
            mag = np.where(top, np.where(m == 0, np.inf, np.nan), mag)
        elif self.specials == "fn":
            mag = np.where(top & (m == 2**self.mbits - 1), np.nan, mag)
        return (sign * mag).astype(np.float32)

    @cached_property
    def max_value(self) -> float:
        v = self.values.astype(np.float64)
        return float(np.max(v[np.isfinite(v)]))

    @cached_property
    def _max_code(self) -> int:
        v = self.values.astype(np.float64)
        return int(np.flatnonzero(v == self.max_value)[0])

    def encode(self, x: np.ndarray, saturate: bool = True) -> np.ndarray:
        """Codes for x, rounded to nearest with ties to even mantissa (= even code).

        The sign of zero is kept (-0.0 -> the -0 code). Finite values beyond
        the largest finite value: saturate=True gives +-max; saturate=False
        gives what an IEEE-style cast does: Inf for "ieee" formats, NaN for
        "fn" formats ("none" formats always saturate). +-Inf: Inf in "ieee"
        formats; +-max ("fn" with saturate=True, and "none"), NaN ("fn" with
        saturate=False). NaN: the canonical quiet NaN with the input's sign
        bit (0x7e/0xfe for E5M2, 0x7f/0xff for E4M3FN); a ValueError for
        formats without NaN (E2M1).

        With saturate=False this is bit-identical to ml_dtypes' casts from
        float32; with saturate=True only overflow and Inf differ, as described.
        """
        with np.errstate(invalid="ignore"):  # signalling NaNs widen quietly
            x64 = np.asarray(x, np.float64)
        neg = np.signbit(x64)
        a = np.abs(x64)
        nan = np.isnan(a)
        inf = np.isinf(a)
        if nan.any() and self.specials == "none":
            raise _no_nan(self.name, nan)
        af = np.where(nan | inf, 0.0, a)
        emin = 1 - self.bias  # exponent of the smallest normal
        _, e = np.frexp(af)  # af = f * 2**e with f in [0.5, 1)
        e = np.maximum(e - 1, emin)
        quantum = np.ldexp(1.0, e - self.mbits)
        r = np.rint(af / quantum) * quantum  # exact: a power-of-two rescale and an integer
        _, er = np.frexp(r)
        er = er - 1
        sub = r < 2.0**emin
        ef = np.where(sub, 0, er + self.bias)
        mf = np.where(sub, r / 2.0 ** (emin - self.mbits), (np.ldexp(r, -er) - 1.0) * 2**self.mbits)
        over = r > self.max_value
        ef = np.where(over, 0, ef)
        mag = (ef.astype(np.int64) << self.mbits) | np.where(over, 0, mf).astype(np.int64)
        top = 2**self.ebits - 1
        inf_code = top << self.mbits
        nan_code = (top << self.mbits) | (2 ** (self.mbits - 1) if self.specials == "ieee" else 2**self.mbits - 1)
        if self.specials == "ieee":
            mag = np.where(over, self._max_code if saturate else inf_code, mag)
            mag = np.where(inf, inf_code, mag)
        elif self.specials == "fn":
            mag = np.where(over | inf, self._max_code if saturate else nan_code, mag)
        else:
            mag = np.where(over | inf, self._max_code, mag)
        mag = np.where(nan, nan_code, mag)
        return (mag | (neg.astype(np.int64) << (self.bits - 1))).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class Lookup(Element):
    """A format given by its value table: code c means table[c].

    `canonical` lists the codes the encoder produces (a duplicate value such
    as -0 is left out; NaN codes are never candidates). `nan_code`, if any, is
    what NaN encodes to; without one NaN raises. Encoding picks the nearest
    value, ties to the even code, and saturates (+-Inf too).
    """

    name: str
    bits: int
    table: tuple[float, ...]
    canonical: tuple[int, ...] | None = None
    nan_code: int | None = None

    @cached_property
    def values(self) -> np.ndarray:
        return np.asarray(self.table, np.float64).astype(np.float32)

    @cached_property
    def _codes(self) -> np.ndarray:
        if self.canonical is not None:
            return np.asarray(self.canonical, np.int64)
        return np.flatnonzero(~np.isnan(self.values))

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        codes = nearest_code(x, self.values, self._codes)
        nan = np.isnan(x)
        if nan.any():
            if self.nan_code is None:
                raise _no_nan(self.name, nan)
            codes = np.where(nan, np.uint8(self.nan_code), codes)
        return codes


# --- mini-floats --------------------------------------------------------------

#: OCP 8-bit float E4M3FN: bias 7, no Inf, NaN = S.1111.111, max 448.
E4M3 = Minifloat("fp8_e4m3", 4, 3, 7, "fn")
#: OCP 8-bit float E5M2: bias 15, IEEE Inf/NaN, max 57344.
E5M2 = Minifloat("fp8_e5m2", 5, 2, 15, "ieee")
#: OCP FP4 E2M1 (the MX element type): bias 1, no Inf/NaN, values +-{0, .5, 1, 1.5, 2, 3, 4, 6}.
E2M1 = Minifloat("e2m1", 2, 1, 1, "none")

#: E2M1 with supernormal support: E2M1's codes, except that 0b1000 (-0, a
#: second zero) means -8. 8 is the next value up E2M1's ladder (4, 6, then the
#: next binade starts at 2^3), i.e. a value beyond the largest normal, hence
#: "supernormal" (Dotzel et al., "Learning from Students: Applying
#: t-Distributions to Explore Accurate and Efficient Formats for LLMs", ICML
#: 2024, reclaim the redundant -0 this way). The code keeps its sign bit, so
#: the extra value is -8; `e2m1s` scaling makes it serve either tail by giving
#: a block a negative scale when its largest-magnitude weight is positive.
E2M1S = Lookup(
    "e2m1s",
    4,
    tuple(float(v) for v in E2M1.values[:8]) + (-8.0,) + tuple(float(v) for v in E2M1.values[9:]),
)


# --- E8M0 (MX scales) ----------------------------------------------------------


def decode_e8m0(codes: np.ndarray) -> np.ndarray:
    """OCP E8M0 scale codes -> float32: 2^(c - 127); 0xFF is NaN. (No sign, no zero.)"""
    c = np.asarray(codes, np.uint8).astype(np.int64)
    return np.where(c == 255, np.nan, np.ldexp(1.0, c - 127)).astype(np.float32)


def encode_e8m0(x: np.ndarray) -> np.ndarray:
    """float -> E8M0 codes: the nearest power of two 2^-127..2^127 (ties, i.e. mantissa 1.5, round up).

    NaN, +-Inf, zero, negatives, and values that round above 2^127 give 0xFF
    (NaN), as ml_dtypes does. Positive values below 2^-127 give code 0
    (2^-127, the smallest value); ml_dtypes agrees for float32 normals and
    2^-127 itself but maps some float32 subnormals above 2^-127 (e.g.
    1.4 * 2^-127) to 2^-126, which is not the nearest.
    """
    x64 = np.asarray(x, np.float64)
    ok = np.isfinite(x64) & (x64 > 0)
    xs = np.where(ok, x64, 1.0)
    _, e = np.frexp(xs)
    e = e - 1  # xs = m * 2**e with m in [1, 2)
    e = e + (np.rint(np.ldexp(xs, -e)) == 2)
    code = np.clip(e + 127, 0, 255)
    return np.where(ok & (e <= 127), code, 255).astype(np.uint8)


# --- lookup formats -------------------------------------------------------------

#: QLoRA's NF4 levels, code c -> NF4_LEVELS[c]: Dettmers et al., "QLoRA:
#: Efficient Finetuning of Quantized LLMs" (2023), Appendix E; identical to
#: bitsandbytes' `create_normal_map(offset=0.9677083)` computed in float32
#: (`quantile_levels` of the normal distribution reproduces them to 1.1e-7).
NF4_LEVELS = (
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
)

#: `quantile_levels(scipy.stats.t(5).ppf)` in float64, kept here so the default
#: SF4 needs no scipy at run time (a test checks it against scipy).
SF4_NU5_LEVELS = (
    -1.0,
    -0.627780676322128,
    -0.45473609921101954,
    -0.3343308319744502,
    -0.23743444376764317,
    -0.1528987497493392,
    -0.07498248544384259,
    0.0,
    0.06551309160726367,
    0.13296476353060568,
    0.20466107422321195,
    0.2838347790205141,
    0.3758049337104853,
    0.4910756863748391,
    0.6567812710946804,
    1.0,
)

#: The offset QLoRA uses: the mean of 1 - 1/(2*15) and 1 - 1/(2*16), so the
#: outermost quantile is finite.
QUANTILE_OFFSET = 0.9677083


def quantile_levels(ppf: Callable[[np.ndarray], np.ndarray], offset: float = QUANTILE_OFFSET) -> np.ndarray:
    """16 levels in [-1, 1] from a symmetric distribution's quantile function, as QLoRA builds NF4.

    8 positive levels ppf(p) for p = linspace(offset, 0.5, 9) without its last
    point, 7 negative levels -ppf(p) for p = linspace(offset, 0.5, 8) without
    its last point, and an exact 0; all divided by ppf(offset), so the ends
    are exactly -1 and +1. Because 16 levels cannot hold 0 and be symmetric,
    the set is asymmetric (8 positive, 7 negative), like NF4.
    """
    pos = ppf(np.linspace(offset, 0.5, 9)[:-1])
    neg = -ppf(np.linspace(offset, 0.5, 8)[:-1])
    v = np.sort(np.concatenate([pos, [0.0], neg]))
    return v / v.max()


def sf4_levels(nu: float = 5.0) -> np.ndarray:
    """Student Float (SF4) levels: `quantile_levels` of Student's t with nu degrees of freedom.

    Dotzel et al., "Learning from Students: Applying t-Distributions to
    Explore Accurate and Efficient Formats for LLMs" (ICML 2024): NF4's
    construction with the normal quantile function replaced by
    scipy.stats.t(nu).ppf, computed in float64. nu=5 is precomputed
    (`SF4_NU5_LEVELS`); other nu need scipy.
    """
    if nu == 5.0:
        return np.asarray(SF4_NU5_LEVELS)
    try:
        from scipy.stats import t
    except ImportError as e:  # pragma: no cover - scipy ships with the test extras
        raise ValueError(f"SF4 with nu={nu:g} needs scipy (pip install scipy); nu=5 works without it") from e
    return quantile_levels(lambda p: t.ppf(p, nu))


def sf4(nu: float = 5.0) -> Lookup:
    """The SF4 element format for nu degrees of freedom (codes in level order, like NF4)."""
    return Lookup(f"sf4(nu={nu:g})", 4, tuple(float(v) for v in sf4_levels(nu)))


#: NF4: code c -> NF4_LEVELS[c] (bitsandbytes' code order).
NF4 = Lookup("nf4", 4, NF4_LEVELS)

#: APoT 4-bit weight magnitudes: Li, Dong, Wang, "Additive Powers-of-Two
#: Quantization: An Efficient Non-uniform Discretization for Neural Networks"
#: (ICLR 2020). For 4-bit weights the reference code uses 1 sign bit and the
#: 3-bit additive set {a + b : a in {0, 2^-1, 2^-2, 2^-4}, b in {0, 2^-3}} =
#: {0, 1/16, 1/8, 3/16, 1/4, 3/8, 1/2, 5/8}, normalised by its max 5/8:
APOT4_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)
#: APoT4 codes are sign-magnitude: bit 3 the sign, bits 0-2 index APOT4_LEVELS.
#: Code 0b1000 (-0) decodes to 0 and is never produced.
APOT4 = Lookup(
    "apot4",
    4,
    APOT4_LEVELS + (0.0,) + tuple(-v for v in APOT4_LEVELS[1:]),
    canonical=tuple(c for c in range(16) if c != 8),
)


# --- logarithmic posits ----------------------------------------------------------


def _logposit_value(code: int, n: int, es: int, rs: int, sf: float) -> float:
    """The value of one LP(n, es, rs, sf) code (see `logposit`)."""
    if code == 0:
        return 0.0
    if code == 1 << (n - 1):
        return math.nan
    neg = code >> (n - 1)
    if neg:
        code = (-code) & ((1 << n) - 1)  # two's complement, as posits negate
    bits = [(code >> (n - 2 - i)) & 1 for i in range(n - 1)]
    run = 1
    while run < len(bits) and run < rs and bits[run] == bits[0]:
        run += 1
    pos = run + 1 if run < rs and run < len(bits) else run  # skip the terminating bit
    k = run - 1 if bits[0] else -run
    rest = bits[pos:]
    e_bits, f_bits = rest[:es], rest[es:]
    e = sum(b << (es - 1 - i) for i, b in enumerate(e_bits))  # missing low bits are 0
    f = sum(b << (len(f_bits) - 1 - i) for i, b in enumerate(f_bits)) / 2 ** len(f_bits) if f_bits else 0.0
    mag = 2.0 ** (k * 2**es + e + f - sf)
    return -mag if neg else mag


def logposit(n: int = 4, es: int = 1, rs: int | None = None, sf: float = 0.0) -> Lookup:
    """LP(n, es, rs, sf), the logarithmic posit of Ramachandran et al., "Algorithm-Hardware
    Co-Design of Distribution-Aware Logarithmic-Posit Encodings for Efficient DNN Inference"
    (DAC 2024, arXiv 2403.05465; the LP/LPQ paper).

    An n-bit code is a posit whose fraction is a fixed-point log2 fraction:
    after the sign bit, a regime is a run of m equal bits, capped at rs bits
    (the run ends at the first differing bit, which is consumed, or after rs
    bits, or at the end of the word); k = m - 1 for a run of 1s and -m for a
    run of 0s. Then es exponent bits e (bits cut off by the end of the word
    count as 0, as in posits), then the remaining nf bits a fraction f / 2^nf.

        value = (-1)^s * 2^(k * 2^es + e + f / 2^nf - sf)

    As in the posit standard, 0...0 is zero, 10...0 is NaR (decoded as NaN),
    and a negative value's code is the two's complement of its magnitude's
    code, so values increase with the code read as a signed integer. rs
    defaults to n - 1 (an uncapped regime). Encoding is nearest value in the
    linear domain with ties to the even code; unlike posit arithmetic, tiny
    values may round to 0 (a quantiser wants the nearest value). NaN encodes
    to NaR; beyond +-maxpos (and +-Inf) saturates.

    Here sf only shifts the value set; absmax scaling maps each block onto
    maxpos, so a scaled LP format does not depend on sf (it matters with
    granularity `none`). (The paper's text was checked through a secondary
    summary; the two's complement negation follows the posit standard.)
    """
    rs = n - 1 if rs is None else rs
    if not 2 <= n <= 8:
        raise ValueError(f"LP n={n}: expected 2 <= n <= 8 (codes are stored in bytes)")
    if not 0 <= es <= 4:
        raise ValueError(f"LP es={es}: expected 0 <= es <= 4")
    if not 1 <= rs <= n - 1:
        raise ValueError(f"LP rs={rs}: expected 1 <= rs <= n-1 = {n - 1}")
    table = tuple(_logposit_value(c, n, es, rs, sf) for c in range(2**n))
    lp = Lookup(f"lp(n={n},es={es},rs={rs},sf={sf:g})", n, table, nan_code=1 << (n - 1))
    v = lp.values[~np.isnan(lp.values)]
    if not np.all(np.isfinite(v)) or len(np.unique(v)) != len(v) or np.count_nonzero(v == 0) != 1:
        raise ValueError(f"LP(n={n}, es={es}, rs={rs}, sf={sf:g}): its values do not fit float32 (adjust sf or es)")
    return lp


# ----------------------------------------------------------------------------
# scaling rules
# ----------------------------------------------------------------------------
#
# A rule sees blocks of float32 weights [rows, nblocks, block] and returns the
# float32 scale per block [rows, nblocks], the zero point per block (or None),
# and what is stored for the scale (the float32 scales themselves, or E8M0
# codes).


def _amax(blocks: np.ndarray) -> np.ndarray:
    return np.max(np.abs(blocks), axis=-1) if blocks.shape[-1] else np.zeros(blocks.shape[:-1], np.float32)


def _absmax(blocks: np.ndarray, element: Element):
    scale = (_amax(blocks) / np.float32(element.max_value)).astype(np.float32)
    return scale, None, scale


def _minmax(blocks: np.ndarray, element: Element):
    qmax = np.float32(element.qmax)
    lo = np.minimum(blocks.min(axis=-1), 0).astype(np.float32)
    hi = np.maximum(blocks.max(axis=-1), 0).astype(np.float32)
    scale = ((hi - lo) / qmax).astype(np.float32)
    safe = np.where(scale == 0, np.float32(1), scale)
    zero = np.clip(np.rint(-lo / safe), 0, qmax).astype(np.float32)
    return scale, zero, scale


#: E2M1's largest exponent (6 = 1.5 * 2^2): MX's emax_elem for FP4 elements.
MX_EMAX_ELEM = 2


def _mx(blocks: np.ndarray, element: Element):
    """OCP MX v1.0 conversion: X = 2^(floor(log2(amax)) - emax_elem), stored as E8M0.

    amax / X lies in [4, 8), so weights above 6 * X (up to 8 * X) saturate to
    6 * X: the largest weight of a block may lose up to 25%. The exponent is
    clamped to E8M0's range [-127, 127]; an all-zero block gets 2^-127
    (code 0) and decodes to zeros.
    """
    amax = _amax(blocks).astype(np.float64)
    _, e = np.frexp(np.where(amax > 0, amax, 1.0))
    e = np.where(amax > 0, e - 1 - MX_EMAX_ELEM, -127)
    e = np.clip(e, -127, 127)
    codes = (e + 127).astype(np.uint8)
    return np.ldexp(1.0, e).astype(np.float32), None, codes


def _supernormal(blocks: np.ndarray, element: Element):
    """Signed absmax: the block's largest-magnitude weight lands exactly on -8.

    scale = -w_max / 8, where w_max is the weight of largest magnitude (the
    negative one if both signs reach it), so the scale is negative when w_max
    is positive. Every other weight then lies in [-8, 8] and saturates at +6
    on the other side.
    """
    if blocks.shape[-1] == 0:
        z = np.zeros(blocks.shape[:-1], np.float32)
        return z, None, z
    amax = _amax(blocks)
    # The first position holding -amax, else the first holding +amax.
    is_neg_max = blocks == -amax[..., None]
    has_neg = is_neg_max.any(axis=-1)
    w_max = np.where(has_neg, -amax, amax).astype(np.float32)
    scale = (-w_max / np.float32(-element.values.min())).astype(np.float32)
    scale = np.where(scale == 0, np.float32(0), scale)  # no -0 scales
    return scale, None, scale


def _unit(blocks: np.ndarray, element: Element):
    return np.ones(blocks.shape[:-1], np.float32), None, None


# ----------------------------------------------------------------------------
# quantized tensors and formats
# ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class QuantizedTensor:
    """A quantized weight: codes, scales and zero points in their own arrays.

    codes: uint8 [rows, ceil(cols / 2)] packed nibbles for formats of at most
    4 bits, else [rows, cols] (see the module docstring for rows/cols).
    scales: float32 [rows, blocks] (uint8 E8M0 codes for mxfp4; None for
    granularity `none`). zero_points: float32 integer values [rows, blocks]
    for `asym` integers, else None. spec: the canonical spec string.
    """

    spec: str
    shape: tuple[int, ...]
    codes: np.ndarray
    scales: np.ndarray | None
    zero_points: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of codes, scales and zero points (zero points counted as 1 byte each)."""
        n = self.codes.nbytes
        if self.scales is not None:
            n += self.scales.nbytes
        if self.zero_points is not None:
            n += self.zero_points.size
        return n


@dataclass(frozen=True, eq=False)
class QuantFormat:
    """element + scaling rule + granularity; build one with `parse_format`."""

    name: str
    element: Element
    scaling: Callable
    granularity: str  # "tensor" | "channel" | "group" | "none"
    group: int = 0
    params: str = ""  # canonical "k=v,..." part of the spec, if any
    asym: bool = False

    @property
    def spec(self) -> str:
        parts = [self.name]
        if self.params:
            parts.append(self.params)
        if self.name != "mxfp4":
            parts.append(f"g{self.group}" if self.granularity == "group" else self.granularity)
        if self.asym:
            parts.append("asym")
        return ":".join(parts)

    @property
    def bits(self) -> int:
        return self.element.bits

    def bits_per_weight(self, cols: int = 4096) -> float:
        """Storage bits per weight for rows of `cols` weights, scales and zero points included."""
        if self.granularity == "none":
            return float(self.bits)
        per_block = {"group": self.group, "channel": cols, "tensor": math.inf}[self.granularity]
        scale_bits = 8 if self.scaling is _mx else 32
        return self.bits + (scale_bits + (8 if self.asym else 0)) / per_block

    # --- layout ---------------------------------------------------------------

    @staticmethod
    def _matrix(w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        if w.ndim == 0 or w.size == 0:
            raise ValueError(f"cannot quantize shape {list(w.shape)}: expected a non-empty array of 1 or more dims")
        return w.astype(np.float32, copy=False).reshape(w.shape[0] if w.ndim >= 2 else 1, -1)

    def _blocks(self, m: np.ndarray) -> np.ndarray:
        rows, cols = m.shape
        if self.granularity in ("tensor", "none"):
            return m.reshape(1, 1, rows * cols)
        if self.granularity == "channel":
            return m.reshape(rows, 1, cols)
        g = self.group
        pad = (-cols) % g
        if pad:
            m = np.concatenate([m, np.zeros((rows, pad), np.float32)], axis=1)
        return m.reshape(rows, -1, g)

    def _expand(self, per_block: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """A per-block array [rows', blocks] broadcast to the weights [rows, cols]."""
        if self.granularity in ("tensor", "none"):
            return np.broadcast_to(per_block.reshape(1, 1), (rows, cols))
        if self.granularity == "channel":
            return np.broadcast_to(per_block.reshape(rows, 1), (rows, cols))
        return np.repeat(per_block, self.group, axis=1)[:, :cols]

    # --- encode / decode --------------------------------------------------------

    def encode(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Unpacked codes [rows, cols] (uint8), stored scales, zero points; see `quantize`."""
        m = self._matrix(w)
        bad = ~np.isfinite(m)
        if bad.any():
            i = np.unravel_index(int(np.flatnonzero(bad)[0]), np.asarray(w).shape)
            where = list(map(int, i))
            raise ValueError(f"{self.spec}: cannot quantize weights with NaN or Inf (first at index {where})")
        rows, cols = m.shape
        blocks = self._blocks(m)
        scale, zero, stored = self.scaling(blocks, self.element)
        safe = np.where(scale == 0, np.float32(1), scale)
        v = blocks / safe[..., None]  # float32: one IEEE division per weight
        if zero is not None:
            v = v.astype(np.float64) + zero[..., None]
        codes = self.element.encode(v)
        return codes.reshape(rows, -1)[:, :cols], stored, zero  # row-major blocks, padding dropped

    def decode(
        self, codes: np.ndarray, scales: np.ndarray | None, zero_points: np.ndarray | None, shape: Sequence[int]
    ) -> np.ndarray:
        """float32 weights of `shape` from unpacked codes [rows, cols], stored scales and zero points."""
        codes = np.asarray(codes, np.uint8)
        rows, cols = codes.shape
        v = self.element.decode(codes).astype(np.float64)
        if zero_points is not None:
            v = v - self._expand(np.asarray(zero_points, np.float64), rows, cols)
        if scales is not None:
            s = decode_e8m0(scales) if self.scaling is _mx else np.asarray(scales, np.float32)
            v = v * self._expand(s.astype(np.float64), rows, cols)
        return v.astype(np.float32).reshape(tuple(shape))

    def quantize(self, w: np.ndarray) -> QuantizedTensor:
        """Quantizes w (any float array, at least 1-D) into packed codes and per-block scales."""
        codes, scales, zero = self.encode(w)
        if self.bits <= 4:
            codes = pack_nibbles(codes, axis=1)
        return QuantizedTensor(self.spec, tuple(np.asarray(w).shape), codes, scales, zero)

    def dequantize(self, q: QuantizedTensor) -> np.ndarray:
        """float32 weights of q.shape."""
        if q.spec != self.spec:
            raise ValueError(f"dequantize: tensor is {q.spec!r}, format is {self.spec!r}")
        rows = q.shape[0] if len(q.shape) >= 2 else 1
        cols = math.prod(q.shape) // rows
        codes = unpack_nibbles(q.codes, cols, axis=1) if self.bits <= 4 else q.codes
        return self.decode(codes, q.scales, q.zero_points, q.shape)

    def roundtrip(self, w: np.ndarray) -> np.ndarray:
        """dequantize(quantize(w))."""
        return self.dequantize(self.quantize(w))


def dequantize(q: QuantizedTensor) -> np.ndarray:
    """float32 weights of a QuantizedTensor, whatever its format."""
    return parse_format(q.spec).dequantize(q)


# ----------------------------------------------------------------------------
# the registry: spec strings -> formats
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """One registry entry: how a format name's parameters build its element and scaling."""

    element: Callable[[dict], Element]
    scaling: Callable
    default: str  # default granularity part, e.g. "g64"
    granularities: frozenset = frozenset({"tensor", "channel", "group"})
    params: dict = field(default_factory=dict)  # key -> (type, default)
    asym: Callable[[dict], Element] | None = None  # element for `asym` (integers only)
    param_order: tuple = ()


def _lp_element(p: dict) -> Element:
    return logposit(p["n"], p["es"], p["rs"], p["sf"])


_FORMATS: dict[str, _Kind] = {
    "int8": _Kind(lambda p: Integer(8, True), _absmax, "channel", asym=lambda p: Integer(8, False)),
    "int4": _Kind(lambda p: Integer(4, True), _absmax, "g128", asym=lambda p: Integer(4, False)),
    "nf4": _Kind(lambda p: NF4, _absmax, "g64"),
    "sf4": _Kind(lambda p: sf4(p["nu"]), _absmax, "g64", params={"nu": (float, 5.0)}, param_order=("nu",)),
    "apot4": _Kind(lambda p: APOT4, _absmax, "g64"),
    "e2m1": _Kind(lambda p: E2M1, _absmax, "g32", frozenset({"tensor", "channel", "group", "none"})),
    "e2m1s": _Kind(lambda p: E2M1S, _supernormal, "g32"),
    "mxfp4": _Kind(lambda p: E2M1, _mx, "g32", frozenset({"group"})),
    "fp8_e4m3": _Kind(lambda p: E4M3, _absmax, "tensor", frozenset({"tensor", "channel", "group", "none"})),
    "fp8_e5m2": _Kind(lambda p: E5M2, _absmax, "tensor", frozenset({"tensor", "channel", "group", "none"})),
    "lp": _Kind(
        _lp_element,
        _absmax,
        "g64",
        frozenset({"tensor", "channel", "group", "none"}),
        params={"n": (int, 4), "es": (int, 1), "rs": (int, None), "sf": (float, 0.0)},
        param_order=("n", "es", "rs", "sf"),
    ),
}

_GROUP = re.compile(r"g(\d+)")


def _fmt_param(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def parse_format(spec: str) -> QuantFormat:
    """Builds a format from a spec string, e.g. "nf4:g64", "int4:g128:asym", "sf4:nu=5:g128", "mxfp4".

    Grammar: name[:part]... with name one of int8, int4, nf4, sf4, apot4, e2m1,
    e2m1s, mxfp4, fp8_e4m3, fp8_e5m2, lp, and each part one of
      tensor | channel | gN (N a power of two, 8..4096) | none (no scale)
      sym | asym                        (integers; default sym)
      key=value[,key=value]...          (sf4: nu; lp: n, es, rs, sf)
    Defaults: int8 channel, int4 g128, nf4/sf4/apot4/lp g64, e2m1/e2m1s g32,
    mxfp4 g32 (the only block size OCP MX allows), fp8 tensor.
    A bad spec raises ValueError naming the bad part.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"quant spec {spec!r}: expected a string like 'nf4:g64'")
    name, *parts = spec.strip().lower().split(":")
    kind = _FORMATS.get(name)
    if kind is None:
        raise ValueError(f"quant spec {spec!r}: unknown format {name!r}; expected one of {', '.join(_FORMATS)}")

    def bad(msg: str) -> ValueError:
        return ValueError(f"quant spec {spec!r}: {msg}")

    granularity: str | None = None
    group = 0
    asym: bool | None = None
    given: dict = {}
    for part in parts:
        g = _GROUP.fullmatch(part)
        if part in ("tensor", "channel", "none") or g:
            if granularity is not None:
                raise bad(f"granularity given twice ({part!r})")
            granularity = "group" if g else part
            if g:
                group = int(g.group(1))
                if group < 8 or group > 4096 or group & (group - 1):
                    raise bad(f"group size in {part!r} must be a power of two from 8 to 4096 (g32, g64, g128, ...)")
            if granularity not in kind.granularities:
                allowed = sorted(kind.granularities - {"group"}) + (["gN"] if "group" in kind.granularities else [])
                allowed = ", ".join(allowed)
                raise bad(f"{name} does not take granularity {part!r}; expected {allowed}")
        elif part in ("sym", "asym"):
            if kind.asym is None:
                raise bad(f"{part!r} applies to integer formats only; {name} is symmetric by construction")
            if asym is not None:
                raise bad(f"{part!r}: symmetry given twice")
            asym = part == "asym"
        elif "=" in part:
            for item in part.split(","):
                key, eq, val = item.partition("=")
                if key not in kind.params:
                    known = ", ".join(kind.params) or "none"
                    raise bad(f"unknown parameter {key!r} in {item!r}; {name} takes: {known}")
                if not eq or not val or key in given:
                    raise bad(f"parameter {item!r} must be key=value, each key once")
                typ = kind.params[key][0]
                try:
                    given[key] = typ(val)
                except ValueError:
                    what = "an integer" if typ is int else "a number"
                    raise bad(f"parameter {item!r}: {val!r} is not {what}") from None
                if typ is float and not math.isfinite(given[key]):
                    raise bad(f"parameter {item!r} must be finite")
        else:
            raise bad(f"unknown part {part!r}; expected tensor, channel, none, gN, sym, asym or key=value")
    if name == "mxfp4" and granularity == "group" and group != 32:
        raise bad(f"MXFP4 blocks are 32 elements (OCP MX v1.0), got g{group}")
    if granularity is None:
        d = _GROUP.fullmatch(kind.default)
        granularity, group = ("group", int(d.group(1))) if d else (kind.default, 0)

    p = {k: given.get(k, default) for k, (_, default) in kind.params.items()}
    if name == "lp" and p["rs"] is None:
        p["rs"] = p["n"] - 1
    if name == "sf4" and not p["nu"] > 0:
        raise bad(f"nu={p['nu']:g} must be positive")
    try:
        element = kind.asym(p) if asym else kind.element(p)
    except ValueError as e:
        raise bad(str(e)) from None
    params = ",".join(f"{k}={_fmt_param(p[k])}" for k in kind.param_order)
    scaling = _unit if granularity == "none" else _minmax if asym else kind.scaling
    return QuantFormat(name, element, scaling, granularity, group, params, bool(asym))


# ----------------------------------------------------------------------------
# outlier-aware mixed precision (QUIK)
# ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OutlierQuantized:
    """A weight [out, in] whose `channels` (input channels, ascending) stay float32.

    outliers: float32 [out, k], column j is weight column channels[j];
    base: the remaining in - k columns, in their original order, quantized.
    """

    shape: tuple[int, int]
    channels: np.ndarray
    outliers: np.ndarray
    base: QuantizedTensor


def quantize_with_outliers(
    w: np.ndarray, k: int, act_magnitude: np.ndarray | None = None, spec: str = "int4:g128"
) -> OutlierQuantized:
    """QUIK-style mixed precision (Ashkboos et al., "QUIK: Towards End-to-End 4-Bit Inference
    on Generative Large Language Models", 2023): keep the k input channels of largest
    magnitude in float32 and quantize the rest with `spec` (int4 per group by default).

    Magnitude is `act_magnitude[j]` (e.g. max |x_j| over calibration inputs)
    when given, as QUIK picks outliers from the activations; otherwise the
    column's largest |w|. Equal magnitudes keep the lower channel.
    """
    w = np.asarray(w, np.float32)
    if w.ndim != 2:
        raise ValueError(f"quantize_with_outliers: expected a weight [out, in], got shape {list(w.shape)}")
    n_in = w.shape[1]
    if not 0 <= k < n_in:
        raise ValueError(f"quantize_with_outliers: k={k} must be in 0..{n_in - 1} (the weight has {n_in} inputs)")
    if act_magnitude is None:
        score = np.max(np.abs(w), axis=0)
    else:
        score = np.abs(np.asarray(act_magnitude, np.float64))
        if score.shape != (n_in,):
            raise ValueError(f"quantize_with_outliers: act_magnitude has shape {list(score.shape)}, expected [{n_in}]")
    channels = np.sort(np.argsort(-score, kind="stable")[:k]).astype(np.int64)
    keep = np.ones(n_in, bool)
    keep[channels] = False
    base = parse_format(spec).quantize(w[:, keep])
    return OutlierQuantized((w.shape[0], n_in), channels, w[:, channels].copy(), base)


def dequantize_with_outliers(q: OutlierQuantized) -> np.ndarray:
    """float32 weight [out, in]: float32 outlier columns, dequantized others."""
    out = np.empty(q.shape, np.float32)
    keep = np.ones(q.shape[1], bool)
    keep[q.channels] = False
    out[:, keep] = dequantize(q.base)
    out[:, q.channels] = q.outliers
    return out
