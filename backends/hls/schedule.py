"""Customisation primitives of the hls target, as attributes on the loop IR.

A schedule maps layer globs to primitives, e.g.

    {"fc1": {"unroll": 4, "pipeline": 1},
     "*":   {"reuse_factor": 8, "partition": {"w_fc2_weight": "cyclic:4:1"}}}

- `pipeline`: II of the nest's innermost loop (`#pragma HLS pipeline II=`);
  False leaves the nest unpipelined.
- `unroll`: factor on the nest's innermost parallel loop (the deepest loop
  whose index every store uses); 0 unrolls it completely.
- `reuse_factor` (hls4ml's): unroll = that loop's trip count / reuse_factor.
- `tile`: [F0, F1, ...] per loop of the nest from the outermost (Allo's
  tile: split + reorder, see tile()); applied before the others, which then
  see the tiled nest (its point loop is the innermost, pipelined one).
- `partition`: {buffer: "cyclic|block:factor:dim" or "complete:0:dim"};
  buffers are named as in kernel.cpp (in0, out0, w_<weight>, bufN).
- `dataflow` (top-level key): the layers as processes of a dataflow region,
  connected by hls::stream FIFOs (dataflow.py; project.py emits them).

A nest's layer is the module path of the weights it reads (fc1 for
fc1.weight), else `nest<k>`. The first matching glob wins. The default
heuristic pipelines every nest's innermost loop at the smallest II the QoR
model allows, unrolls nothing, and partitions cyclically by the unroll
factor the arrays that an unrolled loop walks. Emitters only read the
attributes set here.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from sparcc.backends.hls.emit import (
    ATTR_DATAFLOW, ATTR_INTERFACE, buffer_names, ATTR_LABEL, ATTR_LAYER, ATTR_PARTITION, ATTR_PIPELINE, ATTR_TYPE, ATTR_UNROLL,
    EmitError, _name, walk,
)
from sparcc.backends.hls.emit import ATTR_ESTIMATED, ATTR_TRIPCOUNT, ATTR_TRIPS
from sparcc.backends.hls.qor import static_trip

ATTR_NOTES = "hls.notes"  # what the schedule changed from what was asked, for the report
ATTR_USER_II = "hls.user_ii"  # the II was asked for by the user, not the heuristic
KEYS = {"tile", "unroll", "pipeline", "reuse_factor", "partition"}
INTERFACES = ("m_axi", "ap_memory", "stream")


class ScheduleError(EmitError):
    """A schedule or precision the hls target cannot apply."""


def parse_precision(spec: Any) -> list[tuple[str, str]]:
    """{"fc1": "ap_fixed<16,6>", "*": "float"} (or 'fc1=ap_fixed<16,6>;*=float') -> rules."""
    import re

    if spec is None:
        return []
    if isinstance(spec, str):
        pairs = [p.split("=", 1) for p in spec.replace(";", "\n").splitlines() if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ScheduleError(f"hls precision {spec!r}: expected PATTERN=TYPE, e.g. 'fc1=ap_fixed<16,6>'")
        spec = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(spec, dict):
        raise ScheduleError(f"hls precision: expected a dict of layer glob -> type, got {type(spec).__name__}")
    rules = []
    for glob, typ in spec.items():
        typ = str(typ).replace(" ", "")
        m = re.fullmatch(r"ap_fixed<(\d+),(-?\d+)>", typ)
        if typ != "float" and (m is None or not 2 <= int(m.group(1)) <= 26 or int(m.group(2)) > int(m.group(1))):
            raise ScheduleError(
                f"hls precision {glob}={typ}: expected float or ap_fixed<W,I> with 2 <= W <= 26 and I <= W "
                "(wider words are not modelled bit-exactly)"
            )
        rules.append((str(glob), typ))
    return rules


def _match(rules: list[tuple[str, Any]], layer: str) -> Any:
    for glob, value in rules:
        if fnmatch.fnmatchcase(layer, glob) or fnmatch.fnmatchcase(layer, f"*.{glob}"):
            return value
    return None


def layer_of(nest: Any, weights: dict[Any, str], k: int) -> str:
    """The layer a nest belongs to: the module path of the weights it reads
    (`weights`: weight argument -> store name)."""
    names = []
    for op in walk(nest):
        if _name(op) == "memref.load" and op.operands[0] in weights:
            w = weights[op.operands[0]]
            layer = w.rsplit(".", 1)[0] if "." in w else "model"  # a top-level weight: the model's own
            if layer not in names:
                names.append(layer)
    return names[0] if names else f"nest{k}"


def annotate(module: Any, func: Any, weight_names: dict[Any, str], schedule: dict[str, Any] | None,
             precision: list[tuple[str, str]], interface: str) -> list[str]:
    """Sets the schedule's attributes on `func`'s loops; returns the layer
    of each nest. The II each pipeline asks for is checked later against
    the QoR model (check_pipelines)."""
    from mlir import ir

    schedule = dict(schedule or {})
    if interface not in INTERFACES:
        raise ScheduleError(f"hls interface {interface!r}: expected one of {', '.join(INTERFACES)}")
    dataflow = bool(schedule.pop("dataflow", False))
    rules = []
    for glob, prims in schedule.items():
        if not isinstance(prims, dict) or not set(prims) <= KEYS:
            raise ScheduleError(
                f"hls schedule for {glob!r}: expected a dict with keys among {', '.join(sorted(KEYS))}, got {prims!r}"
            )
        rules.append((glob, prims))
    names = buffer_names(func)
    ctx = module.context
    with ctx:
        i64 = ir.IntegerType.get_signless(64)
        func.operation.attributes[ATTR_INTERFACE] = ir.StringAttr.get(interface)
        if dataflow:
            func.operation.attributes[ATTR_DATAFLOW] = ir.UnitAttr.get()
        partitions: dict[str, str] = {}
        notes: list[str] = []
        layers = []
        nests = [op for op in func.regions[0].blocks[0].operations if _name(op) == "scf.for"]
        found = [layer_of(nest, weight_names, k) for k, nest in enumerate(nests)]
        for k, nest in enumerate(nests):
            layer = found[k] if not found[k].startswith("nest") else _layer_by_buffer(nests, found, k, names)
            layers.append(layer)
            prims = _match(rules, layer) or {}
            if "tile" in prims:
                nest = nests[k] = tile(nest, prims["tile"], layer, _match([(g, g) for g, _ in rules], layer), notes,
                                       names)
            nest.operation.attributes[ATTR_LAYER] = ir.StringAttr.get(layer)
            who = _who(layer, nest)
            typ = _match(precision, layer)
            if typ is not None and typ != "float":
                nest.operation.attributes[ATTR_TYPE] = ir.StringAttr.get(typ)
            chain = _chain(nest)
            for d, loop in enumerate(chain):
                loop.operation.attributes[ATTR_LABEL] = ir.StringAttr.get(f"L{k}" if d == 0 else f"L{k}_{d}")
            for op in walk(nest):  # loops off the main chain (rare) get labels too
                if _name(op) == "scf.for" and ATTR_LABEL not in op.operation.attributes:
                    op.operation.attributes[ATTR_LABEL] = ir.StringAttr.get(f"L{k}_x{id(op) % 10000}")
            innermost = chain[-1]
            ii = prims.get("pipeline", 1)
            if ii is not False:
                if isinstance(ii, bool) or not isinstance(ii, int) or ii < 1:
                    raise ScheduleError(f"hls schedule for layer {who}: pipeline II={ii!r}: expected a whole number >= 1")
                innermost.operation.attributes[ATTR_PIPELINE] = ir.IntegerAttr.get(i64, ii)
                if "pipeline" in prims:
                    innermost.operation.attributes[ATTR_USER_II] = ir.UnitAttr.get()
            target = _parallel_loop(chain)
            trip = _trip(target)
            factor = prims.get("unroll")
            if "reuse_factor" in prims:
                r = prims["reuse_factor"]
                if isinstance(r, bool) or not isinstance(r, int) or r < 1 or trip % r:
                    raise ScheduleError(
                        f"hls schedule for layer {who}: reuse_factor={r!r} must divide the trip count {trip} of "
                        f"loop {_label(target)}"
                    )
                factor = trip // r
            glob = _match([(g, g) for g, _ in rules], layer)
            if factor not in (None, 1) and any(_name(op) == "scf.for" and static_trip(op) is None for op in walk(target)):
                why = (f"loop {_label(target)} (layer {layer}) holds a loop whose trip count is data (a CSR row), "
                       "which the hls target does not unroll around")
                if glob is None or not any(c in glob for c in "*?["):
                    raise ScheduleError(f"hls schedule for layer {who}: unroll {factor!r}: {why}; use ELL or N:M "
                                        "sparsity for an unrolled sparse layer")
                notes.append(f"unroll {factor} from '{glob}' not applied: {why}")
                factor = None
            if (isinstance(factor, int) and not isinstance(factor, bool) and factor > 1 and trip % factor
                    and glob is not None and any(c in glob for c in "*?[")):
                # a wildcard reaches loops of any size: the largest divisor not above the factor, said in the report
                chosen = max(d for d in range(1, factor + 1) if trip % d == 0)
                notes.append(f"unroll {factor} from '{glob}' does not divide loop {_label(target)} ({trip} iterations, "
                             f"layer {layer}): unrolled by {chosen}")
                factor = chosen
            if factor is not None:
                if isinstance(factor, bool) or not isinstance(factor, int) or factor < 0 or (factor and trip % factor):
                    raise ScheduleError(
                        f"hls schedule for layer {who}: unroll factor {factor!r} must divide the trip count {trip} "
                        f"of loop {_label(target)} (or be 0: complete)"
                    )
                if factor not in (1,):
                    target.operation.attributes[ATTR_UNROLL] = ir.IntegerAttr.get(i64, factor)
                    u = trip if factor == 0 else factor
                    for name in _walked_arrays(target, names, interface):
                        partitions.setdefault(name, f"cyclic:{u}:1")
            for name, how in (prims.get("partition") or {}).items():
                parts = str(how).split(":")
                if len(parts) != 3 or parts[0] not in ("cyclic", "block", "complete") or not all(
                        p.lstrip("-").isdigit() for p in parts[1:]):
                    raise ScheduleError(
                        f"hls schedule for layer {who}: partition {name}={how!r}: expected 'cyclic:FACTOR:DIM', "
                        "'block:FACTOR:DIM' or 'complete:0:DIM'"
                    )
                partitions[str(name)] = str(how)
        if notes:
            func.operation.attributes[ATTR_NOTES] = ir.ArrayAttr.get([ir.StringAttr.get(n) for n in dict.fromkeys(notes)])
        if partitions:
            func.operation.attributes[ATTR_PARTITION] = ir.DictAttr.get(
                {k: ir.StringAttr.get(v) for k, v in partitions.items()}
            )
    return layers


def tile(nest: Any, factors: Any, layer: str, glob: str | None, notes: list[str], names: dict[Any, str]) -> Any:
    """Allo's tile: each loop of the nest's leading perfect band (the
    loops that hold only the next one, and that one) whose factor F is
    above 1 is split into an outer loop of trip / F iterations and a point
    loop of F, and the point loops go innermost in the band, in order:
    [i, j, k] by [1, 4] -> [i, j.outer, k, j.point] (the reduction loop k
    then sits outside the pipelined loop, which no longer waits for its
    accumulation). A factor of 0 or 1 leaves its loop whole; a nest
    shallower than the list takes its first factors. Returns the new
    outermost loop."""
    from mlir import ir
    from mlir.dialects import arith, scf

    who = _who(layer, nest)
    if (not isinstance(factors, (list, tuple)) or not factors
            or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in factors)):
        raise ScheduleError(f"hls schedule for layer {who}: tile={factors!r}: expected a list of factors, one per "
                            "loop of the nest from the outermost (0 or 1: not tiled), e.g. [1, 4]")
    wildcard = glob is not None and any(c in glob for c in "*?[")
    chain = _chain(nest)
    factors = list(factors)[: len(chain)]
    if not any(f > 1 for f in factors):
        return nest
    perfect = 1  # the leading perfect band: each loop holds only the next
    while perfect < len(chain) and all(op.operation == chain[perfect].operation or _name(op) == "scf.yield"
                                       for op in body_of(chain[perfect - 1])):
        perfect += 1
    last = max(d for d, f in enumerate(factors) if f > 1)
    band = chain[: max(perfect, last + 1)]
    factors += [0] * (len(band) - len(factors))
    for d, loop in enumerate(band):
        trip = static_trip(loop)
        f = factors[d]
        if trip is None:
            raise ScheduleError(f"hls schedule for layer {who}: tile: loop {d} of the nest has a trip count that is data")
        if f > 1 and trip % f:
            if not wildcard:
                raise ScheduleError(f"hls schedule for layer {who}: tile factor {f} must divide the trip count {trip} "
                                    f"of loop {d} of the nest")
            chosen = max(x for x in range(1, f + 1) if trip % x == 0)
            notes.append(f"tile {f} from '{glob}' does not divide loop {d} of a nest of layer {layer} ({trip} "
                         f"iterations): " + (f"tiled by {chosen}" if chosen > 1 else "not tiled"))
            factors[d] = chosen
    why = _untileable(band, names)
    if why:
        if not wildcard:
            raise ScheduleError(f"hls schedule for layer {who}: tile {list(factors)}: {why}")
        notes.append(f"tile from '{glob}' not applied to a nest of layer {layer}: {why}")
        return nest
    index = ir.IndexType.get()
    with ir.InsertionPoint(nest), nest.location:
        bounds = []
        for loop, f in zip(band, factors):
            lb, ub, step = list(loop.operands)[:3]
            s = _int(step)
            bounds.append((lb, ub, step, arith.ConstantOp(index, s * f).result if f > 1 else None,
                           arith.ConstantOp(index, 0).result, arith.ConstantOp(index, s * f).result if f > 1 else None))
    order = [(d, "outer") for d in range(len(band))] + [(d, "point") for d, f in enumerate(factors) if f > 1]
    ivs: dict[tuple[int, str], Any] = {}
    where = ir.InsertionPoint(nest)
    first = None
    for d, part in order:
        lb, ub, step, wide, zero, span = bounds[d]
        with where, nest.location:
            if part == "outer":
                loop = scf.ForOp(lb, ub, wide if wide is not None else step)
            else:
                loop = scf.ForOp(zero, span, step)
            first = first or loop
            ivs[(d, part)] = loop.induction_variable
            with ir.InsertionPoint(loop.body):
                yield_ = scf.YieldOp([])
            where = ir.InsertionPoint(yield_)
    innermost = band[-1].regions[0].blocks[0]
    with where, nest.location:
        for d, f in enumerate(factors):
            old = band[d].regions[0].blocks[0].arguments[0]
            new = arith.AddIOp(ivs[(d, "outer")], ivs[(d, "point")]).result if f > 1 else ivs[(d, "outer")]
            old.replace_all_uses_with(new)
    for op in list(innermost.operations):
        if _name(op) != "scf.yield":
            op.operation.move_before(yield_)
    nest.operation.erase()
    return first


def _who(layer: str, nest: Any) -> str:
    """A layer as errors name it: with the user's source line when the IR
    knows it (sources.py)."""
    from sparcc.backends.hls.emit import where

    src = where(nest)
    return layer if src == "unknown location" else f"{layer} ({src})"


def _int(v: Any) -> int:
    from mlir import ir

    return ir.IntegerAttr(v.owner.attributes["value"]).value


def _untileable(band: list[Any], names: dict[Any, str]) -> str | None:
    """Why the band cannot be tiled (permuted), or None: it must be
    perfectly nested, and every array it writes it may read only at the
    address it writes (an accumulator), so that reordering its iterations
    keeps each address's own sequence of updates."""
    for outer, inner in zip(band, band[1:]):
        others = [op for op in body_of(outer) if op.operation != inner.operation and _name(op) != "scf.yield"]
        if others:
            return f"the loops are not perfectly nested ('{_name(others[0])}' between loops)"
    loads: dict[Any, set[tuple[Any, ...]]] = {}
    stores: dict[Any, set[tuple[Any, ...]]] = {}
    for op in walk(band[0]):  # by array (a view's accesses are its base's), then by address
        if _name(op) == "memref.load":
            loads.setdefault(names.get(op.operands[0]), set()).add((op.operands[0], *list(op.operands)[1:]))
        elif _name(op) == "memref.store":
            stores.setdefault(names.get(op.operands[1]), set()).add((op.operands[1], *list(op.operands)[2:]))
        elif _name(op) in ("func.call", "scf.if"):
            return f"its body holds '{_name(op)}'"
        elif _name(op) == "scf.for" and static_trip(op) is None:
            return "it holds a loop whose trip count is data (a CSR row), which is not tiled around"
    for buf, at in stores.items():
        if len(at) > 1 or not loads.get(buf, set()) <= at:
            return "it reads an array it writes at another address, and reordering its iterations could change the result"
    return None


