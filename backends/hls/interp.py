"""The bit-exact model of an emitted design: interprets the annotated loop
IR with the C++ semantics the emitter gives it (emit.py's docstring), in
Python, value by value.

- float nests: IEEE float32 arithmetic (numpy float32 scalars) and the C
  library's own expf/tanhf/... through ctypes, as g++ -O2 without
  -ffast-math computes them;
- ap_fixed<W,I> nests: each op's exact result (float64 holds it: W <= 26)
  rounded by fixed.quantize (AP_TRN, AP_WRAP); divides and math functions
  in double through the C library, then rounded.

It is slow (microseconds per scalar op) and meant for small designs: the
tests compare the C simulation's outputs with it bit for bit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sparcc.backends.hls.emit import ATTR_TYPE, Buffer, EmitError, Emitter, _attr, _name, str_attr
from sparcc.backends.hls.fixed import literal, parse, quantize

_libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
MATH_NAMES = {
    "math.exp": "exp", "math.log": "log", "math.tanh": "tanh", "math.sqrt": "sqrt", "math.erf": "erf",
    "math.absf": "fabs", "math.floor": "floor", "math.ceil": "ceil", "math.sin": "sin", "math.cos": "cos",
    "math.log1p": "log1p", "math.expm1": "expm1", "math.exp2": "exp2", "math.log2": "log2", "math.atan": "atan",
    "math.round": "round", "math.trunc": "trunc", "math.sinh": "sinh", "math.cosh": "cosh",
    "math.asin": "asin", "math.acos": "acos", "math.asinh": "asinh", "math.acosh": "acosh",
    "math.atanh": "atanh", "math.log10": "log10", "math.erfc": "erfc",
}


INT_OPS = {
    "arith.addi": lambda x, y: x + y, "arith.subi": lambda x, y: x - y, "arith.muli": lambda x, y: x * y,
    "arith.maxsi": max, "arith.minsi": min, "arith.andi": lambda x, y: x & y, "arith.ori": lambda x, y: x | y,
    "arith.xori": lambda x, y: x ^ y, "arith.shli": lambda x, y: x << y, "arith.shrsi": lambda x, y: x >> y,
    "arith.divsi": lambda x, y: int(x / y), "arith.remsi": lambda x, y: int(math.fmod(x, y)),
}


def _fn(name: str, single: bool, nargs: int = 1) -> Any:
    f = getattr(_libm, name + ("f" if single else ""))
    t = ctypes.c_float if single else ctypes.c_double
    f.restype, f.argtypes = t, [t] * nargs
    return f


class Model:
    """Runs one design's entry function on numpy inputs."""

    def __init__(self, module: Any, emitter: Emitter):
        self.module, self.e = module, emitter
        self.env: dict[Any, Any] = {}
        self.mem: dict[str, np.ndarray] = {}
        self.fmt: Any = None  # the current nest's Fixed, or None

    def __call__(self, inputs: Sequence[np.ndarray], store: dict[str, Any]) -> list[np.ndarray]:
        k = self.e
        for b in k.buffers:
            self.mem[b.name] = self._initial(b, store)
        ins = [b for b in k.buffers if b.role == "input"]
        for b, x in zip(ins, inputs):
            self.mem[b.name] = np.asarray(x, dtype=np.float64 if b.elem.startswith("f") else np.int64).reshape(-1).copy()
        for op in k.func.regions[0].blocks[0].operations:
            self.run(op)
        return [self.mem[b.name].astype(np.float32 if b.elem == "f32" else np.float64).reshape(b.shape)
                for b in k.buffers if b.role == "output"]

    def _initial(self, b: Buffer, store: dict[str, Any]) -> np.ndarray:
        if b.role == "weight":
            from sparcc.backends.hls.project import weight_data

            data = np.asarray(weight_data(b, store), dtype=np.float64).reshape(-1)
            return quantize(data, parse(b.ctype)) if b.ctype.startswith("ap_fixed") else data
        if b.role == "constant":
            return np.asarray(b.value, dtype=np.float64).reshape(-1)
        return np.zeros(b.size, dtype=np.float64)

    # -- ops -----------------------------------------------------------------------
    def q(self, x: float) -> float:
        """A float result as the current nest stores it in a variable."""
        if self.fmt is None:
            return float(np.float32(x))
        return float(quantize(x, self.fmt))

    def addr(self, memref: Any, indices: list[Any]) -> tuple[str, int]:
        base, strides, offset = self.e.views[memref]
        return base.name, offset + sum(int(self.env[i]) * s for i, s in zip(indices, strides))

    def run(self, op: Any) -> None:
        name = _name(op)
        env = self.env
        ops = list(op.operands)
        if name == "scf.for":
            outer = op.operation.parent is not None and _name(op.operation.parent) == "func.func"
            saved = self.fmt
            if outer:
                t = str_attr(op, ATTR_TYPE)
                self.fmt = parse(t) if t else None
            lb, ub, step = (int(env[v]) for v in ops[:3])
            block = op.operation.regions[0].blocks[0]
            iv = block.arguments[0]
            body = list(block.operations)
            for i in range(lb, ub, step):
                env[iv] = i
                for inner in body:
                    self.run(inner)
            self.fmt = saved
            return
        if name == "scf.if":
            regions = op.operation.regions
            k = 0 if env[ops[0]] else 1
            if k < len(regions) and regions[k].blocks:
                for inner in regions[k].blocks[0].operations:
                    if _name(inner) == "scf.yield":
                        for r, y in zip(op.results, inner.operands):
                            env[r] = env[y]
                    else:
                        self.run(inner)
            return
        if name in ("scf.yield", "func.return", "func.call", "memref.dealloc", "hls.source", "memref.alloc", "memref.alloca", "memref.get_global",
                    "memref.subview", "memref.expand_shape", "memref.collapse_shape", "memref.cast",
                    "memref.reinterpret_cast"):
            return
        if name == "memref.copy":
            import itertools

            (src, ss, so), (dst, ds, do) = self.e.views[ops[0]], self.e.views[ops[1]]
            shape = [int(d) for d in ops[0].type.shape]
            for ix in itertools.product(*(range(d) for d in shape)):
                v = self.mem[src.name][so + sum(i * k for i, k in zip(ix, ss))]
                if dst.ctype.startswith("ap_fixed"):
                    v = float(quantize(v, parse(dst.ctype)))
                elif dst.ctype == "float":
                    v = float(np.float32(v))
                self.mem[dst.name][do + sum(i * k for i, k in zip(ix, ds))] = v
            return
        res = op.results[0] if len(op.results) else None
        if name == "arith.constant":
            from mlir import ir

            t = str(res.type)
            a = _attr(op, "value")
            if not t.startswith("f"):
                env[res] = ir.IntegerAttr(a).value
            else:
                v = ir.FloatAttr(a).value
                env[res] = literal(v, self.fmt) if self.fmt is not None else float(np.float32(v))
            return
        if name == "memref.load":
            buf, i = self.addr(ops[0], ops[1:])
            v = self.mem[buf][i]
            env[res] = self.q(v) if str(res.type).startswith("f") else int(v)
            return
        if name == "memref.store":
            buf, i = self.addr(ops[1], ops[2:])
            base = self.e.views[ops[1]][0]
            consts = self.e.float_consts
            v = literal(consts[ops[0]], self.fmt) if self.fmt is not None and ops[0] in consts else env[ops[0]]
            if base.ctype.startswith("ap_fixed"):
                v = float(quantize(v, parse(base.ctype))) if self.fmt is None or str(self.fmt) != base.ctype else v
            elif base.ctype == "float":
                v = float(np.float32(v))
            self.mem[buf][i] = v
            return
        consts = self.e.float_consts
        a = [literal(consts[v], self.fmt) if self.fmt is not None and v in consts else env[v] for v in ops]
        fixed = self.fmt is not None
        if name in ("arith.addf", "arith.subf", "arith.mulf"):
            x, y = a
            if fixed:
                r = x + y if name == "arith.addf" else x - y if name == "arith.subf" else x * y
                env[res] = self.q(r)
            else:
                fx, fy = np.float32(x), np.float32(y)
                env[res] = float(fx + fy if name == "arith.addf" else fx - fy if name == "arith.subf" else fx * fy)
        elif name == "arith.divf":
            env[res] = self.q(a[0] / a[1]) if fixed else float(np.float32(a[0]) / np.float32(a[1]))
        elif name in ("arith.maximumf", "arith.maxnumf"):
            env[res] = a[0] if a[0] > a[1] else a[1]
        elif name in ("arith.minimumf", "arith.minnumf"):
            env[res] = a[0] if a[0] < a[1] else a[1]
        elif name == "arith.negf":
            env[res] = self.q(-a[0])
        elif name == "arith.cmpf":
            from mlir import ir

            pred = ir.IntegerAttr(_attr(op, "predicate")).value
            x, y = a
            table = {1: x == y, 2: x > y, 3: x >= y, 4: x < y, 5: x <= y, 6: x < y or x > y, 13: x != y,
                     9: not x <= y, 10: not x < y, 11: not x >= y, 12: not x > y, 0: False, 15: True}
            if pred not in table:
                raise EmitError(f"the bit-exact model does not take cmpf predicate {pred}")
            env[res] = table[pred]
        elif name == "arith.select":
            env[res] = a[1] if a[0] else a[2]
        elif name in INT_OPS:
            env[res] = INT_OPS[name](int(a[0]), int(a[1]))
        elif name == "arith.cmpi":
            from mlir import ir

            pred = ir.IntegerAttr(_attr(op, "predicate")).value
            x, y = int(a[0]), int(a[1])
            if pred >= 6:  # unsigned: as 64-bit patterns
                x, y = x % 2**64, y % 2**64
            env[res] = [x == y, x != y, x < y, x <= y, x > y, x >= y, x < y, x <= y, x > y, x >= y][pred]
        elif name in ("arith.index_cast", "arith.extsi", "arith.trunci", "arith.extui", "arith.index_castui"):
            env[res] = int(a[0])
        elif name in ("arith.sitofp", "arith.extf", "arith.truncf"):
            env[res] = self.q(float(a[0]))
        elif name == "arith.fptosi":
            env[res] = int(math.trunc(a[0]))
        elif name == "math.rsqrt":
            env[res] = self.q(1.0 / _fn("sqrt", False)(a[0])) if fixed else float(
                np.float32(1.0) / np.float32(_fn("sqrt", True)(a[0])))
        elif name == "math.copysign":
            env[res] = self.q(math.copysign(a[0], a[1]))
        elif name == "math.powf":
            env[res] = self.q(_fn("pow", not fixed, 2)(a[0], a[1]))
        elif name in MATH_NAMES:
            env[res] = self.q(_fn(MATH_NAMES[name], not fixed)(a[0]))
        else:
            raise EmitError(f"the bit-exact model does not take '{name}'")


def simulate(linalg: str, opts: Any, inputs: Sequence[np.ndarray], store: dict[str, Any]) -> list[np.ndarray]:
    """The design of `linalg` under `opts` (target.Options), run by the model."""
    from sparcc.backends.hls import emit, lower, schedule

    module = lower.to_loops(linalg)
    with module.context:
        func = emit.entry_function(module)
        n_in, weights = emit.signature(func)
        args = list(func.arguments)
        schedule.annotate(module, func, {args[n_in + i]: w["name"] for i, w in enumerate(weights)}, opts.schedule,
                          schedule.parse_precision(opts.precision), opts.interface)
        emitter = emit.Emitter(func)
        emitter.run(module)
        return Model(module, emitter)(inputs, store)
