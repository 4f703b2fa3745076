"""
A survey of Hugging Face architectures beyond the zoo: each `model_type`
built with `AutoModel.from_config` from its default config, shrunk (at most
2 layers, width 64, 4 heads, vocabulary 1000 where the config has those
fields), random weights, compiled with `sparcc.jit` and compared with eager.

    python benchmarks/hf_survey.py                      # every listed type
    python benchmarks/hf_survey.py --only deberta-v2 --only segformer
    python benchmarks/hf_survey.py --json benchmarks/results/hf_survey.json

Inputs: text types 16 token ids; vision types one image at the config's
image_size and num_channels; audio types 4000 samples. The compared output is
`last_hidden_state` (else the first output). Each type runs in its own
process with a time limit. Status as in benchmarks/zoo.py: ok (relative error
max|sparcc - eager| / max|eager| at most 1e-3), mismatch, unsupported (a
sparcc.UnsupportedOpError), random (the model draws random numbers, as
vit_mae's masking does: only the output's shape, dtype and finiteness are
compared), error (another SparccError), crash (anything
else: a bug), skipped (the model does not build or run in eager with the
shrunk config), timeout.

An error near 1e-20 or 0 means the output itself is near 0: the random
initialisation of some CNNs (HF MobileNet, EfficientNet) shrinks the
activations layer by layer.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TYPES: dict[str, list[str]] = {
    "text": ["albert", "electra", "deberta", "deberta-v2", "xlm-roberta", "mpnet", "mobilebert", "convbert",
             "squeezebert", "layoutlm", "ernie", "megatron-bert", "rembert", "roformer", "canine", "xlnet",
             "big_bird", "nystromformer", "yoso", "ibert", "markuplm", "longformer"],
    "vision": ["resnet", "regnet", "mobilenet_v1", "mobilenet_v2", "mobilevit", "mobilevitv2", "efficientnet",
               "segformer", "poolformer", "beit", "data2vec-vision", "swinv2", "pvt", "pvt_v2", "focalnet", "bit",
               "dpt", "glpn", "yolos", "vit_msn", "ijepa", "hiera", "textnet", "dinov2_with_registers", "cvt",
               "levit", "vit_mae"],
}

SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
         "vocab_size": 1000, "embedding_size": 64, "d_model": 64, "encoder_layers": 2, "decoder_layers": 2,
         "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 128,
         "decoder_ffn_dim": 128, "num_layers": 2, "num_heads": 4, "d_ff": 128, "d_kv": 16, "n_layer": 2,
         "n_head": 4, "n_embd": 64, "num_key_value_heads": 4, "head_dim": 16, "max_position_embeddings": 128,
         "num_decoder_layers": 2}
TOLERANCE = 1e-3


def measure(kind: str, model_type: str) -> dict[str, Any]:
    import zoo_models

    zoo_models.frameworks()  # torchvision's ops first (README: the timm/torchvision import trap)
    import sparcc
    import torch
    import transformers

    row: dict[str, Any] = {"model": model_type, "kind": kind}
    try:
        torch.manual_seed(0)
        cfg = transformers.AutoConfig.for_model(model_type)
        for key, value in SMALL.items():
            if isinstance(getattr(cfg, key, None), int) and getattr(cfg, key) > value:
                setattr(cfg, key, value)
        model = transformers.AutoModel.from_config(cfg).eval()
        if kind == "text":
            inputs = (torch.randint(3, 1000, (1, 16)),)
        else:
            size = getattr(cfg, "image_size", 224)
            size = size[0] if isinstance(size, (list, tuple)) else size
            inputs = (torch.randn(1, getattr(cfg, "num_channels", 3), size, size),)

        class Hidden(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                out = self.inner(x)
                hidden = getattr(out, "last_hidden_state", None)
                return hidden if hidden is not None else out[0]

        wrapped = Hidden(model).eval()
        with torch.no_grad():
            want = wrapped(*inputs)
    except Exception as e:  # noqa: BLE001 (the model itself: not sparcc's fault)
        row.update(status="skipped", message=f"{type(e).__name__}: {str(e).strip()[:200]}")
        return row
    try:
        start = time.perf_counter()
        fast = sparcc.jit(wrapped, cache=False)
        with torch.no_grad():
            got = fast(*inputs)
        row["compile_s"] = round(time.perf_counter() - start, 1)
        if any(p.random for p in fast.cache.values()):  # vit_mae's random masking: other draws than eager's
            same = got.shape == want.shape and got.dtype == want.dtype and bool(torch.isfinite(got).all())
            row.update(status="random" if same else "mismatch",
                       message="draws random numbers: shape, dtype and finiteness compared, not values")
            return row
        err = float((got - want).abs().max() / (want.abs().max() + 1e-30))
        row.update(status="ok" if err <= TOLERANCE else "mismatch", error=err)
    except sparcc.UnsupportedOpError as e:
        row.update(status="unsupported", message=str(e).strip().splitlines()[1].strip()[:200])
    except sparcc.SparccError as e:
        row.update(status="error", message=str(e).strip().splitlines()[0][:200])
    except Exception as e:  # noqa: BLE001 (a sparcc bug: recorded, not raised)
        row.update(status="crash", message=f"{type(e).__name__}: {str(e)[:200]}", traceback=traceback.format_exc())
    return row


def run_one(kind: str, model_type: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, model_type]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": model_type, "kind": kind, "status": "timeout"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"model": model_type, "kind": kind, "status": "crash", "message": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help="a model_type (repeatable)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per model")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return 0
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    chosen = [(k, t) for k, types in TYPES.items() for t in types if not args.only or t in args.only]
    if not chosen:
        parser.error(f"no listed model_type matches {args.only}; listed: {sorted(t for v in TYPES.values() for t in v)}")
    rows = []
    print("| model_type | kind | status | compile s | error | message |\n| --- | --- | --- | --- | --- | --- |")
    for kind, model_type in chosen:
        row = run_one(kind, model_type, args.timeout)
        rows.append(row)
        err = f"{row['error']:.1e}" if "error" in row else ""
        print(f"| {model_type} | {kind} | {row['status']} | {row.get('compile_s', '')} | {err} | "
              f"{row.get('message', '')} |", flush=True)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    print("\n" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
