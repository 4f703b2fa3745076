"""The epilogue fusion (passes/fuse_epilogue.py) end to end: a matmul whose
result leaves L2 and is written transposed (an NCHW output, a Linear's
output returned transposed) runs with its elementwise consumer block by
block of columns, and the program still agrees with eager PyTorch, at one
and two threads, through the reshapes of a channels-last convolution, with
operands that vary along the rows only, in other float types; the report
names each fused matmul and counts the others."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import sparcc
from sparcc.passes import fuse_epilogue


def _program(fast):
    (program,) = fast.cache.values()
    return program


def _epilogue_lines(fast) -> list[str]:
    return [line for line in _program(fast).report["fusions"] if line.startswith("epilogue:")]


def _fused(fast) -> list[str]:
    return [line for line in _epilogue_lines(fast) if " fused in " in line]


def _compiled(model, args, threads: int = 1, rtol: float = 1e-4, atol: float = 1e-4):
    fast = sparcc.jit(model, threads=threads, cache=False)
    with torch.no_grad():
        got, want = fast(*args), model(*args)
    torch.testing.assert_close(got, want, rtol=rtol, atol=atol)
    return fast


class LinearGelu(nn.Module):
    """Linear + GELU, returned transposed (or in order)."""

    def __init__(self, k: int = 128, n: int = 512, transposed: bool = True):
        super().__init__()
        self.fc = nn.Linear(k, n)
        self.transposed = transposed

    def forward(self, x):
        y = F.gelu(self.fc(x))
        return y.t().contiguous() if self.transposed else y


class ConvBlock(nn.Module):
    """A stem and a ResNet bottleneck's end: a 3x3 convolution (a gathered
    matmul) with batch norm and SiLU, whose result the next convolution
    reads in order (NHWC), then a 1x1 convolution (the input's rows times
    the weight, K = 64) with batch norm, a residual and ReLU, returned NCHW:
    that epilogue writes through a transposed output map."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn0 = nn.Conv2d(8, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
        self.pw, self.bn1 = nn.Conv2d(64, 128, 1, bias=False), nn.BatchNorm2d(128)
        with torch.no_grad():
            for bn in (self.bn0, self.bn1):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)

    def forward(self, x, residual):
        y = F.silu(self.bn0(self.stem(x)))
        return F.relu(self.bn1(self.pw(y)) + residual)


@pytest.mark.parametrize("threads", [1, 2])
def test_linear_gelu_fused_in_column_blocks(threads):
    torch.manual_seed(0)
    model = LinearGelu().eval()
    fast = _compiled(model, (torch.randn(2048, 128),), threads)
    (line,) = _fused(fast)
    # 2048 rows x 512 columns of f32 (4 MiB): blocks of 64 columns keep 2048 x 64 (512 KiB) in L2
    assert line.startswith("epilogue: matmul [2048, 512, 128] + ") and "in 8 blocks of 64 columns" in line, line
    assert "written transposed" in line and "4.0 MiB result not read back" in line


def test_a_result_read_back_in_order_from_cache_is_not_fused():
    torch.manual_seed(0)
    fast = _compiled(LinearGelu(transposed=False).eval(), (torch.randn(2048, 128),))
    assert _epilogue_lines(fast) == [
        "epilogue: 1 matmuls not fused (the result stays in the last-level cache, in order: 1)"]


def test_switch_off_gives_the_same_values():
    torch.manual_seed(1)
    model = LinearGelu().eval()
    x = torch.randn(2048, 128)
    fast = _compiled(model, (x,))
    saved = fuse_epilogue.FUSE_EPILOGUE
    fuse_epilogue.FUSE_EPILOGUE = False
    try:
        plain = sparcc.jit(model, cache=False)
        with torch.no_grad():
            unfused = plain(x)
    finally:
        fuse_epilogue.FUSE_EPILOGUE = saved
    assert not _epilogue_lines(plain)
    with torch.no_grad():
        # the same kernels on the same columns: bit for bit
        assert torch.equal(fast(x), unfused)


