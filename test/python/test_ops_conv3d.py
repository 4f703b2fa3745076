"""
Differential tests of 3-d convolution and pooling (F.conv3d, max_pool3d,
avg_pool3d, adaptive_avg_pool3d; the frontend builds them from 2-d
convolution and pooling; max_pool3d with indices or dilation and
adaptive_max_pool3d scan each window element) against PyTorch eager, on the CPU target and the
reference target: strides, padding (numbers, 'same', 'valid'), dilation,
groups, bias, ceil_mode, count_include_pad, divisor_override, batched and
unbatched inputs, float32/float64/bfloat16, NaN, -inf and ties in max
pooling (its indices exact); torchvision's three video models; and the
messages for what is not supported.

Tolerances: float32 rtol = atol = 1e-4 (sums of up to a few hundred
products, in another order than eager's); float64 1e-10; bfloat16: both
sides accumulate in float32 and round once, so 2 ulp (2 * 2^-7) relative,
times the result's magnitude.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import sparcc

TARGETS = ["cpu", "ref"]
DTYPES = [torch.float32, torch.float64, torch.bfloat16]
TOL = {torch.float32: 1e-4, torch.float64: 1e-10, torch.bfloat16: 2 * 2.0**-7}

# (input shape, weight shape [Cout, Cin/groups, kT, kH, kW], keyword arguments; groups = Cin / weight's dim 1)
CONV_CASES = [
    ((2, 4, 7, 9, 8), (6, 2, 3, 2, 3), dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=(2, 1, 1))),
    ((1, 3, 5, 6, 6), (4, 3, 3, 3, 3), dict(padding=1)),  # r3d_18's block convolution
    ((1, 3, 6, 10, 10), (5, 3, 1, 7, 7), dict(stride=(1, 2, 2), padding=(0, 3, 3))),  # r2plus1d's spatial stem
    ((1, 5, 6, 4, 4), (3, 5, 3, 1, 1), dict(stride=(2, 1, 1), padding=(1, 0, 0))),  # its temporal one
    ((3, 4, 4, 5), (6, 1, 2, 2, 2), dict(stride=2, padding=1)),  # unbatched, depthwise
    ((1, 2, 3, 4, 5), (2, 2, 3, 2, 1), dict(padding="same", dilation=(1, 2, 1))),  # even kernel: asymmetric
    ((2, 2, 4, 3, 3), (3, 2, 2, 3, 3), dict(padding="valid")),
    ((1, 2, 2, 3, 3), (2, 2, 1, 1, 1), dict()),  # 1x1x1: no time taps to stack
    ((1, 1, 3, 3, 3), (1, 1, 3, 3, 3), dict(stride=5, padding=2, dilation=2)),  # a stride past the input
]


def values(*shape: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def compare(fn, *args: torch.Tensor, target: str) -> None:
    with torch.no_grad():
        want = fn(*args)
    got = sparcc.jit(fn, target=target)(*args)
    if isinstance(want, torch.Tensor):
        got, want = (got,), (want,)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"output {k}: {g.dtype} {list(g.shape)} != {w.dtype} {list(w.shape)}"
        if not w.dtype.is_floating_point:  # pooling indices
            assert torch.equal(g, w), f"output {k}: {g} != {w}"
            continue
        unit, finite = TOL[w.dtype], w[torch.isfinite(w)]
        scale = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
        torch.testing.assert_close(g, w, rtol=unit, atol=unit * scale, equal_nan=True, msg=lambda m, k=k: f"output {k}: {m}")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv3d(dtype, target):
    cases = [(xs, ws, {**kw, "groups": xs[-4] // ws[1]}) for xs, ws, kw in CONV_CASES]
    weights = [(values(*ws, dtype=dtype, seed=i), values(ws[0], dtype=dtype, seed=100 + i), kw)
               for i, (_, ws, kw) in enumerate(cases)]
    inputs = [values(*xs, dtype=dtype, seed=200 + i) for i, (xs, _, _) in enumerate(cases)]

    def f(*xs):
        out = []
        for x, (w, b, kw) in zip(xs, weights):
            out += [F.conv3d(x, w, b, **kw), F.conv3d(x, w, None, **kw)]
        return tuple(out)

    compare(f, *inputs, target=target)


def _pools(x: torch.Tensor) -> tuple:
    u = x[0]  # unbatched CTHW
    return _pools_without_avg(x) + (
        F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True),
        F.avg_pool3d(x, (2, 2, 3), 2, (1, 1, 1), divisor_override=5),
        F.avg_pool3d(x, (3, 2, 3), (2, 3, 1), (1, 1, 1), ceil_mode=True, count_include_pad=False, divisor_override=3),
        F.avg_pool3d(u, 2),
        F.adaptive_avg_pool3d(x, 1),  # the video models' head
        F.adaptive_avg_pool3d(x, (7, 3, 4)),  # sizes that divide
        F.adaptive_avg_pool3d(x, (3, 4, 5)),  # sizes that do not
        F.adaptive_avg_pool3d(u, (2, None, 3)),
    )


def _pools_without_avg(x: torch.Tensor) -> tuple:
    return (
        F.max_pool3d(x, 3, 2, 1),  # the video models' stem pooling
        F.max_pool3d(x, (2, 3, 2), (2, 2, 1), (1, 1, 0), ceil_mode=True),
        F.max_pool3d(x[0], (3, 1, 2), (1, 1, 2), ceil_mode=True),
        F.adaptive_avg_pool3d(x, (3, 4, 5)),
    )


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pool3d(dtype, target):
    # eager has no bfloat16 avg_pool3d on the CPU ("avg_pool3d_out_frame" not implemented)
    compare(_pools_without_avg if dtype == torch.bfloat16 else _pools, values(2, 3, 7, 9, 8, dtype=dtype, seed=0),
            target=target)


def test_max_pool3d_infinities_and_nan():
    """-inf time padding never wins over a real -inf; a NaN spreads as in eager."""
    x = values(1, 2, 5, 4, 4, dtype=torch.float32, seed=1)
    x[0, 0, 0] = -torch.inf
    x[0, 1, 2, 1, 1] = torch.nan
    compare(lambda x: F.max_pool3d(x, 3, 2, 1, ceil_mode=True), x, target="cpu")


def test_conv3d_module_dynamic_batch():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool3d(2),
                            torch.nn.AdaptiveAvgPool3d(1)).eval()
    f = sparcc.jit(m, dynamic={0: [0]})
    for n in (1, 3):
        x = values(n, 3, 4, 6, 6, dtype=torch.float32, seed=n)
        with torch.no_grad():
            torch.testing.assert_close(f(x), m(x), rtol=1e-4, atol=1e-4)


def _with_specials(x: torch.Tensor) -> torch.Tensor:
    """NaNs (two in one window: the last wins), a volume of -inf (the index
    is the window's first element inside the input) and ties (the first
    wins)."""
    x = x.clone()
    x[0, 0, 1, 1, 1] = x[0, 0, 1, 1, 2] = x[0, 1, 4, 3, 2] = torch.nan
    x[-1, -1] = -torch.inf
    x[0, 2, 2:5, 2:5, 1:4] = 1.5
    return x


# (kernel, stride, padding, dilation, ceil_mode)
MAX_POOL3D_WINDOWS = [(3, 2, 1, 1, False), ((2, 3, 2), (2, 2, 1), (1, 1, 0), 1, True), (2, 1, 0, 2, False),
                      ((3, 2, 3), (1, 2, 2), (1, 1, 1), (2, 1, 2), True), ((1, 3, 2), 3, 0, (1, 2, 1), True)]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_max_pool3d_indices_and_dilation(dtype, target):
    """The values and the flat index within the volume of each window's max
    as PyTorch's kernel scans it; max_unpool3d of them; unbatched inputs."""
    x = _with_specials(values(2, 3, 7, 6, 5, dtype=dtype, seed=3))

    def f(x):
        out = []
        for k, s, p, d, ceil in MAX_POOL3D_WINDOWS:
            out += [*F.max_pool3d(x, k, s, p, d, ceil, return_indices=True), F.max_pool3d(x, k, s, p, d, ceil)]
        y, i = F.max_pool3d(x[0], 2, return_indices=True)
        return (*out, y, i, F.max_unpool3d(*F.max_pool3d(x, 2, 2, return_indices=True), 2, output_size=x.shape[2:]))

    compare(f, x, target=target)


