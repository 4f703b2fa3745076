"""Dense CPU benchmark: sparcc vs PyTorch eager, side by side in one process.

    python benchmarks/bench_dense.py [--json benchmarks/results/dense.json] [--repeat 60]

Models: MLP Linear(512,2048)-GELU-Linear(2048,512) at batch 64;
nn.TransformerEncoderLayer(256, 4, 1024, batch_first, dropout=0) on
(1,128,256); GEMM 1024^3 f32 (both operands are inputs); a small CNN
(conv-bn-relu-pool x2, linear) on (8,3,32,32).

For each thread count T in --threads (default 1 2): sparcc compiled for T
threads through sparcc.jit, the same model compiled ahead of time
(sparcc compile's artifact, loaded with sparcc.load), and eager PyTorch at
torch.set_num_threads(T). Ratios are eager time / sparcc time (>1: sparcc
is faster).

Latencies are medians over --repeat calls after warm-up. The contenders run
in alternating blocks of --block calls (the first two of each block are not
counted), so a change in machine load hits all of them alike, while each
runtime's worker threads have stopped spinning before the other runs: with
call-by-call alternation, PyTorch's idle OpenMP workers spin on the second
core during sparcc's call and the reverse, which slows both.
"""

from __future__ import annotations

import argparse
import os
import time

import sparcc
import torch
from timing import blocked_median_ms, write_results
from torch import nn


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
    """Median latency of each of `(fn, torch_threads)` on `args`, in blocks (timing.py)."""
    return blocked_median_ms(
        [lambda fn=fn: fn(*args) for fn, _ in fns],
        repeat,
        setups=[lambda nt=nt: torch.set_num_threads(nt) for _, nt in fns],
    )


def aot(model, args, threads: int, folder: str):
    """The artifact `sparcc compile` would write, loaded with sparcc.load;
    None if this sparcc has no AOT path."""
    try:
        from sparcc import artifact
    except ImportError:
        return None
    artifact.compile(model, args, folder, threads=threads)
    return artifact.load(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/dense.json")
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--artifacts", default="benchmarks/results/artifacts")
    parser.add_argument("--only", nargs="*", help="run only these cases")
    opts = parser.parse_args()

    rows = []
    for name, model, args in cases():
        if opts.only and name not in opts.only:
            continue
        with torch.no_grad():
            ref = model(*args)
        for t in opts.threads:
            start = time.perf_counter()
            fast = sparcc.jit(model, target="cpu", threads=t, cache=False)
            with torch.no_grad():
                out = fast(*args)
            compile_s = time.perf_counter() - start
            err = (out - ref).abs().max().item()
            contenders = [(fast, 1), (model, t)]
            loaded = aot(model, args, t, os.path.join(opts.artifacts, f"{name}-{t}t"))
            if loaded is not None:
                with torch.no_grad():
                    err = max(err, (loaded(*args) - ref).abs().max().item())
                contenders.append((loaded, 1))
            times = median_ms(contenders, args, opts.repeat)
            row = {
                "model": name,
                "threads": t,
                "sparcc_ms": times[0],
                "eager_ms": times[1],
                "aot_ms": times[2] if loaded is not None else None,
                "eager_over_sparcc": times[1] / times[0],
                "compile_s": compile_s,
                "max_abs_err": err,
            }
            rows.append(row)
            print(
                f"{name:<15}{t:>3}t  sparcc {row['sparcc_ms']:8.3f} ms  "
                + (f"aot {row['aot_ms']:8.3f} ms  " if loaded is not None else "")
                + f"eager {row['eager_ms']:8.3f} ms  eager/sparcc {row['eager_over_sparcc']:5.2f}x  "
                f"compile {compile_s:5.2f} s  err {err:.1e}",
                flush=True,
            )
    write_results(opts.json, rows)

if __name__ == "__main__":
    main()
