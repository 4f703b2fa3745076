"""
The model zoo: real models from torchvision, Hugging Face transformers and
timm, built from their configs with random weights (nothing is downloaded),
each with example inputs and a tolerance. `benchmarks/zoo.py` runs and times
them; `test/python/test_model_zoo.py` checks that they compile.

    from zoo_models import MODELS, select
    entry = MODELS["torchvision/resnet18"]
    model, inputs = entry.build(), entry.inputs()

Names are `<family>/<model>`. Every entry builds under a fixed seed, so its
weights and inputs are the same in every process.

Tolerance: `error(got, want)` is the largest absolute difference over all
outputs divided by the largest absolute value of the eager outputs (float32
throughout); an entry matches when it is at most `entry.tol`. The default,
1e-4, is ~100 float32 ulps of the output's scale: room for a different
summation order and sparcc's approximated exp/erf/tanh, not for a wrong op.
Deep models (more than ~50 layers of reductions, or transformers with
LayerNorms over large models) get 1e-3.

torchvision, transformers and timm are the `zoo` extra
(`pip install torch==2.13.0 && pip install -e '.[test]'` installs them).
Import them through `frameworks()`, never directly: see
`define_torchvision_ops`.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

SEED = 0
DEFAULT_TOL = 1e-4
DEEP_TOL = 1e-3

# ----------------------------------------------------------------------------
# the torchvision trap
# ----------------------------------------------------------------------------

_TORCHVISION_LIB: torch.library.Library | None = None  # kept alive: the ops live as long as it does


def define_torchvision_ops() -> None:
    """Makes `import torchvision` work against a CPU-only torch.

    PyPI's torchvision wheel is a CUDA build: its `_C` extension needs
    libtorch_cuda.so, does not load against the CPU torch, and
    `import torchvision` then fails with "operator torchvision::nms does not
    exist" (its Python module registers fake kernels for ops that `_C` would
    have defined). transformers and timm import torchvision when it is
    installed, so they fail the same way. The model definitions are pure
    Python: declaring the two ops' schemas first is enough (calling them
    still fails, and no classification model calls them).

    Call this before anything imports torchvision, transformers or timm; a
    failed `import torchvision` cannot be retried in the same process. It
    does nothing where torchvision's own extension defines the ops (a CUDA
    torch, or a CPU build of torchvision, version `+cpu`).
    """
    global _TORCHVISION_LIB
    if _TORCHVISION_LIB is not None or "torchvision" in sys.modules:
        return
    try:
        version = importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        return
    if torch.version.cuda is not None or version.endswith("+cpu"):
        return
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _TORCHVISION_LIB = lib


def frameworks() -> tuple[Any, Any, Any]:
    """(torchvision, transformers, timm), imported safely. An ImportError
    names the missing one; install the `zoo` extra."""
    define_torchvision_ops()
    import timm
    import torchvision
    import transformers

    transformers.logging.set_verbosity_error()
    return torchvision, transformers, timm


# ----------------------------------------------------------------------------
# entries
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ZooModel:
    """One model of the zoo."""

    name: str  # "<family>/<model>", e.g. "torchvision/resnet18"
    family: str  # torchvision | hf | timm
    kind: str  # cnn | vit | hybrid | decoder | encoder | seq2seq
    factory: Callable[[], torch.nn.Module]  # the model, random weights, eval mode
    example: Callable[[], tuple[torch.Tensor, ...]]  # its example inputs
    tol: float = DEFAULT_TOL
    fast: bool = False  # in the test tier's fast subset (not marked slow)
    notes: str = ""

    def build(self) -> torch.nn.Module:
        frameworks()
        torch.manual_seed(SEED)
        with torch.no_grad():
            return self.factory().eval()

    def inputs(self, image_size: int | None = None) -> tuple[torch.Tensor, ...]:
        """The example inputs; with `image_size`, a model that takes one
        image gets a 1x3xSxS one instead of the zoo's size (the benchmarks'
        --image-size)."""
        torch.manual_seed(SEED + 1)
        example = self.example()
        if image_size and len(example) == 1 and example[0].dim() == 4 and example[0].shape[1] == 3:
            return (torch.randn(1, 3, image_size, image_size),)
        return example


def error(got: Any, want: Any) -> float:
    """max |got - want| over all outputs / max |want| (see the module docstring)."""
    from torch.utils import _pytree as pytree

    g, w = pytree.tree_leaves(got), pytree.tree_leaves(want)
    if len(g) != len(w) or any(a.shape != b.shape for a, b in zip(g, w)):
        return float("inf")
    diff = max(float((a.double() - b.double()).abs().max()) for a, b in zip(g, w))
    scale = max(float(b.double().abs().max()) for b in w)
    return diff / scale if scale > 0 else diff


class Logits(torch.nn.Module):
    """A transformers model called with positional inputs, returning one
    tensor: `.logits` of a causal LM (use_cache=False), else the field
    named. A module (not a lambda) so that the weights stay parameters with
    their own names (`m.model.layers.0.mlp...`)."""

    def __init__(self, model: torch.nn.Module, field: str = "logits", **kwargs: Any):
        super().__init__()
        self.m = model
        self.field = field
        self.kwargs = kwargs

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return getattr(self.m(*args, **self.kwargs), self.field)


class Seq2SeqLogits(torch.nn.Module):
    """An encoder-decoder transformers model called as users call it for one
    teacher-forced step: `m(input_ids=x, decoder_input_ids=d,
    use_cache=False).logits` (`key` names the encoder's input: input_features
    for speech models)."""

    def __init__(self, model: torch.nn.Module, key: str = "input_ids"):
        super().__init__()
        self.m = model
        self.key = key

    def forward(self, x: torch.Tensor, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        return self.m(**{self.key: x}, decoder_input_ids=decoder_input_ids, use_cache=False).logits


def _image(size: int | tuple[int, int], batch: int = 1) -> Callable[[], tuple[torch.Tensor, ...]]:
    h, w = (size, size) if isinstance(size, int) else size
    return lambda: (torch.randn(batch, 3, h, w),)


def _tokens(length: int = 16, vocab: int = 1000) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randint(0, vocab, (1, length)),)


MODELS: dict[str, ZooModel] = {}


def _add(entry: ZooModel) -> None:
    assert entry.name not in MODELS, entry.name
    MODELS[entry.name] = entry


# ----------------------------------------------------------------------------
# torchvision: every classification model, at the smallest usual size it takes
# ----------------------------------------------------------------------------

# every classification model in torchvision.models 0.28 (list_models(module=torchvision.models));
# test_model_zoo checks that this list is still complete
TORCHVISION = [
    "alexnet", "convnext_base", "convnext_large", "convnext_small", "convnext_tiny",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
    "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_l", "efficientnet_v2_m", "efficientnet_v2_s", "googlenet", "inception_v3", "maxvit_t",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "regnet_x_16gf", "regnet_x_1_6gf", "regnet_x_32gf", "regnet_x_3_2gf", "regnet_x_400mf", "regnet_x_800mf",
    "regnet_x_8gf", "regnet_y_128gf", "regnet_y_16gf", "regnet_y_1_6gf", "regnet_y_32gf", "regnet_y_3_2gf",
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_8gf",
    "resnet101", "resnet152", "resnet18", "resnet34", "resnet50",
    "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "squeezenet1_0", "squeezenet1_1",
    "swin_b", "swin_s", "swin_t", "swin_v2_b", "swin_v2_s", "swin_v2_t",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32",
    "wide_resnet101_2", "wide_resnet50_2",
]

# (input size, constructor options) where 64x64 and the defaults do not fit
_TV_SPECIAL: dict[str, tuple[int, dict[str, Any]]] = {
    "googlenet": (64, {"aux_logits": False, "init_weights": False}),
    "inception_v3": (75, {"aux_logits": False, "init_weights": False}),  # 75: its smallest input
    "maxvit_t": (224, {}),  # every stage's size must divide by its 7x7 partition
    "vit_b_16": (64, {"image_size": 64}),  # ViTs: the position table sized for 64x64
    "vit_b_32": (64, {"image_size": 64}),
    "vit_l_16": (64, {"image_size": 64}),
    "vit_l_32": (64, {"image_size": 64}),
    "vit_h_14": (56, {"image_size": 56}),  # patch 14
}
_TV_FAST = {"resnet18", "mobilenet_v3_small"}


def _tv_kind(name: str) -> str:
    if name.startswith(("vit_", "swin")):
        return "vit"
    return "hybrid" if name.startswith("maxvit") else "cnn"


def _tv_deep(name: str) -> bool:
    deep = ("resnet101", "resnet152", "resnext101", "wide_resnet101", "densenet", "efficientnet_b",
            "efficientnet_v2", "regnet_y_128gf", "regnet_x_32gf", "regnet_y_32gf", "convnext", "swin",
            "vit_l", "vit_h", "maxvit", "inception_v3")
    return name.startswith(deep)


def _no_zero_weights(model: torch.nn.Module) -> torch.nn.Module:
    """The model with each weight matrix that its init leaves all zero
    (torchvision's ViT heads) drawn at random instead: a zero head makes
    every logit 0, and the comparison with eager would check nothing."""
    for p in model.parameters():
        if p.dim() >= 2 and not p.any():
            torch.nn.init.normal_(p, std=p.shape[-1] ** -0.5)
    return model


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """The model with noise on every weight and random BatchNorm statistics:
    where the init leaves biases and attention biases at zero and BatchNorm
    at identity (HF's LeViT: outputs of ~1e-8), the comparison with eager
    would check little."""
    for p in model.parameters():
        p.add_(torch.randn_like(p) * 0.1)
    for name, b in model.named_buffers():
        if name.endswith("running_var"):
            b.uniform_(0.5, 1.5)
        elif name.endswith("running_mean"):
            b.normal_(0, 0.1)
    return model


def _torchvision(name: str) -> None:
    size, options = _TV_SPECIAL.get(name, (64, {}))

    def factory() -> torch.nn.Module:
        return _no_zero_weights(frameworks()[0].models.get_model(name, weights=None, **options))

    _add(ZooModel(
        f"torchvision/{name}", "torchvision", _tv_kind(name), factory, _image(size),
        tol=DEEP_TOL if _tv_deep(name) else DEFAULT_TOL, fast=name in _TV_FAST,
        notes=f"{size}x{size}" + "".join(f", {k}={v}" for k, v in options.items()),
    ))


for _name in TORCHVISION:
    _torchvision(_name)


# ----------------------------------------------------------------------------
# Hugging Face transformers: tiny configs (2 layers, width 64, vocabulary 1000)
# ----------------------------------------------------------------------------

# the Llama-style names that most decoder configs take
_TINY = {
    "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
}
_TINY_MHA = {k: v for k, v in _TINY.items() if k != "num_key_value_heads"}

# name -> (config class, config options); all AutoModelForCausalLM, called as
# m(ids, use_cache=False).logits on 16 tokens
_HF_DECODERS: dict[str, tuple[str, dict[str, Any]]] = {
    "gpt2": ("GPT2Config", {"vocab_size": 1000, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128}),
    "llama": ("LlamaConfig", _TINY),
    "mistral": ("MistralConfig", _TINY),
    "qwen2": ("Qwen2Config", _TINY),
    "qwen3": ("Qwen3Config", {**_TINY, "head_dim": 16}),
    "phi": ("PhiConfig", _TINY),
    "phi3": ("Phi3Config", {**_TINY, "pad_token_id": 0}),
    "gemma": ("GemmaConfig", {**_TINY, "head_dim": 16}),
    "gemma2": ("Gemma2Config", {**_TINY, "head_dim": 16}),
    "gemma3_text": ("Gemma3TextConfig", {**_TINY, "head_dim": 16}),
    "olmo": ("OlmoConfig", _TINY),
    "olmo2": ("Olmo2Config", _TINY),
    "granite": ("GraniteConfig", _TINY),
    "stablelm": ("StableLmConfig", _TINY),
    "starcoder2": ("Starcoder2Config", _TINY),
    "smollm3": ("SmolLM3Config", {**_TINY, "pad_token_id": 0}),
    "helium": ("HeliumConfig", {**_TINY, "head_dim": 16}),
    "glm4": ("Glm4Config", {**_TINY, "head_dim": 16, "pad_token_id": 0}),
    "cohere": ("CohereConfig", _TINY),
    "gpt_neox": ("GPTNeoXConfig", _TINY_MHA),
    "opt": ("OPTConfig", {"vocab_size": 1000, "hidden_size": 64, "ffn_dim": 128, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "max_position_embeddings": 128, "word_embed_proj_dim": 64}),
    "gpt_neo": ("GPTNeoConfig", {"vocab_size": 1000, "hidden_size": 64, "num_layers": 2, "num_heads": 4,
                                 "attention_types": [[["global", "local"], 1]], "max_position_embeddings": 128,
                                 "window_size": 8}),
    "gptj": ("GPTJConfig", {"vocab_size": 1000, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128,
                            "rotary_dim": 8}),
    "codegen": ("CodeGenConfig", {"vocab_size": 1000, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128,
                                  "n_ctx": 128, "rotary_dim": 8}),
    "gpt_bigcode": ("GPTBigCodeConfig", {"vocab_size": 1000, "n_embd": 64, "n_layer": 2, "n_head": 4,
                                         "n_positions": 128}),
    "bloom": ("BloomConfig", {"vocab_size": 1000, "hidden_size": 64, "n_layer": 2, "n_head": 4}),
    "falcon": ("FalconConfig", {"vocab_size": 1000, "hidden_size": 64, "num_hidden_layers": 2,
                                "num_attention_heads": 4, "max_position_embeddings": 128}),
    "mixtral": ("MixtralConfig", {**_TINY, "num_local_experts": 4, "num_experts_per_tok": 2}),
    "qwen2_moe": ("Qwen2MoeConfig", {**_TINY, "moe_intermediate_size": 64, "shared_expert_intermediate_size": 64,
                                     "num_experts": 4, "num_experts_per_tok": 2}),
    "mamba": ("MambaConfig", {"vocab_size": 1000, "hidden_size": 64, "num_hidden_layers": 2, "state_size": 8}),
}
_HF_FAST = {"gpt2", "llama", "bert", "vit"}


def _hf_decoder(name: str, config: str, options: dict[str, Any]) -> None:
    def factory() -> torch.nn.Module:
        transformers = frameworks()[1]
        cfg = getattr(transformers, config)(**options)
        return Logits(transformers.AutoModelForCausalLM.from_config(cfg), use_cache=False)

    _add(ZooModel(f"hf/{name}", "hf", "decoder", factory, _tokens(), fast=name in _HF_FAST,
                  notes="2 layers, width 64, 16 tokens; m(ids, use_cache=False).logits"))


for _name, (_config, _options) in _HF_DECODERS.items():
    _hf_decoder(_name, _config, _options)

_ENCODER = {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": 128}
_VISION = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
           "image_size": 32, "patch_size": 8}


def _hf_model(name: str, kind: str, example: Callable[[], tuple[torch.Tensor, ...]], field: str,
              build: Callable[[Any], torch.nn.Module], notes: str) -> None:
    def factory() -> torch.nn.Module:
        return Logits(build(frameworks()[1]), field)

    _add(ZooModel(f"hf/{name}", "hf", kind, factory, example, fast=name in _HF_FAST, notes=notes))


_hf_model("bert", "encoder", _tokens(), "last_hidden_state",
          lambda t: t.BertModel(t.BertConfig(**_ENCODER), add_pooling_layer=False),
          "BertModel, 2 layers, width 64, 16 tokens; last_hidden_state")
_hf_model("roberta", "encoder", _tokens(), "last_hidden_state",
          lambda t: t.RobertaModel(t.RobertaConfig(**{**_ENCODER, "max_position_embeddings": 130}),
                                   add_pooling_layer=False),
          "RobertaModel, 2 layers, width 64; last_hidden_state")
_hf_model("distilbert", "encoder", _tokens(), "last_hidden_state",
          lambda t: t.DistilBertModel(t.DistilBertConfig(vocab_size=1000, dim=64, hidden_dim=128, n_layers=2,
                                                         n_heads=4, max_position_embeddings=128)),
          "DistilBertModel, 2 layers, width 64; last_hidden_state")
_hf_model("modernbert", "encoder", _tokens(), "last_hidden_state",
          lambda t: t.ModernBertModel(t.ModernBertConfig(**{**_ENCODER, "pad_token_id": 0})),
          "ModernBertModel, 2 layers, width 64; last_hidden_state")
_hf_model("t5_encoder", "encoder", _tokens(), "last_hidden_state",
          lambda t: t.T5EncoderModel(t.T5Config(vocab_size=1000, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                                                num_heads=4)),
          "T5EncoderModel, 2 layers, width 64; last_hidden_state")
_hf_model("whisper_encoder", "encoder", lambda: (torch.randn(1, 80, 128),), "last_hidden_state",
          lambda t: t.WhisperModel(t.WhisperConfig(vocab_size=1000, d_model=64, encoder_layers=2,
                                                   encoder_attention_heads=4, encoder_ffn_dim=128,
                                                   decoder_layers=1, decoder_attention_heads=4,
                                                   decoder_ffn_dim=128, num_mel_bins=80,
                                                   max_source_positions=64, pad_token_id=0)).get_encoder(),
          "WhisperEncoder, 2 layers, width 64, 80 mel bins x 128 frames; last_hidden_state")
_hf_model("vit", "vit", _image(32), "last_hidden_state",
          lambda t: t.ViTModel(t.ViTConfig(**_VISION), add_pooling_layer=False),
          "ViTModel, 2 layers, width 64, 32x32, patch 8; last_hidden_state")
_hf_model("deit", "vit", _image(32), "last_hidden_state",
          lambda t: t.DeiTModel(t.DeiTConfig(**_VISION), add_pooling_layer=False),
          "DeiTModel, 2 layers, width 64, 32x32, patch 8; last_hidden_state")
_hf_model("dinov2", "vit", _image(32), "last_hidden_state",
          lambda t: t.Dinov2Model(t.Dinov2Config(**{**_VISION, "mlp_ratio": 2})),
          "Dinov2Model, 2 layers, width 64, 32x32, patch 8; last_hidden_state")
_hf_model("clip_vision", "vit", _image(32), "last_hidden_state",
          lambda t: t.CLIPVisionModel(t.CLIPVisionConfig(**_VISION)),
          "CLIPVisionModel, 2 layers, width 64, 32x32, patch 8; last_hidden_state")
_hf_model("siglip_vision", "vit", _image(32), "last_hidden_state",
          lambda t: t.SiglipVisionModel(t.SiglipVisionConfig(**_VISION)),
          "SiglipVisionModel, 2 layers, width 64, 32x32, patch 8; last_hidden_state")

# complex numbers and FFTs inside the model (frontend_complex.py)
_hf_model("fnet", "encoder", _tokens(), "last_hidden_state",
          lambda t: t.FNetModel(t.FNetConfig(vocab_size=1000, hidden_size=64, intermediate_size=128,
                                             num_hidden_layers=2, max_position_embeddings=128)),
          "FNetModel (token mixing by fftn(...).real), 2 layers, width 64; last_hidden_state")
_hf_model("fnet_768", "encoder", _tokens(128), "last_hidden_state",
          lambda t: t.FNetModel(t.FNetConfig(vocab_size=1000, hidden_size=768, intermediate_size=3072,
                                             num_hidden_layers=2, max_position_embeddings=512)),
          "FNetModel at FNet-base's width: 2 layers, 768 wide, 128 tokens (an FFT of 128 and of 768 a layer)")
_hf_model("llama4", "decoder", _tokens(), "logits",
          lambda t: t.Llama4ForCausalLM(t.Llama4TextConfig(
              vocab_size=1000, hidden_size=64, intermediate_size=128, intermediate_size_mlp=128, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_local_experts=2,
              max_position_embeddings=128, use_cache=False)),
          "Llama4ForCausalLM (text; rotary embedding as view_as_complex(q) * freqs_cis, MoE), 2 layers, width 64")
_hf_model("deepseek_v2", "decoder", _tokens(), "logits",
          lambda t: t.DeepseekV2ForCausalLM(t.DeepseekV2Config(
              vocab_size=1000, hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2,
              n_shared_experts=1, first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=None, qk_rope_head_dim=8,
              v_head_dim=16, qk_nope_head_dim=8, max_position_embeddings=128, use_cache=False)),
          "DeepseekV2ForCausalLM (MLA attention, complex rotary embedding, MoE), 2 layers, width 64")


# more architectures users bring (the survey of 2026-12-06: each compiled and matched at 1e-7 to 1e-6)
_SEQ2SEQ = {"vocab_size": 1000, "d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
            "decoder_attention_heads": 4, "encoder_ffn_dim": 128, "decoder_ffn_dim": 128,
            "max_position_embeddings": 128, "pad_token_id": 1, "decoder_start_token_id": 2}


def _hf_seq2seq(name: str, example: Callable[[], tuple[torch.Tensor, ...]], build: Callable[[Any], torch.nn.Module],
                key: str, notes: str) -> None:
    def factory() -> torch.nn.Module:
        return Seq2SeqLogits(build(frameworks()[1]), key)

    _add(ZooModel(f"hf/{name}", "hf", "seq2seq", factory, example, notes=notes))


def _text_and_target() -> tuple[torch.Tensor, ...]:
    return torch.randint(0, 1000, (1, 16)), torch.randint(0, 1000, (1, 8))


_hf_seq2seq("bart", _text_and_target, lambda t: t.BartForConditionalGeneration(t.BartConfig(**_SEQ2SEQ)),
            "input_ids", "BartForConditionalGeneration, 2+2 layers, width 64, 16 tokens in, 8 decoder tokens; logits")
_hf_seq2seq("t5", _text_and_target,
            lambda t: t.T5ForConditionalGeneration(t.T5Config(vocab_size=1000, d_model=64, d_kv=16, d_ff=128,
                                                               num_layers=2, num_heads=4, decoder_start_token_id=0)),
            "input_ids", "T5ForConditionalGeneration, 2+2 layers, width 64, 16 tokens in, 8 decoder tokens; logits")
_hf_seq2seq("whisper", lambda: (torch.randn(1, 80, 128), torch.randint(0, 1000, (1, 8))),
            lambda t: t.WhisperForConditionalGeneration(t.WhisperConfig(
                vocab_size=1000, d_model=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128,
                decoder_layers=2, decoder_attention_heads=4, decoder_ffn_dim=128, num_mel_bins=80,
                max_source_positions=64, max_target_positions=64, pad_token_id=0)),
            "input_features", "WhisperForConditionalGeneration, 2+2 layers, width 64, 80 mel bins x 128 frames, "
            "8 decoder tokens; logits")
_AUDIO = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
          "conv_dim": (32, 32, 32), "conv_stride": (5, 2, 2), "conv_kernel": (10, 3, 3),
          "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}
_hf_model("wav2vec2", "encoder", lambda: (torch.randn(1, 1600),), "last_hidden_state",
          lambda t: t.Wav2Vec2Model(t.Wav2Vec2Config(**_AUDIO)),
          "Wav2Vec2Model, 3 conv + 2 layers, width 64, 1600 samples of raw audio; last_hidden_state")
_hf_model("swin", "vit", _image(32), "last_hidden_state",
          lambda t: t.SwinModel(t.SwinConfig(image_size=32, patch_size=2, embed_dim=16, depths=[1, 1],
                                             num_heads=[2, 2], window_size=4)),
          "SwinModel, 2 stages, 32x32, patch 2, window 4; last_hidden_state")
_hf_model("videomae", "vit", lambda: (torch.randn(1, 4, 3, 32, 32),), "last_hidden_state",
          lambda t: t.VideoMAEModel(t.VideoMAEConfig(**_VISION, num_frames=4, tubelet_size=2)),
          "VideoMAEModel, 2 layers, width 64, 4 frames of 32x32, tubelet 2x8x8 (a conv3d); last_hidden_state")
_hf_model("levit", "hybrid", _image(64), "last_hidden_state",
          lambda t: _perturbed(t.LevitModel(t.LevitConfig(
              image_size=64, hidden_sizes=[32, 48, 64], num_attention_heads=[2, 2, 2], depths=[1, 1, 1],
              key_dim=[8, 8, 8]))),
          "LevitModel, 3 stages, 64x64 (an int64 0-dim buffer); weights and BatchNorm statistics perturbed; "
          "last_hidden_state")


# ----------------------------------------------------------------------------
# timm: a spread of CNNs, ViTs and hybrids
# ----------------------------------------------------------------------------

# name -> (kind, input size, passes img_size to create_model)
_TIMM: dict[str, tuple[str, int, bool]] = {
    "resnet18": ("cnn", 64, False),
    "resnet50d": ("cnn", 64, False),
    "resnet10t": ("cnn", 64, False),
    "efficientnet_b0": ("cnn", 64, False),
    "mobilenetv3_small_100": ("cnn", 64, False),
    "mobilenetv3_large_100": ("cnn", 64, False),
    "mobilenetv4_conv_small": ("cnn", 64, False),
    "convnext_atto": ("cnn", 64, False),
    "ghostnet_100": ("cnn", 64, False),
    "regnetx_002": ("cnn", 64, False),
    "regnety_002": ("cnn", 64, False),
    "repvgg_a0": ("cnn", 64, True),
    "rexnet_100": ("cnn", 64, False),
    "mixnet_s": ("cnn", 64, False),
    "densenet121": ("cnn", 64, False),
    "hrnet_w18_small": ("cnn", 64, False),
    "lcnet_050": ("cnn", 64, False),
    "hgnetv2_b0": ("cnn", 64, False),
    "mobileone_s0": ("cnn", 64, True),
    "inception_next_tiny": ("cnn", 64, False),
    "mambaout_femto": ("cnn", 64, False),
    "starnet_s1": ("cnn", 64, False),
    "vit_tiny_patch16_224": ("vit", 64, True),
    "deit_tiny_patch16_224": ("vit", 64, True),
    "eva02_tiny_patch14_224": ("vit", 64, True),
    "cait_xxs24_224": ("vit", 64, True),
    "xcit_nano_12_p16_224": ("vit", 64, True),
    "pit_ti_224": ("vit", 64, True),
    "swin_tiny_patch4_window7_224": ("vit", 64, True),
    "beit_base_patch16_224": ("vit", 64, True),
    "levit_128s": ("hybrid", 64, True),
    "mobilevit_xxs": ("hybrid", 64, True),
    "coatnet_nano_rw_224": ("hybrid", 64, True),
    "maxvit_nano_rw_256": ("hybrid", 64, True),
    "efficientformer_l1": ("hybrid", 224, True),  # its attention stage wants the 224x224 token count
    "poolformer_s12": ("hybrid", 64, False),
    "caformer_s18": ("hybrid", 64, False),
    "edgenext_xx_small": ("hybrid", 64, False),
    "fastvit_t8": ("hybrid", 64, False),
    "tiny_vit_5m_224": ("hybrid", 64, False),
    "efficientvit_b0": ("hybrid", 64, False),
    "efficientvit_m0": ("hybrid", 64, True),
    "coat_lite_tiny": ("hybrid", 64, True),
    "twins_pcpvt_small": ("hybrid", 64, True),
    "visformer_tiny": ("hybrid", 64, True),
    "nextvit_small": ("hybrid", 64, False),
}
_TIMM_FAST = {"vit_tiny_patch16_224"}
_TIMM_DEEP = {"resnet50d", "densenet121", "hrnet_w18_small", "cait_xxs24_224", "beit_base_patch16_224",
              "nextvit_small", "caformer_s18", "twins_pcpvt_small", "swin_tiny_patch4_window7_224"}


def _timm(name: str, kind: str, size: int, img_size: bool) -> None:
    options = {"img_size": size} if img_size else {}

    def factory() -> torch.nn.Module:
        return frameworks()[2].create_model(name, pretrained=False, **options)

    _add(ZooModel(f"timm/{name}", "timm", kind, factory, _image(size),
                  tol=DEEP_TOL if name in _TIMM_DEEP else DEFAULT_TOL, fast=name in _TIMM_FAST,
                  notes=f"{size}x{size}" + (f", img_size={size}" if img_size else "")))


for _name, (_kind, _size, _img_size) in _TIMM.items():
    _timm(_name, _kind, _size, _img_size)


# ----------------------------------------------------------------------------
# selection
# ----------------------------------------------------------------------------


def select(only: Iterable[str] | None = None, family: str | None = None) -> list[ZooModel]:
    """Entries whose name matches one of `only` (globs over the full name,
    or a bare model name: "resnet18" matches every family's) and `family`."""
    patterns = list(only or [])
    chosen = []
    for entry in MODELS.values():
        if family is not None and entry.family != family:
            continue
        if patterns and not any(
            fnmatch.fnmatchcase(entry.name, p) or fnmatch.fnmatchcase(entry.name.split("/", 1)[1], p)
            for p in patterns
        ):
            continue
        chosen.append(entry)
    return chosen


FAMILIES = ("torchvision", "hf", "timm")
__all__ = ["FAMILIES", "MODELS", "ZooModel", "define_torchvision_ops", "error", "frameworks", "select"]
