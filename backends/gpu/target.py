"""The GPU target: sparcc's passes to linalg (as for the CPU), upstream MLIR
to PTX (lower.py), ptxas to a cubin, launched with the CUDA driver on
torch's current stream (runtime.py). Inputs and results are torch CUDA
tensors; weights are copied to the device once, when the program loads.

Compiling needs no GPU (cross-compilation: `sparcc compile --target gpu
--gpu-arch sm_90`); running needs the CUDA driver and a device.

The architecture is, in order: SPARCC_GPU_ARCH (what `--gpu-arch` sets),
the current device's, else sm_90.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from sparcc.backends import Target, bind_weights, weight_abi  # noqa: F401 (artifact.py takes bind_weights from here)
from sparcc.backends.gpu import runtime, toolchain
from sparcc.errors import SparccError, run_time_error

PTX, CUBIN, PLAN, KERNELS_MLIR = "kernels.ptx", "kernels.cubin", "plan.json", "kernels.mlir"
ARCH_ENV = "SPARCC_GPU_ARCH"

# MLIR element type -> torch dtype of a buffer the plan allocates
DTYPES = {
    "f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "f64": torch.float64,
    "i64": torch.int64, "i32": torch.int32, "i16": torch.int16, "i8": torch.int8, "i1": torch.bool,
}


def arch() -> str:
    """The architecture code is built for (module docstring)."""
    chosen = os.environ.get(ARCH_ENV, "").strip()
    if chosen:
        return toolchain.check_arch(chosen)
    if runtime.probe() is None:
        return runtime.compute_capability(runtime.use_torch_context())
    from sparcc.backends.gpu.lower import DEFAULT_ARCH

    return DEFAULT_ARCH


class GpuTarget(Target):
    name = "gpu"
    summary = "an NVIDIA GPU: upstream MLIR to PTX, ptxas to a cubin, launched with the CUDA driver"
    pipeline: ClassVar[tuple[str, ...]] = (
        "lower-sparse", "lower-quant", "convert-nn-to-linalg", "fuse-elementwise", "widen-bool-tensors",
        "approximate-math", "lower-entry-abi",
    )
    max_threads = 1  # threads are the GPU's; the host runs one stream
    writes_artifacts = True

    def unavailable(self) -> str | None:
        return runtime.probe()

    def unavailable_to_compile(self) -> str | None:
        if toolchain.tool("ptxas") is None:
            return "ptxas is not installed (the CUDA toolkit's assembler; compiling needs it, not a GPU)"
        return None

    def identity(self) -> list[str]:
        return [arch()]

    def required_files(self) -> set[str]:
        return {PTX, PLAN}

    # -- build and load ----------------------------------------------------
    def build(self, module: Any, folder: Path, threads: int) -> dict[str, Any]:
        target_arch = arch()
        compiled = compile_module(module, target_arch, folder)
        return {**compiled, "ir": {"linalg": "linalg.mlir", "gpu": KERNELS_MLIR}}

    def load(self, folder: Path, meta: dict[str, Any], program: Any, threads: int) -> GpuExecutable:
        image = (folder / CUBIN).read_bytes() if (folder / CUBIN).is_file() else (folder / PTX).read_bytes()
        plan = json.loads((folder / PLAN).read_text())
        weights = bind_weights(meta["weights"], program.weights)
        return GpuExecutable(image, plan, weights)

    # -- ahead of time -----------------------------------------------------
    def write_artifact(self, folder: Path, prepared: Any, threads: int, stages: Any, name: str) -> Any:
        from sparcc.backends.gpu import artifact

        return artifact.write(folder, prepared, stages, name)

    def load_artifact(self, folder: Path, manifest: dict[str, Any], threads: int | None, verify: bool) -> Any:
        from sparcc.backends.gpu import artifact

        return artifact.load(folder, manifest, verify)


def compile_module(module: Any, target_arch: str, folder: Path) -> dict[str, Any]:
    """The entry module (after the target's passes) -> kernels.ptx, a cubin
    when ptxas is here, plan.json and kernels.mlir in `folder`; returns the
    build's record (what load() reads, and the report)."""
    from sparcc.backends.gpu.lower import lower

    text = str(module)
    (folder / "linalg.mlir").write_text(text)
    lowered = lower(text, (toolchain.check_arch(target_arch),))
    ptx = lowered.ptx[target_arch]
    (folder / PTX).write_text(ptx)
    (folder / KERNELS_MLIR).write_text(lowered.kernels_mlir)
    (folder / PLAN).write_text(json.dumps(lowered.plan.as_dict()))
    if toolchain.tool("ptxas") is not None:
        (folder / CUBIN).write_bytes(toolchain.ptxas(ptx, target_arch))
    return {
        "arch": target_arch,
        "weights": weight_abi(module),
        "kernels": len({s.kernel for s in lowered.plan.steps}),
        "schedule": [f"{s.kernel} grid={s.grid} block={s.block}" for s in lowered.plan.steps],
        "fallbacks": [],
        "seconds": lowered.seconds,
    }


class GpuExecutable:
    """Replays the launch plan: the entry function's buffers are the inputs,
    the weights (on the device) and the results, in that order; temporaries
    come from torch's caching allocator on the inputs' device."""

    device = "cuda"

    def __init__(self, image: bytes, plan: dict[str, Any], weights: list[torch.Tensor]):
        self.plan = plan
        self.module = runtime.Module(image, sorted({s["kernel"] for s in plan["steps"]}))
        self.weights = [w.to("cuda") for w in weights]
        self.consts = [torch.tensor(c["values"], dtype=DTYPES[c["dtype"]]).reshape(c["shape"]).to("cuda")
                       for c in plan.get("consts", [])]
        # where kernels report a bad index (lower.py, error_arg); read after each call
        self.error = torch.zeros(4, dtype=torch.int64, device="cuda") if plan.get("error_arg") is not None else None

    def __call__(self, inputs: Sequence[torch.Tensor], results: Sequence[torch.Tensor], sizes: Sequence[int]) -> None:
        buffers = [*inputs, *self.weights, *results]
        if self.error is not None:
            self.error.zero_()  # on torch's current stream, before the kernels
            buffers.append(self.error)
        if len(buffers) != len(self.plan["args"]):
            raise SparccError(f"the GPU program takes {len(self.plan['args'])} buffers, it was given {len(buffers)}")
        device = inputs[0].device if inputs else torch.device("cuda")
        pointers = {f"arg{i}": b.data_ptr() for i, b in enumerate(buffers)}
        temps = [torch.empty(t["shape"], dtype=DTYPES[t["dtype"]], device=device) for t in self.plan["temps"]]
        pointers.update({f"temp{i}": t.data_ptr() for i, t in enumerate(temps)})
        pointers.update({f"const{i}": c.data_ptr() for i, c in enumerate(self.consts)})
        stream = torch.cuda.current_stream(device).cuda_stream
        for step in self.plan["steps"]:
            params = [("ptr", pointers[value]) if kind == "buf" else (kind, value) for kind, value in step["args"]]
            self.module.launch(step["kernel"], step["grid"], step["block"], params, stream)
        # the temporaries go back to torch's caching allocator when this returns: they were
        # allocated on this stream, so their memory is reused only by work queued after these kernels

    def take_error(self) -> SparccError | None:
        """The bad index a kernel of the last call reported, once (this waits
        for the call to finish: only programs that check indices pay it)."""
        if self.error is None:
            return None
        kind, dim, value, size = self.error.tolist()
        return run_time_error(kind, dim, value, size) if kind else None
