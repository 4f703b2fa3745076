"""
Complex tensors inside a model (compiler/frontend_complex.py: held as real
(re, im) pairs) against eager PyTorch: the FFTs (rfft/irfft/fft/ifft/fftn/
rfftn/irfftn/hfft/ihfft/stft/istft) at lengths that take one matmul, the four-step
split (n = n1 * n2 above 256) and a prime above 256; every norm; complex
arithmetic, matmuls, movement ops and reductions; a complex buffer (a rotary
embedding's freqs_cis, as Meta's Llama code writes it); float64 (complex128);
Hugging Face FNet, Autoformer, Llama 4 and DeepSeek-V2 (complex rotary
embeddings); complex inputs and results (JIT and a compiled artifact,
whose C ABI passes the real pairs); and the messages for complex32 and for
complex ops without a handler.

Tolerance: the transforms are matmuls with cos/sin tables, pocketfft's are
not, so the summation orders differ: float32 results agree to 2e-6 of the
output's largest magnitude times log2(n) + 1, float64 to 1e-13 of it; the
elementwise arithmetic to 1e-6 (float32).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import sparcc
import torch

from sparcc import SparccError


class Fn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _close(got: torch.Tensor, want: torch.Tensor, rel: float) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
    scale = want.abs().max().item() or 1.0
    err = (got - want).abs().max().item() / scale
    assert err <= rel, f"relative error {err:.3g} > {rel:.3g}"


def _check(fn, *args, rel: float | None = None, n: int = 16):
    with torch.no_grad():
        want = fn(*args)
        got = sparcc.jit(Fn(fn), cache=False)(*args)
    if rel is None:
        eps = 1e-13 if args[0].dtype == torch.float64 else 2e-6
        rel = eps * (math.log2(max(n, 2)) + 1)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        _close(g, w, rel)


# -- FFTs -------------------------------------------------------------------

LENGTHS = [1, 2, 3, 7, 16, 100, 256, 257, 300, 512, 1000]


@pytest.mark.parametrize("n", LENGTHS)
def test_rfft_and_irfft_round_trip_match_eager(n) -> None:
    x = torch.randn(3, n) if n % 2 else torch.randn(n)  # 1-d signals too
    _check(lambda x: torch.view_as_real(torch.fft.rfft(x)), x, n=n)
    _check(lambda x: torch.fft.irfft(torch.fft.rfft(x) * 1.5, n=n), x, n=n)


@pytest.mark.parametrize("n", [5, 64, 300, 512])
def test_fft_and_ifft_of_a_complex_signal_match_eager(n) -> None:
    x = torch.randn(2, n, 2)
    _check(lambda x: torch.view_as_real(torch.fft.fft(torch.view_as_complex(x))), x, n=n)
    _check(lambda x: torch.view_as_real(torch.fft.ifft(torch.view_as_complex(x))), x, n=n)


@pytest.mark.parametrize("norm", [None, "ortho", "forward", "backward"])
def test_every_norm_matches_eager(norm) -> None:
    x = torch.randn(4, 24)
    _check(lambda x: torch.view_as_real(torch.fft.rfft(x, norm=norm)), x, n=24)
    _check(lambda x: torch.fft.irfft(torch.fft.rfft(x, norm=norm), n=24, norm=norm), x, n=24)
    _check(lambda x: torch.view_as_real(torch.fft.fft(x, norm=norm)), x, n=24)
    _check(lambda x: torch.view_as_real(torch.fft.ifft(x, norm=norm).resolve_conj()), x, n=24)


def test_transforms_along_other_dims_with_a_length_given() -> None:
    x = torch.randn(2, 10, 6)
    _check(lambda x: torch.view_as_real(torch.fft.rfft(x, dim=1)), x)
    _check(lambda x: torch.view_as_real(torch.fft.rfft(x, n=16, dim=1)), x)  # zero-padded
    _check(lambda x: torch.view_as_real(torch.fft.fft(x, n=4, dim=0)), x)  # padded
    _check(lambda x: torch.view_as_real(torch.fft.rfft(x, n=7, dim=-1)), x)  # trimmed
    _check(lambda x: torch.fft.irfft(torch.fft.rfft(x, dim=1), n=9, dim=1), x)  # odd output length
    _check(lambda x: torch.fft.irfft(torch.fft.rfft(x, dim=1), n=30, dim=1), x)  # longer than the input's


def test_multi_dim_transforms_match_eager() -> None:
    x = torch.randn(2, 12, 20)
    _check(lambda x: torch.view_as_real(torch.fft.fft2(x)), x, n=240)
    _check(lambda x: torch.view_as_real(torch.fft.rfftn(x, dim=(0, 2))), x, n=40)
    _check(lambda x: torch.fft.irfftn(torch.fft.rfftn(x), s=x.shape), x, n=480)
    _check(lambda x: torch.view_as_real(torch.fft.ifftn(torch.fft.fftn(x, dim=(1, 2)), dim=(1, 2))), x, n=240)
    _check(lambda x: torch.fft.fftn(x, dim=(-2, -1)).real, x, n=240)


def test_hermitian_transforms_match_eager() -> None:
    x = torch.randn(3, 18)
    _check(lambda x: torch.fft.hfft(torch.fft.ihfft(x), n=18), x, n=18)
    _check(lambda x: torch.view_as_real(torch.fft.ihfft(x).resolve_conj()), x, n=18)


def test_stft_magnitude_and_phase_match_eager() -> None:
    x = torch.randn(2, 400)
    window = torch.hann_window(64)
    _check(lambda x: torch.stft(x, 64, hop_length=16, window=window, return_complex=True).abs(), x, n=64)
    _check(lambda x: torch.view_as_real(torch.stft(x, 64, hop_length=32, window=window, center=False,
                                                   return_complex=True)), x, n=64)
    _check(lambda x: torch.istft(torch.stft(x, 64, hop_length=16, window=window, return_complex=True) * 0.5, 64,
                                 hop_length=16, window=window, length=400), x, n=64)


def test_float64_transforms_keep_double_precision() -> None:
    x = torch.randn(3, 300, dtype=torch.float64)
    _check(lambda x: torch.view_as_real(torch.fft.rfft(x)), x, n=300)
    _check(lambda x: torch.fft.irfft(torch.fft.rfft(x), n=300), x, n=300)


# -- arithmetic, movement, reductions -----------------------------------------

def test_complex_arithmetic_matches_eager() -> None:
    a, b, r = torch.randn(3, 4, 2), torch.randn(4, 2) + 0.5, torch.randn(3, 4)

    def f(a, b, r):
        za, zb = torch.view_as_complex(a), torch.view_as_complex(b)
        out = [za * zb, za / zb, za + zb, za - 2 * zb, za * r, za / (r.abs() + 1), za + r, r - za, za * (2 - 3j),
               za + 1j, -za, za.conj() * zb, torch.exp(za * 0.3), za / (1 + 2j)]
        return torch.stack([torch.view_as_real(z) for z in out]), za.abs(), za.angle(), za.real * za.imag

    _check(f, a, b, r, rel=1e-6)


def test_complex_functions_where_norms_and_comparisons_match_eager() -> None:
    a, b = torch.randn(5, 6, 2), torch.randn(5, 6, 2)
    b[0] = a[0]
    a[1, 1] = 0.0  # log(0), sqrt(0), 0^p, sgn(0), reciprocal(0)

    def f(a, b):
        za, zb = torch.view_as_complex(a), torch.view_as_complex(b)
        out = [torch.log(za), torch.sqrt(za), za.reciprocal(), za ** 2, za ** 0.5, za ** -1, za ** 1.7,
               za ** (0.5 + 1j), torch.sgn(za), torch.where(a[..., 0] > 0, za, zb), torch.where(a[..., 0] > 0, za, 0.0),
               torch.full_like(za, 2 - 1j) * zb, torch.zeros_like(za) + zb, torch.sin(zb), torch.cos(zb),
               torch.sinh(zb), torch.cosh(zb), torch.tanh(zb), torch.tanh(zb * 60), torch.sigmoid(zb), torch.rsqrt(zb),
               torch.log2(zb), torch.log10(zb), zb.masked_fill(a[..., 1] > 0, 1 - 2j)]
        return (torch.stack([torch.view_as_real(z) for z in out]), torch.linalg.vector_norm(zb, dim=-1),
                torch.linalg.vector_norm(za, ord=1), za == zb, za != zb, torch.isnan(za / za))

    with torch.no_grad():
        want = f(a, b)
        got = sparcc.jit(Fn(f), cache=False)(a, b)
    for g, w in zip(got[:3], want[:3]):
        torch.testing.assert_close(g, w, rtol=2e-6, atol=2e-6, equal_nan=True)
    for g, w in zip(got[3:], want[3:]):
        assert torch.equal(g, w)


def test_complex_powers_copies_and_reductions_of_0d_tensors_match_eager() -> None:
    a, b, s = torch.randn(3, 4, 2), torch.randn(3, 4, 2), torch.randn(3, 4)
    a[0, 1] = 0.0

    def f(a, b, s):
        za, zb = torch.view_as_complex(a), torch.view_as_complex(b)
        y = torch.zeros(3, 4, dtype=torch.complex64)
        y.copy_(za)
        return (torch.view_as_real(za ** zb), torch.view_as_real(2 ** za), torch.view_as_real(torch.log1p(za)),
                torch.view_as_real(y), torch.view_as_real(za.sum()), torch.view_as_real(za[0, 0].sum()),
                torch.view_as_real(za[0, 0].mean()), torch.view_as_real(za[0, 0].sum(0, keepdim=True)),
                torch.view_as_real(za[1, 1].mean(-1)), torch.logical_not(za * (s > 0)))

    with torch.no_grad():
        want = f(a, b, s)
        got = sparcc.jit(Fn(f), cache=False)(a, b, s)
    for g, w in zip(got[:-1], want[:-1]):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert torch.equal(got[-1], want[-1])


def test_complex_variance_and_any_all_match_eager() -> None:
    a = torch.randn(3, 5, 2)
    a[1, 2] = 0.0

    def f(a):
        z = torch.view_as_complex(a)
        var, mean = torch.var_mean(z, dim=1)
        return (torch.var(z), torch.var(z, dim=1, keepdim=True), torch.std(z, dim=0, correction=0), var,
                torch.view_as_real(mean), torch.var(z[0, 0]), torch.any(z), torch.all(z, dim=1), torch.any(z * 0))

    with torch.no_grad():
        want = f(a)
        got = sparcc.jit(Fn(f), cache=False)(a)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_scatters_into_complex_tensors_match_eager() -> None:
    a, b, r = torch.randn(6, 4, 2), torch.randn(6, 4, 2), torch.randn(6, 4)
    idx = torch.tensor([4, 0, 2])

    def f(a, b, idx, r):
        z, w = torch.view_as_complex(a), torch.view_as_complex(b)
        out = [z.index_put((idx,), w[:3]), z.index_put((idx,), w[:3], accumulate=True), z.index_copy(0, idx, w[:3]),
               z.index_add(0, idx, w[:3]), torch.scatter(z, 1, torch.zeros(6, 4, dtype=torch.long), w),
               torch.slice_scatter(z, w[:2], 0, 1, 3), torch.select_scatter(z, w[0], 0, 2),
               z.index_put((idx,), r[:3].to(torch.complex64))]
        return torch.stack([torch.view_as_real(v) for v in out])

    with torch.no_grad():
        want = f(a, b, idx, r)
        got = sparcc.jit(Fn(f), cache=False)(a, b, idx, r)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_non_finite_values_promote_to_complex_as_eager() -> None:
    """PyTorch promotes a real operand to x + 0i and multiplies by alpha as a
    complex product: inf * (2 + 0i) = (inf, nan); the NaNs must match."""
    x = torch.tensor([1.0, math.inf, math.nan, -math.inf, -0.0])

    def f(x):
        z = torch.complex(x, x)
        return (torch.view_as_real(x.to(torch.complex64) * 2), torch.view_as_real(z + x),
                torch.view_as_real(z - 2 * z), torch.view_as_real(x * z))

    with torch.no_grad():
        want = f(x)
        got = sparcc.jit(Fn(f), cache=False)(x)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, equal_nan=True, rtol=0, atol=0)


def test_polar_complex_and_casts_match_eager() -> None:
    m, t = torch.rand(5, 3) + 0.1, torch.randn(5, 3)

    def f(m, t):
        z = torch.polar(m, t) * torch.complex(t, m)
        w = t.to(torch.complex64) + z
        return torch.view_as_real(w), w.abs(), torch.view_as_real(z).sum(-1)

    _check(f, m, t, rel=1e-6)


def test_movement_ops_and_reductions_on_complex_tensors() -> None:
    x = torch.randn(2, 3, 4, 2)

    def f(x):
        z = torch.view_as_complex(x)
        parts = [
            z.permute(2, 0, 1).reshape(4, 6), z.transpose(-1, 0).flip(1).reshape(4, 6),
            torch.cat([z[:, 1:], z[:, :2]], dim=-2)[:, :, 1].reshape(4, 2)[:2].repeat(2, 3),
            z.sum(dim=-1, keepdim=True).expand(2, 3, 4).reshape(4, 6), (z.mean(0) * z.sum()).reshape(4, 3).repeat(1, 2),
            torch.nn.functional.pad(z, (1, 1))[..., :4].reshape(4, 6), z.unsqueeze(0).squeeze(0).select(1, 2).repeat(2, 2)[:, 1:7],
            z.unfold(2, 2, 2).reshape(4, 6), torch.roll(z, 1, -1).reshape(4, 6), torch.tril(z).reshape(4, 6),
            torch.triu(z, 1).reshape(4, 6), torch.cumsum(z, 1).reshape(4, 6),
            torch.gather(z, 2, torch.tensor([3, 0, 1, 1]).expand(2, 3, 4)).reshape(4, 6),
        ]
        return torch.view_as_real(torch.stack(parts))

    _check(f, x, rel=1e-6)


def test_complex_matmuls_match_eager() -> None:
    x, w = torch.randn(2, 5, 8), torch.randn(8, 3)

    def f(x, w):
        z = torch.fft.fft(x)
        return torch.view_as_real(z @ z.mT), torch.view_as_real(torch.bmm(z, z.conj().mT)), torch.view_as_real(z @ w.to(torch.complex64))

    _check(f, x, w, rel=1e-6)


class RotaryAttentionScores(torch.nn.Module):
    """Meta's Llama rotary embedding: a complex64 buffer `freqs_cis`, the
    queries and keys rotated by complex multiplication."""

    def __init__(self, dim: int = 16, seq: int = 12):
        super().__init__()
        freqs = 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))
        angles = torch.outer(torch.arange(seq).float(), freqs)
        self.register_buffer("freqs_cis", torch.polar(torch.ones_like(angles), angles))
        self.q = torch.nn.Linear(dim, dim)
        self.k = torch.nn.Linear(dim, dim)

    def forward(self, x):
        def rotate(t):
            z = torch.view_as_complex(t.float().reshape(*t.shape[:-1], -1, 2))
            return torch.view_as_real(z * self.freqs_cis).flatten(-2)

        return rotate(self.q(x)) @ rotate(self.k(x)).transpose(-2, -1)


def test_a_complex_buffer_rotates_queries_and_keys_as_eager() -> None:
    torch.manual_seed(0)
    m, x = RotaryAttentionScores().eval(), torch.randn(2, 12, 16)
    with torch.no_grad():
        _close(sparcc.jit(m, cache=False)(x), m(x), 1e-6)


def _transformers():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import zoo_models

    return zoo_models.frameworks()[1]


def test_one_compile_of_deepseek_v2_serves_sequence_lengths_1_to_64() -> None:
    """DeepSeek-V2 applies its rotary embedding as view_as_complex(q) * freqs_cis:
    complex numbers with a dynamic sequence length."""
    from sparcc.driver import compile_program

    tr = _transformers()
    torch.manual_seed(0)
    cfg = tr.DeepseekV2Config(vocab_size=500, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                              num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=4,
                              num_experts_per_tok=2, n_shared_experts=1, first_k_dense_replace=1, kv_lora_rank=16,
                              q_lora_rank=None, qk_rope_head_dim=8, v_head_dim=16, qk_nope_head_dim=8,
                              max_position_embeddings=64, use_cache=False)
    model = tr.DeepseekV2ForCausalLM(cfg).eval()
    program = compile_program(model, (torch.randint(0, 500, (1, 8)),), threads=1, use_cache=False,
                              dynamic={0: {1: (1, 64)}})
    assert list(program.report["dynamic"]["symbols"]) == ["s0"]
    for n in (1, 2, 33, 64):
        ids = torch.randint(0, 500, (1, n))
        with torch.no_grad():
            _close(program(ids).logits, model(ids).logits, 1e-5)


def test_llama4_generates_eager_tokens_through_sparcc_with_a_static_cache() -> None:
    """Llama 4 rotates as DeepSeek-V2 does: prefill and decode steps, the
    complex rotary embedding at each position."""
    import copy

    tr = _transformers()
    torch.manual_seed(0)
    cfg = tr.Llama4TextConfig(vocab_size=500, hidden_size=64, intermediate_size=128, intermediate_size_mlp=128,
                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                              num_local_experts=2, max_position_embeddings=64)
    model, ids = tr.Llama4ForCausalLM(cfg).eval(), torch.randint(0, 500, (1, 8))
    fast = copy.deepcopy(model)
    fast.forward = sparcc.jit(fast.forward, cache=False)
    with torch.no_grad():
        want = model.generate(ids, max_new_tokens=8, do_sample=False, cache_implementation="static")
        got = fast.generate(ids, max_new_tokens=8, do_sample=False, cache_implementation="static")
    assert torch.equal(got, want)


def test_an_fft_of_dynamic_size_gets_a_message() -> None:
    fast = sparcc.jit(Fn(lambda x: torch.fft.rfft(x).abs()), cache=False, dynamic={0: {1: (2, 64)}})
    with pytest.raises(sparcc.UnsupportedOpError, match="FFTs of tensors with dynamic sizes are not supported"):
        fast(torch.randn(2, 16))


def test_hugging_face_autoformer_autocorrelation_matches_eager() -> None:
    """Autoformer's attention is an autocorrelation: irfft(rfft(q) * conj(rfft(k)))."""
    tr = _transformers()
    torch.manual_seed(0)
    cfg = tr.AutoformerConfig(prediction_length=8, context_length=16, lags_sequence=[1, 2, 3], num_time_features=1,
                              d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                              decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, use_cache=False)
    m = tr.AutoformerModel(cfg).eval()
    length = 16 + 3
    args = (torch.randn(1, length), torch.randn(1, length, 1), torch.ones(1, length), torch.randn(1, 8, 1))
    fn = Fn(lambda pv, ptf, pom, ftf: m(past_values=pv, past_time_features=ptf, past_observed_mask=pom,
                                        future_time_features=ftf, return_dict=False)[0])
    with torch.no_grad():
        _close(sparcc.jit(fn, cache=False)(*args), fn(*args), 1e-5)


