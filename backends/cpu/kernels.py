"""One record per C kernel of the CPU target's library: its symbol and its
operands in order, each with its C type.

The records are the single statement of each kernel's ABI. The lowerings
(lower_quant.py, lower_sparse.py) build their calls and declarations from
them, the ctypes bindings (qlinear.py, sparse_kernels.py) set their
argument types from them, and the C header `c_header()` declares them: the
runtime is compiled with that header forced in (toolchain.runtime_library),
so a C definition that disagrees with its record does not compile.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

#: bits of the quantised kernels' `flags` operand
FLAG_ZEROS = 1
FLAG_BIAS = 2

# C type -> (ctypes type, MLIR type of the operand at a call: a pointer is a memref<1xT>)
_TYPES = {
    "int64_t": (ctypes.c_int64, "i64"),
    "double": (ctypes.c_double, "f64"),
    "const float *": (ctypes.c_void_p, "memref<1xf32>"),
    "float *": (ctypes.c_void_p, "memref<1xf32>"),
    "const uint8_t *": (ctypes.c_void_p, "memref<1xi8>"),
    "const void *": (ctypes.c_void_p, "memref<1xi8>"),  # index buffers, read at the format's widths
}


@dataclass(frozen=True)
class Operand:
    name: str
    c_type: str  # a key of _TYPES

    @property
    def is_pointer(self) -> bool:
        return self.c_type.endswith("*")


@dataclass(frozen=True)
class KernelRecord:
    symbol: str
    operands: tuple[Operand, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.operands)

    def c_prototype(self) -> str:
        params = [f"{o.c_type}{'' if o.is_pointer else ' '}{o.name}" for o in self.operands]
        return f"void {self.symbol}({', '.join(params)});"

    def ctypes_args(self) -> list[type]:
        return [_TYPES[o.c_type][0] for o in self.operands]

    def mlir_types(self) -> list[str]:
        return [_TYPES[o.c_type][1] for o in self.operands]


def _record(symbol: str, operands: str) -> KernelRecord:
    """A record from "ctype name, ctype name, ..." (pointer types end in '*')."""
    parsed = []
    for part in operands.split(","):
        c_type, _, name = part.strip().rpartition(" ")
        parsed.append(Operand(name, c_type.strip()))
    return KernelRecord(symbol, tuple(parsed))


_Q4 = ("const float * x, const uint8_t * codes, const float * scales, const float * zeros, const float * lut, "
       "const float * bias, float * y, int64_t M, int64_t N, int64_t K, int64_t group, int64_t flags")

# y[M, N] = x[M, K] @ dequant(codes)[N, K]^T (+ bias): ukernels.c
QLINEAR: dict[str, KernelRecord] = {
    "lut4": _record("sparcc_qlinear_lut4", _Q4),
    "mx4": _record("sparcc_qlinear_mx4",
                   "const float * x, const uint8_t * codes, const uint8_t * scales, const float * lut, "
                   "const float * bias, float * y, int64_t M, int64_t N, int64_t K, int64_t flags"),
    "lut8": _record("sparcc_qlinear_lut8", _Q4),
}

# y[M, N] = x[M, K] @ W[N, K]^T (+ bias) for a 2:4 weight of 4-bit codes,
# packed by sqlinear.py (sqkernels.c); `group` counts kept values per scale
SPARSE_QUANT: dict[str, KernelRecord] = {
    "24x4": _record("sparcc_sqlinear_24x4",
                    "const float * x, const uint8_t * packed, const float * scales, const float * zeros, "
                    "const float * lut, const float * bias, float * y, int64_t M, int64_t N, int64_t K, "
                    "int64_t group, int64_t flags"),
}

# a sparse matrix A [rows, cols] in one storage kind times a dense operand (spkernels.c):
# mode linear: c = b @ A^T (+ bias), b [n, cols]; mode spmm: c = A @ b, b [cols, n]
SPARSE_KINDS = ("csr", "csc", "coo", "dcsr", "ell", "bsr", "nm", "vnm")
SPARSE: dict[str, KernelRecord] = {
    kind: _record(
        f"sparcc_sp_{kind}",
        "int64_t mode, int64_t rows, int64_t cols, int64_t n, const void * i0, const void * i1, "
        "const void * i2, const void * i3, const float * val, const float * b, const float * bias, float * c, "
        "int64_t p0, int64_t p1, int64_t p2, int64_t flags",
    )
    for kind in SPARSE_KINDS
}
SDDMM_CSR = _record(
    "sparcc_sddmm_csr",
    "int64_t rows, int64_t cols, int64_t k, const void * pos, const void * crd, const float * sval, "
    "const float * a1, const float * a2, float * out, double alpha, double beta, int64_t flags",
)

RECORDS: dict[str, KernelRecord] = {
    r.symbol: r for r in (*QLINEAR.values(), *SPARSE_QUANT.values(), *SPARSE.values(), SDDMM_CSR)
}


def c_header() -> str:
    """The prototypes of every record (forced into the runtime's sources)."""
    lines = [
        "/* generated from backends/cpu/kernels.py: the kernels' ABI */",
        "#ifndef _GNU_SOURCE",
        "#define _GNU_SOURCE /* first: the runtime's sources need it before any system header */",
        "#endif",
        "#include <stdint.h>",
    ]
    lines += [r.c_prototype() for r in RECORDS.values()]
    lines += special_prototypes()
    return "\n".join(lines) + "\n"


def special_prototypes() -> list[str]:
    """`float sparcc_sf_digamma_f32(float);` ...: the special functions
    (specfun.c) that convert-nn-to-linalg calls, for f32 and f64."""
    from sparcc.dialects import nn
    from sparcc.passes.convert_nn_to_linalg import ARITH_SPECIAL, special_symbol
    from xdsl.dialects.builtin import f32, f64

    c_types = {f32: "float", f64: "double", nn.i32: "int32_t"}
    lines = []
    for fn, arity in nn.SPECIAL_FUNCTIONS.items():
        if fn in ARITH_SPECIAL:
            continue
        for typ in (f32, f64):
            result = c_types[nn.SPECIAL_RESULT.get(fn, typ)]
            lines.append(f"{result} {special_symbol(fn, typ)}({', '.join([c_types[typ]] * arity)});")
    return lines
