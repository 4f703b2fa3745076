"""PyTorch's special functions (nn.special, the CPU runtime's specfun.c)
against eager PyTorch: ordinary ranges, poles, signed zeros, infinities, NaN,
the far tails, integer inputs, float32 and float64.

Tolerances are torch.testing.assert_close's defaults for the dtype (float32:
rtol 1.3e-6, atol 1e-5; float64: rtol 1e-7, atol 1e-7); specfun.c follows
PyTorch's own algorithms and working precision, so most results are
bit-identical (lgamma is libm's, where PyTorch's vectorised float32 kernel
takes Sleef's: they differ by an ulp).
"""

from __future__ import annotations

import math

import pytest
import sparcc
import torch

INF, NAN = math.inf, math.nan
EDGES = [NAN, -0.0, 0.0, INF, -INF, 1e-30, -1e-30, 1e-8, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, -3.0, 7.9999, 8.0,
         8.0001, 10.0, -10.5, 26.0, -26.0, 50.5, -6.2, 1e10, -1e10, 1e30, -1e30]
DTYPES = [torch.float32, torch.float64]

UNARY = {
    "lgamma": torch.lgamma, "digamma": torch.digamma, "i0": torch.i0, "i0e": torch.special.i0e,
    "i1": torch.special.i1, "i1e": torch.special.i1e, "erfcx": torch.special.erfcx,
    "log_ndtr": torch.special.log_ndtr, "gammaln": torch.special.gammaln, "psi": torch.special.psi,
    "bessel_j0": torch.special.bessel_j0, "bessel_j1": torch.special.bessel_j1, "bessel_y0": torch.special.bessel_y0,
    "bessel_y1": torch.special.bessel_y1, "spherical_bessel_j0": torch.special.spherical_bessel_j0,
    **{fn: getattr(torch.special, fn) for fn in ("modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0",
                                                 "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1")},
}
# functions of [-1, 1] (erfinv) and [0, 1] (ndtri): their edges and a dense sweep
UNIT = {"erfinv": torch.erfinv, "ndtri": torch.special.ndtri}


