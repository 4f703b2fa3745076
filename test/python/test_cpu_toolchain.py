"""The CPU toolchain's failures are sparcc errors: a symbol that no library
defines fails the link (stage, symbol, reproducer), and a library that does
not load is a PipelineError, not a raw OSError."""

import subprocess

import pytest

from sparcc.backends.cpu import load_library, toolchain
from sparcc.errors import PipelineError, SparccError

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


def _many_functions(n: int) -> str:
    """LLVM IR whose `forward` calls n internal noinline functions in turn,
    the i-th adding i to *p (as outlined loop nests are called)."""
    parts = []
    for i in range(n):
        parts.append(
            f"define internal void @nest_{i}(ptr noalias %p) #0 {{\n"
            f"  %v = load i64, ptr %p\n  %w = add i64 %v, {i}\n  store i64 %w, ptr %p\n  ret void\n}}\n"
        )
    calls = "".join(f"  call void @nest_{i}(ptr %p)\n" for i in range(n))
    return "".join(parts) + f"define void @forward(ptr %p) {{\n{calls}  ret void\n}}\n" + 'attributes #0 = { noinline }\n'


def test_a_module_of_many_functions_is_compiled_in_pieces_that_link_into_one_library(tmp_path, monkeypatch):
    import ctypes

    n = 4 * toolchain.SPLIT_MIN_FUNCTIONS
    monkeypatch.setenv("SPARCC_COMPILE_JOBS", "2")
    timings = toolchain.build_shared(_many_functions(n), tmp_path)
    assert "split" in timings  # llvm-split ran: 4 pieces, 2 at a time
    lib = ctypes.CDLL(str(tmp_path / "libmodel.so"))
    value = ctypes.c_int64(7)
    lib.forward(ctypes.byref(value))
    assert value.value == 7 + n * (n - 1) // 2  # every piece's functions ran, once each
    exported = subprocess.run([str(toolchain.llvm_bin() / "llvm-nm"), "-D", "--defined-only",
                               str(tmp_path / "libmodel.so")], capture_output=True, text=True, check=True).stdout
    assert "forward" in exported and "nest_" not in exported  # the moved functions stay hidden


def test_a_small_module_is_not_split(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARCC_COMPILE_JOBS", "8")
    timings = toolchain.build_shared(_many_functions(toolchain.SPLIT_MIN_FUNCTIONS - 1), tmp_path)
    assert "split" not in timings and timings["opt"] > 0


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_compile_jobs_setting_is_one_clear_error(value, monkeypatch):
    monkeypatch.setenv("SPARCC_COMPILE_JOBS", value)
    with pytest.raises(SparccError, match=f"SPARCC_COMPILE_JOBS must be a whole number of at least 1, not '{value}'"):
        toolchain.compile_jobs()
