"""
Hugging Face generation through sparcc, by the Hugging Face convention:
every decoder of the model zoo (benchmarks/zoo_models.py) with

    model.forward = sparcc.jit(model.forward)
    model.generate(ids, max_new_tokens=N, do_sample=False, cache_implementation="static")

against the same generate() in eager PyTorch: the tokens must be equal, and
each model compiles its prefill and its decode step once.

    python benchmarks/generate_zoo.py                # every decoder
    python benchmarks/generate_zoo.py llama gpt2     # some, by name
    python benchmarks/generate_zoo.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_models  # noqa: E402


def decoder(name: str) -> torch.nn.Module:
    """The zoo's decoder `name` as a plain AutoModelForCausalLM (seeded)."""
    transformers = zoo_models.frameworks()[1]
    config, options = zoo_models._HF_DECODERS[name]  # noqa: SLF001
    torch.manual_seed(zoo_models.SEED)
    return transformers.AutoModelForCausalLM.from_config(getattr(transformers, config)(**options)).eval()


def run(name: str, new_tokens: int = 6, prompts: tuple[int, ...] = (9, 5)) -> dict:
    import sparcc

    model = decoder(name)
    gen = {"max_new_tokens": new_tokens, "do_sample": False, "cache_implementation": "static"}
    torch.manual_seed(1)
    ids = [torch.randint(0, model.config.vocab_size, (1, n)) for n in prompts]
    with torch.no_grad():
        want = [model.generate(p, **gen) for p in ids]
    row: dict = {"model": name}
    fast = sparcc.jit(model.forward)
    model.forward = fast
    start = time.perf_counter()
    try:
        got = [model.generate(p, **gen) for p in ids]
    except Exception as e:  # noqa: BLE001 (a row of the table)
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        if "-v" in sys.argv:
            traceback.print_exc()
        return row
    row["seconds"] = round(time.perf_counter() - start, 1)
    row["same_tokens"] = all(torch.equal(a, b) for a, b in zip(got, want))
    row["compiles"] = fast.compiles
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="decoders (default: all of the zoo's)")
    parser.add_argument("--new", type=int, default=6, help="tokens to generate per prompt")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("-v", action="store_true", help="print tracebacks of failures")
    args = parser.parse_args()
    names = args.names or list(zoo_models._HF_DECODERS)  # noqa: SLF001
    rows = []
    for name in names:
        row = run(name, args.new)
        rows.append(row)
        print(json.dumps(row), flush=True)
    ok = sum(r.get("same_tokens", False) for r in rows)
    print(f"{ok}/{len(rows)} decoders generate eager's tokens through sparcc")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
