"""
`sparcc.jit`: compile on first call per input signature, then reuse.

    fast = sparcc.jit(model, target="cpu")        # an nn.Module or a function
    @sparcc.jit(target="cpu", threads=2)
    def f(x, y): ...

The weights are captured when a signature is first compiled; call
`fast.invalidate()` after changing the model's parameters.

Compiled code is kept in the on-disk cache (sparcc/cache.py), so another
process that compiles the same model for the same signature loads it
instead of compiling (`cache=False` opts out; so does SPARCC_CACHE=0).
`threads` (default SPARCC_NUM_THREADS, else all CPUs this process may use)
is the number of threads large ops are divided among. `quant` quantises the
weights of chosen linear layers (sparcc/quantize.py).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from sparcc.driver import CompiledProgram, check_target, compile_program
from sparcc.errors import InputMismatchError
from sparcc.frontend import sparse_format

Signature = tuple[tuple[tuple[int, ...], torch.dtype, str | None], ...]


class JitFunction:
    def __init__(
        self,
        model: torch.nn.Module | Callable[..., Any],
        target: str,
        threads: int | None = None,
        cache: bool | None = None,
        quant: Any = None,
        sparsity: Any = None,
    ):
        from sparcc.quantize import parse_quant_spec
        from sparcc.sparsify import parse_sparsity_spec

        check_target(target)
        self.quant = parse_quant_spec(quant)  # a bad spec fails here, not at the first call
        self.sparsity = parse_sparsity_spec(sparsity)
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InputMismatchError(f"threads={threads!r}: expected a whole number >= 1")
        self.model = model
        self.target = target
        self.threads = threads
        self.use_cache = cache
        self.cache: dict[Signature, CompiledProgram] = {}
        self.compiles = 0
        fn = model.forward if isinstance(model, torch.nn.Module) else model
        self._arity = _arity(fn)
        functools.update_wrapper(self, fn, updated=())

    def signature(self, args: tuple[Any, ...]) -> Signature:
        lo, hi = self._arity
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise InputMismatchError(f"{self.__name__}: expected {want} tensor argument(s), got {len(args)}")
        for i, a in enumerate(args):
            if not isinstance(a, torch.Tensor):
                raise InputMismatchError(
                    f"{self.__name__}: argument {i} must be a torch.Tensor, got {type(a).__name__}"
                )
        # a sparse input's key is its format (layout, index width), not its nonzeros
        return tuple((tuple(a.shape), a.dtype, sparse_format(a)) for a in args)

    def __call__(self, *args: Any) -> Any:
        key = self.signature(args)
        program = self.cache.get(key)
        if program is None:
            program = self.compile(*args)
            self.cache[key] = program
        return program(*args)

    def compile(self, *args: torch.Tensor) -> CompiledProgram:
        self.compiles += 1
        return compile_program(
            self.model, args, self.target, self.threads, self.use_cache, self.quant, self.sparsity
        )

    def invalidate(self) -> None:
        self.cache.clear()

    def __repr__(self) -> str:
        what = type(self.model).__name__ if isinstance(self.model, torch.nn.Module) else f"function {self.__name__}"
        options = "".join(
            f", {k}={v!r}" for k, v in (("threads", self.threads), ("cache", self.use_cache)) if v is not None
        )
        return (
            f"<sparcc.jit of {what}, target={self.target!r}{options}, "
            f"{len(self.cache)} compiled signature(s)>"
        )


def _arity(fn: Callable[..., Any]) -> tuple[int, int]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return (0, 1 << 30)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return (sum(p.default is p.empty for p in positional), 1 << 30)
    return (sum(p.default is p.empty for p in positional), len(positional))


def jit(
    model: Any = None,
    *,
    target: str = "cpu",
    threads: int | None = None,
    cache: bool | None = None,
    quant: Any = None,
    sparsity: Any = None,
) -> Any:
    """Compiles `model` (an nn.Module or a function of tensors) for `target`.

    quant: weight quantisation per layer, {glob: format}, e.g.
    {"*.mlp.*": "nf4:g64", "*": "int8:channel"} (sparcc/quantize.py).
    sparsity: weight pruning and sparse storage per layer, {glob: value}, e.g.
    {"encoder.*.fc1": "2:4", "*": "unstructured:0.9"} (sparcc/sparsify.py).
    Torch sparse inputs (COO, CSR, CSC, BSR) are compiled as sparse arguments.
    """
    if model is None:
        return lambda m: JitFunction(m, target, threads, cache, quant, sparsity)
    return JitFunction(model, target, threads, cache, quant, sparsity)
