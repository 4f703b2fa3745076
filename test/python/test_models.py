"""
Whole models through sparcc.jit vs PyTorch (CPU, float32).

Tolerance: atol = rtol = 1e-4 for the MLP and the CNN. The transformer layer
uses atol = rtol = 2e-4: its outputs pass through two layer norms, a softmax
over 128 keys and sums over 256/1024-long dims, each accumulated in a
different order than PyTorch's (blocked) kernels, and exp/erf use sparcc's
polynomial approximations (approximate-math, ~1 ulp / 1.5e-7 absolute).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import check

import sparcc


def test_mlp():
    model = nn.Sequential(nn.Linear(37, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    check(model, torch.randn(3, 37))


def test_mlp_recompiles_per_signature():
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)).eval()
    fast = sparcc.jit(model)
    for batch in (1, 5, 1):
        x = torch.randn(batch, 8)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), model(x), atol=1e-4, rtol=1e-4)
    assert fast.compiles == 2


def _encoder_layer() -> nn.Module:
    return nn.TransformerEncoderLayer(
        d_model=256, nhead=4, dim_feedforward=1024, batch_first=True, dropout=0.0
    ).eval()


@pytest.mark.parametrize("shape", [(1, 128, 256), (2, 16, 256)])
def test_transformer_encoder_layer(shape):
    check(_encoder_layer(), torch.randn(*shape), atol=2e-4, rtol=2e-4)


def test_transformer_encoder_layer_norm_first_gelu():
    layer = nn.TransformerEncoderLayer(
        d_model=64, nhead=2, dim_feedforward=128, batch_first=True, dropout=0.0,
        norm_first=True, activation="gelu",
    ).eval()
    check(layer, torch.randn(2, 9, 64), atol=2e-4, rtol=2e-4)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        x = nn.functional.max_pool2d(x, 2)
        x = nn.functional.avg_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def test_small_cnn():
    model = SmallCNN().eval()
    with torch.no_grad():  # non-trivial running statistics
        model.bn.running_mean.normal_()
        model.bn.running_var.uniform_(0.5, 2.0)
    check(model, torch.randn(2, 3, 16, 16))


def test_weights_stay_out_of_the_ir(monkeypatch):
    """Parameters reach compiled code as buffers: the IR names them and holds
    no weight data, so its size does not grow with the model. (Without
    customize-layout, which gives the 1024-wide weight panels and the IR a
    few more ops than the 64-wide one.)"""
    import re

    monkeypatch.setenv("SPARCC_LAYOUT", "0")

    from sparcc.driver import compile_program

    sizes = {}
    for width in (64, 1024):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU()).eval()
        program = compile_program(model, (torch.randn(2, width),))
        for stage in ("nn", "linalg"):
            assert not re.search(r"dense<[^>]{200,}", program.ir[stage])  # no inlined tensor data
        assert 'nn.weight @"0.weight"' in program.ir["nn"] or "nn.weight @0.weight" in program.ir["nn"]
        sizes[width] = len(program.ir["linalg"])
        x = torch.randn(2, width)
        torch.testing.assert_close(program(x), model(x), atol=1e-4, rtol=1e-4)
    assert abs(sizes[1024] - sizes[64]) < 200  # only the printed shapes differ


class _ManyWeights(torch.nn.Module):
    """1100 separate parameters: more weight buffers than ctypes can pass as
    arguments (1024); the entry point's packed form takes them in one array."""

    def __init__(self, n: int = 1100):
        super().__init__()
        self.ps = torch.nn.ParameterList(torch.nn.Parameter(torch.randn(4)) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for p in self.ps:
            x = x + p
        return x


def test_more_weights_than_ctypes_arguments():
    torch.manual_seed(0)
    model = _ManyWeights().eval()
    x = torch.randn(2, 4)
    fast = sparcc.jit(model, threads=1, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), atol=1e-4, rtol=1e-5)
    program = next(iter(fast.cache.values()))
    assert len(program.weights) > 1024
