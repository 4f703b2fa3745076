"""
LLM decoding on the CPU, side by side in one process: one Llama-architecture
decoder (random weights from a config, ~58M parameters by default, so that
decode streams more weights than the caches hold), one random prompt, greedy
generation with a static KV cache, at 2 threads, through

  - PyTorch eager, float32 and bfloat16;
  - torch.compile (Inductor, CPU) of the forward, float32;
  - sparcc: dense float32, NF4 (nf4:g64 on every linear layer), and 2:4
    pruning with NF4 values on the MLP layers (nf4 elsewhere) where this
    build has that kernel;
  - llama.cpp (llama-cpp-python, benchmarks/llamacpp.py) on a GGUF of the
    same weights, Q8_0 and Q4_0, where it is installed (the `bench` extra).

Each row: prefill tokens/s (the prompt in one call), decode tokens/s (one
call per new token), and, against float32 eager on eager's own tokens
(teacher-forced), the logits' relative error, KL divergence and top-1
agreement; greedy tokens equal to float32 eager's before the first
difference. Writes JSON (benchmarks/results/llm.json) and a bar chart of
decode tokens/s (benchmarks/results/llm.png).

    python benchmarks/bench_llm.py                       # the default model
    python benchmarks/bench_llm.py --layers 2 --hidden 128 --vocab 1000 --new 16   # quick
    python benchmarks/bench_llm.py --only sparcc-nf4,eager-f32
    python benchmarks/bench_llm.py --cache 1024          # a longer static cache (llama.cpp: context)

Runs alternate (each engine's run, then the next), best of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def build_model(layers: int, hidden: int, inter: int, vocab: int, heads: int, kv_heads: int) -> torch.nn.Module:
    import zoo_models

    transformers = zoo_models.frameworks()[1]
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=4096,
        tie_word_embeddings=False,
    )
    return transformers.LlamaForCausalLM(cfg).eval()


class Engine:
    """One way to run the model: a forward for greedy(), or a whole runner."""

    def __init__(self, name: str, make: Callable[[], Any], kind: str = "forward"):
        self.name, self.make, self.kind = name, make, kind


def engines(model: torch.nn.Module, threads: int, args: argparse.Namespace) -> list[Engine]:
    import sparcc

    mlp = "*.mlp.*"
    out: list[Engine] = [
        Engine("eager-f32", lambda: model.forward),
        Engine("eager-bf16", lambda: _bf16_forward(model)),
        Engine("torch.compile-f32", lambda: torch.compile(model.forward)),
        Engine("sparcc-f32", lambda: sparcc.jit(model.forward, threads=threads)),
        Engine("sparcc-nf4", lambda: sparcc.jit(model.forward, threads=threads, quant={"*": "nf4:g64"})),
        Engine("sparcc-int4", lambda: sparcc.jit(model.forward, threads=threads, quant={"*": "int4:g128"})),
        Engine("sparcc-2:4+nf4", lambda: sparcc.jit(model.forward, threads=threads, quant={"*": "nf4:g64"},
                                                     sparsity={mlp: "2:4"})),
    ]
    for q in ("F32", "Q8_0", "Q4_0"):
        out.append(Engine(f"llama.cpp-{q}", lambda q=q: _llamacpp(model, q, threads, args.cache), kind="runner"))
    return out


def _bf16_forward(model: torch.nn.Module) -> Callable[..., Any]:
    import copy

    half = copy.deepcopy(model).to(torch.bfloat16)
    return half.forward


def _llamacpp(model: torch.nn.Module, qtype: str, threads: int, context: int = 0) -> Any:
    try:
        import llamacpp
    except ImportError as e:
        raise RuntimeError(f"llama.cpp peer unavailable ({e}); pip install -e '.[bench]'") from None
    return LlamaCpp(llamacpp, model, qtype, threads, context)


class LlamaCpp:
    """llama.cpp (llama-cpp-python) on a GGUF of the model's own weights
    (benchmarks/llamacpp.py writes it), run in this process: the same loop
    as sparcc.generate.greedy (one eval of the prompt, one per new token,
    argmax), its KV cache in llama.cpp's default F16."""

    def __init__(self, module: Any, model: torch.nn.Module, qtype: str, threads: int, context: int = 0):
        import tempfile

        self.lc, self.threads, self.context = module, threads, context
        self.folder = tempfile.mkdtemp(prefix="sparcc-gguf-")
        self.path = module.write_gguf(model, Path(self.folder) / f"model-{qtype}.gguf", qtype)
        self.llm: Any = None

    def generate(self, ids: torch.Tensor, n: int) -> tuple[float, float, torch.Tensor]:
        import numpy as np

        prompt = ids[0].tolist()
        context = max(self.context, len(prompt) + n)
        if self.llm is None or self.llm.n_ctx() != context:
            self.llm = self.lc.open_gguf(self.path, n_ctx=context, threads=self.threads)
        llm = self.llm
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        tokens = [int(np.argmax(self.lc._last_logits(llm)))]  # noqa: SLF001
        mid = time.perf_counter()
        for _ in range(n - 1):
            llm.eval(tokens[-1:])
            tokens.append(int(np.argmax(self.lc._last_logits(llm))))  # noqa: SLF001
        end = time.perf_counter()
        decode = (n - 1) / (end - mid) if n > 1 else float("nan")
        return len(prompt) / (mid - start), decode, torch.cat([ids, torch.tensor([tokens])], 1)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        import numpy as np

        llm = self.lc.open_gguf(self.path, n_ctx=tokens.shape[1], threads=self.threads, logits_all=True)
        llm.reset()
        llm.eval(tokens[0].tolist())
        scores = np.array(llm.scores[: tokens.shape[1]], dtype=np.float32)
        llm.close()
        return torch.from_numpy(scores)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from sparcc.generate import agreeing_prefix, greedy, logit_errors, teacher_forced_logits

    torch.set_num_threads(args.threads)
    model = build_model(args.layers, args.hidden, args.inter, args.vocab, args.heads, args.kv_heads)
    params = sum(p.numel() for p in model.parameters())
    print(f"Llama decoder: {params / 1e6:.1f}M parameters, {args.layers} layers, hidden {args.hidden}; prompt "
          f"{args.prompt}, {args.new} new tokens, {args.threads} threads, cache of {max(args.cache, args.prompt + args.new)}",
          flush=True)
    torch.manual_seed(1)
    ids = torch.randint(0, args.vocab, (1, args.prompt))
    cache = max(args.cache, args.prompt + args.new)  # the static cache's length (llama.cpp: its context)
    reference = greedy(model, ids, args.new, max_cache_len=cache)
    want_logits = teacher_forced_logits(model, reference.tokens)
    chosen = [e for e in engines(model, args.threads, args) if not args.only or e.name in args.only.split(",")]
    ready: list[tuple[Engine, Any, dict[str, Any]]] = []
    for engine in chosen:
        row: dict[str, Any] = {"engine": engine.name}
        start = time.perf_counter()
        try:
            made = engine.make()
            if engine.kind == "forward":  # warm-up: compiles prefill and decode
                greedy(model, ids, min(args.new, 3), forward=made, max_cache_len=cache)
            else:
                made.generate(ids, min(args.new, 3))
        except Exception as e:  # noqa: BLE001 (a row of the table)
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            print(json.dumps(row), flush=True)
            ready.append((engine, None, row))
            continue
        row["setup_s"] = round(time.perf_counter() - start, 1)
        ready.append((engine, made, row))
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.repeat):
        for engine, made, row in ready:
            if made is None:
                continue
            if engine.kind == "forward":
                g = greedy(model, ids, args.new, forward=made, max_cache_len=cache)
                pre, dec, tokens = g.prefill_tokens_per_s, g.decode_tokens_per_s, g.tokens
            else:
                pre, dec, tokens = made.generate(ids, args.new)
            b = best.setdefault(engine.name, {"prefill": 0.0, "decode": 0.0})
            b["prefill"], b["decode"], b["tokens"] = max(b["prefill"], pre), max(b["decode"], dec), tokens
    rows = []
    base = best.get("eager-f32", {})
    for engine, made, row in ready:
        if made is not None:
            b = best[engine.name]
            row["prefill_tok_s"], row["decode_tok_s"] = round(b["prefill"], 1), round(b["decode"], 1)
            if base:
                row["decode_vs_eager_f32"] = round(b["decode"] / base["decode"], 2)
            tokens = b["tokens"]
            row["same_tokens"] = agreeing_prefix(tokens, reference.tokens, args.prompt)
            got = (teacher_forced_logits(model, reference.tokens, made) if engine.kind == "forward"
                   else made.logits(reference.tokens))
            row.update({k: float(f"{v:.4g}") for k, v in logit_errors(want_logits, got).items()})
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict[str, Any]], new: int) -> str:
    lines = [f"{'engine':20} {'prefill tok/s':>13} {'decode tok/s':>12} {'vs eager':>8} {'logits err':>10} "
             f"{'KL':>9} {'top-1':>6} {'tokens':>7}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['engine']:20} {r['error']}")
            continue
        lines.append(
            f"{r['engine']:20} {r['prefill_tok_s']:13.1f} {r['decode_tok_s']:12.1f} "
            f"{r.get('decode_vs_eager_f32', float('nan')):7.2f}x {r['logits_rel_err']:10.2e} {r['kl']:9.2e} "
            f"{r['top1_agreement']:6.1%} {r['same_tokens']:3d}/{new}"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[bench]')")
        return
    done = [r for r in rows if "decode_tok_s" in r]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.barh([r["engine"] for r in done], [r["decode_tok_s"] for r in done],
            color=["tab:orange" if r["engine"].startswith("sparcc") else "tab:gray" for r in done])
    for i, r in enumerate(done):
        ax.text(r["decode_tok_s"], i, f" {r['decode_tok_s']:.0f}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("decode tokens/s (higher is better)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--inter", type=int, default=1536)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--prompt", type=int, default=32)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--cache", type=int, default=0,
                        help="static KV cache length (llama.cpp: context); default prompt + new")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine (alternated); the best counts")
    parser.add_argument("--only", help="comma-separated engine names")
    parser.add_argument("--json", default=str(HERE / "results" / "llm.json"))
    parser.add_argument("--png", default=str(HERE / "results" / "llm.png"))
    args = parser.parse_args()
    rows = run(args)
    print()
    print(table(rows, args.new))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    print(f"wrote {args.json}")
    plot(rows, Path(args.png), f"Llama {args.layers}x{args.hidden}, batch 1, {args.threads} threads, "
                               f"prompt {args.prompt}, {args.new} new tokens")


if __name__ == "__main__":
    main()
