"""
Greedy generation with a static KV cache, timed by phase, and the error of
a quantised or pruned decoder against float32 where it matters for an LLM.

    from sparcc.generate import greedy, logit_errors
    run = greedy(model, ids, new_tokens=64)             # eager
    fast = greedy(model, ids, 64, forward=sparcc.jit(model.forward, quant={"*": "nf4:g64"}))
    fast.tokens, fast.prefill_tokens_per_s, fast.decode_tokens_per_s

`model` is a Hugging Face causal LM (its forward takes `input_ids`,
`cache`/`past_key_values`, `use_cache`); the loop is the one
`model.generate(ids, do_sample=False, cache_implementation="static")` runs,
written out so that prefill (the prompt, one call) and decode (one call per
new token) are timed apart. Each run gets a fresh static cache, as
generate() does, so the compiled prefill and decode programs are reused
across runs and prompts.

Without trained weights there is no perplexity; `logit_errors` compares a
model's logits with float32 eager's on the same tokens (teacher-forced):
relative L2 error, KL divergence of the next-token distributions, and how
often the greedy (top-1) token agrees.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from sparcc.errors import InputMismatchError


@dataclass
class Generation:
    tokens: torch.Tensor  # [1, prompt + new], as generate() returns
    first_logits: torch.Tensor  # the prefill's logits of the last prompt position, [1, vocab]
    prefill_seconds: float
    decode_seconds: float  # all decode steps together
    prompt_length: int
    new_tokens: int

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prompt_length / self.prefill_seconds

    @property
    def decode_tokens_per_s(self) -> float:
        steps = self.new_tokens - 1  # the first new token comes from the prefill
        return steps / self.decode_seconds if steps > 0 and self.decode_seconds > 0 else float("nan")


def static_cache(model: Any, max_cache_len: int) -> Any:
    """A fresh Hugging Face StaticCache for `model`."""
    try:
        from transformers import StaticCache
    except ImportError:  # pragma: no cover (the zoo extra installs it)
        raise InputMismatchError("generation needs the transformers package (pip install transformers)") from None
    return StaticCache(config=model.config.get_text_config(decoder=True), max_cache_len=max_cache_len)


def _cache_argument(forward: Callable[..., Any]) -> str:
    """The name under which this transformers version's forward takes the
    cache (`cache` in transformers 5, `past_key_values` before)."""
    try:
        params = inspect.signature(inspect.unwrap(forward)).parameters
    except (TypeError, ValueError):
        return "cache"
    return "cache" if "cache" in params else "past_key_values"


def greedy(model: Any, ids: torch.Tensor, new_tokens: int, forward: Callable[..., Any] | None = None,
           max_cache_len: int | None = None) -> Generation:
    """Greedy decoding of `new_tokens` tokens after the prompt `ids` ([1, n]),
    through `forward` (default: the model's own), with a static cache."""
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise InputMismatchError(f"the prompt must be token ids of shape [1, n], got {list(ids.shape)}")
    if new_tokens < 1:
        raise InputMismatchError(f"new tokens: {new_tokens}; must be at least 1")
    forward = forward or model.forward
    name = _cache_argument(forward)
    cache = static_cache(model, max_cache_len or ids.shape[1] + new_tokens)
    out_tokens = [ids]
    with torch.no_grad():
        start = time.perf_counter()
        out = forward(input_ids=ids, **{name: cache}, use_cache=True)
        first = out.logits[:, -1, :].float()
        token = first.argmax(-1, keepdim=True)
        prefill = time.perf_counter() - start
        out_tokens.append(token)
        start = time.perf_counter()
        for _ in range(new_tokens - 1):
            out = forward(input_ids=token, **{name: cache}, use_cache=True)
            token = out.logits[:, -1, :].argmax(-1, keepdim=True)
            out_tokens.append(token)
        decode = time.perf_counter() - start
    return Generation(torch.cat(out_tokens, 1), first, prefill, decode, ids.shape[1], new_tokens)


def agreeing_prefix(got: torch.Tensor, want: torch.Tensor, prompt_length: int) -> int:
    """How many generated tokens of `got` equal `want`'s ([1, prompt + new]
    each) before the first difference."""
    return int((got == want).all(0).long().cumprod(0).sum()) - prompt_length


def teacher_forced_logits(model: Any, tokens: torch.Tensor, forward: Callable[..., Any] | None = None) -> torch.Tensor:
    """The logits of every position of `tokens` ([1, n]) in one call, [n, vocab]."""
    forward = forward or model.forward
    with torch.no_grad():
        out = forward(input_ids=tokens, use_cache=False)
    return out.logits[0].float()


def logit_errors(want: torch.Tensor, got: torch.Tensor) -> dict[str, float]:
    """`got` against the reference `want` (both [positions, vocab]): relative
    L2 error, mean KL(want || got) of the softmax distributions (nats), and
    the fraction of positions whose top-1 token agrees."""
    want, got = want.double(), got.double()
    rel = float(torch.linalg.vector_norm(got - want) / torch.linalg.vector_norm(want).clamp_min(1e-300))
    logp, logq = torch.log_softmax(want, -1), torch.log_softmax(got, -1)
    kl = float((logp.exp() * (logp - logq)).sum(-1).mean())
    agree = float((want.argmax(-1) == got.argmax(-1)).double().mean())
    return {"logits_rel_err": rel, "kl": kl, "top1_agreement": agree}
