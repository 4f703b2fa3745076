"""The user's source lines, carried to the loops the hls emitter reads.

The frontend tags each nn op with the file:line of the PyTorch code that
produced it (`op.source_location`, a Python attribute: xDSL ops have no
locations, and it stays out of the IR text and the cache key). An op that
sparcc's weight passes rebuilt (sparse.linear, quant.linear) has lost its
tag and takes the line of the first op that uses its result. The lowering
to linalg builds new ops and drops it, so `mark` (run by hls-lower-sparse,
the first pass of the hls pipeline) puts a marker op before the first op of
each source line:

    "hls.source"() {location = "model.py:12"} : () -> ()

Markers have no operands or results: the sparcc passes and upstream MLIR
keep them in place, in order, so every top-level statement of the loop IR
follows the marker of the line it came from. `where` (emit.py) names an op
by its own location when it has one, else by the marker before its
statement; the emitter prints nothing for a marker.
"""

from __future__ import annotations

from typing import Any

MARKER = "hls.source"


def mark(module: Any) -> None:
    """Inserts a marker before each run of top-level ops of one source line."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import StringAttr, UnregisteredOp

    marker = UnregisteredOp.with_name(MARKER)
    for f in module.ops:
        if not isinstance(f, func.FuncOp) or not f.body.blocks:
            continue
        block = f.body.blocks[0]
        last = None
        for op in list(block.ops):
            if op.name == MARKER:
                last = op.attributes["location"]
                continue
            loc = _location(op)
            if not loc:
                continue
            if last is None or last.data != loc:
                last = StringAttr(loc)
                block.insert_op_before(marker.create(attributes={"location": last}), op)


def _location(op: Any, depth: int = 0) -> str | None:
    """The op's source line; for an op without one that sparcc's weight
    passes rebuilt (a layer made sparse.linear or quant.linear), the line of
    the first op that uses its result (the statement that consumes the
    layer's output, which is usually the one that calls it)."""
    loc = getattr(op, "source_location", None)
    if loc and not loc.startswith("<"):
        return loc
    if depth > 4 or op.name in ("nn.weight", "sparse.weight", "quant.weight"):
        return None
    for result in op.results:
        for use in result.uses:
            if (found := _location(use.operation, depth + 1)) is not None:
                return found
    return None
