"""backends/cpu/kernels.py: one record per C kernel. The lowering, the
ctypes bindings and the C header read it; a record that disagrees with the
C definition stops the runtime's build."""

import dataclasses

import pytest
import sparcc
from sparcc.backends.cpu import kernels, toolchain


def test_the_header_declares_every_record_as_the_c_defines_it():
    header = kernels.c_header()
    for record in kernels.RECORDS.values():
        assert record.c_prototype() in header
    assert ("void sparcc_qlinear_mx4(const float *x, const uint8_t *codes, const uint8_t *scales, "
            "const float *lut, const float *bias, float *y, int64_t M, int64_t N, int64_t K, int64_t flags);") in header
    assert {f"sparcc_sp_{k}" for k in ("csr", "bsr", "nm")} <= set(kernels.RECORDS)


def test_a_record_that_disagrees_with_the_c_kernel_does_not_build(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARCC_CACHE_DIR", str(tmp_path))
    lut4 = kernels.QLINEAR["lut4"]
    wrong = dataclasses.replace(lut4, operands=lut4.operands[:-1])  # the flags operand forgotten
    monkeypatch.setitem(kernels.RECORDS, lut4.symbol, wrong)
    with pytest.raises(sparcc.PipelineError, match="building sparcc's runtime failed.*sparcc_qlinear_lut4"):
        toolchain.runtime_library()


def test_the_lowering_declares_the_kernels_from_their_records():
    from sparcc.backends.cpu.lower_quant import arg_types

    for record in kernels.RECORDS.values():
        types = [str(t) for t in arg_types(record.symbol)]
        assert types == record.mlir_types()
        assert all((t.startswith("memref<1x")) == o.is_pointer for t, o in zip(types, record.operands))
