"""
`shard-partition`: the program that each process of a 1-D grid runs.

In: the output of `shard-propagate` (every nn op and weight carries
`shard.sharding`; `shard.reshard` where placements change). Out: the same
program on local values (a dim split over N processes has 1/N of its size)
with the data moved by collectives:

    P -> R      shard.all_reduce
    P -> S(d)   shard.reduce_scatter, scatter_axis d
    S(d) -> R   shard.all_gather, gather_axis d
    R -> S(d)   shard.all_slice, slice_axis d (no data moves)
    S(a) -> S(b)  all_gather a, then all_slice b

The program is the same on every process (SPMD); weights keep their
`shard.sharding` so that a loader gives each process its part. A split dim
that N does not divide is an error naming the tensor and the sizes.

    %y = nn.linear %x, %w {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>}
           : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
    %r = shard.reshard %y from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, []>
  becomes (N = 2)
    %y = nn.linear %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %r = shard.all_reduce %y on @mesh grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
"""

from __future__ import annotations

from dataclasses import dataclass

from sparcc.dialects import nn, quant, sparse
from sparcc.dialects.shard import AllGatherOp, AllReduceOp, AllSliceOp, ReduceScatterOp, ReshardOp
from sparcc.errors import SparccError
from sparcc.passes.shard_propagate import ATTR, WEIGHT_OPS, Place, find_grid, split_problem
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, ModuleOp, TensorType, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter


def _local(typ: Attribute, p: Place, n: int, what: str) -> Attribute:
    if p.kind not in "SB":
        return typ
    if isinstance(typ, (quant.QuantTensorType, sparse.SparseTensorType)):
        if p.kind == "B":
            raise SparccError(f"shard: {what} ({typ}): a compressed weight is not split in blocks yet; replicate it")
        return _local_compressed(typ, p.dim, n, what)
    shape = list(nn.shape_of(typ))
    if not nn.is_static(shape):
        raise SparccError(f"shard: {what} has the dynamic shape {nn.dims_text(shape)}; sharding needs static shapes")
    if shape[p.dim] % (n * p.blocks) != 0:
        blocks = f" ({p.blocks} blocks of {shape[p.dim] // p.blocks})" if p.blocks > 1 else ""
        raise SparccError(
            f"shard: {what} dim {p.dim} has size {shape[p.dim]}{blocks}, which {n} ranks do not divide "
            f"(shape {shape}); choose another dim or replicate it"
        )
    shape[p.dim] //= n
    return nn.tensor(shape, typ.element_type)


def _local_compressed(typ: Attribute, d: int, n: int, what: str) -> Attribute:
    """A rank's part of a quantised or sparse weight: its type of the local
    shape, in the same format (split_problem says when there is none)."""
    shape = list(typ.get_shape())
    if shape[d] % n != 0:
        raise SparccError(
            f"shard: {what} dim {d} has size {shape[d]}, which {n} ranks do not divide "
            f"(shape {shape}); choose another dim or replicate it"
        )
    if (why := split_problem(typ, d, n)) is not None:
        raise SparccError(f"shard: {what} ({typ}) cannot be split along dim {d}: {why}; replicate it")
    shape[d] //= n
    if isinstance(typ, quant.QuantTensorType):
        return quant.QuantTensorType(shape, typ.format, None if not typ.is_sparse else typ.sparsity)
    return sparse.SparseTensorType(shape, typ.element_type, typ.format)


def describe(op: Operation) -> str:
    if isinstance(op, WEIGHT_OPS):
        return f"weight '{op.weight_name}'"
    return f"the result of {op.name} ({op.results[0].type})"


class _Partition:
    def __init__(self, grid: str, n: int):
        self.grid, self.n = grid, n

    def collective(self, cls, v: SSAValue, before: Operation, axis: int | None = None, scale: float = 1) -> SSAValue:
        shape = list(nn.shape_of(v))
        if axis is not None:
            if scale < 1 and shape[axis] % self.n != 0:
                raise SparccError(
                    f"shard: a value of shape {shape} cannot be split over {self.n} ranks along dim {axis} "
                    f"(size {shape[axis]})"
                )
            shape[axis] = int(shape[axis] * scale)
        op = cls(v, nn.tensor(shape, v.type.element_type), self.grid, [0], axis)
        Rewriter.insert_op(op, InsertPoint.before(before))
        return op.result

    def reshard(self, op: ReshardOp) -> None:
        src, dst = Place.of(op.source), Place.of(op.target)  # type: ignore[arg-type]
        v = op.src
        if src == dst:
            out = v
        elif "B" in (src.kind, dst.kind):
            what = v.owner.name if isinstance(v.owner, Operation) else "an argument"
            raise SparccError(f"shard: cannot reshard the result of {what} from {src} to {dst}: the blocks of a "
                              "fused projection are only sliced apart, one whole block at a time")
        elif src.kind == "P" and dst.kind == "R":
            out = self.collective(AllReduceOp, v, op)
        elif src.kind == "P" and dst.kind == "S":
            out = self.collective(ReduceScatterOp, v, op, dst.dim, 1 / self.n)
        elif src.kind == "S" and dst.kind in "RS":
            out = self.collective(AllGatherOp, v, op, src.dim, self.n)
            if dst.kind == "S":
                out = self.collective(AllSliceOp, out, op, dst.dim, 1 / self.n)
        elif src.kind == "R" and dst.kind == "S":
            out = self.collective(AllSliceOp, v, op, dst.dim, 1 / self.n)
        else:
            raise SparccError(f"shard: cannot reshard a value from {src} to {dst} (shape {list(nn.shape_of(v))})")
        op.result.replace_all_uses_with(out)
        Rewriter.erase_op(op)

    def local_slice(self, op: nn.SliceOp, p: Place) -> None:
        """A slice of whole blocks of a blocked split (q of q|k|v): this
        process's part of them, at 1/N of the bounds."""
        d = nn.normalize_dim(op.dim.value.data, len(nn.shape_of(op.input)))
        if p.kind == "B" and p.dim == d:
            whole = nn.shape_of(op.input)[d] * self.n  # the input has its local type already
            for key, v in (("start", op.start.value.data), ("end", min(op.end.value.data, whole))):
                op.properties[key] = IntegerAttr(v // self.n, i64)

    def run(self, f: func.FuncOp) -> None:
        placed: dict[SSAValue, Place] = {}
        for op in list(f.body.block.ops):
            if isinstance(op, ReshardOp):
                self.reshard(op)
                continue
            attr = op.attributes.get(ATTR)
            if attr is None:
                continue
            p = Place.of(attr)  # type: ignore[arg-type]
            if isinstance(op, nn.SliceOp) and op.input in placed:
                self.local_slice(op, placed[op.input])
            for r in op.results:
                placed[r] = p
            for r in op.results:
                if isinstance(r.type, (TensorType, quant.QuantTensorType, sparse.SparseTensorType)):
                    r._type = _local(r.type, p, self.n, describe(op))  # in place: the uses see the new type
            if isinstance(op, sparse.WeightOp) and op.entries is not None and p.kind == "S":  # a static format's
                entries = op.result.type.format.format.static_entries(op.result.type.get_shape())
                op.properties["entries"] = DenseArrayBase.from_list(i64, entries)
            if not isinstance(op, WEIGHT_OPS):
                del op.attributes[ATTR]


@dataclass(frozen=True)
class ShardPartitionPass(ModulePass):
    name = "shard-partition"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        grid = find_grid(op)
        for f in op.walk():
            if isinstance(f, func.FuncOp) and f.body.blocks:
                _Partition(grid.sym_name.data, grid.dims[0]).run(f)
