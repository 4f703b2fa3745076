"""Fused attention (passes/fuse_attention.py, the online softmax that
convert-nn-to-linalg emits): differential against PyTorch's SDPA, on shapes
whose score matrix passes the pass's threshold, so that the fused form is
what runs (each test checks the report says so). Also the unfused form's
rows that may attend to no key (PyTorch gives 0, not NaN)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import sparcc


class Sdpa(torch.nn.Module):
    def __init__(self, causal: bool = False, scale: float | None = None):
        super().__init__()
        self.causal, self.scale = causal, scale

    def forward(self, q, k, v, mask=None):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal, scale=self.scale)


@pytest.fixture
def forced(monkeypatch):
    """Fusion wherever the lowering can (the heuristic's thresholds at 0):
    these tests check the fused code, not the decision. Compiled with the
    cache off (its key does not see the thresholds)."""
    from sparcc.passes import fuse_attention

    monkeypatch.setattr(fuse_attention, "MIN_SCORE_BYTES", 0)
    monkeypatch.setattr(fuse_attention, "MIN_GAIN", 0.0)


def _check(model, args, threads, fused=True):
    program = sparcc.jit(model, threads=threads, cache=False).compile(*args)
    fusions = [line for line in program.report["fusions"] if not line.startswith("epilogue:")]
    assert len(fusions) == 1
    assert ("online softmax" in fusions[0]) == fused, fusions
    with torch.no_grad():
        got, want = program(*args), model(*args)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    return program


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "q_shape, lk, ev, causal",
    [
        ((1, 4, 256, 32), 256, 32, True),  # square, causal: blocks right of the diagonal skipped
        ((2, 3, 192, 16), 320, 24, True),  # L != S, key blocks of 80, Ev != E, batch and heads
        ((3, 96, 16), 1024, 16, False),  # rank 3, few queries and many keys
        ((1, 4, 768, 32), 128, 32, True),  # L > S, causal: later query blocks see every key
        ((1, 12, 197, 64), 197, 64, False),  # ViT's 197 tokens: both lengths padded to whole blocks
        ((1, 4, 300, 32), 509, 16, True),  # a prime key length, causal
    ],
)
def test_fused_matches_pytorch(q_shape, lk, ev, causal, threads, forced):
    torch.manual_seed(0)
    q = torch.randn(*q_shape)
    k = torch.randn(*q_shape[:-2], lk, q_shape[-1])
    v = torch.randn(*q_shape[:-2], lk, ev)
    _check(Sdpa(causal), (q, k, v), threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_float_mask_and_scale(threads, forced):
    """A [L, S] additive mask broadcast over batch and heads, an explicit scale."""
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 4, 256, 32) for _ in range(3))
    mask = torch.randn(256, 256)
    _check(Sdpa(scale=0.3), (q, k, v, mask), threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_padded_lengths_with_masks(threads, forced):
    """Lengths no block divides (333 queries, 250 keys; 100 and 1000) with a
    float [L, S] mask and a boolean per-head [B, H, L, S] mask: the masks
    are padded with the keys and queries."""
    torch.manual_seed(7)
    q, k, v = torch.randn(2, 3, 333, 16), torch.randn(2, 3, 250, 16), torch.randn(2, 3, 250, 24)
    _check(Sdpa(), (q, k, v, torch.randn(333, 250)), threads)
    q, k, v = torch.randn(1, 4, 100, 16), torch.randn(1, 4, 1000, 16), torch.randn(1, 4, 1000, 16)
    _check(Sdpa(), (q, k, v, torch.rand(1, 4, 100, 1000) > 0.2), threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_padding_mask_with_rows_that_see_no_key(threads, forced):
    """A boolean [B, H, L, S] mask (per head) where some query rows may
    attend to no key at all: PyTorch gives 0 there, and so must the online
    softmax (a row that is all -inf in its first key blocks but not later
    must not turn into NaN either)."""
    torch.manual_seed(2)
    q, k, v = (torch.randn(1, 4, 256, 32) for _ in range(3))
    mask = torch.rand(1, 4, 256, 256) > 0.3
    mask[0, 1, 7] = False  # no key at all
    mask[0, 2, 9, :200] = False  # only keys of the last block
    program = _check(Sdpa(), (q, k, v, mask), threads)
    out = program(q, k, v, mask)
    assert torch.all(out[0, 1, 7] == 0)
    assert not torch.isnan(out).any()


def test_fused_program_does_not_store_the_score_matrix():
    """12 heads x 1024 x 1024: 48 MiB of scores unfused; fused, a call holds
    the scaled q, k^T and the output (3 MiB each) and blocks of scores."""
    torch.manual_seed(3)
    q, k, v = (torch.randn(1, 12, 1024, 64) for _ in range(3))
    program = _check(Sdpa(True), (q, k, v), 1)
    scores, qkv = 12 * 1024 * 1024 * 4, 12 * 1024 * 64 * 4
    held = sum(program.report["arenas"].values())
    assert 3 * qkv < held < 3 * qkv + scores // 16, program.report["arenas"]


@pytest.mark.parametrize("threads", [1, 2])
def test_heuristic_fuses_long_attention_by_default(threads):
    """Without forcing: 12 heads x 512 (12 MiB of scores) is fused."""
    torch.manual_seed(8)
    q, k, v = (torch.randn(1, 12, 512, 64) for _ in range(3))
    _check(Sdpa(), (q, k, v), threads)


def test_heuristic_counts_threads_and_padding():
    from sparcc.passes.fuse_attention import AttentionProblem, choose

    # 12 heads x 256: even at one thread, ahead with two (the fused loop
    # shares its blocks of queries; the unfused passes barely divide)
    one, two = (choose(AttentionProblem(12, 256, 256, 64, 64, False), threads=t) for t in (1, 2))
    assert two.predicted > one.predicted and two.fuse
    # 197 tokens: 15 % padding on both lengths costs more than fusing gains
    assert not choose(AttentionProblem(12, 197, 197, 64, 64, False), threads=1).fuse
    # causal: the blocks right of the diagonal are skipped
    assert choose(AttentionProblem(12, 2048, 2048, 64, 64, True)).predicted > 2 * choose(
        AttentionProblem(12, 2048, 2048, 64, 64, False)).predicted / 1.5


def test_small_attention_stays_unfused_and_says_why():
    torch.manual_seed(4)
    q, k, v = (torch.randn(1, 2, 16, 8) for _ in range(3))
    program = _check(Sdpa(True), (q, k, v), 1, fused=False)
    assert "not fused (scores (2.0 KiB) fit in cache)" in program.report["fusions"][0]


def test_blocks_pad_only_lengths_without_a_divisor():
    from sparcc.passes.fuse_attention import blocks

    assert blocks(2048, 128, 16) == (128, 2048)
    assert blocks(320, 128, 16) == (80, 320)  # a divisor from 64 to 128: no padding
    assert blocks(197, 128, 16) == (112, 224)  # 2 blocks, evened out, a multiple of 16
    assert blocks(509, 128, 16) == (128, 512)
    assert blocks(197, 49) == (40, 200)
    assert blocks(61, 16) == (16, 64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_unfused_rows_that_see_no_key_are_zero(dtype):
    """Unfused (small) attention: a row whose every score is masked gives 0,
    as PyTorch's SDPA does, instead of softmax's 0/0."""
    torch.manual_seed(5)
    q, k, v = (torch.randn(1, 2, 8, 16) for _ in range(3))
    if dtype == torch.bool:
        mask = torch.rand(8, 8) > 0.5
        mask[3] = False
    else:
        mask = torch.zeros(8, 8)
        mask[3] = -float("inf")
    program = _check(Sdpa(), (q, k, v, mask), 1, fused=False)
    assert torch.all(program(q, k, v, mask)[0, :, 3] == 0)


def test_switch_off_gives_the_unfused_program(monkeypatch):
    from sparcc.passes import fuse_attention

    monkeypatch.setattr(fuse_attention, "FUSE_ATTENTION", False)
    torch.manual_seed(6)
    q, k, v = (torch.randn(1, 4, 256, 32) for _ in range(3))
    program = sparcc.jit(Sdpa(True), threads=1, cache=False).compile(q, k, v)
    assert [line for line in program.report["fusions"] if not line.startswith("epilogue:")] == []
    torch.testing.assert_close(program(q, k, v), Sdpa(True)(q, k, v), rtol=1e-4, atol=1e-5)


def test_the_decision_sees_the_team_size():
    """12 heads x 128 x 128 (768 KiB of scores): the unfused program is as
    fast at one thread, while at two the fused one shares its blocks of
    queries; the driver hands the team size to the pass."""
    torch.manual_seed(9)
    q, k, v = (torch.randn(1, 12, 128, 64) for _ in range(3))
    _check(Sdpa(), (q, k, v), 1, fused=False)
    _check(Sdpa(), (q, k, v), 2, fused=True)


class InGraphMask(torch.nn.Module):
    """Builds its mask from aranges, as Hugging Face models do when traced:
    "causal" (key j <= query i), "shifted" (j <= i + S - L, the bottom-right
    causal mask of a query block that follows a cache), "open" (every key),
    or "input" (from the input's values)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, q, k, v):
        lq, lk = q.shape[-2], k.shape[-2]
        i = torch.arange(lq).view(1, 1, lq, 1)
        j = torch.arange(lk).view(1, 1, 1, lk)
        if self.kind == "causal":
            allowed = j <= i
        elif self.kind == "shifted":
            allowed = j <= i + (lk - lq)
        elif self.kind == "open":
            allowed = j >= 0
        else:
            allowed = (j <= i) | (q[..., :1] > 0)
        mask = torch.zeros(1, 1, lq, lk).masked_fill(~allowed, float("-inf"))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@pytest.mark.parametrize("kind, lk, expect", [
    ("causal", 256, "attention 4x256x256x32 causal:"),  # becomes is_causal: blocks skipped, no mask read
    ("open", 256, "attention 4x256x256x32:"),  # the mask goes
    ("shifted", 384, "attention 4x256x384x32:"),  # not PyTorch's causal mask: kept
    ("input", 256, "attention 4x256x256x32:"),  # depends on the input: kept
])
def test_masks_built_in_the_graph(kind, lk, expect, forced):
    torch.manual_seed(10)
    q, k, v = torch.randn(1, 4, 256, 32), torch.randn(1, 4, lk, 32), torch.randn(1, 4, lk, 32)
    program = _check(InGraphMask(kind), (q, k, v), 1)
    assert program.report["fusions"][0].startswith(expect), program.report["fusions"]
    sdpa = next(line for line in program.ir["nn"].splitlines() if "nn.sdpa" in line)
    assert (", mask " in sdpa) == (kind in ("shifted", "input")), sdpa


class SelfAttention(torch.nn.Module):
    """x [B, L, 64] -> 4 heads of 16; optionally a padding mask from the input."""

    def __init__(self, causal: bool, padding_mask: bool = False):
        super().__init__()
        self.causal, self.padding_mask = causal, padding_mask
        self.qkv = torch.nn.Linear(64, 3 * 64)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, 4, 16).permute(2, 0, 3, 1, 4)
        mask = None
        if self.padding_mask:
            mask = torch.zeros(b, 1, 1, n).masked_fill(x[:, :, 0].view(b, 1, 1, n) > 1.5, float("-inf"))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)
        return out.transpose(1, 2).reshape(b, n, 64)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("causal, padding_mask", [(True, False), (False, True)])
