"""The runtime's free lists for intermediate buffers (backends/cpu/runtime.c)
against glibc's malloc, on zoo models at batch 1, in one process.

    python benchmarks/bench_memory.py [--threads 1,2] [--repeat 20] [--only GLOB ...]

Each model is compiled once; its calls alternate in blocks between the free
lists on (the default: freed blocks kept for the next call) and off
(set_cached_memory_limit(0): every block back to glibc, which returns large
ones to the system, so the next call page-faults them in again), with eager
PyTorch as the third contender. Writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODELS = ["torchvision/densenet121", "torchvision/resnet50", "torchvision/convnext_tiny", "torchvision/resnet18",
          "torchvision/mobilenet_v3_small", "timm/vit_tiny_patch16_224", "hf/gpt2", "hf/bert"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--only", action="append", metavar="GLOB")
    p.add_argument("--json", default=str(HERE / "results" / "memory.json"))
    args = p.parse_args()
    import sparcc
    import torch
    import zoo_models
    from sparcc.backends import cpu
    from timing import blocked_median_ms, write_results

    rows: list[dict[str, Any]] = []
    print("ms; gain = off / on; vs eager = eager / on")
    print("| model | threads | free lists off ms | on ms | gain | eager ms | vs eager |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for entry in zoo_models.select(args.only or MODELS):
        model, inputs = entry.build().eval(), entry.inputs()
        for threads in [int(t) for t in args.threads.split(",")]:
            fast = sparcc.jit(model, threads=threads)
            with torch.no_grad():
                fast(*inputs)
            torch.set_num_threads(threads)
            ms = blocked_median_ms(
                [lambda: fast(*inputs), lambda: fast(*inputs), lambda: model(*inputs)], args.repeat,
                setups=[lambda: cpu.set_cached_memory_limit(1024), lambda: cpu.set_cached_memory_limit(0),
                        lambda: None],
            )
            cpu.set_cached_memory_limit(1024)
            rows.append({"model": entry.name, "threads": threads, "on_ms": ms[0], "off_ms": ms[1], "eager_ms": ms[2]})
            print(f"| {entry.name} | {threads} | {ms[1]:.2f} | {ms[0]:.2f} | {ms[1] / ms[0]:.2f}x | {ms[2]:.2f} | "
                  f"{ms[2] / ms[0]:.2f}x |", flush=True)
    write_results(args.json, rows)


if __name__ == "__main__":
    main()
