"""sparcc.jit called with keyword arguments and constants, as Hugging Face
models are (`model(input_ids=x, use_cache=False)`)."""

import sys
from pathlib import Path

import pytest
import sparcc
import torch

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")


class Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(16, 8)

    def forward(self, x, bias=None, scale: float = 1.0, relu: bool = False):
        y = self.fc(x) * scale
        if bias is not None:
            y = y + bias
        return y.relu() if relu else y


def test_keywords_and_constants_match_eager_and_each_combination_compiles_once():
    torch.manual_seed(0)
    model = Scaled().eval()
    fast = sparcc.jit(model, cache=False)
    x, b = torch.randn(3, 16), torch.randn(8)
    with torch.no_grad():
        for kwargs in ({"x": x}, {"x": x, "bias": b}, {"x": x, "scale": 2.5, "relu": True}, {"x": x, "bias": b}):
            torch.testing.assert_close(fast(**kwargs), model(**kwargs), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fast(x, b, scale=0.5), model(x, b, 0.5), atol=1e-5, rtol=1e-5)
    assert fast.compiles == 4  # the repeated combination reused its program
    assert len(fast.keyword_programs) == 4


def test_a_hugging_face_forward_replaced_by_its_jit():
    sys.path.insert(0, BENCHMARKS)
    import zoo_models

    try:
        transformers = zoo_models.frameworks()[1]
    except ImportError as e:  # the zoo extra is not installed
        pytest.skip(f"transformers: {e}")
    cfg = transformers.LlamaConfig(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 500, (1, 9))
    with torch.no_grad():
        want = model(input_ids=ids, use_cache=False).logits
        model.forward = sparcc.jit(model.forward, cache=False, quant={"*.mlp.down_proj": "int8:channel"})
        out = model(input_ids=ids, use_cache=False)
    assert type(out).__name__ == "CausalLMOutputWithPast"
    assert (out.logits - want).abs().max() < 0.05 * want.abs().max()  # int8 down_proj
    inner = next(iter(model.forward.keyword_programs.values()))
    program = next(iter(inner.cache.values()))
    # the weights keep the model's own names, so the glob matched each layer
    assert [r["layer"] for r in program.report["quant"]["layers"]] == [
        "model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"]


@pytest.mark.parametrize("call, message", [
    (lambda f: f(torch.randn(3, 16), bias=object()), "argument 'bias' is a object; sparcc.jit takes tensors"),
    (lambda f: f(torch.randn(3, 16), nonsense=1), "got an unexpected keyword argument 'nonsense'"),
    (lambda f: f(bias=torch.randn(8)), "missing a required argument: 'x'"),
])
def test_keyword_mistakes_get_one_message(call, message):
    fast = sparcc.jit(Scaled().eval(), cache=False)
    with pytest.raises(sparcc.InputMismatchError, match=message):
        call(fast)
