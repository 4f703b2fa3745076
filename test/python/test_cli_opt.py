"""sparcc-opt's answers to user mistakes: one message, the place, exit 1, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

VALID = """\
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = nn.relu %x : tensor<4xf32>
  func.return %y : tensor<4xf32>
}
"""


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparcc.opt", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def assert_user_error(r: subprocess.CompletedProcess, *fragments: str) -> str:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    err = r.stderr.strip()
    for fragment in fragments:
        assert fragment in err, err
    assert err.count("error:") == 1, err
    return err


@pytest.fixture
def write(tmp_path: Path):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def test_valid_file_round_trips(write):
    r = run(str(write("ok.mlir", VALID)))
    assert r.returncode == 0, r.stderr
    assert "nn.relu %x : tensor<4xf32>" in r.stdout


def test_malformed_file_names_file_line_col(write):
    path = write("bad.mlir", VALID.replace("tensor<4xf32>\n  func.return", "tensor<4xf32\n  func.return"))
    err = assert_user_error(run(str(path)), f"{path}:3:")
    assert err.splitlines()[0].startswith(f"{path}:3:")


def test_unclosed_region_is_end_of_file(write):
    path = write("open.mlir", VALID.rstrip().removesuffix("}"))
    assert_user_error(run(str(path)), f"{path}:", "unexpected end of file")


def test_unknown_op(write):
    path = write("op.mlir", VALID.replace("nn.relu", "nn.frobnicate"))
    assert_user_error(run(str(path)), f"{path}:2:", "nn.frobnicate")


def test_unknown_pass(write):
    err = assert_user_error(run(str(write("ok.mlir", VALID)), "-p", "no-such-pass"), "unknown pass 'no-such-pass'")
    assert "convert-nn-to-linalg" in err  # names what exists


def test_misspelt_pass_suggests_the_right_one(write):
    assert_user_error(
        run(str(write("ok.mlir", VALID)), "-p", "convert-nn-to-linalgg"),
        "unknown pass 'convert-nn-to-linalgg'",
        "did you mean 'convert-nn-to-linalg'",
    )


def test_bad_pass_option(write):
    assert_user_error(
        run(str(write("ok.mlir", VALID)), "-p", "convert-nn-to-linalg{tile=4}"),
        "convert-nn-to-linalg{tile=4}",
        "tile",
    )


def test_malformed_pipeline(write):
    assert_user_error(
        run(str(write("ok.mlir", VALID)), "-p", "convert-nn-to-linalg,,lower-entry-abi"),
        "cannot parse pass pipeline",
        "column 22",
    )


def test_missing_input_file(tmp_path):
    missing = tmp_path / "nowhere.mlir"
    assert_user_error(run(str(missing)), f"cannot open '{missing}'", "No such file")


def test_unknown_file_extension(write):
    assert_user_error(run(str(write("model.txt", VALID))), "model.txt", "unknown file extension '.txt'")


def test_verification_failure_names_op_and_place(write):
    path = write(
        "inv.mlir",
        """\
func.func @f(%x: tensor<4xf32>) -> tensor<5xf32> {
  %y = "nn.relu"(%x) : (tensor<4xf32>) -> tensor<5xf32>
  func.return %y : tensor<5xf32>
}
""",
    )
    err = assert_user_error(run(str(path)), f"{path}:2:3: error: 'nn.relu' op")
    assert "tensor<5xf32>" in err


def test_verification_failure_in_second_chunk_has_file_line(write):
    bad = """\
func.func @g(%x: tensor<4x8xf32>, %y: tensor<3xf32>) {
  %0 = nn.add %x, %y : tensor<4x8xf32>, tensor<3xf32> -> tensor<4x8xf32>
  func.return
}
"""
    path = write("split.mlir", VALID + "// -----\n" + bad)
    assert_user_error(
        run(str(path), "--split-input-file"),
        f"{path}:7:3: error: 'nn.add' op shapes [4, 8] and [3] do not broadcast",
    )


def test_verify_diagnostics_prints_and_succeeds(write):
    path = write("inv.mlir", VALID.replace("-> tensor<4xf32> {", "-> tensor<5xf32> {"))
    r = run(str(path), "--verify-diagnostics")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert f"{path}:3:3: error: 'func.return' op" in r.stdout


def test_pass_rejecting_its_input(write):
    path = write("abi.mlir", "func.func @f(%x: i32) -> i32 {\n  func.return %x : i32\n}\n")
    assert_user_error(
        run(str(path), "-p", "lower-entry-abi"),
        "pass 'lower-entry-abi' failed",
        str(path),
        "expected tensor arguments and results, got i32",
    )


def test_stdin_is_named_in_messages():
    r = run(stdin=VALID.replace("nn.relu", "nn.frobnicate"))
    assert_user_error(r, "stdin:2:")


CRASH = """\
import sys
from dataclasses import dataclass
from xdsl.passes import ModulePass
from sparcc import opt
from sparcc.passes import PASSES

@dataclass(frozen=True)
class Crash(ModulePass):
    name = "crash"
    def apply(self, ctx, op):
        raise KeyError("boom")

PASSES["crash"] = lambda: Crash
sys.exit(opt.main(sys.argv[1:]))
"""


def test_crash_in_a_pass_is_an_internal_error(write):
    path = write("ok.mlir", VALID)
    r = subprocess.run(
        [sys.executable, "-c", CRASH, str(path), "-p", "crash"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "internal error: pass 'crash' crashed on" in r.stderr
    assert "KeyError" in r.stderr and "SPARCC_TRACEBACK=1" in r.stderr

    r = subprocess.run(
        [sys.executable, "-c", CRASH, str(path), "-p", "crash"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SPARCC_TRACEBACK": "1"},
    )
    assert r.returncode != 0 and "Traceback" in r.stderr and "boom" in r.stderr
