"""Random numbers (aten.rand, randn, randint, randperm, bernoulli, uniform_,
normal_, exponential_, cauchy_, log_normal_, geometric_, multinomial, their
_like forms, and training-mode dropout and rrelu): sparcc draws other numbers
than PyTorch's generator, so the checks are against the distributions
(scipy's Kolmogorov-Smirnov test, frequencies), and the seeding is checked
against torch.manual_seed: the same seed, the same numbers; the next call,
new ones."""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch

import sparcc

N = 40_000  # samples per check: a KS test at p < 1e-4 fails a wrong distribution clearly


class Draw(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


CONTINUOUS = {
    "rand": (lambda x: torch.rand(N), scipy.stats.uniform()),
    "rand_like float64": (lambda x: torch.rand_like(x, dtype=torch.float64), scipy.stats.uniform()),
    "randn": (lambda x: torch.randn(200, N // 200), scipy.stats.norm()),
    "randn_like": (lambda x: torch.randn_like(x), scipy.stats.norm()),
    "uniform_": (lambda x: torch.empty_like(x).uniform_(-3, 5), scipy.stats.uniform(-3, 8)),
    "normal_": (lambda x: torch.empty_like(x).normal_(2.0, 0.5), scipy.stats.norm(2.0, 0.5)),
    "normal(tensor, float)": (lambda x: torch.normal(x + 1, 3.0), scipy.stats.norm(1.0, 3.0)),
    "exponential_": (lambda x: torch.empty_like(x).exponential_(4.0), scipy.stats.expon(scale=0.25)),
    "cauchy_": (lambda x: torch.empty_like(x).cauchy_(1.5, 0.5), scipy.stats.cauchy(1.5, 0.5)),
    "log_normal_": (lambda x: torch.empty_like(x).log_normal_(0.5, 0.75), scipy.stats.lognorm(0.75, scale=math.exp(0.5))),
}


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_continuous_draws_follow_their_distribution(name):
    fn, dist = CONTINUOUS[name]
    torch.manual_seed(0)
    got = sparcc.jit(Draw(fn), cache=False)(torch.zeros(N))
    want = fn(torch.zeros(N))
    assert got.shape == want.shape and got.dtype == want.dtype
    sample = got.double().flatten().numpy()
    assert scipy.stats.kstest(sample, dist.cdf).pvalue > 1e-4
    if name.startswith(("rand", "uniform")):
        assert float(got.min()) >= dist.support()[0] and float(got.max()) < dist.support()[1]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_uniforms_stay_below_one(dtype):
    got = sparcc.jit(Draw(lambda x: torch.rand(N, dtype=dtype)), cache=False)(torch.zeros(1))
    assert got.dtype == dtype and float(got.max()) < 1.0 and float(got.min()) >= 0.0
    assert abs(float(got.float().mean()) - 0.5) < 0.01


def test_random_integers_cover_the_range_evenly():
    fn = lambda x: torch.randint(-3, 7, (N,))  # noqa: E731
    got = sparcc.jit(Draw(fn), cache=False)(torch.zeros(1))
    assert got.dtype == torch.int64
    counts = torch.bincount(got + 3, minlength=10)
    assert len(counts) == 10 and int(got.min()) == -3 and int(got.max()) == 6
    assert scipy.stats.chisquare(counts.numpy()).pvalue > 1e-4
    like = sparcc.jit(Draw(lambda x: torch.randint_like(x, 5)), cache=False)(torch.zeros(N))
    assert like.dtype == torch.float32 and set(like.unique().tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0}


def test_bernoulli_draws_ones_at_the_given_rate():
    x = torch.rand(N)  # a probability per element
    got = sparcc.jit(Draw(torch.bernoulli), cache=False)(x)
    assert set(got.unique().tolist()) <= {0.0, 1.0}
    # ones fall where the probability is high: the mean of p over the ones is about 2/3
    assert abs(float(x[got == 1].mean()) - 2 / 3) < 0.01
    fixed = sparcc.jit(Draw(lambda x: torch.bernoulli(x, 0.25)), cache=False)(x)
    assert abs(float(fixed.mean()) - 0.25) < 0.01


def test_randperm_is_a_permutation_and_differs_between_calls():
    fast = sparcc.jit(Draw(lambda x: torch.randperm(1000) + x), cache=False)
    a, b = fast(torch.zeros(1, dtype=torch.int64)), fast(torch.zeros(1, dtype=torch.int64))
    assert sorted(a.tolist()) == list(range(1000)) and sorted(b.tolist()) == list(range(1000))
    assert not torch.equal(a, b)


def pair(x):
    return torch.rand_like(x), torch.randn(x.shape[0], 3) + x[:, :1]


@pytest.mark.parametrize("target", ["cpu", "ref"])
def test_torch_manual_seed_repeats_a_call_and_the_next_call_draws_new_numbers(target):
    fast = sparcc.jit(pair, target=target, cache=False)
    x = torch.zeros(500, 8)
    torch.manual_seed(7)
    a = fast(x)
    torch.manual_seed(7)
    b = fast(x)
    c = fast(x)
    for u, v, w in zip(a, b, c):
        assert torch.equal(u, v) and not torch.equal(u, w)
    # two ops of one call are independent draws
    assert abs(float(torch.corrcoef(torch.stack([a[0][:, 0], a[1][:, 0]]))[0, 1])) < 0.2


def test_the_numbers_do_not_depend_on_the_team_size():
    x = torch.zeros(300, 64)
    torch.manual_seed(3)
    one = sparcc.jit(pair, threads=1, cache=False)(x)
    torch.manual_seed(3)
    two = sparcc.jit(pair, threads=2, cache=False)(x)
    assert all(torch.equal(u, v) for u, v in zip(one, two))


def test_a_dynamic_program_draws_for_every_size():
    fast = sparcc.jit(lambda x: x + torch.rand_like(x), cache=False, dynamic={0: {0: (1, 4096)}})
    for n in (100, 3000):
        got = fast(torch.zeros(n, 4))
        assert got.shape == (n, 4) and 0.45 < float(got.mean()) < 0.55
    assert fast.compiles == 1


def test_an_artifact_is_seeded_by_torch_too(tmp_path):
    sparcc.compile(Draw(lambda x: x + torch.randn_like(x)), (torch.zeros(64, 64),), tmp_path / "out")
    program = sparcc.load(tmp_path / "out")
    torch.manual_seed(11)
    a = program(torch.zeros(64, 64))
    torch.manual_seed(11)
    assert torch.equal(a, program(torch.zeros(64, 64)))
    assert not torch.equal(a, program(torch.zeros(64, 64)))


def test_the_hls_target_refuses_random_numbers_by_name():
    with pytest.raises(sparcc.SparccError, match="sparcc_rt_random_base"):
        sparcc.jit(lambda x: x + torch.rand_like(x), target="hls", cache=False)(torch.zeros(4, 8))


def test_geometric_counts_trials_to_the_first_success():
    got = sparcc.jit(Draw(lambda x: torch.empty_like(x).geometric_(0.3)), cache=False)(torch.zeros(N))
    assert got.dtype == torch.float32 and float(got.min()) >= 1 and torch.equal(got, got.round())
    counts = torch.bincount(got.long().clamp(max=12))[1:].double().numpy()  # 1..11, then 12 or more
    pmf = scipy.stats.geom(0.3).pmf(range(1, 12))
    expected = N * torch.tensor([*pmf, 1 - pmf.sum()]).numpy()
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-4


@pytest.mark.parametrize("replacement", [False, True])
def test_multinomial_draws_categories_in_proportion_to_the_weights(replacement):
    weights = torch.tensor([1.0, 0.0, 2.0, 3.0, 4.0])  # a zero weight is never drawn
    rows = weights.expand(N // 4, 5).contiguous()
    got = sparcc.jit(Draw(lambda w: torch.multinomial(w, 3, replacement=replacement)), cache=False)(rows)
    assert got.shape == (N // 4, 3) and got.dtype == torch.int64
    assert not bool((got == 1).any())
    if not replacement:  # three different categories in every row
        assert bool((got[:, 0] != got[:, 1]).all() and (got[:, 1] != got[:, 2]).all() and (got[:, 0] != got[:, 2]).all())
    first = torch.bincount(got[:, 0], minlength=5)[[0, 2, 3, 4]].double()  # the first draw: in proportion to w
    assert scipy.stats.chisquare(first.numpy(), (N // 4) * torch.tensor([0.1, 0.2, 0.3, 0.4]).numpy()).pvalue > 1e-4
    single = sparcc.jit(Draw(lambda w: torch.multinomial(w, 200, replacement=True)), cache=False)(weights)
    assert single.shape == (200,) and set(single.tolist()) <= {0, 2, 3, 4}


def test_multinomial_without_replacement_of_more_than_the_categories_is_refused():
    with pytest.raises(sparcc.SparccError, match="6 samples without replacement from 5 categories"):
        sparcc.jit(Draw(lambda w: torch.multinomial(w, 6)), cache=False)(torch.ones(5))


def test_training_mode_dropout_drops_at_the_rate_and_scales_the_rest():
    model = torch.nn.Sequential(torch.nn.Dropout(0.3)).train()
    x = torch.randn(N)
    with pytest.warns(UserWarning, match=r"dropout in training mode.*model.eval\(\)"):
        fast = sparcc.jit(model, cache=False)
        a = fast(x)
    kept = a != 0
    assert abs(float(kept.double().mean()) - 0.7) < 0.01
    torch.testing.assert_close(a[kept], x[kept] / 0.7)
    torch.manual_seed(5)
    b = fast(x)
    torch.manual_seed(5)
    assert torch.equal(b, fast(x)) and not torch.equal(a, b)


def native_dropout(x):
    out, mask = torch.ops.aten.native_dropout(x, 0.25, True)
    same, ones = torch.ops.aten.native_dropout(x, 0.25, False)
    return out, mask, same, ones


def test_native_dropout_returns_its_mask():
    x = torch.randn(N) + 10  # no zeros of its own
    out, mask, same, ones = sparcc.jit(native_dropout, cache=False)(x)
    assert mask.dtype == torch.bool and torch.equal(mask, out != 0)
    assert abs(float(mask.double().mean()) - 0.75) < 0.01
    assert torch.equal(same, x) and ones.dtype == torch.bool and bool(ones.all())
    zeros, none = sparcc.jit(lambda x: torch.ops.aten.native_dropout(x, 1.0, True), cache=False)(x)
    assert not bool(zeros.any()) and not bool(none.any())


def test_dropout2d_drops_whole_channels_and_alpha_dropout_keeps_the_moments():
    x = torch.randn(8, 64, 10, 10)
    got = sparcc.jit(Draw(lambda x: torch.nn.functional.dropout2d(x, 0.5, True)), cache=False)(x)
    per_channel = (got != 0).flatten(2).double().mean(2)  # 1 or 0 for every channel
    assert set(per_channel.unique().tolist()) == {0.0, 1.0} and 0.4 < float(per_channel.mean()) < 0.6
    z = torch.randn(N)
    alpha = sparcc.jit(Draw(lambda x: torch.nn.functional.alpha_dropout(x, 0.2, True)), cache=False)(z)
    assert abs(float(alpha.mean())) < 0.03 and abs(float(alpha.std()) - 1) < 0.03
    dropped = torch.mode(alpha).values  # every dropped value becomes one constant
    assert abs(float((alpha == dropped).double().mean()) - 0.2) < 0.01


def test_rrelu_in_training_draws_a_slope_per_negative_value():
    x = torch.randn(N)
    fn = lambda x: torch.nn.functional.rrelu(x, 0.1, 0.3, training=True)  # noqa: E731
    got = sparcc.jit(Draw(fn), cache=False)(x)
    negative = x < 0
    assert torch.equal(got[~negative], x[~negative])
    slopes = (got[negative] / x[negative]).double().numpy()
    assert scipy.stats.kstest(slopes, scipy.stats.uniform(0.1, 0.2).cdf).pvalue > 1e-4
    evaluated = sparcc.jit(Draw(lambda x: torch.nn.functional.rrelu(x, 0.1, 0.3)), cache=False)(x)
    torch.testing.assert_close(evaluated, torch.nn.functional.rrelu(x, 0.1, 0.3))


def test_an_empty_uniform_range_is_refused_as_in_eager():
    with pytest.raises(sparcc.SparccError, match=r"uniform_ expects a \[from, to\) range, but found from=2.0 > to=1.0"):
        sparcc.jit(Draw(lambda x: x.clone().uniform_(2, 1)), cache=False)(torch.zeros(3))
