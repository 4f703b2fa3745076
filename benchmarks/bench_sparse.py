"""Sparse matrices on the CPU: sparcc's sparse kernels vs scipy, PyTorch and sparcc's dense code, in one process.

    python benchmarks/bench_sparse.py [--json benchmarks/results/sparse.json] [--repeat 40] [--threads 2]

Cases:

- SpMM A[4096, 4096] @ B[4096, 64], A with 90%, 95% and 99% of its entries
  zero at random. Contenders: sparcc CSR (backends/cpu/spkernels.c through
  sparse_kernels.bind: buffers fixed once, no conversion per call),
  scipy.sparse CSR @ dense (one thread, whatever --threads says),
  torch.sparse.mm on a CSR tensor with int32 indices, sparcc.jit of `a @ b`
  given that torch CSR tensor (the compiled path: lower-sparse, buffers
  passed per call), and sparcc's dense code
  (sparcc.jit(lambda a, b: a @ b) on the dense A) and PyTorch's (a @ b).
- Linear(4096, 4096) with a 2:4 weight (the 2 largest of every 4 along each
  input row), batch 64, with bias. Contenders: sparcc's N:M kernel (mode
  linear), sparcc.jit(linear, sparsity={"*": "2:4"}) (the compiled path:
  the model pruned and lowered by sparcc; pruning the pruned weight again
  changes nothing), sparcc's CSR kernel on the same weight, sparcc's dense code
  (sparcc.jit(nn.Linear)) and eager torch.nn.Linear. The same for a
  vnm:4:2:4 weight (V:N:M kernel) and a bsr:4x4 weight with half of its
  4x4 blocks kept (BSR kernel).

At each thread count T (--threads, default 2), torch.set_num_threads(T) and
sparcc's pool size alike. Latencies are medians over --repeat calls,
contenders alternating in blocks (benchmarks/timing.py), so a change in
machine load hits all of them alike. "speedup" is a contender's time over
sparcc's sparse kernel's (>1: the kernel is faster). "err" is
max |y - ref| / max |ref| against the float64 product, a check that every
contender computes the same thing.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sps
import sparcc
import torch
from sparcc.backends.cpu import set_num_threads
from sparcc.backends.cpu import sparse_kernels as sk
from sparcc.dialects.sparse_formats import encode, prune
from timing import blocked_median_ms, write_results

SIZE = 4096
SPMM_N = 64
BATCH = 64
SPARSITIES = (0.90, 0.95, 0.99)


def rel_err(y, ref: np.ndarray) -> float:
    y = y.detach().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    return float(np.max(np.abs(y.astype(np.float64) - ref)) / np.max(np.abs(ref)))


def random_sparse(rng: np.random.Generator, sparsity: float) -> np.ndarray:
    w = rng.standard_normal((SIZE, SIZE), dtype=np.float32)
    w[rng.random((SIZE, SIZE)) < sparsity] = 0
    return w


def torch_csr_int32(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(a).to_sparse_csr()
    return torch.sparse_csr_tensor(t.crow_indices().int(), t.col_indices().int(), t.values(), t.shape)


def spmm_contenders(a: np.ndarray, b: np.ndarray, threads: int) -> dict:
    """name -> (zero-argument call returning the result, runs under torch's threads)."""
    run, y = sk.bind(encode(a, "csr"), b)
    a_scipy = sps.csr_matrix(a)
    a_torch, b_torch, a_dense = torch_csr_int32(a), torch.from_numpy(b), torch.from_numpy(a)
    dense = sparcc.jit(lambda x, z: x @ z, threads=threads)
    compiled = sparcc.jit(lambda x, z: x @ z, threads=threads)  # the same, given a sparse x
    with torch.no_grad():
        dense(a_dense, b_torch)
        compiled(a_torch, b_torch)
    return {
        "sparcc csr": (lambda: (run(), y)[1], False),
        "sparcc.jit csr input": (lambda: compiled(a_torch, b_torch), False),
        "scipy csr": (lambda: a_scipy @ b, False),
        "torch.sparse.mm csr": (lambda: torch.sparse.mm(a_torch, b_torch), True),
        "sparcc dense": (lambda: dense(a_dense, b_torch), False),
        "torch dense": (lambda: a_dense @ b_torch, True),
    }


# (case, the weight's format, how it is pruned)
LINEAR_CASES = [("2:4", "2:4", "2:4"), ("vnm:4:2:4", "vnm:4:2:4", "vnm:4:2:4"), ("bsr:4x4", "bsr:4x4", "block:4x4:0.5")]


def linear_contenders(w: np.ndarray, spec: str, pruning: str, bias: np.ndarray, x: np.ndarray, threads: int) -> dict:
    run_sp, y_sp = sk.bind(encode(w, spec), x, sk.MODE_LINEAR, bias=bias)
    run_csr, y_csr = sk.bind(encode(w, "csr"), x, sk.MODE_LINEAR, bias=bias)
    linear = torch.nn.Linear(SIZE, SIZE)
    linear.weight.data = torch.from_numpy(w)
    linear.bias.data = torch.from_numpy(bias)
    xt = torch.from_numpy(x)
    dense = sparcc.jit(linear, threads=threads)
    compiled = sparcc.jit(linear, threads=threads, sparsity={"*": f"{pruning}@{spec}"})
    with torch.no_grad():
        dense(xt)
        compiled(xt)
    return {
        f"sparcc {spec}": (lambda: (run_sp(), y_sp)[1], False),
        f"sparcc.jit sparsity={pruning}": (lambda: compiled(xt), False),
        "sparcc csr": (lambda: (run_csr(), y_csr)[1], False),
        "sparcc dense": (lambda: dense(xt), False),
        "torch eager": (lambda: linear(xt), True),
    }


def measure(case: str, contenders: dict, ref: np.ndarray, threads: int, opts) -> list[dict]:
    names = list(contenders)
    errs = {}
    with torch.no_grad():
        for name in names:
            torch.set_num_threads(threads)
            errs[name] = rel_err(contenders[name][0](), ref)

    def setup(uses_torch: bool):
        return lambda: torch.set_num_threads(threads) if uses_torch else set_num_threads(threads)

    times = blocked_median_ms([contenders[n][0] for n in names], opts.repeat, opts.block, slow_s=0.5,
                              setups=[setup(contenders[n][1]) for n in names])
    base = times[0]
    print(f"\n{case}, {threads} thread{'s' if threads > 1 else ''}")
    print(f"  {'contender':<22}{'ms':>10}  {'speedup of ' + names[0]:>22}  {'err':>8}")
    rows = []
    for name, ms in zip(names, times):
        rows.append({"case": case, "threads": threads, "contender": name, "median_ms": ms,
                     "speedup_of_sparse_kernel": ms / base, "rel_err": errs[name]})
        print(f"  {name:<22}{ms:10.3f}  {ms / base:21.2f}x  {errs[name]:8.1e}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/sparse.json")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--sparsity", type=float, nargs="+", default=list(SPARSITIES))
    parser.add_argument("--only", choices=["spmm", "linear"], help="run only this case")
    parser.add_argument("--formats", nargs="+", choices=[c[0] for c in LINEAR_CASES],
                        help="linear: only these weight formats")
    opts = parser.parse_args()

    rng = np.random.default_rng(0)
    rows = []
    if opts.only in (None, "spmm"):
        b = rng.standard_normal((SIZE, SPMM_N), dtype=np.float32)
        for s in opts.sparsity:
            a = random_sparse(rng, s)
            ref = a.astype(np.float64) @ b
            for t in opts.threads:
                set_num_threads(t)
                case = f"spmm {SIZE}x{SIZE} ({s:.0%} zero) @ {SIZE}x{SPMM_N}"
                rows += measure(case, spmm_contenders(a, b, t), ref, t, opts)
    if opts.only in (None, "linear"):
        bias = rng.standard_normal(SIZE, dtype=np.float32)
        x = rng.standard_normal((BATCH, SIZE), dtype=np.float32)
        for name, spec, pruning in LINEAR_CASES if opts.formats is None else \
                [c for c in LINEAR_CASES if c[0] in opts.formats]:
            w = prune(rng.standard_normal((SIZE, SIZE), dtype=np.float32), pruning)
            ref = x.astype(np.float64) @ w.T.astype(np.float64) + bias
            for t in opts.threads:
                set_num_threads(t)
                rows += measure(f"{name} linear {SIZE}x{SIZE}, batch {BATCH}", linear_contenders(w, spec, pruning, bias, x, t),
                                ref, t, opts)
    write_results(opts.json, rows)


if __name__ == "__main__":
    main()
