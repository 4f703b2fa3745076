"""Loops on memrefs (backends/hls/lower.py's output, with the schedule's
attributes) -> Vitis-style HLS C++.

The emitter only reads the IR: loop labels, pipeline II, unroll factors,
array partitions, the dataflow flag and number types are attributes that
backends/hls/schedule.py set. It walks the entry function op by op through
a table of handlers (EMIT); an op without one is an error that names it.

Every buffer is a flat C array; a view (subview, expand/collapse_shape) is
its base array read through the view type's strides and offset, so an
index is `offset + i0*s0 + i1*s1 + ...`.

Number types: a loop nest with `hls.type = "ap_fixed<W,I>"` computes every
float value as that type (each op's exact result is rounded to it: the
ap_fixed default AP_TRN / AP_WRAP), converts what it loads, and calls math
functions and divides in double. Buffers take the type of the nest that
writes them, weights the type of the nest that first reads them; the top
function's arguments stay float.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sparcc.errors import SparccError

ATTR_LABEL = "hls.label"
ATTR_PIPELINE = "hls.pipeline"  # II
ATTR_UNROLL = "hls.unroll"  # factor; 0 = complete
ATTR_TYPE = "hls.type"  # on a nest's outer loop
ATTR_LAYER = "hls.layer"  # on a nest's outer loop
ATTR_PARTITION = "hls.partition"  # on the function: {buffer: "kind:factor:dim"}
ATTR_DATAFLOW = "hls.dataflow"
ATTR_INTERFACE = "hls.interface"  # "m_axi" | "ap_memory" | "stream"
ATTR_TRIPS = "hls.trips"  # on a loop whose bounds are data: its trip count in each iteration of its parent
ATTR_TRIPCOUNT = "hls.tripcount"  # the same loop: [min, max, avg] (#pragma HLS loop_tripcount)
ATTR_ESTIMATED = "hls.trips_estimated"  # those trips are an estimate (the weights were not at hand)

SCALAR = {"f32": "float", "f64": "double", "i1": "bool", "i8": "signed char", "i16": "short", "i32": "int",
          "i64": "long long", "index": "long long"}


class EmitError(SparccError):
    """The HLS emitter cannot express an op or a schedule."""


@dataclass
class Buffer:
    """One C array."""

    name: str
    shape: list[int]
    elem: str  # MLIR element type
    role: str  # input | output | weight | local | constant
    ctype: str = "float"
    weight: str | None = None  # the store name of a weight
    value: Any = None  # a constant's numpy data
    partition: tuple[str, int, int] | None = None  # (kind, factor, dim)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Kernel:
    """What the emitter produced: the C++ of the top function and what the
    project writer, the testbench and the loader need."""

    top: str
    body: str
    buffers: list[Buffer]
    inputs: list[Buffer]
    outputs: list[Buffer]
    weights: list[Buffer]
    interface: str
    dataflow: bool
    fixed_types: set[str] = field(default_factory=set)
    items: list[Item] = field(default_factory=list)
    weights_file: bool = False  # weights.bin through an m_axi port, not ROM initialisers (project.py)


@dataclass
class Item:
    """One top-level statement of the core (a loop nest, a copy), as the
    dataflow split (dataflow.py) sees it: its C++ lines, the arrays it
    reads and writes (by C name) and its layer."""

    text: str
    reads: set[str]
    writes: set[str]
    layer: str
    label: str | None = None  # a nest's outer loop label (the QoR model's key)


def _name(op: Any) -> str:
    return str(op.operation.name)


def _attr(op: Any, key: str) -> Any:
    attrs = op.operation.attributes
    return attrs[key] if key in attrs else None


def int_attr(op: Any, key: str) -> int | None:
    a = _attr(op, key)
    if a is None:
        return None
    from mlir import ir

    return ir.IntegerAttr(a).value


def str_attr(op: Any, key: str) -> str | None:
    a = _attr(op, key)
    if a is None:
        return None
    from mlir import ir

    return ir.StringAttr(a).value


def where(op: Any) -> str:
    """The op's source location, as the user wrote it where one is known:
    its own, else the source marker before its top-level statement
    (sources.py); "unknown location" when neither is."""
    from sparcc.backends.hls.sources import MARKER

    loc = str(op.operation.location).removeprefix("loc(").removesuffix(")")
    if loc not in ("unknown", "") and not loc.startswith('"-":'):  # "-": a line of the IR text sparcc handed MLIR
        return loc
    top = op.operation
    while top.parent is not None and _name(top.parent) != "func.func":
        top = top.parent
    if top.parent is None:
        return "unknown location"
    source = None
    for o in top.parent.regions[0].blocks[0].operations:
        if o.operation == top:
            break
        if _name(o) == MARKER:
            source = str_attr(o, "location")
    return source or "unknown location"


def c_float(v: float, elem: str = "f32") -> str:
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    text = repr(float(v))
    if "e" not in text and "." not in text and "inf" not in text:
        text += ".0"
    return text + ("f" if elem == "f32" else "")


def c_int(v: int) -> str:
    if v == -(2**63):
        return "(-9223372036854775807LL - 1)"
    return str(v) if -(2**31) <= v < 2**31 else f"{v}LL"


def fixed_literal(v: float, ctype: str) -> str:
    from sparcc.backends.hls.fixed import literal, parse

    return f"{ctype}({c_float(literal(v, parse(ctype)), 'f64')})"


def sanitize(name: str) -> str:
    return re.sub(r"\W", "_", name)


def entry_function(module: Any) -> Any:
    funcs = [op for op in module.body.operations if _name(op) == "func.func"]
    publics = [f for f in funcs if "sym_visibility" not in f.operation.attributes]
    if len(publics) != 1:
        raise EmitError(f"the hls target expects one entry function, found {len(publics)}")
    return publics[0]


def signature(func: Any) -> tuple[int, list[dict[str, Any]]]:
    """(number of inputs, the weight records of lower-entry-abi)."""
    from mlir import ir

    attrs = func.operation.attributes
    n_in = list(ir.DenseI64ArrayAttr(attrs["sparcc.num_inputs"]))[0] if "sparcc.num_inputs" in attrs else None
    weights = []
    if "sparcc.weights" in attrs:
        for rec in ir.ArrayAttr(attrs["sparcc.weights"]):
            d = ir.DictAttr(rec)
            perm = list(ir.DenseI64ArrayAttr(d["perm"])) if "perm" in d else None
            weights.append({"name": ir.StringAttr(d["name"]).value, "perm": perm})
    n_args = len(func.arguments)
    if n_in is None:
        n_in = n_args - len(weights) - 1
    return n_in, weights


VIEWS = ("memref.subview", "memref.expand_shape", "memref.collapse_shape", "memref.cast", "memref.reinterpret_cast")


def weight_c_names(weights: list[dict[str, Any]]) -> list[str]:
    """C names of the weight arguments: w_<name>, with _<k> on a weight the
    entry takes twice (a tied weight, in two layouts)."""
    out: list[str] = []
    for rec in weights:
        base = name = "w_" + sanitize(rec["name"])
        k = 1
        while name in out:
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return out


def buffer_names(func: Any) -> dict[Any, str]:
    """The C array name of every memref value of `func` (a view: its base's),
    as the emitter names them: in<i>, w_<weight>, out<j>, buf<n>, c_<global>."""
    from mlir import ir

    n_in, weights = signature(func)
    names: dict[Any, str] = {}
    args = list(func.arguments)
    for i, a in enumerate(args):
        if i < n_in:
            names[a] = f"in{i}"
        elif i < n_in + len(weights):
            names[a] = weight_c_names(weights)[i - n_in]
        else:
            names[a] = f"out{i - n_in - len(weights)}"
    n_local = 0
    for op in walk(func):
        kind = _name(op)
        if kind in ("memref.alloc", "memref.alloca"):
            names[op.results[0]] = f"buf{n_local}"
            n_local += 1
        elif kind in VIEWS and op.operands[0] in names:
            names[op.results[0]] = names[op.operands[0]]
        elif kind == "memref.get_global":
            names[op.results[0]] = "c_" + sanitize(ir.FlatSymbolRefAttr(op.operation.attributes["name"]).value)
    return names


def memref_info(typ: Any) -> tuple[list[int], str, list[int], int]:
    """shape, element type, strides, offset of a static memref type."""
    from mlir import ir

    mt = ir.MemRefType(typ)
    if not mt.has_static_shape:
        raise EmitError(f"a buffer of type {typ} has a dynamic size: HLS needs static sizes; compile for fixed "
                        "input shapes (no dynamic=)")
    strides, offset = mt.get_strides_and_offset()
    if any(s < 0 or s > 2**62 for s in strides) or offset < 0 or offset > 2**62:
        raise EmitError(f"a view of type {typ} has a dynamic offset or stride, which the hls emitter does not take")
    return list(mt.shape), str(mt.element_type), list(strides), offset


class Emitter:
    """Emits one entry function."""

    def __init__(self, func: Any, top: str = "sparcc_top", interface: str | None = None):
        self.func, self.top = func, top
        self.lines: list[str] = []
        self.names: dict[Any, str] = {}
        self.views: dict[Any, tuple[Buffer, list[int], int]] = {}  # memref value -> base, strides, offset
        self.types: dict[Any, str] = {}  # scalar value -> C type
        self.float_consts: dict[Any, float] = {}
        self.buffers: list[Buffer] = []
        self.counter = 0
        self.nest_type: str | None = None
        self.fixed: set[str] = set()
        self.interface = interface or str_attr(func, ATTR_INTERFACE) or "m_axi"
        self.dataflow = _attr(func, ATTR_DATAFLOW) is not None
        self.globals: dict[str, Any] = {}
        self.partitions = self._partitions()

    def _partitions(self) -> dict[str, tuple[str, int, int]]:
        from mlir import ir

        a = _attr(self.func, ATTR_PARTITION)
        out = {}
        if a is not None:
            for named in ir.DictAttr(a):
                kind, factor, dim = ir.StringAttr(named.attr).value.split(":")
                out[named.name] = (kind, int(factor), int(dim))
        return out

    # -- names ---------------------------------------------------------------
    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def line(self, depth: int, text: str) -> None:
        self.lines.append("  " * depth + text)

    def val(self, v: Any) -> str:
        if v in self.float_consts and (self.nest_type or "").startswith("ap_fixed"):
            return fixed_literal(self.float_consts[v], self.nest_type)
        try:
            return self.names[v]
        except KeyError:
            raise EmitError(f"the hls emitter met a value it has not defined ({v})") from None

    # -- the function ----------------------------------------------------------
    def run(self, module: Any) -> Kernel:
        for op in module.body.operations:
            if _name(op) == "memref.global":
                self.globals[str_attr(op, "sym_name")] = op
        n_in, weights = signature(self.func)
        args = list(self.func.arguments)
        n_w = len(weights)
        inputs, outputs, wbufs = [], [], []
        for i, a in enumerate(args):
            shape, elem, strides, offset = memref_info(a.type)
            if i < n_in:
                b = Buffer(f"in{i}", shape, elem, "input", SCALAR.get(elem, "float"))
                inputs.append(b)
            elif i < n_in + n_w:
                rec = weights[i - n_in]
                ctype = SCALAR.get(elem, "float")
                b = Buffer(weight_c_names(weights)[i - n_in], shape, elem, "weight", ctype, weight=rec["name"])
                b.value = rec.get("perm")
                wbufs.append(b)
            else:
                b = Buffer(f"out{i - n_in - n_w}", shape, elem, "output", SCALAR.get(elem, "float"))
                outputs.append(b)
            if elem not in SCALAR:
                raise EmitError(f"argument {i} has element type {elem}, which the hls emitter does not take")
            self.buffers.append(b)
            self.views[a] = (b, strides, offset)
        for b in wbufs:  # hls-lower-quant's codes: as wide as their value table needs
            lut = next((t for t in wbufs if t.weight == f"{(b.weight or '').removesuffix('#codes')}#lut"), None)
            if (b.weight or "").endswith("#codes") and lut is not None:
                b.ctype = f"ap_uint<{max(1, (lut.shape[0] - 1).bit_length())}>"
        self.assign_types()
        block = self.func.regions[0].blocks[0]
        items: list[Item] = []
        for op in block.operations:
            start = len(self.lines)
            self.emit(op, 1)
            if len(self.lines) > start and _name(op) not in ("memref.alloc", "memref.alloca"):
                reads, writes = self.accesses(op)
                layer = str_attr(op, ATTR_LAYER) or (items[-1].layer if items else "")
                items.append(Item("\n".join(self.lines[start:]), reads, writes, layer, str_attr(op, ATTR_LABEL)))
        for b in self.buffers:
            if b.name in self.partitions:
                b.partition = self.partitions[b.name]
        names = {b.name for b in self.buffers}
        for name in self.partitions:
            if name not in names:
                raise EmitError(f"partition names '{name}', which is not an array of this kernel "
                                f"(its arrays: {', '.join(sorted(names))})")
        return Kernel(self.top, "\n".join(self.lines), self.buffers, inputs, outputs, wbufs, self.interface,
                      self.dataflow, self.fixed, items)

    def accesses(self, op: Any) -> tuple[set[str], set[str]]:
        """The arrays (C names) `op` reads and writes."""
        reads: set[str] = set()
        writes: set[str] = set()
        for inner in walk(op):
            kind = _name(inner)
            if kind == "memref.load" and inner.operands[0] in self.views:
                reads.add(self.views[inner.operands[0]][0].name)
            elif kind == "memref.store" and inner.operands[1] in self.views:
                writes.add(self.views[inner.operands[1]][0].name)
            elif kind == "memref.copy":
                reads.add(self.views[inner.operands[0]][0].name)
                writes.add(self.views[inner.operands[1]][0].name)
        return reads, writes

    def assign_types(self) -> None:
        """Each weight takes the number type of the first nest that reads it
        (a weight read by nests of two types keeps the first)."""
        block = self.func.regions[0].blocks[0]
        seen: set[str] = set()
        for op in block.operations:
            if _name(op) != "scf.for":
                continue
            typ = str_attr(op, ATTR_TYPE)
            for inner in walk(op):
                if _name(inner) == "memref.load":
                    base = self.views.get(inner.operands[0])
                    if (base is not None and base[0].role == "weight" and base[0].name not in seen
                            and base[0].elem in ("f32", "f64")):
                        seen.add(base[0].name)
                        if typ is not None:
                            base[0].ctype = typ
                            self.fixed.add(typ)

    def emit(self, op: Any, depth: int) -> None:
        handler = EMIT.get(_name(op))
        if handler is None:
            raise EmitError(
                f"the hls target cannot emit '{_name(op)}' (at {where(op)}); supported: dense float and "
                f"fixed-point loops (arith, math, memref, scf). The op: {str(op.operation)[:200]}"
            )
        handler(self, op, depth)

    # -- helpers used by handlers ---------------------------------------------
    def index(self, op: Any, memref: Any, indices: list[Any]) -> tuple[Buffer, str]:
        try:
            base, strides, offset = self.views[memref]
        except KeyError:
            raise EmitError(f"'{_name(op)}' at {where(op)} reads a memref the hls emitter does not know") from None
        terms = [] if offset == 0 else [str(offset)]
        for ix, s in zip(indices, strides):
            name = self.val(ix)
            if name == "0" or s == 0:
                continue
            terms.append(name if s == 1 else f"{name}*{s}")
        return base, " + ".join(terms) or "0"

    def ctype_of(self, mlir_type: Any) -> str:
        t = str(mlir_type)
        if t in ("f32", "f64", "f16", "bf16") and self.nest_type is not None:
            return self.nest_type
        if t not in SCALAR:
            raise EmitError(f"the hls emitter does not take scalars of type {t}")
        return SCALAR[t]

    def define(self, op: Any, depth: int, expr: str, result: int = 0) -> None:
        res = op.results[result]
        ctype = self.ctype_of(res.type)
        name = self.fresh()
        self.names[res] = name
        self.types[res] = ctype
        self.line(depth, f"{ctype} {name} = {expr};")

    def as_double(self, v: Any) -> str:
        name = self.val(v)
        return f"(double){name}" if self.types.get(v, "float").startswith("ap_fixed") else name

    def is_fixed(self, v: Any) -> bool:
        return self.types.get(v, "").startswith("ap_fixed")


def walk(op: Any):
    yield op
    for region in op.operation.regions:
        for block in region.blocks:
            for inner in block.operations:
                yield from walk(inner)


EMIT: dict[str, Callable[[Emitter, Any, int], None]] = {}


def handles(*names: str) -> Callable[[Callable[[Emitter, Any, int], None]], Callable[[Emitter, Any, int], None]]:
    def register(fn: Callable[[Emitter, Any, int], None]) -> Callable[[Emitter, Any, int], None]:
        for n in names:
            EMIT[n] = fn
        return fn

    return register


# -- structure -------------------------------------------------------------------

@handles("func.return")
def _return(e: Emitter, op: Any, depth: int) -> None:
    if len(op.operands):
        raise EmitError("the hls entry function must return its results through its output arguments")


@handles("scf.yield")
def _yield(e: Emitter, op: Any, depth: int) -> None:
    if len(op.operands):
        raise EmitError(f"scf.yield with values at {where(op)}: loop-carried values are not supported by the hls emitter")


@handles("scf.for")
def _for(e: Emitter, op: Any, depth: int) -> None:
    if len(op.results):
        raise EmitError(f"a loop with loop-carried values at {where(op)}: not supported by the hls emitter")
    lb, ub, step = (e.val(v) for v in list(op.operands)[:3])
    outer = depth == 1
    saved = e.nest_type
    if outer:
        e.nest_type = str_attr(op, ATTR_TYPE)
        if e.nest_type is not None:
            e.fixed.add(e.nest_type)
    label = str_attr(op, ATTR_LABEL) or e.fresh("L")
    body = op.operation.regions[0].blocks[0]
    iv = body.arguments[0]
    var = label.lower().replace("l", "i", 1)
    e.names[iv] = var
    e.types[iv] = "int"
    layer = str_attr(op, ATTR_LAYER) if outer else None
    if layer:
        e.line(depth, f"// layer {layer}" + (f", {e.nest_type}" if e.nest_type else ""))
    e.line(depth, f"{label}: for (int {var} = {lb}; {var} < {ub}; {var} += {step}) {{")
    ii = int_attr(op, ATTR_PIPELINE)
    if ii is not None:
        e.line(depth + 1, f"#pragma HLS pipeline II={ii}")
    unroll = int_attr(op, ATTR_UNROLL)
    if unroll is not None:
        e.line(depth + 1, "#pragma HLS unroll" + (f" factor={unroll}" if unroll > 0 else ""))
    if ATTR_TRIPCOUNT in op.operation.attributes:  # bounds that are data: what Vitis' report assumes
        from mlir import ir

        lo, hi, avg = ir.DenseI64ArrayAttr(op.operation.attributes[ATTR_TRIPCOUNT])
        e.line(depth + 1, f"#pragma HLS loop_tripcount min={lo} max={hi} avg={avg}")
    for inner in body.operations:
        e.emit(inner, depth + 1)
    e.line(depth, "}")
    if outer:
        e.nest_type = saved


@handles("scf.if")
def _if(e: Emitter, op: Any, depth: int) -> None:
    results = list(op.results)
    for r in results:
        name = e.fresh()
        e.names[r], e.types[r] = name, e.ctype_of(r.type)
        e.line(depth, f"{e.types[r]} {name};")
    regions = op.operation.regions
    for k, region in enumerate(regions):
        if not region.blocks or (k == 1 and not len(region.blocks[0].operations)):
            continue
        e.line(depth, f"if ({e.val(op.operands[0])}) {{" if k == 0 else "else {")
        for inner in region.blocks[0].operations:
            if _name(inner) == "scf.yield":
                for r, y in zip(results, inner.operands):
                    e.line(depth + 1, f"{e.names[r]} = {e.val(y)};")
            else:
                e.emit(inner, depth + 1)
        e.line(depth, "}")


# -- buffers ---------------------------------------------------------------------

@handles("memref.alloc", "memref.alloca")
def _alloc(e: Emitter, op: Any, depth: int) -> None:
    res = op.results[0]
    shape, elem, strides, offset = memref_info(res.type)
    b = Buffer(f"buf{len([x for x in e.buffers if x.role == 'local'])}", shape, elem, "local", SCALAR.get(elem, "float"))
    # the buffer takes the type of the nest that stores to it
    for user in _users_in_function(e.func, res):
        if _name(user) == "memref.store":
            outer = _outer_loop(user)
            t = str_attr(outer, ATTR_TYPE) if outer is not None else None
            if t is not None and elem in ("f32", "f64"):
                b.ctype = t
            break
    e.buffers.append(b)
    e.views[res] = (b, strides, offset)
    e.line(depth, f"static {b.ctype} {b.name}[{b.size}];")
    if b.name in e.partitions:
        kind, factor, dim = e.partitions[b.name]
        e.line(depth, partition_pragma(b.name, kind, factor, dim))


def partition_pragma(name: str, kind: str, factor: int, dim: int) -> str:
    if kind == "complete":
        return f"#pragma HLS array_partition variable={name} complete dim={dim}"
    return f"#pragma HLS array_partition variable={name} {kind} factor={factor} dim={dim}"


def _users_in_function(func: Any, value: Any):
    for op in walk(func):
        if any(o == value for o in op.operation.operands):
            yield op


def _outer_loop(op: Any) -> Any:
    outer = None
    cur = op.operation.parent
    while cur is not None and _name(cur) != "func.func":
        if _name(cur) == "scf.for":
            outer = cur
        cur = cur.parent
    return outer


RUNTIME_HOOKS = {"sparcc_rt_index_error"}  # reads are clamped; the hook reports the first bad index (host side)


@handles("func.call")
def _call(e: Emitter, op: Any, depth: int) -> None:
    from mlir import ir

    from sparcc.passes.convert_nn_to_linalg import SPECIAL_PREFIX

    callee = ir.FlatSymbolRefAttr(_attr(op, "callee")).value
    if callee.startswith(SPECIAL_PREFIX):
        fn = callee.removeprefix(SPECIAL_PREFIX).rsplit("_", 1)[0]
        raise EmitError(
            f"the hls target has no code for PyTorch's special function '{fn}' (at {where(op)}): it is a "
            "function of the CPU runtime; compile this model for target 'cpu'"
        )
    if callee not in RUNTIME_HOOKS:
        raise EmitError(
            f"the hls target cannot emit a call to '{callee}' (at {where(op)}): it emits loops only and has no "
            "kernel library to call"
        )
    e.line(depth, f"{callee}({', '.join(e.val(v) for v in op.operands)});")


@handles("memref.dealloc", "hls.source")
def _nothing(e: Emitter, op: Any, depth: int) -> None:
    pass  # a dealloc (buffers are fixed arrays); a source marker (sources.py)


@handles("memref.get_global")
def _get_global(e: Emitter, op: Any, depth: int) -> None:
    import numpy as np
    from mlir import ir

    sym = ir.FlatSymbolRefAttr(_attr(op, "name")).value
    g = e.globals.get(sym)
    res = op.results[0]
    shape, elem, strides, offset = memref_info(res.type)
    if g is None or _attr(g, "initial_value") is None:
        raise EmitError(f"memref.get_global @{sym} at {where(op)} has no constant initial value")
    dense = ir.DenseElementsAttr(_attr(g, "initial_value"))
    if dense.is_splat:
        scalar = dense.get_splat_value()
        v = ir.FloatAttr(scalar).value if elem.startswith("f") else ir.IntegerAttr(scalar).value
        data = np.full(shape, v)
    else:
        data = np.array(dense)
    existing = next((b for b in e.buffers if b.role == "constant" and b.weight == sym), None)
    if existing is None:
        existing = Buffer(f"c_{sanitize(sym)}", shape, elem, "constant", SCALAR.get(elem, "float"), weight=sym,
                          value=data.reshape(-1))
        e.buffers.append(existing)
    e.views[res] = (existing, strides, offset)


@handles(*VIEWS)
def _view(e: Emitter, op: Any, depth: int) -> None:
    base, _, _ = e.views[op.operands[0]]
    src_strides, src_offset = e.views[op.operands[0]][1:]
    res = op.results[0]
    shape, elem, strides, offset = memref_info(res.type)
    if _name(op) in ("memref.expand_shape", "memref.collapse_shape") and src_offset:
        offset = src_offset if offset == 0 else offset
    e.views[res] = (base, strides, offset)


@handles("memref.load")
def _load(e: Emitter, op: Any, depth: int) -> None:
    base, idx = e.index(op, op.operands[0], list(op.operands)[1:])
    e.define(op, depth, f"{base.name}[{idx}]")


@handles("memref.store")
def _store(e: Emitter, op: Any, depth: int) -> None:
    value = op.operands[0]
    base, idx = e.index(op, op.operands[1], list(op.operands)[2:])
    text = e.val(value)
    if base.ctype != e.types.get(value, base.ctype):
        text = f"({base.ctype}){text}"
    e.line(depth, f"{base.name}[{idx}] = {text};")


@handles("memref.copy")
def _copy(e: Emitter, op: Any, depth: int) -> None:
    src, dst = op.operands[0], op.operands[1]
    shape = memref_info(src.type)[0]
    sb, ss, so = e.views[src]
    db, ds, do = e.views[dst]
    label = e.fresh("Lcopy")
    vars_ = [f"{label.lower()}_{k}" for k in range(len(shape))]
    for k, n in enumerate(shape):
        e.line(depth + k, f"{label}_{k}: for (int {vars_[k]} = 0; {vars_[k]} < {n}; ++{vars_[k]}) {{")

    def at(strides: list[int], offset: int) -> str:
        return " + ".join([str(offset)] + [f"{v}*{s}" for v, s in zip(vars_, strides)])

    e.line(depth + len(shape), f"{db.name}[{at(ds, do)}] = ({db.ctype}){sb.name}[{at(ss, so)}];")
    for k in reversed(range(len(shape))):
        e.line(depth + k, "}")


# -- scalars ---------------------------------------------------------------------

@handles("arith.constant")
def _constant(e: Emitter, op: Any, depth: int) -> None:
    from mlir import ir

    res = op.results[0]
    t = str(res.type)
    a = _attr(op, "value")
    if t == "index" or (t.startswith("i") and t in SCALAR):
        v = ir.IntegerAttr(a).value
        e.names[res] = c_int(int(v)) if t != "i1" else ("true" if v else "false")
        e.types[res] = SCALAR[t]
        return
    if t in ("f32", "f64"):
        v = ir.FloatAttr(a).value
        ctype = e.ctype_of(res.type)
        lit = c_float(v, t)
        e.names[res] = lit if not ctype.startswith("ap_fixed") else fixed_literal(v, ctype)
        e.types[res] = ctype
        e.float_consts[res] = v
        return
    raise EmitError(f"arith.constant of type {t} at {where(op)}: the hls emitter takes scalar constants only")


BINARY = {
    "arith.addf": "+", "arith.subf": "-", "arith.mulf": "*", "arith.addi": "+", "arith.subi": "-",
    "arith.muli": "*", "arith.divsi": "/", "arith.remsi": "%", "arith.andi": "&", "arith.ori": "|",
    "arith.xori": "^", "arith.shli": "<<", "arith.shrsi": ">>",
}


@handles(*BINARY)
def _binary(e: Emitter, op: Any, depth: int) -> None:
    a, b = (e.val(v) for v in op.operands)
    e.define(op, depth, f"{a} {BINARY[_name(op)]} {b}")


@handles("arith.divf")
def _divf(e: Emitter, op: Any, depth: int) -> None:
    a, b = op.operands
    if e.is_fixed(a) or e.is_fixed(b) or (e.nest_type or "").startswith("ap_fixed"):
        e.define(op, depth, f"{e.as_double(a)} / {e.as_double(b)}")
    else:
        e.define(op, depth, f"{e.val(a)} / {e.val(b)}")


@handles("arith.maximumf", "arith.maxnumf", "arith.maxsi")
def _max(e: Emitter, op: Any, depth: int) -> None:
    a, b = (e.val(v) for v in op.operands)
    e.define(op, depth, f"({a} > {b} ? {a} : {b})")


@handles("arith.minimumf", "arith.minnumf", "arith.minsi")
def _min(e: Emitter, op: Any, depth: int) -> None:
    a, b = (e.val(v) for v in op.operands)
    e.define(op, depth, f"({a} < {b} ? {a} : {b})")


@handles("arith.negf")
def _neg(e: Emitter, op: Any, depth: int) -> None:
    e.define(op, depth, f"-{e.val(op.operands[0])}")


CMPF = {0: "false", 1: "{a} == {b}", 2: "{a} > {b}", 3: "{a} >= {b}", 4: "{a} < {b}", 5: "{a} <= {b}",
        6: "({a} < {b} || {a} > {b})", 7: "({a} == {a} && {b} == {b})", 8: "!({a} < {b} || {a} > {b})",
        9: "!({a} <= {b})", 10: "!({a} < {b})", 11: "!({a} >= {b})", 12: "!({a} > {b})", 13: "{a} != {b}",
        14: "({a} != {a} || {b} != {b})", 15: "true"}
CMPI = {0: "==", 1: "!=", 2: "<", 3: "<=", 4: ">", 5: ">=", 6: "<", 7: "<=", 8: ">", 9: ">="}


@handles("arith.cmpf")
def _cmpf(e: Emitter, op: Any, depth: int) -> None:
    from mlir import ir

    pred = ir.IntegerAttr(_attr(op, "predicate")).value
    a, b = (e.val(v) for v in op.operands)
    e.define(op, depth, CMPF[pred].format(a=a, b=b))


@handles("arith.cmpi")
def _cmpi(e: Emitter, op: Any, depth: int) -> None:
    from mlir import ir

    pred = ir.IntegerAttr(_attr(op, "predicate")).value
    a, b = (e.val(v) for v in op.operands)
    if pred >= 6:
        a, b = f"(unsigned long long){a}", f"(unsigned long long){b}"
    e.define(op, depth, f"{a} {CMPI[pred]} {b}")


@handles("arith.select")
def _select(e: Emitter, op: Any, depth: int) -> None:
    c, a, b = (e.val(v) for v in op.operands)
    e.define(op, depth, f"{c} ? {a} : {b}")


@handles("arith.sitofp", "arith.uitofp", "arith.fptosi", "arith.fptoui", "arith.extf", "arith.truncf",
         "arith.extsi", "arith.extui", "arith.trunci", "arith.index_cast", "arith.index_castui")
def _cast(e: Emitter, op: Any, depth: int) -> None:
    res = op.results[0]
    src = op.operands[0]
    text = e.as_double(src) if e.is_fixed(src) else e.val(src)
    if _name(op) in ("arith.extui", "arith.uitofp") and str(src.type) == "i1":
        text = f"(int){text}"
    e.define(op, depth, f"({e.ctype_of(res.type)}){text}")


MATH = {
    "math.exp": "std::exp({0})", "math.log": "std::log({0})", "math.tanh": "std::tanh({0})",
    "math.sqrt": "std::sqrt({0})", "math.rsqrt": "1 / std::sqrt({0})", "math.erf": "std::erf({0})",
    "math.absf": "std::fabs({0})", "math.floor": "std::floor({0})", "math.ceil": "std::ceil({0})",
    "math.sin": "std::sin({0})", "math.cos": "std::cos({0})", "math.log1p": "std::log1p({0})",
    "math.expm1": "std::expm1({0})", "math.copysign": "std::copysign({0}, {1})", "math.powf": "std::pow({0}, {1})",
    "math.fma": "std::fma({0}, {1}, {2})", "math.exp2": "std::exp2({0})", "math.log2": "std::log2({0})",
    "math.atan": "std::atan({0})", "math.roundeven": "std::nearbyint({0})", "math.round": "std::round({0})",
    "math.trunc": "std::trunc({0})", "math.sinh": "std::sinh({0})", "math.cosh": "std::cosh({0})",
    "math.asin": "std::asin({0})", "math.acos": "std::acos({0})", "math.asinh": "std::asinh({0})",
    "math.acosh": "std::acosh({0})", "math.atanh": "std::atanh({0})", "math.log10": "std::log10({0})",
    "math.erfc": "std::erfc({0})",
}


@handles(*MATH)
def _math(e: Emitter, op: Any, depth: int) -> None:
    args = [e.as_double(v) for v in op.operands]
    text = MATH[_name(op)].format(*args)
    if _name(op) == "math.rsqrt" and not (e.nest_type or "").startswith("ap_fixed") and str(op.results[0].type) == "f32":
        text = f"1.0f / std::sqrt({args[0]})"
    e.define(op, depth, text)


@handles("arith.bitcast")
def _bitcast(e: Emitter, op: Any, depth: int) -> None:
    res = op.results[0]
    e.define(op, depth, f"sparcc_bitcast<{SCALAR.get(str(res.type), 'int')}>({e.val(op.operands[0])})")
