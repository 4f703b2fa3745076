"""GPU kernels side by side with PyTorch's, in one process, timed with CUDA
events (median of `--repeat` calls after warm-up), written as JSON.

    python benchmarks/gpu_bench.py [--out benchmarks/results/gpu.json] [--quick]

- GEMM bf16 4096^3 and 8192^3: sparcc's tensor-core GEMM (kernels.cu)
  against torch.matmul (cuBLAS); TFLOP/s and the ratio.
- W4A16 GEMV 1 x 8192 x 8192: sparcc's GEMV (nf4:g128 and int4:g128) against
  torch's own int4 kernel (aten._weight_int4pack_mm, when this torch has it)
  and against sparcc's bf16 GEMM at M = 1 (sparcc's own bf16 GEMV); GB/s of
  the bytes each must read and the share of the device's HBM bandwidth.
- 2:4: torch.sparse.to_sparse_semi_structured against dense torch.matmul at
  M = 2048..8192. sparcc has no GPU 2:4 kernel yet; the entry says so.
- The MLIR-generated path (lower.py) on a 1024^3 f32 matmul, for scale.

Every entry that fails records its error instead of stopping the run.
Run by benchmarks/gpu_check.sh; needs an NVIDIA GPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# HBM bandwidth (bytes/s) by device name, for the GEMV's share of it
HBM = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12}


def cuda_ms(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def entry(name: str, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"-- {name}", flush=True)
    try:
        out = {"name": name, **body()}
    except Exception as e:  # noqa: BLE001 (a benchmark that fails is a result too)
        out = {"name": name, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
    print("   ", {k: v for k, v in out.items() if k != "traceback"}, flush=True)
    return out


def gemm(n: int, repeat: int) -> dict[str, Any]:
    from sparcc.backends.gpu import kernels

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    err = (kernels.gemm(a, b).float() - (a @ b).float()).abs().max().item()
    ms_sparcc = cuda_ms(lambda: kernels.gemm(a, b), repeat)
    ms_torch = cuda_ms(lambda: a @ b, repeat)
    flop = 2.0 * n ** 3
    return {"shape": [n, n, n], "dtype": "bfloat16", "sparcc_ms": ms_sparcc, "torch_ms": ms_torch,
            "sparcc_tflops": flop / ms_sparcc / 1e9, "torch_tflops": flop / ms_torch / 1e9,
            "sparcc_vs_cublas": ms_torch / ms_sparcc, "max_abs_diff_vs_torch": err}


def gemv_w4(repeat: int, n: int = 8192, k: int = 8192) -> dict[str, Any]:
    import numpy as np
    from sparcc.backends.gpu import kernels
    from sparcc.dialects.quant_formats import parse_format

    name = torch.cuda.get_device_name()
    peak = next((bw for key, bw in HBM.items() if key in name), None)
    rng = np.random.default_rng(0)
    w32 = rng.standard_normal((n, k)).astype(np.float32)
    x = torch.randn(k, device="cuda", dtype=torch.bfloat16)
    out: dict[str, Any] = {"shape": [1, n, k], "device": name, "hbm_bytes_per_s": peak}
    for spec in ("nf4:g128", "int4:g128"):
        q = parse_format(spec).quantize(w32)
        w = kernels.W4Weight.of(q)
        want = torch.from_numpy(kernels.reference_w4(q)).cuda() @ x.float()
        got = kernels.gemv_w4a16(x, w).float()
        ms = cuda_ms(lambda: kernels.gemv_w4a16(x, w), repeat)
        moved = w.codes.numel() + w.scales.numel() * 4 + k * 2 + n * 2
        out[spec] = {"ms": ms, "gb_per_s": moved / ms / 1e6,
                     "share_of_hbm": moved / ms / 1e-3 / peak if peak else None,
                     "max_rel_err": ((got - want).abs().max() / want.abs().max()).item()}
    wb = torch.from_numpy(w32).to("cuda", torch.bfloat16)
    wt = wb.t().contiguous()
    x2 = x.reshape(1, k)
    ms_bf16 = cuda_ms(lambda: kernels.gemm(x2, wt), repeat)
    out["sparcc_bf16_gemv_ms"] = ms_bf16
    out["torch_bf16_gemv_ms"] = cuda_ms(lambda: torch.nn.functional.linear(x2, wb), repeat)
    out["nf4_vs_sparcc_bf16"] = ms_bf16 / out["nf4:g128"]["ms"]
    try:  # torch's own int4 weight-only kernel (tinygemm)
        w_int = torch.randint(0, 16, (n, k), dtype=torch.int32, device="cuda")
        packed_u8 = (w_int[:, ::2] << 4 | w_int[:, 1::2]).to(torch.uint8)
        packed = torch.ops.aten._convert_weight_to_int4pack(packed_u8, 8)
        scales_zeros = torch.ones(k // 128, n, 2, device="cuda", dtype=torch.bfloat16)
        ms_torch = cuda_ms(lambda: torch.ops.aten._weight_int4pack_mm(x2, packed, 128, scales_zeros), repeat)
        out["torch_int4_ms"] = ms_torch
        out["nf4_vs_torch_int4"] = ms_torch / out["nf4:g128"]["ms"]
    except Exception as e:  # noqa: BLE001
        out["torch_int4_error"] = f"{type(e).__name__}: {e}"
    return out


def sparse24(repeat: int) -> dict[str, Any]:
    from torch.sparse import to_sparse_semi_structured

    rows = []
    for m in (2048, 4096, 8192):
        k = n = 4096
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        mask = torch.tensor([1, 1, 0, 0], device="cuda", dtype=torch.bool).repeat(n, k // 4)
        w = w * mask
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        ws = to_sparse_semi_structured(w)
        dense = cuda_ms(lambda: torch.nn.functional.linear(x, w), repeat)
        sparse = cuda_ms(lambda: torch.nn.functional.linear(x, ws), repeat)
        rows.append({"m": m, "n": n, "k": k, "torch_dense_ms": dense, "torch_semi_structured_ms": sparse,
                     "torch_24_speedup": dense / sparse})
    return {"rows": rows, "sparcc": "no GPU 2:4 kernel yet (mma.sp): not timed"}


def mlir_matmul(repeat: int) -> dict[str, Any]:
    import sparcc

    class MM(torch.nn.Module):
        def forward(self, a, b):
            return a @ b

    a = torch.randn(1024, 1024, device="cuda")
    b = torch.randn(1024, 1024, device="cuda")
    fast = sparcc.jit(MM(), target="gpu", cache=False)
    err = (fast(a, b) - a @ b).abs().max().item()
    return {"shape": [1024, 1024, 1024], "dtype": "float32", "max_abs_diff_vs_torch": err,
            "sparcc_mlir_ms": cuda_ms(lambda: fast(a, b), repeat), "torch_ms": cuda_ms(lambda: a @ b, repeat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/gpu.json")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="4096^3 GEMM only, fewer repeats")
    opts = parser.parse_args()
    repeat = 5 if opts.quick else opts.repeat
    start = time.time()
    results = {
        "device": torch.cuda.get_device_name(), "torch": torch.__version__, "host": platform.node(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "entries": [entry("gemm bf16 4096", lambda: gemm(4096, repeat))],
    }
    if not opts.quick:
        results["entries"].append(entry("gemm bf16 8192", lambda: gemm(8192, repeat)))
    results["entries"] += [
        entry("gemv w4a16 1x8192x8192", lambda: gemv_w4(repeat)),
        entry("2:4 semi-structured", lambda: sparse24(repeat)),
        entry("mlir path matmul f32 1024", lambda: mlir_matmul(repeat)),
    ]
    results["seconds"] = time.time() - start
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {opts.out} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
