"""The channels-last pass (passes/channels_last.py) end to end: convolution
networks compiled with their convolutions and poolings in NHWC agree with
eager PyTorch, and the transposes between the layouts cancel (the report
says how many are left)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import sparcc


def _program(fast):
    (program,) = fast.cache.values()
    return program


def _layout_line(fast) -> str:
    lines = [line for line in _program(fast).report["fusions"] if line.startswith("channels-last")]
    assert len(lines) == 1, _program(fast).report["fusions"]
    return lines[0]


def _checked_layout_line(model: nn.Module, x: torch.Tensor) -> str:
    """Compiles `model`, checks it against eager on `x`, returns the report's channels-last line."""
    fast = sparcc.jit(model, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)
    return _layout_line(fast)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.down, self.up = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.up(F.relu(self.down(s))))


class Mixed(nn.Module):
    """Every op the pass moves transposes through, and each kind of
    convolution the NHWC lowering has: strided 3x3 with bias, 1x1, strided
    1x1, depthwise 5x5, grouped, dilated; max and average pooling (ceil
    mode, padding not counted); batch norm, a squeeze-excite block (mean kept
    as [N, C, 1, 1]), hardswish (broadcast constants), a residual add, a
    concatenation of channels, a mean over the channels (not kept), and the
    global pooling and flatten before the classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 5, padding=2, groups=16, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.se = SqueezeExcite(16)
        self.pw = nn.Conv2d(16, 24, 1, bias=False)
        self.grouped = nn.Conv2d(24, 24, 3, padding=1, groups=4)
        self.dilated = nn.Conv2d(24, 24, 3, padding=2, dilation=2)
        self.down = nn.Conv2d(24, 32, 1, stride=2)
        self.head = nn.Linear(32 + 24 + 1, 10)
        for bn in (self.bn1, self.bn2):  # statistics that are not the identity
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x):
        x = F.relu(self.bn1(self.stem(x)))
        x = F.max_pool2d(x, 3, 2, 1)
        y = F.silu(self.bn2(self.dw(x)))
        y = self.se(y) + x
        y = F.hardswish(self.pw(y))
        z = self.grouped(y) + self.dilated(y)
        z = F.avg_pool2d(z, 3, 2, 1, ceil_mode=True, count_include_pad=False)
        d = self.down(y)
        channel_mean = z.mean(dim=1, keepdim=True)
        both = torch.cat([F.adaptive_avg_pool2d(d, 1), F.adaptive_avg_pool2d(z, 1),
                          channel_mean.mean(dim=(2, 3), keepdim=True)], dim=1)
        return self.head(torch.flatten(both, 1))


@pytest.mark.parametrize("threads", [1, 2])
def test_mixed_network_matches_eager_with_only_the_input_transposed(threads):
    torch.manual_seed(0)
    model = Mixed().eval()
    x = torch.randn(2, 3, 32, 32)
    fast = sparcc.jit(model, threads=threads, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)
        x2 = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(fast(x2), model(x2), rtol=1e-4, atol=1e-4)
    line = _layout_line(fast)
    assert "8 convolutions and 2 poolings run NHWC" in line, line
    assert "1 layout transpose left: [2, 3, 32, 32]" in line, line


def test_a_flatten_of_several_pixels_keeps_its_transpose():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.Flatten(), nn.Linear(16 * 4 * 4, 10)).eval()
    line = _checked_layout_line(model, torch.randn(1, 3, 20, 20))
    assert "2 layout transposes left: [1, 3, 20, 20], [1, 4, 4, 16]" in line, line


class ConvNextBlock(nn.Module):
    """ConvNeXt's block: its own NHWC stretch (permute, layer norm over the
    channels, two Linears) between NCHW convolutions."""

    def __init__(self, c: int = 16):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.fc1, self.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + y


def test_a_model_that_permutes_to_channels_last_itself():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), ConvNextBlock(), ConvNextBlock()).eval()
    line = _checked_layout_line(model, torch.randn(1, 3, 32, 32))
    # the model's own permutes cancel against the pass's: the input's and the
    # result's transposes are all that is left
    assert "2 layout transposes left" in line, line


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_float_types(dtype):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.AvgPool2d(2)).eval().to(dtype)
    x = torch.randn(1, 4, 12, 12, dtype=dtype)
    fast = sparcc.jit(model, cache=False)
    with torch.no_grad():
        want = model(x)
        tol = 1e-10 if dtype == torch.float64 else 3e-2
        torch.testing.assert_close(fast(x), want, rtol=tol, atol=tol)
    assert "3 poolings" not in _layout_line(fast)
    assert "2 convolutions and 1 poolings run NHWC" in _layout_line(fast)


def test_a_batch_known_only_at_run_time_stays_nchw():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()
    fast = sparcc.jit(model, cache=False, dynamic={0: {0: (1, 8)}})
    with torch.no_grad():
        for n in (1, 3):
            x = torch.randn(n, 3, 10, 10)
            torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)


def test_the_switch_turns_it_off(monkeypatch):
    from sparcc.passes import channels_last

    monkeypatch.setattr(channels_last, "CHANNELS_LAST", False)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()
    fast = sparcc.jit(model, cache=False)
    x = torch.randn(1, 3, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)
    assert not [line for line in _program(fast).report["fusions"] if line.startswith("channels-last")]


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


# the larger ones run with the whole zoo (SPARCC_ZOO=all), as in test_model_zoo.py
_WHOLE_ZOO = [pytest.mark.slow, pytest.mark.skipif(os.environ.get("SPARCC_ZOO", "").strip().lower() != "all",
                                                   reason="runs with SPARCC_ZOO=all")]


@pytest.mark.parametrize("name", [
    "torchvision/efficientnet_b0",
    pytest.param("torchvision/regnet_y_400mf", marks=_WHOLE_ZOO),
    pytest.param("torchvision/densenet121", marks=_WHOLE_ZOO),
    pytest.param("torchvision/convnext_tiny", marks=_WHOLE_ZOO),
])
def test_real_networks_run_nhwc_end_to_end(name):
    import zoo_models

    entry = zoo_models.MODELS[name]
    torch.manual_seed(5)
    model, inputs = entry.build().eval(), entry.inputs()
    fast = sparcc.jit(model, threads=2, cache=False)
    with torch.no_grad():
        want = model(*inputs)
        got = fast(*inputs)
    assert zoo_models.error(got, want) <= entry.tol
    line = _layout_line(fast)
    assert "1 layout transpose left" in line, line


def test_the_pass_keeps_the_meaning_of_the_nn_program():
    """The pass alone, at the nn level: the reference interpreter (which runs
    the channels_last ops through PyTorch's NCHW ones) gives eager's result
    on the rewritten program, independently of the CPU lowering."""
    from xdsl.context import Context

    from sparcc import frontend
    from sparcc.backends.ref import interpret
    from sparcc.dialects import nn as nn_dialect
    from sparcc.passes.channels_last import ChannelsLastPass

    torch.manual_seed(6)
    model = Mixed().eval()
    x = torch.randn(1, 3, 24, 24)
    imported = frontend.import_module(model, (x,))
    ChannelsLastPass().apply(Context(), imported.module)
    imported.module.verify()
    ops = [op for op in imported.module.walk() if isinstance(op, (nn_dialect.Conv2dOp, nn_dialect.Pool2dOp))]
    assert ops and all(op.channels_last.value.data for op in ops)
    (got,) = interpret(imported.module, [x], imported.weights)
    with torch.no_grad():
        torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
