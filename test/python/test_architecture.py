"""The architecture contracts of .importlinter, checked with import-linter:
the target-independent core reaches targets only through the registry of
sparcc.backends, and no target imports another.

The installed package maps folders onto sparcc.* (pyproject's package-dir:
compiler/ is sparcc, dialects/ is sparcc.dialects, ...), which import-linter
cannot follow, so each check lints a tree of links shaped like the
installed package.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"

pytest.importorskip("importlinter")


def _package_tree(where: Path) -> Path:
    package = where / "sparcc"
    package.mkdir(parents=True)
    for f in (ROOT / "compiler").glob("*.py"):
        (package / f.name).symlink_to(f)
    for sub in ("dialects", "passes", "backends"):
        (package / sub).symlink_to(ROOT / sub)
    return where


def _lint(tree: Path) -> subprocess.CompletedProcess:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([lint, "--no-cache", str(CONFIG)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tree)


def test_the_contracts_hold():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = _lint(_package_tree(Path(tmp)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_core_module_that_imports_the_cpu_backend_breaks_them(tmp_path):
    tree = _package_tree(tmp_path)
    errors = tree / "sparcc" / "errors.py"
    text = errors.read_text()
    errors.unlink()
    errors.write_text(text + "\nfrom sparcc.backends.cpu import toolchain  # planted\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "sparcc.errors -> sparcc.backends.cpu" in result.stdout
