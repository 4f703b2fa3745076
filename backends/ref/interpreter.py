"""
The interpreter: walks the entry function of a module op by op, each op
evaluated by its handler in `HANDLERS` (op class -> handler, filled by the
`handles` decorator in nn_ops.py, sparse_ops.py and quant_ops.py).

A value is a torch.Tensor (the one CPU container for every element type of
the IR: numpy has no bfloat16), a `sparse_formats.SparseStorage` (a
!sparse.tensor) or a `quant_formats.QuantizedTensor` (a !quant.tensor).
Handlers never write into their operands, so a value may be a view of
another. After each op the result's dtype and shape are checked against the
type the IR declares: a mismatch is a bug in a handler or in the IR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch
from sparcc.dialects import nn
from sparcc.dialects.sparse import SparseTensorType
from sparcc.errors import InputMismatchError, SparccError, UnsupportedOpError
from sparcc.frontend import TORCH_DTYPES, check_sparse_buffers, sparse_buffers, sparse_format
from xdsl.dialects import func
from xdsl.dialects.builtin import DYNAMIC_INDEX, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute, Operation, SSAValue

Handler = Callable[["Frame", Operation], Any]
HANDLERS: dict[type[Operation], Handler] = {}


def handles(*op_types: type[Operation]) -> Callable[[Handler], Handler]:
    """Registers a handler for the given op classes."""

    def register(fn: Handler) -> Handler:
        for t in op_types:
            HANDLERS[t] = fn
        return fn

    return register


def torch_dtype(element: Attribute) -> torch.dtype:
    """The torch dtype of an IR element type."""
    dtype = TORCH_DTYPES.get(element)
    if dtype is None:
        raise UnsupportedOpError(f"ref: element type {element} has no torch dtype")
    return dtype


class Frame:
    """One evaluation of a function: its SSA values, the values of the size
    symbols, and the weight store."""

    def __init__(self, weights: dict[str, torch.Tensor], sizes: dict[sympy.Symbol, int]):
        self.weights = weights
        self.sizes = sizes
        self.values: dict[SSAValue, Any] = {}
        self._dims: dict[Any, int] = {}

    def __getitem__(self, value: SSAValue) -> Any:
        return self.values[value]

    def get(self, value: SSAValue | None) -> Any:
        """The value of an optional operand (None when absent)."""
        return None if value is None else self.values[value]

    def dim(self, d: nn.Dim) -> int:
        """A size as a number: a symbolic one evaluated with the symbols' values."""
        if isinstance(d, int):
            return d
        if d not in self._dims:
            missing = d.free_symbols - set(self.sizes)
            if missing:
                raise InputMismatchError(
                    f"size {d}: no value for {', '.join(sorted(map(str, missing)))} (pass sizes=...)"
                )
            self._dims[d] = int(d.xreplace({s: sympy.Integer(v) for s, v in self.sizes.items()}))
        return self._dims[d]

    def shape(self, value: SSAValue | Attribute) -> tuple[int, ...]:
        """A tensor's shape in numbers."""
        return tuple(self.dim(d) for d in nn.shape_of(value))

    def weight(self, name: str) -> torch.Tensor:
        data = self.weights.get(name)
        if data is None:
            raise SparccError(f"ref: the weight store has no entry '{name}', which the IR reads")
        return data


def entry_function(module: ModuleOp) -> func.FuncOp:
    """The function a program runs: @forward, else the first defined one."""
    defined = [op for op in module.ops if isinstance(op, func.FuncOp) and not op.is_declaration]
    if not defined:
        raise SparccError("ref: the module defines no function")
    return next((f for f in defined if f.sym_name.data == "forward"), defined[0])


def interpret(
    module: ModuleOp,
    inputs: Sequence[torch.Tensor],
    weights: dict[str, torch.Tensor],
    sizes: dict[str, int] | None = None,
) -> list[torch.Tensor]:
    """The results of the entry function of `module` on `inputs`.

    weights: the store the IR's weight ops name (ImportedProgram.weights).
    sizes: values of size symbols ("s0": 7) of a dynamic program; by default
    each is read from the first input dim that is exactly that symbol.
    """
    fn = entry_function(module)
    args = fn.body.block.args
    if len(inputs) != len(args):
        raise InputMismatchError(f"expected {len(args)} input(s), got {len(inputs)}")
    frame = Frame(weights, _bind_sizes(args, inputs, sizes))
    for i, (arg, x) in enumerate(zip(args, inputs)):
        frame.values[arg] = _argument(frame, i, arg, x)
    for k, op in enumerate(fn.body.block.ops):
        if isinstance(op, func.ReturnOp):
            return [_output(frame[v]) for v in op.arguments]
        handler = HANDLERS.get(type(op))
        if handler is None:
            raise UnsupportedOpError(f"ref: no handler for '{op.name}' ({_where(fn, k, op)})")
        result = handler(frame, op)
        results = result if isinstance(result, tuple) else (result,)
        for r, v in zip(op.results, results, strict=True):
            _check(frame, op, r, v)
            frame.values[r] = v
    raise SparccError(f"ref: @{fn.sym_name.data} does not end in func.return")


