"""
PyTorch frontend: `torch.export` graph -> `nn` dialect.

`import_module` exports a module (or function) for one input signature and
returns an `ImportedProgram`: the xDSL module with one `func.func @forward`,
the weight store (parameters, buffers and lifted constants by name; their
data never enters the IR), and the input/output signature.

Layers: `import_module` (public) -> `GraphImporter` (walks the FX graph,
owns the value map) -> one handler per ATen op in `HANDLERS`.
"""

from __future__ import annotations

import logging
import math
import operator
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from sparcc.dialects import nn
from sparcc.errors import SparccError, UnsupportedOpError
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    ModuleOp,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

aten = torch.ops.aten

DTYPES: dict[torch.dtype, Attribute] = {torch.float32: f32, torch.int64: i64}


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype of one argument or result; `format` is the sparse storage
    format of a torch sparse tensor (sparse_format), None for a dense one."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    format: str | None = None

    @staticmethod
    def of(t: torch.Tensor) -> TensorSpec:
        return TensorSpec(tuple(t.shape), t.dtype, sparse_format(t))

    def __str__(self) -> str:
        text = f"{str(self.dtype).removeprefix('torch.')}{list(self.shape)}"
        return text if self.format is None else f"{text} sparse {self.format}"


_LAYOUTS = {torch.sparse_csr: "csr", torch.sparse_csc: "csc", torch.sparse_coo: "coo", torch.sparse_bsr: "bsr"}


def sparse_format(t: torch.Tensor) -> str | None:
    """The sparse format (sparse_formats spec) that holds a torch sparse tensor's
    own buffers as they are, or None for a strided tensor; SparccError for
    layouts and shapes sparcc cannot take."""
    if t.layout == torch.strided:
        return None
    kind = _LAYOUTS.get(t.layout)
    if kind is None or t.dim() != 2 or t.dense_dim() != 0 and kind != "bsr":
        raise SparccError(
            f"a sparse tensor of layout {t.layout} and shape {list(t.shape)}: sparcc takes 2-D "
            "sparse COO, CSR, CSC and BSR tensors without dense dimensions"
        )
    if kind == "coo":
        return "coo;pos=64;crd=64"
    index = t.crow_indices() if kind in ("csr", "bsr") else t.ccol_indices()
    widths = "" if index.dtype == torch.int32 else ";pos=64;crd=64"
    if kind == "bsr":
        r, c = t.values().shape[1:]
        return f"bsr:{r}x{c}{widths}"
    return kind + widths