def body_of(loop: Any) -> list[Any]:
    return list(loop.operation.regions[0].blocks[0].operations)


def _layer_by_buffer(nests: list[Any], found: list[str], k: int, names: dict[Any, str]) -> str:
    """A nest that reads no weight (an accumulator's fill) belongs to the
    layer of the next nest that uses the buffer it writes, if that one has
    a layer; else it stays nest<k>."""
    written = {names.get(op.operands[1]) for op in walk(nests[k]) if _name(op) == "memref.store"}
    for j in range(k + 1, len(nests)):
        used = {names.get(op.operands[0 if _name(op) == "memref.load" else 1])
                for op in walk(nests[j]) if _name(op) in ("memref.load", "memref.store")}
        if written & used - {None}:
            return found[j] if not found[j].startswith("nest") else found[k]
    return found[k]


def _chain(nest: Any) -> list[Any]:
    chain = [nest]
    while True:
        inner = [op for op in chain[-1].operation.regions[0].blocks[0].operations if _name(op) == "scf.for"]
        if len(inner) != 1:
            return chain
        chain.append(inner[0])


def _trip(loop: Any) -> int:
    """The loop's trip count; 1 for a loop whose bounds are data (it is
    never unrolled: annotate refuses that)."""
    from sparcc.backends.hls.qor import static_trip

    trip = static_trip(loop)
    return 1 if trip is None else trip