def test_dynamic_length_runs_fused_for_every_length(causal, padding_mask, threads):
    """One program for lengths 2..4096 (a dynamic program): fused, with the
    numbers of blocks computed at run time; lengths shorter than a block,
    equal to one, and between blocks all match PyTorch."""
    torch.manual_seed(11)
    model = SelfAttention(causal, padding_mask).eval()
    fast = sparcc.jit(model, threads=threads, cache=False, dynamic={0: {1: (2, 4096)}})
    program = fast.compile(torch.randn(1, 7, 64), dynamic={0: {1: (2, 4096)}})
    assert "lengths known at run time" in program.report["fusions"][0], program.report["fusions"]
    for n in (2, 5, 32, 64, 100, 333):
        x = torch.randn(1, n, 64)
        with torch.no_grad():
            torch.testing.assert_close(program(x), model(x), rtol=1e-4, atol=1e-5)


def test_decode_step_against_a_dynamic_cache_stays_unfused():
    """One query against keys whose number is known only at run time (a
    decode step): its scores are one row a head, so it stays unfused
    instead of padding the query to a block of 32."""
    torch.manual_seed(12)
    q = torch.randn(1, 4, 1, 16)
    k, v = torch.randn(1, 4, 40, 16), torch.randn(1, 4, 40, 16)
    fast = sparcc.jit(Sdpa(), threads=1, cache=False, dynamic={1: {2: (2, 4096)}, 2: {2: (2, 4096)}})
    program = fast.compile(q, k, v, dynamic={1: {2: (2, 4096)}, 2: {2: (2, 4096)}})
    assert "not fused (1 queries: the scores stay small)" in program.report["fusions"][0], program.report["fusions"]
    for n in (3, 40, 129):
        k, v = torch.randn(1, 4, n, 16), torch.randn(1, 4, n, 16)
        torch.testing.assert_close(program(q, k, v), Sdpa()(q, k, v), rtol=1e-4, atol=1e-5)


