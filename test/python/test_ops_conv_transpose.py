"""
Differential tests of transposed convolutions (ConvTranspose1d/2d/3d,
F.conv_transpose1d/2d/3d: aten.convolution with transposed=True) against
PyTorch eager, on the CPU target and the reference target: strides,
padding (also more than dilation*(k-1), which crops), output_padding,
dilation, groups, with and without bias, batched and unbatched inputs,
float32/float64/bfloat16; random 2-d and 3-d configurations.

Tolerances: float32 rtol = atol = 1e-4 (sums of up to a few hundred
products, in another order than oneDNN's); float64 1e-10; bfloat16: both
sides accumulate in float32 and round once, so 2 ulp (2 * 2^-7) relative,
times the result's magnitude.
"""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

import sparcc

TARGETS = ["cpu", "ref"]
DTYPES = [torch.float32, torch.float64, torch.bfloat16]
TOL = {torch.float32: 1e-4, torch.float64: 1e-10, torch.bfloat16: 2 * 2.0**-7}

# (input shape, weight shape [Cin, Cout/groups, *k], keyword arguments)
CASES_2D = [
    ((2, 4, 5, 6), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 5, 6), (4, 2, 3, 2), dict(stride=(2, 3), padding=(0, 2), output_padding=(1, 2), dilation=(2, 1), groups=2)),
    ((3, 6, 4, 4), (6, 1, 2, 2), dict(stride=2, groups=6)),  # depthwise, the DCGAN/U-Net upsampling layer
    ((4, 5, 6), (4, 3, 3, 3), dict(stride=1, padding=2)),  # unbatched; padding 2 = d*(k-1): no border
    ((1, 3, 3, 4), (3, 4, 1, 1), dict(stride=3, padding=1, output_padding=2)),  # 1x1, crops
    ((2, 2, 4, 3), (2, 2, 3, 3), dict(stride=2, padding=3, dilation=2)),  # padding > d*(k-1): crops the input
    ((1, 1, 1, 1), (1, 1, 1, 1), dict()),
    ((1, 2, 1, 2), (2, 1, 1, 1), dict(stride=3, padding=1, output_padding=2)),  # phases that read padding only
    ((2, 6, 3, 5), (6, 2, 4, 1), dict(stride=(1, 2), padding=(1, 0), dilation=(1, 3), groups=3, output_padding=(0, 1))),
]
CASES_3D = [
    ((2, 4, 3, 5, 4), (4, 3, 3, 2, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 4, 3, 5), (4, 2, 2, 3, 3), dict(stride=(3, 2, 1), padding=(1, 2, 0), output_padding=(2, 1, 0),
                                          dilation=(1, 2, 2), groups=2)),
    ((4, 2, 3, 3), (4, 1, 2, 2, 2), dict(stride=2, groups=4)),  # unbatched, depthwise
    ((1, 2, 1, 2, 1), (2, 1, 1, 1, 1), dict(stride=3, padding=1, output_padding=2)),  # phases that read padding only
    ((1, 3, 3, 3, 4), (3, 2, 2, 2, 2), dict(stride=2, padding=2)),  # padding > d*(k-1): crops the input
]
CASES_1D = [
    ((2, 4, 7), (4, 3, 3), dict(stride=3, padding=1, output_padding=2, dilation=2)),
    ((4, 9), (4, 2, 5), dict(stride=2, padding=2, groups=2)),  # unbatched
    ((1, 3, 5), (3, 1, 2), dict(stride=2, groups=3)),
    ((2, 2, 6), (2, 4, 1), dict()),
]


def values(*shape: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def compare(fn, *args: torch.Tensor, target: str) -> None:
    with torch.no_grad():
        want = fn(*args)
    got = sparcc.jit(fn, target=target)(*args)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"output {k}: {g.dtype} {list(g.shape)} != {w.dtype} {list(w.shape)}"
        unit = TOL[w.dtype]
        scale = max(1.0, float(w.abs().max()))
        torch.testing.assert_close(g, w, rtol=unit, atol=unit * scale, msg=lambda m, k=k: f"output {k}: {m}")


def functional(cases, conv, dtype: torch.dtype):
    """One function of every case's input: each case with and without bias."""
    weights = [(values(*ws, dtype=dtype, seed=i), values(ws[1] * kw.get("groups", 1), dtype=dtype, seed=100 + i), kw)
               for i, (_, ws, kw) in enumerate(cases)]
    inputs = [values(*xs, dtype=dtype, seed=200 + i) for i, (xs, _, _) in enumerate(cases)]

    def f(*xs):
        out = []
        for x, (w, b, kw) in zip(xs, weights):
            out += [conv(x, w, b, **kw), conv(x, w, None, **kw)]
        return tuple(out)

    return f, inputs


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose2d(dtype, target):
    f, inputs = functional(CASES_2D, F.conv_transpose2d, dtype)
    compare(f, *inputs, target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose1d(dtype, target):
    f, inputs = functional(CASES_1D, F.conv_transpose1d, dtype)
    compare(f, *inputs, target=target)


class _Decoder(torch.nn.Module):
    """Modules, and the output_size argument (which picks output_padding)."""

    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.up1d = torch.nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, bias=False)

    def forward(self, x):
        y = torch.relu(self.up(x, output_size=[11, 9]))
        return y, self.up1d(y.flatten(2)[..., :20])


@pytest.mark.parametrize("target", TARGETS)
def test_conv_transpose_modules(target):
    torch.manual_seed(0)
    compare(_Decoder().eval(), values(2, 8, 5, 4, dtype=torch.float32, seed=0), target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose3d(dtype, target):
    f, inputs = functional(CASES_3D, F.conv_transpose3d, dtype)
    compare(f, *inputs, target=target)


def test_conv_transpose3d_module():
    torch.manual_seed(0)
    m = torch.nn.ConvTranspose3d(4, 2, (2, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1)).eval()
    compare(lambda x: (m(x, output_size=[4, 9, 8]),), values(2, 4, 3, 4, 4, dtype=torch.float32, seed=0), target="cpu")


@pytest.mark.parametrize("spatial,count", [(2, 16), (3, 8)])
def test_conv_transpose_random_configurations(spatial, count):
    """Random strides, dilations (sharing a factor with the stride: phases
    without taps), kernels, paddings up to past d*(k-1), output_padding,
    groups and small inputs, against eager."""
    r, cases = random.Random(spatial), []
    while len(cases) < count:
        s, d, groups = r.randint(1, 4), r.randint(1, 3), r.choice([1, 2])
        dims = [(r.randint(1, 5 if spatial == 2 else 3), r.randint(1, 4 if spatial == 2 else 3)) for _ in range(spatial)]
        p, op = r.randint(0, d * (max(k for _, k in dims) - 1) + 2), r.randint(0, max(s, d) - 1)
        if min((size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size, k in dims) < 1:
            continue  # PyTorch's own error: no output
        kwargs = dict(stride=s, padding=p, dilation=d, output_padding=op, groups=groups)
        cases.append(((1, 4, *[size for size, _ in dims]), (4, 3, *[k for _, k in dims]), kwargs))
    f, inputs = functional(cases, F.conv_transpose2d if spatial == 2 else F.conv_transpose3d, torch.float32)
    compare(f, *inputs, target="cpu")
