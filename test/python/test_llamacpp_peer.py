"""The llama.cpp peer of the decode benchmark (benchmarks/llamacpp.py): a tiny
Hugging Face Llama written as GGUF runs in llama.cpp as it runs in eager
PyTorch. Skipped without the `bench` extra (llama-cpp-python, gguf), which
CI does not install: it builds llama.cpp from source.

Tolerances: F32 weights with an F32 KV cache differ from eager only in
summation order, ~1e-6 of the logits' scale; 1e-4 leaves room for that and
none for a wrong permutation of q/k (which moves this model's logits by
~1e-2). A quantised file is compared with eager on the same weights rounded
through its format: llama.cpp then differs by its activations, which it
quantises to 8 bits (~1 % of the logits), and by nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import llamacpp  # noqa: E402

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def model():
    # 320 tokens: the synthetic vocabulary's specials, its 256 byte tokens and placeholders
    return llamacpp.llama_model(layers=2, hidden=64, inter=128, vocab=320, heads=4, kv_heads=2)


@pytest.fixture(scope="module")
def prompt():
    return llamacpp.random_prompt(320, 12)


def test_f32_matches_eager(model, prompt, tmp_path):
    result = llamacpp.check_against_eager(model, prompt, n_new=16, tol=1e-4, workdir=tmp_path)
    assert result["max_rel_error"] <= 1e-4
    assert result["tokens"] == result["eager_tokens"]


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0"])
def test_quantised_matches_eager_on_rounded_weights(model, prompt, tmp_path, qtype):
    path = llamacpp.write_gguf(model, tmp_path / "m.gguf", qtype)
    rounded = llamacpp.compare(path, llamacpp.eager_reference(llamacpp.round_weights(model, qtype), prompt, 4))
    # 8-bit activations give ~7e-3; blocks written in a wrong layout give ~1
    assert 1e-5 < rounded["rel_l2_error"] < 0.02


def test_rope_rows_interleaved():
    # head 0 of 2, head_dim 4: rows [x0, x1, y0, y1] -> [x0, y0, x1, y1]
    w = np.arange(8, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    got = llamacpp.interleave_rope_rows(w, heads=2)[:, 0]
    assert got.tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_unsupported_config_names_the_field(tmp_path):
    model = llamacpp.llama_model(layers=1, hidden=64, inter=128, vocab=320)
    model.config.hidden_act = "gelu"
    with pytest.raises(ValueError, match="expected hidden_act 'silu', got 'gelu'"):
        llamacpp.write_gguf(model, tmp_path / "m.gguf")
    assert not (tmp_path / "m.gguf").exists()
