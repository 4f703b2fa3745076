"""
Differential tests of the ops mixture-of-experts routing needs: sort,
topk, histc, index_put (index_put_, index_add, index_copy, masked
assignment) and grouped_mm, sparcc.jit against PyTorch eager (CPU).

Inputs have ties on purpose (small integer values). Tolerances: indices,
counts and moved values are exact; index_add's float sums 1e-6 (the
same additions in the same order); grouped_mm 1e-4 (float32 dot products
in another order).

Ties: sparcc sorts stably, so equal values come in index order. PyTorch
does too for sort(stable=True) and for dims of at most 16 elements (its
std::sort is an insertion sort there); its unstable sort of longer dims
and its topk (std::nth_element/partial_sort) order equal values as those
algorithms leave them. There the values are compared exactly and the
indices are checked to pick those values, all distinct.
"""

from __future__ import annotations

import random

import pytest
import torch

import sparcc
from conftest import check


def ties(*shape: int, seed: int = 0, levels: int = 4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Values from a few levels: many ties."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, levels, shape, generator=g).to(dtype)


def exact(got, want) -> None:
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, f"output {i}: {g.dtype}{list(g.shape)} != {w.dtype}{list(w.shape)}"
        assert torch.equal(g, w) or (g.is_floating_point() and torch.equal(g.isnan(), w.isnan())
                                     and torch.equal(g.nan_to_num(), w.nan_to_num())), f"output {i}: {g} != {w}"


def stable_sort(x: torch.Tensor, dim: int, descending: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.sort(x, dim=dim, descending=descending, stable=True)


# ----------------------------------------------------------------------------
# sort
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_sort_with_ties_matches_eager(seed: int) -> None:
    """Dims of at most 16 elements (PyTorch is stable there) and stable=True on longer ones."""
    r = random.Random(seed)
    short = ties(r.choice([1, 3, 7]), r.choice([2, 9, 16]), seed=seed)
    long = ties(3, r.choice([17, 40, 100]), seed=seed + 10)

    def f(a, b):
        return (torch.sort(a), torch.sort(a, dim=0, descending=True), torch.sort(a, descending=True),
                torch.sort(b, stable=True), torch.sort(b, dim=-1, descending=True, stable=True), torch.argsort(a, dim=0))

    check(f, short, long, atol=0, rtol=0)


def test_sort_integers_bools_and_nan() -> None:
    i = ties(4, 11, seed=3, levels=5, dtype=torch.int64) - 2
    b = ties(2, 9, seed=4, levels=2, dtype=torch.bool)
    x = torch.tensor([[1.0, float("nan"), -0.0, 0.0, float("-inf"), 2.0, float("nan"), float("inf"), 1.0]])

    def f(i, b, x):
        return torch.sort(i), torch.sort(i, descending=True), torch.sort(b, dim=-1), torch.sort(x), \
            torch.sort(x, descending=True), torch.sort(i.to(torch.int32), dim=0)

    want = f(i, b, x)
    got = sparcc.jit(f)(i, b, x)
    exact([t for pair in got for t in pair], [t for pair in want for t in pair])


def test_sort_of_long_dims_is_stable() -> None:
    """stable=False on more than 16 elements: PyTorch's order of ties is
    std::sort's; sparcc's is the stable one, with the same values."""
    x = ties(3, 50, seed=5)
    values, indices = sparcc.jit(lambda x: torch.sort(x, descending=True))(x)
    want_values, want_indices = stable_sort(x, -1, True)
    assert torch.equal(values, torch.sort(x, descending=True).values)
    assert torch.equal(values, want_values) and torch.equal(indices, want_indices)


# ----------------------------------------------------------------------------
# topk
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_topk_with_ties(seed: int) -> None:
    r = random.Random(seed)
    n = r.choice([4, 8, 37])
    k = r.choice([1, 2, n // 2, n])
    x = ties(r.choice([1, 5, 16]), n, seed=seed)
    largest = seed % 2 == 0

    def f(x):
        return torch.topk(x, k, largest=largest), torch.topk(x.t(), 1, dim=0, largest=largest)

    got = sparcc.jit(f)(x)
    want = f(x)
    for (values, indices), (want_values, want_indices), (src, dim) in zip(got, want, [(x, -1), (x.t(), 0)]):
        assert torch.equal(values, want_values)
        assert torch.equal(src.gather(dim, indices), values)
        assert indices.sort(dim).values.diff(dim=dim).gt(0).all(), "an index picked twice"
        # the stable order: among equal values the lower index first
        assert torch.equal(indices, stable_sort(src, dim, largest)[1].narrow(dim, 0, indices.shape[dim]))


def test_topk_without_ties_matches_eager_exactly() -> None:
    x = torch.randn(6, 40)

    def f(x):
        return torch.topk(x, 5), torch.topk(x, 3, dim=0, largest=False), torch.topk(x, 40, sorted=True)

    check(f, x, atol=0, rtol=0)


def test_topk_of_short_dims_with_ties_matches_eager() -> None:
    """Up to 3 elements PyTorch's nth_element is an insertion sort: stable."""
    x = ties(32, 3, seed=7, levels=2)
    check(lambda x: (torch.topk(x, 2), torch.topk(x, 1, largest=False)), x, atol=0, rtol=0)


def test_topk_nan_counts_as_largest() -> None:
    x = torch.tensor([[1.0, float("nan"), 3.0, -1.0, 2.0]])
    got = sparcc.jit(lambda x: (torch.topk(x, 2), torch.topk(x, 2, largest=False)))(x)
    exact([t for p in got for t in p], [t for p in (torch.topk(x, 2), torch.topk(x, 2, largest=False)) for t in p])


def test_moe_router() -> None:
    """The router of Mixtral-style MoE layers: softmax, topk, renormalise."""
    gate = torch.nn.Linear(16, 8, bias=False)

    def route(h):
        probs = torch.softmax(gate(h), dim=-1)
        top, idx = torch.topk(probs, 2, dim=-1)
        return top / top.sum(-1, keepdim=True), idx

    check(route, torch.randn(12, 16))


# ----------------------------------------------------------------------------
# histc
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_histc_bin_edges(dtype: torch.dtype) -> None:
    """Values on every edge, inside, outside the range, and NaN."""
    edges = torch.linspace(-1.0, 2.0, 7, dtype=dtype)
    inside = torch.rand(40, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 3 - 1
    x = torch.cat([edges, inside, torch.tensor([-1.5, 2.5, float("nan"), 2.0, -1.0], dtype=dtype),
                   edges + 1e-7, edges - 1e-7]).reshape(-1)

    def f(x):
        return torch.histc(x, 6, -1, 2), torch.histc(x, 1, -1, 2), torch.histc(x, 7, 0, 0.1), \
            torch.histc(x.reshape(2, -1), 10, -1.5, 2.5)

    check(f, x, atol=0, rtol=0)


def test_histc_of_expert_ids() -> None:
    """What MoE layers do: counts of expert ids, as floats."""
    ids = ties(64, seed=2, levels=8)
    check(lambda e: torch.histc(e, bins=8, min=0, max=7), ids, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_histc_range_from_the_data(dtype: torch.dtype) -> None:
    """min == max: the data's range, widened by 1 each way when all values are equal."""
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(3)).to(dtype)

    def f(x, c):
        return torch.histc(x, 4), torch.histc(x, 9, 2.0, 2.0), torch.histc(c, 3)

    check(f, x, torch.full((6,), 2.5, dtype=dtype), atol=0, rtol=0)


def test_histc_of_a_non_finite_data_range_is_nan() -> None:
    """PyTorch raises (the range is not finite); sparcc has no run-time error for it: NaN counts."""
    x = torch.tensor([1.0, float("inf"), 2.0])
    with pytest.raises(RuntimeError, match="not finite"):
        torch.histc(x, 3)
    assert sparcc.jit(lambda x: torch.histc(x, 3))(x).isnan().all()


# ----------------------------------------------------------------------------
# index_put and the ops that arrive as it
# ----------------------------------------------------------------------------


put = torch.ops.aten.index_put.default  # takes None for a dim without an index tensor


def test_index_put_accumulate_and_duplicates() -> None:
    x = torch.randn(6, 5)
    i = torch.tensor([4, 0, -2, 4, 1, 4])  # repeats: the last write wins, sums in order
    v = torch.randn(6, 5)

    def f(x, i, v):
        return (x.index_put((i,), v), x.index_put((i,), v, accumulate=True), x.index_put((i,), v[0]),
                x.index_put((i,), v[:, :1], accumulate=True), put(x, [None, i[:3]], v[:, :3]),
                x.index_put((i[:3], i[3:] - 2), torch.tensor(7.0)))

    check(f, x, i, v, atol=1e-6, rtol=1e-6)


def test_index_put_non_adjacent_and_broadcast_indices() -> None:
    x = torch.randn(4, 3, 5)
    i = torch.tensor([[0], [3], [1]])  # [3, 1]
    j = torch.tensor([4, -1, 2, 0])  # [4]: broadcast to [3, 4]
    v = torch.randn(3, 4, 3)

    def f(x, i, j, v):
        return put(x, [i, None, j], v), put(x, [i, None, j], v, True), put(x, [None, i[:, 0] % 3, j[:3]], v[0], True)

    check(f, x, i, j, v, atol=1e-6, rtol=1e-6)


def test_index_put_integers_and_bools() -> None:
    x = ties(5, 4, seed=1, levels=9, dtype=torch.int64)
    b = ties(5, 4, seed=2, levels=2, dtype=torch.bool)
    i = torch.tensor([1, 3, 1])

    def f(x, b, i):
        return x.index_put((i,), x[:3] * 2, accumulate=True), b.index_put((i,), b[:3]), \
            b.index_put((i,), b[:3], accumulate=True)

    check(f, x, b, i, atol=0, rtol=0)


def test_index_add_index_copy_and_setitem() -> None:
    x = torch.randn(7, 3)
    i = torch.tensor([6, 2, 2, 0])
    src = torch.randn(4, 3)

    def f(x, i, src):
        y = x.clone()
        y[i] = src
        z = x.clone()
        z[i, 1] += 1.0
        return x.index_add(0, i, src, alpha=2.0), x.index_copy(0, i[:1], src[:1]), y, z

    check(f, x, i, src, atol=1e-6, rtol=1e-6)


def test_inverse_permutation() -> None:
    """The MoE trick that restores the token order: inv[perm] = arange."""

    def f(ids):
        _, perm = torch.sort(ids, stable=True)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(perm.shape[0])
        return perm, inv

    check(f, ties(32, seed=3, levels=4, dtype=torch.int64), atol=0, rtol=0)


def test_masked_assignment() -> None:
    x = torch.randn(4, 6)

    def f(x):
        y = x.clone()
        y[x > 0] = 0.5
        z = x.clone()
        z[:, x[0] < 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None]
        w = x.clone()
        w[x.abs() < 0.5] = torch.tensor(10.0)
        return y, z, w

    check(f, x, atol=0, rtol=0)


def test_masked_assignment_of_one_value_per_element_is_refused() -> None:
    def f(x, v):
        y = x.clone()
        y[x > 0] = v
        return y

    x = torch.tensor([1.0, -1.0, 2.0])
    with pytest.raises(sparcc.UnsupportedOpError, match="boolean mask"):
        sparcc.jit(f)(x, torch.tensor([5.0, 6.0]))


@pytest.mark.parametrize(
    "fn, args, error",
    [
        (lambda x, i: x.index_put((i,), torch.ones(2, 3)), (torch.randn(4, 3), torch.tensor([0, 4])), IndexError),
        (lambda x, i: x.index_put((i,), torch.ones(2, 3), accumulate=True), (torch.randn(4, 3), torch.tensor([-5, 1])),
         IndexError),
        # index_add and index_copy take no negative indices
        (lambda x, i: x.index_add(0, i, torch.ones(2, 3)), (torch.randn(4, 3), torch.tensor([1, 9])), RuntimeError),
        (lambda x, i: x.index_add(1, i, torch.ones(4, 2)), (torch.randn(4, 3), torch.tensor([-1, 1])), RuntimeError),
        (lambda x, i: x.index_copy(0, i, torch.ones(2, 3)), (torch.randn(4, 3), torch.tensor([-1, 1])), IndexError),
    ],
)
def test_index_put_out_of_range_raises_as_pytorch_does(fn, args, error) -> None:
    with pytest.raises(error) as eager:
        fn(*args)
    compiled = sparcc.jit(fn)
    with pytest.raises(error) as info:
        compiled(*args)
    assert isinstance(info.value, sparcc.SparccError)
    assert "out of bounds" in str(info.value) and str(info.value) in str(eager.value)
    good = [a.clamp(0, 0) if not a.is_floating_point() else a for a in args]
    torch.testing.assert_close(compiled(*good), fn(*good))


# ----------------------------------------------------------------------------
# grouped_mm
# ----------------------------------------------------------------------------


def test_grouped_mm_against_eager() -> None:
    """Rows grouped by offs, each group times its own matrix, an empty group
    included. torch.export takes aten._grouped_mm in bfloat16 only (and its
    CPU kernel rows of 16 bytes): one rounding of the float32 products, so
    within a unit of bfloat16 (2^-8 relative)."""
    x, w = torch.randn(10, 16).bfloat16(), torch.randn(4, 16, 8).bfloat16()
    a, b = torch.randn(3, 5, 8).bfloat16(), torch.randn(3, 8, 16).bfloat16()

    def f(x, w, offs, a, b):
        return torch._grouped_mm(x, w, offs=offs), torch._grouped_mm(a, b)

    check(f, x, w, torch.tensor([3, 3, 7, 10], dtype=torch.int32), a, b, atol=2e-2, rtol=2**-8)


def test_transformers_grouped_mm_fallback() -> None:
    """The op transformers' MoE layers export as (grouped_mm experts on CPU):
    rows past the last offset are 0."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import zoo_models

        zoo_models.frameworks()
        import transformers.integrations.moe  # noqa: F401 (defines the op)
    except ImportError:
        pytest.skip("needs transformers (the `zoo` extra)")
    finally:
        sys.path.pop(0)
    fallback = torch.ops.transformers.grouped_mm_fallback

    def f(x, w, offs):
        return fallback(x, w, offs), fallback(x, w, offs - 3)

    check(f, torch.randn(10, 6), torch.randn(4, 6, 5), torch.tensor([3, 3, 7, 10], dtype=torch.int32))


def test_routing_with_a_dynamic_token_count() -> None:
    """One program for any number of tokens (sorted dim and index_put input dynamic)."""
    from sparcc.driver import compile_program
    from torch.utils import _pytree as pytree

    def f(x, i, v):
        return torch.topk(x, 2), torch.sort(x, dim=0, stable=True), x.index_put((i,), v, accumulate=True), \
            torch.histc(x, 4, -1, 1)

    i, v = torch.tensor([0, 2, 2]), torch.randn(3, 6)
    program = compile_program(f, [torch.randn(5, 6), i, v], use_cache=False, dynamic={0: {0: (1, 64)}})
    for tokens in (3, 9):
        x = torch.randn(tokens, 6)
        for got, want in zip(pytree.tree_leaves(program(x, i, v)), pytree.tree_leaves(f(x, i, v))):
            torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
