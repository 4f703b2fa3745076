"""Fused attention (passes/fuse_attention.py: online softmax over key blocks)
against the unfused lowering and PyTorch eager (whose CPU SDPA is its own
fused flash-attention kernel), side by side in one process.

    python benchmarks/bench_attention.py [--threads 1,2] [--repeat 20] [--models] [--dynamic] [--no-cases] [--quick]

Per case, scaled_dot_product_attention on [1, H, L, 64] f32 tensors is
compiled twice with the cache off (the cache key does not see the switch):
fused wherever the pass can (its thresholds set to 0, so that the fused form
of every case is timed) and unfused (fuse_attention.FUSE_ATTENTION off).
The two programs and eager are timed in alternating blocks
(timing.blocked_median_ms). Each row also gives what the pass's heuristic
predicts and whether it fuses by default. With --models, the same on Hugging
Face models built from configs (random weights): BERT (2 layers, 512
tokens) and GPT-2 (2 layers, 1024 tokens). With --dynamic, one dynamic
program each (lengths 2..8192, causal), timed at several lengths. Writes
benchmarks/results/attention.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# (heads, L, S, causal)
CASES = [(12, 128, 128, False), (12, 256, 256, False), (12, 512, 512, False), (12, 1024, 1024, False),
         (12, 2048, 2048, False), (12, 512, 512, True), (12, 2048, 2048, True), (2, 512, 512, False),
         (2, 2048, 2048, False), (12, 64, 2048, False)]
QUICK = [(12, 512, 512, False), (12, 2048, 2048, True)]


class Attention:
    def __new__(cls, causal: bool) -> Any:
        import torch
        import torch.nn.functional as F

        class _Attention(torch.nn.Module):
            def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        return _Attention()


def _compile_both(model: Any, args: tuple[Any, ...], threads: int, dynamic: Any = None) -> tuple[Any, Any, list[str]]:
    import sparcc
    from sparcc.passes import fuse_attention

    saved = (fuse_attention.FUSE_ATTENTION, fuse_attention.MIN_SCORE_BYTES, fuse_attention.MIN_GAIN)
    try:
        fuse_attention.MIN_SCORE_BYTES, fuse_attention.MIN_GAIN = 0, 0.0
        fused = sparcc.jit(model, threads=threads, cache=False).compile(*args, dynamic=dynamic)
        fuse_attention.FUSE_ATTENTION = False
        plain = sparcc.jit(model, threads=threads, cache=False).compile(*args, dynamic=dynamic)
    finally:
        fuse_attention.FUSE_ATTENTION, fuse_attention.MIN_SCORE_BYTES, fuse_attention.MIN_GAIN = saved
    return fused, plain, fused.report.get("fusions", [])


def _row(name: str, model: Any, args: tuple[Any, ...], threads: int, repeat: int,
         problem: Any = None, programs: Any = None) -> dict[str, Any]:
    import torch
    from sparcc.passes import fuse_attention
    from timing import blocked_median_ms

    fused, plain, fusions = programs or _compile_both(model, args, threads)
    torch.set_num_threads(threads)
    with torch.no_grad():
        want = model(*args)
        for program in (fused, plain):
            got = program(*args)
            got = got[0] if isinstance(got, tuple) else got
            ref = want[0] if isinstance(want, tuple) else want
            ref = getattr(ref, "last_hidden_state", getattr(ref, "logits", ref))
            got = getattr(got, "last_hidden_state", getattr(got, "logits", got))
            torch.testing.assert_close(got, ref, rtol=1e-3, atol=1e-3)
        ms = blocked_median_ms([lambda: fused(*args), lambda: plain(*args), lambda: model(*args)], repeat)
    predicted, default = "", ""
    if problem is not None:
        choice = fuse_attention.choose(problem, threads=threads)
        predicted = f"{choice.predicted:.2f}x" if choice.bq else "-"
        default = "fused" if choice.fuse else "unfused"
    print(f"| {name} | {threads} | {ms[1]:.2f} | {ms[0]:.2f} | {ms[1] / ms[0]:.2f}x | {predicted} | {default} | "
          f"{ms[2]:.2f} | {ms[2] / ms[0]:.2f}x | {ms[2] / ms[1]:.2f}x |", flush=True)
    return {"case": name, "threads": threads, "unfused_ms": ms[1], "fused_ms": ms[0], "eager_ms": ms[2],
            "gain": ms[1] / ms[0], "predicted": predicted, "default": default, "fusions": fusions,
            "fused_vs_eager": ms[2] / ms[0], "unfused_vs_eager": ms[2] / ms[1]}


def _hf_models() -> list[tuple[str, Any, tuple[Any, ...]]]:
    import torch
    import zoo_models

    zoo_models.define_torchvision_ops()  # before transformers imports torchvision (zoo_models.py)
    import transformers

    torch.manual_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(num_hidden_layers=2, attn_implementation="sdpa")).eval()
    gpt2 = transformers.GPT2Model(transformers.GPT2Config(n_layer=2, use_cache=False, attn_implementation="sdpa")).eval()
    return [
        ("HF BERT-base, 2 layers, 512 tokens", bert, (torch.randint(0, 1000, (1, 512)),)),
        ("HF GPT-2, 2 layers, 1024 tokens", gpt2, (torch.randint(0, 1000, (1, 1024)),)),
    ]


DYNAMIC_LENGTHS = (64, 256, 1024, 2048)


def _dynamic_rows(threads: int, repeat: int) -> list[dict[str, Any]]:
    """One dynamic program (lengths 2..8192) each, fused and unfused, timed
    at several lengths: 12 heads x 64, causal."""
    import torch

    model = Attention(True)
    marks = {i: {2: (2, 8192)} for i in range(3)}
    torch.manual_seed(0)
    programs = _compile_both(model, tuple(torch.randn(1, 12, 7, 64) for _ in range(3)), threads, marks)
    rows = []
    for n in DYNAMIC_LENGTHS:
        args = tuple(torch.randn(1, 12, n, 64) for _ in range(3))
        rows.append(_row(f"dynamic program, 12 heads, L=S={n}, causal", model, args, threads, repeat,
                         programs=programs))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--models", action="store_true", help="also Hugging Face BERT and GPT-2 (2 layers)")
    p.add_argument("--quick", action="store_true", help="two cases only")
    p.add_argument("--no-cases", action="store_true", help="only the models (with --models) or --dynamic")
    p.add_argument("--dynamic", action="store_true", help="also one dynamic program timed at several lengths")
    p.add_argument("--json", default=str(HERE / "results" / "attention.json"))
    args = p.parse_args()
    import torch
    from sparcc.passes.fuse_attention import AttentionProblem
    from timing import write_results

    rows = []
    print("ms; gain = unfused / fused (predicted: the pass's heuristic; default: what it chooses); "
          "vs eager = eager / sparcc")
    print("| case | threads | unfused ms | fused ms | gain | predicted | default | eager ms | fused vs eager "
          "| unfused vs eager |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for threads in [int(t) for t in args.threads.split(",")]:
        for heads, lq, lk, causal in [] if args.no_cases else QUICK if args.quick else CASES:
            torch.manual_seed(0)
            q, k, v = torch.randn(1, heads, lq, 64), torch.randn(1, heads, lk, 64), torch.randn(1, heads, lk, 64)
            name = f"{heads} heads, L={lq}, S={lk}{', causal' if causal else ''}"
            problem = AttentionProblem(heads, lq, lk, 64, 64, causal)
            rows.append(_row(name, Attention(causal), (q, k, v), threads, args.repeat, problem))
        if args.dynamic:
            rows += _dynamic_rows(threads, args.repeat)
        if args.models:
            for name, model, inputs in _hf_models():
                rows.append(_row(name, model, inputs, threads, max(5, args.repeat // 2)))
    write_results(args.json, rows)


if __name__ == "__main__":
    main()
