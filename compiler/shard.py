"""
Sharding: one model over the processes of a torch.distributed group.

    # torchrun --nproc-per-node 2 script.py
    torch.distributed.init_process_group("gloo")
    fast = sparcc.jit(model, shard={"*.fc1.weight": "shard(0)", "*.fc2.weight": "shard(1)"})
    y = fast(x)          # every rank passes the same x and gets the same y

Keys are globs over parameter names (first match wins); placements are
`shard(dim)` and `replicate`. `shard="auto"` picks Megatron-style pairs:
a linear whose input comes only from other linears through ops that keep a
split of the features or heads (elementwise, reshape, permute, sdpa) is
row-parallel (`shard(1)`), those linears column-parallel (`shard(0)`). The
mesh is the process group, 1-D; `shard={"mesh": N, ...}` states its size
(checked against the group). Inputs and outputs are replicated.

How it runs: the model is imported as for sparcc.jit, annotated
(`shard.shard` on the weights), and `shard-propagate` and `shard-partition`
give the program of one rank, the same on every rank. That program is cut
into segments at its collectives; each segment is compiled by the target
like any model (rank 0 compiles, the other ranks then find the segments in
the on-disk cache), and the collectives run on torch.distributed between
segments. Each rank keeps only its part of each weight.

Ahead of time, `compile_sharded` (`sparcc compile --shard ... --world-size
N`) writes one artifact per rank, out/rank<r>/ (an artifact per segment and
shard.json); `sparcc.load(out)` runs this process's under the group.

`ShardedProgram.comm` counts, per collective kind, the calls and the bytes
of the local tensors handed to torch.distributed; `report["memory"]` gives
the weight bytes this rank holds against the whole model's.
"""

from __future__ import annotations

import datetime
import fnmatch
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from sparcc.dialects import nn, quant, sparse
from sparcc.dialects.shard import COLLECTIVES, AllReduceOp, AllSliceOp, GridOp, ShardOp
from sparcc.errors import InputMismatchError, SparccError
from sparcc.passes.shard_propagate import ATTR, WEIGHT_OPS, Place, R, S
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

GRID = "mesh"
PASSES = ("shard-propagate", "shard-partition")


# ----------------------------------------------------------------------------
# the user's spec
# ----------------------------------------------------------------------------


def parse_placement(text: str) -> str:
    """'shard(0)', 'shard(-1)', 'shard(1, blocks=3)' (the dim is 3 equal
    blocks, a fused q|k|v, each split) or 'replicate', canonical; ValueError
    otherwise."""
    t = text.strip().replace(" ", "")
    if t in ("replicate", "replicated", "R"):
        return "replicate"
    if t.startswith("shard(") and t.endswith(")"):
        dim, _, blocks = t[6:-1].partition(",blocks=")
        try:
            d, k = int(dim), int(blocks or 1)
            if k >= 1:
                return f"shard({d})" if k == 1 else f"shard({d}, blocks={k})"
        except ValueError:
            pass
    raise ValueError(f"placement '{text}' is not 'shard(<dim>)', 'shard(<dim>, blocks=<k>)' or 'replicate'")


def placement_of(text: str) -> Place:
    """The Place of a canonical placement text (in the IR's dims)."""
    if text == "replicate":
        return R
    dim, _, blocks = text[6:-1].replace(" ", "").partition(",blocks=")
    return Place("B", int(dim), int(blocks)) if int(blocks or 1) > 1 else S(int(dim))


def _with_dim(text: str, d: int) -> str:
    p = placement_of(text)
    return f"shard({d})" if p.kind == "S" else f"shard({d}, blocks={p.blocks})"


@dataclass(frozen=True)
class ShardSpec:
    """Parsed `shard=`: ordered (glob, placement) rules, or auto; the mesh size if stated."""

    rules: tuple[tuple[str, str], ...] = ()
    auto: bool = False
    mesh: tuple[int, ...] | None = None
    timeout: float | None = None  # seconds a collective waits for its peers

    def placement_for(self, name: str) -> str | None:
        for pattern, placement in self.rules:
            if fnmatch.fnmatchcase(name, pattern):
                return placement
        return None


def parse_shard_spec(spec: Any) -> ShardSpec:
    """A dict {glob: placement}, "auto", or "glob=placement;..." (the CLI's
    form). A dict may also hold the options "mesh": N (checked against the
    process group) and "timeout": seconds (a collective that waits longer
    for a peer fails with a message); {"*": "auto", ...} is auto with
    options. Bad input: one SparccError."""
    from sparcc.quantize import parse_layer_rules

    if isinstance(spec, ShardSpec):
        return spec
    if isinstance(spec, str) and spec.strip() == "auto":
        return ShardSpec(auto=True)
    mesh = timeout = None
    if isinstance(spec, dict) and ("mesh" in spec or "timeout" in spec):
        spec = dict(spec)
        if "mesh" in spec:
            raw = spec.pop("mesh")
            mesh = (raw,) if isinstance(raw, int) else tuple(raw) if isinstance(raw, (tuple, list)) else None
            if mesh is None or not mesh or not all(isinstance(m, int) and m >= 1 for m in mesh):
                raise SparccError(f"shard: mesh {raw!r} is not a size or a tuple of sizes >= 1, e.g. 'mesh': 2")
        if "timeout" in spec:
            timeout = spec.pop("timeout")
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
                raise SparccError(f"shard: timeout {timeout!r} is not a number of seconds > 0")
    if isinstance(spec, dict) and spec == {"*": "auto"}:
        return ShardSpec(auto=True, mesh=mesh, timeout=timeout)
    rules = parse_layer_rules(spec, "shard", parse_placement, "shard(0)")
    if rules is None:
        raise SparccError("shard: expected a mapping of parameter globs to placements, or 'auto'")
    return ShardSpec(rules.rules, mesh=mesh, timeout=timeout)


