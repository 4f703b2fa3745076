"""
Differential tests of F.grid_sample (aten.grid_sampler_2d and
aten.grid_sampler_3d, 4-d and 5-d inputs) against PyTorch
eager, on the CPU target and the reference target: modes bilinear and
nearest, padding modes zeros/border/reflection, align_corners True and
False, float32/float64/bfloat16, grids that reach far outside [-1, 1]
(reflections over several periods), inputs of height or width 1, and
NaN/inf/huge grid values, which must give PyTorch's results without a read
outside the input (the 5-d kernel is PyTorch's scalar one, which clips
a NaN coordinate to the last position instead); bicubic gets a message.

Tolerances: PyTorch's build fuses some multiply-adds of its kernel (the
unnormalisation, the bilinear sum) into FMAs, sparcc rounds every op as
the kernel's source reads, so bilinear float results differ by an ulp or
two: float32 rtol = atol = 1e-5, float64 1e-12; bfloat16 (every op
rounded to bfloat16, as PyTorch's kernel computes) 2 ulp. Nearest gathers
input values: exact.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import sparcc

TARGETS = ["cpu", "ref"]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12, torch.bfloat16: 2 * 2.0**-7}
COMBOS = list(itertools.product(["bilinear", "nearest"], ["zeros", "border", "reflection"], [False, True]))


def grid(n: int, *out: int, dtype: torch.dtype, seed: int, spread: float = 3.0) -> torch.Tensor:
    """[n, *out, len(out)] values in [-spread, spread]: inside, near and far outside the input."""
    g = torch.Generator().manual_seed(seed)
    return ((torch.rand(n, *out, len(out), generator=g, dtype=torch.float64) * 2 - 1) * spread).to(dtype)


def compare(fn, *args: torch.Tensor, target: str) -> None:
    want = fn(*args)
    got = sparcc.jit(fn, target=target)(*args)
    assert len(got) == len(want)
    for (mode, padding, align), g, w in zip(COMBOS, got, want):
        where = f"{mode}, {padding}, align_corners={align}"
        assert g.dtype == w.dtype and g.shape == w.shape, f"{where}: {g.dtype} {list(g.shape)}"
        tol = 0.0 if mode == "nearest" else TOL[w.dtype]
        torch.testing.assert_close(g, w, rtol=tol, atol=tol, equal_nan=True, msg=lambda m, where=where: f"{where}: {m}")


def every_combination(x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(F.grid_sample(x, g, mode=m, padding_mode=p, align_corners=a) for m, p, a in COMBOS)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_grid_sample(dtype, target):
    x = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(1)).to(dtype)
    compare(every_combination, x, grid(2, 4, 6, dtype=dtype, seed=2), target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("hw", [(1, 6), (4, 1), (1, 1)])
def test_grid_sample_unit_sizes(hw, target):
    # align_corners=True with a size of 1: every coordinate is 0 (reflection: nothing to reflect in)
    x = torch.randn(1, 2, *hw, generator=torch.Generator().manual_seed(3))
    compare(every_combination, x, grid(1, 3, 5, dtype=torch.float32, seed=4), target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grid_sample_non_finite_grid(dtype, target):
    # NaN with zeros padding: bilinear gives NaN (its weights are NaN),
    # nearest 0; border and reflection clip a NaN coordinate to 0;
    # inf and 1e10 land outside the input (reflection of inf: NaN, then 0).
    g = grid(2, 3, 4, dtype=dtype, seed=5)
    g[0, 0, 0, 0] = float("nan")
    g[0, 1, 1, 1] = float("nan")
    g[0, 2, 2] = float("nan")
    g[1, 0, 0, 0] = float("inf")
    g[1, 1, 1, 1] = -float("inf")
    g[1, 2, 2, 0] = 1e10
    g[1, 2, 3, 1] = -1e10
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(6)).to(dtype)
    compare(every_combination, x, g, target=target)


def test_grid_sample_module_inputs():
    """A spatial-transformer step: the grid from affine_grid of a batch of thetas."""
    theta = torch.tensor([[[0.9, -0.3, 0.1], [0.2, 1.1, -0.2]], [[1.5, 0.0, 0.4], [0.0, -1.2, 0.3]]])

    def f(x):
        g = F.affine_grid(theta, [2, 3, 6, 9], align_corners=False)
        return (F.grid_sample(x, g, align_corners=False), F.grid_sample(x, g, mode="nearest", padding_mode="border", align_corners=False))

    x = torch.randn(2, 3, 5, 8)
    want, got = f(x), sparcc.jit(f)(x)
    torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=0)


def test_grid_sample_bicubic_is_rejected():
    g = grid(1, 2, 2, dtype=torch.float32, seed=7)
    with pytest.raises(sparcc.SparccError, match=r"grid_sample with mode='bicubic' is not supported"):
        sparcc.jit(lambda x: F.grid_sample(x, g, mode="bicubic", align_corners=False))(torch.randn(1, 1, 3, 3))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_grid_sample_5d(dtype, target):
    x = torch.randn(2, 3, 4, 5, 6, generator=torch.Generator().manual_seed(8)).to(dtype)
    compare(every_combination, x, grid(2, 3, 4, 5, dtype=dtype, seed=9), target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dhw", [(1, 1, 4), (3, 1, 1), (1, 1, 1)])
def test_grid_sample_5d_unit_sizes(dhw, target):
    x = torch.randn(1, 2, *dhw, generator=torch.Generator().manual_seed(10))
    compare(every_combination, x, grid(1, 2, 3, 2, dtype=torch.float32, seed=11), target=target)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grid_sample_5d_non_finite_grid(dtype):
    # NaN: zeros padding gives 0 (no corner is inside: the kernel adds
    # nothing), border and reflection clip it to the last position; inf
    # and 1e10 land outside the input.
    g = grid(2, 3, 4, 2, dtype=dtype, seed=12)
    g[0, 0, 0, 0, 0] = g[0, 1, 1, 1, 1] = g[1, 2, 3, 1, 2] = float("nan")
    g[0, 2, 2, 0] = float("nan")
    g[1, 0, 0, 0, 0], g[1, 1, 1, 1, 2] = float("inf"), -float("inf")
    g[1, 2, 2, 0, 0], g[1, 2, 3, 0, 1] = 1e10, -1e10
    x = torch.randn(2, 3, 3, 4, 5, generator=torch.Generator().manual_seed(13)).to(dtype)
    compare(every_combination, x, g, target="cpu")


def test_grid_sample_5d_bicubic_is_rejected_by_pytorch_too():
    with pytest.raises(RuntimeError, match="bicubic"):
        F.grid_sample(torch.randn(1, 1, 2, 2, 2), torch.zeros(1, 1, 1, 1, 3), mode="bicubic", align_corners=False)
