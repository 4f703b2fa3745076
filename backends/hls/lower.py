"""linalg on tensors (what the hls target's sparcc passes leave) -> loops on
memrefs, with upstream MLIR: the IR the C++ emitter walks.

After bufferisation every linalg op becomes a loop nest of scf.for over
memref.load/store and scalar arith/math ops (affine lowered away), with
static sizes: what HLS C++ is made of. Buffers are not deallocated (each
becomes a fixed local array on the FPGA)."""

from __future__ import annotations

from typing import Any

from sparcc.errors import PipelineError

LOOPS = (
    "canonicalize,eliminate-empty-tensors,"
    "one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},"
    "canonicalize,cse,convert-bufferization-to-memref,linalg-generalize-named-ops,"
    "convert-linalg-to-affine-loops,fold-memref-alias-ops,lower-affine,canonicalize,cse"
)


def to_loops(text: str) -> Any:
    """Parses linalg-on-tensors text into an upstream module (its own
    Context, which the caller keeps alive through the module) and lowers it
    to loops; PipelineError naming the stage on failure."""
    from mlir import ir, passmanager

    ctx = ir.Context()
    ctx.allow_unregistered_dialects = True
    with ctx:
        try:
            module = ir.Module.parse(text)
        except Exception as e:  # noqa: BLE001 (MLIR's parse error)
            raise PipelineError(f"upstream MLIR could not parse sparcc's IR for the hls target: {e}") from None
        try:
            passmanager.PassManager.parse(f"builtin.module({LOOPS})").run(module.operation)
        except Exception as e:  # noqa: BLE001 (an MLIR pass failure)
            diag = "; ".join(str(d.message) for d in getattr(e, "error_diagnostics", [])) or str(e)
            raise PipelineError(f"the hls target's loop lowering failed: {diag}") from None
    return module
