"""
The compile driver: PyTorch model + example inputs -> a callable program.

  import (torch.export -> nn)  ->  xDSL passes  ->  backend  ->  CompiledProgram

`CompiledProgram` checks every call's arguments against the signature it was
built for, binds the weights once (laid out as the IR asks: `perm`), and
keeps the IR of each stage for inspection (`program.ir[stage]`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils import _pytree as pytree
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from sparcc.errors import InputMismatchError, SparccError
from sparcc.frontend import ImportedProgram, TensorSpec, import_module
from sparcc.dialects.nn import ints

TARGETS = ("cpu",)
PIPELINE = ("convert-nn-to-linalg", "fuse-elementwise", "approximate-math", "lower-entry-abi")


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise SparccError(
            f"target '{target}' is not available; choose one of: {', '.join(TARGETS)}"
        )


def run_passes(module: ModuleOp, names: Sequence[str]) -> dict[str, float]:
    from sparcc.passes import PASSES

    ctx = Context(allow_unregistered=True)
    timings = {}
    for name in names:
        start = time.perf_counter()
        PASSES[name]()().apply(ctx, module)
        timings[name] = time.perf_counter() - start
    module.verify()
    return timings


@dataclass
class CompiledProgram:
    """A compiled model for one input signature."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    output_tree: Any
    fn: Callable[..., None]
    weights: list[torch.Tensor]  # bound buffers, in ABI order; kept alive here
    kernel: Any
    ir: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._weight_ptrs = [w.data_ptr() for w in self.weights]
        self._expected = [(s.dtype, torch.Size(s.shape)) for s in self.inputs]
        self._one_result = len(self.outputs) == 1 and (
            self.output_tree is None or self.output_tree.is_leaf()
        )

    def check(self, args: Sequence[Any]) -> list[torch.Tensor]:
        if len(args) != len(self.inputs):
            raise InputMismatchError(
                f"expected {len(self.inputs)} input(s) "
                f"({', '.join(map(str, self.inputs))}), got {len(args)}"
            )
        out = []
        for i, (a, spec) in enumerate(zip(args, self.inputs)):
            if not isinstance(a, torch.Tensor):
                raise InputMismatchError(f"input {i}: expected a torch.Tensor {spec}, got {type(a).__name__}")
            if a.dtype != spec.dtype:
                raise InputMismatchError(f"input {i}: expected dtype {spec.dtype}, got {a.dtype}")
            if tuple(a.shape) != spec.shape:
                raise InputMismatchError(
                    f"input {i}: expected shape {list(spec.shape)}, got {list(a.shape)}"
                )
            if a.device.type != "cpu":
                raise InputMismatchError(f"input {i}: expected a CPU tensor, got device {a.device}")
            out.append(a if a.is_contiguous() else a.contiguous())
        return out

    def __call__(self, *args: Any) -> Any:
        # fast path: the signature matches exactly; anything else gets check()'s messages
        fast = len(args) == len(self._expected) and all(
            isinstance(a, torch.Tensor) and (a.dtype, a.shape) == e and a.is_cpu and a.is_contiguous()
            for a, e in zip(args, self._expected)
        )
        inputs = args if fast else self.check(args)
        results = [torch.empty(s.shape, dtype=s.dtype) for s in self.outputs]
        self.fn(
            *[a.data_ptr() for a in inputs],
            *self._weight_ptrs,
            *[r.data_ptr() for r in results],
        )
        if self._one_result:
            return results[0]
        if self.output_tree is None:
            return tuple(results)
        return pytree.tree_unflatten(results, self.output_tree)


def bind_weights(module: ModuleOp, store: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The weight buffers in the order the entry function takes them."""
    entry = next(op for op in module.ops if isinstance(op, func.FuncOp))
    first = ints(entry.attributes["sparcc.num_inputs"])[0]  # type: ignore[arg-type]
    arg_types = entry.function_type.inputs.data
    buffers = []
    for i, entry_attr in enumerate(entry.attributes["sparcc.weights"].data):  # type: ignore[attr-defined]
        fields = entry_attr.data
        data = store[fields["name"].data]
        shape = list(arg_types[first + i].get_shape())
        # nn.weight semantics: the stored tensor viewed row-major in the shape
        # that `perm` maps onto the argument's shape, then permuted
        if "perm" in fields:
            perm = ints(fields["perm"])
            viewed = [0] * len(perm)
            for j, p in enumerate(perm):
                viewed[p] = shape[j]
            data = data.reshape(viewed).permute(*perm)
        else:
            data = data.reshape(shape)
        buffers.append(data.contiguous().float() if data.is_floating_point() else data.contiguous())
    return buffers


def compile_program(
    model: torch.nn.Module | Callable[..., Any],
    args: Sequence[torch.Tensor],
    target: str = "cpu",
) -> CompiledProgram:
    check_target(target)
    start = time.perf_counter()
    imported: ImportedProgram = import_module(model, args)
    import_time = time.perf_counter() - start
    ir = {"nn": str(imported.module)}
    pass_times = run_passes(imported.module, PIPELINE)
    text = str(imported.module)
    ir["linalg"] = text
    weights = bind_weights(imported.module, imported.weights)

    from sparcc.backends import cpu

    kernel = cpu.compile_mlir(text, ["forward"])
    n_args = len(imported.inputs) + len(weights) + len(imported.outputs)
    fn = kernel.function("forward", n_args)
    report = {
        "target": target,
        "ops": imported.ops,
        "seconds": {
            "import": import_time,
            **pass_times,
            **{t.name: t.seconds for t in kernel.timings},
        },
        "schedule": [str(d) for d in kernel.decisions],
        "fallbacks": [kernel.fallback] if kernel.fallback else [],
    }
    report["seconds"]["total"] = time.perf_counter() - start
    return CompiledProgram(
        imported.inputs, imported.outputs, imported.output_tree, fn, weights, kernel, ir, report
    )
