"""
The `shard` dialect: a program split over a grid of processes.

Modelled on upstream MLIR's `shard` dialect (formerly `mesh`). A grid names
the processes; a sharding says, for each dim of a tensor, which grid axes
split it, and which grid axes hold partial sums still to be added:

    shard.grid @mesh(shape = [2])
    %w1 = shard.shard %w to #shard.sharding<@mesh, [[0], []]> : tensor<16x8xf32>
    %y = shard.reshard %x from #shard.sharding<@mesh, [], partial = [0]>
           to #shard.sharding<@mesh, []> : tensor<4x8xf32>

`shard.shard` states a value's sharding (the annotation that users and
`shard-propagate` write); `shard.reshard` changes it (where placements
conflict). After `shard-partition` each value has its local (per-process)
type and the data moves by collectives over a grid's axes; the same
program runs on every process (SPMD):

    %s = shard.all_reduce %p on @mesh grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
    %g = shard.all_gather %x on @mesh grid_axes = [0] gather_axis = 1
           : tensor<4x4xf32> -> tensor<4x8xf32>
    %r = shard.reduce_scatter %p on @mesh grid_axes = [0] scatter_axis = 1
           : tensor<4x8xf32> -> tensor<4x4xf32>
    %l = shard.all_slice %x on @mesh grid_axes = [0] slice_axis = 1
           : tensor<4x8xf32> -> tensor<4x4xf32>

`all_slice` keeps this process's part of a replicated value and moves no
data. The split of a dim over several axes is row-major over the axes in
the order listed (upstream's convention). Uneven splits are not modelled:
shard-partition refuses a dim that the grid does not divide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from sparcc.dialects.quant import QuantTensorType
from sparcc.dialects.sparse import SparseTensorType
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    IntAttr,
    IntegerAttr,
    I64,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, ParametrizedAttribute, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure, SymbolOpInterface, SymbolTable
from xdsl.utils.exceptions import VerifyException

# ----------------------------------------------------------------------------
# grid
# ----------------------------------------------------------------------------


@irdl_op_definition
class GridOp(IRDLOperation):
    """A named grid of processes, `shape` processes per axis.

    shard.grid @mesh(shape = [2])
    """

    name = "shard.grid"
    sym_name = prop_def(SymbolNameConstraint())
    shape = prop_def(DenseArrayBase.constr(i64))
    traits = traits_def(SymbolOpInterface())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$sym_name `(` `shape` `=` $shape `)` attr-dict"

    def __init__(self, name: str, shape: Sequence[int]):
        super().__init__(properties={"sym_name": StringAttr(name), "shape": DenseArrayBase.from_list(i64, shape)})

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.shape.get_values())

    def verify_(self) -> None:
        if not self.dims or any(d < 1 for d in self.dims):
            raise VerifyException(f"expected a grid of one or more axes of size >= 1, got {list(self.dims)}")


def lookup_grid(op: Operation, grid: SymbolRefAttr) -> GridOp:
    """The grid that `op` names; VerifyException if there is none."""
    found = SymbolTable.lookup_symbol(op, grid)
    if not isinstance(found, GridOp):
        raise VerifyException(f"expected @{grid.root_reference.data} to name a shard.grid")
    return found


# ----------------------------------------------------------------------------
# sharding attribute
# ----------------------------------------------------------------------------


@irdl_attr_definition
class ShardingAttr(ParametrizedAttribute):
    """How a tensor lies on a grid: per tensor dim, the grid axes that split
    it (`split_axes[d]`; dims past the list are whole), and the grid axes
    over which the local values are partial sums.

    #shard.sharding<@mesh, [[0], []]>              dim 0 split over axis 0
    #shard.sharding<@mesh, []>                     replicated
    #shard.sharding<@mesh, [], partial = [0]>      a sum over axis 0 pending
    #shard.sharding<@mesh, [[], [0]], blocks = 3>  dim 1 is 3 equal blocks (a fused
                                                   q|k|v), each split over axis 0: a
                                                   process holds its part of each block
    """

    name = "shard.sharding"
    grid: SymbolRefAttr
    split_axes: ArrayAttr[ArrayAttr[IntAttr]]
    partial_axes: ArrayAttr[IntAttr]
    blocks: IntAttr  # of the split dim; 1: the dim is split as one block

    def __init__(self, grid: str | SymbolRefAttr, split_axes: Sequence[Sequence[int]] = (),
                 partial_axes: Sequence[int] = (), blocks: int = 1):
        if isinstance(grid, str):
            grid = SymbolRefAttr(grid)
        super().__init__(
            grid,
            ArrayAttr([ArrayAttr([IntAttr(a) for a in axes]) for axes in split_axes]),
            ArrayAttr([IntAttr(a) for a in partial_axes]),
            IntAttr(blocks),
        )

    @property
    def splits(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(a.data for a in axes.data) for axes in self.split_axes.data)

    @property
    def partial(self) -> tuple[int, ...]:
        return tuple(a.data for a in self.partial_axes.data)

    def dim_axes(self, d: int) -> tuple[int, ...]:
        splits = self.splits
        return splits[d] if d < len(splits) else ()

    @property
    def is_replicated(self) -> bool:
        return not self.partial and not any(self.splits)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            grid = parser.parse_attribute()
            if not isinstance(grid, SymbolRefAttr):
                parser.raise_error("expected a grid symbol such as @mesh")
            parser.parse_punctuation(",")

            def axes() -> list[int]:
                return parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parser.parse_integer)

            splits = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, axes)
            partial: list[int] = []
            blocks = 1
            while parser.parse_optional_punctuation(","):
                if parser.parse_optional_keyword("blocks"):
                    parser.parse_punctuation("=")
                    blocks = parser.parse_integer()
                else:
                    parser.parse_keyword("partial")
                    parser.parse_punctuation("=")
                    partial = axes()
        return (
            grid,
            ArrayAttr([ArrayAttr([IntAttr(a) for a in s]) for s in splits]),
            ArrayAttr([IntAttr(a) for a in partial]),
            IntAttr(blocks),
        )

    def print_parameters(self, printer: Printer) -> None:
        splits = ", ".join("[" + ", ".join(map(str, s)) + "]" for s in self.splits)
        partial = f", partial = [{', '.join(map(str, self.partial))}]" if self.partial else ""
        blocks = f", blocks = {self.blocks.data}" if self.blocks.data != 1 else ""
        printer.print_string(f"<@{self.grid.root_reference.data}, [{splits}]{partial}{blocks}>")

    def verify(self) -> None:
        used = [a for s in self.splits for a in s] + list(self.partial)
        if any(a < 0 for a in used):
            raise VerifyException(f"expected grid axes >= 0, got {used}")
        if len(set(used)) != len(used):
            raise VerifyException(f"expected each grid axis at most once, got {used}")
        if self.blocks.data < 1 or (self.blocks.data > 1 and sum(1 for s in self.splits if s) != 1):
            raise VerifyException(f"expected blocks >= 1, and blocks > 1 only with one split dim, got {self.blocks.data}")

    def check(self, op: Operation, typ: Attribute) -> GridOp:
        """Checks the sharding against the grid `op` sees and a tensor type."""
        grid = lookup_grid(op, self.grid)
        for a in (*[a for s in self.splits for a in s], *self.partial):
            if a >= len(grid.dims):
                raise VerifyException(f"expected grid axes < {len(grid.dims)} of @{grid.sym_name.data}, got {a}")
        if isinstance(typ, (TensorType, QuantTensorType, SparseTensorType)) and len(self.splits) > len(typ.get_shape()):
            raise VerifyException(
                f"expected at most {len(typ.get_shape())} split dims for {typ}, got {len(self.splits)}"
            )
        return grid

    def local_shape(self, shape: Sequence[int], grid: Sequence[int]) -> tuple[int, ...]:
        """The per-process shape (dims must divide evenly)."""
        return tuple(s // math.prod(grid[a] for a in self.dim_axes(d)) for d, s in enumerate(shape))


# Typed as any attribute so that the op syntax prints the whole
# `#shard.sharding<...>` (a ShardingAttr constraint prints its parameters only);
# _check_sharding keeps the type.
_SHARDING = AnyAttr()


def _check_sharding(attr: Attribute) -> ShardingAttr:
    if not isinstance(attr, ShardingAttr):
        raise VerifyException(f"expected a #shard.sharding, got {attr}")
    return attr


# ----------------------------------------------------------------------------
# annotations
# ----------------------------------------------------------------------------


@irdl_op_definition
class ShardOp(IRDLOperation):
    """States the sharding of a value; yields the value.

    %w1 = shard.shard %w to #shard.sharding<@mesh, [[0], []]> : tensor<16x8xf32>
    """

    name = "shard.shard"
    # a tensor, or a compressed weight (quant.tensor, sparse.tensor)
    T: ClassVar = VarConstraint("T", base(TensorType) | base(QuantTensorType) | base(SparseTensorType))
    src = operand_def(T)
    result = result_def(T)
    sharding = prop_def(_SHARDING)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$src `to` $sharding attr-dict `:` type($result)"

    def __init__(self, src: SSAValue, sharding: ShardingAttr):
        super().__init__(operands=[src], result_types=[src.type], properties={"sharding": sharding})

    def verify_(self) -> None:
        _check_sharding(self.sharding).check(self, self.src.type)


@irdl_op_definition
class ReshardOp(IRDLOperation):
    """Moves a value from one sharding to another (shard-partition turns it
    into collectives).

    %y = shard.reshard %x from #shard.sharding<@mesh, [[0]]> to #shard.sharding<@mesh, []> : tensor<8xf32>
    """

    name = "shard.reshard"
    T: ClassVar = VarConstraint("T", base(TensorType))
    src = operand_def(T)
    result = result_def(T)
    source = prop_def(_SHARDING)
    target = prop_def(_SHARDING)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$src `from` $source `to` $target attr-dict `:` type($result)"

    def __init__(self, src: SSAValue, source: ShardingAttr, target: ShardingAttr):
        super().__init__(operands=[src], result_types=[src.type], properties={"source": source, "target": target})

    def verify_(self) -> None:
        _check_sharding(self.source).check(self, self.src.type)
        _check_sharding(self.target).check(self, self.src.type)
        if self.source.grid != self.target.grid:
            raise VerifyException(f"expected one grid, got {self.source.grid} and {self.target.grid}")


# ----------------------------------------------------------------------------
# collectives (on local values, after shard-partition)
# ----------------------------------------------------------------------------


class CollectiveOp(IRDLOperation):
    """Base: one local tensor in, one out, over some axes of a grid."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    grid = prop_def(SymbolRefAttr)
    grid_axes = prop_def(DenseArrayBase.constr(i64))
    irdl_options = (ParsePropInAttrDict(),)
    AXIS: ClassVar[str | None] = None  # the name of the tensor-dim property

    def __init__(self, input: SSAValue, result_type: Attribute, grid: str, grid_axes: Sequence[int],
                 axis: int | None = None):
        props: dict[str, Attribute] = {
            "grid": SymbolRefAttr(grid),
            "grid_axes": DenseArrayBase.from_list(i64, grid_axes),
        }
        if self.AXIS is not None:
            props[self.AXIS] = IntegerAttr(axis, i64)
        super().__init__(operands=[input], result_types=[result_type], properties=props)

    @property
    def axes(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.grid_axes.get_values())

    @property
    def axis(self) -> int:
        return getattr(self, self.AXIS).value.data  # type: ignore[arg-type]

    def group_size(self) -> int:
        grid = lookup_grid(self, self.grid)
        for a in self.axes:
            if not 0 <= a < len(grid.dims):
                raise VerifyException(f"expected grid axes < {len(grid.dims)}, got {a}")
        return math.prod(grid.dims[a] for a in self.axes)

    def expected(self, shape: tuple[int, ...], n: int) -> tuple[int, ...]:
        return shape

    def verify_(self) -> None:
        n = self.group_size()
        src = tuple(self.input.type.get_shape())  # type: ignore[attr-defined]
        if self.AXIS is not None and not 0 <= self.axis < len(src):
            raise VerifyException(f"expected {self.AXIS} in [0, {len(src)}), got {self.axis}")
        want = self.expected(src, n)
        got = tuple(self.result.type.get_shape())  # type: ignore[attr-defined]
        if got != want or self.input.type.element_type != self.result.type.element_type:  # type: ignore[attr-defined]
            raise VerifyException(f"expected result shape {list(want)}, got {list(got)}")


