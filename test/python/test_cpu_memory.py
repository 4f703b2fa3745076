"""Intermediate buffers of compiled code come from the runtime's free lists
(runtime.c): a block freed by one call serves the next, so a model's
activations are not page-faulted in again on every call. Reused blocks hold
the previous call's values; the results must not depend on them."""

import subprocess
import sys
import threading

import pytest
import torch

import sparcc
from sparcc.backends import cpu


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    # 64 x 4096 float intermediates (1 MiB): above the 64 KiB the free lists start at
    return torch.nn.Sequential(torch.nn.Linear(256, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 4096),
                               torch.nn.ReLU(), torch.nn.Linear(4096, 32)).eval()


def test_freed_blocks_are_kept_reused_and_released():
    model = _model()
    fast = sparcc.jit(model, cache=False)
    cpu.release_memory()
    for seed in range(3):  # each call on new values: reused blocks hold the last call's
        x = torch.randn(64, 256, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)
        kept = cpu.cached_memory()
        assert kept >= 2 * 64 * 4096 * 4  # the two 1 MiB intermediates at least
        if seed == 0:
            first = kept
        else:
            assert kept == first  # the same blocks came back, none were added
    assert cpu.release_memory() == first and cpu.cached_memory() == 0
    x = torch.randn(64, 256)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)


def test_concurrent_callers_share_the_free_lists():
    model = _model()
    fast = sparcc.jit(model, cache=False)
    xs = [torch.randn(64, 256, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    with torch.no_grad():
        want = [model(x) for x in xs]
    got: dict[int, list[torch.Tensor]] = {}

    def work(i: int) -> None:
        got[i] = [fast(xs[(i + r) % 4]) for r in range(12)]

    # the first calls race too: one compiles, the others wait for its program
    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [0, 1, 2]  # a thread that raised left no entry
    assert len(fast.cache) == 1
    for i, outs in got.items():
        for r, y in enumerate(outs):
            torch.testing.assert_close(y, want[(i + r) % 4], rtol=1e-4, atol=1e-5)


def test_a_zero_cache_limit_keeps_nothing():
    code = (
        "import torch, sparcc\n"
        "from sparcc.backends import cpu\n"
        "m = torch.nn.Sequential(torch.nn.Linear(256, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 8)).eval()\n"
        "f = sparcc.jit(m, cache=False)\n"
        "x = torch.randn(64, 256)\n"
        "with torch.no_grad():\n"
        "    for _ in range(2): torch.testing.assert_close(f(x), m(x), rtol=1e-4, atol=1e-5)\n"
        "print(cpu.cached_memory())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "SPARCC_ALLOC_CACHE_MB": "0"}, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "0"


def test_the_limit_can_change_in_a_process():
    model = _model()
    fast = sparcc.jit(model, cache=False)
    x = torch.randn(64, 256)
    try:
        cpu.set_cached_memory_limit(0)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)
        assert cpu.cached_memory() == 0
        # 3 MiB: room for the arena of the planned intermediates (two 1 MiB
        # buffers alive at once: 2.5 MiB with its header and size class)
        cpu.set_cached_memory_limit(3)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)
        assert 2 << 20 < cpu.cached_memory() <= 3 << 20
    finally:
        cpu.set_cached_memory_limit(1024)


def test_a_limit_that_is_not_a_number_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("SPARCC_ALLOC_CACHE_MB", "1G")
    with pytest.raises(sparcc.SparccError, match="SPARCC_ALLOC_CACHE_MB='1G' must be a whole number of MiB"):
        sparcc.jit(lambda x: x * 2.0, cache=False)(torch.randn(4))
