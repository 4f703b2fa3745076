"""
The GPU target's ahead-of-time artifact (sparcc.artifact is the front).

    out/
      kernels.ptx          the kernels, PTX for the architecture (the driver can JIT it)
      kernels.cubin        the same, assembled by ptxas for that architecture
      kernels.mlir         the gpu.module before NVVM, for inspection
      plan.json            what the host does per call: temporaries, launches
      weights.safetensors  the weights as the kernels take them (ABI order)
      manifest.json        signature, architecture, weights, sparcc version, sha256

Written on any machine with ptxas (no GPU needed); `sparcc.load(out)` runs
it where the CUDA driver and a GPU of that architecture are. The loader is
GpuExecutable (target.py): the cubin when the device's architecture is the
artifact's, else the PTX, which the driver compiles for the device.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import sparcc
import torch
from sparcc.artifact import FORMAT, MANIFEST, Artifact, write_atomic
from sparcc.backends.gpu import runtime
from sparcc.backends.gpu.target import CUBIN, KERNELS_MLIR, PLAN, PTX, GpuExecutable, arch, bind_weights, compile_module
from sparcc.cache import sha256_file
from sparcc.driver import CompiledProgram
from sparcc.errors import SparccError
from sparcc.frontend import TensorSpec
from torch.utils import _pytree as pytree

WEIGHTS = "weights.safetensors"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def write(folder: Path, prepared: Any, stages: Any, name: str) -> Artifact:
    """Writes the artifact of `prepared` (sparcc.driver.Prepared) into `folder`."""
    from safetensors.torch import save_file

    start = time.perf_counter()
    imported = prepared.imported
    target_arch = arch()
    with stages("passes", "running sparcc's passes"):
        pass_times = prepared.run_passes()
    with stages("lower", f"lowering to PTX for {target_arch}"):
        built = compile_module(imported.module, target_arch, folder)
    (folder / "linalg.mlir").unlink()  # the cache's inspection copy; the artifact keeps kernels.mlir
    with stages("weights", f"writing {WEIGHTS}"):
        buffers = bind_weights(built["weights"], imported.weights)
        keys = [f"w{i}" for i in range(len(buffers))]
        save_file(dict(zip(keys, buffers)), str(folder / WEIGHTS))
    with stages("build", "manifest"):
        pass
    files = [f for f in (PTX, CUBIN, PLAN, KERNELS_MLIR, WEIGHTS) if (folder / f).is_file()]
    manifest = {
        "format": FORMAT,
        "sparcc_version": sparcc.__version__,
        "target": "gpu",
        "arch": target_arch,
        "threads": 1,
        "ptx": PTX,
        "cubin": CUBIN if (folder / CUBIN).is_file() else None,
        "plan": PLAN,
        "weights_file": WEIGHTS,
        "inputs": [{"shape": list(s.shape), "dtype": _dtype_name(s.dtype)} for s in imported.inputs],
        "outputs": [{"shape": list(s.shape), "dtype": _dtype_name(s.dtype)} for s in imported.outputs],
        "output_tree": pytree.treespec_dumps(imported.output_tree) if imported.output_tree is not None else None,
        "mutated_inputs": list(imported.mutated),
        "weights": [{"key": k, "name": w["name"], "shape": list(b.shape), "dtype": _dtype_name(b.dtype)}
                    for k, w, b in zip(keys, built["weights"], buffers)],
        "schedule": built["schedule"],
        "fallbacks": [],
        "quant": [r.as_dict() for r in prepared.quant_layers],
        "sparsity": [r.as_dict() for r in prepared.sparse_layers],
        "seconds": {"import": prepared.import_seconds, **{f"pass {k}": v for k, v in pass_times.items()},
                    **{f"mlir {k}": v for k, v in built["seconds"].items()},
                    "total": time.perf_counter() - start},
    }
    report = (f"{name}: target gpu ({target_arch}), {built['kernels']} kernels, "
              f"{len(built['schedule'])} launches per call\n" + "".join(f"  {s}\n" for s in built["schedule"]))
    try:
        (folder / "report.txt").write_text(report)
        manifest["sha256"] = {f: sha256_file(folder / f) for f in files}
        write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1).encode())  # last: marks it complete
    except OSError as e:
        raise SparccError(f"could not write the artifact into '{folder}': {e.strerror or e}") from None
    return Artifact(folder, manifest, report)


def load(path: Path, m: dict[str, Any], verify: bool = True) -> CompiledProgram:
    """The program of the GPU artifact in `path` (manifest `m`): checks its
    files, reads the weights, loads the cubin (the PTX on another
    architecture) with the CUDA driver."""
    from safetensors.torch import load_file

    if (why := runtime.probe()) is not None:
        raise SparccError(f"target 'gpu' is not available: {why}")
    try:
        for name, digest in m["sha256"].items():
            if not (path / name).is_file():
                raise SparccError(f"'{path}' is incomplete: {name} is missing; recompile it")
            if verify and sha256_file(path / name) != digest:
                raise SparccError(f"'{path / name}' is corrupt (its sha256 differs from the manifest's); recompile it")
        device_arch = runtime.compute_capability(runtime.use_torch_context())
        use_cubin = m["cubin"] is not None and device_arch == m["arch"]
        image = (path / (m["cubin"] if use_cubin else m["ptx"])).read_bytes()
        tensors = load_file(str(path / m["weights_file"]))
        weights = [tensors[w["key"]] for w in m["weights"]]
        plan = json.loads((path / m["plan"]).read_text())
        executable = GpuExecutable(image, plan, weights)
        inputs = [TensorSpec(tuple(s["shape"]), getattr(torch, s["dtype"])) for s in m["inputs"]]
        outputs = [TensorSpec(tuple(s["shape"]), getattr(torch, s["dtype"])) for s in m["outputs"]]
        tree = pytree.treespec_loads(m["output_tree"]) if m["output_tree"] is not None else None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SparccError(f"'{path / MANIFEST}' is corrupt ({type(e).__name__}: {e}); recompile it") from None
    report = {"target": "gpu", "threads": 1, "cache": "aot", "artifact": str(path), "arch": m["arch"],
              "schedule": m["schedule"], "fallbacks": m["fallbacks"]}
    return CompiledProgram(inputs, outputs, tree, executable, {}, report, mutated=list(m["mutated_inputs"]))