def _inputs(dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.cat([torch.tensor(EDGES, dtype=dtype), torch.linspace(-30, 30, 601, dtype=dtype),
                      torch.randn(500, generator=g, dtype=dtype) * 3])


def _close(got: torch.Tensor, want: torch.Tensor, name: str) -> None:
    assert got.dtype == want.dtype, name
    torch.testing.assert_close(got, want, equal_nan=True, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_unary_special_functions_match_eager(dtype) -> None:
    def f(x):
        return tuple(fn(x) for fn in UNARY.values())

    x = _inputs(dtype)
    for name, got, want in zip(UNARY, sparcc.jit(f)(x), f(x)):
        _close(got, want, name)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_erfinv_and_ndtri_match_eager_up_to_their_poles(dtype) -> None:
    """erfinv(+-1) = +-inf, |y| > 1 NaN; ndtri(0) = -inf, ndtri(1) = inf, the
    tails down to 1e-30 (ndtri's third rational approximation)."""
    near_one = [1 - 2.0**-k for k in (3, 10, 20, 23, 24, 40, 52)]
    y = torch.tensor([NAN, -0.0, 0.0, 1.0, -1.0, 1.5, -1.5, INF, -INF, 1e-30, 1e-20, 1e-10, 0.7, -0.7, 0.70001,
                      *near_one, *(-v for v in near_one)], dtype=dtype)
    y = torch.cat([y, torch.linspace(-1, 1, 801, dtype=dtype)])

    def f(y):
        return tuple(fn(y) for fn in UNIT.values())

    for name, got, want in zip(UNIT, sparcc.jit(f)(y), f(y)):
        _close(got, want, name)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_polygamma_and_mvlgamma_match_eager(dtype) -> None:
    """polygamma n = 0 (digamma), 1 (trigamma), 2..7 (Hurwitz zeta), with the
    poles at the non-positive integers; mvlgamma decomposes to lgamma."""
    x = torch.cat([torch.tensor([NAN, 0.0, -0.0, -1.0, -2.5, 1e-3, 1.0, 30.0, 1e4, INF], dtype=dtype),
                   torch.linspace(-4.9, 12, 338, dtype=dtype)])

    def f(x):
        return (*(torch.polygamma(n, x) for n in range(8)), torch.mvlgamma(x.abs() + 2, 3))

    for n, (got, want) in enumerate(zip(sparcc.jit(f)(x), f(x))):
        _close(got, want, f"polygamma({n})" if n < 8 else "mvlgamma")


def test_integer_inputs_compute_in_the_default_float_type() -> None:
    x = torch.tensor([-3, -1, 0, 1, 2, 5, 9, 40])

    def f(x):
        return torch.digamma(x), torch.lgamma(x), torch.special.i0e(x), torch.polygamma(2, x)

    for got, want in zip(sparcc.jit(f)(x), f(x)):
        assert got.dtype == torch.float32
        _close(got, want, "int")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
def test_nextafter_steps_one_float_of_its_own_width(dtype) -> None:
    tiny = torch.finfo(dtype).tiny
    a = torch.tensor([0.0, -0.0, 0.0, 1.0, 1.0, -1.0, -1.0, NAN, 2.0, INF, -INF, tiny, 1.0, 3.0], dtype=dtype)
    b = torch.tensor([1.0, -1.0, -0.0, 2.0, 0.0, -2.0, 0.0, 1.0, NAN, 0.0, 0.0, 0.0, 1.0, INF], dtype=dtype)
    got, want = sparcc.jit(torch.nextafter)(a, b), torch.nextafter(a, b)
    assert got.dtype == want.dtype
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_frexp_returns_mantissa_and_int32_exponent(dtype) -> None:
    x = torch.tensor([0.0, -0.0, 1.0, -1.0, 0.5, 3.0, -1e-40, 1e-300 if dtype == torch.float64 else 1e-44,
                      1e30, -123.456, INF, -INF, NAN], dtype=dtype)
    (m, e), (wm, we) = sparcc.jit(torch.frexp)(x), torch.frexp(x)
    assert e.dtype == we.dtype == torch.int32
    torch.testing.assert_close(m, wm, rtol=0, atol=0, equal_nan=True)
    assert e[:-3].tolist() == we[:-3].tolist()  # inf and NaN: the exponent is unspecified


def test_kaiser_window_uses_i0() -> None:
    f = lambda x: x * torch.signal.windows.kaiser(12, beta=8.0)  # noqa: E731
    x = torch.randn(12)
    _close(sparcc.jit(f)(x), f(x), "kaiser")


def test_bfloat16_computes_in_float32() -> None:
    x = torch.linspace(-5, 5, 41).to(torch.bfloat16)

    def f(x):
        return torch.digamma(x), torch.special.i1e(x), torch.lgamma(x)

    for got, want in zip(sparcc.jit(f)(x), f(x)):
        assert got.dtype == torch.bfloat16
        torch.testing.assert_close(got, want, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_zeta_matches_eager_with_its_poles_and_scalars(dtype) -> None:
    """zeta(1, q) = inf, x < 1 NaN, q a non-positive integer inf, q < 0 with
    x not an integer NaN; either operand may be a Python number."""
    g = torch.Generator().manual_seed(1)
    x = torch.tensor([1.0, 0.5, 2.0, 2.0, 3.5, 3.0, NAN, 2.0, INF, 40.0, 1.0001], dtype=dtype)
    q = torch.tensor([1.0, 1.0, 0.0, -2.0, -1.5, -1.5, 1.0, NAN, 2.0, 0.5, 1e-3], dtype=dtype)
    x = torch.cat([x, torch.rand(300, generator=g, dtype=dtype) * 20 + 1])
    q = torch.cat([q, torch.rand(300, generator=g, dtype=dtype) * 30 - 5])

    def f(x, q):
        return torch.special.zeta(x, q), torch.special.zeta(2.5, q), torch.special.zeta(x, 3.0)

    for got, want in zip(sparcc.jit(f)(x, q), f(x, q)):
        _close(got, want, "zeta")


POLYNOMIALS = [f"{kind}_polynomial_{v}" for kind, vs in (("chebyshev", "tuvw"), ("shifted_chebyshev", "tuvw"),
                                                          ("hermite", ("h", "he")), ("laguerre", "l"), ("legendre", "p"))
               for v in vs]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_orthogonal_polynomials_match_eager(dtype) -> None:
    """Every degree path: negative (0), 0, 1, the recurrence, the
    trigonometric form of large Chebyshev degrees, Hermite's NaN beyond its
    limit, NaN and inf degrees; x at +-1, 0 and outside [-1, 1]; integer
    degrees and a Python-number degree."""
    g = torch.Generator().manual_seed(2)
    xs = torch.cat([torch.rand(40, generator=g, dtype=dtype) * 2.2 - 1.1,
                    torch.tensor([0.0, 1.0, -1.0, 0.5, 2.0, -3.0, INF], dtype=dtype)])
    ns = torch.tensor([-1, 0, 1, 2, 3, 5, 7, 9, 12, 30, 200, 600, NAN, INF, 2.7], dtype=dtype)
    x, n = (t.flatten() for t in torch.meshgrid(xs, ns, indexing="ij"))

    def f(x, n, k):
        return tuple(getattr(torch.special, p)(x, n) for p in POLYNOMIALS) + (torch.special.legendre_polynomial_p(x, k),
                                                                              torch.special.hermite_polynomial_h(x, 3))

    k = (n.nan_to_num(0, 0, 0)).to(torch.int64)
    for name, got, want in zip([*POLYNOMIALS, "legendre int n", "hermite n=3"], sparcc.jit(f)(x, n, k), f(x, n, k)):
        _close(got, want, name)


def test_orthogonal_polynomials_of_nan_are_nan() -> None:
    """Eager's kernels (but Chebyshev T and Hermite H) return an uninitialised
    variable for x = NaN and degree >= 2 (their loop stops at once on a NaN;
    0 or 1.66e9 here): sparcc returns NaN."""
    x, n = torch.full((3,), NAN), torch.tensor([2.0, 3.0, 20.0])

    def f(x, n):
        return tuple(getattr(torch.special, p)(x, n) for p in POLYNOMIALS)

    for name, got in zip(POLYNOMIALS, sparcc.jit(f)(x, n)):
        assert got.isnan().all(), name


def test_hls_and_gpu_targets_name_the_special_function_they_lack(tmp_path) -> None:
    """specfun.c is the CPU runtime's: the other targets refuse by name."""
    x = torch.rand(8) + 0.5
    with pytest.raises(sparcc.SparccError, match="hls target has no code for PyTorch's special function 'digamma'"):
        sparcc.jit(torch.digamma, target="hls")(x)
    with pytest.raises(sparcc.SparccError, match="GPU target has no code for PyTorch's special function 'i0e'"):
        sparcc.compile(torch.special.i0e, (x,), tmp_path / "g", target="gpu")