def _label(loop: Any) -> str:
    from mlir import ir

    return ir.StringAttr(loop.operation.attributes[ATTR_LABEL]).value


def _parallel_loop(chain: list[Any]) -> Any:
    """The deepest loop of the chain whose index every store of the nest uses."""
    from sparcc.backends.hls.qor import _depends

    stores = [op for op in walk(chain[0]) if _name(op) == "memref.store"]
    for loop in reversed(chain):
        iv = loop.operation.regions[0].blocks[0].arguments[0]
        if stores and all(any(_depends(v, iv) for v in list(s.operands)[2:]) for s in stores):
            return loop
    return chain[-1]


def _walked_arrays(loop: Any, names: dict[Any, str], interface: str) -> list[str]:
    """The C names of the arrays whose access index moves with `loop`."""
    from sparcc.backends.hls.qor import _depends

    iv = loop.operation.regions[0].blocks[0].arguments[0]
    out = []
    for op in walk(loop):
        if _name(op) in ("memref.load", "memref.store"):
            m = op.operands[0] if _name(op) == "memref.load" else op.operands[1]
            idx = list(op.operands)[1:] if _name(op) == "memref.load" else list(op.operands)[2:]
            name = names.get(m)
            if any(_depends(v, iv) for v in idx) and name is not None and name not in out:
                out.append(name)
    return out