def process_group() -> tuple[int, int]:
    """(rank, world size) of torch.distributed's default group; a clear error without one."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise SparccError(
            "sparcc.jit(shard=...): torch.distributed has no process group; call "
            "torch.distributed.init_process_group('gloo') first (torchrun sets the environment it reads)"
        )
    return dist.get_rank(), dist.get_world_size()


def check_mesh(spec: ShardSpec, world: int) -> None:
    if spec.mesh is None:
        return
    if len(spec.mesh) != 1:
        raise SparccError(f"shard: mesh {list(spec.mesh)} has {len(spec.mesh)} axes; sparcc shards over 1-D meshes")
    if spec.mesh[0] != world:
        raise SparccError(
            f"shard: the mesh has {spec.mesh[0]} processes but the process group has {world} "
            "(torch.distributed world size); start as many processes as the mesh has, or drop 'mesh'"
        )


# ----------------------------------------------------------------------------
# annotation
# ----------------------------------------------------------------------------


def _weight_ops(f: func.FuncOp) -> list[Any]:
    """The entry's weights: nn.weight, and quant.weight/sparse.weight of compressed layers."""
    return [op for op in f.body.block.ops if isinstance(op, WEIGHT_OPS)]


def _shape(v: SSAValue) -> tuple[int, ...]:
    return tuple(v.type.get_shape())  # a tensor's, or a compressed weight's logical shape


def entry(module: ModuleOp) -> func.FuncOp:
    return next(op for op in module.ops if isinstance(op, func.FuncOp) and op.body.blocks)


def annotate(module: ModuleOp, placements: dict[str, str], world: int) -> None:
    """Adds the grid and a shard.shard after each weight that `placements`
    (name -> placement) splits."""
    module.body.block.insert_op_before(GridOp(GRID, [world]), module.body.block.first_op)
    for op in _weight_ops(entry(module)):
        text = placements.get(op.weight_name)
        if text is None:
            continue  # free: it takes the placement its consumer wants
        ann = ShardOp(op.result, placement_of(text).attr(GRID))
        Rewriter.insert_op(ann, InsertPoint.after(op))
        op.result.replace_uses_with_if(ann.result, lambda use, a=ann: use.operation is not a)


def rule_placements(spec: ShardSpec, module: ModuleOp, weights: dict[str, torch.Tensor]) -> dict[str, str]:
    """name -> placement (in the dims of the IR's nn.weight) by the spec's
    globs over parameter names, whose dims are the parameter's own; a glob
    that matches no parameter is an error."""
    ops = {op.weight_name: op for op in _weight_ops(entry(module))}
    names = list(ops)
    out = {}
    for name, op in ops.items():
        text = spec.placement_for(name)
        if text is None or text == "replicate":
            if text is not None:
                out[name] = text
            continue
        stored = tuple(weights[name].shape)  # the float parameter, also of a compressed weight
        u = placement_of(text).dim
        if not -len(stored) <= u < len(stored):
            raise SparccError(f"shard: '{name}' has {len(stored)} dims (shape {list(stored)}); {text} names no dim of it")
        u %= len(stored)
        shape = _shape(op.result)
        perm = list(nn.ints(op.perm)) if getattr(op, "perm", None) is not None else list(range(len(shape)))
        viewed = [0] * len(perm)
        for j, p in enumerate(perm):
            viewed[p] = shape[j]
        if tuple(viewed) != stored:
            raise SparccError(
                f"shard: '{name}' (shape {list(stored)}) is used reshaped to {list(shape)}; "
                "its dims cannot be placed by the parameter's, replicate it"
            )
        out[name] = _with_dim(text, perm.index(u))
    for pattern, _ in spec.rules:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise SparccError(
                f"shard: the pattern '{pattern}' matches no parameter of the model; its parameters are "
                f"{', '.join(names[:8])}{', ...' if len(names) > 8 else ''}"
            )
    return out


# ops through which a split of features/heads survives unchanged in kind
# (softmax and a matmul of two activations keep a split of the heads: attention written out, as GPT-Neo's)
_KEEPS_SPLIT = (nn.UnaryOp, nn.BinaryOp, nn.WhereOp, nn.CastOp, nn.ReshapeOp, nn.PermuteOp, nn.SdpaOp,
                nn.ExpandOp, nn.SliceOp, nn.ConcatOp, nn.SoftmaxOp, nn.MatmulOp)


def _projection(op: Operation) -> tuple[Any, int, int, SSAValue] | None:
    """A layer x @ W with a stored W: (W, its column-parallel dim, its
    row-parallel dim, x). nn.linear's weight is [out, in] (also quant.linear's
    and sparse.linear's); a matmul by a weight (GPT-2's Conv1D) has [in, out]."""
    if isinstance(op, (nn.LinearOp, quant.LinearOp, sparse.LinearOp)) and isinstance(op.weight.owner, WEIGHT_OPS):
        return op.weight.owner, 0, 1, op.input
    if isinstance(op, nn.MatmulOp) and isinstance(op.rhs.owner, nn.WeightOp) and len(nn.shape_of(op.rhs)) == 2:
        return op.rhs.owner, 1, 0, op.lhs
    return None


