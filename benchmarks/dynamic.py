"""Dynamic shapes on real models: one compile per model, checked against eager
PyTorch at several sizes, and timed against a static program compiled for
each size and against eager.

    python benchmarks/dynamic.py                       # decoders and encoders of the zoo
    python benchmarks/dynamic.py --only hf/gpt2 --sizes 1,16,128 --threads 1
    python benchmarks/dynamic.py --json dynamic.json

Token models vary the sequence length (input dim 1, range 1..max size);
image models vary the batch (dim 0). Printed per model and size: the
relative error of the dynamic program (zoo_models.error), and eager / static /
dynamic times with the ratio static/dynamic (1.0: dynamic costs nothing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_models as zm  # noqa: E402

DEFAULT = ["hf/gpt2", "hf/llama", "hf/qwen2", "hf/mistral", "hf/phi", "hf/gpt_neox", "hf/opt", "hf/bert",
           "hf/roberta", "hf/distilbert", "hf/t5_encoder", "hf/vit", "torchvision/resnet18", "timm/vit_tiny_patch16_224"]


def _timed(fn, args, repeat: int) -> float:
    from sparcc.cli import _median_ms  # the timing `sparcc run` reports

    with torch.no_grad():
        return _median_ms(fn, args, repeat)


def _resized(args: tuple[torch.Tensor, ...], dim: int, size: int) -> tuple[torch.Tensor, ...]:
    out = []
    for a in args:
        shape = list(a.shape)
        shape[dim] = size
        if a.dtype in (torch.int64, torch.int32):
            out.append(torch.randint(0, 100, shape, dtype=a.dtype) if a.max() > 1 else torch.ones(shape, dtype=a.dtype))
        else:
            out.append(torch.randn(shape, dtype=a.dtype))
    return tuple(out)


def run(name: str, sizes: list[int], threads: int, repeat: int) -> list[dict]:
    from sparcc.driver import compile_program

    entry = zm.select(only=[name])[0]
    model = entry.build()
    example = entry.inputs()
    dim = 1 if entry.kind in ("decoder", "encoder") and example[0].dim() == 2 else 0
    top = max(sizes)
    start = time.perf_counter()
    dynamic = compile_program(model, example, threads=threads, use_cache=False,
                              dynamic={i: {dim: (1, top)} for i in range(len(example))})
    compile_s = time.perf_counter() - start
    rows = []
    for size in sizes:
        args = _resized(example, dim, size)
        with torch.no_grad():
            want = model(*args)
        err = zm.error(dynamic(*args), want)
        static = compile_program(model, args, threads=threads, use_cache=True)
        t_eager, t_static, t_dyn = (_timed(f, args, repeat) for f in (model, static, dynamic))
        rows.append({"model": name, "dim": dim, "size": size, "error": err, "compile_s": compile_s,
                     "eager_ms": t_eager, "static_ms": t_static, "dynamic_ms": t_dyn,
                     "static_over_dynamic": t_static / t_dyn, "eager_over_dynamic": t_eager / t_dyn})
        print(f"{name:28s} dim {dim} size {size:4d}  err {err:.1e}  eager {t_eager:7.2f} ms  static "
              f"{t_static:7.2f} ms  dynamic {t_dyn:7.2f} ms  static/dynamic {t_static / t_dyn:5.2f}  "
              f"eager/dynamic {t_eager / t_dyn:5.2f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=DEFAULT)
    parser.add_argument("--sizes", default="1,16,64,128")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", default=None)
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    sizes = [int(s) for s in opts.sizes.split(",")]
    rows, failures = [], {}
    for name in opts.only:
        try:
            rows += run(name, sizes, opts.threads, opts.repeat)
        except Exception as e:  # noqa: BLE001 (a report, not a test: every model gets its line)
            failures[name] = str(e).strip().splitlines()[0][:300]
            print(f"{name:28s} FAILED: {failures[name]}", flush=True)
    ratios = [r["static_over_dynamic"] for r in rows]
    if ratios:
        print(f"\ngeomean static/dynamic time ratio over {len(ratios)} runs: "
              f"{statistics.geometric_mean(ratios):.2f} (1.0 = dynamic code costs nothing)")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"rows": rows, "failures": failures}, indent=1))


if __name__ == "__main__":
    main()
