"""The CPU toolchain's failures are sparcc errors: a symbol that no library
defines fails the link (stage, symbol, reproducer), and a library that does
not load is a PipelineError, not a raw OSError."""

import subprocess

import pytest

from sparcc.backends.cpu import load_library, toolchain
from sparcc.errors import PipelineError

# what a strided memref.copy lowers to: a call of MLIR's runtime-library `memrefCopy`
CALLS_MEMREFCOPY = """
declare void @memrefCopy(i64, ptr, ptr)

define void @forward(ptr %a, ptr %b) {
  call void @memrefCopy(i64 4, ptr %a, ptr %b)
  ret void
}
"""


def test_an_undefined_symbol_fails_the_link_with_its_name_and_a_reproducer(tmp_path):
    with pytest.raises(PipelineError) as info:
        toolchain.build_shared(CALLS_MEMREFCOPY, tmp_path / "out")
    message = str(info.value)
    assert message.startswith("linking failed") and "calls memrefCopy, which no linked library defines" in message
    assert info.value.reproducer and not (tmp_path / "out" / "libmodel.so").exists()
    assert "memrefCopy" in open(f"{info.value.reproducer}/model.ll").read()


def test_a_library_that_does_not_load_is_a_pipeline_error(tmp_path):
    (tmp_path / "a.c").write_text("void memrefCopy(void);\nvoid forward(void) { memrefCopy(); }\n")
    lib = tmp_path / "libmodel.so"
    subprocess.run([toolchain.gcc(), "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "a.c")], check=True)
    with pytest.raises(PipelineError, match="stage 'load' failed.*undefined symbol: memrefCopy") as info:
        load_library(lib)
    assert info.value.reproducer == str(tmp_path)
