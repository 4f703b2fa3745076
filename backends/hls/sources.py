"""The user's source lines, carried to the loops the hls emitter reads.

The frontend tags each nn op with the file:line of the PyTorch code that
produced it (`op.source_location`, a Python attribute: xDSL ops have no
locations, and it stays out of the IR text and the cache key). The lowering
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
            loc = getattr(op, "source_location", None)
            if not loc or loc.startswith("<"):
                continue
            if last is None or last.data != loc:
                last = StringAttr(loc)
                block.insert_op_before(marker.create(attributes={"location": last}), op)
