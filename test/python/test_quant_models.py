"""Quantised models end to end: sparcc.jit(model, quant=...) against a
PyTorch model whose weights were dequantised explicitly by the numpy
reference (sparcc.dialects.quant_formats), plus the spec's error cases."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import sparcc
import torch
from sparcc.dialects.quant_formats import dequantize, parse_format
from sparcc.driver import compile_program
from sparcc.errors import SparccError
from sparcc.quantize import parse_quant_spec, weight_error
from torch import nn


class Block(nn.Module):
    def __init__(self, d: int = 96, hidden: int = 160) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d, bias=False)
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fc2(torch.nn.functional.gelu(self.fc1(x)))) + x)


def _reference(model: nn.Module, formats: dict[str, str]) -> nn.Module:
    """A copy of `model` whose chosen Linear weights are replaced by the
    reference quantiser's dequantised values."""
    ref = copy.deepcopy(model)
    for layer, spec in formats.items():
        lin = ref.get_submodule(layer)
        fmt = parse_format(spec)
        w = lin.weight.detach().numpy()
        lin.weight.data = torch.from_numpy(dequantize(fmt.quantize(w)).reshape(w.shape).astype(np.float32))
    return ref


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    # float32 sums in another order: relative to the output's magnitude
    scale = float(want.abs().max()) + 1e-6
    torch.testing.assert_close(got, want, atol=2e-5 * scale, rtol=1e-4)


SPECS = [
    "int8:channel", "int8:g32:asym", "int4:g32", "int4:g64:asym", "nf4:g32", "sf4:g64",
    "apot4:g32", "e2m1:g32", "e2m1s:g32", "mxfp4", "fp8_e4m3:channel", "fp8_e5m2:g32",
    "lp:n=4,es=1,rs=2,sf=0:g32", "int8:tensor", "int4:tensor:asym", "fp8_e4m3:none",
    "lp:n=6,es=1,rs=3,sf=0:g32",
]


@pytest.mark.parametrize("spec", SPECS)
def test_every_format_matches_the_dequantised_reference(spec: str) -> None:
    torch.manual_seed(0)
    model = Block().eval()
    x = torch.randn(2, 7, 96)
    program = compile_program(model, [x], quant={"*": spec})
    layers = {r["layer"]: r["format"] for r in program.report["quant"]["layers"]}
    assert layers == {"fc1": parse_format(spec).spec, "fc2": parse_format(spec).spec, "head": parse_format(spec).spec}
    ref = _reference(model, dict.fromkeys(("fc1", "fc2", "head"), spec))
    with torch.no_grad():
        _close(program(x), ref(x))


def test_globs_pick_formats_in_order_and_unmatched_layers_stay_float() -> None:
    torch.manual_seed(1)
    model = Block().eval()
    x = torch.randn(64, 96)
    program = sparcc.jit(model, quant={"fc*": "nf4:g32", "fc2": "int8:channel"})
    got = program(x)
    ref = _reference(model, {"fc1": "nf4:g32", "fc2": "nf4:g32"})  # fc2 matched "fc*" first
    with torch.no_grad():
        _close(got, ref(x))
    report = next(iter(program.cache.values())).report["quant"]
    assert [(r["layer"], r["format"]) for r in report["layers"]] == [("fc1", "nf4:g32"), ("fc2", "nf4:g32")]
    assert "nn.weight @head.weight" in next(iter(program.cache.values())).ir["nn"]  # head stays f32


def test_report_errors_are_the_reference_errors() -> None:
    torch.manual_seed(2)
    model = Block().eval()
    x = torch.randn(3, 96)
    program = compile_program(model, [x], quant={"fc1": "int4:g32"})
    (layer,) = program.report["quant"]["layers"]
    w = model.fc1.weight.detach().numpy()
    fmt = parse_format("int4:g32")
    mse, sqnr = weight_error(w, dequantize(fmt.quantize(w)).reshape(w.shape))
    assert layer["mse"] == pytest.approx(mse) and layer["sqnr_db"] == pytest.approx(sqnr)
    assert layer["bytes_quantized"] < layer["bytes_f32"] / 5
    with torch.no_grad():
        want = model(x)
        err = float((program(x) - want).abs().max())
    assert program.report["quant"]["output_max_abs_err"] == pytest.approx(err, rel=1e-5)
    assert 0 < program.report["quant"]["output_rel_l2_err"] < 0.5


def test_vector_input_and_parallel_gemv() -> None:
    torch.manual_seed(3)
    lin = nn.Linear(512, 384).eval()
    x = torch.randn(512)
    for threads in (1, 2):
        program = compile_program(lin, [x], quant={"*": "nf4:g64"}, threads=threads)
        ref = _reference(nn.Sequential(lin), {"0": "nf4:g64"})
        with torch.no_grad():
            _close(program(x), ref(x))


@pytest.mark.parametrize(
    "quant, message",
    [
        ({"*": "nf5"}, "unknown format 'nf5'"),
        ({"*": "int4:g48"}, "g48"),
        ("fc1", "is not of the form PATTERN=FORMAT"),
        ({}, "expected a mapping"),
    ],
)
def test_bad_specs_fail_before_compiling(quant, message) -> None:
    with pytest.raises(SparccError, match=message):
        sparcc.jit(Block(), quant=quant)


def test_string_specs_parse_like_dicts() -> None:
    assert parse_quant_spec("fc1=nf4:g64; *=int8:channel") == parse_quant_spec({"fc1": "nf4:g64", "*": "int8:channel"})
    assert parse_quant_spec('{"*": "mxfp4"}').rules == (("*", "mxfp4"),)


def test_batched_input_then_elementwise_op() -> None:
    # regression: the kernel's result was reshaped after the call, and the CPU
    # schedule of the elementwise op reading it never finished
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 48), nn.GELU()).eval()
    x = torch.randn(3, 4, 64)
    got = sparcc.jit(model, quant={"0": "int8:channel"})(x)
    _close(got, _reference(model, {"0": "int8:channel"})(x))
