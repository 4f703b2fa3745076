"""Weights in panels (passes/customize_layout.py) against the plain matmul
schedule, and PyTorch eager, side by side in one process.

    python benchmarks/bench_layout.py [--threads 1,2] [--repeat 60] [--models] [--cases 1000] [--gpt2]

Per case, Linear(K, N) on M rows compiled twice: with customize-layout (the
default pipeline) and without it (SPARCC_LAYOUT=0, which the cache keys see),
then both and eager timed in alternating blocks (timing.blocked_median_ms).
With --models, the same on zoo models whose weights meet few rows
(torchvision resnet50 at 64x64: its last stage's convolutions run on 2x2 and
4x4 positions) and a 4-layer MLP decoding one token. With --gpt2, HF GPT-2
(124M, 50257 classes) with its head's weight padded to whole panels or not
(the plain columns: not padded). Writes benchmarks/results/layout.json.
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
         (1, 2048, 1000), (1, 768, 1000),  # 1000-class heads, panels of 8
         (1, 768, 50257), (8, 768, 50257), (1, 768, 30522), (1, 1024, 1001)]  # no panel divides N: padded
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
    p.add_argument("--gpt2", action="store_true", help="also HF GPT-2 (124M) with its head padded or not")
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
        if args.gpt2:
            for tokens in (1, 8):
                rows.append(_gpt2_row(tokens, threads, max(10, args.repeat // 6)))
    write_results(args.json, rows)


def _gpt2_row(tokens: int, threads: int, repeat: int) -> dict[str, Any]:
    """HF GPT-2 (124M, random weights, its 50257 classes) to logits: its
    head's weight padded to whole panels (customize_layout.PAD_PANELS)
    against left row-major, and eager. The columns read plain = unpadded."""
    import sparcc
    import torch
    import zoo_models
    from sparcc.passes import customize_layout
    from timing import blocked_median_ms

    transformers = zoo_models.frameworks()[1]
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    ids = torch.randint(0, 50257, (1, tokens))

    def logits(t: torch.Tensor) -> torch.Tensor:
        return model(input_ids=t).logits

    programs = []
    try:
        for pad in (True, False):
            customize_layout.PAD_PANELS = pad
            fast = sparcc.jit(logits, threads=threads, cache=False)  # the cache key does not see the switch
            fast(ids)
            programs.append(fast)
    finally:
        customize_layout.PAD_PANELS = True
    torch.set_num_threads(threads)
    with torch.no_grad():
        want = logits(ids)
        for fast in programs:
            torch.testing.assert_close(fast(ids), want, rtol=1e-3, atol=1e-3)
        padded, plain = programs
        ms = blocked_median_ms([lambda: padded(ids), lambda: plain(ids), lambda: logits(ids)], repeat)
    name = f"gpt2 124M, {tokens} token(s), head padded"
    print(f"| {name} | {threads} | {ms[1]:.2f} | {ms[0]:.2f} | {ms[1] / ms[0]:.2f}x | {ms[2]:.2f} | "
          f"{ms[2] / ms[0]:.2f}x |", flush=True)
    return {"case": name, "threads": threads, "plain_ms": ms[1], "panels_ms": ms[0], "eager_ms": ms[2]}


if __name__ == "__main__":
    main()
