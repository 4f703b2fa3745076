"""Accuracy of the `approximate-math` polynomials, end to end through the CPU backend.

The reference is PyTorch in float64, rounded to float32. Bounds (stated in
passes/approximate_math.py and the README): exp within 2 ulp relative error
over its whole finite range, tanh within 2e-7 and erf within 3.5e-7 absolute
error (erf also within 3e-7 relative error for |x| < 0.5); the
special values (+-inf, NaN, overflow, underflow) come out as IEEE says.
"""

import math

import pytest
import torch

from sparcc import jit

DENSE = torch.linspace(-30.0, 30.0, 60001)
SPECIAL = torch.tensor(
    [0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 1e-3, -1e-3, 0.5, -0.5, 3.0, -3.0, 9.0, -9.0,
     88.7, 88.8, 100.0, -87.3, -87.4, -103.0, -200.0, math.inf, -math.inf, math.nan]
)


def run(fn, x):
    return jit(fn)(x)


def reference(fn, x):
    return fn(x.double()).float()


def test_exp_relative_error_within_two_ulp():
    x = torch.cat([torch.linspace(-87.0, 88.0, 100001), SPECIAL[:-4]])
    got, want = run(torch.exp, x), reference(torch.exp, x)
    normal = want.abs() >= torch.finfo(torch.float32).tiny
    finite = torch.isfinite(want) & normal
    rel = ((got - want).abs() / want.abs())[finite]
    assert rel.max().item() <= 2 * torch.finfo(torch.float32).eps


def test_exp_special_values():
    x = torch.tensor([math.inf, -math.inf, math.nan, 89.0, -104.0, 0.0])
    got = run(torch.exp, x)
    assert got[0].item() == math.inf
    assert got[1].item() == 0.0
    assert math.isnan(got[2].item())
    assert got[3].item() == math.inf  # overflows like float32 does
    assert got[4].item() == 0.0
    assert got[5].item() == 1.0


@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_tanh_erf_absolute_error(name):
    fn = {"tanh": torch.tanh, "erf": torch.special.erf}[name]
    x = torch.cat([DENSE, SPECIAL[:-1]])
    got, want = run(fn, x), reference(fn, x)
    assert (got - want).abs().max().item() < {"tanh": 2e-7, "erf": 3.5e-7}[name]
    # odd functions, saturating at +-1
    assert torch.equal(run(fn, -x), -got)
    assert got[-2].item() == 1.0 and got[-1].item() == -1.0  # +inf, -inf


@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_tanh_erf_nan_propagates(name):
    fn = {"tanh": torch.tanh, "erf": torch.special.erf}[name]
    assert math.isnan(run(fn, torch.tensor([math.nan, 1.0]))[0].item())


@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_small_arguments_keep_relative_accuracy(name):
    fn = {"tanh": torch.tanh, "erf": torch.special.erf}[name]
    x = torch.cat([torch.tensor([1e-30, 1e-10, 1e-5, -1e-5, 1e-3]), torch.linspace(0.01, 0.49, 4801)])
    got, want = run(fn, x), reference(fn, x)
    assert ((got - want).abs() / want.abs()).max().item() < 1e-6
