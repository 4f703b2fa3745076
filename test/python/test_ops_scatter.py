"""
Differential tests of the scatter family (scatter, scatter_add,
scatter_reduce, index_reduce) against PyTorch eager, on the CPU target and
the reference target: every reduction with and without include_self,
repeated indices (not for plain scatter, whose order PyTorch leaves open),
negative dims, index tensors smaller than src and than the input, 0-d
inputs, the dtypes PyTorch takes, and the run-time check of index values.

Tolerances: values are small integers (as floats for float dtypes), so that
sums and products are exact in every dtype, bfloat16 included: results are
exact except mean's division, which rounds once in float32 before bfloat16
(PyTorch divides in bfloat16), within the dtype's default tolerance.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import sparcc

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.int32, torch.int64]
REDUCTIONS = ["sum", "prod", "mean", "amax", "amin"]
TARGETS = ["cpu", "ref"]


def values(*shape: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + sum(shape))
    return torch.randint(-4, 5, shape, generator=g).to(dtype)


def index(hi: int, *shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, hi, shape, generator=torch.Generator().manual_seed(seed + hi))


def unique_index(hi: int, rows: int, cols: int, dim: int) -> torch.Tensor:
    """`rows` x `cols` indices below `hi`, different along `dim` (dim 1: within a row)."""
    g = torch.Generator().manual_seed(hi)
    if dim == 1:
        return torch.stack([torch.randperm(hi, generator=g)[:cols] for _ in range(rows)])
    return torch.stack([torch.randperm(hi, generator=g)[:rows] for _ in range(cols)], 1)


def compare(fn, *args: torch.Tensor, target: str) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(index_reduce|reduce argument).*")
        want = fn(*args)
        got = sparcc.jit(fn, target=target)(*args)
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"output {k}: {g.dtype} {list(g.shape)}"
        torch.testing.assert_close(g, w, equal_nan=True, msg=lambda m, k=k: f"output {k}: {m}")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_unique_indices(dtype, target):
    # index [3, 2] inside src [4, 3] and input [4, 6]: only the index's region counts
    def f(x, i, s, j):
        return (x.scatter(1, i, s), x.scatter(-1, i, 3), x.scatter(0, j, s),
                x.scatter(1, i, s, reduce="add"), x.scatter(-2, j, -2, reduce="multiply"))

    x, s = values(4, 6, dtype=dtype), values(4, 3, dtype=dtype, seed=1)
    compare(f, x, unique_index(6, 3, 2, 1), s, unique_index(4, 3, 2, 0), target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_repeated_indices(dtype, target):
    def f(x, i, s, j):
        return x.scatter_add(1, i, s), x.scatter_add(0, j, s[:2]), x.scatter(1, i, s, reduce="add")

    x, s = values(4, 6, dtype=dtype), values(4, 5, dtype=dtype, seed=1)
    compare(f, x, index(3, 4, 5), s, index(4, 2, 5, seed=1), target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_reduce(dtype, include_self, target):
    # indices repeat and miss elements; 3-d, along each dim, negative dims too
    def f(x, i, s):
        return tuple(x.scatter_reduce(d, i, s, r, include_self=include_self)
                     for r in REDUCTIONS for d in (0, -2, 2))

    x, s = values(3, 4, 5, dtype=dtype), values(3, 5, 6, dtype=dtype, seed=1)
    compare(f, x, index(3, 2, 4, 3), s, target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_index_reduce(dtype, include_self, target):
    def f(x, i, s, j):
        return tuple(y for r in ("prod", "mean", "amax", "amin")
                     for y in (x.index_reduce(1, i, s, r, include_self=include_self),
                               x.index_reduce(-3, j, s[:1, :5], r, include_self=include_self)))

    x, s = values(2, 5, 3, dtype=dtype), values(2, 6, 3, dtype=dtype, seed=1)
    compare(f, x, torch.tensor([4, 0, 4, 2, 0, 4]), s, torch.tensor([1]), target=target)


@pytest.mark.parametrize("target", TARGETS)
def test_scatter_edge_shapes(target):
    # a 0-d input, an index with an empty dim, a dim of size 1, bools
    def f(x, i, s, y, b, c):
        return (y.scatter_reduce(0, i[0, 1] - 1, s[0, 0], "sum"), x.scatter_add(1, i[:, :0], s),
                x[:, :1].scatter_reduce(1, i.clamp(max=0), s, "amax"), b.scatter_add(0, i[0], c),
                b.scatter(0, i[0, :1], c))

    x, s = values(3, 4, dtype=torch.float32), values(3, 4, dtype=torch.float32, seed=1)
    i = torch.tensor([[0, 1, 1], [3, 0, 0], [2, 2, 1]])
    b, c = torch.tensor([True, False, False, False]), torch.tensor([False, True, False, True])
    compare(f, x, i, s, torch.tensor(2.0), b, c, target=target)


@pytest.mark.parametrize("target", TARGETS)
def test_scatter_reduce_nan_and_signed_zero(target):
    def f(x, i, s):
        return (x.scatter_reduce(0, i, s, "amax"), x.scatter_reduce(0, i, s, "amin", include_self=False),
                x.scatter_reduce(0, i, s, "sum", include_self=False), x.scatter(0, i[:2], s))

    x = torch.tensor([1.0, float("nan"), -0.0, 3.0])
    s = torch.tensor([float("nan"), 2.0, -0.0, 5.0])
    compare(f, x, torch.tensor([0, 1, 2, 2]), s, target=target)



@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.int64])
def test_scatter_number_as_the_dtype_holds_it(dtype, target):
    # 0.1 and 3.3 are rounded to bfloat16 (truncated to int64) before they are written or combined
    def f(x, i):
        return x.scatter(0, i, 0.1), x.scatter(0, i, 0.1, reduce="add"), x.scatter(0, i, 3.3, reduce="multiply")

    compare(f, torch.tensor([1.5, 3.7, 100.3, 7]).to(dtype), torch.tensor([1, 2]), target=target)

CASES = [
    # (fn, index out of range, error, message)
    (lambda x, i, s: x.scatter(1, i, s), torch.tensor([[0, 5], [1, 2]]), RuntimeError,
     "index 5 is out of bounds for dimension 1 with size 5"),
    (lambda x, i, s: x.scatter(1, i, 1.0), torch.tensor([[0, 1], [-1, 2]]), RuntimeError,
     "index -1 is out of bounds for dimension 1 with size 5"),
    (lambda x, i, s: x.scatter_add(-1, i, s), torch.tensor([[0, 1], [9, 2]]), RuntimeError,
     "index 9 is out of bounds for dimension 1 with size 5"),
    (lambda x, i, s: x.scatter_reduce(0, i, s, "mean", include_self=False), torch.tensor([[0, 4], [1, 2]]),
     RuntimeError, "index 4 is out of bounds for dimension 0 with size 4"),
    (lambda x, i, s: x.index_reduce(1, i[0], s, "amax"), torch.tensor([[0, 7], [1, 2]]), IndexError,
     "index out of range in self"),
    (lambda x, i, s: x.index_reduce(1, i[0], s, "prod"), torch.tensor([[-1, 0], [1, 2]]), IndexError,
     "index out of range in self"),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn,bad,error,message", CASES)
def test_out_of_range_indices_raise_as_pytorch_does(fn, bad, error, message, target):
    x, s = values(4, 5, dtype=torch.float32), values(4, 2, dtype=torch.float32, seed=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*index_reduce.*")
        with pytest.raises(error, match=message):
            fn(x, bad, s)
        compiled = sparcc.jit(fn, target=target)
        with pytest.raises(error, match=message) as info:
            compiled(x, bad, s)
        assert isinstance(info.value, sparcc.SparccError)
        # the next call with good indices works: the error record was cleared
        good = bad.clamp(0, 1)
        torch.testing.assert_close(compiled(x, good, s), fn(x, good, s))


def test_index_reduce_sum_is_refused_by_name_and_line():
    # PyTorch's eager kernel refuses it too, but torch.export's meta function lets it through
    def f(x, i, s):
        return x.index_reduce(0, i, s, "sum")

    with pytest.raises(sparcc.UnsupportedOpError, match=r"aten.index_reduce.default at .*test_ops_scatter.py:\d+: "
                       r"index_reduce with reduce='sum': PyTorch takes prod, mean, amax or amin"):
        sparcc.jit(f)(torch.zeros(3), torch.tensor([0, 2]), torch.ones(2))


def test_scatter_with_a_dynamic_row_count():
    """One program for any number of rows (input, index and src dim 0 dynamic)."""
    from sparcc.driver import compile_program

    def f(x, i, s):
        return x.scatter_add(1, i, s), x.scatter_reduce(0, i, s, "amax", include_self=False), x.scatter(1, i[:, :1], s)

    args = [values(5, 6, dtype=torch.float32), index(5, 5, 3), values(5, 4, dtype=torch.float32, seed=1)]
    program = compile_program(f, args, use_cache=False, dynamic={k: {0: (1, 64)} for k in range(3)})
    for rows in (3, 9):
        x, i, s = values(rows, 6, dtype=torch.float32), index(3, rows, 3), values(rows, 4, dtype=torch.float32)
        for got, want in zip(program(x, i, s), f(x, i, s)):
            torch.testing.assert_close(got, want)
