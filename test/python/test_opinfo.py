"""
Differential tests driven by PyTorch's own OpInfo database
(`torch.testing._internal.common_methods_invocations.op_db`): for every
OpInfo entry in `ALLOWLIST` (the ops of README "Supported operations"), its
`sample_inputs(device="cpu", dtype=dt, requires_grad=False)` are compiled
with `sparcc.jit` and compared with eager PyTorch, for each dtype of
`DTYPES` that the OpInfo declares (`op.supported_dtypes("cpu")`).

One function is compiled per (op, dtype): it takes every tensor of the
chosen samples as an argument (non-tensor arguments and keyword arguments
are captured in its closure) and returns the results of all samples at
once, so each (op, dtype) costs one compile.

Tiers:
- fast (the default run): float32, the first `FAST_SAMPLES` samples;
- slow, with SPARCC_OPINFO=all: every sample, every dtype of `DTYPES` the
  op declares (about 20 minutes; max_pool2d alone has 1440 samples).

Samples on which eager PyTorch itself raises are dropped (nothing to
compare with), and so are samples with a zero-size tensor among their
arguments or results (sparcc rejects zero-size inputs and results with a
message, test_ops_dtypes).
`DROPPED` lists the (op, dtype) pairs left out, with the reason. Samples
that sparcc rejects by design (`REJECTED`) are compiled alone (the first
`REJECTED_CHECKS` of them) and must raise `sparcc.SparccError` with the
listed message; any other exception fails the test. Known sparcc bugs are
`KNOWN_BUGS`, strict xfails of a reproducer run in a subprocess
(`test_known_bug`), so that a fix makes them fail until they are removed;
the OpInfo samples a bug affects are left out of the other tests.

op_db needs the `expecttest` package (torch.testing's common_utils imports
it); without it the module is skipped.

Tolerances, per result dtype (`scale` is max(1, max |eager result|) over
the finite values of that result, so that a large sum is compared relative
to its own magnitude), NaNs must match NaNs:
- float32 and complex64: rtol 1e-4, atol 1e-4 * scale;
- float64 and complex128: rtol 1e-10, atol 1e-10 * scale;
- bfloat16: 2 ulp, rtol = 2 * 2^-7, atol = 2 * 2^-7 * scale (sparcc
  rounds after every op, as PyTorch's kernels do; a transcendental's
  float32 value may differ by an ulp and round the other way);
- integers and bool: exact.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch.utils import _pytree as pytree

import sparcc

# common_utils (imported by op_db) needs expecttest.
pytest.importorskip("expecttest", reason="OpInfo tests need `expecttest` (pip install expecttest)")
from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402

DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool)
FAST_SAMPLES = 8
REJECTED_CHECKS = 4  # rejected samples compiled per (op, dtype)
CHUNK = 96  # samples per compiled function

# (OpInfo name, variant_test_name): the ops sparcc supports.
ALLOWLIST: list[tuple[str, str]] = [
    # FFTs and complex results (frontend_complex.py; the other fft.* entries pass too:
    # benchmarks/opinfo_coverage.py)
    ("fft.fft", ""), ("fft.rfft", ""), ("fft.irfft", ""), ("fft.fftn", ""), ("fft.hfft", ""), ("fft.ihfftn", ""),
    ("stft", ""), ("polar", ""),
    # elementwise binary
    ("add", ""), ("sub", ""), ("rsub", ""), ("mul", ""),
    ("div", "no_rounding_mode"), ("div", "trunc_rounding"), ("div", "floor_rounding"),
    ("pow", ""), ("fmod", ""), ("remainder", ""), ("floor_divide", ""),
    ("maximum", ""), ("minimum", ""), ("atan2", ""),
    ("clamp", ""), ("nn.functional.hardtanh", ""),
    # elementwise unary
    ("neg", ""), ("abs", ""), ("sign", ""), ("sgn", ""), ("exp", ""), ("expm1", ""),
    ("log", ""), ("log1p", ""), ("log2", ""), ("sqrt", ""), ("rsqrt", ""), ("reciprocal", ""),
    ("sin", ""), ("cos", ""), ("tan", ""), ("atan", ""),
    ("asin", ""), ("acos", ""), ("sinh", ""), ("cosh", ""), ("asinh", ""), ("acosh", ""), ("atanh", ""),
    ("log10", ""), ("erfc", ""), ("exp2", ""), ("signbit", ""), ("angle", ""),
    ("round", "decimals_0"), ("round", "decimals_3"), ("round", "decimals_neg_3"),
    ("copysign", ""), ("fmax", ""), ("fmin", ""), ("hypot", ""), ("ldexp", ""), ("logaddexp2", ""),
    ("floor", ""), ("ceil", ""), ("round", ""), ("trunc", ""),
    ("sigmoid", ""), ("tanh", ""), ("erf", ""),
    # special functions (nn.special)
    ("lgamma", ""), ("digamma", ""), ("erfinv", ""), ("i0", ""), ("special.i0e", ""), ("special.i1", ""),
    ("special.i1e", ""), ("special.ndtri", ""), ("special.log_ndtr", ""), ("special.erfcx", ""),
    ("nextafter", ""), ("frexp", ""), ("signal.windows.kaiser", ""), ("special.zeta", ""),
    ("special.bessel_j0", ""), ("special.bessel_j1", ""), ("special.bessel_y0", ""), ("special.bessel_y1", ""),
    ("special.spherical_bessel_j0", ""), ("special.modified_bessel_i0", ""), ("special.modified_bessel_i1", ""),
    ("special.modified_bessel_k0", ""), ("special.modified_bessel_k1", ""), ("special.scaled_modified_bessel_k0", ""),
    ("special.scaled_modified_bessel_k1", ""),
    *((f"special.{kind}_polynomial_{v}", "") for kind, vs in (("chebyshev", "tuvw"), ("shifted_chebyshev", "tuvw"),
                                                              ("hermite", ("h", "he")), ("laguerre", "l"), ("legendre", "p"))
      for v in vs),
    ("polygamma", "polygamma_n_0"), ("polygamma", "polygamma_n_1"), ("polygamma", "polygamma_n_2"),
    ("polygamma", "polygamma_n_3"), ("polygamma", "polygamma_n_4"), ("special.polygamma", "special_polygamma_n_0"),
    ("mvlgamma", "mvlgamma_p_1"), ("mvlgamma", "mvlgamma_p_3"), ("mvlgamma", "mvlgamma_p_5"),
    ("nn.functional.relu", ""), ("nn.functional.gelu", ""), ("nn.functional.silu", ""),
    ("nn.functional.hardswish", ""), ("nn.functional.hardsigmoid", ""),
    ("nn.functional.leaky_relu", ""), ("nn.functional.elu", ""),
    # bitwise, logical, comparisons, selection
    ("bitwise_and", ""), ("bitwise_or", ""), ("bitwise_xor", ""), ("bitwise_not", ""),
    ("logical_and", ""), ("logical_or", ""), ("logical_xor", ""), ("logical_not", ""),
    ("eq", ""), ("ne", ""), ("lt", ""), ("le", ""), ("gt", ""), ("ge", ""),
    ("where", ""), ("isnan", ""), ("isinf", ""), ("masked_fill", ""),
    # reductions and norms
    ("sum", ""), ("mean", ""), ("prod", ""), ("amax", ""), ("amin", ""),
    ("max", "reduction_with_dim"), ("min", "reduction_with_dim"),
    ("cumprod", ""), ("cummax", ""), ("cummin", ""), ("logcumsumexp", ""), ("masked.cumprod", ""),
    ("median", ""), ("nanmedian", ""), ("masked.median", ""), ("kthvalue", ""),
    ("dist", ""), ("cdist", ""), ("trace", ""), ("nn.functional.pdist", ""), ("nn.functional.bilinear", ""),
    ("argmax", ""), ("argmin", ""), ("any", ""), ("all", ""), ("cumsum", ""),
    ("var", ""), ("var", "unbiased"), ("std", ""), ("std", "unbiased"),
    ("softmax", ""), ("log_softmax", ""),
    ("softmax", "with_dtype"), ("log_softmax", "with_dtype"), ("nn.functional.softmin", "with_dtype"),
    ("native_layer_norm", ""),
    ("nn.functional.layer_norm", ""), ("nn.functional.group_norm", ""),
    ("nn.functional.instance_norm", ""), ("native_batch_norm", ""), ("_native_batch_norm_legit", ""),
    # contractions
    ("matmul", ""), ("mm", ""), ("bmm", ""), ("addmm", ""), ("baddbmm", ""), ("addmv", ""), ("addbmm", ""),
    ("nn.functional.linear", ""), ("nn.functional.conv1d", ""), ("nn.functional.conv2d", ""),
    ("nn.functional.conv_transpose1d", ""), ("nn.functional.conv_transpose2d", ""), ("nn.functional.conv3d", ""),
    ("nn.functional.conv_transpose3d", ""),
    # pooling
    ("nn.functional.max_pool2d", ""), ("nn.functional.max_pool1d", ""), ("nn.functional.max_unpool2d", ""), ("nn.functional.avg_pool2d", ""),
    ("nn.functional.adaptive_avg_pool2d", ""),
    ("nn.functional.adaptive_max_pool1d", ""), ("nn.functional.adaptive_max_pool2d", ""), ("nn.functional.grid_sample", ""),
    ("grid_sampler_2d", ""), ("grid_sampler_3d", ""), ("_upsample_bilinear2d_aa", ""),
    ("nn.functional.max_pool3d", ""), ("nn.functional.avg_pool3d", ""), ("nn.functional.adaptive_avg_pool3d", ""),
    ("nn.functional.adaptive_max_pool3d", ""),
    # indexing
    ("nn.functional.embedding", ""), ("nn.functional.embedding_bag", ""), ("unfold", ""), ("unfold_copy", ""), ("gather", ""), ("index_select", ""), ("take_along_dim", ""),
    ("flip", ""), ("index_put", ""), ("index_add", ""), ("index_copy", ""), ("masked_scatter", ""), ("put", ""),
    ("scatter", ""), ("scatter_add", ""),
    ("scatter_reduce", "sum"), ("scatter_reduce", "prod"), ("scatter_reduce", "mean"),
    ("scatter_reduce", "amax"), ("scatter_reduce", "amin"),
    ("index_reduce", "prod"), ("index_reduce", "mean"), ("index_reduce", "amax"), ("index_reduce", "amin"),
    # sorting and counting (mixture-of-experts routing)
    ("sort", ""), ("argsort", ""), ("msort", ""), ("topk", ""), ("histc", ""),
    ("bucketize", ""), ("searchsorted", ""), ("isin", ""),
    # movement
    ("cat", ""), ("stack", ""), ("permute", ""), ("transpose", ""), ("reshape", ""), ("view", ""),
    ("squeeze", ""), ("unsqueeze", ""), ("expand", ""), ("narrow", ""), ("split", ""),
    ("chunk", ""), ("select", ""), ("unbind", ""), ("nn.functional.pad", "constant"),
    # the `_copy` variants (what functionalisation emits)
    ("diagonal", ""), ("diag", ""), ("diagonal_scatter", ""), ("linalg.diagonal", ""), ("linalg.vander", ""),
    ("diagonal_copy", ""),
    ("view_copy", ""), ("permute_copy", ""), ("unbind_copy", ""), ("narrow_copy", ""), ("as_strided_copy", ""),
    # creation and casts
    ("full_like", ""), ("zeros_like", ""), ("ones_like", ""), ("arange", ""), ("to", ""),
]



@dataclass(frozen=True)
class Bug:
    """A real sparcc bug. `reproducer` is a few lines of Python that exit 0
    once it is fixed (run in a subprocess: some of them crash the process)
    and until then fail with output matching `error`;
    `affects(op, dtype, sample)` (op: "name" or "name.variant") picks the OpInfo samples it breaks, which
    the OpInfo tests leave out until the entry is removed."""

    error: str  # a regex that "rc=N\n" + the failing reproducer's stderr matches
    reason: str
    reproducer: str
    affects: Callable[[str, torch.dtype, Any], bool]


def _op_samples(*ops: str, when: Callable[[Any], bool] = lambda s: True) -> Callable[[str, torch.dtype, Any], bool]:
    return lambda op, dtype, sample: op in ops and when(sample)


# Known sparcc bugs: strict xfails (test_known_bug), so that a fix makes
# them fail until their entry goes.
KNOWN_BUGS: dict[str, Bug] = {
    # (Zero-size inputs and results are rejected with a message, test_ops_dtypes;
    # `_samples` leaves out the OpInfo samples that have them.)
    "tie_order": Bug(
        r"AssertionError: Tensor-likes are not equal",
        "equal values: sparcc sorts stably; PyTorch's unstable sort of dims over 16 elements and its topk "
        "order them as std::sort / std::nth_element leave them (the values agree, the indices differ)",
        "check(lambda x: torch.topk(x, 1), torch.ones(4))\n"
        "check(lambda x: torch.sort(x), torch.arange(40).remainder(3).float())",
        lambda op, dtype, sample: op in ("sort", "argsort", "msort", "topk", "kthvalue", "median", "nanmedian",
                                         "masked.median")
        and sample.input.unique().numel() < sample.input.numel(),
    ),
}

# (op, dtype) pairs left out, and why.
DROPPED: dict[tuple[str, torch.dtype], str] = {
    # PyTorch's vectorised kernel rounds the float32 quotient to bfloat16
    # before truncating, its scalar tail does not: -3.890625 / -0.216796875
    # (17.95) gives 18 in a tensor of 8 elements and 17 in a tensor of 1;
    # sparcc gives 17. Eager is no reference here.
    ("div.trunc_rounding", torch.bfloat16): "PyTorch's own result depends on the tensor's length",
    # the same for float16, and for floor division, whose vectorised kernel
    # rounds fmod, a - fmod and the quotient to the type (over 20000 random
    # values: 89 floor and 702 trunc results differ from rounding once)
    ("div.trunc_rounding", torch.float16): "PyTorch's own result depends on the tensor's length",
    ("div.floor_rounding", torch.float16): "PyTorch's own result depends on the tensor's length",
    ("floor_divide", torch.float16): "PyTorch's own result depends on the tensor's length",
}

# Samples sparcc rejects by design: name -> [(predicate(sample), message
# regex)]. They are compiled alone and must raise sparcc.SparccError.
REJECTED: dict[str, list[tuple[Callable[[Any], bool], str]]] = {
    **{name: [(lambda s: s.kwargs.get("max_norm") is not None, r"aten\.embedding_renorm")]
       for name in ("nn.functional.embedding", "nn.functional.embedding_bag")},
    # bicubic interpolation
    "nn.functional.grid_sample": [(lambda s: s.kwargs.get("mode") == "bicubic", r"mode='bicubic' is not supported")],
    "grid_sampler_2d": [(lambda s: s.args[1] == 2, r"mode='bicubic' is not supported")],
    # a tensor `start` is a data-dependent offset (torch's training-IR trace
    # fails on it; the one-trace export records it as a tensor's value read)
    "narrow": [(lambda s: any(isinstance(a, torch.Tensor) for a in s.args),
                r"torch\.export could not capture|reads a tensor's value as a Python number")],
}


OPS = {(op.name, op.variant_test_name): op for op in op_db}


def _tensors(sample: Any) -> list[torch.Tensor]:
    return [t for t in pytree.tree_leaves((sample.input, sample.args, sample.kwargs)) if isinstance(t, torch.Tensor)]


def _rejection(name: str, sample: Any) -> str | None:
    for predicate, message in REJECTED.get(name, ()):
        if predicate(sample):
            return message
    return None


def _samples(op: Any, dtype: torch.dtype, fast: bool) -> Iterator[Any]:
    """The samples to compile: eager PyTorch accepts them, and no tensor in
    them or in their result is empty (ZERO_SIZE); in the fast tier, the
    first FAST_SAMPLES of them."""
    n = 0
    for sample in op.sample_inputs("cpu", dtype, requires_grad=False):
        if fast and n >= FAST_SAMPLES:
            return
        try:
            with torch.no_grad():
                result = op(sample.input, *sample.args, **sample.kwargs)
        except Exception:  # PyTorch rejects it itself: nothing to compare with
            continue
        results = [t for t in pytree.tree_leaves(result) if isinstance(t, torch.Tensor)]
        if any(t.numel() == 0 for t in _tensors(sample) + results):
            continue
        n += 1
        yield sample


def _batched(op: Any, samples: list[Any]) -> tuple[Callable[..., tuple[Any, ...]], list[torch.Tensor]]:
    """One function of every tensor in `samples`, returning every sample's
    result; everything else is captured in its closure."""
    calls, tensors = [], []
    for sample in samples:
        leaves, spec = pytree.tree_flatten((sample.input, sample.args, sample.kwargs))
        slots = []
        for leaf in leaves:
            if isinstance(leaf, torch.Tensor):
                slots.append(("arg", len(tensors)))
                tensors.append(leaf)
            else:
                slots.append(("const", leaf))
        calls.append((spec, slots))

    def batched(*args: torch.Tensor) -> tuple[Any, ...]:
        results = []
        for spec, slots in calls:
            leaves = [args[v] if kind == "arg" else v for kind, v in slots]
            x, a, kw = pytree.tree_unflatten(leaves, spec)
            results.append(op(x, *a, **kw))
        return tuple(results)

    batched.__name__ = f"opinfo_{op.formatted_name}"
    return batched, tensors


def _tolerance(dtype: torch.dtype, want: torch.Tensor) -> tuple[float, float]:
    if not dtype.is_floating_point and not dtype.is_complex:
        return 0.0, 0.0
    unit = {torch.float32: 1e-4, torch.float64: 1e-10, torch.bfloat16: 2 * 2.0**-7, torch.float16: 2 * 2.0**-10,
            torch.complex64: 1e-4, torch.complex128: 1e-10}[dtype]
    finite = want[torch.isfinite(want)]
    scale = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
    return unit, unit * scale


def _compare(got: Any, want: Any, where: str) -> None:
    got_leaves, got_spec = pytree.tree_flatten(got)
    want_leaves, want_spec = pytree.tree_flatten(want)
    assert got_spec == want_spec, f"{where}: output structure {got_spec} != {want_spec}"
    for i, (g, w) in enumerate(zip(got_leaves, want_leaves)):
        if not isinstance(w, torch.Tensor):
            assert g == w, f"{where}, output {i}: {g!r} != {w!r}"
            continue
        assert isinstance(g, torch.Tensor), f"{where}, output {i}: got {type(g).__name__}"
        assert g.shape == w.shape, f"{where}, output {i}: shape {list(g.shape)} != {list(w.shape)}"
        assert g.dtype == w.dtype, f"{where}, output {i}: dtype {g.dtype} != {w.dtype}"
        rtol, atol = _tolerance(w.dtype, w)
        torch.testing.assert_close(
            g, w, rtol=rtol, atol=atol, equal_nan=True, msg=lambda m, i=i: f"{where}, output {i}: {m}"
        )


def run_op(name: str, variant: str, dtype: torch.dtype, fast: bool) -> int:
    """Compiles and checks `name`'s samples at `dtype`; returns how many were compared."""
    op = OPS[(name, variant)]
    label = f"{name}.{variant}" if variant else name
    samples, rejected, bugs = [], [], set()
    for sample in _samples(op, dtype, fast):
        affected = [key for key, bug in KNOWN_BUGS.items() if bug.affects(label, dtype, sample)]
        if affected:
            bugs.update(affected)
            continue
        message = _rejection(name, sample)
        (samples if message is None else rejected).append((sample, message))
    for sample, message in rejected[:REJECTED_CHECKS]:  # one code path: a few show it
        fn, tensors = _batched(op, [sample])
        with pytest.raises(sparcc.SparccError, match=message):
            sparcc.jit(fn)(*tensors)
    if not samples:
        if bugs and not rejected:
            pytest.skip(f"every sample is affected by KNOWN_BUGS {sorted(bugs)}")
        assert rejected, f"{label}: no sample at {dtype}"
        return 0
    for first in range(0, len(samples), CHUNK):  # one compile per chunk (max_pool2d has 1440 samples)
        chunk = samples[first:first + CHUNK]
        fn, tensors = _batched(op, [s for s, _ in chunk])
        with torch.no_grad():
            want = fn(*tensors)
        got = sparcc.jit(fn)(*tensors)
        assert len(got) == len(want)
        for k, ((sample, _), g, w) in enumerate(zip(chunk, got, want)):
            _compare(g, w, f"sample {first + k} {sample.summary()}")
    return len(samples)