def _where(fn: func.FuncOp, k: int, op: Operation) -> str:
    """Where an op sits: the IR has no source locations, so its place and text."""
    text = str(op).strip().splitlines()[0]
    return f"op {k} of @{fn.sym_name.data}: {text[:200]}"


def _bind_sizes(
    args: Sequence[SSAValue], inputs: Sequence[torch.Tensor], given: dict[str, int] | None
) -> dict[sympy.Symbol, int]:
    sizes = {nn.size_symbol(name): int(v) for name, v in (given or {}).items()}
    for arg, x in zip(args, inputs):
        if not isinstance(arg.type, TensorType) or not isinstance(x, torch.Tensor):
            continue
        for d, size in enumerate(nn.shape_of(arg)):
            if isinstance(size, sympy.Symbol) and size not in sizes and d < x.dim():
                sizes[size] = int(x.shape[d])
    return sizes


def _argument(frame: Frame, i: int, arg: SSAValue, x: Any) -> Any:
    """An input, checked against its argument's type; a torch sparse input as
    the storage of its format (decoded like a sparse weight)."""
    if not isinstance(x, torch.Tensor):
        raise InputMismatchError(f"input {i}: expected a torch.Tensor, got {type(x).__name__}")
    typ = arg.type
    if isinstance(typ, SparseTensorType):
        from sparcc.backends.ref.sparse_ops import storage

        fmt = typ.format.format
        got = sparse_format(x) if x.layout != torch.strided else None
        if got is None or _canonical(got) != fmt.spec:
            raise InputMismatchError(f"input {i}: expected a sparse {fmt.spec} tensor, got layout {x.layout}")
        if tuple(x.shape) != typ.get_shape():
            raise InputMismatchError(f"input {i}: expected shape {list(typ.get_shape())}, got {list(x.shape)}")
        index, values = sparse_buffers(x)
        if (why := check_sparse_buffers(x, index, values)) is not None:
            raise InputMismatchError(f"input {i}: a sparse {x.layout} tensor of shape {list(x.shape)}: {why}")
        return storage(fmt, typ.get_shape(), [t.numpy() for t in index], values.reshape(-1).numpy())
    if not isinstance(typ, TensorType):
        raise SparccError(f"ref: input {i} is of type {typ}; the ref target takes tensor arguments")
    want = torch_dtype(typ.element_type)
    if x.dtype != want:
        raise InputMismatchError(f"input {i}: expected dtype {want}, got {x.dtype}")
    if x.layout != torch.strided:
        raise InputMismatchError(f"input {i}: expected a dense tensor, got layout {x.layout}")
    shape = frame.shape(arg)
    if tuple(x.shape) != shape:
        raise InputMismatchError(
            f"input {i}: expected shape {nn.dims_text(nn.shape_of(arg))} = {list(shape)}, got {list(x.shape)}"
        )
    return x


def _canonical(spec: str) -> str:
    from sparcc.dialects.sparse_formats import parse_format

    return parse_format(spec).spec


def _check(frame: Frame, op: Operation, result: SSAValue, value: Any) -> None:
    """The value an op produced has its result's declared dtype and shape."""
    typ = result.type
    if not isinstance(typ, TensorType):
        return
    if not isinstance(value, torch.Tensor):
        raise SparccError(f"ref: '{op.name}' produced a {type(value).__name__}, the IR says {typ}")
    static = typ.get_shape()
    if DYNAMIC_INDEX in static and not isinstance(typ.encoding, StringAttr):
        want = [None if s == DYNAMIC_INDEX else s for s in static]  # `?` with no symbolic size: unchecked
    else:
        want = list(frame.shape(typ))
    got = list(value.shape)
    dtype = torch_dtype(typ.element_type)
    if value.dtype != dtype or len(got) != len(want) or any(w is not None and w != g for g, w in zip(got, want)):
        raise SparccError(
            f"ref: '{op.name}' produced {str(value.dtype).removeprefix('torch.')}{got}, the IR says {typ} "
            "(a bug in the ref handler or in the IR)"
        )


def _output(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise SparccError(f"ref: the function returns a {type(value).__name__}, not a tensor")
    return value.clone(memory_format=torch.contiguous_format)  # never a view of an input or a weight