def test_hugging_face_fnet_matches_eager() -> None:
    transformers = _transformers()
    FNetConfig, FNetModel = transformers.FNetConfig, transformers.FNetModel
    torch.manual_seed(0)
    cfg = FNetConfig(vocab_size=500, hidden_size=48, num_hidden_layers=2, intermediate_size=96,
                     max_position_embeddings=64)
    m, ids = FNetModel(cfg).eval(), torch.randint(0, 500, (2, 20))
    with torch.no_grad():
        _close(sparcc.jit(m, cache=False)(ids).last_hidden_state, m(ids).last_hidden_state, 1e-5)


# -- messages -------------------------------------------------------------------

class ComplexInOut(torch.nn.Module):
    def forward(self, z, x):
        return torch.fft.ifft(z * torch.fft.fft(x)), (z.conj() * 2).abs(), torch.fft.rfft(x)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128], ids=str)
def test_complex_inputs_and_results_pass_as_complex_tensors(dtype) -> None:
    real = torch.float32 if dtype == torch.complex64 else torch.float64
    z, x = torch.randn(3, 16, dtype=dtype), torch.randn(3, 16, dtype=real)
    fast = sparcc.jit(ComplexInOut(), cache=False)
    rel = 2e-6 * 5 if dtype == torch.complex64 else 1e-13 * 5
    for zz in (z, z.conj(), z[:, ::2].repeat(1, 2)):  # a conjugate view, a strided copy
        got, want = fast(zz, x), ComplexInOut()(zz, x)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            _close(torch.view_as_real(g) if g.is_complex() else g, torch.view_as_real(w.resolve_conj()) if w.is_complex() else w, rel)