@pytest.mark.parametrize("threads", [1, 2])
def test_channels_last_convolutions_with_batch_norm_and_residual(threads):
    torch.manual_seed(2)
    model = ConvBlock().eval()
    x, residual = torch.randn(1, 8, 48, 48), torch.randn(1, 128, 48, 48)
    fast = _compiled(model, (x, residual), threads)
    (fused,) = _fused(fast)
    # the 1x1 convolution [2304, 128, 64], written NCHW; the stem's [2304, 64] is read back in
    # order (at two threads each thread's half stays in L2)
    assert fused.startswith("epilogue: matmul [2304, 128, 64] + ") and "written transposed" in fused, fused
    assert "not fused (the result stays in" in _epilogue_lines(fast)[-1], _epilogue_lines(fast)


def test_operand_varying_along_rows_only_is_read_whole():
    """A per-row scale [M, 1] does not vary along the blocked columns: every
    block reads all of it."""

    class RowScaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 256, bias=False)

        def forward(self, x, s, r):
            return (torch.tanh(self.fc(x) * s) + r).t().contiguous()

    torch.manual_seed(3)
    model = RowScaled().eval()
    args = (torch.randn(4096, 64), torch.rand(4096, 1) + 0.5, torch.randn(4096, 256))
    fast = _compiled(model, args)
    assert len(_fused(fast)) == 1, _epilogue_lines(fast)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_float_types(dtype):
    torch.manual_seed(4)
    model = LinearGelu(64, 256).to(dtype).eval()
    x = torch.randn(4096, 64, dtype=dtype)
    tol = 1e-2 if dtype == torch.bfloat16 else 1e-10
    fast = _compiled(model, (x,), rtol=tol, atol=tol)
    if dtype == torch.float64:  # 4096 x 256 x 8 bytes: 8 MiB
        assert len(_fused(fast)) == 1, _epilogue_lines(fast)


def test_small_results_are_counted_not_fused():
    torch.manual_seed(5)
    model = LinearGelu(64, 64).eval()
    fast = _compiled(model, (torch.randn(32, 64),))
    assert _epilogue_lines(fast) == ["epilogue: 1 matmuls not fused (the result stays in L2: 1)"]


def test_dynamic_rows_are_left_alone():
    torch.manual_seed(6)
    model = LinearGelu(64, 256).eval()
    fast = sparcc.jit(model, cache=False, dynamic={0: {0: (1, None)}})
    for rows in (4096, 3000):
        x = torch.randn(rows, 64)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)
    for program in fast.cache.values():
        assert not any(" fused in " in line for line in program.report["fusions"]), program.report["fusions"]


def test_choose_is_the_cost_interface():
    in_order = fuse_epilogue.EpilogueProblem(m=3136, n=256, k=64, elem_bytes=4, threads=1)
    assert fuse_epilogue.choose(in_order).why == "the result stays in the last-level cache, in order"
    assert fuse_epilogue.choose(in_order, llc_bytes=1 << 20).fuse  # 3.1 MiB from memory
    p = fuse_epilogue.EpilogueProblem(m=3136, n=256, k=64, elem_bytes=4, threads=1, transposed=True)
    choice = fuse_epilogue.choose(p)
    # 3136 x 32 x 4 = 392 KiB fits 512 KiB, 3136 x 64 x 4 does not
    assert choice.fuse and choice.nb == 32
    assert choice.saved_ns == pytest.approx(fuse_epilogue.predicted_saved_ns(p, 32))
    assert not fuse_epilogue.choose(p, l2_bytes=8 << 20).fuse  # the whole result stays in L2
    assert fuse_epilogue.choose(p, min_saved_ns=1e9).why == "too little to save"
    # the same result at K = 2048: its traffic is under 5 % of the matmul's time
    deep = fuse_epilogue.EpilogueProblem(m=3136, n=256, k=2048, elem_bytes=4, threads=1, transposed=True)
    assert not fuse_epilogue.choose(deep).fuse
    assert fuse_epilogue.choose(deep, min_share=0.0).fuse
    two = fuse_epilogue.choose(fuse_epilogue.EpilogueProblem(8192, 48, 64, 4, threads=2, transposed=True))
    assert not two.fuse and "threads" in two.why  # 3 blocks of 16 do not divide between 2 threads
