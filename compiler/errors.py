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