@irdl_op_definition
class AllReduceOp(CollectiveOp):
    """Sums a value over the grid axes.

    %s = shard.all_reduce %p on @mesh grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
    """

    name = "shard.all_reduce"
    assembly_format = "$input `on` $grid `grid_axes` `=` $grid_axes attr-dict `:` type($input) `->` type($result)"


def _scaled(shape: tuple[int, ...], axis: int, factor: float) -> tuple[int, ...]:
    size = shape[axis] * factor
    if size != int(size):
        raise VerifyException(f"expected dim {axis} (size {shape[axis]}) to divide by the group")
    return (*shape[:axis], int(size), *shape[axis + 1 :])


@irdl_op_definition
class AllGatherOp(CollectiveOp):
    """Concatenates the processes' parts along gather_axis.

    %g = shard.all_gather %x on @mesh grid_axes = [0] gather_axis = 1 : tensor<4x4xf32> -> tensor<4x8xf32>
    """

    name = "shard.all_gather"
    gather_axis = prop_def(IntegerAttr[I64])
    AXIS: ClassVar[str | None] = "gather_axis"
    assembly_format = (
        "$input `on` $grid `grid_axes` `=` $grid_axes `gather_axis` `=` $gather_axis attr-dict "
        "`:` type($input) `->` type($result)"
    )

    def expected(self, shape: tuple[int, ...], n: int) -> tuple[int, ...]:
        return _scaled(shape, self.axis, n)