class ComplexState(torch.nn.Module):
    def forward(self, state, x):
        state.mul_(torch.view_as_complex(x))
        return torch.fft.fft(state), state.abs()


def test_a_complex_input_updated_in_place_is_written_back() -> None:
    s0, x = torch.randn(4, 8, dtype=torch.complex64), torch.randn(4, 8, 2)
    want_state, got_state = s0.clone(), s0.clone()
    want = ComplexState()(want_state, x)
    got = sparcc.jit(ComplexState(), cache=False)(got_state, x)
    torch.testing.assert_close(got_state, want_state, rtol=1e-6, atol=1e-6)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


def test_a_complex_artifact_loads_and_runs_with_complex_tensors(tmp_path) -> None:
    z, x = torch.randn(2, 8, dtype=torch.complex64), torch.randn(2, 8)
    sparcc.compile(ComplexInOut(), (z, x), tmp_path / "out")
    loaded = sparcc.load(tmp_path / "out")
    for g, w in zip(loaded(z, x), ComplexInOut()(z, x)):
        assert g.dtype == w.dtype
        _close(torch.view_as_real(g) if g.is_complex() else g, torch.view_as_real(w) if w.is_complex() else w, 1e-5)
    header = (tmp_path / "out" / "model.h").read_text()
    assert "input  0: float32[2, 8, 2] (complex: real and imaginary parts interleaved)" in header


def test_complex32_gets_the_dtype_message() -> None:
    with pytest.raises(SparccError, match=r"complex32 is not supported; sparcc compiles float32"):
        sparcc.jit(Fn(lambda z: z.abs()), cache=False)(torch.randn(3, dtype=torch.complex32))


def test_a_complex_op_without_a_handler_is_named_with_its_line() -> None:
    def f(x):
        return torch.view_as_real(torch.asin(torch.fft.rfft(x)))

    with pytest.raises(sparcc.UnsupportedOpError, match=r"aten\.asin\.default on complex tensors \(1x\), first at .*test_ops_complex\.py"):
        sparcc.jit(Fn(f), cache=False)(torch.randn(8))
