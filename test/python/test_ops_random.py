"""Random numbers (aten.rand, randn, randint, randperm, bernoulli, uniform_,
normal_, exponential_ and their _like forms): sparcc draws other numbers
than PyTorch's generator, so the checks are against the distributions
(scipy's Kolmogorov-Smirnov test, frequencies), and the seeding is checked
against torch.manual_seed: the same seed, the same numbers; the next call,
new ones."""

from __future__ import annotations

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
