"""
`shard-propagate`: gives every value of a program a sharding on a 1-D grid.

In: nn IR with one `shard.grid` and `shard.shard` annotations (on weights,
usually; `sparcc.shard.annotate` writes them from parameter globs). Out: every
nn op and weight carries its result's sharding as the attribute
`shard.sharding`, and `shard.reshard` ops sit where a consumer needs another
placement than its operand has. Function arguments and results are
replicated.

On a 1-D grid of N processes a value is replicated (R), split along one dim
(S(d)), or a partial sum (P: the value is the sum of the N local ones).
Each op kind has a rule (RULES) that, from its operands' placements, picks
the placements it wants for its operands and the one of its result:

    linear     x R, w S(0) -> S(-1)          (column parallel)
               x S(-1), w S(1) -> P          (row parallel; a bias is split
                                              off into an add after the sum)
               x S(d), d < -1, w R -> S(d)
    matmul     batch dims, M of lhs, N of rhs; K of both -> P
    elementwise   the first split operand's dim (broadcast dims stay R);
               add/sub of partial sums and neg keep P
    softmax, layer_norm, reductions, sdpa, embedding, reshape, permute,
    expand, concat, slice: split dims that the op does not mix pass through
    quant.linear, sparse.linear   as linear, when the compressed weight can
               be cut there (split_problem); else it stays whole

A fused projection (GPT-2's q|k|v) is split per block: `blocks = k` on a
sharding says the dim is k equal blocks, each split; linear/matmul, the
bias add and reshapes carry it, and a slice of whole blocks (q) is an
ordinary split of its own.

A weight that no annotation places takes the placement its first consumer
wants (a rank loads its part; nothing moves at run time). An op without a
rule runs replicated: its operands are gathered, and its name is listed in
the module attribute `shard.unplaced`.

    %w = nn.weight @fc1.weight : tensor<16x8xf32>
    %a = shard.shard %w to #shard.sharding<@mesh, [[0]]> : tensor<16x8xf32>
    %y = nn.linear %x, %a : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  becomes
    %w = nn.weight @fc1.weight {shard.sharding = #shard.sharding<@mesh, [[0]]>} : ...
    %y = nn.linear %x, %w {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : ...
    %r = shard.reshard %y from #shard.sharding<@mesh, [[], [0]]> to #shard.sharding<@mesh, []> : ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sparcc.dialects import nn, quant, sparse
from sparcc.dialects.shard import GridOp, ReshardOp, ShardingAttr, ShardOp
from sparcc.errors import SparccError
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, ModuleOp, StringAttr, TensorType, f32
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

ATTR = "shard.sharding"

# the ops that name a stored weight: a rank loads its part of each
WEIGHT_OPS = (nn.WeightOp, quant.WeightOp, sparse.WeightOp)


def split_problem(typ: object, d: int, n: int) -> str | None:
    """Why a weight of type `typ` cannot be split along dim d over n ranks
    so that each rank keeps its part of the compressed storage and its
    kernel runs on it; None when it can (a plain tensor always can, its
    divisibility aside). A quantised weight [out, in] keeps its codes and
    scales: rows split anywhere, columns at group boundaries (and at whole
    bytes of packed 4-bit codes). A sparse one keeps its kept values: the
    format's layout must not depend on the data (the same program on every
    rank) and the split must fall between its tiles (N:M groups, blocks)."""
    if isinstance(typ, quant.QuantTensorType):
        fmt = typ.format.format
        rows, cols = typ.get_shape()
        if typ.is_sparse:  # N:M: the kept values [rows, cols / M * N] hold the codes and their groups
            sfmt = typ.sparsity.format  # type: ignore[attr-defined]
            if sfmt.tile(0) != 1:
                return f"its values in {typ.sparsity} walk {sfmt.tile(0)} rows per group; not split yet"
            if (why := split_problem(sparse.SparseTensorType(typ.get_shape(), f32, typ.sparsity), d, n)):
                return why
            if d == 1 and cols % n == 0:
                kept = sfmt.static_storage((rows, cols // n))[1][1]
                return split_problem(quant.QuantTensorType((rows, kept * n), typ.format), 1, n)
            return None
        if d == 1 and cols % n == 0:
            local = cols // n
            if fmt.granularity == "group" and local % fmt.group:
                return f"{n} ranks would split its groups of {fmt.group} ({cols} columns, {local} per rank)"
            if fmt.bits <= 4 and local % 2:
                return f"{n} ranks would split a byte of its packed 4-bit codes ({local} columns per rank)"
        return None
    if isinstance(typ, sparse.SparseTensorType):
        fmt = typ.format.format
        shape = list(typ.get_shape())
        if shape[d] % n:
            return None  # partition names the sizes
        shape[d] //= n
        if fmt.static_entries(shape) is None:
            return f"format '{typ.format.spec.data}' stores a number of entries that depends on the data"
        if shape[d] % fmt.tile(d):
            return (f"{n} ranks would split its tiles of {fmt.tile(d)} along dim {d} "
                    f"({shape[d] * n} in all, {shape[d]} per rank)")
        return None
    return None


def weight_name(v: SSAValue) -> str | None:
    return v.owner.weight_name if isinstance(v.owner, WEIGHT_OPS) else None


@dataclass(frozen=True)
class Place:
    """A placement on a 1-D grid: "R", "P", "S" with a dim, or "B": a dim
    made of `blocks` equal blocks (a fused q|k|v), each split over the grid,
    a process holding its part of every block in block order."""

    kind: str
    dim: int = -1
    blocks: int = 1

    def __str__(self) -> str:
        if self.kind == "B":
            return f"S({self.dim}) in {self.blocks} blocks"
        return f"S({self.dim})" if self.kind == "S" else self.kind

    def attr(self, grid: str) -> ShardingAttr:
        if self.kind in "SB":
            return ShardingAttr(grid, [[]] * self.dim + [[0]], [], self.blocks)
        return ShardingAttr(grid, [], [0] if self.kind == "P" else [])

    @staticmethod
    def of(attr: ShardingAttr) -> Place:
        if attr.partial:
            return P
        split = [d for d, axes in enumerate(attr.splits) if axes]
        if not split:
            return R
        if len(split) > 1 or attr.splits[split[0]] != (0,):
            raise SparccError(f"shard: {attr} splits more than one dim; only 1-D grids are supported")
        blocks = attr.blocks.data
        return Place("B", split[0], blocks) if blocks > 1 else Place("S", split[0])


R = Place("R")
P = Place("P")


def S(d: int) -> Place:
    return Place("S", d)


def B(d: int, blocks: int) -> Place:
    return S(d) if blocks == 1 else Place("B", d, blocks)


def _blocked(places: list) -> Place | None:
    return next((p for p in places if p is not None and p.kind == "B"), None)


def rank(v: SSAValue) -> int:
    return len(nn.shape_of(v))


def size(v: SSAValue, d: int) -> int:
    return nn.shape_of(v)[d]


# A rule: (op, operand placements (None: a weight still free), N) ->
# (wanted operand placements, result placement). None from a rule: no rule fits.
Rule = Callable[[Operation, list, int], tuple[list[Place], Place]]
RULES: dict[type[Operation], Rule] = {}


def rule(*ops: type[Operation]) -> Callable[[Rule], Rule]:
    def register(f: Rule) -> Rule:
        for op in ops:
            RULES[op] = f
        return f

    return register


def _aligned(v: SSAValue, out_rank: int, d_out: int) -> int | None:
    """The dim of `v` that broadcasting aligns with result dim d_out, when
    v covers it with a size above 1."""
    d = d_out - (out_rank - rank(v))
    return d if d >= 0 and size(v, d) != 1 else None


def _split_out(op: Operation, places: list, out_rank: int) -> int | None:
    """The result dim of the first operand split along a dim it does not broadcast."""
    for v, p in zip(op.operands, places):
        if p is not None and p.kind == "S":
            d_out = p.dim + (out_rank - rank(v))
            if size(v, p.dim) != 1:
                return d_out
    return None


def _elementwise(op: Operation, places: list, n: int, partial_ok: bool = False) -> tuple[list[Place], Place]:
    out_rank = rank(op.results[0])
    if partial_ok and places and all(p == P for p in places):
        return [P] * len(places), P
    d_out = _split_out(op, places, out_rank)
    b = _blocked(places)
    if d_out is None and b is not None:  # blocks of a fused projection: operands of the dim's size follow
        v = op.operands[places.index(b)]
        d_out = b.dim + out_rank - rank(v)
        want = []
        for w in op.operands:
            d = _aligned(w, out_rank, d_out)
            want.append(B(d, b.blocks) if d is not None and size(w, d) == size(op.results[0], d_out) else R)
        return want, B(d_out, b.blocks)
    if d_out is None:
        return [R] * len(places), R
    want = []
    for v in op.operands:
        d = _aligned(v, out_rank, d_out)
        want.append(R if d is None else S(d))
    return want, S(d_out)


@rule(nn.AddOp, nn.SubOp)
def _add(op, places, n):
    return _elementwise(op, places, n, partial_ok=True)


@rule(nn.NegOp)
def _neg(op, places, n):
    return _elementwise(op, places, n, partial_ok=True)


def _register_elementwise() -> None:
    ops = [c for c in vars(nn).values() if isinstance(c, type) and issubclass(c, (nn.UnaryOp, nn.BinaryOp))
           and hasattr(c, "name") and isinstance(getattr(c, "name", None), str)]
    for c in [*ops, nn.WhereOp, nn.CastOp]:
        RULES.setdefault(c, lambda op, places, n: _elementwise(op, places, n))


@rule(nn.LinearOp)
def _linear(op: nn.LinearOp, places, n):
    px, pw = places[0], places[1]
    last = rank(op.input) - 1
    bias = [] if op.bias is None else [None]
    if pw is not None and pw.kind == "B" and pw.dim == 0:  # a fused q|k|v, column parallel
        return [R, pw, *([pw] if bias else [])], B(last, pw.blocks)
    if pw == S(0):
        return [R, S(0), *([S(0)] if bias else [])], S(last)
    if pw == S(1) or (pw is None and px == S(last)):
        return [S(last), S(1), *([R] if bias else [])], P  # the bias is split off first
    if px is not None and px.kind == "S" and px.dim < last:
        return [px, R, *([R] if bias else [])], px
    if px == P and not bias:
        return [P, R], P
    return [R, R, *([R] if bias else [])], R


@rule(quant.LinearOp, sparse.LinearOp)
def _compressed_linear(op, places, n):
    """As nn.linear, on the kept parts of a compressed weight: a free weight
    that cannot be split (split_problem) stays whole; a pinned one is an error."""
    w = op.weight
    want, out = _linear(op, places[:3], n)
    pw = want[1]
    if pw.kind == "S" and (why := split_problem(w.type, pw.dim, n)) is not None:
        if places[1] is not None:
            raise SparccError(f"shard: weight '{weight_name(w)}' ({w.type}) cannot be split along dim {pw.dim}: {why}; "
                              "replicate it or choose another placement")
        want, out = _linear(op, [places[0], R, *places[2:3]], n)
    if len(places) > len(want):  # sparse.linear's acc: added to the product, placed as it
        want = [*want, out]
    return want, out


@rule(nn.MatmulOp)
def _matmul(op: nn.MatmulOp, places, n):
    pa, pb = places
    ra, rb, ro = rank(op.lhs), rank(op.rhs), rank(op.result)
    if pb is not None and pb.kind == "B" and pb.dim == rb - 1 and pa in (R, None):  # a fused [in, q|k|v]
        return [R, pb], B(ro - 1, pb.blocks)
    if pa == S(ra - 1) and pb in (S(rb - 2), None):
        return [pa, S(rb - 2)], P
    if pa is not None and pa.kind == "S" and pa.dim == ra - 2:
        return [pa, R], S(ro - 2)
    if pb is not None and pb.kind == "S" and pb.dim == rb - 1:
        return [R, pb], S(ro - 1)
    for v, p in zip((op.lhs, op.rhs), (pa, pb)):
        if p is not None and p.kind == "S" and p.dim < rank(v) - 2:
            d_out = p.dim + ro - rank(v)
            want = []
            for w in (op.lhs, op.rhs):
                d = d_out - (ro - rank(w))
                want.append(S(d) if 0 <= d < rank(w) - 2 and size(w, d) != 1 else R)
            return want, S(d_out)
    return [R, R], R


@rule(nn.SoftmaxOp, nn.LogSoftmaxOp, nn.CumsumOp)
def _along_dim(op, places, n):
    p = places[0]
    if p is not None and p.kind == "S" and p.dim != op.normalized_dim():
        return [p], p
    return [R], R


@rule(nn.SumOp, nn.MeanOp, nn.AmaxOp, nn.AminOp, nn.ProdOp)
def _reduce(op: nn.ReduceOp, places, n):
    p = places[0]
    red = op.reduced_dims()
    if p is not None and p.kind == "S" and p.dim not in red:
        keep = op.keepdim.value.data
        return [p], S(p.dim if keep else p.dim - sum(1 for r in red if r < p.dim))
    if isinstance(op, nn.SumOp) and (p == P or (p is not None and p.kind == "S")):
        return [p], P
    return [R], R


@rule(nn.LayerNormOp)
def _layer_norm(op: nn.LayerNormOp, places, n):
    p = places[0]
    first_normed = rank(op.input) - op.normalized_ndim.value.data
    extra = [R] * (len(places) - 1)
    if p is not None and p.kind == "S" and p.dim < first_normed:
        return [p, *extra], p
    return [R, *extra], R


@rule(nn.SdpaOp)
def _sdpa(op: nn.SdpaOp, places, n):
    r = rank(op.query)
    for p in places[:3]:
        if p is not None and p.kind == "S" and p.dim < r - 2:
            want = [S(_aligned(v, r, p.dim)) if _aligned(v, r, p.dim) is not None else R
                    for v in (op.query, op.key, op.value)]  # a size-1 (broadcast) head dim stays whole
            if op.mask is not None:
                d = _aligned(op.mask, r, p.dim)
                want.append(R if d is None else S(d))
            return want, p
    return [R] * len(places), R


@rule(nn.EmbeddingOp)
def _embedding(op: nn.EmbeddingOp, places, n):
    pw, pi = places
    out_rank = rank(op.result)
    if pi is not None and pi.kind == "S":
        return [R, pi], pi
    if pw == S(1):
        return [S(1), R], S(out_rank - 1)
    return [R, R], R


@rule(nn.PermuteOp)
def _permute(op: nn.PermuteOp, places, n):
    p = places[0]
    if p is not None and p.kind == "S":
        return [p], S(list(nn.ints(op.perm)).index(p.dim))
    if p == P:
        return [P], P
    return [R], R


def reshape_dim(src: Sequence[int], dst: Sequence[int], d: int, n: int) -> int | None:
    """The dim of `dst` that keeps a split of `src` dim d in a row-major
    reshape: d must lead its group of merged/split dims, and the group's
    leading dim in dst must divide by n."""
    if src[d] == 1:
        return None
    i = j = 0
    while i < len(src) and j < len(dst):
        while i < len(src) and src[i] == 1 and i != d:
            i += 1
        while j < len(dst) and dst[j] == 1:
            j += 1
        if i >= len(src) or j >= len(dst):
            return None
        i0, j0 = i, j
        a, b = src[i], dst[j]
        i += 1
        j += 1
        while a != b:
            if a < b:
                a *= src[i]
                i += 1
            else:
                b *= dst[j]
                j += 1
        if i0 <= d < i:
            return j0 if d == i0 and dst[j0] % n == 0 else None
    return None


@rule(nn.ReshapeOp)
def _reshape(op: nn.ReshapeOp, places, n):
    p = places[0]
    if p == P:
        return [P], P
    if p is not None and p.kind in "SB":
        src, dst = nn.shape_of(op.input), nn.shape_of(op.result)
        if nn.is_static(src) and nn.is_static(dst):
            d = reshape_dim(src, dst, p.dim, n)
            if d is not None and (p.kind == "S" or src[p.dim] == dst[d]):  # blocks: the dim kept whole
                return [p], B(d, p.blocks)
    return [R], R


@rule(nn.ExpandOp)
def _expand(op: nn.ExpandOp, places, n):
    p = places[0]
    if p is not None and p.kind == "S":
        return [p], S(p.dim + rank(op.result) - rank(op.input))
    return [R], R


@rule(nn.ConcatOp)
def _concat(op: nn.ConcatOp, places, n):
    d = op.normalized_dim()
    first = next((p for p in places if p is not None and p.kind == "S" and p.dim != d), None)
    if first is None:
        return [R] * len(places), R
    return [first] * len(places), first


@rule(nn.SliceOp)
def _slice(op: nn.SliceOp, places, n):
    p = places[0]
    d = nn.normalize_dim(op.dim.value.data, rank(op.input))
    if p is not None and p.kind in "SB" and p.dim != d:
        return [p], p
    if p is not None and p.kind == "B" and p.dim == d:
        # whole blocks of a fused projection (q of q|k|v): each process slices its part of them
        if not isinstance(op.start, IntegerAttr) or not isinstance(op.end, IntegerAttr):
            return [R], R
        whole, block = size(op.input, d), size(op.input, d) // p.blocks
        start, end, step = op.start.value.data, op.end.value.data, op.step.value.data  # type: ignore[union-attr]
        if step == 1 and start % block == 0 and min(end, whole) % block == 0 and end > start:
            return [p], B(d, (min(end, whole) - start) // block)
    return [R], R


_register_elementwise()


def find_grid(module: ModuleOp) -> GridOp:
    grids = [op for op in module.ops if isinstance(op, GridOp)]
    if len(grids) != 1:
        raise SparccError(f"shard: expected one shard.grid in the module, found {len(grids)}")
    if len(grids[0].dims) != 1:
        raise SparccError(
            f"shard: grid @{grids[0].sym_name.data} has shape {list(grids[0].dims)}; only 1-D grids are supported"
        )
    return grids[0]


def place_of(op: Operation) -> Place:
    attr = op.attributes.get(ATTR)
    return R if attr is None else Place.of(attr)  # type: ignore[arg-type]


class _Propagation:
    def __init__(self, grid: GridOp):
        self.grid = grid.sym_name.data
        self.n = grid.dims[0]
        self.place: dict[SSAValue, Place | None] = {}
        self.unplaced: list[str] = []
        self.resharded: dict[tuple[SSAValue, Place], SSAValue] = {}

    def set(self, v: SSAValue, p: Place) -> None:
        self.place[v] = p
        if isinstance(v.owner, Operation):
            v.owner.attributes[ATTR] = p.attr(self.grid)

    def get(self, v: SSAValue) -> Place | None:
        return self.place.get(v, R)

    def fix(self, v: SSAValue, want: Place, before: Operation) -> SSAValue:
        """v in placement `want` for the op `before`: a free weight takes it,
        anything else is resharded."""
        have = self.get(v)
        if have is None:
            self.set(v, want)
            return v
        if have == want:
            return v
        if (v, want) in self.resharded:  # an earlier consumer's reshard (it dominates this one)
            return self.resharded[v, want]
        if not isinstance(v.type, TensorType):
            raise SparccError(
                f"shard: weight '{weight_name(v)}' ({v.type}) is placed {have} but {before.name} needs it {want}; "
                "a compressed weight is not moved at run time: place it as its consumer needs"
            )
        op = ReshardOp(v, have.attr(self.grid), want.attr(self.grid))
        Rewriter.insert_op(op, InsertPoint.before(before))
        self.place[op.result] = want
        self.resharded[v, want] = op.result
        return op.result

    def run(self, f: func.FuncOp) -> None:
        for arg in f.body.block.args:
            self.place[arg] = R
        for op in list(f.body.block.ops):
            if isinstance(op, WEIGHT_OPS):
                self.place[op.result] = None
            elif isinstance(op, ShardOp):
                self.annotation(op)
            elif isinstance(op, func.ReturnOp):
                for i, v in enumerate(op.operands):
                    op.operands[i] = self.fix(v, R, op)
            elif isinstance(op, ReshardOp):
                self.place[op.result] = Place.of(op.target)  # type: ignore[arg-type]
            else:
                self.visit(op)
        for v, p in list(self.place.items()):
            if p is None:
                self.set(v, R)

    def annotation(self, op: ShardOp) -> None:
        want = Place.of(op.sharding)  # type: ignore[arg-type]
        v = op.src
        if self.get(v) is None:
            self.set(v, want)
            op.result.replace_all_uses_with(v)
        else:
            new = self.fix(v, want, op)
            op.result.replace_all_uses_with(new)
        Rewriter.erase_op(op)

    def visit(self, op: Operation) -> None:
        places = [self.get(v) for v in op.operands]
        f = RULES.get(type(op))
        if f is None or len(op.results) != 1:
            if any(p is not None and p != R for p in places):  # a free weight is simply loaded whole
                self.unplaced.append(op.name)
            want, out = [R] * len(places), R
        else:
            want, out = f(op, places, self.n)
        bias_add = None
        if isinstance(op, _LINEARS) and out == P and op.bias is not None:
            op, bias_add = self.split_bias(op)
            want = [*want[:2], *want[3:]]
        for i, (v, w) in enumerate(zip(list(op.operands), want)):
            new = self.fix(v, w, op)
            if new is not v:
                op.operands[i] = new
        for r in op.results:
            self.set(r, out)
        if bias_add is not None:
            self.visit(bias_add)

    def split_bias(self, op: Operation) -> tuple[Operation, nn.AddOp]:
        """linear(x, w, b) -> add(linear(x, w), b): a row-parallel linear
        sums its parts before the bias is added once."""
        if isinstance(op, sparse.LinearOp):
            new = sparse.LinearOp(op.input, op.weight, None, op.acc)
        else:
            new = type(op)(op.input, op.weight)
        add = nn.AddOp(new.result, op.bias)
        Rewriter.replace_op(op, [new, add], [add.result])
        return new, add


_LINEARS = (nn.LinearOp, quant.LinearOp, sparse.LinearOp)


@dataclass(frozen=True)
class ShardPropagatePass(ModulePass):
    name = "shard-propagate"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        grid = find_grid(op)
        unplaced: list[str] = []
        for f in op.walk():
            if isinstance(f, func.FuncOp) and f.body.blocks:
                prop = _Propagation(grid)
                prop.run(f)
                unplaced += prop.unplaced
        if unplaced:
            op.attributes["shard.unplaced"] = ArrayAttr([StringAttr(n) for n in sorted(set(unplaced))])
