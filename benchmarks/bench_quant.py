"""Quantized linear layers on the CPU: sparcc's fused dequantising kernels vs PyTorch, in one process.

    python benchmarks/bench_quant.py [--json benchmarks/results/quant.json] [--repeat 40] [--threads 1 2]

Shapes: a 4096x4096 weight times x of 1 row (GEMV: decode-time LLM layers,
memory-bound) and of 64 rows (batch GEMM). Contenders, at each thread count T
(torch.set_num_threads(T) and sparcc_rt_set_num_threads(T) alike):

- eager f32: torch.nn.functional.linear on the float32 weight;
- torch int4: PyTorch's own CPU weight-only int4 kernel
  (aten._weight_int4pack_mm_for_cpu, weights packed by
  aten._convert_weight_to_int4pack_for_cpu, group 128, the same int4 codes
  and scales as sparcc's int4:g128), with float32 and with bfloat16
  activations (bf16 in, bf16 out);
- sparcc int8 (per channel), int4 (g128), NF4 (g64), MXFP4 (E8M0 scales,
  g32): backends/cpu/qlinear.py's kernels, called through a ctypes function
  prepared once with fixed buffers (qlinear.bind), so no conversion or
  checking is timed.

--layers L gives every contender L copies of its weight in separate memory
and cycles through them, one per call, as a model's successive layers
would: with L large enough that the copies exceed the last-level cache
(this VM reports a 300 MB L3; 40 float32 copies are 2.7 GB, 40 int4 copies
340 MB), every call reads its weight from DRAM. With L=1 the one weight
stays in L3 between calls, which flatters the float32 contenders most.

Latencies are medians over --repeat calls, contenders alternating in blocks
of --block calls whose first two are not counted (benchmarks/timing.py); a
contender slower than 0.2 s per call (PyTorch's int4 kernel with float32
activations falls back to a slow path) is timed over 3 calls on its own.
Before the contenders, a STREAM-like triad (a = b + 3c on 256 MiB arrays,
torch at T threads) measures the DRAM bandwidth; each row gives its weight
GB/s as a percentage of it ("% of triad": a GEMV whose weights come from
DRAM, --layers large, is at best 100 %).
With --sparse-quant, only the sparse x quant section runs (issue 19): for
Llama-7B-like layers (4096x4096, 11008x4096, 4096x11008) at batch
--batch (default 1), 2:4 + nf4:g64 in one kernel (backends/cpu/sqkernels.c,
sqlinear.bind) against nf4:g64 alone (ukernels.c) and eager f32, with its
"vs nf4" ratio (nf4 time / 2:4+nf4 time; the issue's target is >= 1.1 in
decode) and GB/s of the bytes each reads (2:4+nf4: its packed codes,
positions and scales). --layers cycles copies as above (eager f32 gets at
most 4: enough to exceed the L3).
"speedup" is eager f32 time / contender time; "GB/s" is the weight bytes
each contender reads (codes + scales (+ zero points); float32 weights for
eager) per second. "err" is max |y - ref| / max |ref|, ref the float64
product with the contender's own dequantised weights (eager: the float32
weights), a check that every contender computes what it should.
"""

from __future__ import annotations

import argparse

import numpy as np
import sparcc
import torch
from sparcc.backends.cpu import qlinear as ql
from sparcc.backends.cpu import set_num_threads
from sparcc.dialects.quant_formats import parse_format
from timing import blocked_median_ms, write_results

N = K = 4096
SPARCC_SPECS = ("int8:channel", "int4:g128", "nf4:g64", "sf4:g64", "mxfp4")
TRIAD_FLOATS = 1 << 26  # 256 MiB per array: far beyond the last-level cache
TORCH_INT4_GROUP = 128


JIT_SPECS = ("int4:g128", "nf4:g64")  # also timed through sparcc.jit


