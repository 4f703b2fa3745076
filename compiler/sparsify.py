"""
Weight sparsity specs: which linear layers are pruned, to what, stored how.

    sparcc.jit(model, sparsity={"encoder.*.fc1": "2:4", "*": "unstructured:0.9"})
    sparcc compile ... --sparsity "encoder.*.fc1=2:4" --sparsity "*=unstructured:0.9"

Keys are glob patterns over layer names (`encoder.0.fc1` for the weight
`encoder.0.fc1.weight`); the first pattern that matches a layer wins, and
layers that no pattern matches stay dense. A value is

    [auto:]PRUNE[@FORMAT]  |  [auto:]tasd:PRUNE+PRUNE+...  |  dense

PRUNE is a magnitude-pruning spec of `sparse_formats.prune`
(`unstructured:0.9`, `2:4`, `nm:1:8`, `vnm:4:2:4`, `block:4x4:0.9`) and
FORMAT the storage format (`csr`, `bsr:4x4`, `ell`, ...; by default csr for
unstructured, N:M / vnm for those patterns, bsr:RxC for blocks), or `block`:
after pruning, the block size of fewest stored bytes among csr (1x1) and
bsr:RxC candidates (sparse_formats.choose_block; the report lists each). `tasd:`
decomposes the weight greedily into a sum of structured parts (each part
prunes what the previous ones left; `tasd:2:4+1:8`) and computes x @ W^T as
the sum of the parts' kernels. `dense` keeps a layer dense (to exclude it
from a later, wider pattern).

A layer that a `quant` spec also matches is sparse *and* quantised: it is
pruned, stored in the sparse format, and the stored values are quantised
(dialects/sparse_quant.py: quant groups run over the kept values of a row).
Its weight is `!quant.tensor<NxK, #quant.format<Q>, #sparse.format<S>>`.
Only combinations that the target has a kernel for are taken (the CPU: 2:4
with a 4-bit format in groups of 32 or more kept values, e.g. `2:4` with
`nf4:g64`); any other combination is one error naming the layer and both
specs. Such a layer is reported in both reports.

Without `auto:` the layer runs sparse even where sparcc predicts it slower
than dense (the report says so); with `auto:` such a layer is pruned all
the same but runs through the dense code, and the report says why.

sparcc prunes the weights itself and reports, per layer, the density, the
stored bytes, the weight's relative error and the predicted speed against
dense; the driver adds the output error against the dense model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sparcc.errors import SparccError
from sparcc.quantize import QuantSpec, layer_of, parse_layer_rules, to_numpy

@dataclass(frozen=True)
class LayerSparsity:
    """One parsed value of a sparsity spec."""

    parts: tuple[str, ...]  # prune specs; one unless TASD
    formats: tuple[str, ...]  # storage format per part
    auto: bool = False
    tasd: bool = False

    @property
    def dense(self) -> bool:
        return not self.parts

    def __str__(self) -> str:
        if self.dense:
            return "dense"
        head = "auto:" if self.auto else ""
        if self.tasd:
            return head + "tasd:" + "+".join(self.parts)
        from sparcc.dialects.sparse_formats import tasd_format

        fmt = "" if self.formats[0] == tasd_format(self.parts[0]) else f"@{self.formats[0]}"
        return f"{head}{self.parts[0]}{fmt}"


def parse_value(text: str, target: Any = None) -> LayerSparsity:
    """One value of a sparsity spec (module docstring); ValueError naming what
    is wrong. With a target (sparcc.backends.Target), a storage format that
    none of its kernels takes is wrong too."""
    from sparcc.dialects.sparse_formats import (
        encode,
        parse_format,
        parse_prune,
        prune,
        tasd_format,
    )

    value = text.strip()
    if value.lower() == "dense":
        return LayerSparsity((), ())
    auto = value.lower().startswith("auto:")
    if auto:
        value = value[5:]
    tasd = value.lower().startswith("tasd:")
    if tasd:
        parts = [p.strip() for p in value[5:].split("+")]
        if len(parts) < 1 or not all(parts):
            raise ValueError(f"'{text}': expected tasd:PRUNE+PRUNE+..., e.g. tasd:2:4+1:8")
        formats = []
        for p in parts:
            if "@" in p:
                raise ValueError(f"'{text}': TASD parts take their formats from their patterns (no @FORMAT)")
            formats.append(tasd_format(p))
    else:
        prune_spec, at, fmt = value.partition("@")
        parts = [prune_spec.strip()]
        formats = [fmt.strip() if at else tasd_format(parts[0])]
    canon_parts, canon_formats = [], []
    for p, f in zip(parts, formats):
        parse_prune(p)  # ValueError with the reason
        if f.lower() == "block":  # chosen per weight after pruning (choose_format)
            canon_parts.append(p.lower())
            canon_formats.append("block")
            continue
        fmt = parse_format(f)
        if target is not None:
            target.sparse_kind(fmt)  # ValueError when no kernel takes it
        # a structured storage format holds only matching pruning: try it on a small matrix
        probe = prune(np.random.default_rng(0).standard_normal((16, 32)).astype(np.float32), p)
        try:
            encode(probe, fmt)
        except ValueError:
            raise ValueError(f"'{text}': pruning '{p}' does not give the pattern that format '{fmt.spec}' stores") from None
        canon_parts.append(p.lower())
        canon_formats.append(fmt.spec)
    return LayerSparsity(tuple(canon_parts), tuple(canon_formats), auto, tasd)


def choose_format(pruned: np.ndarray) -> tuple[str, list[dict[str, Any]]]:
    """`@block`: the storage format of fewest bytes for a pruned weight, csr or
    bsr:RxC (sparse_formats.choose_block), and each candidate's cost."""
    from sparcc.dialects.sparse_formats import choose_block

    r, c, costs = choose_block(pruned)
    table = [{"block": f"{x.block[0]}x{x.block[1]}", "fill": x.fill, "bytes": x.bytes} for x in costs]
    return ("csr" if (r, c) == (1, 1) else f"bsr:{r}x{c}"), table


