"""Elementwise math, running reductions, order statistics and diagonals,
against eager PyTorch on the values where implementations part ways:
signed zeros, NaN, infinities, the far tails, ties.

(The OpInfo tests cover the ordinary samples of the same ops.)
"""

from __future__ import annotations

import math
import warnings

import pytest
import sparcc
import torch

INF, NAN = math.inf, math.nan
EDGES = torch.tensor([NAN, -0.0, 0.0, INF, -INF, 1e-8, -1e-8, 0.5, -0.7, 3.0, -3.0, 1e20, -1e20, 1e-40])


def _same(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-6) -> None:
    """Relative agreement; below the smallest normal number (a subnormal
    tail, erfc(9.5) in float32) absolute."""
    assert got.dtype == want.dtype and got.shape == want.shape
    atol = torch.finfo(want.dtype).tiny if want.is_floating_point() else 0
    torch.testing.assert_close(got, want, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("fn", [torch.asin, torch.acos, torch.sinh, torch.cosh, torch.asinh, torch.acosh,
                                torch.atanh, torch.log10, torch.erfc, torch.exp2], ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_unary_math_keeps_relative_precision_at_the_edges(fn, dtype) -> None:
    """libm's functions: asinh(1e20) is 46.7, not inf (x^2 overflowing in
    x + sqrt(x^2 + 1)); asinh(1e-8) is 1e-8, not 0; erfc(9) is 4e-37, not 1 - 1."""
    x = torch.cat([EDGES, torch.linspace(-12, 12, 97)]).to(dtype)
    _same(sparcc.jit(fn)(x), fn(x))


def test_signbit_reads_the_sign_bit() -> None:
    x = torch.tensor([-0.0, 0.0, -NAN, NAN, -INF, 2.0, -2.0])
    assert sparcc.jit(torch.signbit)(x).tolist() == torch.signbit(x).tolist()
    i = torch.tensor([-3, 0, 4])
    assert sparcc.jit(torch.signbit)(i).tolist() == [True, False, False]


def test_hypot_fmax_fmin_copysign_on_nan_and_inf() -> None:
    a = torch.tensor([3.0, INF, NAN, NAN, 0.0, 1e30, -5.0, -0.0])
    b = torch.tensor([4.0, NAN, INF, 1.0, 0.0, 1e30, NAN, 2.0])
    for fn in (torch.hypot, torch.fmax, torch.fmin, torch.copysign):
        _same(sparcc.jit(fn)(a, b), fn(a, b))


def test_round_with_decimals_and_ldexp() -> None:
    x = torch.tensor([1.2345, -2.5551, 1234.5, 0.0051, -0.0049])
    for d in (0, 2, 3, -1, -2):
        f = lambda x, d=d: torch.round(x, decimals=d)  # noqa: E731
        _same(sparcc.jit(f)(x), f(x))
    e = torch.tensor([-3, 0, 5, 10, -140])
    _same(sparcc.jit(torch.ldexp)(x, e), torch.ldexp(x, e))


def test_running_extremes_take_the_last_tie_and_keep_nan() -> None:
    x = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0, 0.0, NAN, 5.0, NAN, 1.0]])
    for fn in (torch.cummax, torch.cummin):
        got, want = sparcc.jit(lambda x, fn=fn: fn(x, 1))(x), fn(x, 1)
        _same(got.values, want.values)
        assert got.indices.tolist() == want.indices.tolist()


def test_logcumsumexp_neither_overflows_nor_underflows() -> None:
    x = torch.tensor([-1000.0, 0.0, 1000.0, -1000.0, 1000.0, -INF, INF, 2.0])
    _same(sparcc.jit(lambda x: torch.logcumsumexp(x, 0))(x), torch.logcumsumexp(x, 0))
    # a scan whose combine the vectoriser does not know compiles as plain loops, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparcc.jit(lambda x: torch.logcumsumexp(x, 1) * 2)(torch.randn(3, 17))


def test_median_propagates_nan_and_nanmedian_skips_it() -> None:
    x = torch.tensor([[3.0, NAN, 1.0, NAN, 2.0], [5.0, 4.0, 3.0, 2.0, 1.0], [NAN, NAN, NAN, NAN, NAN]])
    for fn in (torch.median, torch.nanmedian):
        got, want = sparcc.jit(lambda x, fn=fn: fn(x, 1))(x), fn(x, 1)
        _same(got.values, want.values)
        assert got.indices[:2].tolist() == want.indices[:2].tolist()
        _same(sparcc.jit(fn)(x[:2]), fn(x[:2]))


def test_bucketize_and_searchsorted_put_nan_last() -> None:
    edges = torch.tensor([1.0, 2.0, 2.0, 3.0])
    v = torch.tensor([NAN, 0.0, 1.0, 2.0, 2.5, 3.0, 9.0])
    for right in (False, True):
        f = lambda v, right=right: torch.bucketize(v, edges, right=right)  # noqa: E731
        assert sparcc.jit(f)(v).tolist() == f(v).tolist()
    seq = torch.sort(torch.randn(3, 6), dim=1).values
    vals = torch.randn(3, 4)
    f = lambda s, v: torch.searchsorted(s, v, side="right", out_int32=True)  # noqa: E731
    got = sparcc.jit(f)(seq, vals)
    assert got.dtype == torch.int32 and got.tolist() == f(seq, vals).tolist()


def test_diagonals_of_any_dims_and_offset() -> None:
    x = torch.randn(3, 4, 5)
    for offset, d1, d2 in ((0, 0, 1), (2, 1, 2), (-1, 2, 0), (-2, -1, -2)):
        f = lambda x, o=offset, a=d1, b=d2: torch.diagonal(x, o, a, b) * 1  # noqa: E731
        _same(sparcc.jit(f)(x), f(x))
        src = torch.randn(f(x).shape)
        g = lambda x, s, o=offset, a=d1, b=d2: torch.diagonal_scatter(x, s, o, a, b)  # noqa: E731
        _same(sparcc.jit(g)(x, src), g(x, src))


def test_an_empty_diagonal_is_a_clear_error() -> None:
    with pytest.raises(sparcc.SparccError, match=r"zero elements \(shape \[3, 0\], at .*test_ops_math.py"):
        sparcc.jit(lambda x: torch.diagonal(x, 7, 1, 2) + 1)(torch.randn(3, 4, 5))
