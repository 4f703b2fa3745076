"""
llama.cpp as a peer of sparcc's LLM decode benchmark: the same Hugging Face
Llama model (random weights from a config) written as a GGUF file and run
by llama.cpp through llama-cpp-python, so that tokens/s can be set side by
side with eager PyTorch and sparcc.

    python benchmarks/llamacpp.py                       # the default model
    python benchmarks/llamacpp.py --layers 8 --hidden 512 --inter 1536 --vocab 32000 \\
        --prompt 32 --new 64 --threads 2 --json out.json

or, from another benchmark (benchmarks/ on sys.path):

    import llamacpp
    llamacpp.write_gguf(model, "m.gguf", "Q4_0")
    llamacpp.check_against_eager(model, prompt_ids)    # F32: raises if it differs
    llamacpp.time_llamacpp("m.gguf", prompt_ids, n_new=64, threads=2)

The conversion follows llama.cpp's own converter (convert_hf_to_gguf.py,
class LlamaModel): its tensor names and hyper-parameter keys, and the rows of
attn_q/attn_k permuted from Hugging Face's rotate-half RoPE layout (the two
halves of each head) to llama.cpp's interleaved one (pairs of rows). The
tokenizer is synthetic (an SPM vocabulary of the model's size: <unk>, <s>,
</s>, the 256 byte tokens when they fit, then placeholders): token ids go in,
logits come out, text is never used.

Quantised files quantise every matrix, token_embd and output included, to the
one type (gguf-py's reference quantisers); norm weights stay F32. llama.cpp's
own `llama-quantize` would keep `output` at a higher precision (Q6_K for
Q4_0), so its Q4_0 is a little more accurate and a little slower than this
one.

llama-cpp-python and gguf are the `bench` extra (`pip install -e '.[bench]'`;
llama-cpp-python builds llama.cpp from source, ~25 minutes on 2 cores). On a
CPU with AMX (Sapphire Rapids and later) a native build turns on llama.cpp's
AMX buffer type, whose matmul crashes on Q8_0/Q4_0 weights (SIGSEGV in
ggml_backend_amx_mul_mat, llama.cpp issue #20824). `open_gguf` therefore
turns the extra buffer types off on such a host and gives Q4_0 matrices the
other one back by name (CPU_REPACK, the interleaved Q4_0 layout llama.cpp
uses on AVX2/AVX-512 hosts without AMX), so that the peer runs as it would
on any other x86 host; Q8_0 and F32 then run from plain buffers, as they do
there. (A build without AMX, `CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON
-DGGML_AVX512=ON ..."`, avoids it too.)

Timings need an otherwise idle machine: llama.cpp's OpenMP threads spin at
every barrier, and one busy core slows its 2-thread decode by 10-100x.
torch and transformers are imported where they are used, so that the timing
process (a fresh interpreter, see `time_llamacpp`) holds llama.cpp alone.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import llama_cpp
import numpy as np

SEED = 0

# qtype -> (the matrices' tensor type, the file's general.file_type)
QTYPES: dict[str, tuple[gguf.GGMLQuantizationType, gguf.LlamaFileType]] = {
    "F32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "F16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "Q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
    "Q4_0": (gguf.GGMLQuantizationType.Q4_0, gguf.LlamaFileType.MOSTLY_Q4_0),
}

# Hugging Face parameter name (after "model.layers.N.") -> llama.cpp's (after "blk.N.")
_LAYER_TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}
_TOP_TENSORS = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}

_UNK, _BOS, _EOS = 0, 1, 2  # the synthetic vocabulary's special tokens
_N_BYTES = 256


# ----------------------------------------------------------------------------
# Hugging Face -> GGUF
# ----------------------------------------------------------------------------


def _hparams(config: Any) -> dict[str, Any]:
    """The Llama hyper-parameters that llama.cpp reads, checked: a config it
    would run differently from Hugging Face is an error that names the field."""
    if config.model_type != "llama":
        raise ValueError(f"write_gguf: expected a Llama model (config.model_type 'llama'), got "
                         f"'{config.model_type}'")
    rope = dict(getattr(config, "rope_parameters", None) or {})
    theta = rope.get("rope_theta", getattr(config, "rope_theta", None))
    unsupported = {
        "rope type": (rope.get("rope_type", "default"), "default"),
        "hidden_act": (config.hidden_act, "silu"),
        "attention_bias": (config.attention_bias, False),
        "mlp_bias": (config.mlp_bias, False),
    }
    for field, (got, want) in unsupported.items():
        if got != want:
            raise ValueError(f"write_gguf: expected {field} {want!r}, got {got!r}; "
                             "this converter writes plain Llama models only")
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    return {
        "context_length": config.max_position_embeddings,
        "embedding_length": config.hidden_size,
        "block_count": config.num_hidden_layers,
        "feed_forward_length": config.intermediate_size,
        "head_count": heads,
        "head_count_kv": kv_heads,
        "head_dim": getattr(config, "head_dim", None) or config.hidden_size // heads,
        "layer_norm_rms_eps": config.rms_norm_eps,
        "rope_freq_base": float(theta),
        "vocab_size": config.vocab_size,
    }


def interleave_rope_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """Rows of a q or k projection from Hugging Face's RoPE layout to llama.cpp's.

    Hugging Face rotates dimension i of a head with dimension i + d/2 (the two
    halves); llama.cpp with dimension i + 1 (pairs). So head h's rows go
    [x_0 .. x_{d/2-1}, y_0 .. y_{d/2-1}] -> [x_0, y_0, x_1, y_1, ...].
    """
    rows = weight.shape[0]
    half = rows // heads // 2
    return weight.reshape(heads, 2, half, -1).transpose(0, 2, 1, 3).reshape(weight.shape)


def _gguf_tensors(model: Any, hp: dict[str, Any]) -> dict[str, np.ndarray]:
    """llama.cpp's tensor name -> float32 array, in llama.cpp's layout."""
    state = {k.removesuffix(".weight"): v for k, v in model.state_dict().items()}
    if "lm_head" not in state or model.config.tie_word_embeddings:
        state["lm_head"] = state["model.embed_tokens"]  # written out: llama.cpp then reads no tie flag
    out: dict[str, np.ndarray] = {}
    for hf, ours in _TOP_TENSORS.items():
        out[f"{ours}.weight"] = state.pop(hf).detach().float().numpy()
    for layer in range(hp["block_count"]):
        for hf, ours in _LAYER_TENSORS.items():
            out[f"blk.{layer}.{ours}.weight"] = state.pop(f"model.layers.{layer}.{hf}").detach().float().numpy()
        q, k = f"blk.{layer}.attn_q.weight", f"blk.{layer}.attn_k.weight"
        out[q] = interleave_rope_rows(out[q], hp["head_count"])
        out[k] = interleave_rope_rows(out[k], hp["head_count_kv"])
    left = [k for k in state if "rotary_emb" not in k]
    if left:
        raise ValueError(f"write_gguf: parameters this converter does not know: {left[:5]}")
    return out


def _add_tokenizer(writer: gguf.GGUFWriter, vocab: int) -> None:
    """A synthetic SPM ("llama") vocabulary of `vocab` tokens: llama.cpp loads
    it, nothing ever tokenises with it."""
    if vocab < 3:
        raise ValueError(f"write_gguf: expected a vocabulary of at least 3 tokens, got {vocab}")
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    if vocab >= len(tokens) + _N_BYTES:  # llama.cpp finds its newline token among them
        tokens += [f"<0x{b:02X}>" for b in range(_N_BYTES)]
        types += [gguf.TokenType.BYTE] * _N_BYTES
    first = len(tokens)
    tokens += [f"t{i}" for i in range(first, vocab)]
    types += [gguf.TokenType.NORMAL] * (vocab - first)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * first + [-float(i) for i in range(first, vocab)])
    writer.add_token_types(types)
    writer.add_unk_token_id(_UNK)
    writer.add_bos_token_id(_BOS)
    writer.add_eos_token_id(_EOS)


def write_gguf(model: Any, path: str | os.PathLike[str], qtype: str = "F32") -> Path:
    """Writes a Hugging Face LlamaForCausalLM as a GGUF file llama.cpp runs.

    `qtype` ("F32", "F16", "Q8_0", "Q4_0") is the type of every matrix; the
    norm weights stay F32. Returns `path`.
    """
    if qtype not in QTYPES:
        raise ValueError(f"write_gguf: expected qtype one of {', '.join(QTYPES)}, got {qtype!r}")
    tensor_type, file_type = QTYPES[qtype]
    hp = _hparams(model.config)
    path = Path(path)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(f"sparcc-llama-{hp['block_count']}x{hp['embedding_length']}-{qtype}")
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_vocab_size(hp["vocab_size"])
    writer.add_context_length(hp["context_length"])
    writer.add_embedding_length(hp["embedding_length"])
    writer.add_block_count(hp["block_count"])
    writer.add_feed_forward_length(hp["feed_forward_length"])
    writer.add_head_count(hp["head_count"])
    writer.add_head_count_kv(hp["head_count_kv"])
    writer.add_key_length(hp["head_dim"])
    writer.add_value_length(hp["head_dim"])
    writer.add_layer_norm_rms_eps(hp["layer_norm_rms_eps"])
    writer.add_rope_freq_base(hp["rope_freq_base"])
    writer.add_rope_dimension_count(hp["head_dim"])
    _add_tokenizer(writer, hp["vocab_size"])
    for name, array in _gguf_tensors(model, hp).items():
        if array.ndim == 1 or tensor_type == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, array)
        else:
            writer.add_tensor(name, gguf.quants.quantize(array, tensor_type), raw_dtype=tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def round_weights(model: Any, qtype: str) -> Any:
    """A copy of `model` whose matrices are rounded through `qtype` (quantised
    and dequantised as `write_gguf` quantises them): eager PyTorch on it
    separates the error of the weights' format, which any runtime has, from
    llama.cpp's own (its activations quantised to 8 bits, its summation)."""
    import copy

    import torch

    tensor_type = QTYPES[qtype][0]
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for weight in rounded.parameters():
            if weight.ndim == 2:
                array = weight.detach().float().numpy()
                back = gguf.quants.dequantize(gguf.quants.quantize(array, tensor_type), tensor_type)
                weight.copy_(torch.from_numpy(back.reshape(array.shape)))
    return rounded


