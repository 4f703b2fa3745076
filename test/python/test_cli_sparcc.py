"""The `sparcc` command: `run` end to end, and one clear message per user mistake."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sparcc.cli import parse_input_spec
from sparcc.errors import SparccError

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "mlp.py")


def sparcc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparcc.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_run_reports_error_and_speed():
    out = sparcc("run", f"{MLP}:make_model", "--example-input", "randn(8,512)", "--repeat", "3", "--report")
    assert out.returncode == 0, out.stderr
    err = float(out.stdout.split("max abs error")[1].split()[0])
    assert err < 1e-4
    assert "PyTorch eager" in out.stdout and "linalg.matmul [8, 2048, 512]" in out.stdout


def test_run_uses_example_inputs_from_the_file():
    out = sparcc("run", f"{MLP}:make_model", "--repeat", "2")
    assert out.returncode == 0, out.stderr
    assert "(64, 512)" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no/such/file.py:f"], "'no/such/file.py': no such file"),
        (["run", f"{MLP}:missing"], "has no function 'missing'"),
        (["run", MLP], "expected FILE.py:FACTORY"),
        (["run", f"{MLP}:make_model", "--example-input", "randn(8,"], "'randn(8,': not of the form randn(2,3)"),
        (["run", f"{MLP}:make_model", "--example-input", "eye(3)"], "unknown factory 'eye'"),
        (["run", f"{MLP}:make_model", "--example-input", "randn(8,511)"], "for inputs [8, 511]"),
        (["run", f"{MLP}:make_model", "--target", "fpga"], "target 'fpga' is not available"),
    ],
)
def test_user_mistakes_get_one_message(args, message):
    out = sparcc(*args)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


def test_input_specs():
    assert parse_input_spec("randn(2,3)").shape == (2, 3)
    assert parse_input_spec("zeros(4)").sum().item() == 0
    idx = parse_input_spec("randint(0,10,(2,5))")
    assert idx.dtype == torch.int64 and idx.shape == (2, 5) and int(idx.max()) < 10
    assert parse_input_spec("ones(3,dtype=float32)").dtype == torch.float32
    with pytest.raises(SparccError, match="dtype float64 is not supported"):
        parse_input_spec("randn(2,dtype=float64)")
    with pytest.raises(SparccError, match="sizes must be integer literals"):
        parse_input_spec("randn(n)")
