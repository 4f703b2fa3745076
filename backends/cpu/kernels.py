"""One record per C kernel of the CPU target's library: its symbol, its
operands in order, and what each operand is.

The records are the single statement of each kernel's ABI. The lowering
(lower_quant.py) builds its calls and declarations from them, the ctypes
bindings (qlinear.py) set their argument types from them, and the C header
`c_header()` declares them: the runtime is compiled with that header forced
in (toolchain.runtime_library), so a C definition that disagrees with its
record does not compile.
"""

from __future__ import annotations

from dataclasses import dataclass

#: bits of the quantised kernels' `flags` operand
FLAG_ZEROS = 1
FLAG_BIAS = 2

@dataclass(frozen=True)
class Pointer:
    """A buffer operand, passed as a bare pointer (memref<1xT> in MLIR)."""

    role: str  # "x", "codes", "scales", ..., "y"
    element: str  # C element type: float | uint8_t
    writes: bool = False

    def c(self) -> str:
        return f"{'' if self.writes else 'const '}{self.element} *{self.role}"


@dataclass(frozen=True)
class KernelRecord:
    symbol: str
    pointers: tuple[Pointer, ...]
    sizes: tuple[str, ...]  # int64_t operands after the pointers, in order

    @property
    def weight_roles(self) -> tuple[str, ...]:
        """The weight buffers it reads, between the input x and the bias."""
        return tuple(p.role for p in self.pointers if p.role not in ("x", "bias", "y"))

    def c_prototype(self) -> str:
        operands = [p.c() for p in self.pointers] + [f"int64_t {s}" for s in self.sizes]
        return f"void {self.symbol}({', '.join(operands)});"


def _qlinear(kind: str, roles: tuple[tuple[str, str], ...], sizes: tuple[str, ...]) -> KernelRecord:
    pointers = (Pointer("x", "float"), *(Pointer(r, e) for r, e in roles),
                Pointer("bias", "float"), Pointer("y", "float", writes=True))
    return KernelRecord(f"sparcc_qlinear_{kind}", pointers, sizes)


# y[M, N] = x[M, K] @ dequant(codes)[N, K]^T (+ bias): ukernels.c
QLINEAR: dict[str, KernelRecord] = {
    "lut4": _qlinear("lut4", (("codes", "uint8_t"), ("scales", "float"), ("zeros", "float"), ("lut", "float")),
                     ("M", "N", "K", "group", "flags")),
    "mx4": _qlinear("mx4", (("codes", "uint8_t"), ("scales", "uint8_t"), ("lut", "float")),
                    ("M", "N", "K", "flags")),
    "lut8": _qlinear("lut8", (("codes", "uint8_t"), ("scales", "float"), ("zeros", "float"), ("lut", "float")),
                     ("M", "N", "K", "group", "flags")),
}
BY_SYMBOL = {r.symbol: r for r in QLINEAR.values()}


def c_header() -> str:
    """The prototypes of every record (forced into the runtime's sources)."""
    lines = [
        "/* generated from backends/cpu/kernels.py: the kernels' ABI */",
        "#ifndef _GNU_SOURCE",
        "#define _GNU_SOURCE /* first: the runtime's sources need it before any system header */",
        "#endif",
        "#include <stdint.h>",
    ]
    lines += [f"{r.c_prototype()}" for r in QLINEAR.values()]
    return "\n".join(lines) + "\n"