def test_max_pool3d_indices_of_integers():
    x = torch.randint(-9, 9, (2, 2, 5, 6, 7), generator=torch.Generator().manual_seed(0))  # many ties
    x[1] = torch.iinfo(torch.int64).min
    got = sparcc.jit(lambda x: F.max_pool3d(x, 3, 2, 1, return_indices=True))(x)
    want = F.max_pool3d(x, 3, 2, 1, return_indices=True)
    assert all(torch.equal(g, w) for g, w in zip(got, want))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adaptive_max_pool3d(dtype, target):
    """Windows that divide the input and windows that overlap, values alone
    and with their indices."""
    x = _with_specials(values(2, 3, 7, 6, 5, dtype=dtype, seed=4))
    sizes = [(1, 1, 1), (7, 3, 5), (3, 4, 2), (5, 6, 4), (2, None, 3)]
    compare(lambda x: tuple(v for s in sizes for v in (*F.adaptive_max_pool3d(x, s, True), F.adaptive_max_pool3d(x, s)))
            + F.adaptive_max_pool3d(x[0], (3, 2, 4), True), x, target=target)


def _video_models():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import zoo_models

    try:
        zoo_models.define_torchvision_ops()
        import torchvision
    except ImportError:
        pytest.skip("torchvision is not installed (the `zoo` extra)")
    return torchvision.models.video


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", pytest.param("r2plus1d_18", marks=pytest.mark.slow)])
def test_torchvision_video_model(name):
    """Random weights, eval mode, a clip of 8 frames of 56x56 (r3d_18 and
    mc3_18 compile in about 10 s; r2plus1d_18, 14-26 s, is marked slow)."""
    video = _video_models()
    torch.manual_seed(0)
    model = getattr(video, name)().eval()
    x = values(1, 3, 8, 56, 56, dtype=torch.float32, seed=0)
    with torch.no_grad():
        want = model(x)
    got = sparcc.jit(model)(x)
    assert float((got - want).abs().max() / want.abs().max()) < 1e-4


def test_integer_avg_pool3d():
    """The window's integer sum divided once, truncating (PyTorch has no
    int32 avg_pool3d on the CPU); integer avg_pool2d with divisor_override
    takes the same path."""
    x = torch.randint(-50, 50, (2, 3, 7, 6, 5), generator=torch.Generator().manual_seed(5))

    def f(x):
        return (F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True),
                F.avg_pool3d(x, (2, 2, 3), 2, (1, 1, 1), divisor_override=5),
                F.avg_pool3d(x, (3, 2, 3), (2, 3, 1), (1, 1, 1), ceil_mode=True, count_include_pad=False,
                             divisor_override=3),
                F.avg_pool3d(x[0], 2),
                F.avg_pool2d(x[:, 0], 3, 1, 1, True, False, 2), F.avg_pool2d(x[:, 0], (4, 4), (2, 3), 1, True, False, 2))

    compare(f, x, target="cpu")