# ----------------------------------------------------------------------------
# running it
# ----------------------------------------------------------------------------


def open_gguf(path: str | os.PathLike[str], n_ctx: int, threads: int = 2, logits_all: bool = False,
              f32_cache: bool = False) -> llama_cpp.Llama:
    """llama.cpp's model and context for `path`, quiet. `logits_all` keeps every
    position's logits (in `.scores`); `f32_cache` keeps the KV cache in F32
    (llama.cpp's default is F16, which alone is ~1e-3 off float32 eager)."""
    cache = {"type_k": llama_cpp.GGML_TYPE_F32, "type_v": llama_cpp.GGML_TYPE_F32} if f32_cache else {}
    low = llama_cpp.llama_cpp  # the module whose default model params Llama() reads
    default_params = low.llama_model_default_params
    if _host_has_amx():
        low.llama_model_default_params = lambda: _without_amx(default_params(), Path(path))
    try:
        return llama_cpp.Llama(str(path), n_ctx=n_ctx, n_batch=max(n_ctx, 8), n_ubatch=max(n_ctx, 8),
                               n_threads=threads, n_threads_batch=threads, logits_all=logits_all,
                               verbose=False, **cache)
    finally:
        low.llama_model_default_params = default_params


def _host_has_amx() -> bool:
    try:
        return " amx_int8" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


