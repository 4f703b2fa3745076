"""Runs a GPU program's kernels and launch plan on the CPU, for tests on
machines without a GPU.

The kernels are taken as lower.py leaves them before NVVM (kernels.mlir:
one gpu.module of gpu.funcs, no shared memory, no barriers). Each gpu.func
becomes a func.func whose block/thread ids and sizes are extra arguments,
and a wrapper loops over the grid and the block, one thread after another:
equivalent for kernels whose threads write disjoint elements, which is
what the loop mapping produces. The module is JIT-compiled with MLIR's
ExecutionEngine, and the plan (plan.json) is replayed with CPU tensors:
temporaries start as NaN so that a kernel reading what no kernel wrote
shows up in the result.

What this checks: tiling, the loop mapping, the bounds guards, the plan's
buffers, arguments and launch sizes. What it does not: NVVM/PTX code
generation (ptxas checks that the PTX is valid) and the CUDA driver calls.
"""

from __future__ import annotations

import ctypes
import functools
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch
from mlir import ir, passmanager
from mlir.execution_engine import ExecutionEngine

_IDS = {"block_id": "bid", "thread_id": "tid", "block_dim": "bdim", "grid_dim": "gdim"}
_EXTRA = [f"%__{k}_{a}" for k in ("bid", "tid", "bdim", "gdim") for a in "xyz"]
_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "f64": torch.float64,
           "i64": torch.int64, "i32": torch.int32, "i8": torch.int8, "i1": torch.bool}
_CTYPES = {"index": ctypes.c_int64, "i64": ctypes.c_int64, "i32": ctypes.c_int32, "f32": ctypes.c_float,
           "f64": ctypes.c_double, "i1": ctypes.c_bool, "i8": ctypes.c_int8}
TO_LLVM = (
    "convert-scf-to-cf,expand-strided-metadata,lower-affine,convert-math-to-llvm,convert-math-to-libm,"
    "finalize-memref-to-llvm,convert-arith-to-llvm,convert-func-to-llvm{use-bare-ptr-memref-call-conv=true},"
    "convert-cf-to-llvm,convert-index-to-llvm,reconcile-unrealized-casts"
)


def _host_module(kernels: str) -> tuple[str, dict[str, list[str]]]:
    """kernels.mlir as host functions, and each kernel's parameter types."""
    with ir.Context():
        module = ir.Module.parse(kernels)
        gpu_module = next(op.operation for op in module.body.operations if op.operation.name == "gpu.module")
        signatures = {}
        for f in gpu_module.regions[0].blocks[0].operations:
            f = f.operation
            if f.name == "gpu.func":
                fn_type = ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value)
                signatures[ir.StringAttr(f.attributes["sym_name"]).value] = [str(t) for t in fn_type.inputs]
    text = kernels
    text = re.sub(r"gpu\.module @\w+ \{", "", text, count=1)
    text = text.rstrip().removesuffix("}").rstrip().removesuffix("}") + "\n"  # the module's and gpu.module's braces
    extra = ", ".join(f"{v}: index" for v in _EXTRA)

    def header(m: re.Match) -> str:
        return f"func.func @{m.group(1)}({m.group(2)}, {extra}) {{\n  %__c0 = arith.constant 0 : index"

    text = re.sub(r"gpu\.func @(\w+)\((.*?)\) kernel(?: attributes \{.*?\})? \{", header, text)
    text = re.sub(r"gpu\.(block_id|thread_id|block_dim|grid_dim)\s+([xyz])(?:\s+upper_bound\s+\d+)?",
                  lambda m: f"arith.addi %__{_IDS[m.group(1)]}_{m.group(2)}, %__c0 : index", text)
    text = text.replace("gpu.return", "func.return")
    wrappers = []
    for name, types in signatures.items():
        params = ", ".join(f"%a{i}: {t}" for i, t in enumerate(types))
        grid = ", ".join(f"%{n}: index" for n in ("gx", "gy", "gz", "bx", "by", "bz"))
        loops, close = [], []
        for iv, bound in (("iz", "gz"), ("iy", "gy"), ("ix", "gx"), ("jz", "bz"), ("jy", "by"), ("jx", "bx")):
            loops.append(f"scf.for %{iv} = %c0 to %{bound} step %c1 {{")
            close.append("}")
        args = ", ".join([f"%a{i}" for i in range(len(types))]
                         + ["%ix", "%iy", "%iz", "%jx", "%jy", "%jz", "%bx", "%by", "%bz", "%gx", "%gy", "%gz"])
        arg_types = ", ".join(types + ["index"] * 12)
        wrappers.append(
            f"func.func @emu_{name}({params}, {grid}) {{\n"
            "  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n  "
            + "\n  ".join(loops) + f"\n  func.call @{name}({args}) : ({arg_types}) -> ()\n  "
            + "".join(close) + "\n  return\n}\n"
        )
    text = text + "\n".join(wrappers) + "}\n"
    return text, signatures


