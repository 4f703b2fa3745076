"""sparcc: compiles PyTorch models with sparse and quantized weights."""

from sparcc.errors import (
    InputMismatchError,
    PipelineError,
    SparccError,
    UnsupportedOpError,
)

__version__ = "0.1.0"

__all__ = ["InputMismatchError", "PipelineError", "SparccError", "UnsupportedOpError", "compile", "jit", "load"]


def __getattr__(name: str):
    if name == "jit":
        from sparcc.jit_function import jit

        return jit
    if name in ("compile", "load"):  # ahead of time: sparcc.compile(model, args, "out/"), sparcc.load("out/")
        from sparcc import artifact

        return getattr(artifact, name)
    raise AttributeError(f"module 'sparcc' has no attribute {name!r}")
