"""What the benchmarks share: blocked, alternating timing and the results file."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import sparcc
import torch


SETTLE_S = 0.02  # the least time of uncounted calls at the start of each block


def blocked_median_ms(
    calls: Sequence[Callable[[], Any]],
    repeat: int,
    block: int = 12,
    settle: int = 2,
    slow_s: float = math.inf,
    setups: Sequence[Callable[[], None]] | None = None,
) -> list[float]:
    """Median latency (ms) of each zero-argument callable.

    The callables run in alternating blocks of `block - settle` counted
    calls, after uncounted ones (at least `settle`, and at least SETTLE_S
    long), so a change in machine load hits all of them alike while each
    runtime's idle workers stop spinning before the next one is timed. `setups[i]()` runs before each block of call i (e.g.
    torch.set_num_threads). A callable slower than `slow_s` per call is
    timed on its own, over 3 calls, after the others.
    """
    setups = setups or [lambda: None] * len(calls)
    times: list[list[float]] = [[] for _ in calls]
    slow, settles = [], []
    with torch.no_grad():
        for fn, setup in zip(calls, setups):
            setup()
            start = time.perf_counter()
            fn()
            slow.append(time.perf_counter() - start > slow_s)
            for _ in range(0 if slow[-1] else 2):
                fn()
            start = time.perf_counter()
            fn()
            # uncounted calls fill at least SETTLE_S: the previous contender's
            # threads (PyTorch's OpenMP team, sparcc's pool) spin after its
            # last call, and on 2 cores they take the cores that a 0.1 ms
            # model needs (Llama's tiny config measured 0.56 ms at 2 threads
            # after eager blocks, 0.08 ms alone). libgomp's spin is a count
            # of PAUSE loops: on a Sapphire-Rapids-class Xeon, whose PAUSE is
            # ~10x longer, 5 ms did not cover it (0.06 ms calls measured
            # 0.3-0.6 ms; with OMP_WAIT_POLICY=PASSIVE, or 20 ms, 0.05 ms)
            settles.append(max(settle, math.ceil(SETTLE_S / max(time.perf_counter() - start, 1e-7))))
        counted = block - settle
        for _ in range(max(1, -(-repeat // counted))):
            for fn, setup, ts, is_slow, first in zip(calls, setups, times, slow, settles):
                if is_slow:
                    continue
                setup()
                for i in range(first + counted):
                    start = time.perf_counter()
                    fn()
                    if i >= first:
                        ts.append(time.perf_counter() - start)
        for fn, setup, ts, is_slow in zip(calls, setups, times, slow):
            if is_slow:
                setup()
                for _ in range(3):
                    start = time.perf_counter()
                    fn()
                    ts.append(time.perf_counter() - start)
    return [statistics.median(ts) * 1e3 for ts in times]


def write_results(path: str, rows: list[dict[str, Any]], **extra: Any) -> None:
    """`rows` and the machine they were measured on, as JSON at `path`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(
            {
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
                "sparcc": sparcc.__version__,
                **extra,
                "results": rows,
            },
            f,
            indent=2,
        )
    print(f"wrote {path}")