def parse_sparsity_spec(spec: Any, target: Any = None, where: str = "sparsity") -> QuantSpec | None:
    """A dict {pattern: value}, a JSON object, or "pattern=value[;...]"; each value
    is checked now (parse_value, against `target`'s kernels), so a bad one
    fails before compiling."""
    return parse_layer_rules(spec, where, lambda v: str(parse_value(v, target)), "unstructured:0.9")


@dataclass
class SparseLayerReport:
    layer: str
    spec: str
    formats: list[str]
    shape: tuple[int, ...]
    density: float
    stored_values: int
    bytes_dense: int
    bytes_sparse: int
    weight_rel_err: float
    predicted_speedup: float
    execution: str
    truncations: list[dict[str, float]] = field(default_factory=list)
    block_choice: list[dict[str, Any]] = field(default_factory=list)  # @block: each candidate's cost
    quant: str | None = None  # the quant format of the stored values (sparse x quant)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("truncations", "block_choice", "quant")}
        out["shape"] = list(self.shape)
        out["bits_per_weight"] = 8 * self.bytes_sparse / max(self.shape[0] * self.shape[1], 1)
        if self.quant is not None:
            out["quant"] = self.quant
        if self.truncations:
            out["truncations"] = self.truncations
        if self.block_choice:
            out["block_choice"] = self.block_choice
        return out


