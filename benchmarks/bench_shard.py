"""Sharding benchmark: a wide MLP on 2 ranks x 1 thread against 1 rank x 1 thread.

    python benchmarks/bench_shard.py [--json benchmarks/results/shard.json] [--repeat 20]

Model: Linear(4096, 16384) - GELU - Linear(16384, 4096) at batch 64 (512 MiB
of float32 weights). Two gloo processes (torch.multiprocessing) each hold
half of the weights (fc1 column-parallel, fc2 row-parallel: one all-reduce
of the 64x4096 output per call, 1 MiB). The baseline is the whole model
compiled by sparcc.jit for 1 thread, run by rank 0 while rank 1 waits in a
barrier; eager PyTorch at 1 thread is printed for reference.

The contenders run in alternating blocks of --block calls (the first two of
each block are not counted), medians over --repeat counted calls. Issue 16's
target is a ratio of at least 1.6 on a 2-core machine; on a machine whose
cores other jobs also use, both the ratio and the times are noisy.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from typing import Any

import torch


class WideMLP(torch.nn.Module):
    def __init__(self, d: int, f: int):
        super().__init__()
        self.fc1 = torch.nn.Linear(d, f)
        self.fc2 = torch.nn.Linear(f, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


def _timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _worker(rank: int, world: int, port: int, args: argparse.Namespace, result: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=rank, world_size=world)
    import sparcc

    torch.manual_seed(0)
    model = WideMLP(args.d, args.f).eval()
    x = torch.randn(args.batch, args.d)
    start = time.perf_counter()
    sharded = sparcc.jit(model, shard={"fc1.weight": "shard(0)", "fc2.weight": "shard(1)"}, threads=1)
    with torch.no_grad():
        y = sharded(x)
    compile_sharded = time.perf_counter() - start
    single = None
    if rank == 0:
        start = time.perf_counter()
        single = sparcc.jit(model, threads=1)
        want = single(x)
        compile_single = time.perf_counter() - start
        with torch.no_grad():
            eager_err = float((model(x) - want).abs().max())
        err = float((y - want).abs().max())
    dist.barrier()
    counted = args.block - 2
    times: dict[str, list[float]] = {"single": [], "sharded": [], "eager": []}
    split = sharded.program.seconds
    split["compute"] = split["collectives"] = 0.0
    with torch.no_grad():
        while len(times["sharded"]) < args.repeat:
            if rank == 0:
                times["single"] += _timed(lambda: single(x), args.block)[2:]
            dist.barrier()
            t = _timed(lambda: sharded(x), args.block)[2:]
            times["sharded"] += t
            dist.barrier()
        if rank == 0:
            times["eager"] = _timed(lambda: model(x), 5)[2:]
    calls = len(times["sharded"]) + 2 * (len(times["sharded"]) // counted)
    split = {k: v / calls * 1e3 for k, v in split.items()}
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, split)
    if rank == 0:
        program = sharded.program
        row = {
            "model": f"Linear({args.d},{args.f})-GELU-Linear({args.f},{args.d})",
            "batch": args.batch,
            "ranks": world,
            "single_1rank_1thread_ms": statistics.median(times["single"]) * 1e3,
            "sharded_2rank_1thread_ms": statistics.median(times["sharded"]) * 1e3,
            "eager_1thread_ms": statistics.median(times["eager"]) * 1e3,
            "counted_calls": len(times["sharded"]),
            "max_abs_err_sharded_vs_single": err,
            "max_abs_err_single_vs_eager": eager_err,
            "compile_s": {"sharded": compile_sharded, "single": compile_single},
            "weights_bytes_per_rank": program.report["memory"]["weights_bytes"],
            "model_weights_bytes": program.report["memory"]["model_weights_bytes"],
            "collectives_per_call": program.report["collectives"],
            "per_rank_ms_per_call": gathered,  # compute in segments, collectives (waits included)
            "all_reduce_bytes_per_call": program.comm["all_reduce"][1] // program.comm["all_reduce"][0],
        }
        row["speedup"] = row["single_1rank_1thread_ms"] / row["sharded_2rank_1thread_ms"]
        torch.save(row, result)
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/shard.json")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--block", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--d", type=int, default=4096)
    parser.add_argument("--f", type=int, default=16384)
    args = parser.parse_args()

    import tempfile

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = os.path.join(tempfile.mkdtemp(prefix="bench-shard-"), "row.pt")
    mp.spawn(_worker, args=(2, port, args, result), nprocs=2)
    row = torch.load(result, weights_only=False)
    print(f"{row['model']}, batch {row['batch']}")
    print(f"  1 rank x 1 thread (sparcc)   {row['single_1rank_1thread_ms']:9.1f} ms")
    print(f"  2 ranks x 1 thread (sparcc)  {row['sharded_2rank_1thread_ms']:9.1f} ms   "
          f"speedup {row['speedup']:.2f}x (target 1.6x)")
    print(f"  eager 1 thread               {row['eager_1thread_ms']:9.1f} ms")
    for r, split in enumerate(row["per_rank_ms_per_call"]):
        print(f"  rank {r}: {split['compute']:.1f} ms in segments, {split['collectives']:.1f} ms in collectives per call")
    print(f"  per-rank weights {row['weights_bytes_per_rank'] / 2**20:.0f} MiB of {row['model_weights_bytes'] / 2**20:.0f} MiB;"
          f" {row['all_reduce_bytes_per_call'] / 2**20:.2f} MiB all-reduced per call; "
          f"max |sharded - single| {row['max_abs_err_sharded_vs_single']:.2e}")
    sys.path.insert(0, os.path.dirname(__file__))
    from timing import write_results

    write_results(args.json, [row], note="2-core machine shared with other jobs at the time of measurement: noisy")


if __name__ == "__main__":
    main()