class _BuftOverride(ctypes.Structure):  # llama.h's llama_model_tensor_buft_override
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


# the matrices that llama.cpp's CPU_REPACK buffer takes (Q4_0 only here:
# given Q8_0 or F32 matrices it crashes too)
_REPACKED = rb"^blk\.[0-9]+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight$|^output\.weight$"


def _without_amx(params: Any, path: Path) -> Any:
    """`params` with llama.cpp's extra buffer types off (AMX among them), and
    for a Q4_0 file the matrices placed in CPU_REPACK by name (see the
    module's docstring)."""
    params.use_extra_bufts = False
    reader = gguf.GGUFReader(str(path))
    if not any(t.tensor_type == gguf.GGMLQuantizationType.Q4_0 for t in reader.tensors):
        return params
    table = _repack_overrides()
    if table is not None:
        params.tensor_buft_overrides = ctypes.cast(table, ctypes.c_void_p).value
    return params


@functools.cache  # one table, kept alive: llama.cpp reads it while a model loads
def _repack_overrides() -> Any:
    """The override table that places _REPACKED matrices in CPU_REPACK, or
    None where this build has no such buffer type."""
    repack = _extra_buffer_type("CPU_REPACK")
    if repack is None:
        return None
    return (_BuftOverride * 2)(_BuftOverride(_REPACKED, repack), _BuftOverride(None, None))


