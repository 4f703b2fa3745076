"""In-place updates of inputs (a KV cache) and Hugging Face generation with
a static cache through `model.forward = sparcc.jit(model.forward)`."""

import sys
from pathlib import Path

import pytest
import sparcc
import torch
from sparcc.errors import SparccError

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")


def append(cache, pos, x, count):
    cache.index_copy_(1, pos, x)
    count.add_(x.shape[1])
    return cache.sum(1) * count


@pytest.mark.parametrize("target", ["cpu", "ref"])
def test_updates_of_inputs_are_written_back_as_eager_does(target):
    torch.manual_seed(0)
    fast = sparcc.jit(append, target=target, cache=False)
    cache, count = torch.zeros(3, 8), torch.tensor(0.0)
    want_cache, want_count = cache.clone(), count.clone()
    for pos in ([2], [5], [0]):
        x = torch.randn(3, 1)
        got = fast(cache, torch.tensor(pos), x, count)
        want = append(want_cache, torch.tensor(pos), x, want_count)
        torch.testing.assert_close(got, want)
        assert torch.equal(cache, want_cache) and torch.equal(count, want_count)
    assert fast.compiles == 1


def test_an_out_of_range_cache_position_raises_as_pytorch_does_and_keeps_the_cache():
    fast = sparcc.jit(append, cache=False)
    cache, count = torch.zeros(3, 8), torch.tensor(0.0)
    fast(cache, torch.tensor([1]), torch.ones(3, 1), count)
    before = cache.clone()
    with pytest.raises(SparccError, match="index"):
        fast(cache, torch.tensor([8]), torch.ones(3, 1), count)
    with pytest.raises(IndexError):
        append(cache.clone(), torch.tensor([8]), torch.ones(3, 1), count.clone())
    assert torch.equal(cache, before)


class Counter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("n", torch.zeros(1))

    def forward(self, x):
        self.n.add_(1)
        return x + self.n


def test_a_model_that_updates_its_own_buffer_is_refused_by_name():
    with pytest.raises(SparccError, match="updates its buffer 'n' in place"):
        sparcc.jit(Counter(), cache=False)(torch.ones(2))


def test_a_symbolic_size_used_as_a_value():
    def f(x):
        return x * x.shape[0] + (x.shape[0] + 7)

    fast = sparcc.jit(f, cache=False, dynamic={0: {0: (1, 64)}})
    for n in (3, 9):
        x = torch.randn(n, 4)
        torch.testing.assert_close(fast(x), f(x))
    assert fast.compiles == 1


def test_a_sum_of_a_broadcast_scalar():
    def f(x):
        return x.expand(5, 3).sum(0) + torch.ones(7).sum()

    x = torch.randn(3)
    torch.testing.assert_close(sparcc.jit(f, cache=False)(x), f(x))


def _tiny_llama():
    sys.path.insert(0, BENCHMARKS)
    import zoo_models

    transformers = zoo_models.frameworks()[1]
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return transformers.LlamaForCausalLM(cfg).eval()


def test_hugging_face_generate_with_a_static_cache_gives_eager_tokens_and_compiles_prefill_and_decode_once():
    model = _tiny_llama()
    prompts = [torch.randint(0, 1000, (1, n)) for n in (9, 6, 4)]
    kw = {"max_new_tokens": 5, "do_sample": False, "cache_implementation": "static"}
    want = [model.generate(p, **kw) for p in prompts]
    jitted = sparcc.jit(model.forward, cache=False)
    model.forward = jitted
    # HF keeps the longest cache of earlier calls: the first prompt sets it
    for p, w in zip(prompts, want):
        assert torch.equal(model.generate(p, **kw), w)
    # prefill 9 (static), decode, prefill again for 6 with the length dynamic; 4 reuses it
    assert jitted.compiles == 3


def test_first_step_logits_of_a_static_cache_call_match_eager():
    model = _tiny_llama()
    transformers = sys.modules["transformers"]
    ids = torch.randint(0, 1000, (1, 7))
    caches = [transformers.StaticCache(config=model.config, max_cache_len=16) for _ in range(2)]
    fast = sparcc.jit(model.forward, cache=False)
    with torch.no_grad():
        want = model(input_ids=ids, cache=caches[0], use_cache=True)
        got = fast(input_ids=ids, cache=caches[1], use_cache=True)
    assert got.cache is caches[1]
    torch.testing.assert_close(got.logits, want.logits, atol=1e-4, rtol=1e-4)
    for a, b in zip(caches[0].layers, caches[1].layers):
        torch.testing.assert_close(a.keys, b.keys, atol=1e-5, rtol=1e-5)
        assert int(a.cumulative_length) == int(b.cumulative_length) == 7
