"""Quantisation error of sparcc's 4-bit weight formats on synthetic weights.

    python benchmarks/quant_error_table.py [--json benchmarks/results/quant_error.json] [--seed 0]

Weights: 2^20 samples as a [1024, 1024] matrix, drawn from Student's t with
nu=5 and from a standard Gaussian (numpy default_rng(seed)). For each format:
MSE of dequantize(quantize(w)) - w, SQNR = 10 log10(sum w^2 / sum err^2) in
dB, and the storage bits per weight including scales (float32 scales, E8M0
for MXFP4). A second table sweeps the block size for NF4 against SF4 (and
E2M1 against its supernormal variant) on the same weights. Prints markdown
tables and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from sparcc.dialects.quant_formats import parse_format

#: (label, spec): every 4-bit format, at the group size the issue names.
FORMATS = [
    ("INT4 g64 sym", "int4:g64"),
    ("INT4 g64 asym", "int4:g64:asym"),
    ("NF4 g64", "nf4:g64"),
    ("SF4 (nu=5) g64", "sf4:nu=5:g64"),
    ("APoT4 g64", "apot4:g64"),
    ("E2M1 g32", "e2m1:g32"),
    ("E2M1 supernormal g32", "e2m1s:g32"),
    ("MXFP4 (E2M1, E8M0 g32)", "mxfp4"),
    ("LP(4,1,2,0) g64", "lp:n=4,es=1,rs=2,sf=0:g64"),
    ("LP(4,0,3,0) g64", "lp:n=4,es=0,rs=3,sf=0:g64"),
]

SHAPE = (1024, 1024)  # 2^20 weights

#: Block sizes of the sweep; "channel" is one scale per row of 1024.
SWEEP = ["g32", "g64", "g128", "g256", "channel"]
SWEEP_FORMATS = ["nf4", "sf4", "e2m1", "e2m1s"]


def weights(dist: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dist == "t5":
        return rng.standard_t(5, SHAPE).astype(np.float32)
    return rng.standard_normal(SHAPE).astype(np.float32)


def error(spec: str, w: np.ndarray) -> dict:
    fmt = parse_format(spec)
    err = fmt.roundtrip(w).astype(np.float64) - w
    mse = float(np.mean(err**2))
    sqnr = float(10 * np.log10(np.sum(w.astype(np.float64) ** 2) / np.sum(err**2)))
    return {"spec": fmt.spec, "mse": mse, "sqnr_db": sqnr, "bits_per_weight": fmt.bits_per_weight(SHAPE[1])}


def table(seed: int = 0) -> tuple[dict, dict]:
    data = {d: weights(d, seed) for d in ("t5", "gaussian")}
    main = {label: {d: error(spec, w) for d, w in data.items()} for label, spec in FORMATS}
    sweep = {
        d: {g: {f: error(f"{f}:{g}", w)["mse"] for f in SWEEP_FORMATS} for g in SWEEP} for d, w in data.items()
    }
    return main, sweep


def markdown(results: dict) -> str:
    lines = [
        "| format | bits/weight | t(5) MSE | t(5) SQNR dB | Gaussian MSE | Gaussian SQNR dB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, r in results.items():
        t, g = r["t5"], r["gaussian"]
        lines.append(
            f"| {label} (`{t['spec']}`) | {t['bits_per_weight']:.3g} | {t['mse']:.5f} | {t['sqnr_db']:.2f} "
            f"| {g['mse']:.5f} | {g['sqnr_db']:.2f} |"
        )
    return "\n".join(lines)


def sweep_markdown(sweep: dict) -> str:
    lines = [
        "| weights | block | " + " | ".join(f"{f} MSE" for f in SWEEP_FORMATS) + " | SF4/NF4 | E2M1s/E2M1 |",
        "| --- | --- | " + " | ".join("---" for _ in SWEEP_FORMATS) + " | --- | --- |",
    ]
    for d, rows in sweep.items():
        for g, r in rows.items():
            cells = " | ".join(f"{r[f]:.5f}" for f in SWEEP_FORMATS)
            lines.append(f"| {d} | {g} | {cells} | {r['sf4'] / r['nf4']:.3f} | {r['e2m1s'] / r['e2m1']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "quant_error.json"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.perf_counter()
    results, sweep = table(args.seed)
    print(markdown(results))
    print()
    print(sweep_markdown(sweep))
    print(f"\n({2**20} weights per distribution, seed {args.seed}, {time.perf_counter() - start:.1f} s)")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"seed": args.seed, "shape": list(SHAPE), "results": results, "block_sweep": sweep}, f, indent=2)


if __name__ == "__main__":
    main()
