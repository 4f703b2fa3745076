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


def cache_step(cache, pos, x):
    """A KV cache's update: x's rows written at `pos` along dim 2 (HF StaticCache)."""
    cache.index_copy_(2, pos, x)
    return cache.sum(2)


@pytest.mark.parametrize("length", [16, 512])  # 16 KiB: updated apart and copied back; 512 KiB: in its own buffer
def test_cache_updates_of_one_and_of_several_positions_match_eager(length):
    torch.manual_seed(0)
    fast = sparcc.jit(cache_step, cache=False, dynamic=False)
    cache = torch.randint(-8, 8, (1, 4, length, 64)).float()  # small integers: every sum exact
    want_cache = cache.clone()
    address = cache.data_ptr()
    for pos in ([3], [length - 1], [0, 5, 9, 2], [7]):
        x = torch.randint(-8, 8, (1, 4, len(pos), 64)).float()
        got = fast(cache, torch.tensor(pos), x)
        want = cache_step(want_cache, torch.tensor(pos), x)
        torch.testing.assert_close(got, want)
        assert torch.equal(cache, want_cache)
    assert cache.data_ptr() == address


def test_an_out_of_range_position_raises_and_leaves_even_a_large_cache_as_it_was():
    fast = sparcc.jit(cache_step, cache=False)
    cache = torch.randn(1, 4, 512, 64)  # large enough to be updated where it lies
    fast(cache, torch.tensor([1]), torch.ones(1, 4, 1, 64))
    before = cache.clone()
    with pytest.raises(IndexError, match="512"):
        fast(cache, torch.tensor([512]), torch.ones(1, 4, 1, 64))
    with pytest.raises(IndexError):
        cache_step(cache.clone(), torch.tensor([512]), torch.ones(1, 4, 1, 64))
    assert torch.equal(cache, before)  # PyTorch too leaves it as it was


def test_index_add_and_index_put_along_one_dim_match_eager_with_repeated_and_negative_indices():
    def add(x, i, v):
        return x.index_add(1, i, v, alpha=2.0)

    def put(x, i, v):
        y = x.clone()
        y[:, i] = v  # aten.index_put: negative indices count from the end
        return y

    torch.manual_seed(0)
    x, v = torch.randn(3, 40, 8), torch.randn(3, 5, 8)
    i = torch.tensor([4, 1, 4, 39, 0])  # 4 twice: index_add adds both, in order
    torch.testing.assert_close(sparcc.jit(add, cache=False)(x, i, v), add(x, i, v))
    j = torch.tensor([-1, 3, -40, 7, 2])
    torch.testing.assert_close(sparcc.jit(put, cache=False)(x, j, v), put(x, j, v))
    with pytest.raises(IndexError):
        sparcc.jit(put, cache=False)(x, torch.tensor([0, 1, 2, 3, -41]), v)


def test_a_prefill_of_any_length_updates_the_cache_in_one_dynamic_program():
    fast = sparcc.jit(cache_step, cache=False, dynamic={1: {0: (1, 64)}, 2: {2: (1, 64)}})
    cache = torch.zeros(1, 2, 256, 64)  # 128 KiB
    want_cache = cache.clone()
    start = 0
    for n in (5, 3, 9):
        pos, x = torch.arange(start, start + n), torch.randn(1, 2, n, 64)
        torch.testing.assert_close(fast(cache, pos, x), cache_step(want_cache, pos, x))
        assert torch.equal(cache, want_cache)
        start += n
    assert fast.compiles == 1


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


def test_a_dict_of_tensors_argument_is_flattened_into_inputs():
    def f(x, masks=None, scale=1.0):
        return x * masks["full"] + (masks["sliding"] if masks["sliding"] is not None else 0) * scale

    fast = sparcc.jit(f, cache=False)
    x = torch.randn(4, 8)
    for masks in ({"full": torch.randn(4, 8), "sliding": torch.randn(4, 8)}, {"full": torch.randn(4, 8), "sliding": None}):
        torch.testing.assert_close(fast(x, masks=masks, scale=2.0), f(x, masks=masks, scale=2.0))
    assert fast.compiles == 2  # None in place of a tensor is another program


