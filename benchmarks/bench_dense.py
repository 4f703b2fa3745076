"""Dense CPU benchmark: sparcc vs PyTorch eager, side by side in one process.

    python benchmarks/bench_dense.py [--json benchmarks/results/dense.json] [--repeat 50]

Models: MLP Linear(512,2048)-GELU-Linear(2048,512) at batch 64;
nn.TransformerEncoderLayer(256, 4, 1024, batch_first, dropout=0) on
(1,128,256); GEMM 1024^3 f32 (both operands are inputs); a small CNN
(conv-bn-relu-pool x2, linear) on (8,3,32,32).

sparcc's compiled code runs on one thread, so the ratio compares it with
eager at torch.set_num_threads(1); eager at 2 threads is reported beside it.
Latencies are medians over `--repeat` calls after warm-up; sparcc and eager
(1 thread) calls alternate, so load changes during the run hit both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
from torch import nn

import sparcc


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(512, 2048)
        self.fc2 = nn.Linear(2048, 512)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x)))


def gemm(a, b):
    return a @ b


def cases():
    torch.manual_seed(0)
    yield "mlp", MLP().eval(), (torch.randn(64, 512),)
    enc = nn.TransformerEncoderLayer(
        d_model=256, nhead=4, dim_feedforward=1024, batch_first=True, dropout=0.0
    ).eval()
    yield "encoder_layer", enc, (torch.randn(1, 128, 256),)
    yield "gemm_1024", gemm, (torch.randn(1024, 1024), torch.randn(1024, 1024))
    cnn = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
    ).eval()
    yield "cnn", cnn, (torch.randn(8, 3, 32, 32),)


def median_ms(fns, args, repeat: int) -> list[float]:
    """Median latency of each of `fns`, called in turn (interleaved), so that a
    change in machine load hits all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    with torch.no_grad():
        for fn in fns:
            for _ in range(3):
                fn(*args)
        for _ in range(repeat):
            for fn, ts in zip(fns, times):
                start = time.perf_counter()
                fn(*args)
                ts.append(time.perf_counter() - start)
    return [statistics.median(ts) * 1e3 for ts in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/dense.json")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--only", nargs="*", help="run only these cases")
    opts = parser.parse_args()

    rows = []
    for name, model, args in cases():
        if opts.only and name not in opts.only:
            continue
        fast = sparcc.jit(model, target="cpu")
        start = time.perf_counter()
        with torch.no_grad():
            out = fast(*args)
            ref = model(*args)
        compile_s = time.perf_counter() - start
        err = (out - ref).abs().max().item()
        torch.set_num_threads(1)
        ours, eager1 = median_ms([fast, model], args, opts.repeat)
        torch.set_num_threads(2)
        (eager2,) = median_ms([model], args, opts.repeat)
        rows.append(
            {
                "model": name,
                "sparcc_ms": ours,
                "sparcc_threads": 1,
                "eager_1t_ms": eager1,
                "eager_2t_ms": eager2,
                "speed_vs_eager_1t": eager1 / ours,
                "speed_vs_eager_2t": eager2 / ours,
                "compile_s": compile_s,
                "max_abs_err": err,
            }
        )

    print(f"{'model':<15}{'sparcc ms':>11}{'eager 1t':>10}{'eager 2t':>10}"
          f"{'eager1t/sparcc':>16}{'compile s':>11}{'max err':>10}")
    for r in rows:
        print(f"{r['model']:<15}{r['sparcc_ms']:>11.3f}{r['eager_1t_ms']:>10.3f}"
              f"{r['eager_2t_ms']:>10.3f}{r['speed_vs_eager_1t']:>15.2f}x"
              f"{r['compile_s']:>11.2f}{r['max_abs_err']:>10.1e}")
    os.makedirs(os.path.dirname(opts.json) or ".", exist_ok=True)
    with open(opts.json, "w") as f:
        json.dump(
            {
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
                "sparcc": sparcc.__version__,
                "results": rows,
            },
            f,
            indent=2,
        )
    print(f"wrote {opts.json}")


if __name__ == "__main__":
    main()
