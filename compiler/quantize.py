"""
Weight quantisation specs: which layers get which number format.

    sparcc.jit(model, quant={"*.mlp.*": "nf4:g64", "lm_head": "int8:channel", "*": "sf4:g128"})
    sparcc compile ... --quant "*.mlp.*=nf4:g64" --quant "*=sf4:g128"

Keys are glob patterns (fnmatch) over layer names: the module path of a
Linear's weight (`encoder.0.fc1` for `encoder.0.fc1.weight`). The first
pattern that matches a layer, in the order given, picks its format; layers
that no pattern matches stay float32. Values are format specs parsed by
`sparcc.dialects.quant_formats.parse_format` ("nf4:g64", "int4:g128:asym",
"mxfp4", ...). Only the weights of linear layers are quantised (activations
stay float32): weight-only quantisation.

sparcc quantises the weights itself (round to nearest, the format's scales)
and reports, per layer, the mean squared error and the SQNR of the weights.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sparcc.errors import SparccError


@dataclass(frozen=True)
class QuantSpec:
    """An ordered list of (glob pattern, format spec)."""

    rules: tuple[tuple[str, str], ...]

    def format_for(self, layer: str) -> str | None:
        for pattern, spec in self.rules:
            if fnmatch.fnmatchcase(layer, pattern):
                return spec
        return None

    def as_dict(self) -> dict[str, str]:
        return dict(self.rules)


def parse_quant_spec(spec: Mapping[str, str] | str | QuantSpec | None, where: str = "quant") -> QuantSpec | None:
    """A dict {pattern: format}, a JSON object, or "pattern=format[;...]";
    each format is checked now, so a bad one fails before compiling."""
    from sparcc.dialects.quant_formats import parse_format

    return parse_layer_rules(spec, where, lambda fmt: parse_format(fmt).spec, "nf4:g64")


def parse_layer_rules(
    spec: Mapping[str, str] | str | QuantSpec | None,
    where: str,
    canonical: Callable[[str], str],
    example: str,
) -> QuantSpec | None:
    """Ordered (glob, value) rules from a dict, a JSON object or "pattern=value[;...]";
    `canonical` checks each value (ValueError with the reason) and normalises it."""
    if spec is None or isinstance(spec, QuantSpec):
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{"):
            try:
                spec = json.loads(text)
            except ValueError as e:
                raise SparccError(f"{where}: not a JSON object of pattern -> format: {e}") from None
        else:
            rules = []
            for part in filter(None, (p.strip() for p in text.split(";"))):
                pattern, eq, fmt = part.partition("=")
                if not eq or not pattern.strip() or not fmt.strip():
                    raise SparccError(f"{where}: '{part}' is not of the form PATTERN=FORMAT, e.g. '*.fc1={example}'")
                rules.append((pattern.strip(), fmt.strip()))
            spec = dict(rules)
    if not isinstance(spec, Mapping) or not spec:
        raise SparccError(f"{where}: expected a mapping of layer-name patterns to formats, e.g. {{'*': '{example}'}}")
    rules = []
    for pattern, fmt in spec.items():
        if not isinstance(pattern, str) or not isinstance(fmt, str):
            raise SparccError(f"{where}: {pattern!r}: {fmt!r}: patterns and formats must be strings")
        try:
            rules.append((pattern, canonical(fmt)))
        except ValueError as e:
            raise SparccError(f"{where}: layer pattern '{pattern}': {e}") from None
    return QuantSpec(tuple(rules))


def layer_of(weight_name: str) -> str:
    """`encoder.0.fc1.weight` -> `encoder.0.fc1`."""
    return weight_name.removesuffix(".weight")


@dataclass
class LayerReport:
    layer: str
    format: str
    shape: tuple[int, ...]
    mse: float
    sqnr_db: float
    bytes_f32: int
    bytes_quantized: int
    sparsity: str | None = None  # the sparse format of a sparse x quant layer

    def as_dict(self) -> dict[str, Any]:
        out = {
            "layer": self.layer, "format": self.format, "shape": list(self.shape),
            "mse": self.mse, "sqnr_db": self.sqnr_db,
            "bytes_f32": self.bytes_f32, "bytes_quantized": self.bytes_quantized,
            "bits_per_weight": 32 * self.bytes_quantized / max(self.bytes_f32, 1),
        }
        if self.sparsity is not None:
            out["sparsity"] = self.sparsity
        return out


def weight_error(w: np.ndarray, deq: np.ndarray) -> tuple[float, float]:
    """(MSE, SQNR in dB) of a dequantised weight against the original."""
    w64, d64 = w.astype(np.float64), deq.astype(np.float64)
    noise = float(np.sum((w64 - d64) ** 2))
    signal = float(np.sum(w64**2))
    mse = noise / max(w.size, 1)
    sqnr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    return mse, sqnr


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).contiguous().numpy()


def apply_quant(imported: Any, spec: QuantSpec | None, target: Any = None) -> list[LayerReport]:
    """Rewrites the chosen linear layers of `imported` (an ImportedProgram)
    to quantised ones and puts their storage into its weight store:
    buffers named `<name>#<role>` (the CPU's: `#codes`, `#scales`, `#zeros`,
    `#lut`), laid out by `target` (a sparcc.backends.Target, default the
    CPU's) for its kernels. Returns one report per quantised weight."""
    from sparcc.backends import get_target
    from sparcc.dialects import quant
    from sparcc.dialects.quant_formats import dequantize
    from sparcc.passes.quantize_weights import quantize_weights

    if spec is None:
        return []
    target = get_target("cpu", available=False) if target is None else target
    quantize_weights(imported.module, spec.format_for)
    reports = []
    seen: set[str] = set()
    for op in imported.module.walk():
        if not isinstance(op, quant.WeightOp):
            continue
        name = op.weight_name
        typ = op.result.type
        key = f"{name}@{typ.format.spec.data}"
        if key in seen:
            continue
        seen.add(key)
        w = to_numpy(imported.weights[name])
        if typ.is_sparse:  # pruned and quantised by sparsify.apply_sparsity: its IR storage is in the store
            from sparcc.dialects import sparse_quant

            q = sparse_quant.from_buffers(typ.sparsity.format, typ.format.format, w.shape,
                                          lambda role: imported.weights[f"{name}#sq.{role}"].numpy())
            deq = sparse_quant.dequantize(q)
        else:
            q = typ.format.format.quantize(w)
            deq = dequantize(q).reshape(w.shape)
        mse, sqnr = weight_error(w, deq)
        stored = target.quant_store(name, typ, q)
        for store, data in stored.items():
            imported.weights[store] = torch.from_numpy(np.ascontiguousarray(data).copy())
        if typ.is_sparse:  # the bytes of the target's layout
            nbytes = sum(np.asarray(d).nbytes for d in stored.values())
            reports.append(LayerReport(layer_of(name), typ.format.spec.data, tuple(w.shape), mse, sqnr,
                                       w.size * 4, nbytes, typ.sparsity.spec.data))
            continue
        reports.append(LayerReport(layer_of(name), q.spec, tuple(w.shape), mse, sqnr, w.size * 4, q.nbytes))
    return reports
