"""Outlining (backends/cpu/outline.py): each loop nest of `forward` becomes a
function of its own, equal nests share one, and results do not change."""

import pytest
import torch

from sparcc.driver import compile_program


def blocks(n: int) -> torch.nn.Module:
    torch.manual_seed(0)
    layers = []
    for _ in range(n):
        layers += [torch.nn.Linear(32, 32), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers).eval()


def test_equal_layers_share_one_function_and_match_pytorch():
    x = torch.randn(4, 32)
    counts = {}
    for n in (2, 6):
        model = blocks(n)
        program = compile_program(model, (x,), use_cache=False)
        with torch.no_grad():
            torch.testing.assert_close(program(x), model(x), atol=1e-5, rtol=1e-5)
        counts[n] = program.report["outlined"]
        assert counts[n]["nests"] > counts[n]["functions"] > 0
    # four more layers of the same shapes: more calls, no new functions
    assert counts[6]["nests"] > counts[2]["nests"]
    assert counts[6]["functions"] == counts[2]["functions"]


def test_equal_layers_are_scheduled_once():
    # outlining runs before the schedule: six equal Linear layers are one
    # function, so the schedule tiles one matmul, not six (after the
    # schedule, each copy was scheduled and hoisted on its own)
    x = torch.randn(4, 32)
    decisions = {}
    for n in (2, 6):
        program = compile_program(blocks(n), (x,), use_cache=False)
        decisions[n] = [d for d in program.report["schedule"] if d.startswith("linalg.matmul")]
    assert len(decisions[6]) == len(decisions[2]) == 1


def test_layers_of_different_shapes_get_their_own_functions():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 48), torch.nn.ReLU(), torch.nn.Linear(48, 16)).eval()
    x = torch.randn(3, 32)
    program = compile_program(model, (x,), use_cache=False)
    with torch.no_grad():
        torch.testing.assert_close(program(x), model(x), atol=1e-5, rtol=1e-5)
    assert program.report["outlined"]["functions"] >= 2


def test_a_model_that_reuses_one_buffer_in_place_stays_correct():
    # the outlined functions mark their memref arguments noalias: each is a
    # distinct buffer (views are cloned inside), also when one op reads and
    # writes the same buffer, as an in-place add after bufferisation does
    def f(x, y):
        z = x * 2
        z = z + y
        return torch.cat([z, z * 3], 0).relu() + 1

    x, y = torch.randn(8, 16), torch.randn(8, 16)
    program = compile_program(f, (x, y), use_cache=False)
    torch.testing.assert_close(program(x, y), f(x, y))


@pytest.mark.parametrize("length", [3, 17])
def test_nests_over_dynamic_sizes_stay_inline_and_match(length):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU()).eval()
    program = compile_program(model, (torch.randn(5, 16),), use_cache=False, dynamic={0: {0: (1, 64)}})
    x = torch.randn(length, 16)
    with torch.no_grad():
        torch.testing.assert_close(program(x), model(x), atol=1e-5, rtol=1e-5)
    assert program.report["outlined"]["kept"] > 0
