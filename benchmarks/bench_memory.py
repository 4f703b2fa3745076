"""The runtime's free lists for intermediate buffers (backends/cpu/runtime.c)
against glibc's malloc, on zoo models at batch 1.

    python benchmarks/bench_memory.py [--threads 1,2] [--repeat 20] [--only GLOB ...]

Each model runs in two fresh processes: one with the free lists (the
default) and one with SPARCC_ALLOC_CACHE_MB=0, where every freed block goes
back to glibc, whose large blocks are mmapped and unmapped, so each call
page-faults its activations in again. Each process times sparcc and eager
PyTorch in alternating blocks (timing.blocked_median_ms). Separate processes
because one process cannot show the cost: once it has run with the free
lists, glibc's heap (its mmap threshold moves with what was freed) no longer
behaves as in a process that never had them (in one process the two modes
measured within 10 % of each other; in fresh processes densenet121 took
19.8 ms without them and 10.6 ms with them). Writes
benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODELS = ["torchvision/densenet121", "torchvision/resnet50", "torchvision/convnext_tiny", "torchvision/resnet18",
          "torchvision/mobilenet_v3_small", "timm/vit_tiny_patch16_224", "hf/gpt2", "hf/bert"]


def child(name: str, threads: int, repeat: int) -> None:
    import sparcc
    import torch
    import zoo_models
    from timing import blocked_median_ms

    (entry,) = zoo_models.select([name])
    model, inputs = entry.build().eval(), entry.inputs()
    fast = sparcc.jit(model, threads=threads)
    torch.set_num_threads(threads)
    with torch.no_grad():
        fast(*inputs)
    ms = blocked_median_ms([lambda: fast(*inputs), lambda: model(*inputs)], repeat)
    print(json.dumps({"sparcc_ms": ms[0], "eager_ms": ms[1]}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--only", action="append", metavar="GLOB")
    p.add_argument("--json", default=str(HERE / "results" / "memory.json"))
    p.add_argument("--child", nargs=2, metavar=("MODEL", "THREADS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.repeat)
        return
    import zoo_models
    from timing import write_results

    rows: list[dict[str, Any]] = []
    print("ms; gain = off / on; vs eager = eager / on (eager from the 'on' process)")
    print("| model | threads | free lists off ms | on ms | gain | eager ms | vs eager |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for entry in zoo_models.select(args.only or MODELS):
        for threads in [int(t) for t in args.threads.split(",")]:
            got = {}
            for mode, limit in (("on", "1024"), ("off", "0")):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", entry.name, str(threads), "--repeat", str(args.repeat)],
                    env={**os.environ, "SPARCC_ALLOC_CACHE_MB": limit}, capture_output=True, text=True, timeout=1800,
                )
                if out.returncode != 0:
                    raise SystemExit(f"{entry.name} ({mode}): {out.stderr.strip().splitlines()[-1:]}")
                got[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            on, off, eager = got["on"]["sparcc_ms"], got["off"]["sparcc_ms"], got["on"]["eager_ms"]
            rows.append({"model": entry.name, "threads": threads, "on_ms": on, "off_ms": off, "eager_ms": eager})
            print(f"| {entry.name} | {threads} | {off:.2f} | {on:.2f} | {off / on:.2f}x | {eager:.2f} | "
                  f"{eager / on:.2f}x |", flush=True)
    write_results(args.json, rows)


if __name__ == "__main__":
    main()
