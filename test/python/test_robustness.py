"""Regressions of what the fuzz corpus (benchmarks/fuzz.py) found: each was a
traceback, a crash or lost work, and is now one message or a rebuild."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import sparcc
from sparcc import cache, cli, opt
from sparcc.backends.cpu import toolchain
from sparcc.errors import SparccError

ROOT = Path(__file__).resolve().parents[2]
FUSE = ROOT / "test" / "passes" / "fuse-elementwise.mlir"

TINY = """import torch

def make_model():
    torch.manual_seed(0)
    return torch.nn.Linear(16, 4)

def example_inputs():
    return [torch.randn(2, 16)]
"""


def _no_traceback(captured: pytest.CaptureFixture) -> str:
    out, err = captured.readouterr()
    assert "Traceback" not in out + err
    return err


# ----------------------------------------------------------------------------
# sparcc-opt
# ----------------------------------------------------------------------------


def test_opt_input_that_is_not_utf8(tmp_path, capsys):
    f = tmp_path / "f.mlir"
    f.write_bytes(b'func.func @f() {\n  %0 = "nn.add"() : () -> \xff\xfe\n}\n')
    assert opt.main([str(f), "-p", "fuse-elementwise"]) == 1
    assert f"{f}:2:27: error: byte 0xff is not UTF-8" in _no_traceback(capsys)
    # through upstream MLIR's parser too
    assert opt.main([str(f), "--mlir-pipeline=builtin.module(cse)"]) == 1
    assert "byte 0xff is not UTF-8" in _no_traceback(capsys)


@pytest.mark.parametrize(
    "output, message",
    [
        ("{tmp}/no/such/folder/out.mlir", "cannot write '{tmp}/no/such/folder/out.mlir': No such file or directory"),
        ("{tmp}", "cannot write '{tmp}': it is a folder"),
        ("", "-o '': expected a file name"),
        ("{tmp}/" + "x" * 300 + ".mlir", "File name too long"),
    ],
)
def test_opt_bad_output_path(tmp_path, capsys, output, message):
    assert opt.main([str(FUSE), "-p", "fuse-elementwise", "-o", output.format(tmp=tmp_path)]) == 1
    assert message.format(tmp=tmp_path) in _no_traceback(capsys)


def test_opt_failure_leaves_the_output_file_alone(tmp_path, capsys):
    """-o is written only when the run succeeds: a failing run (even onto its
    own input) keeps the file, and no temporary file is left."""
    out = tmp_path / "out.mlir"
    out.write_text("precious\n")
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @f( {\n")
    assert opt.main([str(bad), "-p", "fuse-elementwise", "-o", str(out)]) == 1
    _no_traceback(capsys)
    assert out.read_text() == "precious\n"
    assert opt.main([str(FUSE), "-p", "fuse-elementwise", "-o", str(out)]) == 0
    assert "linalg.generic" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mlir", "out.mlir"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("func.func @f() -> " + "(" * 3000 + "\n", "nested too deeply"),
        ('func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n  %e = tensor.empty() : tensor<4xf32>\n'
         '  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], '
         'iterator_types = ["parallEl"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {\n'
         '  ^bb0(%a: f32, %o: f32):\n    linalg.yield %a : f32\n  } -> tensor<4xf32>\n'
         '  func.return %0 : tensor<4xf32>\n}\n', "'parallEl' is not a valid IteratorType"),
        ("func.func @f(%x: tensor<4xf32>) {\n  %0 = arith.constant 1 : i99999999999999999999999\n}\n",
         "too many digits in integer"),
        # a quote not closed on its line: xDSL's string pattern backtracked exponentially (a hang)
        ('func.func @f(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>) {\n  %0 = nn.matmul"%x, %w : '
         'tensor<4x8xf32>, tensor<8x16xf32> -> tensor<4x16xf32>\n}\n',
         "End of file reached before closing string literal"),
    ],
)
def test_opt_parser_failures_are_messages(tmp_path, capsys, text, message):
    f = tmp_path / "f.mlir"
    f.write_text(text)
    assert opt.main([str(f), "-p", "fuse-elementwise"]) == 1
    err = _no_traceback(capsys)
    assert message in err and f"{f}:" in err


def test_opt_bad_flag_exits_1(capsys):
    assert opt.main([str(FUSE), "--no-such-flag"]) == 1
    assert "unrecognized arguments: --no-such-flag" in _no_traceback(capsys)


# ----------------------------------------------------------------------------
# sparcc run / compile
# ----------------------------------------------------------------------------


@pytest.fixture
def models(tmp_path) -> Path:
    (tmp_path / "tiny.py").write_text(TINY)
    (tmp_path / "none.py").write_text(TINY.replace("return torch.nn.Linear(16, 4)", "return None"))
    (tmp_path / "number.py").write_text(TINY.replace("return torch.nn.Linear(16, 4)", "return 42"))
    (tmp_path / "exits.py").write_text("import sys\nsys.exit('bye')\n")
    (tmp_path / "strings.py").write_text(TINY.replace("return [torch.randn(2, 16)]", "return ['x']"))
    return tmp_path


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "{m}/tiny.py:make_model", "--repeat", "0"], "--repeat 0: must be at least 1"),
        (["run", "{m}/tiny.py:make_model", "--threads", "100000"], "--threads 100000: at most 255"),
        (["run", "{m}/tiny.py:make_model", "--threads", "0"], "--threads 0: must be at least 1"),
        (["run", "{m}/none.py:make_model"], "make_model() returned NoneType, not a model"),
        (["run", "{m}/number.py:make_model"], "make_model() returned int, not a model"),
        (["run", "{m}/exits.py:make_model"], "called sys.exit('bye') on import"),
        (["run", "{m}/strings.py:make_model"], "example_inputs() must return tensors; item 0 is str"),
        (["run", "/proc/self/status:make_model"], "not a Python file"),
        (["compile", "{m}/tiny.py:make_model", "-o", ""], "-o '': expected the name of a folder"),
        (["compile", "{m}/tiny.py:make_model", "-o", "{m}/" + "x" * 300], "File name too long"),
        (["run", "{m}/tiny.py:make_model", "--sparsity", "*=unstructured:0.5@bsr:99999x99999"],
         "the block rows 99999 is over 4096"),
        (["run", "{m}/tiny.py:make_model", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "{m}/tiny.py:make_model", "--repeat", "1e3"], "invalid int value: '1e3'"),
        (["compile", "{m}/tiny.py:make_model"], "the following arguments are required: -o/--output"),
    ],
)
def test_cli_mistakes_exit_1_with_one_message(models, capsys, monkeypatch, args, message):
    monkeypatch.chdir(models)
    try:
        code = cli.main([a.format(m=models) for a in args])
    except SystemExit as e:  # argparse's errors: exit 1 like the others (it uses 2)
        code = e.code
    assert code == 1
    assert message in _no_traceback(capsys)
    assert sorted(p.name for p in models.iterdir() if p.suffix != ".py") in ([], ["__pycache__"])


# ----------------------------------------------------------------------------
# the cache
# ----------------------------------------------------------------------------


def _fake_build(calls: list[int]):
    def build(folder: Path) -> dict:
        calls.append(1)
        (folder / cache.LIBRARY).write_bytes(b"\x7fELF library" * 100)
        (folder / toolchain.RUNTIME).write_bytes(b"\x7fELF runtime" * 100)
        (folder / "linalg.mlir").write_text("module {}\n")
        return {"weights": [], "schedule": ["s"], "fallbacks": []}

    return build


@pytest.mark.parametrize("name", [cache.LIBRARY, toolchain.RUNTIME, "linalg.mlir", cache.ENTRY])
@pytest.mark.parametrize("how", ["truncate", "empty", "flip", "delete", "folder", "extra"])
def test_damaged_cache_entry_is_rebuilt(tmp_path, monkeypatch, name, how):
    """Every file of an entry is checked on a hit (a truncated runtime gave
    SIGBUS in every later process, a flipped linalg.mlir a UnicodeDecodeError)."""
    monkeypatch.setenv("SPARCC_CACHE_DIR", str(tmp_path))
    calls: list[int] = []
    entry, meta, hit = cache.get_or_build("k", _fake_build(calls))
    assert not hit and calls == [1]
    assert cache.get_or_build("k", _fake_build(calls))[2] and calls == [1]
    f = entry / name
    data = f.read_bytes()
    if how == "truncate":
        f.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        f.write_bytes(b"")
    elif how == "flip":  # in entry.json: a byte of a value, so that it still parses
        at = data.index(b'"s"') + 1 if name == cache.ENTRY else len(data) // 2
        f.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
        if name == cache.ENTRY:
            json.loads(f.read_bytes())
    elif how == "delete":
        f.unlink()
    elif how == "folder":
        f.unlink()
        f.mkdir()
    elif how == "extra":
        (entry / "stray.so").write_bytes(b"x")
    rebuilt = cache.STATS["rebuilt"]
    entry2, meta2, hit = cache.get_or_build("k", _fake_build(calls))
    assert not hit and calls == [1, 1] and cache.STATS["rebuilt"] == rebuilt + 1
    assert meta2 == meta and (entry2 / name).is_file() or name == cache.ENTRY
    assert cache.get_or_build("k", _fake_build(calls))[2]  # sound again
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".")]  # no trash or build folders


def test_unusable_cache_folder_is_a_message(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SPARCC_CACHE_DIR", str(tmp_path / "file"))
    with pytest.raises(SparccError, match="cannot use the compile cache in .*SPARCC_CACHE=0"):
        cache.get_or_build("k", _fake_build([]))


@pytest.mark.parametrize("how", ["truncate", "flip", "delete_seal"])
def test_damaged_runtime_is_rebuilt(tmp_path, monkeypatch, how):
    """The runtime every entry copies is checked against its sha256 too: a
    damaged one was copied into every new entry."""
    monkeypatch.setenv("SPARCC_CACHE_DIR", str(tmp_path))
    lib = toolchain.runtime_library()
    good = lib.read_bytes()
    if how == "truncate":
        lib.write_bytes(good[:1000])
    elif how == "flip":
        lib.write_bytes(good[:5000] + bytes([good[5000] ^ 1]) + good[5001:])
    else:
        lib.with_name(lib.name + ".sha256").unlink()
    assert toolchain.runtime_library() == lib
    assert lib.read_bytes() == good  # gcc is deterministic here: the same library again


# ----------------------------------------------------------------------------
# artifacts
# ----------------------------------------------------------------------------


def test_failed_recompile_keeps_the_artifact(tmp_path):
    """A compile that fails (an unsupported op) into the folder of a good
    artifact used to delete its manifest: the folder no longer loaded."""
    x = torch.randn(2, 16)
    good = torch.nn.Linear(16, 4).eval()
    (tmp_path / "mine.txt").write_text("the user's own file")
    sparcc.compile(good, (x,), tmp_path, threads=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(sparcc.UnsupportedOpError):
        sparcc.compile(lambda t: torch.linalg.qr(t).Q, (x,), tmp_path, threads=1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    with torch.no_grad():
        torch.testing.assert_close(sparcc.load(tmp_path)(x), good(x), atol=1e-5, rtol=1e-5)
    # a successful compile replaces the artifact's files and keeps the user's
    other = torch.nn.Linear(16, 3).eval()
    sparcc.compile(other, (x,), tmp_path, threads=1)
    assert (tmp_path / "mine.txt").read_text() == "the user's own file"
    with torch.no_grad():
        torch.testing.assert_close(sparcc.load(tmp_path)(x), other(x), atol=1e-5, rtol=1e-5)
    assert not [p for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}.sparcc-")]


def test_empty_output_name_is_rejected(tmp_path, monkeypatch):
    """-o '' silently wrote the artifact into the current folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SparccError, match="expected the name of a folder"):
        sparcc.compile(torch.nn.Linear(4, 2), (torch.randn(1, 4),), "")
    assert os.listdir(tmp_path) == []