def _repeat_kv(x, groups):
    """Hugging Face's repeat_kv: each key/value head repeated `groups` times in a row."""
    b, h, s, d = x.shape
    return x[:, :, None, :, :].expand(b, h, groups, s, d).reshape(b, h * groups, s, d)


class GroupedDecode(torch.nn.Module):
    def __init__(self, groups: int, causal: bool = False):
        super().__init__()
        self.groups, self.causal = groups, causal

    def forward(self, q, k, v, mask=None):
        k, v = _repeat_kv(k, self.groups), _repeat_kv(v, self.groups)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)


@pytest.mark.parametrize("lq, lk, groups, mask, causal", [
    (1, 300, 2, "float", False),  # a decode step: one query, a static cache with a padding mask
    (1, 1024, 4, None, False),
    (5, 40, 2, "bool", False),  # a few queries (speculative decoding)
    (3, 3, 2, None, True),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_few_queries_against_repeated_key_value_heads_match_pytorch_without_repeating(
        lq, lk, groups, mask, causal, threads):
    torch.manual_seed(0)
    kv = 2
    q, k, v = torch.randn(2, kv * groups, lq, 32), torch.randn(2, kv, lk, 32), torch.randn(2, kv, lk, 16)
    args = [q, k, v]
    if mask == "float":
        m = torch.zeros(2, 1, lq, lk)
        m[..., lk // 2:] = -torch.inf  # the unwritten half of a cache
        args.append(m)
    elif mask == "bool":
        args.append(torch.rand(1, 1, lq, lk) > 0.3)
    model = GroupedDecode(groups, causal)
    program = sparcc.jit(model, threads=threads, cache=False).compile(*args)
    assert program.report["fusions"][0].endswith(f"key/value heads shared by {groups} query heads, not repeated")
    torch.testing.assert_close(program(*args), model(*args), atol=2e-5, rtol=1e-5)


def _decode_mask(kind: str, lq: int, lk: int, batch: int = 1) -> torch.Tensor:
    """Masks of a decode step against a static cache of lk positions."""
    low = torch.finfo(torch.float32).min
    m = torch.zeros(batch, 1, lq, lk)
    if kind.startswith("prefix"):  # the first p positions filled, as transformers masks them
        m[..., int(kind[len("prefix"):]):] = low
    elif kind == "holes":  # live keys in two runs, -inf elsewhere (a bool mask's form)
        m[:] = -torch.inf
        m[..., :10] = 0.0
        m[..., 50:61] = -0.5
    elif kind == "per-batch":  # each batch entry filled to its own length
        for b in range(batch):
            m[b, ..., 10 + 30 * b:] = low
    elif kind == "row-sees-nothing":  # one query row masked everywhere: eager averages all values
        m[..., 20:] = low
        m[..., -1, :] = low
    elif kind == "nan":  # a NaN at a masked position: eager's row is NaN
        m[..., 20:] = low
        m[..., 0, 90] = float("nan")
    elif kind == "grey":  # a large but not overwhelming negative value: every key counts
        m[..., 20:] = -1e33
    return m


@pytest.mark.parametrize("kind, lq, batch", [
    ("prefix1", 1, 1), ("prefix37", 1, 1), ("prefix64", 1, 1), ("prefix128", 1, 1), ("holes", 1, 1),
    ("prefix5", 4, 1), ("per-batch", 3, 2), ("row-sees-nothing", 2, 1), ("nan", 1, 1), ("grey", 2, 1),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_decode_step_reads_only_the_live_keys_and_matches_pytorch(kind, lq, batch, threads):
    """A few queries with a mask over 128 keys: the lowering counts the keys
    that may be attended to at run time and reads only their blocks; masks
    whose dead keys would not add exactly 0 fall back to every key."""
    torch.manual_seed(0)
    lk = 128
    q, k, v = torch.randn(batch, 4, lq, 32), torch.randn(batch, 4, lk, 32), torch.randn(batch, 4, lk, 16)
    mask = _decode_mask(kind, lq, lk, batch)
    model = Sdpa()
    program = sparcc.jit(model, threads=threads, cache=False).compile(q, k, v, mask)
    assert "arith.ceildivui" in program.ir["linalg"]  # the live-key loop
    got, want = program(q, k, v, mask), model(q, k, v, mask)
    assert torch.equal(got.isnan(), want.isnan()), kind
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("filled", [1, 100, 256])
def test_grouped_decode_with_a_long_static_cache_matches_pytorch(filled):
    torch.manual_seed(0)
    lk, groups = 256, 2
    q, k, v = torch.randn(1, 4 * groups, 1, 64), torch.randn(1, 4, lk, 64), torch.randn(1, 4, lk, 64)
    mask = _decode_mask(f"prefix{filled}", 1, lk)
    model = GroupedDecode(groups)
    program = sparcc.jit(model, threads=2, cache=False).compile(q, k, v, mask)
    assert "arith.ceildivui" in program.ir["linalg"]
    torch.testing.assert_close(program(q, k, v, mask), model(q, k, v, mask), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("lq, lk, filled, live", [
    (20, 128, 20, True),  # a prompt into a long static cache: only the filled keys are read
    (48, 256, 100, True),
    (40, 128, 40, False),  # fewer than 4 keys per query: the usual lowering
])
def test_a_prompt_against_a_long_static_cache_matches_pytorch(lq, lk, filled, live):
    """A causal mask over the filled part of a cache (transformers' form:
    finfo.min where a query may not look), grouped heads."""
    torch.manual_seed(0)
    groups = 2
    q, k, v = torch.randn(1, 4 * groups, lq, 32), torch.randn(1, 4, lk, 32), torch.randn(1, 4, lk, 32)
    mask = torch.full((1, 1, lq, lk), torch.finfo(torch.float32).min)
    start = filled - lq  # the prompt's first position
    for i in range(lq):
        mask[..., i, :start + i + 1] = 0.0
    model = GroupedDecode(groups)
    program = sparcc.jit(model, threads=2, cache=False).compile(q, k, v, mask)
    assert ("only the keys the mask leaves are read" in program.report["fusions"][0]) == live
    assert ("arith.ceildivui" in program.ir["linalg"]) == live
    torch.testing.assert_close(program(q, k, v, mask), model(q, k, v, mask), atol=2e-5, rtol=1e-5)
