"""The zoo benchmark's peers (benchmarks/peers.py: torch.compile, ONNX Runtime,
OpenVINO) and its side-by-side summary (benchmarks/zoo.py). A peer that is
not installed is skipped (CI installs the `test` extra, not `bench`); the
summary's arithmetic is checked on rows made up here.

Tolerance: each peer runs the same float32 model as eager with another
summation order and fusion (~1e-6 of the output's scale); 1e-4 leaves room
for that and none for a wrong layer.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import peers  # noqa: E402
import zoo  # noqa: E402


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 6 * 6, 10)).eval()


@pytest.mark.parametrize("peer", ["ort", "openvino"])
def test_peer_runs_the_model_as_eager(peer):
    if peer not in peers.available():
        pytest.skip(f"{peer} is not installed (pip install -e '.[bench]')")
    model, x = small_model(), torch.randn(1, 3, 6, 6)
    run = peers.make(peer, model, (x,), threads=1)
    (got,) = run()
    with torch.no_grad():
        want = model(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_unknown_peer_and_bad_inputs_are_one_message():
    with pytest.raises(ValueError, match="unknown peer 'tvm'"):
        peers.make("tvm", small_model(), (torch.randn(1, 3, 6, 6),), 1)
    if "ort" in peers.available():
        with pytest.raises(peers.PeerError, match="inputs other than tensors"):
            peers.make("ort", small_model(), (torch.randn(1, 3, 6, 6), 3), 1)


def test_summary_compares_sparcc_with_each_peer_over_the_models_both_ran():
    rows = [
        {"name": "a", "status": "ok", "eager_ms": {"1": 10.0}, "sparcc_ms": {"1": 2.0}, "speedup": {"1": 5.0},
         "ort_ms": {"1": 4.0}, "ort_speedup": {"1": 2.5}},
        {"name": "b", "status": "ok", "eager_ms": {"1": 9.0}, "sparcc_ms": {"1": 3.0}, "speedup": {"1": 3.0},
         "ort_ms": {"1": 1.5}, "ort_speedup": {"1": 6.0}},
        {"name": "c", "status": "ok", "eager_ms": {"1": 8.0}, "sparcc_ms": {"1": 4.0}, "speedup": {"1": 2.0},
         "ort_message": "OpConversionFailure: no"},
    ]
    text = zoo.table(rows, ["1"])
    both = math.sqrt((4.0 / 2.0) * (1.5 / 3.0))  # ONNX Runtime's time / sparcc's on a and b
    assert f"sparcc against ONNX Runtime (ort time / sparcc time) geomean {both:.2f}x over 2 models (lowest 0.50x)" in text
    assert f"ONNX Runtime / eager geomean {math.sqrt(2.5 * 6.0):.2f}x over 2 models" in text
    assert "ONNX Runtime: OpConversionFailure: no" in text  # the failure is in c's row
    assert "OpenVINO" not in text  # not timed at all: no column