def check_sparse_buffers(t: torch.Tensor, index: list[torch.Tensor], values: torch.Tensor) -> str | None:
    """Why a torch sparse tensor's buffers are not a valid matrix of its shape, or
    None. The positions' ends are always checked (O(1)); every position and
    coordinate only inside torch.sparse.check_sparse_tensor_invariants, as
    PyTorch does (O(nnz) per call otherwise)."""
    rows, cols = t.shape
    if t.layout in (torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr):
        pos, crd = index
        outer, inner = (cols, rows) if t.layout == torch.sparse_csc else (rows, cols)
        if t.layout == torch.sparse_bsr:
            r, c = values.shape[1:]
            outer, inner = -(-rows // r), -(-cols // c)
        if pos.shape[0] != outer + 1 or int(pos[0]) != 0 or int(pos[-1]) != crd.shape[0]:
            return (f"its positions ({pos.shape[0]} of them, from {int(pos[0])} to {int(pos[-1])}) do not "
                    f"frame {crd.shape[0]} coordinates over {outer} rows")
        if crd.shape[0] != values.shape[0]:
            return f"it has {crd.shape[0]} coordinates but {values.shape[0]} values"
        if torch.sparse.check_sparse_tensor_invariants.is_enabled():
            if bool((pos[1:] < pos[:-1]).any()):
                return "its positions decrease"
            if crd.numel() and (int(crd.min()) < 0 or int(crd.max()) >= inner):
                return f"a coordinate is outside 0..{inner - 1}"
    elif torch.sparse.check_sparse_tensor_invariants.is_enabled() and index[1].numel() and (
        int(index[1].min()) < 0 or int(index[1].max()) >= rows or int(index[2].min()) < 0
        or int(index[2].max()) >= cols
    ):
        return f"an index is outside the shape {[rows, cols]}"
    return None


def sparse_buffers(t: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A torch sparse tensor's index buffers in the level order of its format
    (positions, coordinates) and its values, without copies (COO: coalesced
    first, and its level-0 positions [0, nnz] are made here)."""
    if t.layout in (torch.sparse_csr, torch.sparse_bsr):
        return [t.crow_indices(), t.col_indices()], t.values()
    if t.layout == torch.sparse_csc:
        return [t.ccol_indices(), t.row_indices()], t.values()
    if not t.is_coalesced():
        t = t.coalesce()
    idx = t.indices()
    return [torch.tensor([0, idx.shape[1]], dtype=torch.int64), idx[0], idx[1]], t.values()


@dataclass
class ImportedProgram:
    module: ModuleOp
    weights: dict[str, torch.Tensor]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    output_tree: Any = None  # pytree spec of the user's outputs
    ops: dict[str, int] = field(default_factory=dict)  # ATen op -> count, for reports


def tensor_type(spec: TensorSpec, where: str) -> Attribute:
    if spec.format is not None:
        from sparcc.dialects.sparse import SparseTensorType

        if spec.dtype != torch.float32:
            raise SparccError(f"{where}: sparse values of dtype {spec.dtype}; sparcc takes float32 sparse tensors")
        return SparseTensorType(spec.shape, f32, spec.format)
    if spec.dtype not in DTYPES:
        raise SparccError(
            f"{where}: dtype {spec.dtype} is not supported; sparcc compiles float32 "
            f"tensors (and int64 indices). Convert with .float() before compiling."
        )
    return TensorType(DTYPES[spec.dtype], list(spec.shape))


# ----------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------


class _FunctionModule(torch.nn.Module):
    def __init__(self, fn: Callable[..., Any]):
        super().__init__()
        self.fn = fn

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)


def export(model: torch.nn.Module | Callable[..., Any], args: Sequence[torch.Tensor]) -> ExportedProgram:
    module = model if isinstance(model, torch.nn.Module) else _FunctionModule(model)
    if not isinstance(model, torch.nn.Module):
        # torch.export records stack frames of `forward` methods only; a plain
        # function must be registered so that errors can name the user's line.
        anchor = getattr(torch.fx.proxy, "_register_stack_trace_anchor", None)
        if anchor is not None:
            anchor(model)
    # torch logs the traceback of a failing shape check before raising it; the
    # user gets the one-line reason below instead
    quiet = logging.getLogger("torch._subclasses.fake_tensor")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with torch.no_grad():
            return torch.export.export(module, tuple(args), strict=False)
    except Exception as e:  # torch raises many types; the user needs the text
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        shapes = ", ".join(str(list(a.shape)) for a in args)
        raise SparccError(
            f"torch.export could not capture the model for inputs {shapes}: {first}\n"
            "  check the inputs' shapes and dtypes; sparcc also needs a graph without "
            "data-dependent Python control flow."
        ) from None
    finally:
        quiet.setLevel(level)


def import_module(model: torch.nn.Module | Callable[..., Any], args: Sequence[torch.Tensor]) -> ImportedProgram:
    for i, a in enumerate(args):
        if not isinstance(a, torch.Tensor):
            raise SparccError(f"argument {i}: expected a torch.Tensor, got {type(a).__name__}")
    return GraphImporter(export(model, args)).run()


# ----------------------------------------------------------------------------
# the graph importer
# ----------------------------------------------------------------------------


def user_location(node: torch.fx.Node) -> str:
    """file:line of the user's code that produced `node` (innermost frame outside torch)."""
    trace = node.meta.get("stack_trace") or ""
    frames = []
    for line in trace.splitlines():
        line = line.strip()
        if line.startswith('File "'):
            path, _, rest = line[len('File "') :].partition('", line ')
            frames.append((path, rest.split(",")[0]))
    if not frames:
        return "<unknown location>"
    library = (os.path.dirname(torch.__file__), os.path.dirname(__file__))
    mine = [f for f in frames if not f[0].startswith(library)]
    outside_sparcc = [f for f in frames if not f[0].startswith(os.path.dirname(__file__))]
    if not mine and not outside_sparcc:  # e.g. a torch builtin compiled directly
        return "<the compiled function itself>"
    path, line = (mine or outside_sparcc)[-1]
    where = f"{path}:{line}"
    modules = node.meta.get("nn_module_stack") or {}
    if not mine and modules:  # inside a torch.nn layer: name the layer too
        qualname, cls = list(modules.values())[-1]
        cls = getattr(cls, "__name__", str(cls)).rsplit(".", 1)[-1]
        if cls != _FunctionModule.__name__:
            where += f" (in {cls} '{qualname}')" if qualname else f" (in {cls})"
    return where


def training_mode_op(node: torch.fx.Node) -> str | None:
    """The name of a training-only computation `node` performs, if any."""
    args = dict(zip(("x", "p", "train"), node.args)) | node.kwargs
    if node.target is aten.dropout.default and args.get("train") and args.get("p", 0.5) > 0:
        return "dropout"
    if node.target is aten.batch_norm.default and len(node.args) > 5 and node.args[5]:
        return "batch_norm"
    return None


class GraphImporter:
    def __init__(self, program: ExportedProgram):
        self.program = program
        self.values: dict[torch.fx.Node, Any] = {}
        self.weights: dict[str, torch.Tensor] = {}
        self.ops: dict[str, int] = {}
        self.node: torch.fx.Node | None = None

    # -- helpers used by handlers ---------------------------------------------

    def emit(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0]

    def meta_shape(self) -> tuple[int, ...]:
        assert self.node is not None
        return tuple(self.node.meta["val"].shape)

    def scalar(self, value: float, like: SSAValue) -> SSAValue:
        typ = TensorType(nn.elem(like), [])
        return self.emit(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(typ, [float(value)])))

    def operand(self, value: Any, like: SSAValue) -> SSAValue:
        return value if isinstance(value, SSAValue) else self.scalar(value, like)

    def fail(self, why: str) -> SparccError:
        assert self.node is not None
        return UnsupportedOpError(f"{self.node.target} at {user_location(self.node)}: {why}")

    # -- the walk -------------------------------------------------------------

    def run(self) -> ImportedProgram:
        sig = self.program.graph_signature
        kinds = {spec.arg.name: spec for spec in sig.input_specs}
        graph = self.program.graph
        state = {**self.program.state_dict, **self.program.constants}

        inputs: list[TensorSpec] = []
        for node in graph.nodes:
            if node.op != "placeholder":
                continue
            spec = kinds[node.name]
            if spec.kind == InputKind.USER_INPUT:
                val = node.meta.get("val")
                if not isinstance(val, torch.Tensor):
                    raise SparccError(f"input '{node.name}': only tensor inputs are supported")
                inputs.append(TensorSpec.of(val))
        arg_types = [tensor_type(s, f"input {i}") for i, s in enumerate(inputs)]
        self.block = Block(arg_types=arg_types)

        for node in graph.nodes:  # a training-mode model fails here, before its other ops
            if node.op == "call_function" and (what := training_mode_op(node)):
                raise UnsupportedOpError(
                    f"{what} in training mode at {user_location(node)}; "
                    "call model.eval() before compiling"
                )

        user_args = iter(self.block.args)
        outputs: list[TensorSpec] = []
        results: list[SSAValue] = []
        for node in graph.nodes:
            self.node = node
            if node.op == "placeholder":
                spec = kinds[node.name]
                if spec.kind == InputKind.USER_INPUT:
                    self.values[node] = next(user_args)
                else:
                    self.values[node] = self.weight(node, spec.target, state[spec.target])
            elif node.op == "call_function":
                self.values[node] = self.call(node)
            elif node.op == "output":
                for out in node.args[0]:
                    if not isinstance(out, torch.fx.Node) or not isinstance(self.values.get(out), SSAValue):
                        raise SparccError("the model must return tensors (or a tuple of tensors)")
                    results.append(self.values[out])
                    outputs.append(TensorSpec.of(out.meta["val"]))
            else:
                raise SparccError(f"unexpected FX node kind '{node.op}' ({node.name})")
        self.node = None

        self.block.add_op(func.ReturnOp(*results))
        fn = func.FuncOp(
            "forward",
            func.FunctionType.from_lists(arg_types, [r.type for r in results]),
            Region(self.block),
        )
        module = ModuleOp([fn])
        return ImportedProgram(
            module, self.weights, inputs, outputs, self.program.call_spec.out_spec, self.ops
        )

    def weight(self, node: torch.fx.Node, name: str, data: torch.Tensor) -> SSAValue:
        data = data.detach()
        if data.layout != torch.strided:
            return self.sparse_weight(name, data)
        if data.dtype == torch.float64:
            data = data.float()
        if data.dtype not in DTYPES and node.users:
            user = next(iter(node.users))
            hint = (
                " (for attention masks, pass a float mask: 0 where allowed, -inf where masked)"
                if data.dtype == torch.bool else ""
            )
            raise UnsupportedOpError(
                f"constant '{name}' of dtype {data.dtype}, used by {user.target} at "
                f"{user_location(user)}: sparcc compiles float32 tensors (and int64 indices){hint}"
            )
        self.weights[name] = data
        return self.emit(nn.WeightOp(name, tensor_type(TensorSpec.of(data), f"weight '{name}'")))

    def sparse_weight(self, name: str, data: torch.Tensor) -> SSAValue:
        """A torch sparse parameter: its own buffers go to the store as raw bytes
        (`name#i0`.. and `name#values`, passes/lower_sparse.py), no densifying."""
        from sparcc.dialects.sparse import WeightOp

        if data.dtype == torch.float64:
            data = data.float()
        spec = TensorSpec.of(data)
        typ = tensor_type(spec, f"sparse weight '{name}'")
        index, values = sparse_buffers(data)
        with torch.sparse.check_sparse_tensor_invariants():  # once, at compile time: every index
            why = check_sparse_buffers(data, index, values)
        if why is not None:
            raise SparccError(f"sparse weight '{name}' of shape {list(data.shape)}: {why}")
        for k, buf in enumerate(index):
            self.weights[f"{name}#i{k}"] = buf.contiguous().view(torch.uint8).clone()
        self.weights[f"{name}#values"] = values.contiguous().reshape(-1)
        entries = typ.format.format.level_entries(spec.shape, [b.shape[0] for b in index])
        return self.emit(WeightOp(name, typ, entries))

    def call(self, node: torch.fx.Node) -> Any:
        target = node.target
        if target is operator.getitem:
            seq, idx = node.args
            return self.values[seq][idx]
        handler = HANDLERS.get(target)
        name = str(target)
        if handler is None:
            raise UnsupportedOpError(
                f"unsupported operation {name} at {user_location(node)}\n"
                "  sparcc cannot compile this op yet. Rewrite that line with supported ops "
                "(see README, 'Supported operations') or open an issue naming the op."
            )
        self.ops[name] = self.ops.get(name, 0) + 1
        args = [self.lookup(a) for a in node.args]
        kwargs = {k: self.lookup(v) for k, v in node.kwargs.items()}
        if target not in SPARSE_AWARE and any(_is_sparse(a) for a in [*args, *kwargs.values()]):
            raise self.fail(
                "takes a sparse tensor here; sparcc runs sparse tensors only as the left operand "
                "of mm/matmul/addmm/torch.sparse.mm (a sparse A in A @ X)"
            )
        val = node.meta.get("val")
        for t in val if isinstance(val, (tuple, list)) else [val]:
            if isinstance(t, torch.Tensor) and t.dtype not in DTYPES and t.dtype != torch.bool:
                raise self.fail(f"produces dtype {t.dtype}; sparcc compiles float32 tensors")
        return handler(self, *args, **kwargs)

    def lookup(self, a: Any) -> Any:
        if isinstance(a, torch.fx.Node):
            return self.values[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.lookup(x) for x in a)
        return a


# ----------------------------------------------------------------------------
# handlers: one per ATen op (registration table, not an if-chain)
# ----------------------------------------------------------------------------

Handler = Callable[..., Any]
HANDLERS: dict[Any, Handler] = {}


# ops whose handlers take sparse operands themselves
SPARSE_AWARE = {aten.mm.default, aten.matmul.default, aten._sparse_mm.default, aten.addmm.default}


def handles(*targets: Any) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for t in targets:
            HANDLERS[t] = fn
        return fn

    return register


def _identity(g: GraphImporter, x: SSAValue, *_: Any, **__: Any) -> SSAValue:
    return x


handles(aten.contiguous.default, aten.clone.default, aten.alias.default, aten.detach.default,
        aten.lift_fresh_copy.default)(_identity)


# dropout is the identity in inference; training mode was rejected by `training_mode_op`
handles(aten.dropout.default)(_identity)


for _target, _op in [
    (aten.neg.default, nn.NegOp),
    (aten.relu.default, nn.ReluOp),
    (aten.silu.default, nn.SiluOp),
    (aten.sigmoid.default, nn.SigmoidOp),
    (aten.tanh.default, nn.TanhOp),
    (aten.exp.default, nn.ExpOp),
    (aten.log.default, nn.LogOp),
    (aten.erf.default, nn.ErfOp),
    (aten.special_erf.default, nn.ErfOp),
    (aten.sqrt.default, nn.SqrtOp),
    (aten.rsqrt.default, nn.RsqrtOp),
]:
    HANDLERS[_target] = lambda g, x, _op=_op: g.emit(_op(x))


@handles(aten.gelu.default)
def _gelu(g: GraphImporter, x: SSAValue, approximate: str = "none") -> SSAValue:
    from xdsl.dialects.builtin import StringAttr

    return g.emit(nn.GeluOp(x, {"approximate": StringAttr(approximate)}))


def _binary(op: type[nn.BinaryOp], reverse: bool = False) -> Handler:
    """a op alpha*b; `reverse` (rsub) computes b op alpha*a. Either side may be a Python scalar."""

    def handler(g: GraphImporter, a: Any, b: Any, alpha: float = 1, rounding_mode: Any = None) -> SSAValue:
        if rounding_mode is not None:
            raise g.fail(f"rounding_mode={rounding_mode!r} is not supported")
        if reverse:
            a, b = b, a
        like = a if isinstance(a, SSAValue) else b
        if nn.elem(like) != f32:
            raise g.fail(f"arithmetic on {nn.elem(like)} tensors is not supported; sparcc computes in float32")
        a, b = g.operand(a, like), g.operand(b, like)
        if alpha != 1:
            b = g.emit(nn.MulOp(b, g.scalar(alpha, like)))
        return g.emit(op(a, b))

    return handler


for _name, _op in [("add", nn.AddOp), ("sub", nn.SubOp), ("mul", nn.MulOp), ("div", nn.DivOp)]:
    for _overload in ("Tensor", "Scalar"):
        HANDLERS[getattr(getattr(aten, _name), _overload)] = _binary(_op)
HANDLERS[aten.rsub.Scalar] = _binary(nn.SubOp, reverse=True)
HANDLERS[aten.rsub.Tensor] = _binary(nn.SubOp, reverse=True)
HANDLERS[aten.div.Tensor_mode] = _binary(nn.DivOp)


@handles(aten.reciprocal.default)
def _reciprocal(g: GraphImporter, x: SSAValue) -> SSAValue:
    return g.emit(nn.DivOp(g.scalar(1.0, x), x))


@handles(aten.linear.default)
def _linear(g: GraphImporter, x: SSAValue, w: SSAValue, b: SSAValue | None = None) -> SSAValue:
    return g.emit(nn.LinearOp(x, w, b))


def _is_sparse(value: Any) -> bool:
    from sparcc.dialects.sparse import SparseTensorType

    if isinstance(value, (list, tuple)):
        return any(_is_sparse(v) for v in value)
    return isinstance(value, SSAValue) and isinstance(value.type, SparseTensorType)


def _sparse_matmul(g: GraphImporter, a: SSAValue, b: SSAValue) -> SSAValue:
    from sparcc.dialects.sparse import MatmulOp

    if _is_sparse(b):
        raise g.fail("has a sparse right operand; sparcc runs A @ X for a sparse A and a dense X only")
    sb = nn.shape_of(b)
    if len(sb) == 1:
        y = g.emit(MatmulOp(a, g.emit(nn.ReshapeOp(b, (sb[0], 1)))))
        return g.emit(nn.ReshapeOp(y, g.meta_shape()))
    if len(sb) != 2:
        raise g.fail(f"multiplies a sparse matrix by a rank-{len(sb)} tensor; expected a matrix or a vector")
    return g.emit(MatmulOp(a, b))


@handles(aten._sparse_mm.default)
def _sparse_mm(g: GraphImporter, a: SSAValue, b: SSAValue) -> SSAValue:
    if not _is_sparse(a):
        return _matmul(g, a, b)
    return _sparse_matmul(g, a, b)


@handles(aten.mm.default, aten.bmm.default, aten.matmul.default)
def _matmul(g: GraphImporter, a: SSAValue, b: SSAValue) -> SSAValue:
    if _is_sparse(a) or _is_sparse(b):
        return _sparse_matmul(g, a, b)
    sa, sb = nn.shape_of(a), nn.shape_of(b)
    if len(sa) == 1:
        a = g.emit(nn.ReshapeOp(a, (1, sa[0])))
    if len(sb) == 1:
        b = g.emit(nn.ReshapeOp(b, (sb[0], 1)))
    y = g.emit(nn.MatmulOp(a, b))
    return y if len(sa) > 1 and len(sb) > 1 else g.emit(nn.ReshapeOp(y, g.meta_shape()))


@handles(aten.addmm.default)
def _addmm(g: GraphImporter, bias: SSAValue, a: SSAValue, b: SSAValue, beta: float = 1, alpha: float = 1) -> SSAValue:
    if _is_sparse(bias):
        raise g.fail("adds a sparse tensor; sparcc takes a dense bias in addmm")
    y = _matmul(g, a, b)
    if alpha != 1:
        y = g.emit(nn.MulOp(y, g.scalar(alpha, y)))
    if beta == 0:  # PyTorch ignores the bias then, even inf/nan in it
        return y
    if beta != 1:
        bias = g.emit(nn.MulOp(bias, g.scalar(beta, bias)))
    return g.emit(nn.AddOp(y, bias))


def _dim_op(op: type[nn.DimOp]) -> Handler:
    def handler(g: GraphImporter, x: SSAValue, dim: int, *rest: Any, **kw: Any) -> SSAValue:
        return g.emit(op(x, dim))

    return handler


HANDLERS[aten.softmax.int] = HANDLERS[aten._softmax.default] = _dim_op(nn.SoftmaxOp)
HANDLERS[aten.log_softmax.int] = HANDLERS[aten._log_softmax.default] = _dim_op(nn.LogSoftmaxOp)


def _reduction(op: type[nn.ReduceOp]) -> Handler:
    def handler(g: GraphImporter, x: SSAValue, dims: Any = None, keepdim: bool = False, dtype: Any = None) -> SSAValue:
        if dtype is not None and dtype != torch.float32:
            raise g.fail(f"dtype={dtype} is not supported")
        rank = len(nn.shape_of(x))
        if dims is None or (isinstance(dims, (list, tuple)) and not dims):
            dims = list(range(rank))
        elif isinstance(dims, int):
            dims = [dims]
        return g.emit(op(x, list(dims), keepdim))

    return handler


for _target in (aten.mean.dim, aten.mean.default):
    HANDLERS[_target] = _reduction(nn.MeanOp)
for _target in (aten.sum.dim_IntList, aten.sum.default):
    HANDLERS[_target] = _reduction(nn.SumOp)
HANDLERS[aten.amax.default] = _reduction(nn.AmaxOp)


@handles(aten.layer_norm.default)
def _layer_norm(g: GraphImporter, x, shape, w=None, b=None, eps=1e-5, cudnn_enable=True) -> SSAValue:
    return g.emit(nn.LayerNormOp(x, w, b, len(shape), eps))


@handles(aten.native_layer_norm.default)
def _native_layer_norm(g: GraphImporter, x, shape, w, b, eps) -> tuple:
    return (_layer_norm(g, x, shape, w, b, eps), None, None)


@handles(aten.batch_norm.default)
def _batch_norm(g: GraphImporter, x, w, b, mean, var, training, momentum, eps, cudnn=True) -> SSAValue:
    return _bn(g, x, w, b, mean, var, eps)


@handles(aten._native_batch_norm_legit_no_training.default)
def _bn_no_training(g: GraphImporter, x, w, b, mean, var, momentum, eps) -> tuple:
    return (_bn(g, x, w, b, mean, var, eps), None, None)


def _bn(g: GraphImporter, x, w, b, mean, var, eps) -> SSAValue:
    c = nn.shape_of(x)[1]
    if mean is None or var is None:
        raise g.fail("batch_norm without running statistics is not supported")
    w = w if w is not None else g.emit(nn.ExpandOp(g.scalar(1.0, x), (c,)))
    b = b if b is not None else g.emit(nn.ExpandOp(g.scalar(0.0, x), (c,)))
    return g.emit(nn.BatchNormOp(x, mean, var, w, b, eps))


@handles(
    aten.view.default, aten.reshape.default, aten._unsafe_view.default, aten.flatten.using_ints,
    aten.unflatten.int, aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims,
    aten.squeeze.default, aten.view_as.default, aten.reshape_as.default,
)
def _reshape(g: GraphImporter, x: SSAValue, *_: Any) -> SSAValue:
    return g.emit(nn.ReshapeOp(x, g.meta_shape()))


@handles(aten.expand.default, aten.expand_as.default)
def _expand(g: GraphImporter, x: SSAValue, *_: Any, **__: Any) -> SSAValue:
    return g.emit(nn.ExpandOp(x, g.meta_shape()))


@handles(aten.permute.default)
def _permute(g: GraphImporter, x: SSAValue, perm: Sequence[int]) -> SSAValue:
    rank = len(nn.shape_of(x))
    return g.emit(nn.PermuteOp(x, [p % max(rank, 1) for p in perm]))


@handles(aten.transpose.int)
def _transpose(g: GraphImporter, x: SSAValue, a: int, b: int) -> SSAValue:
    rank = len(nn.shape_of(x))
    perm = list(range(rank))
    a, b = a % max(rank, 1), b % max(rank, 1)
    perm[a], perm[b] = perm[b], perm[a]
    return g.emit(nn.PermuteOp(x, perm))


@handles(aten.mT.default)
def _mt(g: GraphImporter, x: SSAValue) -> SSAValue:
    return _transpose(g, x, -2, -1)


@handles(aten.t.default)
def _t(g: GraphImporter, x: SSAValue) -> SSAValue:
    return x if len(nn.shape_of(x)) < 2 else _transpose(g, x, 0, 1)


@handles(aten.cat.default)
def _cat(g: GraphImporter, xs: Sequence[SSAValue], dim: int = 0) -> SSAValue:
    xs = [x for x in xs if math.prod(nn.shape_of(x)) > 0 or len(xs) == 1]
    return g.emit(nn.ConcatOp(xs, dim))


def _clamp_slice(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    start = 0 if start is None else start
    end = size if end is None else end
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = min(max(start, 0), size)
    end = min(max(end, start), size)
    return start, end


@handles(aten.slice.Tensor)
def _slice(g: GraphImporter, x: SSAValue, dim: int = 0, start=None, end=None, step: int = 1) -> SSAValue:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    s, e = _clamp_slice(shape[d], start, end)
    return g.emit(nn.SliceOp(x, d, s, e, step))


@handles(aten.narrow.default)
def _narrow(g: GraphImporter, x: SSAValue, dim: int, start: int, length: int) -> SSAValue:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    start = start % shape[d] if start < 0 else start
    return g.emit(nn.SliceOp(x, d, start, start + length, 1))


@handles(aten.select.int)
def _select(g: GraphImporter, x: SSAValue, dim: int, index: int) -> SSAValue:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    i = index % shape[d]
    return g.emit(nn.ReshapeOp(g.emit(nn.SliceOp(x, d, i, i + 1, 1)), g.meta_shape()))


@handles(aten.split.Tensor, aten.split_with_sizes.default)
def _split(g: GraphImporter, x: SSAValue, sizes: int | Sequence[int], dim: int = 0) -> list[SSAValue]:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    if isinstance(sizes, int):
        sizes = [min(sizes, shape[d] - s) for s in range(0, shape[d], sizes)]
    out, start = [], 0
    for size in sizes:
        out.append(g.emit(nn.SliceOp(x, d, start, start + size, 1)))
        start += size
    return out


@handles(aten.chunk.default)
def _chunk(g: GraphImporter, x: SSAValue, chunks: int, dim: int = 0) -> list[SSAValue]:
    size = nn.shape_of(x)[dim % len(nn.shape_of(x))]
    return _split(g, x, -(-size // chunks), dim)


@handles(aten.unbind.int)
def _unbind(g: GraphImporter, x: SSAValue, dim: int = 0) -> list[SSAValue]:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    rest = shape[:d] + shape[d + 1 :]
    return [g.emit(nn.ReshapeOp(g.emit(nn.SliceOp(x, d, i, i + 1, 1)), rest)) for i in range(shape[d])]


@handles(aten.embedding.default)
def _embedding(g: GraphImporter, w: SSAValue, idx: SSAValue, *_: Any) -> SSAValue:
    return g.emit(nn.EmbeddingOp(w, idx))


@handles(aten.scaled_dot_product_attention.default)
def _sdpa(g: GraphImporter, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False) -> SSAValue:
    if dropout_p:
        raise g.fail("attention dropout is not supported; use dropout_p=0 for inference")
    if enable_gqa:
        raise g.fail("enable_gqa is not supported")
    if attn_mask is not None and nn.elem(attn_mask) != nn.elem(q):
        raise g.fail("boolean attention masks are not supported; pass a float mask (0 / -inf)")
    if scale is None:
        scale = 1.0 / math.sqrt(nn.shape_of(q)[-1])
    return g.emit(nn.SdpaOp(q, k, v, attn_mask, bool(is_causal), float(scale)))


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


@handles(aten.conv2d.default)
def _conv2d(g: GraphImporter, x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> SSAValue:
    if len(nn.shape_of(x)) != 4:
        raise g.fail("only batched (4-d NCHW) conv2d inputs are supported")
    return g.emit(nn.Conv2dOp(x, w, b, _pair(stride), _pair(padding), _pair(dilation), groups))


@handles(aten.conv2d.padding)
def _conv2d_padding(g: GraphImporter, x, w, b=None, stride=1, padding="valid", dilation=1, groups=1) -> SSAValue:
    if padding == "valid":
        return _conv2d(g, x, w, b, stride, 0, dilation, groups)
    # "same": total padding d*(k-1) per spatial dim, split evenly (PyTorch puts the odd one after)
    totals = [d * (k - 1) for d, k in zip(_pair(dilation), nn.shape_of(w)[2:])]
    if any(t % 2 for t in totals):
        raise g.fail("padding='same' with an even effective kernel size (asymmetric padding) is not supported")
    return _conv2d(g, x, w, b, stride, [t // 2 for t in totals], dilation, groups)


@handles(aten.convolution.default)
def _convolution(g: GraphImporter, x, w, b, stride, padding, dilation, transposed, output_padding, groups) -> SSAValue:
    if transposed or len(nn.shape_of(w)) != 4:
        raise g.fail("only 2-d, non-transposed convolutions are supported")
    return _conv2d(g, x, w, b, stride, padding, dilation, groups)


@handles(aten.max_pool2d.default)
def _max_pool2d(g: GraphImporter, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False) -> SSAValue:
    if ceil_mode or _pair(dilation) != (1, 1):
        raise g.fail("max_pool2d with ceil_mode or dilation is not supported")
    k = _pair(kernel)
    return g.emit(nn.MaxPool2dOp(x, k, _pair(stride) if stride else k, _pair(padding)))


@handles(aten.avg_pool2d.default)
def _avg_pool2d(g: GraphImporter, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None) -> SSAValue:
    if ceil_mode or divisor_override is not None:
        raise g.fail("avg_pool2d with ceil_mode or divisor_override is not supported")
    from xdsl.dialects.builtin import BoolAttr

    k = _pair(kernel)
    return g.emit(
        nn.AvgPool2dOp(
            x, k, _pair(stride) if stride else k, _pair(padding),
            {"count_include_pad": BoolAttr.from_bool(bool(count_include_pad))},
        )
    )