def _params(dtypes: tuple[torch.dtype, ...]) -> Iterator[Any]:
    for name, variant in ALLOWLIST:
        declared = OPS[(name, variant)].supported_dtypes("cpu")
        for dtype in dtypes:
            label = f"{name}.{variant}" if variant else name
            if dtype not in declared or (label, dtype) in DROPPED:
                continue
            label += "-" + str(dtype).removeprefix("torch.")
            yield pytest.param(name, variant, dtype, id=label)


@pytest.mark.parametrize("name,variant,dtype", list(_params((torch.float32,))))
def test_opinfo(name: str, variant: str, dtype: torch.dtype) -> None:
    run_op(name, variant, dtype, fast=True)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SPARCC_OPINFO", "").strip().lower() != "all",
                    reason="every sample of every dtype runs with SPARCC_OPINFO=all (longer than CI's time limit)")
@pytest.mark.parametrize("name,variant,dtype", list(_params(DTYPES)))
def test_opinfo_all_samples(name: str, variant: str, dtype: torch.dtype) -> None:
    run_op(name, variant, dtype, fast=False)


REPRODUCER_PRELUDE = """
import torch, torch.nn.functional as F, sparcc
def check(fn, *args):
    want, got = fn(*args), sparcc.jit(fn)(*args)
    torch.testing.assert_close(got, want, equal_nan=True)
"""


class ReproducerFailed(AssertionError):
    pass


@pytest.mark.parametrize(
    "bug",
    [
        pytest.param(bug, id=key, marks=pytest.mark.xfail(strict=True, raises=ReproducerFailed, reason=bug.reason))
        for key, bug in KNOWN_BUGS.items()
    ],
)
def test_known_bug(bug: Bug) -> None:
    done = subprocess.run(
        [sys.executable, "-c", REPRODUCER_PRELUDE + bug.reproducer], capture_output=True, text=True, timeout=300
    )
    if done.returncode == 0:
        return  # fixed: the strict xfail fails, remove the entry
    output = f"rc={done.returncode}\n{done.stderr}"
    # a reproducer that fails some other way is no evidence of this bug
    assert re.search(bug.error, output), f"the reproducer failed without matching {bug.error!r}:\n{output[-2000:]}"
    raise ReproducerFailed(f"{bug.reason}\n{output[-2000:]}")
