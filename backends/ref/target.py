"""The `ref` target: sparcc's IR run by the reference interpreter
(backends/ref), op by op, with no compile step. It is the oracle for the
other targets: run a model on `ref` and on a target and compare.

It runs the nn/sparse/quant IR as the frontend and the weight passes leave
it (its pipeline is empty). Its weights are stored as the CPU target stores
them (quantised codes in the CPU kernels' layout, the CPU's choice of sparse
kernel and of dense-or-sparse for `auto:`), so that a model makes the same
choices on both and the two can be compared value for value.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from sparcc.backends import Target, get_target
from sparcc.errors import SparccError


class RefTarget(Target):
    name = "ref"
    summary = "the reference interpreter of sparcc's IR (numpy/torch per op): slow, the oracle for the other targets"
    pipeline = ()
    max_threads = 1
    cacheable = False

    def quant_store(self, name: str, typ: Any, quantized: Any) -> dict[str, Any]:
        return get_target("cpu", available=False).quant_store(name, typ, quantized)

    def sparse_quant_kernel(self, sparse_fmt: Any, quant_fmt: Any) -> str:
        return get_target("cpu", available=False).sparse_quant_kernel(sparse_fmt, quant_fmt)

    def sparse_kind(self, fmt: Any) -> str:
        return get_target("cpu", available=False).sparse_kind(fmt)

    def sparse_speedup(self, parts: Sequence[tuple[str, int]], rows: int, cols: int) -> float:
        return get_target("cpu", available=False).sparse_speedup(parts, rows, cols)

    def sparse_estimate(self, parts: Sequence[tuple[str, int]], rows: int, cols: int,
                        batch_rows: int | None = None, formats: Sequence[str] | None = None,
                        threads: int | None = None) -> tuple[float, str]:
        return get_target("cpu", available=False).sparse_estimate(parts, rows, cols, batch_rows, formats, threads)

    def build(self, module: Any, folder: Path, threads: int) -> dict[str, Any]:
        (folder / "nn.mlir").write_text(str(module))  # what runs, for inspection
        return {"ir": {"interpreted": "nn.mlir"}}

    def load(self, folder: Path, meta: dict[str, Any], program: Any, threads: int) -> RefExecutable:
        return RefExecutable(program.module, program.weights, list(program.symbols))


class RefExecutable:
    """Interprets the module on each call."""

    def __init__(self, module: Any, store: dict[str, torch.Tensor], symbols: list[str]):
        self.module, self.store, self.symbols = module, store, symbols
        self.weights = list(store.values())

    def __call__(self, inputs: Sequence[torch.Tensor], results: Sequence[torch.Tensor], sizes: Sequence[int]) -> None:
        from sparcc.backends.ref import interpret

        outs = interpret(self.module, list(inputs), self.store, dict(zip(self.symbols, sizes)) or None)
        if len(outs) != len(results):
            raise SparccError(f"the reference interpreter gave {len(outs)} result(s), the program has {len(results)}")
        for r, o in zip(results, outs):
            r.copy_(torch.as_tensor(o).reshape(r.shape))

    def take_error(self) -> SparccError | None:
        return None  # the interpreter raises at once
