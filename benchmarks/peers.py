"""
What users run instead of sparcc on a CPU, as callables for the benchmarks:
torch.compile (Inductor), ONNX Runtime and OpenVINO, each built for one team
size and called with the benchmark's torch inputs (outputs converted back to
torch tensors, so every peer's call does the work a user's call would).

    import peers
    run = peers.make("ort", model, inputs, threads=2)   # a zero-argument callable
    out = run()

ONNX Runtime: the model exported with torch.onnx.export (the dynamo
exporter), an InferenceSession on the CPU execution provider with every
graph optimisation, `threads` intra-op threads and one inter-op thread.
OpenVINO: openvino.convert_model on the module and its example inputs
(else on its torch.export program),
compiled for "CPU" with the LATENCY hint, one stream, `threads` inference
threads and float32 inference precision (on a CPU with bfloat16 arithmetic,
AMX or AVX512-BF16, OpenVINO otherwise computes in bfloat16: 1e-3 off eager
on a small CNN, and not the float32 that eager and sparcc compute). Both are optional (pip install -e '.[bench]'); `available()` lists
the ones this environment has. A peer that cannot take a model raises
PeerError with its own message (the benchmark reports it in the row).
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any, Callable

PEERS = ("inductor", "ort", "openvino")
_MODULES = {"inductor": "torch", "ort": "onnxruntime", "openvino": "openvino"}


class PeerError(RuntimeError):
    """A peer could not build or run the model."""


def available() -> list[str]:
    return [p for p in PEERS if importlib.util.find_spec(_MODULES[p]) is not None]


def make(peer: str, model: Any, inputs: tuple, threads: int) -> Callable[[], Any]:
    if peer not in PEERS:
        raise ValueError(f"unknown peer '{peer}' (one of {', '.join(PEERS)})")
    try:
        return {"inductor": _inductor, "ort": _onnxruntime, "openvino": _openvino}[peer](model, inputs, threads)
    except PeerError:
        raise
    except Exception as e:  # noqa: BLE001 (the peer's own failure: its message goes in the row)
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise PeerError(f"{type(e).__name__}: {first}") from None


def _inductor(model: Any, inputs: tuple, threads: int) -> Callable[[], Any]:
    import torch

    torch._dynamo.reset()
    fn = torch.compile(model)
    return lambda: fn(*inputs)


def _tensors(inputs: tuple) -> list[Any]:
    import torch

    flat = [x for x in inputs if isinstance(x, torch.Tensor)]
    if len(flat) != len(inputs):
        raise PeerError("inputs other than tensors")
    return flat


_EXPORTED: dict[int, Path] = {}


def _onnx_file(model: Any, inputs: tuple) -> Path:
    """The model exported once per process (sessions for each team size share it)."""
    import torch

    key = id(model)
    if key not in _EXPORTED:
        folder = Path(tempfile.mkdtemp(prefix="sparcc-peer-onnx-"))
        path = folder / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(model, tuple(inputs), str(path), dynamo=True, external_data=True)
        _EXPORTED[key] = path
    return _EXPORTED[key]


def _onnxruntime(model: Any, inputs: tuple, threads: int) -> Callable[[], Any]:
    import onnxruntime as ort
    import torch

    tensors = _tensors(inputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(_onnx_file(model, inputs)), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(tensors):
        raise PeerError(f"the exported graph takes {len(names)} inputs, the model {len(tensors)}")

    def run() -> Any:
        feed = {name: t.numpy() for name, t in zip(names, tensors)}
        return [torch.from_numpy(o) for o in session.run(None, feed)]

    return run


def _openvino(model: Any, inputs: tuple, threads: int) -> Callable[[], Any]:
    import openvino as ov
    import torch

    tensors = _tensors(inputs)
    with torch.no_grad():
        try:
            converted = ov.convert_model(model, example_input=tuple(inputs))  # its TorchScript frontend
        except Exception:  # noqa: BLE001 (some models convert only through torch.export)
            converted = ov.convert_model(torch.export.export(model, tuple(inputs)))
    compiled = ov.Core().compile_model(converted, "CPU", {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
                                                         "INFERENCE_NUM_THREADS": threads,
                                                         "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()

    def run() -> Any:
        request.infer([t.numpy() for t in tensors])
        return [torch.from_numpy(request.get_output_tensor(i).data.copy()) for i in range(len(compiled.outputs))]

    return run