def _extra_buffer_type(name: str) -> int | None:
    """The CPU device's extra buffer type called `name`, through ggml's
    backend registry (llama-cpp-python does not bind it)."""
    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml.so"))
    for fn, res, args in (("ggml_backend_dev_by_type", ctypes.c_void_p, [ctypes.c_int]),
                          ("ggml_backend_dev_backend_reg", ctypes.c_void_p, [ctypes.c_void_p]),
                          ("ggml_backend_reg_get_proc_address", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
                          ("ggml_backend_buft_name", ctypes.c_char_p, [ctypes.c_void_p])):
        getattr(lib, fn).restype, getattr(lib, fn).argtypes = res, args
    device = lib.ggml_backend_dev_by_type(0)  # GGML_BACKEND_DEVICE_TYPE_CPU
    if not device:
        return None
    address = lib.ggml_backend_reg_get_proc_address(lib.ggml_backend_dev_backend_reg(device),
                                                    b"ggml_backend_dev_get_extra_bufts")
    if not address:
        return None
    table = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)(address)(device)
    i = 0
    while table and table[i]:
        if lib.ggml_backend_buft_name(table[i]) == name.encode():
            return table[i]
        i += 1
    return None


def _last_logits(llm: llama_cpp.Llama) -> np.ndarray:
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))


def greedy(llm: llama_cpp.Llama, prompt_ids: list[int], n_new: int) -> list[int]:
    """`n_new` greedy tokens after `prompt_ids`, from an empty cache: one
    eval of the prompt, then one eval per token (the last token's logits
    are the only ones read, whatever `logits_all`)."""
    llm.reset()
    llm.eval(prompt_ids)
    tokens = [int(np.argmax(_last_logits(llm)))]
    for _ in range(n_new - 1):
        llm.eval(tokens[-1:])
        tokens.append(int(np.argmax(_last_logits(llm))))
    return tokens


@dataclass(frozen=True)
class Reference:
    """What eager PyTorch computes for a prompt: the prompt's logits
    [len(prompt), vocab] and `model.generate(do_sample=False)`'s new tokens."""

    prompt_ids: list[int]
    logits: np.ndarray
    tokens: list[int]


def eager_reference(model: Any, prompt_ids: list[int], n_new: int = 16) -> Reference:
    import torch

    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        logits = model(ids, use_cache=False).logits[0].float().numpy()
        # eos_token_id=None: exactly n_new tokens, as llama.cpp's loop makes
        out = model.generate(ids, do_sample=False, max_new_tokens=n_new, eos_token_id=None)
    return Reference(list(prompt_ids), logits, out[0, len(prompt_ids):].tolist())


def compare(path: str | os.PathLike[str], ref: Reference, threads: int = 2) -> dict[str, Any]:
    """llama.cpp on `path` against eager's `ref`, with an F32 KV cache:

    max_rel_error  max |llama.cpp - eager| / max |eager| over the prompt's logits
    rel_l2_error   ||llama.cpp - eager||_2 / ||eager||_2, the same logits
    tokens_agree   how many of the greedy tokens are equal, position by position
    prefix_agree   how many leading greedy tokens are equal (after the first
                   difference the two continue different texts)
    """
    n_new = len(ref.tokens)
    llm = open_gguf(path, n_ctx=len(ref.prompt_ids) + n_new, threads=threads, logits_all=True, f32_cache=True)
    llm.eval(ref.prompt_ids)
    got = np.array(llm.scores[: len(ref.prompt_ids)], dtype=np.float32)
    tokens = greedy(llm, ref.prompt_ids, n_new)
    llm.close()
    diff = got - ref.logits
    same = [a == b for a, b in zip(tokens, ref.tokens)]
    return {
        "max_rel_error": float(np.abs(diff).max() / np.abs(ref.logits).max()),
        "rel_l2_error": float(np.linalg.norm(diff) / np.linalg.norm(ref.logits)),
        "tokens_agree": sum(same),
        "prefix_agree": same.index(False) if False in same else n_new,
        "n_new": n_new,
        "tokens": tokens,
        "eager_tokens": ref.tokens,
    }


