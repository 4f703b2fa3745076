"""Measures backends/cpu/target.py's RELATIVE_RATE: for each sparse kernel kind,
its throughput per stored value relative to sparcc's dense code per weight,
on a Linear(4096, 4096) at batch 64.

    python benchmarks/calibrate_sparse.py [--threads 2] [--repeat 20]

rate = (dense time / sparse time) * (stored values / weight size): a layer is
predicted faster than dense when its stored fraction is below its kind's rate.
Each kind runs on a weight pruned to the pattern it stores (unstructured 90 %
for the general formats), so the stored fraction is the one the kernel sees.
"""

from __future__ import annotations

import argparse

import numpy as np
import sparcc
import torch
from sparcc.backends.cpu import set_num_threads
from sparcc.backends.cpu import sparse_kernels as sk
from sparcc.dialects.sparse_formats import encode, prune
from timing import blocked_median_ms

SIZE, BATCH = 4096, 64
# kind -> (storage format, pruning)
KINDS = {
    "csr": ("csr", "unstructured:0.9"), "csc": ("csc", "unstructured:0.9"), "coo": ("coo", "unstructured:0.9"),
    "dcsr": ("dcsr", "unstructured:0.9"), "ell": ("ell", "unstructured:0.9"),
    "bsr": ("bsr:4x4", "block:4x4:0.75"), "nm": ("2:4", "2:4"), "vnm": ("vnm:4:2:4", "vnm:4:2:4"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    opts = parser.parse_args()
    set_num_threads(opts.threads)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((SIZE, SIZE), dtype=np.float32)
    x = rng.standard_normal((BATCH, SIZE), dtype=np.float32)
    bias = np.zeros(SIZE, np.float32)
    linear = torch.nn.Linear(SIZE, SIZE)
    dense = sparcc.jit(linear, threads=opts.threads)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        dense(xt)
    runs, stored = [], []
    for fmt, pruning in KINDS.values():
        storage = encode(prune(w, pruning), fmt)
        run, _ = sk.bind(storage, x, sk.MODE_LINEAR, bias=bias)
        runs.append(run)
        stored.append(storage.stored / w.size)
    with torch.no_grad():
        times = blocked_median_ms([lambda: dense(xt), *runs], opts.repeat, 5, slow_s=0.5)
    print(f"dense Linear({SIZE}, {SIZE}) batch {BATCH}, {opts.threads} threads: {times[0]:.2f} ms")
    rates = {}
    for (kind, (fmt, pruning)), ms, frac in zip(KINDS.items(), times[1:], stored):
        rates[kind] = times[0] / ms * frac
        print(f"  {kind:<5} {fmt:<10} {pruning:<18} stored {frac:6.3f}  {ms:7.2f} ms  rate {rates[kind]:.2f}")
    print("RELATIVE_RATE = {" + ", ".join(f'"{k}": {v:.2f}' for k, v in rates.items()) + "}")


if __name__ == "__main__":
    main()