@irdl_op_definition
class ReduceScatterOp(CollectiveOp):
    """Sums over the grid axes; each process keeps its part of scatter_axis.

    %r = shard.reduce_scatter %p on @mesh grid_axes = [0] scatter_axis = 1 : tensor<4x8xf32> -> tensor<4x4xf32>
    """

    name = "shard.reduce_scatter"
    scatter_axis = prop_def(IntegerAttr[I64])
    AXIS: ClassVar[str | None] = "scatter_axis"
    assembly_format = (
        "$input `on` $grid `grid_axes` `=` $grid_axes `scatter_axis` `=` $scatter_axis attr-dict "
        "`:` type($input) `->` type($result)"
    )

    def expected(self, shape: tuple[int, ...], n: int) -> tuple[int, ...]:
        return _scaled(shape, self.axis, 1 / n)


@irdl_op_definition
class AllSliceOp(CollectiveOp):
    """Keeps this process's part of slice_axis (no data moves).

    %l = shard.all_slice %x on @mesh grid_axes = [0] slice_axis = 1 : tensor<4x8xf32> -> tensor<4x4xf32>
    """

    name = "shard.all_slice"
    slice_axis = prop_def(IntegerAttr[I64])
    AXIS: ClassVar[str | None] = "slice_axis"
    assembly_format = (
        "$input `on` $grid `grid_axes` `=` $grid_axes `slice_axis` `=` $slice_axis attr-dict "
        "`:` type($input) `->` type($result)"
    )

    def expected(self, shape: tuple[int, ...], n: int) -> tuple[int, ...]:
        return _scaled(shape, self.axis, 1 / n)


COLLECTIVES = (AllReduceOp, AllGatherOp, ReduceScatterOp, AllSliceOp)

Shard = Dialect(
    "shard",
    [GridOp, ShardOp, ReshardOp, AllReduceOp, AllGatherOp, ReduceScatterOp, AllSliceOp],
    [ShardingAttr],
)
