"""
sparsify-weights: stores the weights of chosen linear layers sparse.

  %w = nn.weight @"fc1.weight" : tensor<256x512xf32>
  %y = nn.linear %x, %w, %b : (...) -> tensor<64x256xf32>
becomes, for a spec that gives `fc1` the value "unstructured:0.9" (csr),
  %w = sparse.weight @"fc1.weight" : !sparse.tensor<256x512xf32, #sparse.format<"csr">>
  %y = sparse.linear %x, %w, %b : ... -> tensor<64x256xf32>
and, for "tasd:2:4+1:8", into a sum of structured parts:
  %w0 = sparse.weight @"fc1.weight#tasd0" : !sparse.tensor<256x512xf32, #sparse.format<"2:4">>
  %w1 = sparse.weight @"fc1.weight#tasd1" : !sparse.tensor<256x512xf32, #sparse.format<"1:8">>
  %y0 = sparse.linear %x, %w0, %b : ...
  %y  = sparse.linear %x, %w1 acc %y0 : ...

`spec` is an ordered list of layer-name globs and sparsity values
(sparcc/sparsify.py: "fc1=2:4;*=unstructured:0.9" or a JSON object); a
layer's name is its weight's name without `.weight`. Only `nn.linear`
weights that come straight from `nn.weight` (no layout change) become
sparse. The pass changes the IR only: the driver prunes and encodes the
weights and sets each sparse.weight's `entries` (sparcc/sparsify.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sparcc.dialects import nn, sparse
from sparcc.quantize import layer_of
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, f32
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter


def part_name(weight: str, index: int, tasd: bool) -> str:
    """The store name of one part of a sparse weight."""
    return f"{weight}#tasd{index}" if tasd else weight


@dataclass(frozen=True)
class SparsifyWeightsPass(ModulePass):
    name = "sparsify-weights"

    spec: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from sparcc.sparsify import parse_sparsity_spec, parse_value

        if not self.spec:
            return
        rules = parse_sparsity_spec(self.spec, where="sparsify-weights{spec}")
        assert rules is not None
        sparsify_weights(op, lambda layer: parse_value(v) if (v := rules.format_for(layer)) is not None else None)


def sparsify_weights(op: ModuleOp, choice_for: Callable[[str], Any]) -> None:
    """Rewrites each nn.linear whose weight's layer has a sparse choice
    (`choice_for(layer)`: a parsed sparsify.LayerSparsity, or None) into a
    chain of sparse.linear, one per part. The driver calls this with the
    choices it made; the pass parses its `spec` option into the same."""
    made: dict[str, list[sparse.WeightOp]] = {}
    for linear in [o for o in op.walk() if isinstance(o, nn.LinearOp)]:
        source = linear.weight.owner
        if not isinstance(source, nn.WeightOp) or source.perm is not None:
            continue
        name = source.weight_name
        choice = choice_for(layer_of(name))
        if choice is None or choice.dense:
            continue
        shape = tuple(source.result.type.get_shape())  # type: ignore[attr-defined]
        weights = made.get(name)
        if weights is None:
            weights = [
                sparse.WeightOp(part_name(name, k, choice.tasd), sparse.SparseTensorType(shape, f32, fmt))
                for k, fmt in enumerate(choice.formats)
            ]
            Rewriter.insert_op(weights, InsertPoint.after(source))
            made[name] = weights
        y: SSAValue | None = None
        chain = []
        for k, w in enumerate(weights):
            step = sparse.LinearOp(linear.input, w.result, linear.bias if k == 0 else None, y)
            chain.append(step)
            y = step.result
        Rewriter.replace_op(linear, chain)
        if not source.result.uses:
            Rewriter.erase_op(source)
