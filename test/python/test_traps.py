"""Regression tests for traps that newcomers hit: a `sparcc` folder shadowing
the package, temporary folders left behind by cache=False, printing a program
that dumped every weight, a library that does not load."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sparcc
from sparcc import cli


def test_shadowing_folder_is_named(tmp_path: Path) -> None:
    assert cli.shadowing_note(str(tmp_path)) is None
    (tmp_path / "sparcc").mkdir()  # e.g. the folder that holds a fresh clone
    note = cli.shadowing_note(str(tmp_path))
    assert note is not None and str(tmp_path / "sparcc") in note and "has no attribute 'jit'" in note
    # the command says so too (it runs fine itself: its sys.path starts at its own folder)
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from sparcc.cli import main; sys.exit(main(['run', 'nope.py:f']))"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONSAFEPATH": "1"},
    )
    assert "shadows the installed sparcc package" in out.stderr and "nope.py" in out.stderr


def _uncached() -> tuple[sparcc.jit_function.JitFunction, Path]:
    fast = sparcc.jit(lambda x: x * 2.0 + 1.0, cache=False)
    x = torch.randn(8)
    torch.testing.assert_close(fast(x), x * 2.0 + 1.0)
    folder = Path(next(iter(fast.cache.values())).report["library"]).parent
    return fast, folder


def test_uncached_folder_goes_when_the_program_is_freed() -> None:
    fast, folder = _uncached()
    assert folder.name.startswith("sparcc-jit-") and folder.is_dir()
    fast.invalidate()
    gc.collect()
    assert not folder.exists()


def test_uncached_folder_goes_at_exit(tmp_path: Path) -> None:
    code = (
        "import torch, sparcc\n"
        "fast = sparcc.jit(lambda x: x + 1.0, cache=False)\n"
        "fast(torch.ones(4))\n"
        "print(next(iter(fast.cache.values())).report['library'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "TMPDIR": str(tmp_path)}, check=True)
    library = Path(out.stdout.strip().splitlines()[-1])
    assert library.parent.parent == tmp_path
    assert not library.parent.exists(), "the program was alive until exit; its folder must go then"


def test_program_repr_is_short(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 64)).eval()
    x = torch.randn(4, 64)
    fast = sparcc.jit(model, threads=1)
    fast(x)
    program = next(iter(fast.cache.values()))
    text = repr(program)
    assert "tensor(" not in text and len(text) < 400, text
    assert "float32[4, 64]" in text and "4 weights" in text
    assert repr(fast) == "<sparcc.jit of Sequential, target='cpu', threads=1, 1 compiled signature(s)>"

    sparcc.compile(model, (x,), tmp_path / "out", threads=1)
    loaded = sparcc.load(tmp_path / "out")
    text = repr(loaded)
    assert "tensor(" not in text and len(text) < 400 and str(tmp_path / "out") in text, text


def test_library_that_does_not_load_is_a_sparcc_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparcc.backends import cpu

    def broken(path: Path, threads: int | None = None) -> None:
        raise OSError(f"{path}: undefined symbol: memrefCopy")

    monkeypatch.setattr(cpu, "load_library", broken)
    with pytest.raises(sparcc.PipelineError, match="does not load: .*undefined symbol: memrefCopy"):
        sparcc.jit(lambda x: x * 3.0, cache=False)(torch.randn(5))


def test_a_failing_pass_is_a_sparcc_error_with_a_reproducer(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparcc.passes import PASSES

    class Broken:
        def apply(self, ctx: object, module: object) -> None:
            raise RuntimeError("boom")

    monkeypatch.setitem(PASSES, "fuse-elementwise", lambda: Broken)
    with pytest.raises(sparcc.PipelineError, match="pass 'fuse-elementwise' failed \\(RuntimeError: boom\\)") as info:
        sparcc.jit(lambda x: x * 3.0, cache=False)(torch.randn(5))
    folder = Path(info.value.reproducer)
    assert "func.func" in (folder / "input.mlir").read_text()
    assert "-p lower-sparse,lower-quant,fuse-attention,channels-last,convert-nn-to-linalg,customize-layout,fuse-elementwise" in (
        folder / "replay.sh").read_text()
