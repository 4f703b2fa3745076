"""The analytic QoR model of the hls target: cycles, DSP, BRAM18K, LUT and FF
of the emitted design, read from the same annotated loop IR the emitter
prints (backends/hls/emit.py's attributes). The README's "FPGA (HLS C++)"
section states the model; in short:

- trip counts are the loops' constant bounds; a loop whose bounds are data
  (a CSR row) has its trip count per iteration of its parent in hls.trips
  (schedule.annotate_trips, from the weights), and reports its latency
  summed over them;
- a pipelined loop runs N = trip / unroll iterations at interval II and
  takes (N - 1) * II + depth cycles; loops inside it are fully unrolled;
- II = max(the II asked for, the recurrence II, the memory-port II):
  a reduction through memory (a load and a store of the same address in the
  pipelined loop, at an index that does not move with it) needs II >= the
  latency of the ops between them; each array bank has PORTS ports per
  cycle, and an unrolled access spreads over the banks a cyclic/block
  partition gives;
- depth is the longest latency path of one iteration (LATENCY, cycles at
  the stated clock);
- a loop that is not pipelined takes trip / unroll * (body + 1) cycles;
- operators are not shared between nests; an unroll by U replicates the
  operators of the loop it is on U times;
- m_axi and stream ports are copied into on-chip buffers before the
  compute and back after it: size + AXI_LATENCY (64) cycles per m_axi port,
  size + 2 per stream;
- a buffer of at most 1024 bits goes in LUTRAM, a complete partition in
  registers, otherwise each bank takes ceil(depth / 512) * ceil(width / 36)
  BRAM18K;
- dataflow (dataflow.py): a process's latency is its reads, nests and
  writes; the interval the slowest process + 1; FIFOs and each process's
  copies of its arrays count as memory;
- weights.bin: the first call's copy of the weights is weight_load_cycles,
  outside the latency.

The device is a Zynq UltraScale+ xczu7ev at 200 MHz; operator figures are
this model's assumptions (typical of Vitis HLS floating-point and DSP48E2
cores at that clock), not measurements.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from sparcc.backends.hls.emit import (
    ATTR_ESTIMATED, ATTR_LABEL, ATTR_LAYER, ATTR_PIPELINE, ATTR_TRIPS, ATTR_TYPE, ATTR_UNROLL, Buffer, Kernel, _name,
    int_attr, str_attr, walk, where,
)

DEVICE = {"part": "xczu7ev-ffvc1156-2-e", "clock_mhz": 200, "DSP": 1728, "BRAM18K": 624, "LUT": 230400, "FF": 460800}

# (float latency, fixed latency) in cycles at 200 MHz
LATENCY = {
    "load": (2, 2), "store": (1, 1), "add": (4, 1), "mul": (3, 2), "div": (12, 12), "math": (10, 10),
    "cmp": (1, 1), "select": (0, 0), "max": (1, 1), "cast": (2, 1), "int": (0, 0),
}
# per instance (DSP, LUT, FF); fixed point scales with the word length (see _fixed_cost)
COST_FLOAT = {
    "add": (2, 220, 300), "mul": (3, 130, 150), "div": (0, 780, 1300), "math": (7, 1500, 1800),
    "cmp": (0, 70, 40), "max": (0, 100, 40), "select": (0, 32, 0), "cast": (0, 200, 250),
}
# ports per bank and cycle; m_axi and stream ports are copied into on-chip buffers first
PORTS = {"local": 2, "weight": 2, "constant": 2, "m_axi": 2, "ap_memory": 2, "stream": 2}
AXI_LATENCY = 64  # cycles from an m_axi read request to its first beat (assumed DDR round trip)
OP_KIND = {
    "arith.addf": "add", "arith.subf": "add", "arith.mulf": "mul", "arith.divf": "div",
    "arith.maximumf": "max", "arith.minimumf": "max", "arith.maxnumf": "max", "arith.minnumf": "max",
    "arith.cmpf": "cmp", "arith.select": "select", "arith.negf": "int", "arith.sitofp": "cast",
    "arith.fptosi": "cast", "arith.extf": "cast", "arith.truncf": "cast",
}


def _fixed_width(ctype: str | None) -> int | None:
    m = re.match(r"ap_u?(?:fixed|int)<\s*(\d+)", ctype or "")
    return int(m.group(1)) if m else None


def _fixed_cost(kind: str, width: int) -> tuple[int, int, int]:
    if kind == "mul":
        return (math.ceil(width / 27) * math.ceil(width / 18), 0 if width <= 18 else width, 2 * width)
    if kind in ("add", "max", "cmp", "select"):
        return (0, width, width)
    return COST_FLOAT.get(kind, (0, 0, 0))


@dataclass
class LoopQoR:
    label: str
    trip: int
    unroll: int
    ii: int | None  # achieved II when pipelined
    latency: int
    children: list[LoopQoR] = field(default_factory=list)
    ii_parts: dict[str, int] = field(default_factory=dict)
    depth: int = 0
    trips: dict[str, Any] | None = None  # a loop whose bounds are data: its trip counts


@dataclass
class NestQoR:
    layer: str
    loop: LoopQoR
    ops: dict[str, int]
    resources: dict[str, int]
    source: str = "unknown location"  # the user's line (sources.py)


def _constant(v: Any) -> int | None:
    owner = v.owner
    try:
        if owner is not None and _name(owner) == "arith.constant":
            from mlir import ir

            return ir.IntegerAttr(owner.attributes["value"]).value
    except Exception:  # noqa: BLE001 (a block argument has no owner op)
        return None
    return None


def _ints(op: Any, key: str) -> list[int] | None:
    attrs = op.operation.attributes
    if key not in attrs:
        return None
    from mlir import ir

    return list(ir.DenseI64ArrayAttr(attrs[key]))


def static_trip(loop: Any) -> int | None:
    """The trip count of a loop with constant bounds, else None (a loop
    whose bounds are data: a CSR row)."""
    lb, ub, step = (_constant(v) for v in list(loop.operands)[:3])
    if None in (lb, ub, step):
        return None
    return max(0, math.ceil((ub - lb) / step))


def trip_count(loop: Any) -> int:
    trip = static_trip(loop)
    if trip is None:
        from sparcc.backends.hls.emit import EmitError, where

        raise EmitError(f"loop at {where(loop)} has a bound that is not a constant: HLS needs static trip counts "
                        "(or bounds read from a constant array, as a CSR row's)")
    return trip


def body_ops(loop: Any) -> list[Any]:
    return list(loop.operation.regions[0].blocks[0].operations)


def inner_loops(loop: Any) -> list[Any]:
    return [op for op in body_ops(loop) if _name(op) == "scf.for"]


def iv(loop: Any) -> Any:
    return loop.operation.regions[0].blocks[0].arguments[0]


def _latency(op: Any, col: int) -> int:
    name = _name(op)
    if name == "memref.load":
        return LATENCY["load"][col]
    kind = OP_KIND.get(name, "math" if name.startswith("math.") else "int")
    return LATENCY[kind][col]


def _depends(v: Any, iv: Any, depth: int = 0) -> bool:
    """Whether index value `v` is computed from `iv`."""
    if v == iv:
        return True
    if depth > 16:
        return False
    try:
        owner = v.owner
        return _name(owner) != "memref.load" and any(_depends(u, iv, depth + 1) for u in owner.operands)
    except Exception:  # noqa: BLE001 (another block argument)
        return False


def _path(source: Any, value: Any, col: int) -> int:
    """The longest latency from `source` (a loaded value) to `value` along
    data dependences: the recurrence of a reduction through memory."""
    memo: dict[Any, int | None] = {}

    def longest(v: Any) -> int | None:
        if v == source:
            return 0
        if v in memo:
            return memo[v]
        memo[v] = None
        try:
            owner = v.owner
            ops = list(owner.operands) if _name(owner) != "memref.load" else []
        except Exception:  # noqa: BLE001 (a block argument)
            return None
        best = [p for u in ops if (p := longest(u)) is not None]
        memo[v] = max(best) + _latency(owner, col) if best else None
        return memo[v]

    return max(1, longest(value) or 1)


class Model:
    """QoR of one annotated entry function."""

    def __init__(self, func: Any, kernel: Kernel, views: dict[Any, tuple[Buffer, list[int], int]]):
        self.func, self.kernel, self.views = func, kernel, views

    def nests(self) -> list[NestQoR]:
        out = []
        for op in self.func.regions[0].blocks[0].operations:
            if _name(op) != "scf.for":
                continue
            ctype = str_attr(op, ATTR_TYPE)
            ops: dict[str, int] = {}
            loop = self.loop(op, ctype, ops, 1, [])
            res = self.op_resources(ops, ctype)
            out.append(NestQoR(str_attr(op, ATTR_LAYER) or "", loop, ops, res, where(op)))
        return out

    def loop(self, op: Any, ctype: str | None, ops: dict[str, int], copies: int,
             unrolled: list[tuple[Any, int]]) -> LoopQoR:
        """`copies`: how many copies of this loop the unrolls of its
        ancestors make; `unrolled`: those ancestors' (index, factor).
        A loop whose bounds are data (hls.trips: its trip count in each
        iteration of its parent) reports its latency summed over those
        iterations, and its parent adds that sum once."""
        trips = _ints(op, ATTR_TRIPS)
        trip = trip_count(op) if trips is None else max(trips, default=0)
        unroll = int_attr(op, ATTR_UNROLL)
        unroll = trip if unroll == 0 else (unroll or 1)
        label = str_attr(op, ATTR_LABEL) or "?"
        ii_asked = int_attr(op, ATTR_PIPELINE)
        if ii_asked is not None:
            depth, ii_rec, accesses, counts = self.iteration(op, ctype, unroll, unrolled)
            for k, n in counts.items():
                ops[k] = ops.get(k, 0) + n * copies
            ii_mem = self.memory_ii(accesses)
            ii = max(ii_asked, ii_rec, ii_mem)
            parts = {"asked": ii_asked, "recurrence": ii_rec, "memory": ii_mem,
                     "user": "hls.user_ii" in op.operation.attributes}
            if trips is not None:  # an empty row still tests its bound: 1 cycle
                latency = sum((t - 1) * ii + depth if t else 1 for t in trips)
                return LoopQoR(label, trip, 1, ii, latency, [], parts, depth, self.trips_of(op, trips))
            n = trip // unroll
            latency = (n - 1) * ii + depth if n else 0
            return LoopQoR(label, trip, unroll, ii, latency, [], parts, depth)
        mine = [*unrolled, (iv(op), unroll)] if unroll > 1 else unrolled
        children = [self.loop(c, ctype, ops, copies * unroll, mine) for c in inner_loops(op)]
        own = [o for o in body_ops(op) if _name(o) not in ("scf.for", "scf.yield")]
        if not children:  # a loop left unpipelined: its body's path, once per iteration
            depth, _, _, counts = self.iteration(op, ctype, unroll, unrolled)
            for k, n in counts.items():
                ops[k] = ops.get(k, 0) + n * copies
            body = depth
        else:
            body = sum(c.latency for c in children if c.trips is None) + (1 if own else 0)
        if trips is not None:
            return LoopQoR(label, trip, 1, None, sum(t * (body + 1) if t else 1 for t in trips), children,
                           trips=self.trips_of(op, trips))
        latency = (trip // unroll) * (body + 1) + sum(c.latency for c in children if c.trips is not None)
        return LoopQoR(label, trip, unroll, None, latency, children)

    @staticmethod
    def trips_of(op: Any, trips: list[int]) -> dict[str, Any]:
        return {"min": min(trips, default=0), "max": max(trips, default=0), "total": sum(trips),
                "estimated": ATTR_ESTIMATED in op.operation.attributes}

    def iteration(self, loop: Any, ctype: str | None, unroll: int,
                  unrolled: list[tuple[Any, int]]) -> tuple[int, int, dict[tuple[str, str], int], dict[str, int]]:
        """One pipelined iteration of `loop` (inner loops fully unrolled,
        `unroll` copies of the body): its depth, recurrence II, accesses per
        (buffer, access kind) and operator counts."""
        fixed = _fixed_width(ctype) is not None
        col = 1 if fixed else 0
        inner = 1
        flat: list[Any] = []
        for o in walk(loop):
            if o.operation == loop.operation:
                continue
            if _name(o) == "scf.for":
                inner *= trip_count(o)
            else:
                flat.append(o)
        copies = inner * unroll
        ready: dict[Any, int] = {}
        depth = 0
        counts: dict[str, int] = {}
        accesses: dict[tuple[str, str], int] = {}
        loads: dict[tuple[Any, ...], Any] = {}
        ii_rec = 1
        my_iv = iv(loop)
        for o in flat:
            name = _name(o)
            start = max((ready.get(v, 0) for v in o.operands), default=0)
            if name == "memref.load":
                lat = LATENCY["load"][col]
                base = self.views.get(o.operands[0])
                if base is not None:
                    idx = list(o.operands)[1:]
                    key = (base[0].name, "r")
                    accesses[key] = accesses.get(key, 0) + self.spread(idx, my_iv, unroll, inner, unrolled)
                    loads[(base[0].name, *list(o.operands)[1:])] = o
            elif name == "memref.store":
                lat = LATENCY["store"][col]
                base = self.views.get(o.operands[1])
                if base is not None:
                    key = (base[0].name, "w")
                    accesses[key] = accesses.get(key, 0) + self.spread(list(o.operands)[2:], my_iv, unroll, inner,
                                                                       unrolled)
                    idx = list(o.operands)[2:]
                    ld = loads.get((base[0].name, *idx))
                    if ld is not None and not any(_depends(v, my_iv) for v in idx):
                        # a reduction through memory: the chain from the load to this store
                        chain = _path(ld.results[0], o.operands[0], col)
                        ii_rec = max(ii_rec, chain * unroll)
            else:
                kind = OP_KIND.get(name, "math" if name.startswith("math.") else "int")
                lat = LATENCY[kind][col]
                if kind != "int":
                    counts[kind] = counts.get(kind, 0) + copies
            for r in o.results:
                ready[r] = start + lat
            depth = max(depth, start + lat)
        if ii_rec > 1 and unroll > 1:
            depth += ii_rec - ii_rec // unroll
        return depth + 1, ii_rec, accesses, counts

    @staticmethod
    def spread(idx: list[Any], my_iv: Any, unroll: int, inner: int, unrolled: list[tuple[Any, int]]) -> int:
        """Distinct accesses one pipelined iteration makes through an access
        at `idx`: the copies of the unrolls whose index it depends on (an
        address that does not move with a copy is read once for all)."""
        n = inner  # loops inside the pipelined one are fully unrolled; their indices move (conservative)
        if unroll > 1 and any(_depends(v, my_iv) for v in idx):
            n *= unroll
        for ancestor, factor in unrolled:
            if any(_depends(v, ancestor) for v in idx):
                n *= factor
        return n

    def memory_ii(self, accesses: dict[tuple[str, str], int]) -> int:
        per_buffer: dict[str, int] = {}
        for (name, _), n in accesses.items():
            per_buffer[name] = per_buffer.get(name, 0) + n
        ii = 1
        for name, n in per_buffer.items():
            b = next((x for x in self.kernel.buffers if x.name == name), None)
            if b is None:
                continue
            banks = self.banks(b)
            ports = PORTS[self.kernel.interface] if b.role in ("input", "output") else PORTS[b.role]
            ii = max(ii, math.ceil(n / (banks * ports)))
        return ii

    @staticmethod
    def banks(b: Buffer) -> int:
        if b.partition is None:
            return 1
        kind, factor, _ = b.partition
        return b.size if kind == "complete" else factor

    def op_resources(self, ops: dict[str, int], ctype: str | None) -> dict[str, int]:
        width = _fixed_width(ctype)
        dsp = lut = ff = 0
        for kind, n in ops.items():
            d, l_, f = _fixed_cost(kind, width) if width else COST_FLOAT.get(kind, (0, 0, 0))
            dsp, lut, ff = dsp + d * n, lut + l_ * n, ff + f * n
        return {"DSP": dsp, "LUT": lut, "FF": ff}

    def memory(self) -> dict[str, dict[str, int]]:
        out = {}
        for b in self.kernel.buffers:
            if b.role in ("input", "output") and self.kernel.interface == "ap_memory":
                continue  # memories outside the design
            width = _fixed_width(b.ctype) or {"unsigned char": 8, "signed char": 8, "bool": 1, "short": 16,
                                              "double": 64, "long long": 64}.get(b.ctype, 32)
            banks = self.banks(b)
            depth = math.ceil(b.size / banks)
            bits = depth * width
            if b.partition is not None and b.partition[0] == "complete":
                out[b.name] = {"BRAM18K": 0, "LUT": 0, "FF": b.size * width}
            elif bits <= 1024:
                out[b.name] = {"BRAM18K": 0, "LUT": banks * math.ceil(bits / 64) * (width // 32 or 1), "FF": 0}
            else:
                out[b.name] = {"BRAM18K": banks * math.ceil(depth / 512) * math.ceil(width / 36), "LUT": 0, "FF": 0}
        return out


def report(func: Any, kernel: Kernel, views: dict[Any, Any]) -> dict[str, Any]:
    """The QoR estimate as a JSON-able dict."""
    model = Model(func, kernel, views)
    nests = model.nests()
    memory = model.memory()
    total = {"DSP": 0, "BRAM18K": 0, "LUT": 0, "FF": 0}
    for n in nests:
        for k, v in n.resources.items():
            total[k] += v
    for m in memory.values():
        for k, v in m.items():
            total[k] += v
    # interface adapters: one m_axi master per argument plus the s_axilite slave
    n_ports = len(kernel.inputs) + len(kernel.outputs)
    if kernel.interface == "m_axi":
        total["LUT"] += 1200 * n_ports + 250
        total["FF"] += 1500 * n_ports + 350
    load = {}
    if kernel.weights_file:  # the weights.bin port (m_axi), read once by the first call
        from sparcc.backends.hls.project import weight_words

        total["LUT"] += 1200 + (250 if kernel.interface != "m_axi" else 0)
        total["FF"] += 1500 + (350 if kernel.interface != "m_axi" else 0)
        load = {"weight_load_cycles": weight_words(kernel) + AXI_LATENCY}
    from mlir import ir

    attrs = func.operation.attributes
    warnings = [ir.StringAttr(a).value for a in ir.ArrayAttr(attrs["hls.notes"])] if "hls.notes" in attrs else []
    for op in walk(func):
        if _name(op) == "scf.for" and ATTR_ESTIMATED in op.operation.attributes:
            warnings.append(f"loop {str_attr(op, ATTR_LABEL)}: its trip counts are data and the weights were not at "
                            "hand; each iteration is taken to walk an equal share of its arrays")
    graph = None
    if kernel.dataflow:
        from sparcc.backends.hls.dataflow import split

        graph = split(kernel)
        if len([p for p in graph.processes if not p.feed]) < 2:
            graph = None
            warnings.append("dataflow: the design is one process (its nests share arrays that more than one layer "
                            "writes); it runs as without dataflow")
    latencies = [n.loop.latency for n in nests]
    # the top function's copies between the ports and on-chip buffers: one element a cycle, after the
    # AXI latency (m_axi) or the stream's first read
    copies = 0
    port_extra = AXI_LATENCY if kernel.interface == "m_axi" else 2
    if kernel.interface != "ap_memory" and graph is None:
        copies = sum(b.size + port_extra for b in [*kernel.inputs, *kernel.outputs])
    cycles = sum(latencies) + copies + 2
    interval = cycles
    processes = []
    if graph is not None:
        processes = _processes(graph, kernel, nests, port_extra, memory, total)
        cycles = sum(p["latency"] for p in processes) + 2  # within one call, each waits for all its input
        interval = max(p["latency"] for p in processes) + 1
    clock = DEVICE["clock_mhz"]
    return {
        "device": DEVICE["part"],
        "clock_mhz": clock,
        "latency_cycles": cycles,
        "copy_cycles": copies,
        **load,
        "interval_cycles": interval,
        "latency_us": cycles / clock,
        "resources": total,
        "utilisation": {k: total[k] / DEVICE[k] for k in total},
        "nests": [_nest_dict(n) for n in nests],
        **({"dataflow": {"processes": processes, "streams": [
            {"name": st.name, "from": st.src, "to": st.dst, "depth": st.depth} for st in graph.streams]}}
           if graph is not None else {}),
        "buffers": memory,
        "warnings": warnings + [f"{k} {total[k]} is over the device's {DEVICE[k]}" for k in total if total[k] > DEVICE[k]],
        "model": "analytic (sparcc.backends.hls.qor): trip counts, II from recurrences and ports, "
                 "depth from operator latencies at the stated clock",
    }


def _processes(graph: Any, kernel: Kernel, nests: list[NestQoR], port_extra: int, memory: dict[str, Any],
               total: dict[str, int]) -> list[dict[str, Any]]:
    """Each dataflow process's latency (reading its inputs, its nests,
    writing its outputs: a loop at II 1 per array, + the AXI latency on an
    m_axi port, + 2 on a stream), and the memory dataflow adds: a copy of
    an array per process beyond the first that uses it, and the FIFOs."""
    by_label = {n.loop.label: n.loop.latency for n in nests}
    sizes = {b.name: b.size for b in kernel.buffers}
    ports = {b.name for b in [*kernel.inputs, *kernel.outputs]}
    out = []
    users: dict[str, int] = {}
    for p in graph.processes:
        io = sum(sizes[a] + (port_extra if a in ports and not any(
            st.array == a and st.dst == p.name for st in graph.streams) else 2) for a in p.ins)
        io += sum(sizes[a] + (port_extra if a in ports else 2) for a in p.outs)
        if p.feed:
            io = sizes[p.ins[0]] + port_extra
        compute = sum(by_label.get(i.label, 0) for i in p.items)
        out.append({"name": p.name, "layers": p.layers, "latency": io + compute, "io": io})
        for a in p.reads | p.writes:
            users[a] = users.get(a, 0) + 1
    for a, n in users.items():
        if a in memory and n > 1:
            for k, v in memory[a].items():
                total[k] += v * (n - 1)
    width = {b.name: _fixed_width(b.ctype) or 32 for b in kernel.buffers}
    for st in graph.streams:
        bits = st.depth * width[st.array]
        if bits <= 1024:
            total["LUT"] += math.ceil(bits / 32)  # SRL FIFO
        else:
            total["BRAM18K"] += math.ceil(st.depth / 512) * math.ceil(width[st.array] / 36)
    return out


def _nest_dict(n: NestQoR) -> dict[str, Any]:
    def loop(l_: LoopQoR) -> dict[str, Any]:
        d: dict[str, Any] = {"label": l_.label, "trip": l_.trip, "unroll": l_.unroll, "latency": l_.latency}
        if l_.ii is not None:
            d.update(ii=l_.ii, depth=l_.depth, ii_parts=l_.ii_parts)
        if l_.trips is not None:
            d["trips"] = l_.trips
        if l_.children:
            d["loops"] = [loop(c) for c in l_.children]
        return d

    return {"layer": n.layer, **({"source": n.source} if n.source != "unknown location" else {}),
            "latency": n.loop.latency, "ops": n.ops, **n.resources, "loop": loop(n.loop)}


def text(rep: dict[str, Any]) -> str:
    r = rep["resources"]
    lines = [
        f"sparcc HLS estimate for {rep['device']} at {rep['clock_mhz']} MHz (analytic model, not synthesis)",
        f"latency {rep['latency_cycles']} cycles ({rep['latency_us']:.2f} us), interval {rep['interval_cycles']} cycles"
        + (f"; the first call loads the weights first: {rep['weight_load_cycles']} cycles"
           if "weight_load_cycles" in rep else ""),
        f"DSP {r['DSP']} ({rep['utilisation']['DSP']:.1%})  BRAM18K {r['BRAM18K']} ({rep['utilisation']['BRAM18K']:.1%})  "
        f"LUT {r['LUT']} ({rep['utilisation']['LUT']:.1%})  FF {r['FF']} ({rep['utilisation']['FF']:.1%})",
        *[f"warning: {w}" for w in rep.get("warnings", [])],
        "",
        f"{'nest':<6} {'layer':<20} {'latency':>10} {'DSP':>6} {'LUT':>8} {'FF':>8}  loops (trip/unroll, II)",
    ]
    for n in rep["nests"]:
        chain, cur = [], n["loop"]
        while True:
            trip = (f"{cur['trips']['min']}..{cur['trips']['max']}" + ("?" if cur["trips"]["estimated"] else "")
                    if "trips" in cur else cur["trip"])
            s = f"{cur['label']} {trip}" + (f"/u{cur['unroll']}" if cur["unroll"] > 1 else "")
            if "ii" in cur:
                s += f" II={cur['ii']}"
            chain.append(s)
            if "loops" not in cur:
                break
            cur = cur["loops"][0]
        lines.append(f"{n['loop']['label']:<6} {n['layer'][:20]:<20} {n['latency']:>10} {n['DSP']:>6} {n['LUT']:>8} "
                     f"{n['FF']:>8}  {' > '.join(chain)}")
    return "\n".join(lines) + "\n"
