"""
quantize-weights: puts the weights of chosen linear layers in a number format.

  %w = nn.weight @"fc1.weight" : tensor<2048x512xf32>
  %y = nn.linear %x, %w, %b : (...) -> tensor<64x2048xf32>
becomes, for a spec that gives `fc1` the format nf4:g64,
  %w = quant.weight @"fc1.weight" : !quant.tensor<2048x512, #quant.format<"nf4:g64">>
  %y = quant.linear %x, %w, %b : (...) -> tensor<64x2048xf32>

and, with `sparsity` also giving `fc1` the value "2:4",
  %w = quant.weight @"fc1.weight"
         : !quant.tensor<2048x512, #quant.format<"nf4:g64">, #sparse.format<"2:4">>

`spec` is an ordered list of layer-name globs and formats
(sparcc/quantize.py: "fc1=nf4:g64;*=int8:channel" or a JSON object); a
layer's name is its weight's name without `.weight`. `sparsity` (the
sparsity spec's grammar, sparcc/sparsify.py) gives layers that `spec` also
quantises a sparse structure: their stored values are quantised
(dialects/sparse_quant.py). Only one part in a format of static layout (N:M,
V:N:M) can be; anything else is an error naming the layer. Only `nn.linear`
weights that come straight from `nn.weight` (no layout change) are
quantised; a weight that is also used by another op stays float32 there.
The pass changes the IR only: the weight store's values are quantised by
the driver, which reads the formats back from the `quant.weight` ops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sparcc.dialects import nn, quant, sparse
from sparcc.quantize import layer_of, parse_quant_spec
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter


@dataclass(frozen=True)
class QuantizeWeightsPass(ModulePass):
    name = "quantize-weights"

    spec: str = ""
    sparsity: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.spec:
            return
        rules = parse_quant_spec(self.spec, "quantize-weights{spec}")
        assert rules is not None
        sparse_for = None
        if self.sparsity:
            from sparcc.sparsify import parse_sparsity_spec, sparse_quant_format

            sparse_rules = parse_sparsity_spec(self.sparsity, where="quantize-weights{sparsity}")
            assert sparse_rules is not None

            def sparse_for(layer: str) -> str | None:
                value = sparse_rules.format_for(layer)
                q = rules.format_for(layer)
                return None if value is None or q is None else sparse_quant_format(layer, q, value)

        quantize_weights(op, rules.format_for, sparse_for)


def quantize_weights(op: ModuleOp, format_for: Callable[[str], str | None],
                     sparsity_for: Callable[[str], str | None] | None = None) -> None:
    """Rewrites each nn.linear whose weight's layer has a format
    (`format_for(layer)`: a canonical format spec, or None) into a
    quant.linear of a quant.weight; `sparsity_for(layer)` (a sparse format
    spec, or None) makes that weight sparse too. The driver calls this with
    its parsed specs; the pass parses its options into the same."""
    made: dict[tuple[str, str, str | None], quant.WeightOp] = {}
    for linear in [o for o in op.walk() if isinstance(o, nn.LinearOp)]:
        source = linear.weight.owner
        if not isinstance(source, nn.WeightOp) or source.perm is not None:
            continue
        name = source.sym_name.string_value()
        fmt = format_for(layer_of(name))
        if fmt is None:
            continue
        shape = tuple(source.result.type.get_shape())  # type: ignore[attr-defined]
        sparse_fmt = sparsity_for(layer_of(name)) if sparsity_for is not None else None
        key = (name, fmt, sparse_fmt)
        qweight = made.get(key)
        if qweight is None:
            encoding = None if sparse_fmt is None else sparse.FormatAttr(sparse_fmt)
            qweight = quant.WeightOp(name, quant.QuantTensorType(shape, fmt, encoding))
            Rewriter.insert_op(qweight, InsertPoint.after(source))
            made[key] = qweight
        replacement = quant.LinearOp(linear.input, qweight.result, linear.bias)
        Rewriter.replace_op(linear, replacement)
        if not source.result.uses:
            Rewriter.erase_op(source)
