"""Weights in panels (passes/customize_layout.py) against the plain matmul
schedule, and PyTorch eager, side by side in one process.

    python benchmarks/bench_layout.py [--threads 1,2] [--repeat 60] [--models] [--cases 1000]

Per case, Linear(K, N) on M rows compiled twice: with customize-layout (the
default pipeline) and without it (SPARCC_LAYOUT=0, which the cache keys see),
then both and eager timed in alternating blocks (timing.blocked_median_ms).
With --models, the same on zoo models whose weights meet few rows
(torchvision resnet50 at 64x64: its last stage's convolutions run on 2x2 and
4x4 positions) and a 4-layer MLP decoding one token. Writes
benchmarks/results/layout.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CASES = [(1, 4096, 4096), (1, 768, 3072), (4, 4608, 512), (4, 2304, 256), (8, 4096, 4096), (8, 1024, 1024),
         (1, 2048, 1000), (1, 768, 1000)]  # the last two: 1000-class heads, panels of 8
MODELS = ["torchvision/resnet50", "torchvision/resnet18"]


def _compile_both(model: Any, args: tuple[Any, ...], threads: int) -> list[Any]:
    import sparcc

    programs = []
    saved = os.environ.get("SPARCC_LAYOUT")
    try:
        for layout in ("1", "0"):
            os.environ["SPARCC_LAYOUT"] = layout
            fast = sparcc.jit(model, threads=threads)
            fast(*args)
            programs.append(fast)
    finally:
        if saved is None:
            os.environ.pop("SPARCC_LAYOUT", None)
        else:
            os.environ["SPARCC_LAYOUT"] = saved
    return programs


def _row(name: str, model: Any, args: tuple[Any, ...], threads: int, repeat: int) -> dict[str, Any]:
    import torch
    from timing import blocked_median_ms

    panels, plain = _compile_both(model, args, threads)
    torch.set_num_threads(threads)
    with torch.no_grad():
        want = model(*args)
        for fast in (panels, plain):
            torch.testing.assert_close(fast(*args), want, rtol=1e-3, atol=1e-3)
        ms = blocked_median_ms([lambda: panels(*args), lambda: plain(*args), lambda: model(*args)], repeat)
    print(f"| {name} | {threads} | {ms[1]:.3f} | {ms[0]:.3f} | {ms[1] / ms[0]:.2f}x | {ms[2]:.3f} | "
          f"{ms[2] / ms[0]:.2f}x |", flush=True)
    return {"case": name, "threads": threads, "plain_ms": ms[1], "panels_ms": ms[0], "eager_ms": ms[2],
            "gain": ms[1] / ms[0], "vs_eager": ms[2] / ms[0]}


def _decoder_mlp() -> Any:
    import torch

    layers = []
    for _ in range(4):
        layers += [torch.nn.Linear(2048, 5632), torch.nn.SiLU(), torch.nn.Linear(5632, 2048)]
    return torch.nn.Sequential(*layers).eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeat", type=int, default=60)
    p.add_argument("--models", action="store_true", help="also zoo models and a decoder MLP")
    p.add_argument("--json", default=str(HERE / "results" / "layout.json"))
    p.add_argument("--cases", metavar="N,K,..", help="only the cases with these N (out features), e.g. 1000")
    args = p.parse_args()
    import torch
    from timing import write_results

    rows = []
    print("ms; gain = plain / panels; vs eager = eager / panels")
    print("| case | threads | plain ms | panels ms | gain | eager ms | vs eager |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.manual_seed(0)
        wanted = {int(n) for n in args.cases.split(",")} if args.cases else None
        for m, k, n in CASES:
            if wanted is not None and n not in wanted:
                continue
            rows.append(_row(f"Linear({k}, {n}) x {m} rows", torch.nn.Linear(k, n).eval(), (torch.randn(m, k),),
                             threads, args.repeat))
        if args.models:
            import zoo_models

            for entry in zoo_models.select(MODELS):
                rows.append(_row(entry.name, entry.build(), entry.inputs(), threads, max(10, args.repeat // 4)))
            rows.append(_row("4 x MLP 2048-5632-2048, 1 token", _decoder_mlp(), (torch.randn(1, 2048),), threads,
                             max(10, args.repeat // 4)))
    write_results(args.json, rows)


if __name__ == "__main__":
    main()