def auto_placements(module: ModuleOp, world: int) -> dict[str, str]:
    """Megatron pairs: for each projection B (a linear, or a matmul by a
    weight), the projections A that its input comes from through ops in
    _KEEPS_SPLIT (operands broadcast against the result are ignored: they
    are sliced, not summed) become column-parallel, B row-parallel, when
    every split divides by `world` and the pair adds at most one collective
    (the all-reduce after B)."""
    f = entry(module)
    out: dict[str, str] = {}
    cost = _costs(module, out, world)
    for op in f.body.block.ops:
        b = _projection(op)
        if b is None:
            continue
        sources: list[Operation] = []
        stack, seen, ok = [b[3]], set(), True
        while stack and ok:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            p = v.owner
            if _projection(p) is not None:
                sources.append(p)
            elif isinstance(p, Operation) and not p.operands:
                continue  # a constant or an arange: sliced like any replicated operand
            elif isinstance(p, _KEEPS_SPLIT):
                full = nn.shape_of(p.results[0])
                # sdpa's mask is sliced with the heads or broadcast over them: only q, k, v are traced
                for x in p.operands[:3] if isinstance(p, nn.SdpaOp) else p.operands:
                    # a binary op's broadcast operand is sliced, not traced
                    main = not isinstance(p, (nn.BinaryOp, nn.WhereOp)) or math.prod(nn.shape_of(x)) == math.prod(full)
                    if main and not isinstance(x.owner, WEIGHT_OPS):
                        stack.append(x)
            else:
                ok = False
        if not ok or not sources:
            continue
        w, _, row, _ = b
        cols = [_projection(s) for s in sources]
        if any(_shape(c[0].result)[c[1]] % world for c in cols) or _shape(w.result)[row] % world:
            continue
        for fused in (False, True):  # a fused q|k|v projection is split per block
            blocks = [_fused_blocks(s) if fused else 1 for s in sources]
            if fused and blocks == [1] * len(sources) or any(
                    _shape(c[0].result)[c[1]] % (world * k) for c, k in zip(cols, blocks)):
                continue
            trial = {**out, w.weight_name: f"shard({row})",
                     **{c[0].weight_name: _with_dim(f"shard(0, blocks={k})", c[1]) for c, k in zip(cols, blocks)}}
            for s, k in zip(sources, blocks):
                if getattr(s, "bias", None) is not None and isinstance(s.bias.owner, nn.WeightOp):
                    trial[s.bias.owner.weight_name] = _with_dim(f"shard(0, blocks={k})", 0)
            trial_cost = _costs(module, trial, world)
            if trial_cost <= cost + 1:
                out, cost = trial, trial_cost
                break
    return out


def _fused_blocks(op: Operation) -> int:
    """k when the output of projection `op` (through a bias add and reshapes
    that keep its last dim) is only cut into k equal slices of that dim, as
    GPT-2's c_attn into q, k and v; else 1."""
    v = op.results[0]
    width = _shape(v)[-1]
    while len(list(v.uses)) == 1:
        user = next(iter(v.uses)).operation
        if not isinstance(user, (nn.AddOp, nn.ReshapeOp)) or _shape(user.results[0])[-1] != width:
            break
        v = user.results[0]
    slices = [u.operation for u in v.uses]
    last = len(_shape(v)) - 1
    if len(slices) < 2 or not all(isinstance(s, nn.SliceOp) and nn.normalize_dim(s.dim.value.data, last + 1) == last
                                  for s in slices):
        return 1
    sizes = {_shape(s.results[0])[-1] for s in slices}
    size = sizes.pop() if len(sizes) == 1 else 0
    return width // size if size and width % size == 0 and width // size == len(slices) else 1


def _costs(module: ModuleOp, placements: dict[str, str], world: int) -> int:
    """The number of collectives (other than slices) the placements lead to."""
    clone = module.clone()
    try:
        annotate(clone, placements, world)
        _run(clone, PASSES)
    except SparccError:
        return 10**9
    return sum(1 for op in clone.walk() if isinstance(op, COLLECTIVES) and not isinstance(op, AllSliceOp))


def _run(module: ModuleOp, names: Sequence[str]) -> None:
    from sparcc.driver import run_passes

    run_passes(module, names)


# ----------------------------------------------------------------------------
# the per-rank program: segments between collectives
# ----------------------------------------------------------------------------


def local_weight(full: torch.Tensor, op: nn.WeightOp, rank: int, world: int) -> torch.Tensor:
    """This rank's part of a stored weight, in the store's layout (nn.weight:
    viewed row-major in the shape `perm` maps onto the result, then permuted)."""
    place = _place(op)
    if place.kind not in "SB":
        return full
    shape = [s * world if d == place.dim else s for d, s in enumerate(nn.shape_of(op.result))]
    perm = list(nn.ints(op.perm)) if op.perm is not None else list(range(len(shape)))
    viewed = [0] * len(perm)
    for j, p in enumerate(perm):
        viewed[p] = shape[j]
    d = perm[place.dim]
    blocks = full.reshape(viewed).unflatten(d, (place.blocks, -1))  # a fused q|k|v: its part of each block
    return blocks.chunk(world, d + 1)[rank].flatten(d, d + 1).contiguous()


def _place(op: Operation) -> Place:
    attr = op.attributes.get(ATTR)
    return R if attr is None else Place.of(attr)  # type: ignore[arg-type]