# LLVM truncates f32 to bf16 through compiler-rt's __truncsfbf2 on a CPU
# without AVX512-BF16, which the JIT finds in no loaded library (GCC 12's
# libgcc lacks it: the lookup gave a null function, called with a segfault).
# Round to nearest even, NaN kept quiet; LLVM reads the result from the low
# 16 bits of xmm0, where a float return puts them.
_TRUNCSFBF2 = r"""
#include <stdint.h>
#include <string.h>
float __truncsfbf2(float x) {
  uint32_t u, r;
  memcpy(&u, &x, 4);
  r = (u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  float out;
  memcpy(&out, &r, 4);
  return out;
}
"""


@functools.cache
def _bf16_runtime() -> str:
    from sparcc.backends.cpu import toolchain

    folder = Path(tempfile.mkdtemp(prefix="sparcc-emulator-"))
    (folder / "bf16.c").write_text(_TRUNCSFBF2)
    lib = folder / "libbf16.so"
    subprocess.run([toolchain.gcc(), "-O2", "-shared", "-fPIC", "-o", str(lib), str(folder / "bf16.c")], check=True)
    return str(lib)


class Emulator:
    """The kernels of one program, compiled for this CPU."""

    def __init__(self, kernels: str):
        text, self.signatures = _host_module(kernels)
        self.context = ir.Context()
        with self.context, ir.Location.unknown():
            module = ir.Module.parse(text)
            passmanager.PassManager.parse(f"builtin.module({TO_LLVM})").run(module.operation)
            self.module = module  # the engine's code lives as long as both
            self.engine = ExecutionEngine(module, opt_level=2, shared_libs=[_bf16_runtime()])
            self.functions = {}
            for name, types in self.signatures.items():
                # raw_lookup gives the packed form: f(void **args), one pointer per argument
                address = self.engine.raw_lookup(f"emu_{name}")
                assert address, f"the JIT could not compile emu_{name} (see its error above)"
                packed = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(address)
                argtypes = [ctypes.c_void_p if t.startswith("memref") else _CTYPES[t] for t in types]
                self.functions[name] = (packed, argtypes + [ctypes.c_int64] * 6)

    def run(self, plan: dict[str, Any], buffers: list[torch.Tensor]) -> list[int] | None:
        """Replays `plan` with the entry function's buffers (inputs, weights,
        results: CPU tensors, contiguous); returns what the kernels reported
        in the index-error buffer (kind, dim, value, size), if the plan has one."""
        error = None
        if plan.get("error_arg") is not None:
            error = torch.zeros(4, dtype=torch.int64)
            buffers = [*buffers, error]
        assert len(buffers) == len(plan["args"])
        keep = {f"arg{i}": b for i, b in enumerate(buffers)}
        for i, t in enumerate(plan["temps"]):
            temp = torch.empty(t["shape"], dtype=_DTYPES[t["dtype"]])
            if temp.is_floating_point():
                temp.fill_(float("nan"))
            keep[f"temp{i}"] = temp
        for i, c in enumerate(plan.get("consts", [])):
            keep[f"const{i}"] = torch.tensor(c["values"], dtype=_DTYPES[c["dtype"]]).reshape(c["shape"])
        for step in plan["steps"]:
            assert step["op"] == "launch", step
            args = [keep[v].data_ptr() if kind == "buf" else v for kind, v in step["args"]]
            assert all(0 < b <= 1024 for b in step["block"]) and step["block"][0] * step["block"][1] * step["block"][2] <= 1024
            packed, argtypes = self.functions[step["kernel"]]
            values = [t(v) for t, v in zip(argtypes, [*args, *step["grid"], *step["block"]], strict=True)]
            slots = (ctypes.c_void_p * len(values))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
            packed(ctypes.cast(slots, ctypes.c_void_p))
        return None if error is None else error.tolist()