def check_partitions(kernel: Any) -> None:
    """Every partition names an array of the kernel, with a legal kind,
    a factor that divides it and dim 1 (arrays are flat)."""
    for b in kernel.buffers:
        if b.partition is None:
            continue
        kind, factor, dim = b.partition
        if kind not in ("cyclic", "block", "complete"):
            raise ScheduleError(f"partition of {b.name}: kind {kind!r}; expected cyclic, block or complete")
        if dim != 1:
            raise ScheduleError(f"partition of {b.name}: dim {dim}; the emitted arrays are flat (dim 1)")
        if kind != "complete" and (factor < 1 or b.size % factor):
            raise ScheduleError(
                f"partition of {b.name}: factor {factor} does not divide its {b.size} elements; choose a divisor"
            )


def check_pipelines(report: dict[str, Any]) -> None:
    """An II the user asked for that the loop cannot reach is an error."""

    def visit(loop: dict[str, Any], layer: str) -> None:
        parts = loop.get("ii_parts")
        if parts and parts.get("user") and loop["ii"] > parts["asked"]:
            why = [f"{k} needs II >= {parts[k]}" for k in ("recurrence", "memory") if parts[k] > parts["asked"]]
            raise ScheduleError(
                f"hls schedule for layer {layer}: pipeline II={parts['asked']} on loop {loop['label']} is impossible: "
                f"{'; '.join(why)} (the recurrence is the reduction's add chain; memory is the ports of its arrays "
                "given their partitions); ask for that II or partition the arrays"
            )
        for c in loop.get("loops", []):
            visit(c, layer)

    for n in report["nests"]:
        visit(n["loop"], n["layer"] + (f" ({n['source']})" if "source" in n else ""))