def check_against_eager(model: Any, prompt_ids: list[int], n_new: int = 16, threads: int = 2,
                        tol: float = 1e-3, workdir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Writes `model` as an F32 GGUF and checks llama.cpp against eager: the
    prompt's logits within `tol` (max_rel_error, see `compare`) and the same
    `n_new` greedy tokens as model.generate. Returns `compare`'s numbers;
    raises AssertionError, with them, where either check fails."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = write_gguf(model, Path(tmp) / "model-F32.gguf", "F32")
        return _checked(compare(path, eager_reference(model, prompt_ids, n_new), threads), tol)


def _checked(result: dict[str, Any], tol: float) -> dict[str, Any]:
    if result["max_rel_error"] > tol or result["tokens_agree"] != result["n_new"]:
        raise AssertionError(
            f"llama.cpp's F32 run differs from eager: max_rel_error {result['max_rel_error']:.2e} "
            f"(tolerance {tol:.0e}), greedy tokens {result['tokens_agree']}/{result['n_new']} equal\n"
            f"  llama.cpp {result['tokens']}\n  eager     {result['eager_tokens']}")
    return result


# ----------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------


def _time_here(path: str, prompt_ids: list[int], n_new: int, threads: int, repeat: int) -> dict[str, Any]:
    llm = open_gguf(path, n_ctx=len(prompt_ids) + n_new, threads=threads)
    prefill, decode = [], []
    for i in range(repeat + 1):  # the first is the warm-up
        llm.reset()  # eval drops the cache from position n_tokens = 0 on
        start = time.perf_counter()
        llm.eval(prompt_ids)
        token = int(np.argmax(_last_logits(llm)))
        mid = time.perf_counter()
        for _ in range(n_new):
            llm.eval([token])
            token = int(np.argmax(_last_logits(llm)))
        end = time.perf_counter()
        if i:
            prefill.append(mid - start)
            decode.append(end - mid)
    llm.close()
    return {
        "prefill_tok_s": len(prompt_ids) / statistics.median(prefill),
        "decode_tok_s": n_new / statistics.median(decode),
        "prefill_tok_s_best": len(prompt_ids) / min(prefill),
        "decode_tok_s_best": n_new / min(decode),
        "peak_rss_mib": _peak_rss_mib(),
    }


def _peak_rss_mib() -> float:
    """This process's peak resident memory since its exec (VmHWM; not
    getrusage's ru_maxrss, which a child inherits from the parent it forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_llamacpp(path: str | os.PathLike[str], prompt_ids: list[int], n_new: int, threads: int = 2,
                  repeat: int = 5, isolate: bool = True) -> dict[str, Any]:
    """Prefill and decode speed of llama.cpp on a GGUF file.

    Prefill is one eval of the prompt (and the argmax of its last logits);
    decode is `n_new` single-token evals, each followed by the greedy argmax
    that picks the next token (F16 KV cache, llama.cpp's default). One
    warm-up run, then `repeat` runs from an empty cache.

    Returns prefill_tok_s and decode_tok_s (the median run), the same for
    the best run (`*_best`), the file's size and peak_rss_mib.
    With `isolate` (the default) it runs in a fresh Python process that
    imports neither torch nor transformers: peak_rss_mib is then llama.cpp's
    own (weights, which it maps from the file, cache and buffers), and no
    idle torch thread pool shares the cores. Without it, peak_rss_mib is
    the calling process's.
    """
    args = {"path": str(path), "prompt_ids": list(map(int, prompt_ids)), "n_new": n_new,
            "threads": threads, "repeat": repeat}
    if isolate:
        proc = subprocess.run([sys.executable, __file__, "--time-worker"], input=json.dumps(args),
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"timing llama.cpp on {path} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    else:
        result = _time_here(**args)
    return {**result, "statistic": "median", "repeat": repeat, "threads": threads,
            "file_mib": os.path.getsize(path) / 2**20}


# ----------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------


def llama_model(layers: int = 8, hidden: int = 512, inter: int = 1536, vocab: int = 32000, heads: int = 8,
                kv_heads: int = 4, seed: int = SEED) -> Any:
    """A Hugging Face LlamaForCausalLM with random weights (seeded), eval mode."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch
    from zoo_models import frameworks

    transformers = frameworks()[1]
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter,
                                      num_hidden_layers=layers, num_attention_heads=heads,
                                      num_key_value_heads=kv_heads)
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(config).eval()


def random_prompt(vocab: int, n: int, seed: int = SEED + 1) -> list[int]:
    """`n` token ids, none of them a special token of the synthetic vocabulary."""
    return np.random.default_rng(seed).integers(_EOS + 1, vocab, n).tolist()


def run(layers: int = 8, hidden: int = 512, inter: int = 1536, vocab: int = 32000, heads: int = 8, kv_heads: int = 4,
        prompt: int = 32, new: int = 64, threads: int = 2, qtypes: tuple[str, ...] = ("F32", "Q8_0", "Q4_0"),
        check_new: int = 16, repeat: int = 5, tol: float = 1e-3, workdir: str | None = None) -> dict[str, Any]:
    """Builds the model, checks F32 against eager (as `check_against_eager`),
    then compares each qtype with eager, and with eager on the weights
    rounded through it (`round_weights`; rounded_*), and times it."""
    model = llama_model(layers, hidden, inter, vocab, heads, kv_heads)
    prompt_ids = random_prompt(vocab, prompt)
    ref = eager_reference(model, prompt_ids, check_new)
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for qtype in dict.fromkeys(("F32", *qtypes)):  # F32 first: the check
            path = write_gguf(model, Path(tmp) / f"model-{qtype}.gguf", qtype)
            error = compare(path, ref, threads)
            if qtype == "F32":
                check = _checked(error, tol)
            if qtype in qtypes:
                rounded = compare(path, eager_reference(round_weights(model, qtype), prompt_ids, check_new), threads)
                rows.append({"qtype": qtype, **error, "rounded_rel_l2_error": rounded["rel_l2_error"],
                             "rounded_prefix_agree": rounded["prefix_agree"],
                             **time_llamacpp(path, prompt_ids, new, threads, repeat)})
    return {
        "model": {"layers": layers, "hidden": hidden, "inter": inter, "vocab": vocab, "heads": heads,
                  "kv_heads": kv_heads, "parameters": sum(p.numel() for p in model.parameters())},
        "prompt": prompt, "new": new, "threads": threads,
        "llama_cpp_python": llama_cpp.__version__,
        "check_f32": check,
        "results": rows,
    }


def _print_table(out: dict[str, Any]) -> None:
    m, check = out["model"], out["check_f32"]
    print(f"Llama {m['layers']} layers, hidden {m['hidden']}, ffn {m['inter']}, vocab {m['vocab']}, "
          f"{m['heads']}/{m['kv_heads']} heads: {m['parameters'] / 1e6:.1f} M parameters; "
          f"llama-cpp-python {out['llama_cpp_python']}, {out['threads']} threads")
    print(f"F32 against eager: max rel error {check['max_rel_error']:.1e}, greedy "
          f"{check['tokens_agree']}/{check['n_new']} tokens equal")
    print(f"prompt {out['prompt']} tokens, {out['new']} new; tokens/s are the median of the repeats")
    print("errors: of the prompt's logits against eager, and against eager on the weights rounded through "
          "the qtype; greedy = leading tokens equal")
    head = ("qtype", "MiB", "max rel err", "rel L2 err", "greedy =", "rounded: L2", "greedy =",
            "prefill tok/s", "decode tok/s", "peak RSS MiB")
    print("  ".join(f"{h:>12}" for h in head))
    for r in out["results"]:
        cells = (r["qtype"], f"{r['file_mib']:.0f}", f"{r['max_rel_error']:.1e}", f"{r['rel_l2_error']:.1e}",
                 f"{r['prefix_agree']}/{r['n_new']}", f"{r['rounded_rel_l2_error']:.1e}",
                 f"{r['rounded_prefix_agree']}/{r['n_new']}", f"{r['prefill_tok_s']:.0f}", f"{r['decode_tok_s']:.1f}",
                 f"{r['peak_rss_mib']:.0f}")
        print("  ".join(f"{c:>12}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="llama.cpp on a random-weight Hugging Face Llama: checked against "
                                "eager, then timed per weight type.")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--inter", type=int, default=1536)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--prompt", type=int, default=32, help="prompt tokens (random ids)")
    p.add_argument("--new", type=int, default=64, help="tokens to decode")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--qtypes", default="F32,Q8_0,Q4_0", help=f"comma-separated, of {', '.join(QTYPES)}")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--time-worker", action="store_true", help=argparse.SUPPRESS)  # time_llamacpp's child
    args = p.parse_args(argv)
    if args.time_worker:
        print(json.dumps(_time_here(**json.load(sys.stdin))))
        return 0
    qtypes = tuple(args.qtypes.split(","))
    bad = [q for q in qtypes if q not in QTYPES]
    if bad:
        p.error(f"--qtypes: expected names among {', '.join(QTYPES)}, got {', '.join(bad)}")
    try:
        out = run(args.layers, args.hidden, args.inter, args.vocab, args.heads, args.kv_heads, args.prompt,
                  args.new, args.threads, qtypes, repeat=args.repeat)
    except (ValueError, AssertionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    _print_table(out)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