def slice_quantized(q: Any, fmt: Any, d: int, rank: int, world: int) -> Any:
    """Rank `rank`'s part along dim d of a quantised [rows, cols] weight
    (quant_formats.QuantizedTensor): its codes and the scales (and zero
    points) of its rows or groups; a per-channel or per-tensor scale that
    spans a split row is kept whole, so the part dequantises to the same
    values as the whole weight's slice."""
    import numpy as np

    from sparcc.dialects.quant_formats import QuantizedTensor, pack_nibbles, unpack_nibbles

    rows, cols = q.shape
    packed = fmt.bits <= 4
    codes = unpack_nibbles(q.codes, cols, axis=1) if packed else q.codes
    size = q.shape[d] // world
    lo, hi = rank * size, (rank + 1) * size

    def per_block(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        if d == 0 and fmt.granularity in ("channel", "group"):
            return a[lo:hi]
        if d == 1 and fmt.granularity == "group":
            return a[:, lo // fmt.group : hi // fmt.group]
        return a  # one scale per tensor, or per row of a column split

    codes = codes[lo:hi] if d == 0 else codes[:, lo:hi]
    if packed:
        codes = pack_nibbles(np.ascontiguousarray(codes), axis=1)
    shape = (size, cols) if d == 0 else (rows, size)
    return QuantizedTensor(q.spec, shape, np.ascontiguousarray(codes), per_block(q.scales), per_block(q.zero_points))


def compressed_part(op: Any, store: dict[str, torch.Tensor], rank: int, world: int, tgt: Any,
                    sparsity: Any) -> dict[str, torch.Tensor]:
    """The weight-store entries (`<name>#codes`, `#i0`, `#values`, ...) of
    rank `rank`'s part of a quantised or sparse weight, whose type is already
    the part's (shard-partition). The whole weight is compressed as without
    sharding (the same codes, scales, kept values) and this rank's part is
    cut from it, then laid out for the target's kernel for the part's shape."""
    import numpy as np

    from sparcc.quantize import to_numpy

    name = op.weight_name
    place = _place(op)
    whole = {k: v for k, v in store.items() if k.startswith(name + "#")}
    if place.kind != "S":
        return whole
    if name not in store:
        raise SparccError(f"shard: weight '{name}' is one part of a TASD sum; split layers take one sparse pattern")
    w = to_numpy(store[name])
    typ = op.result.type

    def torch_store(entries: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(np.ascontiguousarray(v).copy()) for k, v in entries.items()}

    if isinstance(typ, quant.QuantTensorType) and not typ.is_sparse:
        fmt = typ.format.format
        part = slice_quantized(fmt.quantize(w), fmt, place.dim, rank, world)
        return torch_store(tgt.quant_store(name, typ, part))
    from sparcc.dialects.sparse_formats import decode, encode, tasd
    from sparcc.quantize import layer_of
    from sparcc.sparsify import parse_value, store_buffers

    parts = parse_value(sparsity.format_for(layer_of(name))).parts
    if len(parts) != 1:
        raise SparccError(f"shard: weight '{name}' is a TASD sum of {len(parts)} parts; split layers take one pattern")

    def mine(a: np.ndarray) -> np.ndarray:
        size = a.shape[place.dim] // world
        return np.ascontiguousarray(np.take(a, range(rank * size, (rank + 1) * size), axis=place.dim))

    if isinstance(typ, quant.QuantTensorType):  # N:M with quantised kept values
        from sparcc.dialects import sparse_quant as sq

        sfmt, fmt = typ.sparsity.format, typ.format.format  # type: ignore[attr-defined]
        whole = sq.quantize(w, sfmt, fmt, parts[0])  # as sparcc.jit prunes and quantises it
        # the part's kept values are a slice of the whole's values array [rows, kept], by rows or columns
        part = sq.SparseQuantized(encode(mine(decode(whole.storage)), sfmt),
                                  slice_quantized(whole.values, fmt, place.dim, rank, world))
        ir = {f"{name}#sq.{role}": (a.reshape(-1).view(np.uint8) if role.startswith("crd") else a)
              for role, a in sq.buffers(part).items()}
        return torch_store({**ir, **tgt.quant_store(name, typ, part)})
    pruned = np.asarray(tasd(w, list(parts)).parts[0], np.float32)  # pruned whole, as sparcc.jit does
    index, values = store_buffers(encode(mine(pruned), typ.format.format))
    return {**{f"{name}#i{j}": t for j, t in enumerate(index)}, f"{name}#values": values}


@dataclass
class Segment:
    program: Any  # CompiledProgram
    inputs: list[int]  # value slots
    outputs: list[int]


@dataclass
class Collective:
    """Starts a collective (torch.distributed's async_op=True); a Wait later
    completes it."""

    kind: str  # all_reduce | all_gather | reduce_scatter | all_slice
    input: int
    output: int
    axis: int | None
    keep_input: bool = False  # a later step reads the input too: reduce a copy, not it in place


@dataclass
class Wait:
    """Completes the started collectives whose results go to these slots."""

    outputs: list[int]


def split(module: ModuleOp) -> tuple[list[Any], list[SSAValue], list[SSAValue]]:
    """The entry's ops as steps: ("ops", [ops]) runs, ("issue", op) that
    starts a collective as soon as its input is computed, and ("wait", [ops])
    before the first op that reads their results; the entry's arguments and
    results. Ops are pure, so an op that reads no pending result runs
    before the wait, while the data moves (communication overlaps compute
    where the program has such ops: each pass over the ops left takes every
    op that needs nothing pending, then waits)."""
    f = entry(module)
    ops = [op for op in f.body.block.ops if not isinstance(op, (func.ReturnOp, *WEIGHT_OPS))]
    steps: list[Any] = []
    while ops:
        run: list[Operation] = []
        deferred: list[Operation] = []
        pending: list[Operation] = []
        blocked: set[SSAValue] = set()  # results of pending collectives and of deferred ops
        for op in ops:
            if any(v in blocked for v in op.operands):
                deferred.append(op)
                blocked.update(op.results)
            elif isinstance(op, COLLECTIVES):
                if run:
                    steps.append(("ops", run))
                    run = []
                steps.append(("issue", op))
                pending.append(op)
                blocked.update(op.results)
            else:
                run.append(op)
        if run:
            steps.append(("ops", run))
        if pending:
            steps.append(("wait", pending))
        ops = deferred
    ret = f.body.block.last_op
    return steps, list(f.body.block.args), list(ret.operands) if ret else []


def segment_module(ops: list[Operation], inputs: list[SSAValue], outputs: list[SSAValue]) -> ModuleOp:
    """A module whose @forward runs `ops` (weights cloned in) from `inputs` to `outputs`."""
    from xdsl.ir import Block, Region

    block = Block(arg_types=[v.type for v in inputs])
    mapping: dict[SSAValue, SSAValue] = dict(zip(inputs, block.args))
    for op in ops:
        for v in op.operands:
            if v not in mapping and isinstance(v.owner, WEIGHT_OPS):
                w = v.owner.clone()
                w.attributes.pop(ATTR, None)
                block.add_op(w)
                mapping[v] = w.result
        block.add_op(op.clone(value_mapper=mapping))
    block.add_op(func.ReturnOp(*[mapping[v] for v in outputs]))
    fn = func.FuncOp("forward", ([v.type for v in inputs], [v.type for v in outputs]), Region(block))
    return ModuleOp([fn])


def spec_of(v: SSAValue) -> Any:
    from sparcc.frontend import TORCH_DTYPES, TensorSpec

    return TensorSpec(tuple(nn.shape_of(v)), TORCH_DTYPES[v.type.element_type])


def compile_segment(module: ModuleOp, weights: dict[str, torch.Tensor], inputs: list[Any], outputs: list[Any],
                    tgt: Any, threads: int, use_cache: bool | None) -> Any:
    """One segment through the target, like compile_program after import."""
    import shutil
    import tempfile
    import weakref

    from sparcc import cache
    from sparcc.driver import CompiledProgram, run_passes
    from sparcc.frontend import ImportedProgram

    text = str(module)
    imported = ImportedProgram(module, weights, inputs, outputs)

    def build(folder: Path) -> dict[str, Any]:
        run_passes(module, tgt.pipeline, text)
        return tgt.build(module, folder, threads)

    if tgt.cacheable and (use_cache if use_cache is not None else cache.enabled()):
        options = {"target": tgt.name, "threads": threads, "pipeline": list(tgt.pipeline)}
        folder, meta, hit = cache.get_or_build(cache.key(text, options, tgt), build, tgt.required_files())
        status = "hit" if hit else "built"
    else:
        folder = Path(tempfile.mkdtemp(prefix="sparcc-shard-"))
        meta = build(folder)
        status = "off"
    executable = tgt.load(folder, meta, imported, threads)
    program = CompiledProgram(inputs, outputs, None, executable, {"nn": text}, {"cache": status})
    if status == "off":
        weakref.finalize(program, shutil.rmtree, folder, True)
    return program


@dataclass
class ShardedProgram:
    """The program of one rank: segments and collectives over value slots."""

    steps: list[Any]
    inputs: list[Any]  # TensorSpec of the (replicated) inputs
    n_slots: int
    input_slots: list[int]
    output_slots: list[int]
    constants: dict[int, torch.Tensor]  # weights that a collective reads directly
    rank: int
    world: int
    ir: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    comm: dict[str, list[int]] = field(default_factory=dict)  # kind -> [calls, bytes]
    timeout: float | None = None
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # this rank's parts, by name
    # seconds spent in compiled segments and in collectives (waits included), over all calls
    seconds: dict[str, float] = field(default_factory=lambda: {"compute": 0.0, "collectives": 0.0})

    def __call__(self, *args: torch.Tensor) -> Any:
        import torch.distributed as dist

        if len(args) != len(self.inputs):
            raise InputMismatchError(f"expected {len(self.inputs)} input(s), got {len(args)}")
        for i, (a, s) in enumerate(zip(args, self.inputs)):
            if not isinstance(a, torch.Tensor) or tuple(a.shape) != tuple(s.shape) or a.dtype != s.dtype:
                got = f"{a.dtype}{list(a.shape)}" if isinstance(a, torch.Tensor) else type(a).__name__
                raise InputMismatchError(f"input {i}: expected {s}, got {got}")
        slots: list[Any] = [None] * self.n_slots
        for k, a in zip(self.input_slots, args):
            slots[k] = a.contiguous()
        for k, t in self.constants.items():
            slots[k] = t
        clock = time.perf_counter
        started: dict[int, tuple[Collective, Any, Any]] = {}  # output slot -> (collective, work, finish)
        for step in self.steps:
            start = clock()
            if isinstance(step, Segment):
                out = step.program(*[slots[k] for k in step.inputs])
                if isinstance(out, torch.Tensor):
                    out = (out,)
                for k, t in zip(step.outputs, out):
                    slots[k] = t
                self.seconds["compute"] += clock() - start
            elif isinstance(step, Collective):
                started[step.output] = (step, *self._guard(step, lambda: self._start(dist, step, slots[step.input])))
                self.seconds["collectives"] += clock() - start
            else:
                for k in step.outputs:
                    c, work, finish = started.pop(k)
                    self._guard(c, lambda: self._wait(work))
                    slots[k] = finish()
                self.seconds["collectives"] += clock() - start
        outs = [slots[k] for k in self.output_slots]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _start(self, dist: Any, c: Collective, x: torch.Tensor) -> tuple[Any, Any]:
        """Starts collective `c` on x: (its torch.distributed work or None, a
        function that gives the result once the work is done)."""
        n = self.world
        calls = self.comm.setdefault(c.kind, [0, 0])
        if c.kind == "all_slice":
            return None, lambda: x.chunk(n, c.axis)[self.rank].contiguous()
        calls[0] += 1
        calls[1] += x.numel() * x.element_size()
        if c.kind == "all_gather":
            parts = [torch.empty_like(x) for _ in range(n)]
            return dist.all_gather(parts, x.contiguous(), async_op=True), lambda: torch.cat(parts, c.axis)
        if c.kind == "reduce_scatter":  # rank r gets the sum of part r along the axis
            front = x.movedim(c.axis, 0).contiguous()
            part = torch.empty((front.shape[0] // n, *front.shape[1:]), dtype=x.dtype)
            return dist.reduce_scatter_single(part, front, async_op=True), lambda: part.movedim(0, c.axis).contiguous()
        y = x.clone() if c.keep_input or not x.is_contiguous() else x
        return dist.all_reduce(y, async_op=True), lambda: y

    def _guard(self, c: Collective, fn: Any) -> Any:
        try:
            return fn()
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SparccError(
                f"shard: rank {self.rank}: {c.kind} over {self.world} ranks failed ({first[:200]}); a peer process "
                "may have died or stopped calling the model"
            ) from None

    def _wait(self, work: Any) -> None:
        if work is None:
            return
        if self.timeout is None:
            work.wait()
        elif not work.wait(datetime.timedelta(seconds=self.timeout)):
            raise RuntimeError(f"no answer within {self.timeout:g} s")


@dataclass
class Plan:
    """A model sharded for `world` ranks, the same for every rank: its
    segments (modules), collectives and value slots."""

    prepared: Any  # sparcc.driver.Prepared
    module: ModuleOp  # the per-rank program
    placements: dict[str, str]
    unplaced: list[str]
    steps: list[tuple]  # ("segment", module, in slots, out slots, in specs, out specs) | ("collective", Collective)
    #                     | ("wait", Wait)
    n_slots: int
    input_slots: list[int]
    output_slots: list[int]
    constants: dict[int, nn.WeightOp]  # slots that hold a weight (a collective's input or an output)
    world: int

    def local_weights(self, rank: int) -> tuple[dict[str, torch.Tensor], int, int]:
        """This rank's weight parts (a compressed weight's store entries), their
        bytes and the whole model's."""
        weights: dict[str, torch.Tensor] = {}
        full_bytes = local_bytes = 0
        store = self.prepared.imported.weights
        seen: set[str] = set()
        for op in _weight_ops(entry(self.module)):
            name = op.weight_name
            if name in seen:
                continue
            seen.add(name)
            if isinstance(op, nn.WeightOp):
                full = {name: store[name]}
                local = {name: local_weight(store[name], op, rank, self.world)}
            else:
                full = {k: v for k, v in store.items() if k.startswith(name + "#")}
                local = compressed_part(op, store, rank, self.world, self.prepared.target, self.prepared.sparsity)
            weights.update(local)
            full_bytes += sum(t.numel() * t.element_size() for t in full.values())
            local_bytes += sum(t.numel() * t.element_size() for t in local.values())
        return weights, local_bytes, full_bytes


def plan(model: Any, args: Sequence[torch.Tensor], spec: ShardSpec, world: int, tgt: Any,
         quant: Any = None, sparsity: Any = None) -> Plan:
    """Imports `model` (its layers pruned and quantised as `sparsity` and
    `quant` say, as sparcc.jit does), places its weights, runs shard-propagate
    and shard-partition, and cuts the per-rank program at its collectives."""
    from sparcc.driver import prepare

    check_mesh(spec, world)
    prepared = prepare(model, args, tgt, quant, sparsity)
    imported = prepared.imported
    module = imported.module
    if imported.symbols or imported.mutated:
        raise SparccError("shard: models with dynamic shapes or in-place updated inputs are not sharded yet")
    placements = auto_placements(module, world) if spec.auto else rule_placements(spec, module, imported.weights)
    annotate(module, placements, world)
    _run(module, PASSES)
    unplaced = [a.data for a in module.attributes["shard.unplaced"].data] if "shard.unplaced" in module.attributes else []

    steps_ir, args_v, results_v = split(module)
    slot: dict[SSAValue, int] = {}

    def slot_of(v: SSAValue) -> int:
        return slot.setdefault(v, len(slot))

    input_slots = [slot_of(v) for v in args_v]
    later: list[set[SSAValue]] = []  # the values each step's successors read
    reads: set[SSAValue] = set(results_v)
    for kind, payload in reversed(steps_ir):
        later.append(set(reads))
        for op in payload if kind == "ops" else [payload] if kind == "issue" else []:
            reads |= set(op.operands)
    later.reverse()
    constants: dict[int, nn.WeightOp] = {}
    steps: list[tuple] = []
    for (kind, payload), after in zip(steps_ir, later):
        if kind == "wait":
            steps.append(("wait", Wait([slot_of(op.result) for op in payload])))
            continue
        if kind == "issue":
            src = payload.input
            if isinstance(src.owner, nn.WeightOp):
                constants[slot_of(src)] = src.owner
            axis = None if isinstance(payload, AllReduceOp) else payload.axis
            steps.append(("collective", Collective(payload.name.removeprefix("shard."), slot_of(src),
                                                   slot_of(payload.result), axis,
                                                   keep_input=src in after or isinstance(src.owner, nn.WeightOp))))
            continue
        defined = {r for op in payload for r in op.results}
        ins: list[SSAValue] = []
        for op in payload:
            for v in op.operands:
                if v not in defined and v not in ins and not isinstance(v.owner, WEIGHT_OPS):
                    ins.append(v)
        outs = [v for op in payload for v in op.results if v in after]
        steps.append(("segment", segment_module(payload, ins, outs), [slot_of(v) for v in ins],
                      [slot_of(v) for v in outs], [spec_of(v) for v in ins], [spec_of(v) for v in outs]))
    for v in results_v:
        if isinstance(v.owner, nn.WeightOp):
            constants[slot_of(v)] = v.owner
    output_slots = [slot_of(v) for v in results_v]
    return Plan(prepared, module, placements, unplaced, steps, len(slot), input_slots, output_slots, constants, world)


def _report(p: Plan, rank: int, steps: list[Any], local_bytes: int, full_bytes: int) -> dict[str, Any]:
    return {
        "rank": rank,
        "world": p.world,
        "placements": p.placements,
        "unplaced": p.unplaced,
        "segments": sum(isinstance(s, Segment) for s in steps),
        "collectives": [s.kind for s in steps if isinstance(s, Collective)],
        "schedule": [s.kind if isinstance(s, Collective) else "wait" if isinstance(s, Wait) else "segment"
                     for s in steps],
        "memory": {"weights_bytes": local_bytes, "model_weights_bytes": full_bytes},
        "cache": [s.program.report.get("cache") for s in steps if isinstance(s, Segment)],
    }


def build_sharded(model: Any, args: Sequence[torch.Tensor], spec: ShardSpec, target: str = "cpu",
                  threads: int | None = None, use_cache: bool | None = None,
                  rank: int | None = None, world: int | None = None, timeout: float | None = None,
                  quant: Any = None, sparsity: Any = None) -> ShardedProgram:
    """Imports `model`, shards it for this rank and compiles its segments.
    rank/world default to torch.distributed's (which must be initialised)."""
    from sparcc.backends import get_target

    start = time.perf_counter()
    distributed = rank is None
    if distributed:
        rank, world = process_group()
    tgt = get_target(target)
    threads = tgt.check_threads(threads)
    p = plan(model, args, spec, world, tgt, quant, sparsity)
    weights, local_bytes, full_bytes = p.local_weights(rank)
    steps: list[Any] = []
    # rank 0 compiles first; the others then load the same segments from the cache
    if distributed and rank != 0:
        _barrier()
    try:
        for step in p.steps:
            if step[0] in ("collective", "wait"):
                steps.append(step[1])
                continue
            _, seg, ins, outs, in_specs, out_specs = step
            program = compile_segment(seg, weights, in_specs, out_specs, tgt, threads, use_cache)
            steps.append(Segment(program, ins, outs))
    finally:
        if distributed and rank == 0:
            _barrier()
    constants = {k: _bound(weights[op.weight_name], op) for k, op in p.constants.items()}
    report = {**_report(p, rank, steps, local_bytes, full_bytes), "seconds": time.perf_counter() - start}
    ir = {"nn": p.prepared.ir["nn"], "partitioned": str(p.module)}
    return ShardedProgram(steps, list(p.prepared.imported.inputs), p.n_slots, p.input_slots, p.output_slots,
                          constants, rank, world, ir, report, timeout=timeout, weights=weights)


# ----------------------------------------------------------------------------
# ahead of time: one artifact per rank
# ----------------------------------------------------------------------------

SHARD_MANIFEST = "shard.json"


class _SegmentPrepared:
    """What a target's artifact writer reads of sparcc.driver.Prepared, for one segment."""

    def __init__(self, module: ModuleOp, weights: dict[str, torch.Tensor], inputs: list[Any], outputs: list[Any],
                 tgt: Any):
        from sparcc.frontend import ImportedProgram

        self.imported = ImportedProgram(module, weights, inputs, outputs)
        self.text = str(module)
        self.tgt = tgt
        self.import_seconds = 0.0
        self.quant_layers: list[Any] = []
        self.sparse_layers: list[Any] = []

    def run_passes(self) -> dict[str, float]:
        from sparcc.driver import run_passes

        return run_passes(self.imported.module, self.tgt.pipeline, self.text)


def compile_sharded(model: Any, args: Sequence[torch.Tensor], out: str | Path, shard: Any, world: int,
                    target: str = "cpu", threads: int | None = None, quant: Any = None,
                    sparsity: Any = None) -> list[Path]:
    """Writes one artifact per rank, out/rank<r>/: an artifact per segment
    (seg<k>/, holding that rank's weight parts) and shard.json (the steps).
    No process group is needed to compile; `load_sharded` (and sparcc.load)
    runs it under one of `world` processes."""
    import json

    from sparcc.backends import get_target

    spec = parse_shard_spec(shard)
    if not isinstance(world, int) or world < 1:
        raise SparccError(f"shard: world size {world!r} is not a number of processes >= 1")
    tgt = get_target(target, compiling=True)
    if not tgt.writes_artifacts:
        raise SparccError(f"target '{tgt.name}' does not write ahead-of-time artifacts; use sparcc.jit")
    threads = tgt.check_threads(threads)
    p = plan(model, args, spec, world, tgt, quant, sparsity)
    if p.constants:
        raise SparccError("shard: a collective of a weight itself is not written ahead of time yet; use sparcc.jit")
    folders = []
    for rank in range(world):
        weights, local_bytes, full_bytes = p.local_weights(rank)
        folder = Path(out) / f"rank{rank}"
        folder.mkdir(parents=True, exist_ok=True)
        steps_json, n_seg = [], 0
        for step in p.steps:
            if step[0] == "collective":
                c = step[1]
                steps_json.append({"collective": c.kind, "input": c.input, "output": c.output, "axis": c.axis,
                                   "keep_input": c.keep_input})
                continue
            if step[0] == "wait":
                steps_json.append({"wait": step[1].outputs})
                continue
            _, seg, ins, outs, in_specs, out_specs = step
            name = f"seg{n_seg}"
            n_seg += 1
            seg_folder = folder / name
            seg_folder.mkdir(exist_ok=True)
            prepared = _SegmentPrepared(seg.clone(), weights, in_specs, out_specs, tgt)
            from sparcc.artifact import Stages

            stages = Stages(["passes", "lower", "weights", "build"], False)
            try:
                tgt.write_artifact(seg_folder, prepared, threads, stages, name)
            finally:
                stages.close()
            steps_json.append({"segment": name, "inputs": ins, "outputs": outs})
        manifest = {
            "format": 2, "rank": rank, "world": world, "target": tgt.name, "steps": steps_json,
            "n_slots": p.n_slots, "input_slots": p.input_slots, "output_slots": p.output_slots,
            "inputs": [{"shape": list(s.shape), "dtype": str(s.dtype).removeprefix("torch.")}
                       for s in p.prepared.imported.inputs],
            "placements": p.placements, "unplaced": p.unplaced,
            "memory": {"weights_bytes": local_bytes, "model_weights_bytes": full_bytes},
        }
        (folder / SHARD_MANIFEST).write_text(json.dumps(manifest, indent=1))
        folders.append(folder)
    return folders


def load_sharded(folder: str | Path, threads: int | None = None, timeout: float | None = None) -> ShardedProgram:
    """Loads what compile_sharded wrote: `folder` is out/ (this rank's
    rank<r>/ is picked) or one rank's folder, which must be this process's
    rank of a group of the same size."""
    import json

    from sparcc import artifact

    rank, world = process_group()
    path = Path(folder)
    if (path / f"rank{rank}" / SHARD_MANIFEST).is_file():
        path = path / f"rank{rank}"
    try:
        m = json.loads((path / SHARD_MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise SparccError(f"'{path}' holds no readable {SHARD_MANIFEST} ({e}); expected what compile_sharded wrote") from None
    if m["world"] != world:
        raise SparccError(
            f"shard: '{path}' was compiled for a mesh of {m['world']} processes but the process group has {world} "
            "(torch.distributed world size); start as many processes as the mesh has, or recompile with --world-size"
        )
    if m["rank"] != rank:
        raise SparccError(f"shard: '{path}' is rank {m['rank']}'s artifact; this process is rank {rank}")
    steps: list[Any] = []
    for s in m["steps"]:
        if "segment" in s:
            steps.append(Segment(artifact.load(path / s["segment"], threads), s["inputs"], s["outputs"]))
        elif "wait" in s:
            steps.append(Wait(s["wait"]))
        else:
            steps.append(Collective(s["collective"], s["input"], s["output"], s["axis"], s.get("keep_input", False)))
            if m.get("format", 1) == 1:  # written before overlap: each collective completes at once
                steps.append(Wait([s["output"]]))
    from sparcc.frontend import TensorSpec

    inputs = [TensorSpec(tuple(i["shape"]), getattr(torch, i["dtype"])) for i in m["inputs"]]
    report = {"rank": rank, "world": world, "placements": m["placements"], "unplaced": m["unplaced"],
              "memory": m["memory"], "collectives": [c.kind for c in steps if isinstance(c, Collective)],
              "artifact": str(path)}
    return ShardedProgram(steps, inputs, m["n_slots"], m["input_slots"], m["output_slots"], {}, rank, world,
                          {}, report, timeout=timeout)


def _bound(local: torch.Tensor, op: nn.WeightOp) -> torch.Tensor:
    from sparcc.backends import weight_view

    perm = list(nn.ints(op.perm)) if op.perm is not None else None
    return weight_view(local, list(nn.shape_of(op.result)), perm, op.padded_rows).contiguous()


def _barrier() -> None:
    """Rank 0 compiles, the others wait here; a peer that dies meanwhile ends
    the wait (gloo's closed connection, or the process group's timeout) with
    one message."""
    import torch.distributed as dist

    try:
        dist.barrier()
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SparccError(
            f"shard: rank {dist.get_rank()}: waiting for the other ranks while rank 0 compiles failed ({first[:200]}); "
            "a peer process may have died (see its own error)"
        ) from None


class ShardedFunction:
    """sparcc.jit(model, shard=...): compiles on the first call per input
    signature, on every rank of the process group."""

    def __init__(self, model: Any, shard: Any, target: str = "cpu", threads: int | None = None,
                 cache: bool | None = None, timeout: float | None = None, quant: Any = None, sparsity: Any = None):
        self.spec = parse_shard_spec(shard)  # a bad spec fails here
        self.model, self.target, self.threads, self.use_cache, self.timeout = model, target, threads, cache, timeout
        self.quant, self.sparsity = quant, sparsity
        self.programs: dict[Any, ShardedProgram] = {}

    def __call__(self, *args: torch.Tensor) -> Any:
        key = tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else repr(a) for a in args)
        program = self.programs.get(key)
        if program is None:
            program = build_sharded(self.model, args, self.spec, self.target, self.threads, self.use_cache,
                                    timeout=self.timeout if self.timeout is not None else self.spec.timeout,
                                    quant=self.quant, sparsity=self.sparsity)
            self.programs[key] = program
        return program(*args)

    @property
    def program(self) -> ShardedProgram:
        """The program of the last signature compiled."""
        return next(reversed(self.programs.values()))


def sharded_jit(model: Any, shard: Any, target: str, threads: int | None, cache: bool | None, quant: Any = None,
                sparsity: Any = None, dynamic: Any = None) -> Any:
    """sparcc.jit's entry for shard=: the specs are checked now; quant= and
    sparsity= compress the layers as without shard= (each rank keeps its
    part of the compressed weights); dynamic= does not combine with it yet."""
    from sparcc.quantize import parse_quant_spec
    from sparcc.sparsify import parse_sparsity_spec

    if dynamic is not None:
        raise SparccError("sparcc.jit: shard= cannot be combined with dynamic= yet")
    spec = parse_shard_spec(shard)
    quant, sparsity = parse_quant_spec(quant), parse_sparsity_spec(sparsity)
    if model is None:
        return lambda m: ShardedFunction(m, spec, target, threads, cache, quant=quant, sparsity=sparsity)
    return ShardedFunction(model, spec, target, threads, cache, quant=quant, sparsity=sparsity)


def cli_compile(opts: Any, model: Any, inputs: list[Any], quant: Any, sparsity: Any) -> None:
    """`sparcc compile --shard ... --world-size N -o out/`: out/rank<r>/ per rank."""
    if not opts.shard or opts.world_size is None:
        raise SparccError("--shard and --world-size go together: e.g. --shard auto --world-size 2")
    parts = opts.shard
    spec: Any = "auto" if parts == ["auto"] else (
        parts[0] if len(parts) == 1 and parts[0].strip().startswith("{") else ";".join(parts))
    folders = compile_sharded(model, inputs, opts.output, spec, opts.world_size, opts.target_device, opts.threads,
                              quant, sparsity)
    import json

    for folder in folders:
        m = json.loads((folder / SHARD_MANIFEST).read_text())
        kinds = [s["collective"] for s in m["steps"] if "collective" in s]
        print(f"{opts.target}: rank {m['rank']} of {m['world']} -> {folder}/ ({sum('segment' in s for s in m['steps'])} "
              f"segment(s), collectives {', '.join(kinds) or 'none'}; weights "
              f"{m['memory']['weights_bytes'] / 2**20:.2f} of {m['memory']['model_weights_bytes'] / 2**20:.2f} MiB)")
    if m["unplaced"]:
        print(f"  replicated (no sharding rule): {', '.join(m['unplaced'])}")