def settle(func: Any, report: dict[str, Any]) -> bool:
    """Sets each heuristic (not user-asked) pipeline's II to the one the QoR
    model says it reaches, so the pragma says what the estimate assumes.
    Returns whether anything changed."""
    from mlir import ir

    achieved: dict[str, int] = {}

    def visit(loop: dict[str, Any]) -> None:
        parts = loop.get("ii_parts")
        if parts and not parts["user"] and loop["ii"] != parts["asked"]:
            achieved[loop["label"]] = loop["ii"]
        for c in loop.get("loops", []):
            visit(c)

    for n in report["nests"]:
        visit(n["loop"])
    if not achieved:
        return False
    with func.context:
        i64 = ir.IntegerType.get_signless(64)
        for op in walk(func):
            if _name(op) == "scf.for" and ATTR_LABEL in op.operation.attributes:
                label = ir.StringAttr(op.operation.attributes[ATTR_LABEL]).value
                if label in achieved:
                    op.operation.attributes[ATTR_PIPELINE] = ir.IntegerAttr.get(i64, achieved[label])
    return True


def annotate_trips(func: Any, views: dict[Any, Any], store: dict[str, Any] | None) -> bool:
    """Sets the trip counts of each loop whose bounds are read from a
    constant array (a CSR row: pos[r] .. pos[r + 1]): `hls.trips`, one per
    iteration of the enclosing loop, and `hls.tripcount` [min, max, avg].
    The bounds are evaluated on the weights of `store`; without it (the
    emitter alone) each iteration is taken to walk an equal share of the
    arrays the loop indexes with its own index (their length: nnz), marked
    as an estimate. Returns whether there was such a loop."""
    from mlir import ir

    from sparcc.backends.hls.emit import where
    from sparcc.backends.hls.qor import static_trip, trip_count

    found = False
    with func.context:
        for loop in [op for op in walk(func) if _name(op) == "scf.for"]:
            if static_trip(loop) is not None:
                continue
            found = True
            parent = loop.operation.parent
            if _name(parent) != "scf.for" or static_trip(parent) is None:
                raise ScheduleError(f"loop at {where(loop)} has bounds that are data outside a loop of constant bounds; "
                                    "the hls target takes them only in a CSR row")
            piv = parent.regions[0].blocks[0].arguments[0]
            lb0, step0 = (_evaluate(v, {}, views, store, loop) for v in (parent.operands[0], parent.operands[2]))
            n = trip_count(parent)
            estimated = store is None
            if not estimated:
                trips = []
                for i in range(n):
                    env = {piv: lb0 + i * step0}
                    lb, ub, step = (_evaluate(v, env, views, store, loop) for v in list(loop.operands)[:3])
                    trips.append(max(0, -(-(ub - lb) // step)))
                avg = -(-sum(trips) // n) if n else 0
                count = [min(trips, default=0), max(trips, default=0), avg]
            else:
                size = min((views[op.operands[0]][0].size for op in walk(loop)
                            if _name(op) == "memref.load" and op.operands[0] in views
                            and list(op.operands)[1:] == [loop.regions[0].blocks[0].arguments[0]]), default=None)
                if size is None:
                    raise ScheduleError(f"loop at {where(loop)}: its bounds are data and it walks no array by its index")
                avg = -(-size // n) if n else 0
                trips, count = [avg] * n, [0, size, avg]
            attrs = loop.operation.attributes
            attrs[ATTR_TRIPS] = ir.DenseI64ArrayAttr.get(trips)
            attrs[ATTR_TRIPCOUNT] = ir.DenseI64ArrayAttr.get(count)
            if estimated:
                attrs[ATTR_ESTIMATED] = ir.UnitAttr.get()
    return found


def _evaluate(v: Any, env: dict[Any, int], views: dict[Any, Any], store: dict[str, Any] | None, loop: Any) -> int:
    """The value of index `v` given the loop indices in `env`: constants,
    integer arithmetic, casts and loads from weights (read from `store`)."""
    from mlir import ir

    from sparcc.backends.hls.emit import where

    if v in env:
        return env[v]
    owner = v.owner
    name = _name(owner) if isinstance(owner, (ir.Operation, ir.OpView)) else ""
    args = list(owner.operands) if name else []
    if name == "arith.constant":
        return ir.IntegerAttr(owner.attributes["value"]).value
    if name in ("arith.index_cast", "arith.index_castui", "arith.extsi", "arith.extui"):
        return _evaluate(args[0], env, views, store, loop)
    if name in ("arith.addi", "arith.subi", "arith.muli"):
        a, b = (_evaluate(u, env, views, store, loop) for u in args)
        return a + b if name == "arith.addi" else a - b if name == "arith.subi" else a * b
    if name == "memref.load" and args[0] in views and store is not None:
        from sparcc.backends.hls.project import weight_data

        base, strides, offset = views[args[0]]
        if base.role in ("weight", "constant"):
            data = (weight_data(base, store) if base.role == "weight" else base.value).reshape(-1)
            return int(data[offset + sum(_evaluate(i, env, views, store, loop) * s for i, s in zip(args[1:], strides))])
    raise ScheduleError(f"loop at {where(loop)}: its bounds are not read from a constant array by the enclosing loop's "
                        "index alone, which the hls target needs to bound its trip count")
