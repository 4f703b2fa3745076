"""The CPU schedule: which kernels get tiled/vectorised, and that they stay correct.

Each case checks the compile report (`report["schedule"]` lists one decision
per scheduled op, `report["fallbacks"]` must stay empty) and the result
against PyTorch.
"""

import pytest
import torch

from sparcc.backends.cpu.schedule import parallel_dim, parallel_split, tile_sizes
from sparcc.driver import compile_program


def compiled(fn, *args):
    program = compile_program(fn, args)
    assert program.report["fallbacks"] == []
    torch.testing.assert_close(program(*args), fn(*args), atol=1e-4, rtol=1e-4)
    return program.report["schedule"]


@pytest.mark.parametrize("m, k, n", [(1, 37, 5), (3, 16, 64), (37, 64, 130), (128, 256, 768)])
def test_matmuls_are_scheduled_for_any_shape(m, k, n):
    torch.manual_seed(0)
    decisions = compiled(lambda a, b: a @ b, torch.randn(m, k), torch.randn(k, n))
    assert any(d.startswith(f"linalg.matmul [{m}, {n}, {k}]") for d in decisions)


def test_large_batches_use_the_batch_matmul_kernel():
    torch.manual_seed(0)
    decisions = compiled(torch.bmm, torch.randn(20, 37, 8), torch.randn(20, 8, 64))
    assert any(d.startswith("linalg.batch_matmul [20, 37, 64, 8]") for d in decisions)


def test_small_batches_unroll_into_2d_matmuls():
    torch.manual_seed(0)
    decisions = compiled(torch.bmm, torch.randn(3, 16, 8), torch.randn(3, 8, 32))
    assert sum(d.startswith("linalg.matmul [16, 32, 8]") for d in decisions) == 3


def test_elementwise_and_reductions_are_vectorised_but_transposes_are_not():
    torch.manual_seed(0)
    decisions = compiled(lambda x: torch.softmax(x, -1), torch.randn(4, 100))
    assert any(d.startswith("linalg.generic [4, 100]") for d in decisions)
    decisions = compiled(lambda x: x.transpose(0, 1) + 1, torch.randn(8, 16))
    assert not any(d.startswith("linalg.generic") for d in decisions)


@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (64, 2048, 512), (1024, 1024, 1024), (37, 130, 3)])
def test_tile_sizes_fit_the_registers_and_the_problem(m, n, k):
    t = tile_sizes(m, n, k)
    assert t["mr"] <= m and t["nr"] <= n and t["kc"] <= k
    assert k % t["kc"] == 0 or t["kc"] == k
    accumulators = t["mr"] * -(-t["nr"] // 16)
    assert accumulators + -(-t["nr"] // 16) + 1 <= 32  # zmm registers


@pytest.mark.parametrize(
    "m, n, k, threads, batch, want",
    [
        (64, 2048, 512, 2, 1, ("n", 1024)),  # disjoint weight panels per thread
        (128, 64, 128, 2, 1, ("m", 64)),  # N is one register tile wide: split rows
        (8, 8, 8, 2, 1, None),  # too small to pay for a parallel region
        (64, 2048, 512, 1, 1, None),
        (37, 64, 130, 2, 20, ("b", 10)),
        (45, 192, 700, 3, 1, ("n", 64)),
        (45, 100, 700, 2, 1, None),  # no even split keeps static shapes
    ],
)
def test_parallel_split_divides_evenly_or_not_at_all(m, n, k, threads, batch, want):
    assert parallel_split(m, n, k, threads, batch) == want


def test_parallel_dim_is_the_outer_even_parallel_loop():
    assert parallel_dim([1, 4, 128, 128], ["parallel"] * 4, 2) == 1
    assert parallel_dim([128, 256], ["parallel", "reduction"], 2) == 0
    assert parallel_dim([256, 128], ["reduction", "parallel"], 2) is None  # only the innermost is parallel
    assert parallel_dim([8, 8], ["parallel"] * 2, 2) is None  # too small


def test_parallel_kernels_are_reported_and_correct():
    torch.manual_seed(0)
    x = torch.randn(64, 1024)
    program = compile_program(lambda t: torch.softmax(t, -1), (x,), threads=2)
    assert any("'split': 0, 'threads': 2" in d for d in program.report["schedule"]), program.report["schedule"]
    torch.testing.assert_close(program(x), torch.softmax(x, -1), atol=1e-5, rtol=1e-5)
    a, b = torch.randn(20, 37, 130), torch.randn(20, 130, 64)
    program = compile_program(torch.bmm, (a, b), threads=2)
    assert any("'split': 'b'" in d for d in program.report["schedule"]), program.report["schedule"]
    torch.testing.assert_close(program(a, b), torch.bmm(a, b), atol=1e-4, rtol=1e-4)
