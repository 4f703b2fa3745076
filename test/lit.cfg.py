# lit configuration for sparcc's FileCheck tests: `lit test/ -v` from the repo root.
# ruff: noqa: F821  (lit injects `config` and `lit_config`)

import os
import shutil

import lit.formats
import lit.util

config.name = "sparcc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["lit.cfg.py", "python", "Output", "__pycache__"]

# Tools come from the environment sparcc is installed in (`pip install -e .`).
config.environment["PATH"] = os.environ.get("PATH", "")
for name in ("HOME", "PYTHONPATH", "PYENV_VERSION", "PYENV_ROOT", "VIRTUAL_ENV"):
    if name in os.environ:
        config.environment[name] = os.environ[name]

for tool in ("sparcc-opt", "filecheck"):
    if shutil.which(tool, path=config.environment["PATH"]) is None:
        lit_config.fatal(f"'{tool}' is not on PATH; run `pip install -e '.[test]'` first")

# The FileCheck shipped as the Python `filecheck` package, under both names.
config.substitutions.append((r"\bFileCheck\b", "filecheck"))
