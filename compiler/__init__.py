"""sparcc: compiles PyTorch models with sparse and quantized weights."""

from sparcc.errors import InputMismatchError, PipelineError, SparccError, UnsupportedOpError

__version__ = "0.1.0"

__all__ = ["SparccError", "UnsupportedOpError", "InputMismatchError", "PipelineError", "jit"]


def __getattr__(name: str):
    if name == "jit":
        from sparcc.jit_function import jit

        return jit
    raise AttributeError(f"module 'sparcc' has no attribute {name!r}")
