"""embedding_bag, instance norm (batch statistics), Tensor.unfold and
adaptive max pooling of any size, against eager PyTorch."""

from __future__ import annotations

import pytest
import sparcc
import torch
import torch.nn.functional as F


def _close(got, want) -> None:
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        assert g.dtype == w.dtype and g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_with_offsets_empty_bags_and_padding(mode: str) -> None:
    torch.manual_seed(0)
    bag = torch.nn.EmbeddingBag(10, 3, mode=mode).eval()
    indices, offsets = torch.randint(0, 10, (8,)), torch.tensor([0, 3, 3, 5])  # bag 1 is empty
    with torch.no_grad():
        _close(sparcc.jit(bag)(indices, offsets), bag(indices, offsets))
        rows = torch.randint(0, 10, (4, 3))  # 2-d input: one bag per row
        _close(sparcc.jit(bag)(rows), bag(rows))
        padded = torch.nn.EmbeddingBag(10, 3, mode=mode, padding_idx=2, include_last_offset=True).eval()
        idx, off = torch.tensor([2, 1, 2, 2, 5, 2, 7, 2]), torch.tensor([0, 3, 4, 6, 8])  # bag 1 is padding only
        _close(sparcc.jit(padded)(idx, off), padded(idx, off))


def test_embedding_bag_per_sample_weights() -> None:
    bag = torch.nn.EmbeddingBag(10, 4, mode="sum").eval()
    i, o, w = torch.randint(0, 10, (8,)), torch.tensor([0, 3, 5]), torch.randn(8)
    with torch.no_grad():
        _close(sparcc.jit(lambda i, o, w: bag(i, o, per_sample_weights=w))(i, o, w), bag(i, o, per_sample_weights=w))


def test_embedding_bag_checks_its_indices() -> None:
    bag = torch.nn.EmbeddingBag(10, 3).eval()
    fast = sparcc.jit(bag)
    with pytest.raises(sparcc.SparccError, match=r"index out of range in self \(index 12, dimension 0 of size 10\)"):
        fast(torch.tensor([1, 2, 12]), torch.tensor([0, 1]))
    with torch.no_grad():  # the next call with good indices still works
        _close(fast(torch.tensor([1, 2, 9]), torch.tensor([0, 1])), bag(torch.tensor([1, 2, 9]), torch.tensor([0, 1])))


@pytest.mark.parametrize("shape", [(2, 4, 5, 5), (3, 5, 5), (2, 3, 7)])
def test_instance_norm_uses_each_instances_statistics(shape) -> None:
    torch.manual_seed(1)
    one_d = shape == (2, 3, 7)
    norm = (torch.nn.InstanceNorm1d if one_d else torch.nn.InstanceNorm2d)(shape[-2] if one_d else shape[-3],
                                                                          affine=True).eval()
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
        x = torch.randn(shape) * 3 + 1
        _close(sparcc.jit(norm)(x), norm(x))


def test_batch_norm_functional_returns_updated_running_statistics() -> None:
    x, w, b = torch.randn(4, 3, 5), torch.randn(3), torch.randn(3)
    f = lambda x, rm, rv: torch.ops.aten._native_batch_norm_legit_functional(x, w, b, rm, rv, True, 0.1, 1e-5)  # noqa: E731
    rm, rv = torch.randn(3), torch.rand(3) + 0.5
    _close(sparcc.jit(f)(x, rm, rv), f(x, rm, rv))


@pytest.mark.parametrize("dim,size,step", [(1, 3, 2), (-1, 2, 1), (0, 4, 4)])
def test_unfold_windows(dim: int, size: int, step: int) -> None:
    x = torch.randn(8, 9, 5)
    f = lambda x: x.unfold(dim, size, step) * 2  # noqa: E731
    _close(sparcc.jit(f)(x), f(x))


@pytest.mark.parametrize("out", [(3, 2), (5, 4), (1, 3), (7, 5)])
def test_adaptive_max_pool_of_any_size(out) -> None:
    x = torch.randn(2, 3, 7, 5)
    x[0, 0, 2, 1] = float("nan")
    f = lambda x: F.adaptive_max_pool2d(x, out)  # noqa: E731
    _close(sparcc.jit(f)(x), f(x))
    g = lambda x: F.adaptive_max_pool1d(x, out[0])  # noqa: E731
    _close(sparcc.jit(g)(x[0]), g(x[0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("out", [(3, 2), (5, 4), (1, 1), (7, 5), (2, 5)])
def test_adaptive_max_pool_indices(out, dtype) -> None:
    """The flat index of each window's max as PyTorch's kernel scans it: the
    first of equal maxima, the last NaN, the first element for a window of
    -inf; windows of unequal (overlapping) sizes; unbatched and 1-d."""
    x = torch.randn(2, 3, 7, 5, dtype=dtype)
    x[0, 0, 1, 1] = x[0, 0, 2, 1] = x[1, 2, 4, 4] = float("nan")
    x[1, 1] = -float("inf")
    x[1, 2, 2:5, 1:4] = 1.5  # ties
    f = lambda x: (F.adaptive_max_pool2d(x, out, return_indices=True), F.adaptive_max_pool2d(x[1], out, True),  # noqa: E731
                   F.adaptive_max_pool1d(x[0], out[1], True), F.adaptive_max_pool1d(x[1, 1:], out[0], True))
    got, want = sparcc.jit(f)(x), f(x)
    for (gv, gi), (wv, wi) in zip(got, want):
        _close(gv, wv)
        assert gi.dtype == torch.int64 and torch.equal(gi, wi)


@pytest.mark.parametrize("k,s,p,d,ceil", [(2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False),
                                          ((2, 3), (1, 2), (1, 0), (2, 1), True)])
def test_max_pool_indices_and_dilation_follow_pytorchs_window_walk(k, s, p, d, ceil) -> None:
    """The flat index of each window's max (the first of equal maxima, the
    last NaN; a window of -inf points at its first element inside the input),
    and max_unpool2d from it."""
    x = torch.randn(2, 3, 9, 8)
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = float("nan")
    x[1, 1] = -float("inf")
    x[1, 2, 2:4, 2:4] = 1.0  # ties
    f = lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)  # noqa: E731
    got, want = sparcc.jit(f)(x), f(x)
    _close(got[0], want[0])
    assert torch.equal(got[1], want[1])
    unpool = lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, 2, return_indices=True), 2)  # noqa: E731
    y = torch.randn(1, 2, 6, 6)
    _close(sparcc.jit(unpool)(y), unpool(y))
