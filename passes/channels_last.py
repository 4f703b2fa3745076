"""
channels-last: convolutions and poolings run on NHWC tensors, and the
transposes between the two layouts move through the ops between them until
they cancel.

PyTorch's convolution networks are NCHW. Lowered as they are, every
convolution copies its input into rows of pixels (im2col, [OH*OW, C*KH*KW]:
gathers of 3 values), multiplies, and writes its result back transposed
(rows of pixels -> NCHW); a depthwise convolution's loops run along the
window (3 or 5 values); a 1x1 convolution on few pixels reads its input
transposed. In NHWC a 1x1 convolution is a plain matmul of the input by the
weight, the windows of a larger one are runs of C contiguous values, and a
depthwise convolution, a pooling, a batch norm and every activation run along
the channels, contiguous and vectorised: the layout ONNX Runtime and
OpenVINO keep through a network (there blocked, NCHWc).

The pass:
  1. each `nn.conv2d` and pooling whose shapes are static becomes
     `permute(op{channels_last}(permute(x, [0, 2, 3, 1])), [0, 3, 1, 2])`;
  2. one sweep in program order moves the NHWC -> NCHW transposes forward
     through the ops that do not care about the layout, the op then running
     on the NHWC values and its result transposed:
       - elementwise ops (unary, binary with broadcasting, where, cast,
         special functions): every operand that is transposed the same way
         loses its transpose; any other operand must broadcast (right-aligned,
         its dims of size > 1 in the order the transpose keeps, so that it
         only needs a reshape: a per-channel [C, 1, 1] becomes [C]);
       - batch norm (as a per-channel multiply-add along the channel dim);
       - reductions (sum, mean, amax, amin, prod: the reduced dims mapped);
       - concatenation (the dim mapped).
     A transpose of a transpose composes (and vanishes when the two cancel);
     a transpose that moves only dims of size 1 is a reshape.
  3. transposes and reshapes left without readers go.

What is left is one transpose of the network's input and, where the network
reads its activations as NCHW (a flatten of more than one pixel, an op the
sweep does not know), one transpose there. The module's report lists the
decision (`sparcc.fusions`, printed under "fusions").

Options: `enabled` (default true).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    ArrayAttr, BoolAttr, DenseIntOrFPElementsAttr, IntegerAttr, ModuleOp, StringAttr, TensorType, i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from sparcc.dialects import nn

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
# a switch for benchmarks (benchmarks/bench_schedule.py --switch CHANNELS_LAST)
CHANNELS_LAST = True

ELEMENTWISE = (nn.UnaryOp, nn.BinaryOp, nn.WhereOp, nn.CastOp, nn.SpecialOp)


def _shape(value: SSAValue) -> tuple:
    return tuple(nn.shape_of(value))


def _static(value: SSAValue) -> bool:
    return isinstance(value.type, TensorType) and nn.is_static(_shape(value))


def _moves_only_ones(shape: Sequence, perm: Sequence[int]) -> bool:
    """Whether permuting `shape` by `perm` keeps its dims of size != 1 in order."""
    kept = [p for p in perm if shape[p] != 1]
    return kept == sorted(kept)


class _Builder:
    """Builds ops before `anchor`, folding transposes and reshapes as it goes."""

    def __init__(self, anchor: Operation):
        self.anchor = anchor

    def add(self, op: Operation) -> SSAValue:
        Rewriter.insert_op(op, InsertPoint.before(self.anchor))
        return op.results[0]

    def reshape(self, value: SSAValue, shape: Sequence) -> SSAValue:
        src = value.owner
        if isinstance(src, nn.ReshapeOp):  # a reshape of a reshape is one reshape
            value = src.input
        if _shape(value) == tuple(shape):
            return value
        return self.add(nn.ReshapeOp(value, list(shape)))

    def permute(self, value: SSAValue, perm: Sequence[int]) -> SSAValue:
        src = value.owner
        if isinstance(src, nn.PermuteOp):  # x.permute(p).permute(q) = x.permute(p[q])
            inner = nn.ints(src.perm)
            value, perm = src.input, [inner[q] for q in perm]
        if list(perm) == list(range(len(perm))):
            return value
        shape = _shape(value)
        if _moves_only_ones(shape, perm):
            return self.reshape(value, [shape[p] for p in perm])
        return self.add(nn.PermuteOp(value, list(perm)))


def _inverse(perm: Sequence[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _transposed(value: SSAValue) -> tuple[SSAValue, tuple[int, ...]] | None:
    """(x, perm) where `value` is nn.permute(x, perm)."""
    src = value.owner
    if isinstance(src, nn.PermuteOp):
        return src.input, nn.ints(src.perm)
    return None


def _rebuilt(op: Operation, operands: Sequence[SSAValue], props: dict | None = None) -> Operation:
    """A copy of nn op `op` on `operands` (and with `props` changed), its result type inferred."""
    new = op.clone()
    new.operands = list(operands)
    for k, v in (props or {}).items():
        new.properties[k] = v
    new.results[0]._type = new.infer_type()  # not in a block yet, no uses
    return new


class _Sweep:
    def __init__(self) -> None:
        self.converted: dict[str, int] = {}

    # -- step 1 ----------------------------------------------------------
    def convert(self, op: nn.Conv2dOp | nn.Pool2dOp) -> None:
        b = _Builder(op)
        x = b.permute(op.operands[0], TO_NHWC)
        new = _rebuilt(op, [x, *op.operands[1:]], {"channels_last": BoolAttr.from_bool(True)})
        y = b.permute(b.add(new), TO_NCHW)
        op.results[0].replace_all_uses_with(y)
        Rewriter.erase_op(op)
        kind = "convolutions" if isinstance(op, nn.Conv2dOp) else "poolings"
        self.converted[kind] = self.converted.get(kind, 0) + 1

    # -- step 2 ----------------------------------------------------------
    def visit(self, op: Operation) -> None:
        if isinstance(op, nn.PermuteOp):
            if isinstance(op.input.owner, (nn.PermuteOp, nn.ReshapeOp)) or _moves_only_ones(_shape(op.input), nn.ints(op.perm)):
                self._replace(op, _Builder(op).permute(op.input, nn.ints(op.perm)))
        elif isinstance(op, nn.ReshapeOp):
            if isinstance(op.input.owner, nn.ReshapeOp):
                self._replace(op, _Builder(op).reshape(op.input, _shape(op.result)))
        elif isinstance(op, ELEMENTWISE):
            self._elementwise(op)
        elif isinstance(op, nn.BatchNormOp):
            self._batch_norm(op)
        elif isinstance(op, nn.ReduceOp):
            self._reduce(op)
        elif isinstance(op, nn.ConcatOp):
            self._concat(op)

    @staticmethod
    def _replace(op: Operation, value: SSAValue) -> None:
        op.results[0].replace_all_uses_with(value)
        Rewriter.erase_op(op)

    def _elementwise(self, op: Operation) -> None:
        rank = len(_shape(op.results[0]))
        perm = None
        for v in op.operands:
            t = _transposed(v)
            if t is not None and len(t[1]) == rank and _static(v):
                perm = t[1]
                break
        if perm is None:
            return
        b = _Builder(op)
        operands = []
        for v in op.operands:
            t = _transposed(v)
            if t is not None and t[1] == perm:
                operands.append(t[0])
                continue
            moved = self._broadcast_operand(b, v, perm, rank)
            if moved is None:
                return  # (nothing was built that has readers; step 3 removes it)
            operands.append(moved)
        new = b.add(_rebuilt(op, operands))
        self._replace(op, b.permute(new, perm))

    @staticmethod
    def _broadcast_operand(b: _Builder, v: SSAValue, perm: Sequence[int], rank: int) -> SSAValue | None:
        """`v` as an operand of the op on the untransposed values (it
        broadcasts against the op's result, which `perm` transposes): a
        reshape of it, or None where that would take a transpose."""
        shape = _shape(v)
        if len(shape) > rank or not _static(v):
            return None
        aligned = (1,) * (rank - len(shape)) + shape
        inverse = _inverse(perm)
        if not _moves_only_ones(aligned, inverse):
            return None
        target = [aligned[q] for q in inverse]
        while len(target) > len(shape) and target[0] == 1:  # broadcasting supplies leading ones
            target = target[1:]
        return b.reshape(v, target)

    def _batch_norm(self, op: nn.BatchNormOp) -> None:
        t = _transposed(op.input)
        if t is None or not _static(op.input):
            return
        x, perm = t
        rank = len(perm)  # the channels: dim 1, x's dim perm[1]
        typ = nn.elem(op.input)
        b = _Builder(op)
        eps = b.add(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(TensorType(typ, []), [op.eps.value.data])))
        scale = b.add(nn.MulOp(op.weight, b.add(nn.RsqrtOp(b.add(nn.AddOp(op.var, eps))))))
        shift = b.add(nn.SubOp(op.bias, b.add(nn.MulOp(op.mean, scale))))
        channel = [1] * rank
        channel[perm[1]] = _shape(op.input)[1]
        channel = channel[perm[1]:]  # trailing ones only: [C] when the channels are the last dim
        y = b.add(nn.MulOp(x, b.reshape(scale, channel)))
        y = b.add(nn.AddOp(y, b.reshape(shift, channel)))
        self._replace(op, b.permute(y, perm))

    def _reduce(self, op: nn.ReduceOp) -> None:
        t = _transposed(op.input) if _static(op.input) else None
        if t is None:
            return
        x, perm = t
        red = op.reduced_dims()
        rank = len(perm)
        mapped = sorted(perm[d] for d in red)
        keep = op.keepdim.value.data
        b = _Builder(op)
        new = b.add(_rebuilt(op, [x], {"dims": nn.i64_array(mapped)}))
        if keep:
            self._replace(op, b.permute(new, perm))
            return
        kept_x = [j for j in range(rank) if j not in mapped]
        order = [kept_x.index(perm[i]) for i in range(rank) if i not in red]
        self._replace(op, b.permute(new, order))

    def _concat(self, op: nn.ConcatOp) -> None:
        found = [_transposed(v) for v in op.inputs]
        if any(t is None for t in found) or len({t[1] for t in found}) != 1 or not all(map(_static, op.inputs)):
            return
        perm = found[0][1]
        b = _Builder(op)
        new = b.add(_rebuilt(op, [t[0] for t in found], {"dim": IntegerAttr(perm[op.normalized_dim()], i64)}))
        self._replace(op, b.permute(new, perm))


def _remove_unread(block_ops: list[Operation]) -> None:
    for op in reversed(block_ops):
        if isinstance(op, (nn.PermuteOp, nn.ReshapeOp, nn.RsqrtOp, nn.AddOp, nn.MulOp, nn.SubOp, arith.ConstantOp)) \
                and op.parent is not None and not op.results[0].uses:
            Rewriter.erase_op(op)


def _convertible(op: Operation) -> bool:
    return (isinstance(op, (nn.Conv2dOp, nn.Pool2dOp)) and not op.channels_last.value.data
            and _static(op.operands[0]) and _static(op.results[0]))


@dataclass(frozen=True)
class ChannelsLastPass(ModulePass):
    name = "channels-last"

    enabled: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not (self.enabled and CHANNELS_LAST):
            return
        from sparcc.passes.fuse_attention import REPORT_ATTR

        sweep = _Sweep()
        for block in [o.body.block for o in op.walk() if o.name == "func.func" and o.body.blocks]:
            targets = [o for o in block.ops if _convertible(o)]
            if not targets:
                continue
            for target in targets:
                sweep.convert(target)
            for o in list(block.ops):
                if o.parent is not None:
                    sweep.visit(o)
            _remove_unread(list(block.ops))
        if not sweep.converted:
            return
        left = [o for o in op.walk() if isinstance(o, nn.PermuteOp)
                and tuple(nn.ints(o.perm)) in (TO_NHWC, TO_NCHW)]
        what = " and ".join(f"{n} {k}" for k, n in sorted(sweep.converted.items()))
        shapes = ", ".join(f"{list(_shape(o.input))}" for o in left)
        line = StringAttr(f"channels-last: {what} run NHWC; {len(left)} layout transpose"
                          f"{'' if len(left) == 1 else 's'} left{': ' + shapes if left else ''}")
        decisions = list(op.attributes[REPORT_ATTR].data) if REPORT_ATTR in op.attributes else []
        op.attributes[REPORT_ATTR] = ArrayAttr([*decisions, line])