def test_a_dynamic_cache_is_refused_with_the_fix():
    model = _tiny_llama()
    model.forward = sparcc.jit(model.forward, cache=False)
    with pytest.raises(SparccError, match="replaces the tensor 'keys'.*cache_implementation='static'"):
        model.generate(torch.randint(0, 1000, (1, 5)), max_new_tokens=2, do_sample=False)


@pytest.mark.slow
def test_a_sliding_window_cache_counts_in_python_and_still_gives_eager_tokens():
    # Mistral's static sliding-window layers keep a Python int of the length:
    # each compiled call sets it as the eager call would (one program per value)
    sys.path.insert(0, BENCHMARKS)
    import generate_zoo

    row = generate_zoo.run("mistral", new_tokens=3, prompts=(6,))
    assert row.get("same_tokens") is True, row


def test_logit_errors_against_numpy():
    import numpy as np
    from sparcc.generate import logit_errors

    rng = np.random.default_rng(0)
    want = rng.normal(size=(5, 11))
    got = want + rng.normal(scale=0.3, size=(5, 11))
    got[2] = want[2] * -1  # a position whose top-1 differs
    p = np.exp(want - want.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    q = np.exp(got - got.max(1, keepdims=True)); q /= q.sum(1, keepdims=True)
    e = logit_errors(torch.tensor(want), torch.tensor(got))
    assert e["kl"] == pytest.approx(float(np.mean(np.sum(p * np.log(p / q), 1))), rel=1e-9)
    assert e["logits_rel_err"] == pytest.approx(float(np.linalg.norm(got - want) / np.linalg.norm(want)), rel=1e-9)
    assert e["top1_agreement"] == pytest.approx(float(np.mean(want.argmax(1) == got.argmax(1))))


def test_greedy_through_sparcc_matches_hugging_face_generate():
    from sparcc.generate import greedy

    model = _tiny_llama()
    ids = torch.randint(0, 1000, (1, 6))
    want = model.generate(ids, max_new_tokens=5, do_sample=False, cache_implementation="static")
    fast = sparcc.jit(model.forward, cache=False)
    got = greedy(model, ids, 5, forward=fast)
    assert torch.equal(got.tokens, want) and got.prefill_tokens_per_s > 0 and got.decode_tokens_per_s > 0
    assert torch.equal(greedy(model, ids, 5).tokens, want)
    with pytest.raises(SparccError, match=r"shape \[1, n\]"):
        greedy(model, ids[0], 5)


def test_the_cli_generates_and_prints_both_phases(tmp_path, capsys):
    from sparcc.cli import main

    src = tmp_path / "lm.py"
    src.write_text(
        f"import sys; sys.path.insert(0, {BENCHMARKS!r})\n"
        "import torch, zoo_models\n"
        "def make():\n"
        "    t = zoo_models.frameworks()[1]\n"
        "    torch.manual_seed(0)\n"
        "    return t.LlamaForCausalLM(t.LlamaConfig(vocab_size=500, hidden_size=64, intermediate_size=128,\n"
        "        num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2))\n"
    )
    assert main(["run", f"{src}:make", "--generate", "4", "--prompt", "5", "--repeat", "10", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "prefill tok/s" in out and "4/4 equal to eager" in out
    assert main(["run", f"{src}:make", "--generate", "0"]) == 1
    assert "--generate 0: must be at least 1" in capsys.readouterr().err


def test_a_new_lazy_cache_per_call_runs_the_eager_probe_once(monkeypatch):
    from sparcc import jit_function

    model = _tiny_llama()
    ids = torch.randint(0, 1000, (1, 6))
    fast = sparcc.jit(model.forward, cache=False)
    probes = []
    real = jit_function._probe_shapes
    monkeypatch.setattr(jit_function, "_probe_shapes", lambda *a: probes.append(1) or real(*a))
    want = model.generate(ids, max_new_tokens=3, do_sample=False, cache_implementation="static")
    model.forward = fast
    for _ in range(3):  # generate() makes a new (lazily allocated) cache per call
        assert torch.equal(model.generate(ids, max_new_tokens=3, do_sample=False, cache_implementation="static"), want)
    assert len(probes) == 1


def test_an_input_read_only_by_its_update_is_updated_in_its_own_buffer(monkeypatch):
    from sparcc import driver

    copied = []
    real = driver._write_back
    monkeypatch.setattr(driver, "_write_back", lambda dst, src: copied.append(dst.shape) or real(dst, src))

    def update(cache, pos, x):
        cache.index_copy_(0, pos, x)
        return cache * 2

    def reads_twice(cache, pos, x):
        before = cache.sum()
        cache.index_copy_(0, pos, x)
        return cache * 2 + before

    for f, in_place in ((update, True), (reads_twice, False)):
        fast = sparcc.jit(f, cache=False)
        cache, want = torch.zeros(128, 256), torch.zeros(128, 256)  # 128 KiB: large enough to update in place
        for p in (1, 4):
            x = torch.randn(1, 256)
            torch.testing.assert_close(fast(cache, torch.tensor([p]), x), f(want, torch.tensor([p]), x))
            assert torch.equal(cache, want)
        (program,) = fast.cache.values()
        assert program.in_place == [in_place]
        assert len(copied) == (0 if in_place else 2)  # written back after each call unless updated in place
        copied.clear()
    # two inputs sharing memory: the update is computed apart and copied back
    def two(cache, other, pos, x):
        cache.index_copy_(0, pos, x)
        return cache + other

    fast = sparcc.jit(two, cache=False)
    base = torch.zeros(6, 4)
    view = base.view(6, 4)
    want_base = base.clone()
    got = fast(base, view, torch.tensor([2]), torch.ones(1, 4))
    want = two(want_base, want_base.clone(), torch.tensor([2]), torch.ones(1, 4))
    torch.testing.assert_close(got, want)
    assert torch.equal(base, want_base)


class _LazyLayer:
    def __init__(self):
        self.is_initialized = False

    def lazy_initialization(self, k, v):
        self.keys = torch.zeros(*k.shape[:-2], 8, k.shape[-1])
        self.is_initialized = True


class _LazyCache:
    def __init__(self):
        self.layers = [_LazyLayer()]


def _step(x, pos, **kw):  # the cache arrives through **kwargs
    layer = kw["cache"].layers[0]
    if not layer.is_initialized:
        layer.lazy_initialization(x, x)
    layer.keys.index_copy_(1, pos, x)
    return layer.keys.sum(1)


def test_a_lazy_cache_passed_through_the_models_kwargs_is_probed_and_updated():
    fast = sparcc.jit(_step, cache=False)
    cache, want = _LazyCache(), _LazyCache()
    for p in (0, 3):
        x = torch.randn(2, 1, 4)
        torch.testing.assert_close(fast(x, torch.tensor([p]), cache=cache), _step(x, torch.tensor([p]), cache=want))
        torch.testing.assert_close(cache.layers[0].keys, want.layers[0].keys)


class _Layer:
    def __init__(self, keys, scale=1.0):
        self.keys, self.scale = keys, scale


class _Cache:
    def __init__(self, keys):
        self.layers = [_Layer(keys)]


def _scaled_step(x, pos, cache):
    layer = cache.layers[0]
    layer.keys.index_copy_(1, pos, x)
    return layer.keys.sum(1) * layer.scale


def test_a_repeated_keyword_call_sees_replaced_tensors_settings_and_layers_of_its_cache():
    """A keyword call with the same state object as the last one skips the
    binding (jit_function._CallPlan); whatever changed in the object since
    (a tensor replaced, a setting the trace fixed, a layer swapped) must
    still reach the program, as eager sees it."""
    torch.manual_seed(0)
    fast = sparcc.jit(_scaled_step, cache=False)
    keys = torch.randn(2, 8, 4)
    got, want = _Cache(keys.clone()), _Cache(keys.clone())

    def step(p):
        x = torch.randn(2, 1, 4)
        torch.testing.assert_close(fast(x=x, pos=torch.tensor([p]), cache=got),
                                   _scaled_step(x, torch.tensor([p]), want))
        assert torch.equal(got.layers[0].keys, want.layers[0].keys)

    step(0)
    step(1)  # the same cache: planned
    assert fast._plans
    new = torch.randn(2, 8, 4)
    got.layers[0].keys, want.layers[0].keys = new.clone(), new.clone()
    step(2)
    got.layers[0].scale = want.layers[0].scale = 3.0  # traced as a constant: another program
    step(3)
    step(4)
    other = torch.randn(2, 8, 4)
    got.layers[0], want.layers[0] = _Layer(other.clone(), 3.0), _Layer(other.clone(), 3.0)
    step(5)
    assert fast.compiles == 2