def torch_int4(q, x: torch.Tensor, dtype: torch.dtype):
    """PyTorch's CPU int4 kernel on sparcc's int4:g128 tensor q: w = (u - 8) * scale + 0, u = code + 8."""
    codes = np.empty((N, K), np.uint8)
    codes[:, 0::2] = q.codes & 0xF
    codes[:, 1::2] = q.codes >> 4
    signed = np.where(codes >= 8, codes.astype(np.int32) - 16, codes.astype(np.int32))
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(torch.from_numpy(signed + 8), 2)
    sz = torch.zeros(K // TORCH_INT4_GROUP, N, 2)
    sz[..., 0] = torch.from_numpy(q.scales).T
    sz = sz.to(dtype)
    xd = x.to(dtype)

    def run():
        return torch.ops.aten._weight_int4pack_mm_for_cpu(xd, packed, TORCH_INT4_GROUP, sz)

    nbytes = packed.numel() * packed.element_size() + sz.numel() * sz.element_size()
    return run, nbytes


def triad_gbps(threads: int, repeat: int = 10) -> float:
    """DRAM bandwidth as STREAM's triad measures it (a = b + s * c over
    arrays far larger than the caches; 3 arrays' bytes per pass, the write
    allocate not counted), best of `repeat`, on `threads` torch threads."""
    import time

    torch.set_num_threads(threads)
    a, b, c = (torch.empty(TRIAD_FLOATS) for _ in range(3))
    b.fill_(1.0)
    c.fill_(2.0)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        torch.add(b, c, alpha=3.0, out=a)
        best = min(best, time.perf_counter() - start)
    return 3 * TRIAD_FLOATS * 4 / best / 1e9


def cycled(runs):
    """One call of the next run in `runs` per call (a model's next layer)."""
    if len(runs) == 1:
        return runs[0]
    state = {"i": 0}

    def run():
        state["i"] = (state["i"] + 1) % len(runs)
        return runs[state["i"]]()

    return run


def rel_err(y, ref: np.ndarray) -> float:
    y = y.float().numpy() if isinstance(y, torch.Tensor) else y
    return float(np.max(np.abs(y.astype(np.float64) - ref)) / np.max(np.abs(ref)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/quant.json")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64], help="rows of x")
    parser.add_argument("--layers", type=int, default=1, help="weight copies cycled through, one per call")
    parser.add_argument("--sparse-quant", action="store_true",
                        help="only the 2:4 + nf4:g64 section (results in benchmarks/results/sparse_quant.json)")
    opts = parser.parse_args()
    if opts.sparse_quant:
        sparse_quant_section(opts)
        return

    rng = np.random.default_rng(0)
    w = rng.standard_normal((N, K), dtype=np.float32)
    wt = torch.from_numpy(w)
    quantized = {spec: parse_format(spec).quantize(w) for spec in SPARCC_SPECS}
    dequantized = {spec: parse_format(spec).dequantize(q).astype(np.float64) for spec, q in quantized.items()}
    has_int4pack = hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")

    triad = {t: triad_gbps(t) for t in opts.threads}
    for t, bw in triad.items():
        print(f"DRAM bandwidth (STREAM triad), {t} thread(s): {bw:.1f} GB/s", flush=True)
    rows = []
    for m in opts.batch:
        x = rng.standard_normal((m, K), dtype=np.float32)
        xt = torch.from_numpy(x)
        x64 = x.astype(np.float64)
        # name -> (run, weight bytes, reference weights)
        L = opts.layers
        copies = [wt] + [wt.clone() for _ in range(L - 1)]
        eager = cycled([(lambda xt=xt, c=c: torch.nn.functional.linear(xt, c)) for c in copies])
        del copies
        contenders = {"eager f32": (eager, w.nbytes, w.astype(np.float64))}
        if has_int4pack:
            for label, dt in (("torch int4 f32", torch.float32), ("torch int4 bf16", torch.bfloat16)):
                if L > 1 and dt == torch.float32:
                    continue  # the slow path: seconds per call, cache effects are beside the point
                runs = [torch_int4(quantized["int4:g128"], xt, dt) for _ in range(L)]
                contenders[label] = (cycled([r for r, _ in runs]), runs[0][1], dequantized["int4:g128"])
        for spec, q in quantized.items():
            runs = []
            for i in range(L):
                qi = q if i == 0 else type(q)(q.spec, q.shape, q.codes.copy(),
                                              None if q.scales is None else q.scales.copy(),
                                              None if q.zero_points is None else q.zero_points.copy())
                run, y = ql.bind(x, qi)
                runs.append(lambda run=run, y=y: (run(), y)[1])
            contenders[f"sparcc {spec}"] = (cycled(runs), q.nbytes, dequantized[spec])
        # the compiler's path: nn.Linear through sparcc.jit(quant=...), same kernel plus the call
        linear = torch.nn.Linear(K, N, bias=False)
        linear.weight.data = wt
        for spec in JIT_SPECS if L == 1 else ():
            fast = sparcc.jit(linear, quant={"*": spec}, threads=max(opts.threads))
            with torch.no_grad():
                fast(xt)
            contenders[f"sparcc jit {spec}"] = (
                (lambda fast=fast, xt=xt: fast(xt).numpy()), quantized[spec].nbytes, dequantized[spec])
        errs = {name: rel_err(run(), x64 @ ref.T) for name, (run, _, ref) in contenders.items()}
        for t in opts.threads:
            torch.set_num_threads(t)
            set_num_threads(t)
            names = list(contenders)
            times = blocked_median_ms([contenders[n][0] for n in names], opts.repeat, opts.block, slow_s=0.2)
            base = times[0]
            for name, ms in zip(names, times):
                row = {
                    "case": "gemv" if m == 1 else f"gemm_m{m}",
                    "M": m, "N": N, "K": K, "threads": t, "layers": L, "contender": name,
                    "median_ms": ms, "speedup_vs_eager_f32": base / ms,
                    "weight_bytes": contenders[name][1], "weight_GBps": contenders[name][1] / ms / 1e6,
                    "rel_err": errs[name],
                    "triad_GBps": triad[t], "pct_of_triad": 100 * contenders[name][1] / ms / 1e6 / triad[t],
                }
                rows.append(row)
                print(
                    f"M={m:<3} {t}t  {name:<22} {ms:8.3f} ms  speedup {row['speedup_vs_eager_f32']:5.2f}x  "
                    f"{row['weight_GBps']:6.1f} GB/s ({row['pct_of_triad']:3.0f}% of triad)  err {row['rel_err']:.1e}",
                    flush=True,
                )
    write_results(opts.json, rows, torch_int4pack=has_int4pack, triad_GBps=triad)

SPARSE_QUANT_SHAPES = ((4096, 4096), (11008, 4096), (4096, 11008))  # (N, K): attention/MLP-up, MLP-down


def sparse_quant_section(opts) -> None:
    """2:4 + nf4:g64 in one kernel vs nf4:g64 alone and eager f32 (module docstring)."""
    from sparcc.backends.cpu import sqlinear
    from sparcc.dialects import sparse_quant

    spec = "nf4:g64"
    batches = opts.batch if opts.batch != [1, 64] else [1]
    json_path = opts.json if opts.json != "benchmarks/results/quant.json" else "benchmarks/results/sparse_quant.json"
    triad = {t: triad_gbps(t) for t in opts.threads}
    for t, bw in triad.items():
        print(f"DRAM bandwidth (STREAM triad), {t} thread(s): {bw:.1f} GB/s", flush=True)
    rng = np.random.default_rng(0)
    rows = []
    for n, k in SPARSE_QUANT_SHAPES:
        w = rng.standard_normal((n, k), dtype=np.float32)
        q = parse_format(spec).quantize(w)
        sq = sparse_quant.quantize(w, "2:4", spec, "2:4")
        ops = sqlinear.pack(sq)
        deq = {"nf4": parse_format(spec).dequantize(q).astype(np.float64),
               "24": sparse_quant.dequantize(sq).astype(np.float64)}
        for m in batches:
            x = rng.standard_normal((m, k), dtype=np.float32)
            xt, x64 = torch.from_numpy(x), x.astype(np.float64)
            L = opts.layers
            copies = [torch.from_numpy(w)] + [torch.from_numpy(w).clone() for _ in range(min(L, 4) - 1)]
            contenders = {"eager f32": (cycled([(lambda c=c: torch.nn.functional.linear(xt, c)) for c in copies]),
                                        w.nbytes, w.astype(np.float64))}
            nf4_runs, sq_runs = [], []
            for i in range(L):
                qi = q if i == 0 else type(q)(q.spec, q.shape, q.codes.copy(), q.scales.copy(), None)
                run, y = ql.bind(x, qi)
                nf4_runs.append(lambda run=run, y=y: (run(), y)[1])
                oi = ops if i == 0 else {r: (v.copy() if isinstance(v, np.ndarray) else v) for r, v in ops.items()}
                run, y = sqlinear.bind(x, oi)
                sq_runs.append(lambda run=run, y=y: (run(), y)[1])
            contenders[f"sparcc {spec}"] = (cycled(nf4_runs), q.nbytes, deq["nf4"])
            contenders[f"sparcc 2:4+{spec}"] = (cycled(sq_runs), sqlinear.packed_bytes(ops), deq["24"])
            errs = {name: rel_err(run(), x64 @ ref.T) for name, (run, _, ref) in contenders.items()}
            for t in opts.threads:
                torch.set_num_threads(t)
                set_num_threads(t)
                names = list(contenders)
                times = dict(zip(names, blocked_median_ms([contenders[c][0] for c in names], opts.repeat,
                                                          opts.block, slow_s=0.2)))
                for name, ms in times.items():
                    nbytes = contenders[name][1]
                    row = {"case": "gemv" if m == 1 else f"gemm_m{m}", "M": m, "N": n, "K": k, "threads": t,
                           "layers": L, "contender": name, "median_ms": ms,
                           "speedup_vs_eager_f32": times["eager f32"] / ms,
                           "vs_nf4": times[f"sparcc {spec}"] / ms, "weight_bytes": nbytes,
                           "bits_per_weight": 8 * nbytes / (n * k), "weight_GBps": nbytes / ms / 1e6,
                           "pct_of_triad": 100 * nbytes / ms / 1e6 / triad[t], "rel_err": errs[name],
                           "weight_rel_err": None if name == "eager f32" else
                           float(np.linalg.norm(w - (deq["nf4"] if name.endswith(f" {spec}") and "2:4" not in name
                                                     else deq["24"])) / np.linalg.norm(w))}
                    rows.append(row)
                    print(f"{n}x{k} M={m} {t}t  {name:<20} {ms:8.3f} ms  {row['bits_per_weight']:4.2f} b/w  "
                          f"{row['weight_GBps']:6.1f} GB/s ({row['pct_of_triad']:3.0f}% of triad)  "
                          f"vs f32 {row['speedup_vs_eager_f32']:5.2f}x  vs nf4 {row['vs_nf4']:4.2f}x  "
                          f"err {row['rel_err']:.1e}", flush=True)
    write_results(json_path, rows, triad_GBps=triad)


if __name__ == "__main__":
    main()
