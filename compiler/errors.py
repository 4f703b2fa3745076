"""Errors that sparcc shows to users: one clear message, no traceback."""

from __future__ import annotations


class SparccError(Exception):
    """A user-facing error: says what is wrong, where, and what to do."""


class UnsupportedOpError(SparccError):
    """An operation in the user's model that sparcc cannot compile yet."""


class InputMismatchError(SparccError, TypeError):
    """A compiled function was called with arguments it was not built for."""


class PipelineError(SparccError):
    """An MLIR stage failed; `reproducer` names the files that replay it."""

    def __init__(self, message: str, reproducer: str | None = None):
        super().__init__(message if reproducer is None else f"{message}\n  reproducer: {reproducer}")
        self.reproducer = reproducer


class DynamicShapeError(SparccError):
    """A program cannot be compiled with the dims asked to be dynamic (the
    model specializes them, or an op is lowered for static sizes only)."""


class IndexOutOfRangeError(SparccError, IndexError):
    """Compiled code met an index outside its dim (embedding, index, index_select,
    index_reduce, ...), where PyTorch raises IndexError."""


class GatherIndexError(SparccError, RuntimeError):
    """Compiled code met a gather (scatter, index_add) index outside its dim, where PyTorch raises RuntimeError."""


def run_time_error(kind: int, dim: int, value: int, size: int) -> SparccError:
    """The exception for a report of compiled code's checks (kinds: see
    passes/convert_nn_to_linalg.py, INDEX_*), worded as PyTorch words it."""
    bounds = f"index {value} is out of bounds for dimension {dim} with size {size}"
    if kind == 1:
        return IndexOutOfRangeError(bounds)
    if kind == 2:
        return IndexOutOfRangeError(f"index out of range in self (index {value}, dimension {dim} of size {size})")
    return GatherIndexError(bounds)
