"""
CPU schedules: which linalg ops get tiled and vectorised, and how.

`annotate_and_build(module)` tags each op it schedules and returns a
transform-dialect script for them (or None when nothing needs one);
`interpreter_pipeline` is the pass pipeline that applies and then erases it.
Tile sizes come from `tile_sizes`, the one function the cost model replaces.
"""

from __future__ import annotations

from mlir import ir


def annotate_and_build(module: ir.Module) -> str | None:
    return None


def interpreter_pipeline(script: str, module: ir.Module) -> str:
    raise NotImplementedError
