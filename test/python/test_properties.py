"""Property tests (hypothesis) of the spec parsers and the format encoders.

- `parse_quant_spec` / `parse_sparsity_spec` (what --quant/--sparsity and the
  `quant=`/`sparsity=` arguments go through): any string, any JSON, any dict
  either parses or raises SparccError, nothing else; what parses, parses
  again from its canonical form to the same thing.
- The format parsers below them (`quant_formats.parse_format`,
  `sparse_formats.parse_format`, `parse_prune`): any string parses or raises
  ValueError (which the spec parsers turn into SparccError).
- The encoders: any finite float matrix goes through every quant format and
  back within the format's error bound (or ValueError for NaN/Inf), and through
  every sparse format it fits exactly.
"""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparcc.dialects import quant_formats, sparse_formats
from sparcc.errors import SparccError
from sparcc.quantize import parse_quant_spec
from sparcc.sparsify import parse_sparsity_spec

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

QUANT_WORDS = ["int8", "int4", "nf4", "sf4", "apot4", "e2m1", "e2m1s", "mxfp4", "fp8_e4m3", "fp8_e5m2", "lp",
               "tensor", "channel", "none", "sym", "asym", "g8", "g32", "g64", "g4096", "g0", "g3", "g8192",
               "nu=5", "nu=0", "nu=-1", "nu=nan", "nu=inf", "n=4", "es=1", "rs=2", "sf=0", "n=99", "es=-1", "x=1"]
SPARSE_WORDS = ["unstructured", "0.5", "0.9", "1.5", "-0.1", "nan", "2", "4", "0", "99999", "1", "8", "block",
                "2x2", "0x0", "99999x99999", "vnm", "nm", "tasd", "auto", "dense", "csr", "csc", "coo", "dcsr",
                "ell", "bsr", "bcsr", "levels=(dense,compressed)", "levels=(", "d0", "d1/4", "crd=8", "pos=16"]


def spec_strings(words: list[str]) -> st.SearchStrategy[str]:
    """Strings near the grammar (words joined by its separators) and arbitrary text."""
    sep = st.sampled_from([":", "@", "+", ",", "x", "=", ";", "", " "])
    near = st.lists(st.tuples(st.sampled_from(words), sep), min_size=1, max_size=6).map(
        lambda parts: "".join(w + s for w, s in parts)
    )
    return st.one_of(near, st.text(max_size=40), st.text(alphabet=string.printable, max_size=40))


def rules(words: list[str]) -> st.SearchStrategy[object]:
    """What a user passes as quant=/sparsity=: strings, JSON text, dicts, other objects."""
    pattern = st.one_of(st.sampled_from(["*", "fc1", "*.fc1", "", "[", "a=b"]), st.text(max_size=8))
    value = spec_strings(words)
    text = st.one_of(
        st.tuples(pattern, value).map(lambda pv: f"{pv[0]}={pv[1]}"),
        st.lists(st.tuples(pattern, value), max_size=3).map(lambda rs: ";".join(f"{p}={v}" for p, v in rs)),
        st.dictionaries(pattern, value, max_size=3).map(json.dumps),
        st.text(max_size=30),
    )
    junk = st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.none()), max_size=2))
    return st.one_of(text, st.dictionaries(pattern, value, max_size=3), junk)


@SETTINGS
@given(rules(QUANT_WORDS))
def test_quant_spec_parses_or_raises_sparcc_error(spec: object) -> None:
    try:
        parsed = parse_quant_spec(spec)
    except SparccError:
        return
    if parsed is not None:
        assert parse_quant_spec(parsed.as_dict()) == parsed  # canonical values parse to themselves


@SETTINGS
@given(rules(SPARSE_WORDS))
def test_sparsity_spec_parses_or_raises_sparcc_error(spec: object) -> None:
    try:
        parsed = parse_sparsity_spec(spec)
    except SparccError:
        return
    if parsed is not None:
        assert parse_sparsity_spec(parsed.as_dict()) == parsed


@SETTINGS
@given(spec_strings(QUANT_WORDS))
def test_quant_format_parses_or_raises_value_error(text: str) -> None:
    try:
        fmt = quant_formats.parse_format(text)
    except ValueError:
        return
    assert quant_formats.parse_format(fmt.spec).spec == fmt.spec


@SETTINGS
@given(spec_strings(SPARSE_WORDS))
def test_sparse_format_and_prune_parse_or_raise_value_error(text: str) -> None:
    try:
        fmt = sparse_formats.parse_format(text)
    except ValueError:
        pass
    else:
        assert sparse_formats.parse_format(fmt.spec).spec == fmt.spec
    try:
        sparse_formats.parse_prune(text)
    except ValueError:
        pass


def test_huge_blocks_are_a_message_not_a_memory_error() -> None:
    """bsr:99999x99999 of a small weight padded it to 37 GiB (MemoryError)."""
    for spec in ("*=unstructured:0.5@bsr:99999x99999", "*=block:99999x99999:0.5", "*=vnm:99999:1:99999",
                 "*=1:99999", "*=unstructured:0.5@levels=(d0/99999:dense,d1:compressed)"):
        with pytest.raises(SparccError, match="4096"):
            parse_sparsity_spec(spec)


QUANT_FORMATS = ["int8:channel", "int8:tensor", "int4:g32", "int4:g8:asym", "nf4:g64", "sf4:g32", "apot4:g8",
                 "e2m1:g32", "e2m1s:g32", "mxfp4", "fp8_e4m3", "fp8_e5m2", "lp:n=4,es=1,rs=2,sf=0"]
matrices = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
    elements=st.floats(-1e4, 1e4, width=32, allow_subnormal=True),
)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(QUANT_FORMATS), matrices)
def test_quant_encoders_round_trip_within_the_block_range(spec: str, w: np.ndarray) -> None:
    fmt = quant_formats.parse_format(spec)
    back = fmt.roundtrip(w)
    assert back.shape == w.shape and back.dtype == np.float32 and np.isfinite(back).all()
    if fmt.granularity != "none":  # scaled: no value leaves its block's range by more than the block's max
        assert np.abs(back).max() <= 2 * np.abs(w).max() + 1e-30


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(QUANT_FORMATS), st.sampled_from([np.nan, np.inf, -np.inf]))
def test_quant_encoders_reject_nan_and_inf(spec: str, bad: float) -> None:
    w = np.ones((4, 32), np.float32)
    w[1, 3] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        quant_formats.parse_format(spec).quantize(w)


SPARSE_FORMATS = ["csr", "csc", "coo", "dcsr", "ell", "bsr:2x2", "bsr:4x1", "2:4", "vnm:2:2:4"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SPARSE_FORMATS), matrices, st.floats(0, 1))
def test_sparse_encoders_are_exact_or_raise_value_error(spec: str, w: np.ndarray, sparsity: float) -> None:
    """encode/decode of a pruned matrix is exact; a matrix the format cannot
    hold (a 2:4 format given 3 nonzeros in a group) raises ValueError."""
    w = sparse_formats.prune(w, f"unstructured:{sparsity}")
    try:
        stored = sparse_formats.encode(w, spec)
    except ValueError:
        return
    np.testing.assert_array_equal(sparse_formats.decode(stored), w)