def test_input_too_big_to_copy_is_a_message():
    """An expanded input of 2^35 elements needs a contiguous copy of 128 GiB:
    torch's allocation error came through as a RuntimeError."""
    fast = sparcc.jit(torch.nn.Linear(16, 4), threads=1)
    with pytest.raises(SparccError, match="cannot allocate this call's buffers"):
        fast(torch.zeros(1, 16).expand(2**31, 16))
    # after a call of another size: the dynamic program's path
    fast = sparcc.jit(lambda x: torch.softmax(x, -1), threads=1)
    fast(torch.randn(2, 16))
    with pytest.raises(SparccError, match="cannot allocate this call's buffers"):
        fast(torch.zeros(1, 16).expand(2**31, 16))


def test_artifact_compiled_from_one_tensor_passed_twice(tmp_path):
    """torch.export traces f(a, a) as a program that reads one input for both:
    the artifact then computed f(y, y) for any (x, y)."""
    fn = lambda x, y: x * y + x  # noqa: E731
    a = torch.randn(2, 16)
    sparcc.compile(fn, (a, a), tmp_path, threads=1)
    b, c = torch.randn(2, 16), torch.randn(2, 16)
    torch.testing.assert_close(sparcc.load(tmp_path)(b, c), fn(b, c))


def test_jit_called_first_with_one_tensor_passed_twice():
    fn = lambda x, y: x * y + x  # noqa: E731
    fast = sparcc.jit(fn, threads=1)
    a = torch.randn(2, 16)
    fast(a, a)
    b, c = torch.randn(2, 16), torch.randn(2, 16)
    torch.testing.assert_close(fast(b, c), fn(b, c))
