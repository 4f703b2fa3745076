"""Static memory planning (backends/cpu/plan_buffers.py): intermediate buffers
share one arena by lifetime. Results must not change (buffers that are alive
at the same time never overlap), and the arena must be about the largest set
of buffers alive at once, not their sum (buffers of dynamic size: freed
after their last use). The IR it writes is checked by
test/cpu/plan-buffers.mlir."""

import pytest
import torch

from sparcc.backends.cpu import plan_buffers
from sparcc.driver import compile_program

WIDTH, ROWS, LAYERS = 256, 64, 12
BUFFER = WIDTH * ROWS * 4  # bytes of one activation


class Chain(torch.nn.Module):
    """LAYERS Linear+GELU layers: each activation dies when the next is made."""

    def __init__(self, residual: bool = False):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS))
        self.residual = residual

    def forward(self, x):
        first = x = torch.nn.functional.gelu(self.layers[0](x))
        for layer in self.layers[1:]:
            x = torch.nn.functional.gelu(layer(x))
        return x + first if self.residual else x  # residual: the first activation lives to the end


def _program(model, *args, threads=1):
    program = compile_program(model, args, threads=threads, use_cache=False)
    with torch.no_grad():
        torch.testing.assert_close(program(*args), model(*args), atol=1e-4, rtol=1e-4)
    return program


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("residual", [False, True])
def test_a_chain_needs_a_few_buffers_not_one_per_layer(threads, residual):
    torch.manual_seed(0)
    program = _program(Chain(residual).eval(), torch.randn(ROWS, WIDTH), threads=threads)
    arena = program.report["arenas"]["forward"]
    # unplanned, every layer's activation (and its bias-add temporaries)
    # would live to the end: LAYERS buffers or more. Planned: the layer's
    # input, its output, and (residual) the first activation
    assert arena <= (3 + residual) * BUFFER, arena / BUFFER


def test_buffers_of_dynamic_size_are_freed_after_their_last_use():
    # rows vary, so no buffer has a static size: each is made just before its
    # first use and freed after its last, and the runtime's free lists (which
    # keep a freed block for the next allocation of its size class, 1.25x at
    # most) end a call holding what was alive at once, not every activation
    from sparcc.backends import cpu

    torch.manual_seed(0)
    model = Chain().eval()
    program = compile_program(model, (torch.randn(ROWS, WIDTH),), threads=1, use_cache=False,
                              dynamic={0: {0: (1, 1024)}})
    cpu.release_memory()
    for rows in (ROWS, 7):
        x = torch.randn(rows, WIDTH)
        with torch.no_grad():
            torch.testing.assert_close(program(x), model(x), atol=1e-4, rtol=1e-4)
    assert cpu.cached_memory() <= 1.25 * 3 * BUFFER, cpu.cached_memory() / BUFFER


def test_buffers_alive_together_do_not_share_bytes():
    # a densenet-like block: every earlier feature map is read again by the
    # concatenation at the end, so none of them may be overwritten on the way
    torch.manual_seed(0)

    class Dense(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = torch.nn.ModuleList(torch.nn.Conv2d(8 * (i + 1), 8, 3, padding=1) for i in range(4))

        def forward(self, x):
            features = [x]
            for conv in self.convs:
                features.append(torch.relu(conv(torch.cat(features, 1))))
            return torch.cat(features, 1).mean((2, 3))

    _program(Dense().eval(), torch.randn(1, 8, 20, 20))


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setattr(plan_buffers, "PLAN_BUFFERS", False)
    torch.manual_seed(0)
    program = _program(Chain().eval(), torch.randn(ROWS, WIDTH))
    assert program.report["arenas"] == {}
