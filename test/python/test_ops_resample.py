"""
Differential tests of resizing against PyTorch eager, on the CPU target and
the reference target: antialiased bilinear (F.interpolate(antialias=True),
aten._upsample_bilinear2d_aa: down- and upscaling, output sizes and scale
factors, align_corners), and the 3-d and bicubic modes of F.interpolate
(which torch.export decomposes into gathers and arithmetic).

Tolerances: float32 rtol = atol = 1e-5, float64 1e-12 (sparcc computes the
antialiasing weights as PyTorch's kernel does, in the input's dtype, and
sums in another order).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import sparcc

TARGETS = ["cpu", "ref"]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def compare(fn, *args: torch.Tensor, target: str) -> None:
    want = fn(*args)
    got = sparcc.jit(fn, target=target)(*args)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"output {k}: {g.dtype} {list(g.shape)} != {list(w.shape)}"
        tol = TOL[w.dtype]
        torch.testing.assert_close(g, w, rtol=tol, atol=tol, msg=lambda m, k=k: f"output {k}: {m}")


def antialiased(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    aa = dict(mode="bilinear", antialias=True)
    return (
        F.interpolate(x, size=(3, 5), **aa),  # shrink by about 3: wide triangles
        F.interpolate(x, size=(23, 6), **aa, align_corners=True),  # grow one dim, shrink the other
        F.interpolate(x, scale_factor=(1.7, 0.9), **aa),  # the scale factors, not the sizes, set the weights
        F.interpolate(x, scale_factor=(0.35, 0.5), **aa, align_corners=True),
        F.interpolate(x, size=(1, 1), **aa),
        F.interpolate(x, size=x.shape[-2:], **aa),  # the same size: the identity
        torch.ops.aten._upsample_bilinear2d_aa(x, (4, 4), False, 1.7, 0.9),  # explicit scales with a size
    )


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_antialiased_bilinear(dtype, target):
    x = torch.randn(2, 3, 10, 17, generator=torch.Generator().manual_seed(0), dtype=dtype)
    compare(antialiased, x, target=target)


@pytest.mark.parametrize("size", [(7, 7), (5, 9), (9, 2)])
def test_antialiased_bilinear_odd_sizes(size):
    x = torch.randn(1, 2, 13, 11, generator=torch.Generator().manual_seed(1))
    compare(lambda x: (F.interpolate(x, size=size, mode="bilinear", antialias=True),), x, target="cpu")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interpolate_3d_and_bicubic(dtype):
    x = torch.randn(2, 3, 4, 5, 6, generator=torch.Generator().manual_seed(2), dtype=dtype)
    compare(lambda x: (
        F.interpolate(x, size=(7, 3, 8), mode="trilinear"),
        F.interpolate(x, scale_factor=(1.5, 0.6, 2.0), mode="trilinear", align_corners=True),
        F.interpolate(x, size=(3, 7, 4), mode="nearest"),
        F.interpolate(x, size=(5, 4, 11), mode="nearest-exact"),
        F.interpolate(x[:, :, 0], size=(7, 9), mode="bicubic"),
        F.interpolate(x[:, :, 1], scale_factor=(0.6, 1.4), mode="bicubic", align_corners=True),
    ), x, target="cpu")
