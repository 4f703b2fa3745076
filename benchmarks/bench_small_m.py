"""Small-M matmuls (a batch-1 CNN's late stages, a few tokens): sparcc's
register tiles against PyTorch eager (MKL), side by side in one process.

    python benchmarks/bench_small_m.py [--threads 1] [--repeat 60] [--models]

Per case, Linear(K, N) on M rows: sparcc as the schedule stands, sparcc with
the whole-row tiles turned off (backends/cpu/schedule.py: WHOLE_ROWS_MAX_M =
0 and the old packing threshold, 16 rows: the schedule before 7596300), and
eager. With --models, the same comparison on zoo models whose matmuls have
few rows (convnext_tiny, resnet50, vit_tiny at the zoo's input sizes).
Times are medians of alternating blocks (timing.blocked_median_ms).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CASES = [(8, 4096, 4096), (14, 512, 2048), (16, 384, 1536), (16, 1536, 384), (16, 2048, 2048), (17, 192, 768),
         (32, 1024, 1024), (50, 768, 3072)]
MODELS = ["torchvision/convnext_tiny", "torchvision/resnet50", "timm/vit_tiny_patch16_224"]


def _compile_both(model: Any, args: tuple[Any, ...], threads: int) -> list[Any]:
    import sparcc
    from sparcc.backends.cpu import schedule

    saved = schedule.WHOLE_ROWS_MAX_M, schedule.PACK_MIN_M
    programs = []
    try:
        for whole_rows, pack_min in ((saved[0], saved[1]), (0, 16)):
            schedule.WHOLE_ROWS_MAX_M, schedule.PACK_MIN_M = whole_rows, pack_min
            fast = sparcc.jit(model, threads=threads, cache=False)  # cache off: the key does not see the knobs
            fast(*args)
            programs.append(fast)
    finally:
        schedule.WHOLE_ROWS_MAX_M, schedule.PACK_MIN_M = saved
    return programs


def _row(name: str, model: Any, args: tuple[Any, ...], threads: int, repeat: int) -> None:
    import torch
    from timing import blocked_median_ms

    now, before = _compile_both(model, args, threads)
    torch.set_num_threads(threads)
    with torch.no_grad():
        want = model(*args)
        torch.testing.assert_close(now(*args), want, rtol=1e-3, atol=1e-3)
        ms = blocked_median_ms([lambda: now(*args), lambda: before(*args), lambda: model(*args)], repeat)
    print(f"| {name} | {ms[1]:.3f} | {ms[0]:.3f} | {ms[1] / ms[0]:.2f}x | {ms[2]:.3f} | {ms[2] / ms[0]:.2f}x |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=60)
    p.add_argument("--models", action="store_true", help="also the zoo models with few-row matmuls")
    args = p.parse_args()
    import torch

    torch.manual_seed(0)
    print(f"{args.threads} thread(s); ms; gain = before / now; vs eager = eager / now")
    print("| case | before ms | now ms | gain | eager ms | vs eager |")
    print("| --- | --- | --- | --- | --- | --- |")
    for m, k, n in CASES:
        _row(f"Linear({k}, {n}) x {m} rows", torch.nn.Linear(k, n).eval(), (torch.randn(m, k),), args.threads,
             args.repeat)
    if args.models:
        import zoo_models

        for entry in zoo_models.select(MODELS):
            _row(entry.name, entry.build(), entry.inputs(), args.threads, max(10, args.repeat // 4))


if __name__ == "__main__":
    main()