def store_buffers(storage: Any) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The index buffers (in level order, as the kernels' i0..i3, as bytes) and the
    values of an encoded matrix, as torch tensors."""
    index = []
    for name, buf in storage.buffers().items():
        if name == "values":
            continue
        # raw bytes: the kernels read them at the format's widths (passes/lower_sparse.py)
        index.append(torch.from_numpy(np.ascontiguousarray(buf).reshape(-1).view(np.uint8).copy()))
    values = torch.from_numpy(np.ascontiguousarray(storage.values, dtype=np.float32).copy())
    return index, values


_SPARSE_QUANT_HINT = ("give the layer one of the two, or a combination with a kernel (e.g. sparsity '2:4' with "
                      "quant 'nf4:g64')")


def sparse_quant_format(layer: str, quant_spec: str, value: str, target: Any = None) -> str | None:
    """The sparse format of a layer that quant spec `quant_spec` and sparsity
    value `value` both match (None for `dense`); SparccError naming the layer
    and both specs when the combination cannot be built, or (with a target)
    has no kernel there."""
    from sparcc.dialects.quant_formats import parse_format as parse_quant
    from sparcc.dialects.sparse_formats import parse_format

    choice = parse_value(value)
    if choice.dense:
        return None
    where = f"layer '{layer}' matches quant '{quant_spec}' and sparsity '{value}'"
    if choice.tasd or choice.auto or choice.formats[0] == "block":
        raise SparccError(f"{where}: a sparse and quantised layer takes one N:M pattern (no tasd:, auto: or "
                          f"@block); {_SPARSE_QUANT_HINT}")
    fmt = parse_format(choice.formats[0])
    try:
        fmt.static_storage((fmt.tile(0), fmt.tile(1)))  # ValueError when the layout depends on the data
        if target is not None:
            target.sparse_quant_kernel(fmt, parse_quant(quant_spec))
    except ValueError as e:
        raise SparccError(f"{where}: {e}; {_SPARSE_QUANT_HINT}") from None
    return fmt.spec


def _input_rows(linear: Any) -> int | None:
    """The rows a linear layer's weight meets per call (its input's leading
    dims), None when one is dynamic."""
    shape = list(linear.input.type.get_shape())
    rows = 1
    for d in shape[:-1]:
        if d < 0:
            return None
        rows *= d
    return rows


def apply_sparsity(imported: Any, spec: QuantSpec | None, quant: QuantSpec | None = None,
                   target: Any = None, threads: int | None = None) -> list[SparseLayerReport]:
    """Prunes the chosen linear layers of `imported` (an ImportedProgram), rewrites
    them to sparse.linear (passes/sparsify_weights.py), encodes each part into the
    weight store as `<weight>[#tasdK]#i0..#i3` and `#values`, and records the
    entries per level on the sparse.weight ops. Layers that `auto:` keeps dense get
    their pruned weight. One report per layer. `target` (a sparcc.backends.Target,
    default the CPU's) names each format's kernel and predicts its speed."""
    from sparcc.backends import get_target
    from sparcc.dialects import nn, sparse
    from sparcc.dialects.sparse_formats import encode, tasd
    from sparcc.passes.sparsify_weights import part_name, sparsify_weights

    target = get_target("cpu", available=False) if target is None else target

    if spec is None:
        return []
    reports: list[SparseLayerReport] = []
    choices: dict[str, LayerSparsity] = {}  # layer -> what runs sparse
    sparse_quant: dict[str, str] = {}  # layer -> sparse format of its quantised values
    done: set[str] = set()
    entries_of: dict[str, list[int]] = {}
    for linear in [o for o in imported.module.walk() if isinstance(o, nn.LinearOp)]:
        source = linear.weight.owner
        if not isinstance(source, nn.WeightOp) or source.perm is not None:
            continue
        name = source.weight_name
        layer = layer_of(name)
        value = spec.format_for(layer)
        if value is None or name in done:
            continue
        done.add(name)
        choice = parse_value(value)
        if choice.dense:
            continue
        if quant is not None and (q := quant.format_for(layer)) is not None:
            fmt = sparse_quant_format(layer, q, value, target)
            w = to_numpy(imported.weights[name])
            if fmt is not None and w.ndim == 2:
                reports.append(_sparse_quant(imported, name, w, choice, fmt, q, target))
                sparse_quant[layer] = fmt
            continue
        w = to_numpy(imported.weights[name])
        if w.ndim != 2:
            continue
        rows, cols = w.shape
        # one part, or TASD's greedy parts: each prunes what the ones before left
        split = tasd(w, list(choice.parts))
        layout: list[dict[str, Any]] = []
        if "block" in choice.formats:
            formats = list(choice.formats)
            formats[0], layout = choose_format(split.parts[0])
            choice = LayerSparsity(choice.parts, tuple(formats), choice.auto, choice.tasd)
        parts = [(part, encode(part, f)) for part, f in zip(split.parts, choice.formats)]
        kinds = [target.sparse_kind(f) for f in choice.formats]
        stored = sum(st.stored for _, st in parts)
        bytes_sparse = sum(b.nbytes for _, st in parts for b in st.buffers().values())
        truncations = [
            {"parts": t + 1, "spec": "+".join(choice.parts[: t + 1]), "rel_err": split.rel_error[t],
             "coverage": split.coverage[t], "density": sum(split.nnz[: t + 1]) / w.size}
            for t in range(len(parts))
        ] if choice.tasd else []
        speed, predicted_by = target.sparse_estimate([(k, s.stored) for k, (_, s) in zip(kinds, parts)], rows, cols,
                                                     _input_rows(linear), [str(f) for f in choice.formats], threads)
        runs_dense = choice.auto and speed < 1.0
        if runs_dense:
            execution = f"dense (auto: the sparse kernel is predicted {speed:.2f}x of dense by {predicted_by})"
            imported.weights[name] = torch.from_numpy(np.asarray(split.approximation(), dtype=np.float32))
        else:
            execution = (f"sparse (predicted {speed:.2f}x of dense by {predicted_by})" if speed >= 1.0 else
                         f"sparse (predicted {speed:.2f}x of dense by {predicted_by}; use auto: to fall back)")
            choices[layer] = choice
            for k, (_, storage) in enumerate(parts):
                base = part_name(name, k, choice.tasd)
                index, values = store_buffers(storage)
                for j, t in enumerate(index):
                    imported.weights[f"{base}#i{j}"] = t
                imported.weights[f"{base}#values"] = values
                entries_of[base] = storage.format.level_entries(
                    storage.shape, [len(b) for key, b in storage.buffers().items() if key != "values"])
        reports.append(SparseLayerReport(
            layer, str(choice), list(choice.formats), (rows, cols),
            sum(split.nnz) / max(w.size, 1), stored, w.size * 4, bytes_sparse,
            split.rel_error[-1], speed, execution, truncations, layout,
        ))
    if sparse_quant:
        from sparcc.passes.quantize_weights import quantize_weights

        assert quant is not None
        quantize_weights(imported.module, lambda l: quant.format_for(l) if l in sparse_quant else None,
                         sparse_quant.get)
        imported.module.verify()
    if choices:
        sparsify_weights(imported.module, choices.get)
        for op in imported.module.walk():
            if isinstance(op, sparse.WeightOp) and op.weight_name in entries_of:
                entries = entries_of[op.weight_name]
                op.properties["entries"] = sparse.DenseArrayBase.from_list(sparse.i64, entries)
        imported.module.verify()
    return reports


def _sparse_quant(imported: Any, name: str, w: np.ndarray, choice: LayerSparsity, fmt: str, q: str,
                  target: Any) -> SparseLayerReport:
    """Prunes and quantises one weight (dialects/sparse_quant.py) and puts its
    IR storage into the weight store as `<name>#sq.<role>` (QuantTensorType.
    storage(): index buffers as raw bytes, codes, scales, zero points); the
    target's kernel layout is added by quantize.apply_quant."""
    from sparcc.dialects import sparse_quant as sq

    packed = sq.quantize(w, fmt, q, choice.parts[0])
    for role, data in sq.buffers(packed).items():
        data = np.ascontiguousarray(data)
        if role.startswith("crd"):
            data = data.reshape(-1).view(np.uint8)
        imported.weights[f"{name}#sq.{role}"] = torch.from_numpy(data.copy())
    rows, cols = w.shape
    kernel = target.sparse_quant_kernel(packed.storage.format, q)
    density = packed.storage.nnz / max(w.size, 1)
    return SparseLayerReport(
        layer_of(name), str(choice), [fmt], (rows, cols), density, packed.storage.stored, w.size * 4,
        packed.nbytes, sq.error(w, packed), w.size * 4 / max(packed.nbytes, 1),
        f"sparse x quant ({q}): {kernel}; predicted speed = f32 bytes / stored bytes", quant=q,
    )
