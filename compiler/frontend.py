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

import contextvars
import functools
import inspect
import itertools
import logging
import math
import operator
import sysconfig
import threading
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import sympy
import torch
from sparcc.dialects import nn
from sparcc.errors import DynamicShapeError, PipelineError, SparccError, UnsupportedOpError
from sparcc.specs import (  # noqa: F401 (defined where a warm start reaches them without xDSL; re-exported)
    ImportedProgram,
    TensorSpec,
    check_sparse_buffers,
    sparse_buffers,
    sparse_format,
)
from xdsl.utils.exceptions import VerifyException
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    Float16Type,
    IntegerType,
    ModuleOp,
    TensorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

aten = torch.ops.aten

_SIGNED: dict[torch.dtype, Attribute] = {
    torch.float32: f32, torch.float64: f64, torch.float16: f16, torch.bfloat16: bf16,
    torch.int64: i64, torch.int32: i32, torch.int16: i16, torch.int8: i8, torch.bool: i1,
}
# Unsigned integers are stored in the signless type of their width (the
# program's inputs and results) and computed in a wider signed type, where
# every value of theirs is non-negative, so that comparison, division,
# max/min and conversion to float need no unsigned ops; a result is wrapped
# to the type (x & mask, PyTorch's modular arithmetic) after every op that
# can leave its range (see GraphImporter.finish). uint64 has no wider type.
UNSIGNED: dict[torch.dtype, tuple[Attribute, int]] = {
    torch.uint8: (i32, 0xFF), torch.uint16: (i32, 0xFFFF), torch.uint32: (i64, 0xFFFFFFFF),
}
DTYPES: dict[torch.dtype, Attribute] = {
    **_SIGNED, torch.uint8: i8, torch.uint16: i16, torch.uint32: i32,
}
TORCH_DTYPES = {v: k for k, v in _SIGNED.items()}  # an IR type read back: signless is signed
# float16 and bfloat16 values are computed in float32 and rounded to their
# type after every op, as PyTorch's CPU kernels do (see GraphImporter.finish)
HALF = (torch.float16, torch.bfloat16)


def compute_type(dtype: torch.dtype) -> Attribute:
    """The element type a value of `dtype` has inside sparcc's IR."""
    if dtype in UNSIGNED:
        return UNSIGNED[dtype][0]
    return f32 if dtype in HALF else DTYPES[dtype]


def tensor_type(spec: TensorSpec, where: str) -> Attribute:
    if spec.format is not None:
        from sparcc.dialects.sparse import SparseTensorType

        if spec.dtype != torch.float32:
            raise SparccError(f"{where}: sparse values of dtype {spec.dtype}; sparcc takes float32 sparse tensors")
        return SparseTensorType(spec.shape, f32, spec.format)
    if spec.dtype not in DTYPES:
        raise SparccError(
            f"{where}: dtype {spec.dtype} is not supported; sparcc compiles "
            f"{', '.join(str(d).removeprefix('torch.') for d in DTYPES)} tensors. "
            "Convert with .to(...) before compiling."
        )
    return nn.tensor(spec.shape, DTYPES[spec.dtype])


# ----------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------


class _FunctionModule(torch.nn.Module):
    def __init__(self, fn: Callable[..., Any]):
        super().__init__()
        self.fn = fn

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)


# input -> dim -> (min, max); or input -> "auto" (every dim torch.export lets vary)
DynamicSpec = dict[int, Any]


def dynamic_shapes(module: torch.nn.Module, args: Sequence[torch.Tensor], dynamic: DynamicSpec) -> Any:
    """torch.export's dynamic_shapes for `dynamic`: one torch Dim per distinct
    (size, range) among the marked dims, so that dims which take the same size
    in the example (a batch shared by two inputs) are one symbol."""
    shapes = torch.export.ShapesCollection()
    named: dict[tuple[int, int, int | None], Any] = {}
    for i, marks in dynamic.items():
        if marks == "auto":  # every dim that the program lets vary (torch decides)
            shapes[args[i]] = {d: torch.export.Dim.AUTO for d in range(args[i].dim())}
            continue
        spec = {}
        for d, (lo, hi) in marks.items():
            key = (int(args[i].shape[d]), lo, hi)
            if key not in named:
                named[key] = torch.export.Dim(f"d{len(named)}", min=lo, max=hi if hi is not None else None)
            spec[d] = named[key]
        shapes[args[i]] = spec
    return shapes.dynamic_shapes(module, tuple(args))


def _dynamic_examples(args: Sequence[torch.Tensor], dynamic: DynamicSpec) -> list[torch.Tensor]:
    """The example inputs torch.export traces a dynamic program with: a dim
    marked dynamic whose example size is 0 or 1 becomes 2 (torch.export
    specializes sizes 0 and 1), filled with zeros; the values are not
    traced, only the shapes."""
    out = list(args)
    for i, marks in dynamic.items():
        if marks == "auto":
            continue
        shape = list(args[i].shape)
        small = [d for d in marks if shape[d] < 2]
        if small and args[i].layout == torch.strided:
            for d in small:
                shape[d] = 2
            out[i] = torch.zeros(shape, dtype=args[i].dtype)
    return out


def rejected_by_pytorch(model: Any, args: Sequence[Any]) -> str | None:
    """PyTorch's own error for calling `model` on `args`, or None if eager
    runs it. torch.export traces with fake tensors, which do not check what
    the kernels accept (an int32 softmax, a float64 input to a float32
    Linear): when sparcc's IR then fails to verify, this tells a user
    mistake that PyTorch rejects too from a sparcc bug."""
    try:
        with torch.no_grad():
            model(*args)
    except Exception as e:  # noqa: BLE001 (any error PyTorch raises is the answer)
        text = str(e).strip()
        return text.splitlines()[0] if text else type(e).__name__
    return None


def unaliased(args: Sequence[Any]) -> list[Any]:
    """The example inputs, each tensor that shares memory with an earlier one
    cloned: torch.export traces `f(a, a)` as a program that reads one input
    for both, which gave wrong results for any two different inputs."""
    out: list[Any] = []
    for a in args:
        if isinstance(a, torch.Tensor) and a.layout == torch.strided and any(
            isinstance(b, torch.Tensor) and b.layout == torch.strided
            and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() for b in out
        ):
            a = a.clone()
        out.append(a)
    return out


def export(
    model: torch.nn.Module | Callable[..., Any], args: Sequence[torch.Tensor], dynamic: DynamicSpec | None = None
) -> ExportedProgram:
    module = model if isinstance(model, torch.nn.Module) else _FunctionModule(model)
    args = unaliased(args)
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
            if dynamic:
                args = _dynamic_examples(args, dynamic)
            shapes = dynamic_shapes(module, args, dynamic) if dynamic else None
            decomposed = _export_decomposed(module, args, shapes)
            if decomposed is not None:
                return decomposed
            program = torch.export.export(module, tuple(args), dynamic_shapes=shapes, strict=False)
    except SparccError:  # raised by sparcc's own code inside the trace (a keyword call's state objects)
        raise
    except Exception as e:  # torch raises many types; the user needs the text
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if dynamic and "Constraints violated" in str(e):
            raise DynamicShapeError(
                f"the model does not allow these dims to vary ({_marks_text(dynamic)}): torch.export found "
                f"that it specializes them. {first}"
            ) from None
        if dynamic:  # torch.export's symbolic tracing failed where a static trace may not
            raise DynamicShapeError(
                f"torch.export could not trace the model with these dims varying ({_marks_text(dynamic)}): {first}{_failing_line(e)}"
            ) from None
        shapes = ", ".join(str(list(a.shape)) for a in args)
        raise SparccError(
            f"torch.export could not capture the model for inputs {shapes}: {first}{_failing_line(e)}\n"
            "  check the inputs' shapes and dtypes; sparcc also needs a graph without "
            "data-dependent Python control flow."
        ) from None
    finally:
        quiet.setLevel(level)
    for node in program.graph.nodes:  # a training-mode model fails here, before its other ops
        if node.op == "call_function" and (what := training_mode_op(node)):
            raise UnsupportedOpError(
                f"{what} in training mode at {user_location(node)}; call model.eval() before compiling"
            )
    if (dropout := next((n for n in program.graph.nodes if _training_dropout(n)), None)) is not None:
        warnings.warn(
            f"dropout in training mode at {user_location(dropout)}: each call drops other values, as in "
            "PyTorch (call model.eval() for inference)", stacklevel=2,
        )
    tensors = [*args, *program.state_dict.values(), *program.constants.values()]
    if any(isinstance(t, torch.Tensor) and t.layout != torch.strided for t in tensors):
        # torch cannot decompose graphs over sparse tensors (layout_impl): such
        # programs are imported as exported, their sparse ops handled whole
        return program
    try:
        # torch 2.13's own pytree code warns about its deprecated LeafSpec here
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*LeafSpec")
            return program.run_decompositions(decomposition_table())
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SparccError(f"torch.export could not decompose the model's graph into core ATen ops: {first}") from None


_ONE_TRACE = threading.Lock()  # _export_decomposed patches a torch module global for one call
# core ATen ops that compute with training-mode statistics: a program holding
# one goes through the two-step export, whose checks name the layer
_TRAINING_OPS = (aten._native_batch_norm_legit_functional.default, aten._native_batch_norm_legit.default,
                 aten._native_batch_norm_legit.no_stats)


def _export_decomposed(module: torch.nn.Module, args: Sequence[Any], shapes: Any) -> ExportedProgram | None:
    """The core ATen program of `module` in one trace, or None where the
    two-step path (torch.export.export, then run_decompositions) must run.

    torch.export traces the model to its training IR and run_decompositions
    traces that graph a second time; tracing once to ATen with the
    decomposition table applied gives the same graph (the same
    CompositeImplicit ops kept whole, see torch's run_decompositions) in
    about 60-70 % of the time. It needs torch internals (torch 2.13 is pinned):
    a missing internal, sparse tensors, a failed trace, or a graph with
    training-mode batch statistics or random ops returns None, and the
    public path runs and reports as before (a model in training mode
    without those traces the same graph either way; only the training IR
    shows batch_norm and dropout calls to the checks in `export`)."""
    try:
        from torch.export import _trace
        from torch.export.exported_program import (
            _override_composite_implicit_decomp,
            _split_decomp_table_to_cia_and_python_decomp,
        )
    except ImportError:
        return None
    tensors = [*args, *module.parameters(), *module.buffers()]
    if any(isinstance(t, torch.Tensor) and t.layout != torch.strided for t in tensors):
        return None
    cia, table = _split_decomp_table_to_cia_and_python_decomp(decomposition_table())
    with _ONE_TRACE:
        original = _trace._export_to_aten_ir
        _trace._export_to_aten_ir = functools.partial(original, decomp_table=table)
        try:
            with torch.no_grad(), warnings.catch_warnings(), _trace._ignore_backend_decomps(), \
                    _override_composite_implicit_decomp(cia):
                warnings.filterwarnings("ignore", category=FutureWarning, message=".*LeafSpec")
                program = _trace._export(module, tuple(args), None, shapes, strict=False, pre_dispatch=False)
        except SparccError:  # sparcc's own code inside the trace: the same error either way
            raise
        except Exception:  # noqa: BLE001 (the public path runs again and reports the error)
            return None
        finally:
            _trace._export_to_aten_ir = original
    for node in program.graph.nodes:
        if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload) and (
            node.target in _TRAINING_OPS or _draws_random(node)
        ):
            return None
    return program


def _draws_random(node: torch.fx.Node) -> bool:
    """Whether `node` draws random numbers (torch tags such ops
    nondeterministic_seeded; SDPA carries the tag for its dropout)."""
    if torch.Tag.nondeterministic_seeded not in node.target.tags:
        return False
    if node.target is aten.scaled_dot_product_attention.default:
        p = node.args[4] if len(node.args) > 4 else node.kwargs.get("dropout_p", 0.0)
        return p != 0.0
    return True


# Ops that sparcc lowers better whole than as their core ATen decomposition:
# the quantize/sparsify passes match nn.linear, and sdpa, layer_norm, softmax,
# gelu, silu and conv2d have composite nn ops of their own.
KEEP_WHOLE = (
    aten.linear.default, aten.scaled_dot_product_attention.default, aten.layer_norm.default,
    aten.gelu.default, aten.silu.default, aten.conv2d.default, aten.matmul.default,
    aten.softmax.int, aten.log_softmax.int,
    # their decomposition (index_put) would let negative indices wrap; PyTorch rejects them
    aten.index_add.default, aten.index_copy.default,
)


def decomposition_table() -> dict[Any, Callable[..., Any]]:
    """PyTorch's core ATen decompositions, less the ops in KEEP_WHOLE: in-place
    and composite ops arrive functional, as the core ATen opset."""
    table = torch.export.default_decompositions()
    for op in KEEP_WHOLE:
        table.pop(op, None)
    return table


def _marks_text(dynamic: DynamicSpec) -> str:
    return ", ".join(f"input {i} " + (f"dim {d}" if marks != "auto" else "dims")
                     for i, marks in dynamic.items() for d in (marks if marks != "auto" else [0]))


def _failing_line(e: BaseException) -> str:
    """' at FILE:LINE: `code`' for the innermost frame of the model's own code
    in the exception's traceback (not torch's, not sparcc's): where a
    data-dependent branch (`if mask.any():`, `.item()`) stopped the trace."""
    import traceback

    skip = (os.path.dirname(torch.__file__), os.path.dirname(os.path.abspath(__file__)))
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not os.path.abspath(f.filename).startswith(skip) and not f.filename.startswith("<")]
    if not frames:
        return ""
    f = frames[-1]
    code = f" `{f.line.strip()}`" if f.line else ""
    return f" at {f.filename}:{f.lineno}{code}"


def import_module(
    model: torch.nn.Module | Callable[..., Any], args: Sequence[torch.Tensor], dynamic: DynamicSpec | None = None
) -> ImportedProgram:
    """The `nn` program of `model` on `args`; `dynamic` marks dims (input ->
    dim -> (min, max)) whose size may change without a recompile."""
    for i, a in enumerate(args):
        if not isinstance(a, torch.Tensor):
            raise SparccError(f"argument {i}: expected a torch.Tensor, got {type(a).__name__}")
    token = _CALL_SITE.set(_caller())
    try:
        return GraphImporter(export(model, args, dynamic)).run()
    finally:
        _CALL_SITE.reset(token)


# Where the user's code called the compiled model (or sparcc.compile): the
# place an error names when the graph's own frames are all inside torch layers.
_CALL_SITE: contextvars.ContextVar[str | None] = contextvars.ContextVar("sparcc_call_site", default=None)


def _caller() -> str | None:
    paths = sysconfig.get_paths()  # the stdlib, site-packages and entry scripts are nobody's model
    library = (os.path.dirname(torch.__file__), os.path.dirname(__file__), paths["stdlib"], paths["purelib"],
               paths["platlib"], paths["scripts"])
    frame = inspect.currentframe()
    while frame is not None:
        path = frame.f_code.co_filename
        if not path.startswith(library) and not path.startswith("<frozen"):
            return f"{path}:{frame.f_lineno}"
        frame = frame.f_back
    return None


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
    if not mine and modules:  # inside a torch.nn layer: name the layer, and the user's call
        qualname, cls = list(modules.values())[-1]
        cls = getattr(cls, "__name__", str(cls)).rsplit(".", 1)[-1]
        if cls != _FunctionModule.__name__:
            layer = f"layer '{qualname}' ({cls})" if qualname else f"the {cls} model"
            site = _CALL_SITE.get()
            return f"{layer}, called from {site} [{where}]" if site else f"{layer} [{where}]"
    return where


def _training_dropout(node: torch.fx.Node) -> bool:
    if node.op != "call_function" or node.target not in (aten.dropout.default, aten.native_dropout.default):
        return False
    args = dict(zip(("x", "p", "train"), node.args)) | node.kwargs
    return bool(args.get("train")) and args.get("p", 0.5) > 0


def training_mode_op(node: torch.fx.Node) -> str | None:
    """The name of a training-only computation `node` performs, if any."""
    if node.target is aten.batch_norm.default and len(node.args) > 5 and node.args[5]:
        # without running statistics it is a pure normalisation by the batch's
        # own statistics (BiT's weight standardisation calls it so in eval mode)
        if node.args[3] is not None or node.args[4] is not None:
            return "batch_norm"
    return None


class GraphImporter:
    def __init__(self, program: ExportedProgram):
        self.program = program
        self.values: dict[torch.fx.Node, Any] = {}
        self.weights: dict[str, torch.Tensor] = {}
        self.ops: dict[str, int] = {}
        self.node: torch.fx.Node | None = None
        self._where: tuple[torch.fx.Node | None, str] = (None, "")  # the current node's user_location
        self.symbols: dict[sympy.Symbol, sympy.Symbol] = {}  # torch's size symbols -> s0, s1, ...
        # what each SDPA mask computed from no input turned out to be (_constant_mask): a model's
        # layers share one mask node, which is evaluated once
        self.mask_kinds: dict[tuple[torch.fx.Node, int, int], str | None] = {}
        self.random = False  # an nn.random was emitted (`_random`)
        # constants built once and read wherever the same one is needed (_constant's key)
        self.constants: dict[Any, SSAValue] = {}

    # -- helpers used by handlers ---------------------------------------------

    def emit(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        if self.node is not None:  # the user's line, for a target's messages (xDSL ops have no locations; not in the IR text)
            if self._where[0] is not self.node:
                self._where = (self.node, user_location(self.node))
            try:
                op.source_location = self._where[1]
            except AttributeError:  # an op class without a __dict__
                pass
        return op.results[0]

    def meta_shape(self) -> tuple[nn.Dim, ...]:
        """The shape of the current node's (first) result."""
        assert self.node is not None
        val = self.node.meta["val"]
        return self.shape((val[0] if isinstance(val, (tuple, list)) else val).shape)

    def size(self, value: Any) -> nn.Dim:
        """A size of the exported graph (an int, or a torch SymInt) as an nn
        dim over the program's symbols s0, s1, ..."""
        if isinstance(value, torch.SymInt):
            expr = value.node.expr
            if expr.is_number:
                return int(expr)
            for sym in sorted(expr.free_symbols, key=str):
                if sym not in self.symbols:
                    raise SparccError(f"the size {expr} depends on data (symbol {sym}); sparcc compiles "
                                      "programs whose sizes follow from the input shapes")
            return nn.parse_dim(str(expr.xreplace(self.symbols)))
        return int(value)

    def shape(self, sizes: Sequence[Any]) -> tuple[nn.Dim, ...]:
        return tuple(self.size(d) for d in sizes)

    def spec(self, t: torch.Tensor) -> TensorSpec:
        return TensorSpec(self.shape(t.shape), t.dtype, sparse_format(t))

    def meta_dtype(self) -> torch.dtype:
        assert self.node is not None
        val = self.node.meta["val"]
        return (val[0] if isinstance(val, (tuple, list)) else val).dtype

    def out_type(self) -> Attribute:
        """The IR element type of the current node's (first) result."""
        return compute_type(self.meta_dtype())

    def scalar(self, value: float, like: SSAValue | Attribute) -> SSAValue:
        """A rank-0 constant of `like`'s element type (or of the type `like`)."""
        element = nn.elem(like) if isinstance(like, SSAValue) else like
        typ = TensorType(element, [])
        if isinstance(value, sympy.Expr) and not value.is_number:
            return self.to(self.size_value(value), element)
        if isinstance(element, IntegerType):
            value = int(value) if element.width.data > 1 else int(bool(value))
        else:
            value = float(value)
        return self.emit(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(typ, [value])))

    def size_value(self, size: sympy.Expr) -> SSAValue:
        """A symbolic size (s0 + 7) as a rank-0 i64 tensor, for a graph that
        computes with it (the position of a KV cache's next token): the sum
        of a vector of `size` ones, exact and linear in the size."""
        one = self.emit(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(TensorType(i64, []), [1])))
        ones = self.emit(nn.ExpandOp(one, (size,)))
        return self.emit(nn.SumOp(ones, [0]))

    def operand(self, value: Any, like: SSAValue | Attribute) -> SSAValue:
        """`value` (a tensor or a Python number) as a tensor of `like`'s element type."""
        element = nn.elem(like) if isinstance(like, SSAValue) else like
        return self.to(value, element) if isinstance(value, SSAValue) else self.scalar(value, element)

    def to(self, value: SSAValue, element: Attribute) -> SSAValue:
        return value if nn.elem(value) == element else self.emit(nn.CastOp(value, element))

    def promoted(self, count: int = 2) -> Attribute:
        """The element type PyTorch computes in for the node's first `count`
        arguments (torch.result_type, Python numbers included)."""
        assert self.node is not None
        acc: Any = None
        for a in self.node.args[:count]:
            v = a.meta.get("val") if isinstance(a, torch.fx.Node) else a
            if isinstance(v, torch.Tensor):
                v = torch.empty((1,) * v.dim(), dtype=v.dtype, device="meta")
            elif not isinstance(v, (bool, int, float)):
                continue
            if acc is None:
                acc = v
                continue
            if not isinstance(acc, torch.Tensor) and not isinstance(v, torch.Tensor):
                acc = torch.tensor(acc)
            rank = max(x.dim() for x in (acc, v) if isinstance(x, torch.Tensor))
            acc = torch.empty((1,) * rank, dtype=torch.result_type(acc, v), device="meta")
        if not isinstance(acc, torch.Tensor):
            return compute_type(torch.tensor(acc).dtype if acc is not None else torch.get_default_dtype())
        return compute_type(acc.dtype)

    def fail(self, why: str) -> SparccError:
        assert self.node is not None
        return UnsupportedOpError(f"{self.node.target} at {user_location(self.node)}: {why}")

    # -- the walk -------------------------------------------------------------

    def run(self) -> ImportedProgram:
        sig = self.program.graph_signature
        kinds = {spec.arg.name: spec for spec in sig.input_specs}
        graph = self.program.graph
        state = {**self.program.state_dict, **self.program.constants}

        user_inputs = []
        for node in graph.nodes:
            if node.op == "placeholder" and kinds[node.name].kind == InputKind.USER_INPUT:
                val = node.meta.get("val")
                if not isinstance(val, torch.Tensor):
                    raise SparccError(f"input '{node.name}': only tensor inputs are supported")
                user_inputs.append(val)
        # the size symbols, named s0, s1, ... in the order the inputs' dims bring them
        for val in user_inputs:
            for d in val.shape:
                if isinstance(d, torch.SymInt) and isinstance(d.node.expr, sympy.Symbol):
                    self.symbols.setdefault(d.node.expr, nn.size_symbol(f"s{len(self.symbols)}"))
        complex_inputs = [i for i, val in enumerate(user_inputs) if val.dtype in COMPLEX]
        inputs = [self.spec(_pairs_of(val) if val.dtype in COMPLEX else val) for val in user_inputs]
        arg_types = [tensor_type(s, f"input {i}") for i, s in enumerate(inputs)]
        self.block = Block(arg_types=arg_types)
        self.check_supported(graph)
        self.check_sizes(graph, inputs)

        # in-place updates of user inputs (a KV cache's index_copy_) are the
        # graph's leading outputs: the program returns them and the caller
        # writes them back; a model that updates its own buffers is refused
        input_index = {node.name: i for i, node in enumerate(
            n for n in graph.nodes if n.op == "placeholder" and kinds[n.name].kind == InputKind.USER_INPUT)}
        mutated: list[int] = []
        for out_spec in sig.output_specs:
            if out_spec.kind == OutputKind.USER_INPUT_MUTATION:
                mutated.append(input_index[out_spec.target])
            elif out_spec.kind == OutputKind.BUFFER_MUTATION:
                raise UnsupportedOpError(
                    f"the model updates its buffer '{out_spec.target}' in place; sparcc compiles models whose "
                    "buffers stay constant (pass the state as an input tensor instead: in-place updates of "
                    "inputs are written back)"
                )
        user_args = iter(zip(self.block.args, inputs))
        outputs: list[TensorSpec] = []
        results: list[SSAValue] = []
        complex_outputs: list[int] = []
        for node in graph.nodes:
            self.node = node
            if node.op == "placeholder":
                spec = kinds[node.name]
                if spec.kind == InputKind.USER_INPUT:
                    arg, arg_spec = next(user_args)
                    self.values[node] = arg if arg_spec.format else self.wrap(self.to(arg, compute_type(arg_spec.dtype)), arg_spec.dtype)
                else:
                    self.values[node] = self.weight(node, spec.target, state[spec.target])
            elif node.op == "call_function":
                self.values[node] = self.call(node)
            elif node.op == "output":
                for out in node.args[0]:
                    if not isinstance(out, torch.fx.Node) or not isinstance(self.values.get(out), SSAValue):
                        raise SparccError("the model must return tensors (or a tuple of tensors)")
                    val = out.meta["val"]
                    if isinstance(val, torch.Tensor) and val.dtype in COMPLEX:  # returned as pairs, viewed as complex
                        complex_outputs.append(len(outputs))
                        val = _pairs_of(val)
                    spec = self.spec(val)
                    if spec.dtype not in DTYPES:
                        raise self.fail(f"returns a tensor of dtype {spec.dtype}, which sparcc does not compile")
                    results.append(self.to(self.values[out], DTYPES[spec.dtype]))
                    outputs.append(spec)
            else:
                raise SparccError(f"unexpected FX node kind '{node.op}' ({node.name})")
        self.node = None

        self.block.add_op(func.ReturnOp(*results))
        fn = func.FuncOp(
            "forward",
            func.FunctionType.from_lists(arg_types, [r.type for r in results]),
            Region(self.block),
        )
        in_place = self.in_place(graph, sig)
        # result k (k < len(mutated)) is the new value of input mutated[k];
        # -1 where the input is read elsewhere too (lower-entry-abi may then
        # update the input's buffer where it lies)
        fn.attributes[nn.UPDATES_ATTR] = nn.i64_array([i if ok else -1 for i, ok in zip(mutated, in_place)])
        module = ModuleOp([fn])
        return ImportedProgram(
            module, self.weights, inputs, outputs, self.program.call_spec.out_spec, self.ops, self.ranges(), mutated,
            in_place, self.random, complex_inputs, complex_outputs,
        )

    @staticmethod
    def in_place(graph: torch.fx.Graph, sig: Any) -> list[bool]:
        """For each updated input, in output order: whether its only reader is
        the node that computes its new value."""
        out = next(n for n in graph.nodes if n.op == "output")
        placeholders = {n.name: n for n in graph.nodes if n.op == "placeholder"}
        flags = []
        for pos, spec in enumerate(sig.output_specs):
            if spec.kind == OutputKind.USER_INPUT_MUTATION:
                node, new = placeholders[spec.target], out.args[0][pos]
                flags.append(isinstance(new, torch.fx.Node) and set(node.users) == {new})
        return flags

    def ranges(self) -> dict[str, tuple[int, int | None]]:
        """Each size symbol's range, from torch.export's range constraints."""
        ranges = {}
        constraints = self.program.range_constraints
        for torch_sym, sym in self.symbols.items():
            vr = constraints.get(torch_sym)
            lo = _bound(vr.lower) if vr is not None else None
            hi = _bound(vr.upper) if vr is not None else None
            ranges[str(sym)] = (max(lo or 1, 1), hi)
        return ranges

    def check_sizes(self, graph: torch.fx.Graph, inputs: list[TensorSpec]) -> None:
        """Zero-size inputs and results are not compiled yet: one message."""
        for i, spec in enumerate(inputs):
            if any(isinstance(d, int) and d == 0 for d in spec.shape):
                raise SparccError(f"input {i} has zero elements (shape {list(spec.shape)}); "
                                  "sparcc does not compile zero-size tensors yet")
        out = next(n for n in graph.nodes if n.op == "output")
        for k, node in enumerate(out.args[0]):
            val = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
            if isinstance(val, torch.Tensor) and any(isinstance(d, int) and d == 0 for d in val.shape):
                raise SparccError(f"result {k} has zero elements (shape {list(val.shape)}, at "
                                  f"{user_location(node)}); sparcc does not compile zero-size tensors yet")

    def check_supported(self, graph: torch.fx.Graph) -> None:
        """One error that lists every op of the graph sparcc has no handler for
        (with its count and first place), before anything is built."""
        missing: dict[str, list[torch.fx.Node]] = {}
        for node in graph.nodes:
            if node.op == "call_function" and node.target in (aten._local_scalar_dense.default, aten.item.default):
                raise UnsupportedOpError(
                    f"the model reads a tensor's value as a Python number at {user_location(node)} (.item(), or a "
                    "tensor used as a size or in an `if`): sparcc compiles programs whose sizes and control flow "
                    "follow from the input shapes"
                )
            if node.op == "call_function" and _size_node(node):
                continue
            if node.op == "call_function" and _complex_node(node):  # a getitem of a complex handler's tuple too
                if node.target is not operator.getitem and node.target not in COMPLEX_HANDLERS:
                    missing.setdefault(f"{node.target} on complex tensors", []).append(node)
                continue
            if node.op == "call_function" and node.target is not operator.getitem and handler_of(node.target) is None:
                missing.setdefault(str(node.target), []).append(node)
            val = node.meta.get("val") if node.op == "call_function" else None
            for t in val if isinstance(val, (tuple, list)) else [val]:
                if isinstance(t, torch.Tensor) and t.dtype not in DTYPES:
                    missing.setdefault(f"{node.target} producing {t.dtype}", []).append(node)
        if not missing:
            return
        lines = [
            f"  {name} ({len(nodes)}x), first at {user_location(nodes[0])}" for name, nodes in missing.items()
        ]
        raise UnsupportedOpError(
            f"{len(missing)} unsupported operation{'s' if len(missing) > 1 else ''} in the model:\n"
            + "\n".join(lines)
            + "\n  sparcc cannot compile these yet. Rewrite those lines with supported ops "
            "(see README, 'Supported operations') or open an issue naming the ops."
        )

    def weight(self, node: torch.fx.Node, name: str, data: torch.Tensor) -> SSAValue:
        data = data.detach()
        if data.layout != torch.strided:
            return self.sparse_weight(name, data)
        if data.dtype in COMPLEX:  # held as (re, im) pairs, as frontend_complex computes with them
            data = torch.view_as_real(data.resolve_conj()).contiguous()
        if data.dtype not in DTYPES and node.users:
            user = next(iter(node.users))
            raise UnsupportedOpError(
                f"constant '{name}' of dtype {data.dtype}, used by {user.target} at "
                f"{user_location(user)}: sparcc does not compile {data.dtype} tensors"
            )
        if data.dtype in HALF:  # computed in float32 (see compute_type); the values are exact
            data = data.float()
        if data.dtype in UNSIGNED:  # computed in a wider signed type (see compute_type)
            data = data.to(TORCH_DTYPES[UNSIGNED[data.dtype][0]])
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
        if _size_node(node):  # size arithmetic: computed from the symbols where it is used
            return self.size(node.meta["val"])
        if target is operator.getitem:
            seq, idx = node.args
            return self.values[seq][idx]
        name = str(target)
        self.ops[name] = self.ops.get(name, 0) + 1
        args = [self.lookup(a) for a in node.args]
        kwargs = {k: self.lookup(v) for k, v in node.kwargs.items()}
        if target not in SPARSE_AWARE and any(_is_sparse(a) for a in [*args, *kwargs.values()]):
            raise self.fail(
                "takes a sparse tensor here; sparcc runs sparse tensors only as the left operand "
                "of mm/matmul/addmm/torch.sparse.mm (a sparse A in A @ X)"
            )
        complex_node = _complex_node(node)
        try:
            result = (COMPLEX_HANDLERS[target] if complex_node else handler_of(target))(self, *args, **kwargs)  # type: ignore[misc]
        except VerifyException as e:  # an nn shape rule refused what the handler built
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if self.symbols:
                raise DynamicShapeError(f"{target} at {user_location(node)} cannot take dynamic sizes: {why}") from None
            raise PipelineError(f"{target} at {user_location(node)}: the frontend built an invalid op ({why}); "
                                "a sparcc bug, please report it") from None
        val = node.meta.get("val")
        if complex_node:  # pairs as the handler built them; a real result in its type
            return self.finish(result, val.dtype, target) if isinstance(val, torch.Tensor) and not val.dtype.is_complex \
                and isinstance(result, SSAValue) else result
        if isinstance(val, torch.Tensor) and isinstance(result, SSAValue):
            return self.finish(result, val.dtype, target)
        if isinstance(val, (tuple, list)) and isinstance(result, (tuple, list)):
            return type(result)(
                self.finish(r, v.dtype, target) if isinstance(r, SSAValue) and isinstance(v, torch.Tensor) else r
                for r, v in zip(result, val)
            )
        return result

    def finish(self, value: SSAValue, dtype: torch.dtype, target: Any) -> SSAValue:
        """A handler's result in the IR type of the node's dtype; a float16 or
        bfloat16 result is rounded to its type (and kept in float32), an
        unsigned one wrapped to its width."""
        if _is_sparse(value):
            return value
        value = self.to(value, compute_type(dtype))
        if dtype in HALF and target not in EXACT:
            value = self.to(self.to(value, DTYPES[dtype]), f32)
        return value if target in MOVES else self.wrap(value, dtype)

    def wrap(self, value: SSAValue, dtype: torch.dtype) -> SSAValue:
        """An unsigned value, in its wider compute type, reduced to its width
        (x & mask); other dtypes as they are."""
        if dtype not in UNSIGNED:
            return value
        return self.emit(nn.AndOp(value, self.scalar(UNSIGNED[dtype][1], value)))

    def lookup(self, a: Any) -> Any:
        if isinstance(a, torch.fx.Node):
            return self.values[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.lookup(x) for x in a)
        return a


def _bound(value: Any) -> int | None:
    """A range bound of torch.export as an int; None for an infinite one."""
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None
    return n if abs(n) < 2**62 else None


def _size_node(node: torch.fx.Node) -> bool:
    """A node that computes a size (sym_size, and int arithmetic on sizes)."""
    return isinstance(node.meta.get("val"), torch.SymInt)


# ----------------------------------------------------------------------------
# handlers: one per ATen op (registration table, not an if-chain)
# ----------------------------------------------------------------------------

Handler = Callable[..., Any]
HANDLERS: dict[Any, Handler] = {}
# ops on complex tensors, which the frontend holds as real (re, im) pairs
# in a last dim of 2 (frontend_complex.py registers them)
COMPLEX_HANDLERS: dict[Any, Handler] = {}


# complex dtypes computed as real pairs (complex32 is not: it gets the dtype message)
COMPLEX = (torch.complex64, torch.complex128)


def _pairs_of(val: torch.Tensor) -> torch.Tensor:
    """A complex meta value's real pairs (torch.view_as_real's shape and dtype)."""
    if not all(isinstance(d, int) for d in val.shape):
        raise SparccError("complex inputs and results with dynamic sizes are not supported; export with static shapes")
    return torch.empty((*val.shape, 2), dtype=torch.float64 if val.dtype == torch.complex128 else torch.float32,
                       device="meta")


def _complex_node(node: torch.fx.Node) -> bool:
    """Whether a node reads or produces a complex tensor."""
    def complex_val(v: Any) -> bool:
        if isinstance(v, (tuple, list)):
            return any(complex_val(x) for x in v)
        return isinstance(v, torch.Tensor) and v.dtype in COMPLEX

    if complex_val(node.meta.get("val")):
        return True
    flat = [*node.args, *node.kwargs.values()]
    while flat:
        a = flat.pop()
        if isinstance(a, (tuple, list)):
            flat.extend(a)
        elif isinstance(a, torch.fx.Node) and complex_val(a.meta.get("val")):
            return True
    return False


# ops whose handlers take sparse operands themselves
SPARSE_AWARE = {aten.mm.default, aten.matmul.default, aten._sparse_mm.default, aten.addmm.default, aten._sparse_addmm.default}


def handles(*targets: Any) -> Callable[[Handler], Handler]:
    """Registers a handler for ATen ops, or for ops named by their string
    (`str(target)`) that come from libraries sparcc does not import."""

    def register(fn: Handler) -> Handler:
        for t in targets:
            HANDLERS[t] = fn
        return fn

    return register


def handler_of(target: Any) -> Handler | None:
    return HANDLERS.get(target) or HANDLERS.get(str(target))


def _identity(g: GraphImporter, x: SSAValue, *_: Any, **__: Any) -> SSAValue:
    return x


handles(aten.contiguous.default, aten.clone.default, aten.alias.default, aten.detach.default,
        aten.lift_fresh_copy.default)(_identity)


# dropout is the identity in inference; training mode was rejected by `training_mode_op`
handles(aten.dropout.default)(_identity)


# Elementwise ops compute in the node's result type (PyTorch's type promotion,
# read from the exported graph): operands are converted to it first.
UNARY_OPS: dict[Any, type[nn.UnaryOp]] = {
    aten.neg.default: nn.NegOp, aten.relu.default: nn.ReluOp, aten.silu.default: nn.SiluOp,
    aten.sigmoid.default: nn.SigmoidOp, aten.tanh.default: nn.TanhOp, aten.exp.default: nn.ExpOp,
    aten.log.default: nn.LogOp, aten.erf.default: nn.ErfOp, aten.special_erf.default: nn.ErfOp,
    aten.sqrt.default: nn.SqrtOp, aten.rsqrt.default: nn.RsqrtOp, aten.abs.default: nn.AbsOp,
    aten.sin.default: nn.SinOp, aten.cos.default: nn.CosOp, aten.tan.default: nn.TanOp,
    aten.atan.default: nn.AtanOp, aten.floor.default: nn.FloorOp, aten.ceil.default: nn.CeilOp,
    aten.round.default: nn.RoundOp, aten.trunc.default: nn.TruncOp, aten.sign.default: nn.SignOp,
    aten.sgn.default: nn.SignOp, aten.log1p.default: nn.Log1pOp, aten.expm1.default: nn.Expm1Op,
    aten.log2.default: nn.Log2Op, aten.bitwise_not.default: nn.NotOp,
    aten.asin.default: nn.AsinOp, aten.acos.default: nn.AcosOp, aten.sinh.default: nn.SinhOp,
    aten.cosh.default: nn.CoshOp, aten.asinh.default: nn.AsinhOp, aten.acosh.default: nn.AcoshOp,
    aten.atanh.default: nn.AtanhOp, aten.log10.default: nn.Log10Op, aten.erfc.default: nn.ErfcOp,
    aten.special_erfc.default: nn.ErfcOp, aten.exp2.default: nn.Exp2Op, aten.special_exp2.default: nn.Exp2Op,
}


def _unary(op: type[nn.UnaryOp]) -> Handler:
    def handler(g: GraphImporter, x: SSAValue) -> SSAValue:
        return g.emit(op(g.to(x, g.out_type())))

    return handler


for _target, _op in UNARY_OPS.items():
    HANDLERS[_target] = _unary(_op)


# PyTorch's special functions (nn.special); integer operands compute in the
# result type, as for the unary float ops above.
SPECIAL_OPS: dict[Any, str] = {
    aten.lgamma.default: "lgamma", aten.special_gammaln.default: "lgamma", aten.digamma.default: "digamma",
    aten.special_digamma.default: "digamma", aten.special_psi.default: "digamma",
    aten.erfinv.default: "erfinv", aten.special_erfinv.default: "erfinv",
    aten.i0.default: "i0", aten.special_i0.default: "i0", aten.special_i0e.default: "i0e",
    aten.special_i1.default: "i1", aten.special_i1e.default: "i1e", aten.special_ndtri.default: "ndtri",
    aten.special_erfcx.default: "erfcx", aten.special_zeta.default: "zeta", aten.special_zeta.self_scalar: "zeta",
    aten.special_zeta.other_scalar: "zeta",
    **{getattr(aten, f"special_{fn}").default: fn for fn in nn.SPECIAL_FUNCTIONS if "bessel" in fn},
    # the orthogonal polynomials of (x, n), either one may be a Python number
    **{getattr(getattr(aten, f"special_{fn}"), overload): fn
       for fn in nn.SPECIAL_FUNCTIONS if "_polynomial_" in fn for overload in ("default", "x_scalar", "n_scalar")},
}


def _special(fn: str) -> Handler:
    def handler(g: GraphImporter, *args: Any) -> SSAValue:
        typ = g.out_type()
        return g.emit(nn.SpecialOp(fn, [g.operand(a, typ) for a in args]))

    return handler


for _target, _fn in SPECIAL_OPS.items():
    HANDLERS[_target] = _special(_fn)


@handles(aten.nextafter.default)
def _nextafter(g: GraphImporter, a: SSAValue, b: SSAValue) -> SSAValue:
    """The neighbour in the tensor's own dtype: a float16/bfloat16 value,
    kept in float32 inside sparcc, steps in its own type."""
    typ, dtype = g.out_type(), g.meta_dtype()
    own = DTYPES[dtype]
    a, b = g.operand(a, own), g.operand(b, own)
    return g.to(g.emit(nn.SpecialOp("nextafter", [a, b])), typ)


@handles(aten.polygamma.default, aten.special_polygamma.default)
def _polygamma(g: GraphImporter, n: int, x: SSAValue) -> SSAValue:
    typ = g.out_type()
    return g.emit(nn.SpecialOp("polygamma", [g.scalar(n, typ), g.to(x, typ)]))


@handles(aten.frexp.Tensor)
def _frexp(g: GraphImporter, x: SSAValue) -> tuple:
    """(mantissa, exponent): x = mantissa * 2^exponent, 0.5 <= |mantissa| < 1."""
    return tuple(g.emit(nn.SpecialOp(fn, [x])) for fn in ("frexp_mantissa", "frexp_exponent"))


@handles(aten.gelu.default)
def _gelu(g: GraphImporter, x: SSAValue, approximate: str = "none") -> SSAValue:
    from xdsl.dialects.builtin import StringAttr

    return g.emit(nn.GeluOp(g.to(x, g.out_type()), {"approximate": StringAttr(approximate)}))


def _binary(op: type[nn.BinaryOp], reverse: bool = False) -> Handler:
    """a op alpha*b in the result type; `reverse` (rsub) computes b op alpha*a.
    Either side may be a Python number."""

    def handler(g: GraphImporter, a: Any, b: Any, alpha: float = 1) -> SSAValue:
        if reverse:
            a, b = b, a
        typ = g.out_type()
        a, b = g.operand(a, typ), g.operand(b, typ)
        if alpha != 1:
            b = g.emit(nn.MulOp(b, g.scalar(alpha, typ)))
        return g.emit(op(a, b))

    return handler


BINARY_OPS: dict[str, type[nn.BinaryOp]] = {
    "add": nn.AddOp, "sub": nn.SubOp, "mul": nn.MulOp, "maximum": nn.MaximumOp, "minimum": nn.MinimumOp,
    "fmod": nn.FmodOp, "remainder": nn.RemainderOp, "floor_divide": nn.FloorDivOp, "atan2": nn.Atan2Op,
    "bitwise_and": nn.AndOp, "bitwise_or": nn.OrOp, "bitwise_xor": nn.XorOp, "pow": nn.PowOp,
    "copysign": nn.CopysignOp, "fmax": nn.FmaxOp, "fmin": nn.FminOp, "hypot": nn.HypotOp,
}
for _name, _op in BINARY_OPS.items():
    for _overload in ("Tensor", "Scalar", "default", "Tensor_Tensor", "Scalar_Tensor"):
        if hasattr(getattr(aten, _name), _overload):
            HANDLERS[getattr(getattr(aten, _name), _overload)] = _binary(_op)
HANDLERS[aten.rsub.Scalar] = HANDLERS[aten.rsub.Tensor] = _binary(nn.SubOp, reverse=True)


@handles(aten.bitwise_left_shift.Tensor, aten.bitwise_left_shift.Tensor_Scalar, aten.bitwise_left_shift.Scalar_Tensor,
         aten.__lshift__.Scalar, aten.__lshift__.Tensor, aten.bitwise_right_shift.Tensor,
         aten.bitwise_right_shift.Tensor_Scalar, aten.bitwise_right_shift.Scalar_Tensor, aten.__rshift__.Scalar,
         aten.__rshift__.Tensor)
def _shift(g: GraphImporter, a: Any, b: Any) -> SSAValue:
    """PyTorch's shifts of a W-bit integer type: a left shift by an amount
    outside [0, W) is 0; a right shift by one outside [0, W - 1] (signed) or
    [0, W] (unsigned) shifts by that bound, filling with the sign. The nn
    ops take amounts in range only."""
    dtype, typ = g.meta_dtype(), g.out_type()
    if not isinstance(typ, IntegerType) or typ.width.data == 1:
        raise g.fail(f"shifts integer tensors; got {dtype}")
    a, b = g.operand(a, typ), g.operand(b, typ)
    width = dtype.itemsize * 8
    negative = g.emit(nn.CompareOp(b, g.scalar(0, typ), "lt"))
    if "left" in str(g.node.target) or "lshift" in str(g.node.target):  # type: ignore[union-attr]
        outside = g.emit(nn.OrOp(negative, g.emit(nn.CompareOp(b, g.scalar(width - 1, typ), "gt"))))
        shifted = g.emit(nn.ShlOp(a, g.emit(nn.WhereOp(outside, g.scalar(0, typ), b))))
        return g.emit(nn.WhereOp(outside, g.scalar(0, typ), shifted))
    bound = width if dtype in UNSIGNED else width - 1
    outside = g.emit(nn.OrOp(negative, g.emit(nn.CompareOp(b, g.scalar(bound, typ), "gt"))))
    return g.emit(nn.ShrOp(a, g.emit(nn.WhereOp(outside, g.scalar(bound, typ), b))))


@handles(aten.div.Tensor, aten.div.Scalar, aten.div.Tensor_mode, aten.div.Scalar_mode)
def _div(g: GraphImporter, a: Any, b: Any, rounding_mode: str | None = None) -> SSAValue:
    typ = g.out_type()
    op = {None: nn.DivOp, "trunc": nn.TruncDivOp, "floor": nn.FloorDivOp}[rounding_mode]
    return g.emit(op(g.operand(a, typ), g.operand(b, typ)))


@handles(aten.pow.Tensor_Scalar)
def _pow_scalar(g: GraphImporter, x: SSAValue, exponent: float) -> SSAValue:
    """x ** c; small integer and half-integer exponents as PyTorch computes
    them (products, sqrt, rsqrt), others through pow."""
    typ = g.out_type()
    x = g.to(x, typ)
    if exponent == 2:
        return g.emit(nn.MulOp(x, x))
    if exponent == 3:
        return g.emit(nn.MulOp(g.emit(nn.MulOp(x, x)), x))
    if exponent == 1:
        return x
    if exponent == 0.5 and not isinstance(typ, IntegerType):
        return g.emit(nn.SqrtOp(x))
    if exponent == -0.5 and not isinstance(typ, IntegerType):
        return g.emit(nn.RsqrtOp(x))
    if exponent == -1 and not isinstance(typ, IntegerType):
        return g.emit(nn.DivOp(g.scalar(1, typ), x))
    return g.emit(nn.PowOp(x, g.scalar(exponent, typ)))


@handles(aten.reciprocal.default)
def _reciprocal(g: GraphImporter, x: SSAValue) -> SSAValue:
    typ = g.out_type()
    return g.emit(nn.DivOp(g.scalar(1.0, typ), g.to(x, typ)))


def _compare(predicate: str) -> Handler:
    def handler(g: GraphImporter, a: Any, b: Any) -> SSAValue:
        typ = g.promoted(2)
        return g.emit(nn.CompareOp(g.operand(a, typ), g.operand(b, typ), predicate))

    return handler


for _name in nn.PREDICATES:
    for _overload in ("Tensor", "Scalar"):
        HANDLERS[getattr(getattr(aten, _name), _overload)] = _compare(_name)


def _logical(op: type[nn.BinaryOp]) -> Handler:
    def handler(g: GraphImporter, a: SSAValue, b: SSAValue) -> SSAValue:
        return g.emit(op(g.to(a, i1), g.to(b, i1)))

    return handler


HANDLERS[aten.logical_and.default] = _logical(nn.AndOp)
HANDLERS[aten.logical_or.default] = _logical(nn.OrOp)
HANDLERS[aten.logical_xor.default] = _logical(nn.XorOp)


@handles(aten.logical_not.default)
def _logical_not(g: GraphImporter, x: SSAValue) -> SSAValue:
    return g.emit(nn.NotOp(g.to(x, i1)))


@handles(aten.isnan.default)
def _isnan(g: GraphImporter, x: SSAValue) -> SSAValue:
    return g.emit(nn.CompareOp(x, x, "ne"))


@handles(aten.isinf.default)
def _isinf(g: GraphImporter, x: SSAValue) -> SSAValue:
    if isinstance(nn.elem(x), IntegerType):
        return g.emit(nn.CompareOp(x, x, "ne"))
    return g.emit(nn.CompareOp(g.emit(nn.AbsOp(x)), g.scalar(math.inf, x), "eq"))


@handles(aten.where.self)
def _where(g: GraphImporter, cond: SSAValue, a: Any, b: Any) -> SSAValue:
    typ = g.out_type()
    return g.emit(nn.WhereOp(g.to(cond, i1), g.operand(a, typ), g.operand(b, typ)))


@handles(aten.clamp.default, aten.clamp.Tensor, aten.clip.default)
def _clamp(g: GraphImporter, x: SSAValue, lo: Any = None, hi: Any = None) -> SSAValue:
    typ = g.out_type()
    x = g.to(x, typ)
    if lo is not None:
        x = g.emit(nn.MaximumOp(x, g.operand(lo, typ)))
    if hi is not None:
        x = g.emit(nn.MinimumOp(x, g.operand(hi, typ)))
    return x


@handles(aten.clamp_min.default, aten.clamp_min.Tensor)
def _clamp_min(g: GraphImporter, x: SSAValue, lo: Any) -> SSAValue:
    return _clamp(g, x, lo, None)


@handles(aten.clamp_max.default, aten.clamp_max.Tensor)
def _clamp_max(g: GraphImporter, x: SSAValue, hi: Any) -> SSAValue:
    return _clamp(g, x, None, hi)


@handles(aten._to_copy.default, aten.to.dtype, aten.type_as.default)
def _to_copy(g: GraphImporter, x: SSAValue, *_: Any, **__: Any) -> SSAValue:
    return g.to(x, g.out_type())


@handles(aten.copy.default)
def _copy(g: GraphImporter, dst: SSAValue, src: SSAValue, non_blocking: bool = False) -> SSAValue:
    """The functional copy_: `src` in dst's dtype, broadcast to dst's shape."""
    src = g.to(src, g.out_type())
    return src if nn.shape_of(src) == g.meta_shape() else g.emit(nn.ExpandOp(src, g.meta_shape()))


@handles(aten._assert_tensor_metadata.default, aten._assert_scalar.default, aten.sym_constrain_range_for_size.default)
def _assertion(g: GraphImporter, *_: Any, **__: Any) -> None:
    """Checks of the exported graph that hold for the signature compiled."""
    return None


def _full(g: GraphImporter, value: Any) -> SSAValue:
    typ = g.out_type()
    shape = g.meta_shape()
    scalar = g.scalar(value, typ)
    return scalar if not shape else g.emit(nn.ExpandOp(scalar, shape))


@handles(aten.full.default)
def _full_op(g: GraphImporter, size: Any, value: Any, **_: Any) -> SSAValue:
    return _full(g, value)


@handles(aten.full_like.default, aten.new_full.default)
def _full_like(g: GraphImporter, x: SSAValue, *args: Any, **kw: Any) -> SSAValue:
    value = args[-1] if aten.full_like.default is g.node.target else args[1]  # type: ignore[union-attr]
    return _full(g, kw.get("fill_value", value))


@handles(aten.scalar_tensor.default)
def _scalar_tensor(g: GraphImporter, value: Any, **_: Any) -> SSAValue:
    return _full(g, value)


@handles(aten.zeros.default, aten.zeros_like.default, aten.new_zeros.default, aten.empty.memory_format,
         aten.empty_like.default, aten.new_empty.default, aten.empty_strided.default, aten.new_empty_strided.default,
         aten.empty_permuted.default)
def _zeros(g: GraphImporter, *_: Any, **__: Any) -> SSAValue:
    """zeros; `empty` is zeros too (its contents are unspecified)."""
    return _full(g, 0)


@handles(aten.ones.default, aten.ones_like.default, aten.new_ones.default)
def _ones(g: GraphImporter, *_: Any, **__: Any) -> SSAValue:
    return _full(g, 1)


# -- random numbers -------------------------------------------------------------
# nn.random (counter-based, on the CPU) draws new numbers on every call; the
# JIT seeds each call from torch's generator, so torch.manual_seed repeats
# them. The same distributions as PyTorch, not the same numbers.


def _random(g: GraphImporter, kind: str, shape: Sequence[nn.Dim] | None = None, dtype: torch.dtype | None = None) -> SSAValue:
    """Numbers of `kind` (uniform in [0, 1), or normal) in the node's result
    shape and floating dtype (or `shape`, `dtype`)."""
    if g.node is not None and g.node.kwargs.get("generator") is not None:
        raise g.fail("a torch.Generator argument: sparcc draws from its own generator, seeded from torch's")
    dtype = dtype or g.meta_dtype()
    if not dtype.is_floating_point:
        dtype = torch.float64
    typ = compute_type(dtype)
    g.random = True
    u = g.emit(nn.RandomOp(kind, nn.tensor(g.meta_shape() if shape is None else shape, typ)))
    bits = {torch.float16: 11, torch.bfloat16: 8}.get(dtype)
    if bits and kind == "uniform":  # computed wider: k / 2^bits, which the half type holds exactly (never 1)
        steps = g.emit(nn.FloorOp(g.emit(nn.MulOp(u, g.scalar(2.0**bits, u)))))
        u = g.emit(nn.MulOp(steps, g.scalar(2.0**-bits, u)))
    return u


def _affine(g: GraphImporter, x: SSAValue, scale: float, shift: float) -> SSAValue:
    """x * scale + shift, in x's type."""
    return g.emit(nn.AddOp(g.emit(nn.MulOp(x, g.scalar(scale, x))), g.scalar(shift, x)))


@handles(aten.rand.default, aten.rand_like.default)
def _rand(g: GraphImporter, *_: Any, **__: Any) -> SSAValue:
    return _random(g, "uniform")


@handles(aten.randn.default, aten.randn_like.default)
def _randn(g: GraphImporter, *_: Any, **__: Any) -> SSAValue:
    return _random(g, "normal")


@handles(aten.uniform.default)
def _uniform(g: GraphImporter, x: SSAValue, low: float = 0.0, high: float = 1.0, **_: Any) -> SSAValue:
    if low > high:  # torch.export's meta kernel does not check it; eager does
        raise g.fail(f"uniform_ expects a [from, to) range, but found from={low} > to={high}")
    return _affine(g, _random(g, "uniform"), high - low, low)


@handles(aten.normal_functional.default)
def _normal_like(g: GraphImporter, x: SSAValue, mean: float = 0.0, std: float = 1.0, **_: Any) -> SSAValue:
    return _affine(g, _random(g, "normal"), std, mean)


@handles(aten.normal.Tensor_float, aten.normal.float_Tensor, aten.normal.Tensor_Tensor, aten.normal.float_float)
def _normal(g: GraphImporter, mean: Any, std: Any = 1.0, *_: Any, **__: Any) -> SSAValue:
    """mean + std * N(0, 1), each a tensor or a number, broadcast."""
    n = _random(g, "normal")
    return g.emit(nn.AddOp(g.emit(nn.MulOp(n, g.operand(std, n))), g.operand(mean, n)))


@handles(aten.exponential.default)
def _exponential(g: GraphImporter, x: SSAValue, lambd: float = 1.0, **_: Any) -> SSAValue:
    """-log(1 - u) / lambd: u in [0, 1), so 1 - u is never 0."""
    u = _random(g, "uniform")
    tail = g.emit(nn.Log1pOp(g.emit(nn.NegOp(u))))
    return g.emit(nn.DivOp(tail, g.scalar(-lambd, u)))


@handles(aten.bernoulli.default, aten.bernoulli.p)
def _bernoulli(g: GraphImporter, x: SSAValue, p: Any = None, **_: Any) -> SSAValue:
    """1 where u < p (p: the input's values, or the number p)."""
    u = _random(g, "uniform", dtype=torch.float64)
    chance = g.operand(x if p is None else p, u)
    return g.to(g.emit(nn.CompareOp(u, chance, "lt")), g.out_type())


def _integers(g: GraphImporter, low: Any, high: Any) -> SSAValue:
    """low + floor(u * (high - low)) in the node's dtype, from 53-bit u."""
    if high <= low:
        raise g.fail(f"random integers from {low} up to {high}: the range is empty")
    u = _random(g, "uniform", dtype=torch.float64)
    steps = g.emit(nn.FloorOp(g.emit(nn.MulOp(u, g.scalar(float(high - low), u)))))
    return g.to(g.emit(nn.AddOp(steps, g.scalar(float(low), u))), g.out_type())


@handles(aten.randint.default, aten.randint.low)
def _randint(g: GraphImporter, *args: Any, **kw: Any) -> SSAValue:
    low, high = (0, args[0]) if g.node.target is aten.randint.default else (args[0], args[1])  # type: ignore[union-attr]
    return _integers(g, low, high)


@handles(aten.randint_like.default, aten.randint_like.low_dtype)
def _randint_like(g: GraphImporter, x: SSAValue, *args: Any, **kw: Any) -> SSAValue:
    numbers = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    low, high = (0, numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])
    return _integers(g, low, high)


@handles(aten.randperm.default)
def _randperm(g: GraphImporter, n: Any, **_: Any) -> SSAValue:
    """The order that sorts n random 53-bit keys (a tie: probability about n^2 / 2^54)."""
    keys = _random(g, "uniform", dtype=torch.float64)
    return g.to(g.emit(nn.ArgsortOp(keys, 0, False)), g.out_type())


@handles(aten.cauchy.default)
def _cauchy(g: GraphImporter, x: SSAValue, median: float = 0.0, sigma: float = 1.0, **_: Any) -> SSAValue:
    """median + sigma * tan(pi * (u - 1/2)), the inverse of Cauchy's CDF."""
    u = _random(g, "uniform")
    angle = g.emit(nn.MulOp(g.emit(nn.SubOp(u, g.scalar(0.5, u))), g.scalar(math.pi, u)))
    return _affine(g, g.emit(nn.TanOp(angle)), sigma, median)


@handles(aten.log_normal.default)
def _log_normal(g: GraphImporter, x: SSAValue, mean: float = 1.0, std: float = 2.0, **_: Any) -> SSAValue:
    return g.emit(nn.ExpOp(_affine(g, _random(g, "normal"), std, mean)))


@handles(aten.geometric.default)
def _geometric(g: GraphImporter, x: SSAValue, p: float, **_: Any) -> SSAValue:
    """The number of Bernoulli(p) trials up to the first success:
    ceil(log(v) / log(1 - p)) for v = 1 - u in (0, 1], at least 1."""
    if not 0 < p < 1:
        raise g.fail(f"geometric distribution with p = {p}: PyTorch needs 0 < p < 1")
    v = g.emit(nn.SubOp(g.scalar(1.0, compute_type(torch.float64)), _random(g, "uniform", dtype=torch.float64)))
    trials = g.emit(nn.CeilOp(g.emit(nn.DivOp(g.emit(nn.LogOp(v)), g.scalar(math.log1p(-p), v)))))
    return g.to(g.emit(nn.MaximumOp(trials, g.scalar(1.0, v))), g.out_type())


def _dropped(g: GraphImporter, x: SSAValue, p: float) -> tuple[SSAValue, SSAValue]:
    """Training-mode dropout: (x * keep / (1 - p), keep), keep drawn with
    probability 1 - p for each element (PyTorch multiplies, so an infinite
    value that is dropped gives NaN, as in eager)."""
    shape = nn.shape_of(x)
    if p >= 1:
        return g.emit(nn.ExpandOp(g.scalar(0.0, x), shape)), g.emit(nn.ExpandOp(g.scalar(0, i1), shape))
    u = _random(g, "uniform", shape=shape, dtype=torch.float64)
    keep = g.emit(nn.CompareOp(u, g.scalar(p, u), "ge"))
    scaled = g.emit(nn.MulOp(g.emit(nn.MulOp(x, g.to(keep, nn.elem(x)))), g.scalar(1.0 / (1.0 - p), x)))
    return scaled, keep


@handles(aten.native_dropout.default)
def _native_dropout(g: GraphImporter, x: SSAValue, p: float, train: bool | None = None) -> tuple:
    if train and p > 0:
        if not g.meta_dtype().is_floating_point:
            raise g.fail(f"dropout of a {g.meta_dtype()} tensor: PyTorch drops only floating-point values")
        return _dropped(g, x, float(p))
    return x, g.emit(nn.ExpandOp(g.scalar(1, i1), nn.shape_of(x)))


@handles(aten.dropout.default)
def _dropout(g: GraphImporter, x: SSAValue, p: float = 0.5, train: bool = False) -> SSAValue:
    """Kept whole only where the graph is not decomposed (sparse inputs)."""
    return _dropped(g, x, float(p))[0] if train and p > 0 else x


@handles(aten.rrelu_with_noise_functional.default)
def _rrelu(g: GraphImporter, x: SSAValue, noise: SSAValue, lower: float = 1 / 8, upper: float = 1 / 3,
           training: bool = False, **_: Any) -> tuple:
    """Randomized leaky ReLU: in training, each value at most 0 is scaled by
    its own slope from U(lower, upper), which the noise result records (1
    elsewhere); in evaluation, leaky ReLU with slope (lower + upper) / 2 and
    the noise untouched."""
    x = g.to(x, g.out_type())
    positive = g.emit(nn.CompareOp(x, g.scalar(0, x), "gt"))
    if not training:
        slope = g.scalar((lower + upper) / 2, x)
        return g.emit(nn.WhereOp(positive, x, g.emit(nn.MulOp(x, slope)))), noise
    u = _random(g, "uniform", shape=nn.shape_of(x))
    slopes = g.emit(nn.WhereOp(positive, g.scalar(1.0, u), _affine(g, u, upper - lower, lower)))
    return g.emit(nn.MulOp(x, slopes)), g.to(slopes, nn.elem(noise))


@handles(aten.multinomial.default)
def _multinomial(g: GraphImporter, probs: SSAValue, n: int, replacement: bool = False, **_: Any) -> SSAValue:
    """n category indices per row of `probs` (weights, not necessarily
    normalised). Without replacement: the n largest of log(w) + Gumbel noise,
    which is sampling without replacement in proportion to the weights. With
    replacement: for each draw t = u * total, the number of entries of the
    running sum at most t. The weights' values are not checked (PyTorch
    raises for negative, infinite or all-zero rows)."""
    shape = nn.shape_of(probs)
    if len(shape) not in (1, 2):
        raise g.fail(f"multinomial of a {len(shape)}-d tensor: PyTorch takes a vector or a matrix of weights")
    count = shape[-1]
    if not isinstance(count, int):
        raise g.fail("multinomial over a dynamic number of categories is not supported")
    if not replacement and n > count:
        raise g.fail(f"{n} samples without replacement from {count} categories: at most {count}")
    f64 = compute_type(torch.float64)
    w = g.to(probs, f64)
    if not replacement:
        u = _random(g, "uniform", shape=shape, dtype=torch.float64)
        v = g.emit(nn.SubOp(g.scalar(1.0, u), u))  # (0, 1]
        gumbel = g.emit(nn.NegOp(g.emit(nn.LogOp(g.emit(nn.NegOp(g.emit(nn.LogOp(v))))))))
        keys = g.emit(nn.AddOp(g.emit(nn.LogOp(w)), gumbel))
        order = g.emit(nn.ArgsortOp(keys, len(shape) - 1, True))
        return g.emit(nn.SliceOp(order, len(shape) - 1, 0, n, 1))
    rows = tuple(shape[:-1])
    cdf = g.emit(nn.CumsumOp(w, len(shape) - 1))
    total = g.emit(nn.SliceOp(cdf, len(shape) - 1, count - 1, count, 1))  # [..., 1]
    u = _random(g, "uniform", shape=(*rows, n), dtype=torch.float64)
    t = g.emit(nn.ReshapeOp(g.emit(nn.MulOp(u, total)), (*rows, n, 1)))
    below = g.emit(nn.CompareOp(g.emit(nn.ReshapeOp(cdf, (*rows, 1, count))), t, "le"))
    index = g.emit(nn.SumOp(g.to(below, i64), [len(rows) + 1]))
    return g.emit(nn.MinimumOp(index, g.scalar(count - 1, i64)))


@handles(aten.arange.default, aten.arange.start, aten.arange.start_step)
def _arange(g: GraphImporter, *args: Any, **kw: Any) -> SSAValue:
    bounds = [a for a in args if not isinstance(a, (torch.dtype, torch.layout, torch.device)) and a is not None]
    start, step = (0, 1) if len(bounds) == 1 else (bounds[0], bounds[2] if len(bounds) > 2 else 1)
    if not isinstance(start, (int, float)) or not isinstance(step, (int, float)):
        raise g.fail(f"an arange whose start or step is a symbolic size ({start}, {step}) is not supported")
    n = g.meta_shape()[0]
    typ = g.out_type()
    if isinstance(typ, IntegerType) and typ.width.data > 1:
        # PyTorch converts start and step to the integer type's accumulate
        # type (int64) first: arange(-0.9, 2.1, 2.0, dtype=int8) is [0, 2]
        start, step = int(start), int(step)
    return g.emit(nn.ArangeOp(start, step, nn.tensor([n], typ)))


@handles(aten.linear.default)
def _linear(g: GraphImporter, x: SSAValue, w: SSAValue, b: SSAValue | None = None) -> SSAValue:
    if len(nn.shape_of(x)) == 1:  # a vector: one row
        y = g.emit(nn.LinearOp(g.emit(nn.ReshapeOp(x, (1, *nn.shape_of(x)))), w, b))
        return g.emit(nn.ReshapeOp(y, g.meta_shape()))
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


@handles(aten.addmm.default, aten._sparse_addmm.default)
def _addmm(g: GraphImporter, bias: SSAValue, a: SSAValue, b: SSAValue, beta: float = 1, alpha: float = 1) -> SSAValue:
    if _is_sparse(bias):
        raise g.fail("adds a sparse tensor; sparcc takes a dense bias in addmm")
    return _scaled_sum(g, _matmul(g, a, b), bias, beta, alpha)


def _scaled_sum(g: GraphImporter, y: SSAValue, bias: SSAValue, beta: float, alpha: float) -> SSAValue:
    """beta * bias + alpha * y, the tail of addmm, addmv, addbmm, baddbmm."""
    if alpha != 1:
        y = g.emit(nn.MulOp(y, g.scalar(alpha, y)))
    if beta == 0:  # PyTorch ignores the bias then, even inf/nan in it
        return y
    if beta != 1:
        bias = g.emit(nn.MulOp(bias, g.scalar(beta, bias)))
    return g.emit(nn.AddOp(y, bias))


def _dim_op(op: type[nn.DimOp]) -> Handler:
    def handler(g: GraphImporter, x: SSAValue, dim: int, *rest: Any, **kw: Any) -> SSAValue:
        # softmax(x, dim, dtype=torch.float64) converts x first, as PyTorch does
        return g.emit(op(g.to(x, g.out_type()), dim))

    return handler


HANDLERS[aten.softmax.int] = HANDLERS[aten._softmax.default] = _dim_op(nn.SoftmaxOp)
HANDLERS[aten.log_softmax.int] = HANDLERS[aten._log_softmax.default] = _dim_op(nn.LogSoftmaxOp)


def _reduction(op: type[nn.ReduceOp]) -> Handler:
    def handler(g: GraphImporter, x: SSAValue, dims: Any = None, keepdim: bool = False, dtype: Any = None) -> SSAValue:
        x = g.to(x, g.out_type())
        rank = len(nn.shape_of(x))
        if rank == 0:  # over a 0-d tensor (dim 0 or -1 allowed): the value itself
            return x
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
HANDLERS[aten.amin.default] = _reduction(nn.AminOp)
HANDLERS[aten.prod.dim_int] = HANDLERS[aten.prod.default] = _reduction(nn.ProdOp)


@handles(aten.any.default, aten.any.dim, aten.any.dims, aten.all.default, aten.all.dim, aten.all.dims)
def _any_all(g: GraphImporter, x: SSAValue, dims: Any = None, keepdim: bool = False) -> SSAValue:
    """any/all: max/min over the values as bools."""
    op = nn.AmaxOp if "any" in str(g.node.target) else nn.AminOp  # type: ignore[union-attr]
    rank = len(nn.shape_of(x))
    dims = list(range(rank)) if dims is None else [dims] if isinstance(dims, int) else list(dims)
    return g.emit(op(g.to(x, i1), dims or list(range(rank)), keepdim))


@handles(aten.argmax.default, aten.argmin.default)
def _argmax(g: GraphImporter, x: SSAValue, dim: int | None = None, keepdim: bool = False) -> SSAValue:
    largest = "argmax" in str(g.node.target)  # type: ignore[union-attr]
    if not nn.shape_of(x):
        return _full(g, 0)
    if dim is None:
        x = g.emit(nn.ReshapeOp(x, (math.prod(nn.shape_of(x)),)))
        y = g.emit(nn.ArgmaxOp(x, 0, False, largest))
        return g.emit(nn.ReshapeOp(y, g.meta_shape())) if keepdim else y
    return g.emit(nn.ArgmaxOp(x, dim, keepdim, largest))


@handles(aten.max.dim, aten.min.dim)
def _max_dim(g: GraphImporter, x: SSAValue, dim: int, keepdim: bool = False) -> tuple:
    largest = "max" in str(g.node.target)  # type: ignore[union-attr]
    if not nn.shape_of(x):  # a 0-d tensor is its own extreme, at index 0
        return (x, g.scalar(0, i64))
    values = g.emit((nn.AmaxOp if largest else nn.AminOp)(x, [dim], keepdim))
    return (values, g.emit(nn.ArgmaxOp(x, dim, keepdim, largest)))


@handles(aten.max.default, aten.min.default)
def _max_all(g: GraphImporter, x: SSAValue) -> SSAValue:
    op = nn.AmaxOp if "max" in str(g.node.target) else nn.AminOp  # type: ignore[union-attr]
    return g.emit(op(x, list(range(len(nn.shape_of(x)))), False))


@handles(aten.var.correction, aten.var.dim, aten.std.correction, aten.std.dim, aten.var_mean.correction)
def _var(g: GraphImporter, x: SSAValue, dims: Any = None, *rest: Any, correction: Any = None, keepdim: bool = False, **_: Any) -> Any:
    """var/std over `dims` with Bessel's correction (default 1)."""
    target = g.node.target  # type: ignore[union-attr]
    if rest and isinstance(rest[0], bool):  # var.dim(x, dims, unbiased, keepdim)
        correction = 1 if rest[0] else 0
        keepdim = rest[1] if len(rest) > 1 else keepdim
    correction = 1 if correction is None else correction
    rank = len(nn.shape_of(x))
    dims = list(range(rank)) if not dims else [dims] if isinstance(dims, int) else list(dims)
    n = math.prod(nn.shape_of(x)[d] for d in dims)
    mean = g.emit(nn.MeanOp(x, dims, True))
    centered = g.emit(nn.SubOp(x, mean))
    total = g.emit(nn.SumOp(g.emit(nn.MulOp(centered, centered)), dims, keepdim))
    var = g.emit(nn.DivOp(total, g.scalar(max(n - correction, 0), x)))
    if target in (aten.std.correction, aten.std.dim):
        return g.emit(nn.SqrtOp(var))
    if target is aten.var_mean.correction:
        return (var, mean if keepdim else g.emit(nn.ReshapeOp(mean, nn.shape_of(var))))
    return var


@handles(aten.linalg_vector_norm.default, aten.norm.ScalarOpt_dim)
def _vector_norm(g: GraphImporter, x: SSAValue, ord: float = 2, dims: Any = None, keepdim: bool = False, **_: Any) -> SSAValue:
    x = g.to(x, g.out_type())
    rank = len(nn.shape_of(x))
    dims = list(range(rank)) if not dims else [dims] if isinstance(dims, int) else list(dims)
    a = g.emit(nn.AbsOp(x))
    if ord == math.inf:
        return g.emit(nn.AmaxOp(a, dims, keepdim))
    if ord == -math.inf:
        return g.emit(nn.AminOp(a, dims, keepdim))
    if ord == 1:
        return g.emit(nn.SumOp(a, dims, keepdim))
    if ord == 2:
        return g.emit(nn.SqrtOp(g.emit(nn.SumOp(g.emit(nn.MulOp(x, x)), dims, keepdim))))
    if ord == 0:
        nonzero = g.to(g.emit(nn.CompareOp(a, g.scalar(0, a), "ne")), nn.elem(x))
        return g.emit(nn.SumOp(nonzero, dims, keepdim))
    powered = g.emit(nn.PowOp(a, g.scalar(ord, a)))
    return g.emit(nn.PowOp(g.emit(nn.SumOp(powered, dims, keepdim)), g.scalar(1 / ord, a)))


@handles(aten.cumsum.default)
def _cumsum(g: GraphImporter, x: SSAValue, dim: int, dtype: Any = None) -> SSAValue:
    x = g.to(x, g.out_type())
    if not nn.shape_of(x):
        return x
    return g.emit(nn.CumsumOp(x, dim))


@handles(aten.cumprod.default)
def _cumprod(g: GraphImporter, x: SSAValue, dim: int, dtype: Any = None) -> SSAValue:
    x = g.to(x, g.out_type())
    return x if not nn.shape_of(x) else g.emit(nn.CumprodOp(x, dim))


@handles(aten.logcumsumexp.default)
def _logcumsumexp(g: GraphImporter, x: SSAValue, dim: int) -> SSAValue:
    x = g.to(x, g.out_type())
    return x if not nn.shape_of(x) else g.emit(nn.LogcumsumexpOp(x, dim))


@handles(aten.cummax.default, aten.cummin.default)
def _cummax(g: GraphImporter, x: SSAValue, dim: int) -> tuple:
    """(running extreme, index of its last occurrence so far). PyTorch moves
    the index wherever x[j] >= the running max (<= for min) or is NaN, which
    is where x[j] equals the running value at j: the index is the running
    maximum of those positions."""
    shape = nn.shape_of(x)
    if not shape:
        return (x, g.scalar(0, i64))
    d = dim % len(shape)
    op = nn.CummaxOp if "cummax" in str(g.node.target) else nn.CumminOp  # type: ignore[union-attr]
    work = g.to(x, i64) if nn.elem(x) == i1 else x
    values = g.emit(op(work, d))
    here = g.emit(nn.CompareOp(work, values, "eq"))
    if not isinstance(nn.elem(x), IntegerType):
        here = g.emit(nn.OrOp(here, g.emit(nn.CompareOp(work, work, "ne"))))
    _static_dims(g, "cummax/cummin", shape[d])
    position = g.emit(nn.ArangeOp(0, 1, nn.tensor([shape[d]], i64)))
    position = g.emit(nn.ReshapeOp(position, tuple(shape[d] if k == d else 1 for k in range(len(shape)))))
    marks = g.emit(nn.WhereOp(here, position, g.scalar(-1, i64)))
    return (g.to(values, nn.elem(x)), g.emit(nn.CummaxOp(marks, d)))


@handles(aten.layer_norm.default)
def _layer_norm(g: GraphImporter, x, shape, w=None, b=None, eps=1e-5, cudnn_enable=True) -> SSAValue:
    return g.emit(nn.LayerNormOp(x, w, b, len(shape), eps))


@handles(aten.native_layer_norm.default)
def _native_layer_norm(g: GraphImporter, x, shape, w, b, eps) -> tuple:
    """(y, mean, rstd); mean and rstd, of shape [*leading, 1, ...], only where the graph reads them."""
    y = _layer_norm(g, x, shape, w, b, eps)
    node = g.node
    assert node is not None
    if not any(u.target is operator.getitem and u.args[1] in (1, 2) for u in node.users):
        return (y, None, None)
    rank = len(nn.shape_of(x))
    _, mean, _, rstd = _moments(g, x, range(rank - len(shape), rank), eps)
    stats = node.meta["val"][1].dtype
    return (y, g.to(mean, compute_type(stats)), g.to(rstd, compute_type(stats)))


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
    typ = g.out_type()
    xs = [g.to(x, typ) for x in xs if math.prod(nn.shape_of(x)) > 0]
    if not xs:
        return _full(g, 0)
    return g.emit(nn.ConcatOp(xs, dim))


def _clamp_slice(size: nn.Dim, start: nn.Dim | None, end: nn.Dim | None) -> tuple[nn.Dim, nn.Dim]:
    if not all(isinstance(v, int) for v in (size, start, end) if v is not None):
        return _clamp_symbolic(size, start, end)
    start = 0 if start is None else start
    end = size if end is None else end
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = min(max(start, 0), size)
    end = min(max(end, start), size)
    return start, end


def _clamp_symbolic(size: nn.Dim, start: nn.Dim | None, end: nn.Dim | None) -> tuple[nn.Dim, nn.Dim]:
    """_clamp_slice when a bound or the size is symbolic: negative numbers
    count from the end; symbolic bounds are sizes, never negative."""
    start = 0 if start is None else start
    end = size if end is None or (isinstance(end, int) and end >= 2**62) else end
    if isinstance(start, int) and start < 0:
        start = nn.dim(sympy.Max(start + size, 0))
    if isinstance(end, int) and end < 0:
        end = nn.dim(sympy.Max(end + size, 0))
    end = nn.dim(sympy.Min(end, size))
    start = nn.dim(sympy.Min(start, end))
    return start, end


@handles(aten.slice.Tensor)
def _slice(g: GraphImporter, x: SSAValue, dim: int = 0, start=None, end=None, step: int = 1) -> SSAValue:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    s, e = _clamp_slice(shape[d], start, end)
    if step == 1 and not (isinstance(s, int) and isinstance(e, int)):
        e = nn.dim(s + g.meta_shape()[d])  # torch's length knows the symbols' ranges (Min(128, s0) is s0)
    return g.emit(nn.SliceOp(x, d, s, e, step))


@handles(aten.narrow.default)
def _narrow(g: GraphImporter, x: SSAValue, dim: int, start: int, length: int) -> SSAValue:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    start = start + shape[d] if isinstance(start, int) and start < 0 else start
    return g.emit(nn.SliceOp(x, d, start, start + length, 1))


@handles(aten.select.int)
def _select(g: GraphImporter, x: SSAValue, dim: int, index: int) -> SSAValue:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    i = index + shape[d] if isinstance(index, int) and index < 0 else index
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
    if enable_gqa:  # each group of query heads shares one key/value head
        k, v = (_repeat_heads(g, t, nn.shape_of(q)[-3]) for t in (k, v))
    if attn_mask is not None and not is_causal:
        known = _constant_mask(g, nn.shape_of(q)[-2], nn.shape_of(k)[-2])
        if known is not None:  # computed from no input: no mask at all, or the causal one
            attn_mask, is_causal = None, known == "causal"
    if attn_mask is not None and nn.elem(attn_mask) == i1:  # True: may attend
        attn_mask = g.emit(nn.WhereOp(attn_mask, g.scalar(0.0, q), g.scalar(-math.inf, q)))
    elif attn_mask is not None:
        attn_mask = g.to(attn_mask, nn.elem(q))
    if scale is None:
        scale = 1.0 / math.sqrt(nn.shape_of(q)[-1])
    return g.emit(nn.SdpaOp(q, k, v, attn_mask, bool(is_causal), float(scale)))


def _constant_mask(g: GraphImporter, lq: Any, lk: Any) -> str | None:
    """What the current SDPA node's mask is when it is computed from no
    input, weight or buffer (only from aranges and comparisons, as Hugging
    Face models build theirs when traced): "causal" when it equals
    PyTorch's causal mask (key j allowed for query i when j <= i), "none"
    when it allows every key; None otherwise. Then the op takes is_causal or
    no mask instead, which fused attention turns into skipped blocks instead
    of a mask read for every score. Evaluated with PyTorch, once, at import;
    anything unexpected means None."""
    node = g.node
    if node is None or not isinstance(lq, int) or not isinstance(lk, int) or lq * lk > 1 << 24:
        return None
    mask = node.args[3] if len(node.args) > 3 else node.kwargs.get("attn_mask")
    if not isinstance(mask, torch.fx.Node):
        return None
    key = (mask, lq, lk)
    if key not in g.mask_kinds:
        g.mask_kinds[key] = _evaluated_mask_kind(mask, lq, lk)
    return g.mask_kinds[key]


def _evaluated_mask_kind(mask: torch.fx.Node, lq: int, lk: int) -> str | None:
    """_constant_mask's answer for one mask node."""
    needed, stack = set(), [mask]
    while stack:
        n = stack.pop()
        if n in needed:
            continue
        if n.op != "call_function" or len(needed) >= 256:
            return None  # an input, a weight or a constant feeds it (or too much to evaluate)
        needed.add(n)
        stack.extend(n.all_input_nodes)
    values: dict[torch.fx.Node, Any] = {}
    try:
        for n in mask.graph.nodes:
            if n in needed:
                args, kwargs = torch.fx.node.map_arg((n.args, n.kwargs), lambda a: values[a])
                values[n] = n.target(*args, **kwargs)
        value = values[mask]
        if not isinstance(value, torch.Tensor) or value.dtype not in (torch.bool, torch.float32, torch.float64):
            return None
        if value.dtype == torch.bool:
            value = torch.zeros(value.shape).masked_fill(~value, -math.inf)
        if bool((value == 0).all()):
            return "none"
        causal = torch.zeros(lq, lk).masked_fill(~torch.ones(lq, lk, dtype=torch.bool).tril(), -math.inf)
        if value.dim() >= 2 and tuple(value.shape[-2:]) == (lq, lk) and bool((value == causal).all()):
            return "causal"
        return None
    except Exception:  # noqa: BLE001 (an op that does not run eagerly here: keep the mask)
        return None


def _repeat_heads(g: GraphImporter, t: SSAValue, heads: int) -> SSAValue:
    *batch, kv, n, d = nn.shape_of(t)
    if kv == heads:
        return t
    t = g.emit(nn.ReshapeOp(t, (*batch, kv, 1, n, d)))
    t = g.emit(nn.ExpandOp(t, (*batch, kv, heads // kv, n, d)))
    return g.emit(nn.ReshapeOp(t, (*batch, heads, n, d)))


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


@handles(aten.conv2d.default)
def _conv2d(g: GraphImporter, x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> SSAValue:
    if len(nn.shape_of(x)) == 3:  # unbatched CHW: a batch of one
        y = _conv2d(g, g.emit(nn.ReshapeOp(x, (1, *nn.shape_of(x)))), w, b, stride, padding, dilation, groups)
        return g.emit(nn.ReshapeOp(y, nn.shape_of(y)[1:]))
    if len(nn.shape_of(x)) != 4:
        raise g.fail("only 3-d (CHW) and 4-d (NCHW) conv2d inputs are supported")
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
    if transposed:
        return _conv_transpose(g, x, w, b, stride, padding, dilation, output_padding, groups)
    if len(nn.shape_of(w)) == 3:  # conv1d as a conv2d of height 1
        if len(nn.shape_of(x)) == 2:  # unbatched CL
            x = g.emit(nn.ReshapeOp(x, (1, *nn.shape_of(x))))
        (n, c, length), (f, cg, k) = nn.shape_of(x), nn.shape_of(w)
        x = g.emit(nn.ReshapeOp(x, (n, c, 1, length)))
        w = g.emit(nn.ReshapeOp(w, (f, cg, 1, k)))
        one = lambda v: (1, v[0] if isinstance(v, (list, tuple)) else v)  # noqa: E731
        y = g.emit(nn.Conv2dOp(x, w, b, one(stride), (0, one(padding)[1]), one(dilation), groups))
        return g.emit(nn.ReshapeOp(y, g.meta_shape()))
    if len(nn.shape_of(w)) == 5:
        return _conv3d(g, x, w, b, stride, padding, dilation, groups)
    if len(nn.shape_of(w)) != 4:
        raise g.fail(f"only 1-d, 2-d and 3-d convolutions are supported, got a {len(nn.shape_of(w)) - 2}-d one")
    return _conv2d(g, x, w, b, stride, padding, dilation, groups)


def _triple(v: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(v, int):
        return (v, v, v)
    v = tuple(v)
    return (v[0],) * 3 if len(v) == 1 else (v[0], v[1], v[2])


def _time_slices(g: GraphImporter, x: SSAValue, k: int, stride: int, pad: int, dilation: int, out: int,
                 value: float = 0) -> list[SSAValue]:
    """The k slices of x's dim 2 (time) that a 3-d window of k taps reads:
    slice j holds tap j of each of the `out` windows (input position
    t*stride - pad + j*dilation, padded with `value` where it falls outside)."""
    size = nn.shape_of(x)[2]
    if not isinstance(size, int):
        raise g.fail("a 3-d convolution or pooling over a time dim of symbolic size is not supported")
    high = max(0, (out - 1) * stride + (k - 1) * dilation + 1 - pad - size)  # ceil_mode may read past the pad
    if pad or high:
        rank = len(nn.shape_of(x))
        x = g.emit(nn.PadOp(x, [0, 0, pad] + [0] * (rank - 3), [0, 0, high] + [0] * (rank - 3), value))
    return [g.emit(nn.SliceOp(x, 2, j * dilation, j * dilation + (out - 1) * stride + 1, stride)) for j in range(k)]


def _conv3d(g: GraphImporter, x, w, b, stride, padding, dilation, groups) -> SSAValue:
    """A 3-d convolution as one 2-d convolution: the kT time taps of each
    output frame sit next to the input channels (channel c*kT + tap, so each
    group's channels stay together), the output frames move into the batch,
    and the weight [O, C/g, kT, kh, kw] reads as [O, C/g*kT, kh, kw]."""
    if len(nn.shape_of(x)) == 4:  # unbatched CTHW: a batch of one
        y = _conv3d(g, g.emit(nn.ReshapeOp(x, (1, *nn.shape_of(x)))), w, b, stride, padding, dilation, groups)
        return g.emit(nn.ReshapeOp(y, nn.shape_of(y)[1:]))
    if len(nn.shape_of(x)) != 5:
        raise g.fail("only 4-d (CTHW) and 5-d (NCTHW) conv3d inputs are supported")
    if isinstance(padding, str):  # aten.convolution takes numbers; a string form here is 'valid' or odd 'same'
        padding = 0 if padding == "valid" else [d * (k - 1) // 2 for d, k in zip(_triple(dilation), nn.shape_of(w)[2:])]
    (n, c, t, h, wd), (o, cg, kt, kh, kw) = nn.shape_of(x), nn.shape_of(w)
    (st, *s2), (pt, *p2), (dt, *d2) = _triple(stride), _triple(padding), _triple(dilation)
    out = (t + 2 * pt - dt * (kt - 1) - 1) // st + 1
    if kt == 1 and st == 1 and pt == 0:
        taps = g.emit(nn.ReshapeOp(x, (n, c, 1, t, h, wd)))
    else:
        slices = _time_slices(g, x, kt, st, pt, dt, out)
        taps = g.emit(nn.ConcatOp([g.emit(nn.ReshapeOp(s, (n, c, 1, out, h, wd))) for s in slices], 2))
    frames = g.emit(nn.PermuteOp(taps, [0, 3, 1, 2, 4, 5]))  # [n, out, c, kt, h, w]
    frames = g.emit(nn.ReshapeOp(frames, (n * out, c * kt, h, wd)))
    w2 = g.emit(nn.ReshapeOp(w, (o, cg * kt, kh, kw)))
    y = g.emit(nn.Conv2dOp(frames, w2, b, tuple(s2), tuple(p2), tuple(d2), groups))
    oh, ow = nn.shape_of(y)[2:]
    y = g.emit(nn.ReshapeOp(y, (n, out, o, oh, ow)))
    return g.emit(nn.PermuteOp(y, [0, 2, 1, 3, 4]))


def _conv_transpose(g: GraphImporter, x, w, b, stride, padding, dilation, output_padding, groups) -> SSAValue:
    """A transposed convolution as stride-1 convolutions, one per output
    phase (sub-pixel): output row o = q*s + r takes the kernel taps t with
    (r + padding - t*dilation) divisible by s, so phase r is a convolution of
    the padded input with those taps of the flipped kernel (channel dims
    swapped per group), at dilation d/gcd(s, d); the phases interleave. No
    multiplication by inserted zeros (a stride-s zero-inserted input would
    cost s*s times more). 1-d runs as 2-d of height 1; 3-d phases are 3-d
    convolutions (_conv3d)."""
    rank = len(nn.shape_of(w))
    if rank not in (3, 4, 5):
        raise g.fail(f"only 1-d, 2-d and 3-d transposed convolutions are supported, got a {rank - 2}-d one")
    if len(nn.shape_of(x)) == rank - 1:  # unbatched
        y = _conv_transpose(g, g.emit(nn.ReshapeOp(x, (1, *nn.shape_of(x)))), w, b, stride, padding, dilation,
                            output_padding, groups)
        return g.emit(nn.ReshapeOp(y, nn.shape_of(y)[1:]))
    if rank == 3:  # 1-d: a 2-d one of height 1
        (n, c, length), (ci, co, k) = nn.shape_of(x), nn.shape_of(w)
        x = g.emit(nn.ReshapeOp(x, (n, c, 1, length)))
        w = g.emit(nn.ReshapeOp(w, (ci, co, 1, k)))
        one = lambda v, unit: (unit, v[0] if isinstance(v, (list, tuple)) else v)  # noqa: E731
        y = _conv_transpose(g, x, w, b, one(stride, 1), one(padding, 0), one(dilation, 1), one(output_padding, 0),
                            groups)
        return g.emit(nn.ReshapeOp(y, g.meta_shape()))
    spatial, per_dim = rank - 2, (_pair if rank == 4 else _triple)
    (n, c, *sizes), (ci, cog, *ks) = nn.shape_of(x), nn.shape_of(w)
    # [Cin, Cout/g, *k] -> [Cout, Cin/g, *k], flipped
    w = _flip(g, w, list(range(2, rank)))
    w = g.emit(nn.ReshapeOp(w, (groups, ci // groups, cog, *ks)))
    w = g.emit(nn.PermuteOp(w, [0, 2, 1, *range(3, rank + 1)]))
    w = g.emit(nn.ReshapeOp(w, (groups * cog, ci // groups, *ks)))
    axes = [_transposed_phases(*a) for a in zip(sizes, ks, per_dim(stride), per_dim(padding), per_dim(dilation),
                                                per_dim(output_padding))]
    qs, steps, outs = [a[0] for a in axes], [a[1] for a in axes], [a[2] for a in axes]
    cout = groups * cog
    phases = []
    for phase in itertools.product(*(a[3] for a in axes)):
        if any(p is None for p in phase):  # no tap, or only padding, reaches this phase: the bias alone
            zero = g.emit(nn.ExpandOp(g.scalar(0, x), (n, cout, *qs)))
            phases.append(zero if b is None else g.emit(nn.AddOp(zero, g.emit(nn.ReshapeOp(b, (cout,) + (1,) * spatial)))))
            continue
        sub, pads = w, []
        for d, (first, count, _, low, high, step) in enumerate(phase):
            sub = g.emit(nn.SliceOp(sub, 2 + d, first, first + (count - 1) * step + 1, step))
            pads = [low, high] + pads  # constant_pad_nd order: the last dim first
        xp = _constant_pad(g, x, pads)
        dilations = tuple(p[2] for p in phase)
        if spatial == 2:
            phases.append(g.emit(nn.Conv2dOp(xp, sub, b, (1, 1), (0, 0), dilations, groups)))
        else:
            phases.append(_conv3d(g, xp, sub, b, 1, 0, dilations, groups))
    if len(phases) == 1:
        y = phases[0]
    else:  # phase (r0, r1, ...) to positions r0::s0, r1::s1, ...: interleave the last dim first
        phases = [g.emit(nn.ReshapeOp(p, (n, cout, *[v for q in qs for v in (q, 1)]))) for p in phases]
        for d in reversed(range(spatial)):
            if steps[d] > 1:
                phases = [g.emit(nn.ConcatOp(phases[i:i + steps[d]], 3 + 2 * d))
                          for i in range(0, len(phases), steps[d])]
        y = g.emit(nn.ReshapeOp(phases[0], (n, cout, *[q * s for q, s in zip(qs, steps)])))
    for d, (q, s, out) in enumerate(zip(qs, steps, outs)):
        if q * s != out:
            y = g.emit(nn.SliceOp(y, 2 + d, 0, out, 1))
    return y


def _transposed_phases(size: int, k: int, s: int, p: int, d: int, op: int) -> tuple:
    """Along one axis of a transposed convolution: the length q of each output
    phase, the stride s, the output length, and per phase r < s either None
    (no tap) or (first tap in the flipped kernel, tap count, dilation, input
    pad before, pad after, tap step)."""
    out = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    q = -(-out // s)
    step = s // math.gcd(s, d)
    phases = []
    for r in range(s):
        taps = [t for t in range(k) if (r + p - t * d) % s == 0]
        first, last = ((r + p - taps[0] * d) // s, (r + p - taps[-1] * d) // s) if taps else (0, 0)  # input offsets
        if not taps or last > size - 1 or q - 1 + first < 0:  # reads padding only
            phases.append(None)
            continue
        phases.append((k - 1 - taps[-1], len(taps), d // math.gcd(s, d), -last, q - 1 + first - (size - 1), step))
    return q, s, out, phases


@handles(aten.max_pool2d.default)
def _max_pool2d(g: GraphImporter, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False) -> SSAValue:
    k = _pair(kernel)
    if _pair(dilation) != (1, 1):
        return _max_pool_windows(g, x, k, _pair(stride) if stride else k, _pair(padding), _pair(dilation), False)[0]
    return _pool(g, nn.MaxPool2dOp, x, k, _pair(stride) if stride else k, _pair(padding), ceil_mode, {})


def _max_pool_windows(g: GraphImporter, x: SSAValue, k, stride, padding, dilation, indices: bool) -> tuple:
    """max_pool2d/3d (len(k) spatial dims) as `_window_max`: output i of a
    dim reads input positions i*stride - padding + j*dilation; the output
    size is the graph's (ceil_mode included)."""
    if any(2 * p > kk for p, kk in zip(padding, k)):
        raise g.fail(f"pad should be at most half of effective kernel size, got padding {list(padding)} for kernel {list(k)}")
    outs = g.meta_shape()[-len(k):]
    windows = [(torch.arange(o) * s - p)[:, None] + torch.arange(kk)[None, :] * d
               for o, kk, s, p, d in zip(outs, k, stride, padding, dilation)]
    return _window_max(g, x, windows, indices)


def _adaptive_windows(size: int, out: int) -> torch.Tensor:
    """[out, K]: PyTorch's adaptive window i, [floor(i*size/out),
    ceil((i+1)*size/out)), padded to the longest one with `size` (outside)."""
    bounds = [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]
    longest = max(hi - lo for lo, hi in bounds)
    return torch.tensor([list(range(lo, hi)) + [size] * (longest - hi + lo) for lo, hi in bounds])


def _window_taps(g: GraphImporter, x: SSAValue, windows: Sequence[torch.Tensor], fill: float,
                 what: str) -> Iterator[tuple[tuple[int, ...], SSAValue]]:
    """The taps of windows over x's last len(windows) dims, in row-major
    order: windows[d] is [out, K], the input positions that each output
    reads along that dim; a position outside the input reads `fill` (a pad,
    or past the end of a shorter adaptive window). Tap (j0, j1, ...) is
    column j_d of each dim's windows: a strided slice of the padded input
    where the column steps evenly, else an index with constant positions
    (all inside the padded input); the taps share their prefixes."""
    shape = nn.shape_of(x)
    lead, sizes = len(shape) - len(windows), shape[len(shape) - len(windows):]
    _static_dims(g, what, *sizes)
    before = [max(0, -int(w.min())) for w in windows]
    after = [max(0, int(w.max()) + 1 - s) for w, s in zip(windows, sizes)]
    padded = g.emit(nn.PadOp(x, [0] * lead + before, [0] * lead + after, fill)) if any(before + after) else x

    def select(y: SSAValue, d: int, column: torch.Tensor) -> SSAValue:  # y[..., column, ...] along dim lead + d
        column = column + before[d]
        steps = column[1:] - column[:-1]
        if len(column) == 1 or (bool((steps == steps[0]).all()) and int(steps[0]) > 0):
            step = int(steps[0]) if len(column) > 1 else 1
            return g.emit(nn.SliceOp(y, lead + d, int(column[0]), int(column[-1]) + 1, step))
        return g.emit(nn.IndexOp(y, [_constant(g, "pool_index", column)], [lead + d], wrap=False))

    partial: dict[tuple[int, ...], SSAValue] = {(): padded}
    for tap in itertools.product(*(range(w.shape[1]) for w in windows)):
        for d in range(len(tap)):
            if tap[:d + 1] not in partial:
                partial[tap[:d + 1]] = select(partial[tap[:d]], d, windows[d][:, tap[d]])
        yield tap, partial[tap]


def _window_max(g: GraphImporter, x: SSAValue, windows: Sequence[torch.Tensor], indices: bool) -> tuple:
    """The max of x over windows (_window_taps) as PyTorch's CPU max pools
    scan a window: in row-major order, a tap replaces the running max where
    it is greater or NaN, starting from the lowest value at the window's
    first element inside the input; positions outside read the lowest
    value. With `indices`, the winner's flat index within the input's plane
    (volume), as max_unpool takes it."""
    shape = nn.shape_of(x)
    sizes = shape[len(shape) - len(windows):]
    low = -math.inf if not isinstance(nn.elem(x), IntegerType) else float(torch.iinfo(g.meta_dtype()).min)
    outs = [w.shape[0] for w in windows]
    strides = [math.prod(sizes[d + 1:]) for d in range(len(windows))]

    def flat(columns: Sequence[torch.Tensor]) -> torch.Tensor:  # [*outs]: sum of position * stride
        total = torch.zeros(outs, dtype=torch.int64)
        for d, c in enumerate(columns):
            total = total + (c * strides[d]).reshape([-1 if e == d else 1 for e in range(len(outs))])
        return total

    best = g.emit(nn.ExpandOp(g.scalar(low, x), (*shape[:len(shape) - len(windows)], *outs)))
    where = None
    if indices:  # the first element of each window inside the input, as PyTorch starts
        where = _constant(g, "pool_index", flat([torch.stack([r[(r >= 0) & (r < s)][0] for r in w])
                                                for w, s in zip(windows, sizes)]))
    for tap, value in _window_taps(g, x, windows, low, "max pooling with dilation or indices"):
        take = g.emit(nn.CompareOp(value, best, "gt"))
        if low == -math.inf:
            take = g.emit(nn.OrOp(take, g.emit(nn.CompareOp(value, value, "ne"))))
        best = g.emit(nn.WhereOp(take, value, best))
        if indices:
            at = flat([w[:, j] for w, j in zip(windows, tap)])
            where = g.emit(nn.WhereOp(take, _constant(g, "pool_index", at), where))
    return best, where


def _pool(g: GraphImporter, op: type[nn.Pool2dOp], x, k, stride, padding, ceil_mode, extra) -> SSAValue:
    from xdsl.dialects.builtin import BoolAttr

    shape = nn.shape_of(x)
    if len(shape) == 3:  # unbatched CHW
        y = _pool(g, op, g.emit(nn.ReshapeOp(x, (1, *shape))), k, stride, padding, ceil_mode, extra)
        return g.emit(nn.ReshapeOp(y, nn.shape_of(y)[1:]))
    if any(2 * p > kk for p, kk in zip(padding, k)):
        raise g.fail(f"pad should be at most half of effective kernel size, got padding {list(padding)} for kernel {list(k)}")
    return g.emit(op(x, k, stride, padding, {**extra, "ceil_mode": BoolAttr.from_bool(bool(ceil_mode))}))


@handles(aten.avg_pool2d.default)
def _avg_pool2d(g: GraphImporter, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None) -> SSAValue:
    from xdsl.dialects.builtin import BoolAttr

    k = _pair(kernel)
    if divisor_override is not None and isinstance(nn.elem(x), IntegerType):
        return _integer_avg_pool(g, x, k, _pair(stride) if stride else k, _pair(padding), count_include_pad,
                                 divisor_override)
    extra = {"count_include_pad": BoolAttr.from_bool(bool(count_include_pad))}
    y = _pool(g, nn.AvgPool2dOp, x, k, _pair(stride) if stride else k, _pair(padding), ceil_mode, extra)
    if divisor_override is None:
        return y
    # the window sums (the average times each window's own divisor), over the override
    if not count_include_pad:
        y = _pool(g, nn.AvgPool2dOp, x, k, _pair(stride) if stride else k, _pair(padding), ceil_mode,
                  {"count_include_pad": BoolAttr.from_bool(True)})
    (sh, sw), (ph, pw) = _pair(stride) if stride else k, _pair(padding)
    (h, w), (oh, ow) = nn.shape_of(x)[-2:], nn.shape_of(y)[-2:]
    rows = torch.tensor([min(i * sh - ph + k[0], h + ph) - (i * sh - ph) for i in range(oh)], dtype=torch.float64)
    cols = torch.tensor([min(j * sw - pw + k[1], w + pw) - (j * sw - pw) for j in range(ow)], dtype=torch.float64)
    factor = (rows[:, None] * cols[None, :]) / divisor_override  # in float64, rounded once to y's type
    sizes = _constant(g, "pool_divisor", factor.to(TORCH_DTYPES[nn.elem(y)]))
    return g.emit(nn.MulOp(y, sizes))


def _integer_avg_pool(g: GraphImporter, x: SSAValue, k, stride, padding, count_include_pad, divisor_override) -> SSAValue:
    """avg_pool2d/3d of an integer tensor as PyTorch's CPU kernel computes
    it: the window's sum in the integer type (one tap per window element,
    _window_taps, zero padding), divided once by the window's divisor,
    truncating. The divisor is divisor_override, or the product of the
    window's extents per dim, clipped to the padded input (count_include_pad)
    or to the input; the output size is the graph's (ceil_mode included)."""
    if any(2 * p > kk for p, kk in zip(padding, k)):
        raise g.fail(f"pad should be at most half of effective kernel size, got padding {list(padding)} for kernel {list(k)}")
    sizes, outs = nn.shape_of(x)[-len(k):], g.meta_shape()[-len(k):]
    windows = [(torch.arange(o) * s - p)[:, None] + torch.arange(kk)[None, :] for o, kk, s, p in zip(outs, k, stride, padding)]
    total = None
    for _, value in _window_taps(g, x, windows, 0, "avg_pool of an integer tensor"):
        total = value if total is None else g.emit(nn.AddOp(total, value))
    if divisor_override:
        return g.emit(nn.TruncDivOp(total, g.scalar(divisor_override, total)))
    divisor = torch.ones(outs, dtype=torch.int64)
    for d, (size, o, kk, s, p) in enumerate(zip(sizes, outs, k, stride, padding)):
        start = torch.arange(o) * s - p
        end = torch.clamp(start + kk, max=size + p)
        extent = end - start if count_include_pad else torch.clamp(end, max=size) - torch.clamp(start, min=0)
        divisor = divisor * extent.reshape([-1 if e == d else 1 for e in range(len(outs))])
    return g.emit(nn.TruncDivOp(total, g.to(_constant(g, "pool_divisor", divisor), nn.elem(total))))


# ----------------------------------------------------------------------------
# indexing, padding and scatters; constant helpers
# ----------------------------------------------------------------------------


def _constant(g: GraphImporter, hint: str, data: torch.Tensor | Callable[[], torch.Tensor], key: Any = None) -> SSAValue:
    """A tensor that sparcc computed at compile time (pooling matrices, index
    tables), kept in the weight store like a model buffer. With a `key`, one
    stored tensor (and one value of the program's single block) serves every
    call with that key, and `data` may be a function that builds it."""
    if key is not None and key in g.constants:
        return g.constants[key]
    data = data() if callable(data) else data
    name = f"_sparcc.{hint}.{len(g.weights)}"
    g.weights[name] = data.contiguous()
    value = g.emit(nn.WeightOp(name, tensor_type(TensorSpec.of(data), name)))
    if key is not None:
        g.constants[key] = value
    return value


@handles(aten.gather.default)
def _gather(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, sparse_grad: bool = False) -> SSAValue:
    if not nn.shape_of(x):  # a 0-d input: the result has the index's shape ([] or [1])
        x = g.emit(nn.ReshapeOp(x, (1,)))
        flat = g.emit(nn.ReshapeOp(index, (1,)))
        return g.emit(nn.ReshapeOp(g.emit(nn.GatherOp(x, flat, 0)), nn.shape_of(index)))
    return g.emit(nn.GatherOp(x, index, dim))


@handles(aten.index.Tensor, aten._unsafe_index.Tensor)
def _index(g: GraphImporter, x: SSAValue, indices: Sequence[Any]) -> SSAValue:
    dims = [d for d, i in enumerate(indices) if i is not None]
    tensors = [indices[d] for d in dims]
    if any(not isinstance(nn.elem(t), IntegerType) or nn.elem(t) == i1 for t in tensors):
        raise g.fail("indexes with a boolean mask (a data-dependent shape); use torch.where instead")
    return g.emit(nn.IndexOp(x, tensors, dims))


@handles(aten.index_select.default)
def _index_select(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue) -> SSAValue:
    if not nn.shape_of(x):
        return g.emit(nn.ReshapeOp(g.emit(nn.IndexOp(g.emit(nn.ReshapeOp(x, (1,))), [index], [0], wrap=False)), g.meta_shape()))
    rank = len(nn.shape_of(x))
    y = g.emit(nn.IndexOp(x, [index], [dim % rank], wrap=False))
    return y if nn.shape_of(y) == g.meta_shape() else g.emit(nn.ReshapeOp(y, g.meta_shape()))


@handles(aten.index_put.default, aten._unsafe_index_put.default)
def _index_put(g: GraphImporter, x: SSAValue, indices: Sequence[Any], values: SSAValue, accumulate: bool = False) -> SSAValue:
    """x[indices] = values (index_put_, and setitem with index tensors)."""
    values = g.to(values, nn.elem(x))
    dims = [d for d, i in enumerate(indices) if i is not None]
    tensors = [indices[d] for d in dims]
    if any(nn.elem(t) == i1 for t in tensors):
        return _masked_put(g, x, indices, values, accumulate)
    if any(not isinstance(nn.elem(t), IntegerType) for t in tensors):
        raise g.fail("indexes with non-integer tensors")
    return g.emit(nn.IndexPutOp(x, tensors, dims, values, bool(accumulate)))


@handles(aten.index_add.default)
def _index_add(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, source: SSAValue, alpha: float = 1) -> SSAValue:
    source = g.to(source, nn.elem(x))
    if alpha != 1:
        source = g.emit(nn.MulOp(source, g.scalar(alpha, source)))
    return _index_along(g, x, dim, index, source, accumulate=True)


@handles(aten.index_copy.default)
def _index_copy(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, source: SSAValue) -> SSAValue:
    return _index_along(g, x, dim, index, g.to(source, nn.elem(x)), accumulate=False)


def _index_along(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, source: SSAValue, accumulate: bool) -> SSAValue:
    """x with source's slices written (added) at `index` along `dim`; no negative indices."""
    shape = nn.shape_of(x)
    if not shape:  # a 0-d tensor: one element, index 0
        y = _index_along(g, g.emit(nn.ReshapeOp(x, (1,))), 0, index, g.emit(nn.ReshapeOp(source, (1,))), accumulate)
        return g.emit(nn.ReshapeOp(y, ()))
    d = dim % len(shape)
    index = g.emit(nn.ReshapeOp(index, (math.prod(nn.shape_of(index)),)))
    source = g.emit(nn.ReshapeOp(source, (*shape[:d], nn.shape_of(index)[0], *shape[d + 1 :])))
    return g.emit(nn.IndexPutOp(x, [index], [d], source, accumulate, wrap=False))


_SCATTER_REDUCE = {None: "none", "add": "sum", "multiply": "prod"}  # scatter's reduce= names


@handles(aten.scatter.src, aten.scatter.value, aten.scatter.reduce, aten.scatter.value_reduce)
def _scatter(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, src: Any, reduce: str | None = None) -> SSAValue:
    """x.scatter(dim, index, src or a number, reduce=None/'add'/'multiply')."""
    if reduce not in _SCATTER_REDUCE:
        raise g.fail(f"scatter with reduce='{reduce}': PyTorch takes 'add' or 'multiply'")
    if not isinstance(src, SSAValue):  # a number, as the input's dtype holds it, at every index position
        src = g.emit(nn.ExpandOp(g.scalar(torch.tensor(src, dtype=g.meta_dtype()).item(), x), nn.shape_of(index)))
    return _scatter_along(g, x, dim, index, src, _SCATTER_REDUCE[reduce], True)


@handles(aten.scatter_add.default)
def _scatter_add(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, src: SSAValue) -> SSAValue:
    return _scatter_along(g, x, dim, index, src, "sum", True)


@handles(aten.scatter_reduce.two)
def _scatter_reduce(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, src: SSAValue, reduce: str,
                    include_self: bool = True) -> SSAValue:
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise g.fail(f"scatter_reduce with reduce='{reduce}': PyTorch takes sum, prod, mean, amax or amin")
    return _scatter_along(g, x, dim, index, src, reduce, include_self)


@handles(aten.index_reduce.default)
def _index_reduce(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, source: SSAValue, reduce: str,
                  include_self: bool = True) -> SSAValue:
    """index_reduce as scatter_reduce: index[i] names slice i of source along
    `dim`, so the index broadcasts to source's shape."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise g.fail(f"index_reduce with reduce='{reduce}': PyTorch takes prod, mean, amax or amin")
    shape = nn.shape_of(x)
    if not shape:
        x, source = g.emit(nn.ReshapeOp(x, (1,))), g.emit(nn.ReshapeOp(source, (1,)))
    rank, d = max(len(shape), 1), dim % max(len(shape), 1)
    n = math.prod(nn.shape_of(index))
    index = g.emit(nn.ReshapeOp(index, tuple(n if k == d else 1 for k in range(rank))))
    index = g.emit(nn.ExpandOp(index, nn.shape_of(source)))
    y = _scatter_along(g, x, d, index, source, reduce, include_self, "in_self")
    return y if shape else g.emit(nn.ReshapeOp(y, ()))


def _scatter_along(g: GraphImporter, x: SSAValue, dim: int, index: SSAValue, src: SSAValue, reduce: str,
                   include_self: bool, error: str = "runtime") -> SSAValue:
    """nn.scatter, for the shapes PyTorch takes: an empty index changes
    nothing, and a 0-d input is one element."""
    src = g.to(src, nn.elem(x))
    if any(n == 0 for n in nn.shape_of(index)):
        return x
    if not nn.shape_of(x):
        one, index, src = (g.emit(nn.ReshapeOp(v, (math.prod(nn.shape_of(v)),))) for v in (x, index, src))
        return g.emit(nn.ReshapeOp(_scatter_along(g, one, 0, index, src, reduce, include_self, error), ()))
    shape, ishape, sshape = nn.shape_of(x), nn.shape_of(index), nn.shape_of(src)
    if len(ishape) != len(shape) or len(sshape) != len(shape):
        raise g.fail(f"an index {list(ishape)} and src {list(sshape)} of another rank than the input {list(shape)}")
    return g.emit(nn.ScatterOp(x, index, src, dim, reduce, include_self, error))


def _masked_put(g: GraphImporter, x: SSAValue, indices: Sequence[Any], values: SSAValue, accumulate: bool) -> SSAValue:
    """x[mask] = v for a v that is the same for every True element (one
    value per True element would be a data-dependent count): where(mask, v, x)."""
    shape = nn.shape_of(x)
    dims = [d for d, i in enumerate(indices) if i is not None]
    if len(dims) != 1:
        raise g.fail("indexes with a boolean mask together with other index tensors (a data-dependent shape)")
    d, mask = dims[0], indices[dims[0]]
    mshape = nn.shape_of(mask)
    lead, trail = shape[:d], shape[d + len(mshape):]
    if tuple(shape[d : d + len(mshape)]) != mshape:
        raise g.fail(f"the mask's shape {list(mshape)} does not match the indexed dims {list(shape[d : d + len(mshape)])}")
    vshape = nn.shape_of(values)
    vshape = (1,) * (len(lead) + 1 + len(trail) - len(vshape)) + vshape  # as it broadcasts to x[mask]
    if vshape[len(lead)] != 1:
        raise g.fail("assigns one value per True element of a boolean mask (a data-dependent count); "
                     "use torch.where(mask, values, x) with values of x's shape")
    v = g.emit(nn.ReshapeOp(values, (*vshape[: len(lead)], *(1,) * len(mshape), *vshape[len(lead) + 1 :])))
    m = g.emit(nn.ReshapeOp(mask, (*(1,) * len(lead), *mshape, *(1,) * len(trail))))
    new = g.emit(nn.AddOp(x, v)) if accumulate else v
    return g.emit(nn.WhereOp(m, new, x))


@handles(aten.sort.default, aten.sort.stable)
def _sort(g: GraphImporter, x: SSAValue, dim: int = -1, descending: bool = False, stable: bool | None = None) -> tuple:
    """A stable sort (nn.argsort) and the values it orders. PyTorch's order
    of equal values is the same for stable=True and for dims of up to 16
    elements; its unstable sort of longer dims may order them otherwise."""
    if not nn.shape_of(x):
        return (x, g.scalar(0, i64))
    d = dim % len(nn.shape_of(x))
    order = g.emit(nn.ArgsortOp(x, d, bool(descending)))
    return (g.emit(nn.GatherOp(x, order, d)), order)


@handles(aten.topk.default)
def _topk(g: GraphImporter, x: SSAValue, k: Any, dim: int = -1, largest: bool = True, sorted: bool = True) -> tuple:
    """The first k of a stable sort: equal values come in index order. (PyTorch's
    CPU topk orders equal values as its partial sort leaves them: the values
    agree, indices may differ among ties.)"""
    if not nn.shape_of(x):
        return (x, g.scalar(0, i64))
    d = dim % len(nn.shape_of(x))
    order = g.emit(nn.ArgsortOp(x, d, bool(largest)))
    top = g.emit(nn.SliceOp(order, d, 0, k, 1))
    return (g.emit(nn.GatherOp(x, top, d)), top)


@handles(aten.histc.default)
def _histc(g: GraphImporter, x: SSAValue, bins: int = 100, min: float = 0, max: float = 0) -> SSAValue:
    """torch.histc as PyTorch's CPU kernel computes it, in the input's dtype:
    bin trunc((v - lo) * bins / (hi - lo)), the last bin holding hi, values
    outside [lo, hi] and NaN dropped. min == max takes the range from the
    data (widened by 1 each way if that is one value too); where PyTorch
    raises for a data range that is not finite, every count is NaN. Counted
    by comparing every value with every bin (bins x elements)."""
    dtype = g.meta_dtype()
    if not dtype.is_floating_point:
        raise g.fail(f"histc of {dtype}: PyTorch's CPU kernel takes floating-point tensors")
    lo, hi = float(min), float(max)
    if lo != hi and not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise g.fail(f"histc: the range [{lo}, {hi}] is not finite, or max is not larger than min")

    def rounded(v: SSAValue) -> SSAValue:  # each step in the input's dtype, as the kernel computes
        return g.to(g.to(v, DTYPES[dtype]), f32) if dtype in HALF else v

    def const(v: float) -> SSAValue:  # a number as the input's dtype holds it
        return g.scalar(float(torch.tensor(v, dtype=dtype)), flat)

    n = math.prod(nn.shape_of(x))
    flat = g.emit(nn.ReshapeOp(x, (n,)))
    if lo != hi:
        left, right = const(lo), const(hi)
        width = const(float(torch.tensor(hi, dtype=dtype) - torch.tensor(lo, dtype=dtype)))
    else:
        left, right = g.emit(nn.AminOp(flat, [0], False)), g.emit(nn.AmaxOp(flat, [0], False))
        one = g.emit(nn.CompareOp(left, right, "eq"))
        left = g.emit(nn.WhereOp(one, rounded(g.emit(nn.SubOp(left, const(1)))), left))
        right = g.emit(nn.WhereOp(one, rounded(g.emit(nn.AddOp(right, const(1)))), right))
        width = rounded(g.emit(nn.SubOp(right, left)))
    inside = g.emit(nn.AndOp(g.emit(nn.CompareOp(flat, left, "ge")), g.emit(nn.CompareOp(flat, right, "le"))))
    pos = rounded(g.emit(nn.SubOp(flat, left)))
    pos = rounded(g.emit(nn.MulOp(pos, const(bins))))
    pos = rounded(g.emit(nn.DivOp(pos, width)))
    pos = g.emit(nn.WhereOp(inside, pos, g.scalar(0, flat)))  # no NaN or inf reaches the conversion
    which = g.emit(nn.MinimumOp(g.emit(nn.CastOp(pos, i64)), g.scalar(bins - 1, i64)))
    every = g.emit(nn.ReshapeOp(g.emit(nn.ArangeOp(0, 1, nn.tensor([bins], i64))), (bins, 1)))
    hit = g.emit(nn.CompareOp(g.emit(nn.ReshapeOp(which, (1, n))), every, "eq"))
    hit = g.emit(nn.AndOp(hit, g.emit(nn.ReshapeOp(inside, (1, n)))))
    counts = g.emit(nn.SumOp(g.emit(nn.CastOp(hit, nn.elem(flat))), [1], False))
    if lo != hi:
        return counts
    finite = [g.emit(nn.CompareOp(g.emit(nn.AbsOp(edge)), g.scalar(math.inf, flat), "lt")) for edge in (left, right)]
    return g.emit(nn.WhereOp(g.emit(nn.AndOp(*finite)), counts, g.scalar(math.nan, flat)))  # |NaN| < inf is false


@handles(aten._grouped_mm.default, "transformers.grouped_mm_fallback.default")
def _grouped_mm(g: GraphImporter, x: SSAValue, w: SSAValue, offs: SSAValue | None = None, bias: SSAValue | None = None,
                out_dtype: Any = None) -> SSAValue:
    """The grouped matmul of mixture-of-experts layers: row r of x [S, K]
    (rows sorted by group) times w[group of r] [E, K, N]; `offs` [E] holds
    each group's end, and rows past the last end are 0 (as transformers'
    grouped_mm_fallback; PyTorch leaves them undefined). Each row's matrix
    is gathered ([S, K, N]) for one batched matmul, as transformers'
    batched_mm experts compute it."""
    typ = g.out_type()
    x, w = g.to(x, typ), g.to(w, typ)
    sx, sw = nn.shape_of(x), nn.shape_of(w)
    if offs is None and len(sx) == 3 and len(sw) == 3:
        y = g.emit(nn.MatmulOp(x, w))
        return y if bias is None else g.emit(nn.AddOp(y, g.emit(nn.ReshapeOp(g.to(bias, typ), (sw[0], 1, sw[2])))))
    if offs is None or len(sx) != 2 or len(sw) != 3:
        raise g.fail(f"grouped_mm of {list(sx)} and {list(sw)}: sparcc takes a 2-d input grouped by offs "
                     "over 3-d weights, or two 3-d tensors")
    (rows, k), groups = sx, sw[0]
    ends = g.emit(nn.ReshapeOp(g.to(offs, i64), (1, groups)))
    row = g.emit(nn.ReshapeOp(g.emit(nn.ArangeOp(0, 1, nn.tensor([rows], i64))), (rows, 1)))
    group = g.emit(nn.SumOp(g.emit(nn.CastOp(g.emit(nn.CompareOp(row, ends, "ge")), i64)), [1], False))
    inside = g.emit(nn.CompareOp(group, g.scalar(groups, i64), "lt"))
    group = g.emit(nn.MinimumOp(group, g.scalar(groups - 1, i64)))
    picked = g.emit(nn.IndexOp(w, [group], [0]))
    y = g.emit(nn.MatmulOp(g.emit(nn.ReshapeOp(x, (rows, 1, k))), picked))
    y = g.emit(nn.ReshapeOp(y, (rows, sw[2])))
    if bias is not None:
        y = g.emit(nn.AddOp(y, g.emit(nn.IndexOp(g.to(bias, typ), [group], [0]))))
    return g.emit(nn.WhereOp(g.emit(nn.ReshapeOp(inside, (rows, 1))), y, g.scalar(0, y)))


@handles(aten.as_strided.default)
def _as_strided(g: GraphImporter, x: SSAValue, size: Sequence[int], stride: Sequence[int], offset: int | None = None) -> SSAValue:
    """A strided view of the (contiguous) input: its elements picked through a
    table of flat positions computed at compile time."""
    flat = g.emit(nn.ReshapeOp(x, (math.prod(nn.shape_of(x)),)))
    positions = torch.zeros(tuple(size), dtype=torch.int64) + (offset or 0)
    for d, (n, st) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = n
        positions = positions + (torch.arange(n) * st).reshape(shape)
    if not size:
        return g.emit(nn.ReshapeOp(g.emit(nn.SliceOp(flat, 0, offset or 0, (offset or 0) + 1, 1)), ()))
    return g.emit(nn.IndexOp(flat, [_constant(g, "as_strided", positions)], [0]))


@handles(aten.flip.default)
def _flip(g: GraphImporter, x: SSAValue, dims: Sequence[int]) -> SSAValue:
    shape = nn.shape_of(x)
    for d in sorted(d % len(shape) for d in dims):
        table = _constant(g, "flip", torch.arange(shape[d] - 1, -1, -1))
        x = g.emit(nn.IndexOp(x, [table], [d]))
    return x


@handles(aten.constant_pad_nd.default)
def _constant_pad(g: GraphImporter, x: SSAValue, pad: Sequence[int], value: float = 0) -> SSAValue:
    """pad lists (before, after) pairs from the last dim backwards; negative
    pads crop."""
    shape = nn.shape_of(x)
    rank = len(shape)
    low, high = [0] * rank, [0] * rank
    for k in range(len(pad) // 2):
        low[rank - 1 - k], high[rank - 1 - k] = pad[2 * k], pad[2 * k + 1]
    for d in range(rank):
        if low[d] < 0 or high[d] < 0:
            size = nn.shape_of(x)[d]
            x = g.emit(nn.SliceOp(x, d, max(-low[d], 0), size - max(-high[d], 0), 1))
    return g.emit(nn.PadOp(x, [max(v, 0) for v in low], [max(v, 0) for v in high], value))


@handles(aten.slice_scatter.default)
def _slice_scatter(g: GraphImporter, x: SSAValue, src: SSAValue, dim: int = 0, start=None, end=None, step: int = 1) -> SSAValue:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    s, e = _clamp_slice(shape[d], start, end)
    return g.emit(nn.SliceScatterOp(x, g.to(src, nn.elem(x)), d, s, e, step))


@handles(aten.select_scatter.default)
def _select_scatter(g: GraphImporter, x: SSAValue, src: SSAValue, dim: int, index: int) -> SSAValue:
    shape = nn.shape_of(x)
    d = dim % len(shape)
    i = index % shape[d]
    src = g.emit(nn.ReshapeOp(g.to(src, nn.elem(x)), (*shape[:d], 1, *shape[d + 1 :])))
    return g.emit(nn.SliceScatterOp(x, src, d, i, i + 1, 1))


@handles(aten.max_pool2d_with_indices.default)
def _max_pool2d_with_indices(g: GraphImporter, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False) -> tuple:
    uses = [u for u in g.node.users if u.target is operator.getitem and u.args[1] == 1 and u.users]  # type: ignore[union-attr]
    if uses:  # max_unpool2d, or the indices returned
        k = _pair(kernel)
        return _max_pool_windows(g, x, k, _pair(stride) if stride else k, _pair(padding), _pair(dilation), True)
    return (_max_pool2d(g, x, kernel, stride, padding, dilation, ceil_mode), None)


def _adaptive_matrix(size: int, out: int) -> torch.Tensor:
    """[out, size]: row i averages PyTorch's adaptive window i (in float64;
    _separable rounds it to the input's dtype once)."""
    m = torch.zeros(out, size, dtype=torch.float64)
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def _separable(g: GraphImporter, x: SSAValue, rows: torch.Tensor, cols: torch.Tensor, hint: str) -> SSAValue:
    """y[n, c] = rows @ x[n, c] @ cols^T for an NCHW x: pooling and resizing
    as two small matmuls with matrices computed at compile time."""
    dtype = TORCH_DTYPES[nn.elem(x)]
    y = g.emit(nn.MatmulOp(x, _constant(g, hint, cols.t().to(dtype))))  # [n, c, h, ow]
    y = g.emit(nn.PermuteOp(y, [0, 1, 3, 2]))  # [n, c, ow, h]
    y = g.emit(nn.MatmulOp(y, _constant(g, hint, rows.t().to(dtype))))  # [n, c, ow, oh]
    return g.emit(nn.PermuteOp(y, [0, 1, 3, 2]))


@handles(aten._adaptive_avg_pool2d.default, aten.adaptive_avg_pool2d.default)
def _adaptive_avg_pool2d(g: GraphImporter, x: SSAValue, output_size: Sequence[int]) -> SSAValue:
    shape = nn.shape_of(x)
    if len(shape) == 3:
        y = _adaptive_avg_pool2d(g, g.emit(nn.ReshapeOp(x, (1, *shape))), output_size)
        return g.emit(nn.ReshapeOp(y, g.meta_shape()))
    h, w = shape[2:]
    oh, ow = g.meta_shape()[-2:]
    if h % oh == 0 and w % ow == 0:
        if (oh, ow) == (1, 1):
            return g.emit(nn.MeanOp(x, [2, 3], True))
        k = (h // oh, w // ow)
        return g.emit(nn.AvgPool2dOp(x, k, k, (0, 0)))
    return _separable(g, x, _adaptive_matrix(h, oh), _adaptive_matrix(w, ow), "adaptive_pool")


def _pool3d(g: GraphImporter, x: SSAValue, kernel, stride, padding, reduce: str,
            pool2d: Callable[[SSAValue, tuple, tuple, tuple], SSAValue]) -> SSAValue:
    """3-d pooling: `pool2d` (input, kernel, stride, padding) pools each frame
    over H and W, then the kT time taps of the pooled frames are combined
    elementwise (`reduce`: max, or sum)."""
    shape = nn.shape_of(x)
    if len(shape) == 4:  # unbatched CTHW
        y = _pool3d(g, g.emit(nn.ReshapeOp(x, (1, *shape))), kernel, stride, padding, reduce, pool2d)
        return g.emit(nn.ReshapeOp(y, nn.shape_of(y)[1:]))
    if len(shape) != 5:
        raise g.fail(f"only 4-d (CTHW) and 5-d (NCTHW) pooling inputs are supported, got {len(shape)}-d")
    k = _triple(kernel)
    s, p = (_triple(stride) if stride else k), _triple(padding)
    if 2 * p[0] > k[0]:
        raise g.fail(f"pad should be at most half of effective kernel size, got padding {list(p)} for kernel {list(k)}")
    n, c, t, h, w = shape
    frames = pool2d(g.emit(nn.ReshapeOp(x, (n, c * t, h, w))), k[1:], s[1:], p[1:])
    oh, ow = nn.shape_of(frames)[2:]
    out = g.meta_shape()[-3]
    taps = _time_slices(g, g.emit(nn.ReshapeOp(frames, (n, c, t, oh, ow))), k[0], s[0], p[0], 1, out,
                        -math.inf if reduce == "max" else 0)
    y = taps[0]
    for tap in taps[1:]:
        y = g.emit((nn.MaximumOp if reduce == "max" else nn.AddOp)(y, tap))
    return y


@handles(aten.max_pool3d_with_indices.default)
def _max_pool3d_with_indices(g: GraphImporter, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False) -> tuple:
    """Frames pooled in 2-d then time taps combined (_pool3d); with dilation
    or with the indices used, one tap per window element (_window_max)."""
    uses = [u for u in g.node.users if u.target is operator.getitem and u.args[1] == 1 and u.users]  # type: ignore[union-attr]
    if uses or _triple(dilation) != (1, 1, 1):
        if len(nn.shape_of(x)) not in (4, 5):
            raise g.fail(f"only 4-d (CTHW) and 5-d (NCTHW) pooling inputs are supported, got {len(nn.shape_of(x))}-d")
        k = _triple(kernel)
        best, where = _max_pool_windows(g, x, k, _triple(stride) if stride else k, _triple(padding), _triple(dilation),
                                        bool(uses))
        return (best, where)
    return (_pool3d(g, x, kernel, stride, padding, "max",
                    lambda y, k, s, p: _pool(g, nn.MaxPool2dOp, y, k, s, p, ceil_mode, {})), None)


@handles(aten.avg_pool3d.default)
def _avg_pool3d(g: GraphImporter, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None) -> SSAValue:
    """The frames' 2-d averages (or sums over divisor_override), summed over
    the time taps and divided by each output frame's time divisor: PyTorch's
    divisor is the product of the window's per-dim extents (clipped to the
    padded or, without count_include_pad, the real input)."""
    if isinstance(nn.elem(x), IntegerType):  # PyTorch truncates the whole window's sum once: not separable
        if len(nn.shape_of(x)) not in (4, 5):
            raise g.fail(f"only 4-d (CTHW) and 5-d (NCTHW) pooling inputs are supported, got {len(nn.shape_of(x))}-d")
        k = _triple(kernel)
        return _integer_avg_pool(g, x, k, _triple(stride) if stride else k, _triple(padding), count_include_pad,
                                 divisor_override)
    y = _pool3d(g, x, kernel, stride, padding, "sum",
                lambda y, k, s, p: _avg_pool2d(g, y, k, s, p, ceil_mode, count_include_pad, divisor_override))
    if divisor_override:  # the 2-d pooling divided the frames' sums by it
        return y
    k, p = _triple(kernel)[0], _triple(padding)[0]
    s, t, out = (_triple(stride)[0] if stride else k), nn.shape_of(x)[-3], g.meta_shape()[-3]
    starts = [i * s - p for i in range(out)]
    if count_include_pad:
        sizes = [min(a + k, t + p) - a for a in starts]
    else:
        sizes = [min(a + k, t) - max(a, 0) for a in starts]
    if all(v == 1 for v in sizes):
        return y
    if len(set(sizes)) == 1:
        return g.emit(nn.DivOp(y, g.scalar(sizes[0], y)))
    divisor = _constant(g, "pool_divisor", torch.tensor(sizes, dtype=TORCH_DTYPES[nn.elem(y)]).reshape(out, 1, 1))
    return g.emit(nn.DivOp(y, divisor))


@handles(aten._adaptive_avg_pool3d.default, aten.adaptive_avg_pool3d.default)
def _adaptive_avg_pool3d(g: GraphImporter, x: SSAValue, output_size: Sequence[int]) -> SSAValue:
    """The frames' adaptive 2-d average, then PyTorch's adaptive windows over
    time: a mean when the sizes divide, else a [T, T_out] averaging matmul."""
    shape = nn.shape_of(x)
    if len(shape) == 4:
        x = g.emit(nn.ReshapeOp(x, (1, *shape)))
    elif len(shape) != 5:
        raise g.fail(f"only 4-d (CTHW) and 5-d (NCTHW) inputs are supported, got {len(shape)}-d")
    n, c, t, h, w = nn.shape_of(x)
    ot, oh, ow = g.meta_shape()[-3:]
    y = _adaptive_avg_pool2d(g, g.emit(nn.ReshapeOp(x, (n, c * t, h, w))), (oh, ow))
    y = g.emit(nn.ReshapeOp(y, (n, c, t, oh * ow)))
    if t % ot == 0:
        y = g.emit(nn.MeanOp(g.emit(nn.ReshapeOp(y, (n, c, ot, t // ot, oh * ow))), [3], False))
    else:
        y = g.emit(nn.PermuteOp(y, [0, 1, 3, 2]))  # [n, c, oh*ow, t]
        matrix = _constant(g, "adaptive_pool", _adaptive_matrix(t, ot).t().to(TORCH_DTYPES[nn.elem(y)]))
        y = g.emit(nn.PermuteOp(g.emit(nn.MatmulOp(y, matrix)), [0, 1, 3, 2]))
    return g.emit(nn.ReshapeOp(y, g.meta_shape()))


def _resize_matrix(size: int, out: int, mode: str, align_corners: bool | None, scale: float | None) -> torch.Tensor:
    """[out, size] interpolation weights of PyTorch's nearest / (bi)linear resize along one dim."""
    m = torch.zeros(out, size, dtype=torch.float64)
    ratio = (size / out) if scale is None else 1.0 / scale
    for i in range(out):
        if mode == "nearest":
            m[i, min(int(math.floor(i * ratio)), size - 1)] = 1.0
            continue
        if align_corners:
            src = i * (size - 1) / (out - 1) if out > 1 else 0.0
        else:
            src = max((i + 0.5) * ratio - 0.5, 0.0)
        lo = min(int(math.floor(src)), size - 1)
        hi = min(lo + 1, size - 1)
        frac = src - lo
        m[i, lo] += 1.0 - frac
        m[i, hi] += frac
    return m


@handles(aten.upsample_bilinear2d.vec, aten.upsample_nearest2d.vec, aten.upsample_bilinear2d.default,
         aten.upsample_nearest2d.default)
def _upsample(g: GraphImporter, x: SSAValue, output_size: Any, *rest: Any) -> SSAValue:
    target = g.node.target  # type: ignore[union-attr]
    mode = "nearest" if "nearest" in str(target) else "linear"
    align = rest[0] if mode == "linear" and rest and isinstance(rest[0], bool) else None
    scales = [r for r in rest if isinstance(r, (list, tuple))]
    if not scales:
        scales = [[r for r in rest if isinstance(r, float)] or None]
    factors = scales[0] if scales and scales[0] else [None, None]
    h, w = nn.shape_of(x)[2:]
    oh, ow = g.meta_shape()[2:]
    use = [None, None] if output_size is not None else factors
    rows = _resize_matrix(h, oh, mode, align, use[0])
    cols = _resize_matrix(w, ow, mode, align, use[1])
    return _separable(g, x, rows, cols, "resize")


def _antialias_matrix(size: int, out: int, align_corners: bool, scale: float | None, dtype: torch.dtype) -> torch.Tensor:
    """[out, size] weights of PyTorch's antialiased bilinear resize along one
    dim (HelperInterpLinear with antialias, UpSampleKernel.cpp): a triangle
    filter stretched by the downscale factor, over the input positions
    [center - support + 0.5, center + support + 0.5) clipped to the input,
    normalised to sum 1; in the input's dtype, as the kernel computes them."""
    real = {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    if align_corners:
        ratio = real(size - 1) / real(out - 1) if out > 1 else real(0)
    else:
        ratio = real(1.0 / scale) if scale is not None and scale > 0 else real(size) / real(out)
    support = real(ratio if ratio >= 1.0 else 1.0)  # interp_size / 2 = 1, times the scale when it shrinks
    invscale = real(1.0 / ratio) if ratio >= 1.0 else real(1.0)
    longest = int(math.ceil(support)) * 2 + 1
    m = torch.zeros(out, size, dtype=torch.float64)
    for i in range(out):
        center = real(float(ratio) * (i + 0.5))
        lo = max(int(float(center - support) + 0.5), 0)
        count = min(max(min(int(float(center + support) + 0.5), size) - lo, 0), longest)
        weights = [real(max(real(0), real(1) - abs(real((float(real(j + lo) - center) + 0.5) * float(invscale)))))
                   for j in range(count)]
        total = real(0)
        for v in weights:
            total = real(total + v)
        for j, v in enumerate(weights):
            m[i, lo + j] = float(real(v / total)) if total != 0 else float(v)
    return m


@handles(aten._upsample_bilinear2d_aa.default, aten._upsample_bilinear2d_aa.vec)
def _upsample_bilinear2d_aa(g: GraphImporter, x: SSAValue, output_size: Any, align_corners: bool, *scales: Any) -> SSAValue:
    """F.interpolate(mode='bilinear', antialias=True): two constant weight
    matrices (_antialias_matrix), applied separably (width, then height, as
    PyTorch's kernel)."""
    if g.meta_dtype() not in (torch.float32, torch.float64):
        raise g.fail(f"antialiased bilinear resize of a {g.meta_dtype()} tensor is not supported; convert it to float32")
    if len(scales) == 1:  # .vec: output_size or the scale factors
        factors = list(scales[0]) if scales[0] is not None and output_size is None else [None, None]
    else:
        factors = list(scales) + [None] * (2 - len(scales))
    (h, w), (oh, ow) = nn.shape_of(x)[-2:], g.meta_shape()[-2:]
    _static_dims(g, "antialiased resize", h, w)
    rows = _antialias_matrix(h, oh, align_corners, factors[0], g.meta_dtype())
    cols = _antialias_matrix(w, ow, align_corners, factors[1], g.meta_dtype())
    return _separable(g, x, rows, cols, "resize")


@handles(aten.grid_sampler_2d.default)
def _grid_sampler_2d(g: GraphImporter, x: SSAValue, grid: SSAValue, mode: int, padding_mode: int,
                     align_corners: bool) -> SSAValue:
    """F.grid_sample of a 4-d input, as PyTorch's CPU kernel computes it:
    gathers of the input flattened to [N, C, H*W] at indices clamped into
    range, and `where` masks for the samples outside it (zeros padding)."""
    if mode not in (0, 1):
        raise g.fail("grid_sample with mode='bicubic' is not supported; use mode='bilinear' or 'nearest'")
    (n, c, h, w), (_, oh, ow, _) = nn.shape_of(x), nn.shape_of(grid)
    grid = g.to(grid, nn.elem(x))
    flat = g.emit(nn.ReshapeOp(x, (n, c, h * w)))
    dtype = g.meta_dtype()

    def arith(op: type[nn.BinaryOp], a: SSAValue, b: Any) -> SSAValue:
        """One arithmetic op; in float16/bfloat16 rounded to it, as PyTorch's kernel rounds every op."""
        v = g.emit(op(a, g.operand(b, a)))
        return g.to(g.to(v, DTYPES[dtype]), f32) if dtype in HALF else v

    def coordinate(k: int, size: int) -> SSAValue:  # grid[..., k] as a source index, [N, 1, OH*OW]
        v = g.emit(nn.ReshapeOp(g.emit(nn.SliceOp(grid, 3, k, k + 1, 1)), (n, 1, oh * ow)))
        return _grid_source(g, arith, v, size, padding_mode, align_corners)

    px, py = coordinate(0, w), coordinate(1, h)

    def tap(cx: SSAValue, cy: SSAValue) -> SSAValue:  # x[n, :, cy, cx], 0 outside the input
        inside = lambda v, size: g.emit(nn.AndOp(g.emit(nn.CompareOp(v, g.scalar(-1, v), "gt")),  # noqa: E731
                                                 g.emit(nn.CompareOp(v, g.scalar(size, v), "lt"))))
        index = lambda v, size: g.emit(nn.CastOp(_grid_clip(g, v, size - 1), i64))  # noqa: E731
        flat_index = g.emit(nn.AddOp(g.emit(nn.MulOp(index(cy, h), g.scalar(w, i64))), index(cx, w)))
        value = g.emit(nn.GatherOp(flat, g.emit(nn.ExpandOp(flat_index, (n, c, oh * ow))), 2))
        valid = g.emit(nn.AndOp(inside(cx, w), inside(cy, h)))
        return g.emit(nn.WhereOp(valid, value, g.scalar(0, value)))

    if mode == 1:  # nearest: half to even, as PyTorch's vectorised round
        y = tap(g.emit(nn.RoundOp(px)), g.emit(nn.RoundOp(py)))
    else:
        x_w, y_n = g.emit(nn.FloorOp(px)), g.emit(nn.FloorOp(py))
        x_e, y_s = g.emit(nn.AddOp(x_w, g.scalar(1, px))), g.emit(nn.AddOp(y_n, g.scalar(1, py)))
        fw, fn = arith(nn.SubOp, px, x_w), arith(nn.SubOp, py, y_n)
        fe, fs = arith(nn.SubOp, g.scalar(1, fw), fw), arith(nn.SubOp, g.scalar(1, fn), fn)
        y = None
        for cx, cy, wx, wy in ((x_w, y_n, fe, fs), (x_e, y_n, fw, fs), (x_w, y_s, fe, fn), (x_e, y_s, fw, fn)):
            term = arith(nn.MulOp, tap(cx, cy), arith(nn.MulOp, wy, wx))
            y = term if y is None else arith(nn.AddOp, y, term)
    return g.emit(nn.ReshapeOp(y, (n, c, oh, ow)))


def _grid_clip(g: GraphImporter, v: SSAValue, hi: int) -> SSAValue:
    """v clamped into [0, hi], NaN to 0 (PyTorch's clip_coordinates)."""
    v = g.emit(nn.WhereOp(g.emit(nn.CompareOp(v, g.scalar(0, v), "gt")), v, g.scalar(0, v)))
    return g.emit(nn.WhereOp(g.emit(nn.CompareOp(v, g.scalar(hi, v), "lt")), v, g.scalar(hi, v)))


def _grid_source(g: GraphImporter, arith: Callable[..., SSAValue], v: SSAValue, size: int, padding_mode: int,
                 align_corners: bool) -> SSAValue:
    """Grid values in [-1, 1] as input coordinates, with the padding mode
    applied: PyTorch's CPU ComputeLocation, operation for operation."""
    v = arith(nn.AddOp, v, 1)
    if align_corners:
        v = arith(nn.MulOp, v, (size - 1) / 2)
    else:
        v = arith(nn.SubOp, arith(nn.MulOp, v, size / 2), 0.5)
    if padding_mode == 1:  # border
        return _grid_clip(g, v, size - 1)
    if padding_mode != 2:  # zeros
        return v
    if align_corners and size <= 1:  # reflection: nothing to reflect in
        return g.emit(nn.ExpandOp(g.scalar(0, v), nn.shape_of(v)))
    low, span2 = (0.0, 2.0 * (size - 1)) if align_corners else (-0.5, 2.0 * size)
    a = g.emit(nn.AbsOp(arith(nn.SubOp, v, low) if low else v))
    flips = g.emit(nn.TruncOp(arith(nn.DivOp, a, span2)))
    extra = arith(nn.SubOp, a, arith(nn.MulOp, flips, span2))
    v = g.emit(nn.MinimumOp(extra, arith(nn.SubOp, g.scalar(span2, v), extra)))
    if low:
        v = arith(nn.AddOp, v, low)
    return _grid_clip(g, v, size - 1)


@handles(aten.grid_sampler_3d.default)
def _grid_sampler_3d(g: GraphImporter, x: SSAValue, grid: SSAValue, mode: int, padding_mode: int,
                     align_corners: bool) -> SSAValue:
    """F.grid_sample of a 5-d input, as PyTorch's (scalar) CPU kernel
    computes it: the source index of each coordinate (_grid_source_scalar),
    then gathers of the input flattened to [N, C, D*H*W] at indices clamped
    into range, `where` masks for the corners outside it, and the trilinear
    weights as the kernel forms them ((x_e - x) * (y_s - y) * (z_b - z) for
    the top north-west corner, ...), summed corner by corner."""
    if mode not in (0, 1):  # PyTorch itself has no bicubic 5-d grid_sample
        raise g.fail("grid_sample of a 5-d input takes mode='bilinear' or 'nearest'")
    (n, c, d, h, w), (_, od, oh, ow, _) = nn.shape_of(x), nn.shape_of(grid)
    _static_dims(g, "grid_sample", d, h, w, od, oh, ow)
    grid = g.to(grid, nn.elem(x))
    flat = g.emit(nn.ReshapeOp(x, (n, c, d * h * w)))
    dtype, points = g.meta_dtype(), od * oh * ow

    def arith(op: type[nn.BinaryOp], a: Any, b: Any) -> SSAValue:
        """One arithmetic op; in float16/bfloat16 rounded to it, as PyTorch's kernel rounds every op."""
        a = g.operand(a, grid)
        v = g.emit(op(a, g.operand(b, a)))
        return g.to(g.to(v, DTYPES[dtype]), f32) if dtype in HALF else v

    def coordinate(k: int, size: int) -> SSAValue:  # grid[..., k] as a source index, [N, 1, D*H*W out]
        v = g.emit(nn.ReshapeOp(g.emit(nn.SliceOp(grid, 4, k, k + 1, 1)), (n, 1, points)))
        return _grid_source_scalar(g, arith, v, size, padding_mode, align_corners)

    px, py, pz = coordinate(0, w), coordinate(1, h), coordinate(2, d)

    def inside(v: SSAValue, size: int) -> SSAValue:
        return g.emit(nn.AndOp(g.emit(nn.CompareOp(v, g.scalar(-1, v), "gt")), g.emit(nn.CompareOp(v, g.scalar(size, v), "lt"))))

    def tap(cx: SSAValue, cy: SSAValue, cz: SSAValue) -> tuple[SSAValue, SSAValue]:  # x[n, :, cz, cy, cx], in range
        index = lambda v, size: g.emit(nn.CastOp(_grid_clip(g, v, size - 1), i64))  # noqa: E731
        at = g.emit(nn.AddOp(g.emit(nn.MulOp(index(cz, d), g.scalar(h, i64))), index(cy, h)))
        at = g.emit(nn.AddOp(g.emit(nn.MulOp(at, g.scalar(w, i64))), index(cx, w)))
        value = g.emit(nn.GatherOp(flat, g.emit(nn.ExpandOp(at, (n, c, points))), 2))
        return value, g.emit(nn.AndOp(g.emit(nn.AndOp(inside(cx, w), inside(cy, h))), inside(cz, d)))

    if mode == 1:  # nearest: std::nearbyint, half to even
        value, valid = tap(g.emit(nn.RoundOp(px)), g.emit(nn.RoundOp(py)), g.emit(nn.RoundOp(pz)))
        y = g.emit(nn.WhereOp(valid, value, g.scalar(0, value)))
    else:
        x_w, y_n, z_t = g.emit(nn.FloorOp(px)), g.emit(nn.FloorOp(py)), g.emit(nn.FloorOp(pz))
        x_e, y_s, z_b = (g.emit(nn.AddOp(v, g.scalar(1, v))) for v in (x_w, y_n, z_t))
        west, east = arith(nn.SubOp, x_e, px), arith(nn.SubOp, px, x_w)  # the weights of the west / east corners
        north, south = arith(nn.SubOp, y_s, py), arith(nn.SubOp, py, y_n)
        top, bottom = arith(nn.SubOp, z_b, pz), arith(nn.SubOp, pz, z_t)
        y = None
        for (cz, wz), (cy, wy), (cx, wx) in itertools.product(((z_t, top), (z_b, bottom)), ((y_n, north), (y_s, south)),
                                                              ((x_w, west), (x_e, east))):
            value, valid = tap(cx, cy, cz)
            term = arith(nn.MulOp, value, arith(nn.MulOp, arith(nn.MulOp, wx, wy), wz))
            term = g.emit(nn.WhereOp(valid, term, g.scalar(0, term)))  # a corner outside adds nothing (not NaN * 0)
            y = term if y is None else arith(nn.AddOp, y, term)
    return g.emit(nn.ReshapeOp(y, (n, c, od, oh, ow)))


def _grid_source_scalar(g: GraphImporter, arith: Callable[..., SSAValue], v: SSAValue, size: int, padding_mode: int,
                        align_corners: bool) -> SSAValue:
    """Grid values in [-1, 1] as input coordinates, with the padding mode
    applied: PyTorch's scalar grid_sampler_compute_source_index (GridSampler.h),
    operation for operation; its clip is std::min(size - 1, std::max(v, 0)),
    so a NaN clips to size - 1."""
    if align_corners:
        v = arith(nn.MulOp, arith(nn.DivOp, arith(nn.AddOp, v, 1), 2), size - 1)
    else:
        v = arith(nn.DivOp, arith(nn.SubOp, arith(nn.MulOp, arith(nn.AddOp, v, 1), size), 1), 2)
    if padding_mode == 0:  # zeros
        return v

    def clip(v: SSAValue) -> SSAValue:
        v = g.emit(nn.WhereOp(g.emit(nn.CompareOp(v, g.scalar(0, v), "lt")), g.scalar(0, v), v))
        return g.emit(nn.WhereOp(g.emit(nn.CompareOp(v, g.scalar(size - 1, v), "lt")), v, g.scalar(size - 1, v)))

    if padding_mode == 1:  # border
        return clip(v)
    twice_low, twice_high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
    if twice_low == twice_high:  # reflection: nothing to reflect in
        return g.emit(nn.ExpandOp(g.scalar(0, v), nn.shape_of(v)))
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    a = g.emit(nn.AbsOp(arith(nn.SubOp, v, low)))
    extra = arith(nn.FmodOp, a, span)
    flips = g.emit(nn.FloorOp(arith(nn.DivOp, a, span)))
    # int(flips) % 2 == 0; a flip count past int's range converts to INT_MIN (x86), which is even
    even = g.emit(nn.OrOp(g.emit(nn.CompareOp(g.emit(nn.FmodOp(flips, g.scalar(2, flips))), g.scalar(0, flips), "eq")),
                          g.emit(nn.CompareOp(flips, g.scalar(2.0**31, flips), "ge"))))
    v = g.emit(nn.WhereOp(even, arith(nn.AddOp, extra, low), arith(nn.AddOp, arith(nn.SubOp, span, extra), low)))
    return clip(v)


@handles(aten.native_group_norm.default)
def _group_norm(g: GraphImporter, x, w, b, n: int, c: int, hw: int, groups: int, eps: float) -> tuple:
    shape = nn.shape_of(x)
    grouped = g.emit(nn.ReshapeOp(x, (n, groups, (c // groups) * hw)))
    centered, mean, _, rstd = _moments(g, grouped, [2], eps)
    y = g.emit(nn.ReshapeOp(g.emit(nn.MulOp(centered, rstd)), shape))
    per_channel = (c,) + (1,) * (len(shape) - 2)
    if w is not None:
        y = g.emit(nn.MulOp(y, g.emit(nn.ReshapeOp(w, per_channel))))
    if b is not None:
        y = g.emit(nn.AddOp(y, g.emit(nn.ReshapeOp(b, per_channel))))
    return (y, g.emit(nn.ReshapeOp(mean, (n, groups))), g.emit(nn.ReshapeOp(rstd, (n, groups))))


@handles(aten.baddbmm.default)
def _baddbmm(g: GraphImporter, bias: SSAValue, a: SSAValue, b: SSAValue, beta: float = 1, alpha: float = 1) -> SSAValue:
    return _addmm(g, bias, a, b, beta, alpha)


# Ops whose results are values of their same-typed inputs, moved: a
# float16/bfloat16 result needs no rounding (GraphImporter.finish). Not
# conversions (_to_copy, copy) nor ops that bring a Python number (a pad value).
EXACT = frozenset({
    aten.view.default, aten.reshape.default, aten._unsafe_view.default, aten.permute.default,
    aten.transpose.int, aten.t.default, aten.expand.default, aten.slice.Tensor, aten.select.int,
    aten.cat.default, aten.clone.default, aten.alias.default, aten.split.Tensor, aten.split_with_sizes.default,
    aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default, aten.unsqueeze.default, aten.index.Tensor,
    aten._unsafe_index.Tensor, aten.index_select.default, aten.gather.default,
    aten.as_strided.default, aten.flip.default, aten.slice_scatter.default, aten.select_scatter.default,
    aten.max_pool2d_with_indices.default, aten.max_pool3d_with_indices.default, aten.amax.default, aten.amin.default,
    aten.adaptive_max_pool2d.default, aten.adaptive_max_pool3d.default,
    aten.embedding.default, aten.unbind.int, aten.chunk.default, aten.narrow.default,
    aten.relu.default, aten.neg.default, aten.abs.default, aten.sort.default,
    aten.sort.stable, aten.topk.default, aten.index_put.default, aten._unsafe_index_put.default,
    aten.scatter.src,
})
# Ops whose results are values of their same-typed tensor inputs, moved: an
# unsigned result stays in range and needs no wrapping (GraphImporter.finish).
MOVES = EXACT - {aten.neg.default}


@handles(aten.hardtanh.default)
def _hardtanh(g: GraphImporter, x: SSAValue, lo: float = -1.0, hi: float = 1.0) -> SSAValue:
    return _clamp(g, x, lo, hi)


@handles(aten.leaky_relu.default)
def _leaky_relu(g: GraphImporter, x: SSAValue, slope: float = 0.01) -> SSAValue:
    x = g.to(x, g.out_type())
    positive = g.emit(nn.CompareOp(x, g.scalar(0, x), "gt"))
    return g.emit(nn.WhereOp(positive, x, g.emit(nn.MulOp(x, g.scalar(slope, x)))))


@handles(aten.elu.default)
def _elu(g: GraphImporter, x: SSAValue, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> SSAValue:
    x = g.to(x, g.out_type())
    positive = g.emit(nn.CompareOp(x, g.scalar(0, x), "gt"))
    negative = g.emit(nn.Expm1Op(g.emit(nn.MulOp(x, g.scalar(input_scale, x)))))
    negative = g.emit(nn.MulOp(negative, g.scalar(alpha * scale, x)))
    return g.emit(nn.WhereOp(positive, g.emit(nn.MulOp(x, g.scalar(scale, x))), negative))


@handles(aten.repeat.default)
def _repeat(g: GraphImporter, x: SSAValue, repeats: Sequence[int]) -> SSAValue:
    """Tiles x: viewed as [1, s0, 1, s1, ...], expanded to [r0, s0, r1, s1, ...]."""
    shape = (1,) * (len(repeats) - len(nn.shape_of(x))) + nn.shape_of(x)
    interleaved = [d for s in shape for d in (1, s)]
    tiled = [d for r, s in zip(repeats, shape) for d in (r, s)]
    y = g.emit(nn.ReshapeOp(x, interleaved))
    y = g.emit(nn.ExpandOp(y, tiled))
    return g.emit(nn.ReshapeOp(y, g.meta_shape()))


@handles(aten.adaptive_max_pool2d.default, aten.adaptive_max_pool3d.default)
def _adaptive_max_pool(g: GraphImporter, x: SSAValue, output_size: Sequence[int]) -> tuple:
    """PyTorch's windows [floor(i*H/oh), ceil((i+1)*H/oh)) per dim. Values
    only: windows of equal size (the input divides by the output) as
    max_pool2d, else a max over each dim in turn (a window is a product of
    ranges). With the indices used: one tap per window element
    (_window_max)."""
    uses = [u for u in g.node.users if u.target is operator.getitem and u.args[1] == 1 and u.users]  # type: ignore[union-attr]
    spatial = 3 if g.node.target is aten.adaptive_max_pool3d.default else 2  # type: ignore[union-attr]
    shape = nn.shape_of(x)
    sizes, outs = shape[-spatial:], g.meta_shape()[-spatial:]
    _static_dims(g, f"adaptive_max_pool{spatial}d", *sizes)
    if uses:
        return _window_max(g, x, [_adaptive_windows(s, o) for s, o in zip(sizes, outs)], True)
    if spatial == 2 and all(s % o == 0 for s, o in zip(sizes, outs)):
        k = (sizes[0] // outs[0], sizes[1] // outs[1])
        return (_pool(g, nn.MaxPool2dOp, x, k, k, (0, 0), False, {}), None)
    y = x
    for d, size, out in zip(range(len(shape) - spatial, len(shape)), sizes, outs):
        if size == out:
            continue
        parts = []
        for i in range(out):
            lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
            parts.append(g.emit(nn.AmaxOp(g.emit(nn.SliceOp(y, d, lo, hi, 1)), [d], True)))
        y = g.emit(nn.ConcatOp(parts, d)) if len(parts) > 1 else parts[0]
    return (y, None)


@handles(aten.signbit.default)
def _signbit(g: GraphImporter, x: SSAValue) -> SSAValue:
    """The sign bit: true for -0.0 and for a NaN whose sign bit is set."""
    if isinstance(nn.elem(x), IntegerType):
        return g.emit(nn.CompareOp(x, g.scalar(0, x), "lt"))
    signed_one = g.emit(nn.CopysignOp(g.scalar(1.0, x), x))
    return g.emit(nn.CompareOp(signed_one, g.scalar(0.0, x), "lt"))


@handles(aten.angle.default)
def _angle(g: GraphImporter, x: SSAValue) -> SSAValue:
    """The argument of a real number: pi below 0, else 0; NaN stays NaN."""
    x = g.to(x, g.out_type())
    y = g.emit(nn.WhereOp(g.emit(nn.CompareOp(x, g.scalar(0, x), "lt")), g.scalar(math.pi, x), g.scalar(0, x)))
    return g.emit(nn.WhereOp(g.emit(nn.CompareOp(x, x, "ne")), x, y))


@handles(aten.round.decimals)
def _round_decimals(g: GraphImporter, x: SSAValue, decimals: int = 0) -> SSAValue:
    """PyTorch's kernel: nearbyint(x * 10^d) / 10^d, or for d < 0
    nearbyint(x / 10^-d) * 10^-d, with the power in x's type."""
    x = g.to(x, g.out_type())
    if decimals == 0:
        return g.emit(nn.RoundOp(x))
    power = g.scalar(10.0 ** abs(decimals), x)
    if decimals > 0:
        return g.emit(nn.DivOp(g.emit(nn.RoundOp(g.emit(nn.MulOp(x, power)))), power))
    return g.emit(nn.MulOp(g.emit(nn.RoundOp(g.emit(nn.DivOp(x, power)))), power))


@handles(aten.ldexp.Tensor, aten.ldexp.default)
def _ldexp(g: GraphImporter, x: Any, other: Any) -> SSAValue:
    """x * 2^other in the result's float type."""
    typ = g.out_type()
    return g.emit(nn.MulOp(g.operand(x, typ), g.emit(nn.Exp2Op(g.operand(other, typ)))))


def _alias_copy_variants() -> None:
    """`aten.X_copy` (view_copy, permute_copy, ...: what functionalisation
    and some exporters emit) computes what `aten.X` does: the same handler."""
    for name in dir(aten):
        if not name.endswith("_copy") or name.startswith("_"):
            continue
        base = getattr(aten, name[: -len("_copy")], None)
        if base is None:
            continue
        packet = getattr(aten, name)
        for overload in packet.overloads():
            target = getattr(base, overload, None)
            if target in HANDLERS and getattr(packet, overload) not in HANDLERS:
                HANDLERS[getattr(packet, overload)] = HANDLERS[target]


_alias_copy_variants()


def _static_dims(g: GraphImporter, what: str, *sizes: nn.Dim) -> None:
    if not all(isinstance(s, int) for s in sizes):
        raise g.fail(f"{what} over dims whose sizes are known only at run time is not supported")


def _diagonal_layout(g: GraphImporter, x: SSAValue, offset: int, dim1: int, dim2: int) -> tuple:
    """x with dim1, dim2 moved last and merged: (flat [..., R*C], the
    permutation, R, C, the diagonal's first flat position and length)."""
    shape = nn.shape_of(x)
    rank = len(shape)
    d1, d2 = dim1 % rank, dim2 % rank
    if d1 == d2:
        raise g.fail(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rows, cols = shape[d1], shape[d2]
    _static_dims(g, "diagonal", rows, cols)
    first_row, first_col = max(-offset, 0), max(offset, 0)
    length = max(0, min(rows - first_row, cols - first_col))
    if length == 0:
        raise g.fail(f"the diagonal at offset {offset} of a {rows}x{cols} matrix is empty; "
                     "sparcc rejects zero-size results")
    perm = [k for k in range(rank) if k not in (d1, d2)] + [d1, d2]
    moved = g.emit(nn.PermuteOp(x, perm)) if perm != list(range(rank)) else x
    lead = tuple(shape[k] for k in perm[:-2])
    flat = g.emit(nn.ReshapeOp(moved, (*lead, rows * cols)))
    return flat, perm, lead, rows, cols, first_row * cols + first_col, length


@handles(aten.diagonal.default)
def _diagonal(g: GraphImporter, x: SSAValue, offset: int = 0, dim1: int = 0, dim2: int = 1) -> SSAValue:
    """The diagonal is every (C+1)-th element of the matrix dims flattened."""
    flat, _, lead, _, cols, start, length = _diagonal_layout(g, x, offset, dim1, dim2)
    return g.emit(nn.SliceOp(flat, len(lead), start, start + (length - 1) * (cols + 1) + 1, cols + 1))


@handles(aten.diagonal_scatter.default)
def _diagonal_scatter(g: GraphImporter, x: SSAValue, src: SSAValue, offset: int = 0, dim1: int = 0, dim2: int = 1) -> SSAValue:
    flat, perm, lead, rows, cols, start, length = _diagonal_layout(g, x, offset, dim1, dim2)
    stop = start + (length - 1) * (cols + 1) + 1
    y = g.emit(nn.SliceScatterOp(flat, g.to(src, nn.elem(x)), len(lead), start, stop, cols + 1))
    y = g.emit(nn.ReshapeOp(y, (*lead, rows, cols)))
    if perm == list(range(len(perm))):
        return y
    inverse = [perm.index(k) for k in range(len(perm))]
    return g.emit(nn.PermuteOp(y, inverse))


@handles(aten.addmv.default)
def _addmv(g: GraphImporter, bias: SSAValue, mat: SSAValue, vec: SSAValue, beta: float = 1, alpha: float = 1) -> SSAValue:
    return _addmm(g, bias, mat, vec, beta, alpha)


@handles(aten.addbmm.default)
def _addbmm(g: GraphImporter, bias: SSAValue, a: SSAValue, b: SSAValue, beta: float = 1, alpha: float = 1) -> SSAValue:
    """beta * bias + alpha * (sum over the batch of a[i] @ b[i])."""
    return _scaled_sum(g, g.emit(nn.SumOp(g.emit(nn.MatmulOp(a, b)), [0], False)), bias, beta, alpha)


def _p_norm(g: GraphImporter, diff: SSAValue, p: float, dims: list[int]) -> SSAValue:
    """The p-norm of `diff` over `dims` as torch.norm computes it: p = 0 counts
    non-zeros, p = inf takes the largest magnitude."""
    a = g.emit(nn.AbsOp(diff))
    if p == 0:
        return g.emit(nn.SumOp(g.to(g.emit(nn.CompareOp(a, g.scalar(0, a), "ne")), nn.elem(a)), dims, False))
    if p == math.inf:
        return g.emit(nn.AmaxOp(a, dims, False))
    if p == 1:
        return g.emit(nn.SumOp(a, dims, False))
    if p == 2:
        return g.emit(nn.SqrtOp(g.emit(nn.SumOp(g.emit(nn.MulOp(a, a)), dims, False))))
    powered = g.emit(nn.PowOp(a, g.scalar(p, a)))
    return g.emit(nn.PowOp(g.emit(nn.SumOp(powered, dims, False)), g.scalar(1 / p, a)))


@handles(aten.dist.default)
def _dist(g: GraphImporter, a: SSAValue, b: SSAValue, p: float = 2) -> SSAValue:
    typ = g.out_type()
    diff = g.emit(nn.SubOp(g.to(a, typ), g.to(b, typ)))
    rank = len(nn.shape_of(diff))
    if rank == 0:
        return _p_norm(g, g.emit(nn.ReshapeOp(diff, (1,))), p, [0])
    return _p_norm(g, diff, p, list(range(rank)))


@handles(aten._cdist_forward.default)
def _cdist(g: GraphImporter, x1: SSAValue, x2: SSAValue, p: float, compute_mode: Any = None) -> SSAValue:
    """[..., P, M] and [..., R, M] -> [..., P, R]: the p-norm of every row
    pair's difference, over broadcast [..., P, R, M] differences."""
    s1, s2 = nn.shape_of(x1), nn.shape_of(x2)
    a = g.emit(nn.ReshapeOp(x1, (*s1[:-1], 1, s1[-1])))
    b = g.emit(nn.ReshapeOp(x2, (*s2[:-2], 1, *s2[-2:])))
    diff = g.emit(nn.SubOp(a, b))
    return _p_norm(g, diff, p, [len(nn.shape_of(diff)) - 1])


def _kth_along(g: GraphImporter, x: SSAValue, position: Any, dim: int, keepdim: bool) -> tuple:
    """(value, index) at sorted `position` (an int, or an i64 tensor of the
    reduced shape with the dim kept) along `dim` of a stable ascending sort
    (NaN last, as PyTorch orders it)."""
    shape = nn.shape_of(x)
    d = dim % len(shape)
    order = g.emit(nn.ArgsortOp(x, d, False))
    if isinstance(position, int):
        at = g.emit(nn.SliceOp(order, d, position, position + 1, 1))
    else:
        at = g.emit(nn.GatherOp(order, position, d))
    values = g.emit(nn.GatherOp(x, at, d))
    if keepdim:
        return values, at
    reduced = tuple(s for k, s in enumerate(shape) if k != d)
    return g.emit(nn.ReshapeOp(values, reduced)), g.emit(nn.ReshapeOp(at, reduced))


@handles(aten.kthvalue.default)
def _kthvalue(g: GraphImporter, x: SSAValue, k: int, dim: int = -1, keepdim: bool = False) -> tuple:
    """The k-th smallest (1-based). Among equal values the index is that of a
    stable sort; PyTorch's selection may return another of them."""
    if not nn.shape_of(x):
        return (x, g.scalar(0, i64))
    size = nn.shape_of(x)[dim % len(nn.shape_of(x))]
    _static_dims(g, "kthvalue", size)
    if not 1 <= k <= size:
        raise g.fail(f"kthvalue: k ({k}) is out of range for a dim of size {size}")
    return _kth_along(g, x, k - 1, dim, keepdim)


def _first_nan(g: GraphImporter, x: SSAValue, d: int) -> tuple:
    """(whether each row along d has a NaN, kept dim; index of its first NaN)."""
    isnan = g.to(g.emit(nn.CompareOp(x, x, "ne")), f32)
    has_nan = g.emit(nn.CompareOp(g.emit(nn.AmaxOp(isnan, [d], True)), g.scalar(0.0, f32), "gt"))
    return has_nan, g.emit(nn.ArgmaxOp(isnan, d, True, True))


@handles(aten.median.dim, aten.nanmedian.dim)
def _median_dim(g: GraphImporter, x: SSAValue, dim: int = -1, keepdim: bool = False) -> tuple:
    """The lower median: sorted position (n-1)//2. median: a row with a NaN
    gives NaN at the index of its first NaN; nanmedian: the median of the
    row's other values (NaN, index 0, when all are NaN)."""
    if not nn.shape_of(x):
        return (x, g.scalar(0, i64))
    shape = nn.shape_of(x)
    d = dim % len(shape)
    _static_dims(g, "median", shape[d])
    floats = not isinstance(nn.elem(x), IntegerType)
    if "nanmedian" in str(g.node.target) and floats:  # type: ignore[union-attr]
        count = g.emit(nn.SumOp(g.to(g.emit(nn.CompareOp(x, x, "eq")), i64), [d], True))
        position = g.emit(nn.DivOp(g.emit(nn.MaximumOp(g.emit(nn.SubOp(count, g.scalar(1, i64))),
                                                       g.scalar(0, i64))), g.scalar(2, i64)))
        values, at = _kth_along(g, x, position, d, True)
    else:
        values, at = _kth_along(g, x, (shape[d] - 1) // 2, d, True)
        if floats:
            has_nan, first = _first_nan(g, x, d)
            values = g.emit(nn.WhereOp(has_nan, g.scalar(math.nan, x), values))
            at = g.emit(nn.WhereOp(has_nan, first, at))
    if keepdim:
        return values, at
    reduced = tuple(s for k, s in enumerate(shape) if k != d)
    return g.emit(nn.ReshapeOp(values, reduced)), g.emit(nn.ReshapeOp(at, reduced))


@handles(aten.median.default, aten.nanmedian.default)
def _median_all(g: GraphImporter, x: SSAValue) -> SSAValue:
    n = math.prod(nn.shape_of(x))
    flat = g.emit(nn.ReshapeOp(x, (n,)))
    return _median_dim(g, flat, 0, False)[0]


def _count_below(g: GraphImporter, values: SSAValue, boundaries: SSAValue, right: bool, out_int32: bool) -> SSAValue:
    """The position PyTorch's binary search finds for each value in the
    sorted last dim of `boundaries` (whose leading dims match the values'):
    the count of b with !(b >= v), or !(b > v) for `right`, so a NaN value
    lands after every boundary, as PyTorch puts it. Compares in the promoted
    type; costs values x boundaries."""
    typ = g.promoted(2)
    return _count_below_typed(g, g.to(values, typ), g.to(boundaries, typ), right, i32 if out_int32 else i64)


@handles(aten.bucketize.Tensor, aten.bucketize.Scalar)
def _bucketize(g: GraphImporter, x: Any, boundaries: SSAValue, *, out_int32: bool = False, right: bool = False) -> SSAValue:
    if not isinstance(x, SSAValue):
        x = g.scalar(x, g.promoted(2))
    if len(nn.shape_of(boundaries)) != 1:
        raise g.fail("bucketize takes 1-d boundaries")
    return _count_below(g, x, boundaries, right, out_int32)


@handles(aten.searchsorted.Tensor, aten.searchsorted.Scalar)
def _searchsorted(g: GraphImporter, seq: SSAValue, values: Any, *, out_int32: bool = False, right: bool = False,
                  side: str | None = None, sorter: SSAValue | None = None) -> SSAValue:
    if side is not None:
        right = side == "right"
    if sorter is not None:
        seq = g.emit(nn.GatherOp(seq, sorter, len(nn.shape_of(seq)) - 1))
    if not isinstance(values, SSAValue):
        values = g.scalar(values, g.promoted(2))
    vs, ss = nn.shape_of(values), nn.shape_of(seq)
    if len(ss) > 1 and (len(vs) != len(ss) or vs[:-1] != ss[:-1]):
        raise g.fail(f"searchsorted: the leading dims of the sorted sequence {list(ss)} and of the values "
                     f"{list(vs)} must match")
    return _count_below(g, values, seq, right, out_int32)


def _moments(g: GraphImporter, x: SSAValue, red: Sequence[int], eps: float) -> tuple:
    """Statistics over the dims `red`, kept (layer, group, instance and
    batch norm): (x - mean, mean, biased variance, 1/sqrt(variance + eps))."""
    mean = g.emit(nn.MeanOp(x, list(red), True))
    centered = g.emit(nn.SubOp(x, mean))
    var = g.emit(nn.MeanOp(g.emit(nn.MulOp(centered, centered)), red, True))
    rstd = g.emit(nn.RsqrtOp(g.emit(nn.AddOp(var, g.scalar(eps, x)))))
    return centered, mean, var, rstd


def _normalized(g: GraphImporter, x: SSAValue, w: Any, b: Any, eps: float) -> tuple:
    """Batch-statistics normalisation (instance norm reaches sparcc as this,
    over [1, N*C, ...]): (y, mean [C], rstd [C], biased var [C])."""
    shape = nn.shape_of(x)
    c = shape[1]
    per_channel = (c,) + (1,) * (len(shape) - 2)
    centered, mean, var, rstd = _moments(g, g.to(x, g.out_type()), [0, *range(2, len(shape))], eps)
    y = g.emit(nn.MulOp(centered, rstd))
    if w is not None:
        y = g.emit(nn.MulOp(y, g.emit(nn.ReshapeOp(g.to(w, nn.elem(y)), per_channel))))
    if b is not None:
        y = g.emit(nn.AddOp(y, g.emit(nn.ReshapeOp(g.to(b, nn.elem(y)), per_channel))))
    flat = [g.emit(nn.ReshapeOp(v, (c,))) for v in (mean, rstd, var)]
    return (y, *flat)


@handles(aten._native_batch_norm_legit.no_stats)
def _bn_no_stats(g: GraphImporter, x, w, b, training, momentum, eps) -> tuple:
    y, mean, rstd, _ = _normalized(g, x, w, b, eps)
    return (y, mean, rstd)


@handles(aten._native_batch_norm_legit_functional.default, aten._native_batch_norm_legit.default)
def _bn_functional(g: GraphImporter, x, w, b, running_mean, running_var, training, momentum, eps) -> tuple:
    """Batch statistics (training=True), with the running statistics that
    PyTorch would store: (1 - momentum) * old + momentum * batch (the
    variance unbiased); in eval mode the running statistics, unchanged."""
    if not training:
        return (_bn(g, x, w, b, running_mean, running_var, eps), None, None, running_mean, running_var)
    y, mean, rstd, var = _normalized(g, x, w, b, eps)
    if running_mean is None or running_var is None:
        return (y, mean, rstd, running_mean, running_var)
    shape = nn.shape_of(x)
    n = math.prod(s for k, s in enumerate(shape) if k != 1)
    if not isinstance(n, int):
        raise g.fail("batch statistics over sizes known only at run time are not supported")
    keep, take = g.scalar(1 - momentum, running_mean), g.scalar(momentum, running_mean)
    unbiased = g.emit(nn.MulOp(g.to(var, nn.elem(running_var)), g.scalar(n / max(n - 1, 1), running_var)))
    new_mean = g.emit(nn.AddOp(g.emit(nn.MulOp(running_mean, keep)),
                               g.emit(nn.MulOp(g.to(mean, nn.elem(running_mean)), take))))
    new_var = g.emit(nn.AddOp(g.emit(nn.MulOp(running_var, keep)), g.emit(nn.MulOp(unbiased, take))))
    return (y, mean, rstd, new_mean, new_var)


@handles(aten.unfold.default)
def _unfold(g: GraphImporter, x: SSAValue, dim: int, size: int, step: int) -> SSAValue:
    """Tensor.unfold: the windows x[.., i*step : i*step + size, ..] along
    `dim`, each in a new last dim: one gather through a constant table."""
    shape = nn.shape_of(x)
    if not shape:
        return g.emit(nn.ReshapeOp(x, (1,)))
    d = dim % len(shape)
    _static_dims(g, "unfold", shape[d])
    count = (shape[d] - size) // step + 1
    table = torch.arange(count).unsqueeze(1) * step + torch.arange(size).unsqueeze(0)
    windows = g.emit(nn.IndexOp(x, [_constant(g, "unfold", table)], [d]))  # [.., count, size, ..]
    rank = len(shape) + 1
    perm = [k for k in range(rank) if k != d + 1] + [d + 1]
    return g.emit(nn.PermuteOp(windows, perm)) if perm != list(range(rank)) else windows


@handles(aten._embedding_bag.default, aten._embedding_bag_forward_only.default)
def _embedding_bag(g: GraphImporter, weight: SSAValue, indices: SSAValue, offsets: SSAValue,
                   scale_grad_by_freq: bool = False, mode: int = 0, sparse: bool = False,
                   per_sample_weights: SSAValue | None = None, include_last_offset: bool = False,
                   padding_idx: int | None = -1) -> tuple:
    """Bag b sums (mode 0), averages (1) or takes the max (2) of the rows of
    `weight` its indices name, the indices offsets[b] .. offsets[b+1] - 1.
    Each index's bag is the number of offsets at or before its position,
    less one; the rows are accumulated into their bags (index_put, checked
    like every index); an empty bag gives zeros, and rows at padding_idx
    count for nothing, as in PyTorch."""
    node = g.node
    assert node is not None
    if any(u.target is operator.getitem and u.args[1] != 0 and u.users for u in node.users):
        raise g.fail("embedding_bag's offset2bag, bag_size or max_indices are used; sparcc computes the bags only")
    if len(nn.shape_of(indices)) != 1 or len(nn.shape_of(offsets)) != 1:
        raise g.fail("embedding_bag takes 1-d indices and offsets here (2-d input reaches sparcc flattened)")
    length, bags = nn.shape_of(indices)[0], nn.shape_of(offsets)[0] - (1 if include_last_offset else 0)
    _static_dims(g, "embedding_bag", length, bags)
    dim = nn.shape_of(weight)[1]
    typ = nn.elem(weight)
    starts = g.emit(nn.SliceOp(offsets, 0, 0, bags, 1)) if include_last_offset else offsets
    positions = g.emit(nn.ArangeOp(0, 1, nn.tensor([length], i64)))
    bag = g.emit(nn.SubOp(_count_below_typed(g, positions, g.to(starts, i64), True), g.scalar(1, i64)))
    rows = g.emit(nn.EmbeddingOp(weight, indices))  # [L, D]
    counted = None
    if padding_idx is not None and padding_idx >= 0:
        counted = g.emit(nn.CompareOp(indices, g.scalar(padding_idx, indices), "ne"))
        rows = g.emit(nn.WhereOp(g.emit(nn.ReshapeOp(counted, (length, 1))), rows,
                                 g.scalar(-math.inf if mode == 2 else 0.0, typ)))
    if per_sample_weights is not None:
        if mode != 0:
            raise g.fail("embedding_bag's per_sample_weights are only supported with mode='sum' (as in PyTorch)")
        rows = g.emit(nn.MulOp(rows, g.emit(nn.ReshapeOp(g.to(per_sample_weights, typ), (length, 1)))))
    ones = g.emit(nn.ExpandOp(g.scalar(1.0, typ), (length,)))
    if counted is not None:
        ones = g.to(counted, typ)
    count = g.emit(nn.IndexPutOp(g.emit(nn.ExpandOp(g.scalar(0.0, typ), (bags,))), [bag], [0], ones,
                                 accumulate=True, wrap=False))
    empty = g.emit(nn.ReshapeOp(g.emit(nn.CompareOp(count, g.scalar(0.0, typ), "eq")), (bags, 1)))
    if mode == 2:
        spread = g.emit(nn.ExpandOp(g.emit(nn.ReshapeOp(bag, (length, 1))), (length, dim)))
        init = g.emit(nn.ExpandOp(g.scalar(-math.inf, typ), (bags, dim)))
        out = g.emit(nn.ScatterOp(init, spread, rows, 0, "amax", False))
    else:
        zeros = g.emit(nn.ExpandOp(g.scalar(0.0, typ), (bags, dim)))
        out = g.emit(nn.IndexPutOp(zeros, [bag], [0], rows, accumulate=True, wrap=False))
        if mode == 1:
            safe = g.emit(nn.MaximumOp(count, g.scalar(1.0, typ)))
            out = g.emit(nn.DivOp(out, g.emit(nn.ReshapeOp(safe, (bags, 1)))))
    out = g.emit(nn.WhereOp(empty, g.scalar(0.0, typ), out))
    return (out, None, None, None)


def _count_below_typed(g: GraphImporter, values: SSAValue, boundaries: SSAValue, right: bool,
                       dtype: Attribute = i64) -> SSAValue:
    """_count_below with both operands already of one type (no node to promote from)."""
    v = g.emit(nn.ReshapeOp(values, (*nn.shape_of(values), 1)))
    b = boundaries
    if len(nn.shape_of(b)) > 1:  # [..., M] against values [..., K]: [..., 1, M]
        b = g.emit(nn.ReshapeOp(b, (*nn.shape_of(b)[:-1], 1, nn.shape_of(b)[-1])))
    outside = g.emit(nn.NotOp(g.emit(nn.CompareOp(b, v, "gt" if right else "ge"))))
    return g.emit(nn.SumOp(g.to(outside, dtype), [len(nn.shape_of(v)) - 1], False))


@handles(aten.masked_scatter.default)
def _masked_scatter(g: GraphImporter, x: SSAValue, mask: SSAValue, source: SSAValue) -> SSAValue:
    """The k-th True position (row-major) of the broadcast mask takes
    source's k-th element: a running count of the mask picks it (a
    multimodal model's image features merged into its text embeddings). Too
    small a source raises at run time, as the gather's index check."""
    shape = tuple(g.meta_shape())  # x and the mask broadcast together
    n = math.prod(shape) if shape else 1
    _static_dims(g, "masked_scatter", n)
    if nn.shape_of(x) != shape:
        x = g.emit(nn.ExpandOp(x, shape))
    if nn.shape_of(mask) != shape:
        mask = g.emit(nn.ExpandOp(g.to(mask, i1), shape))
    flat_mask = g.emit(nn.ReshapeOp(g.to(mask, i1), (n,)))
    taken = g.emit(nn.CumsumOp(g.to(flat_mask, i64), 0))
    position = g.emit(nn.MaximumOp(g.emit(nn.SubOp(taken, g.scalar(1, i64))), g.scalar(0, i64)))
    src = g.emit(nn.ReshapeOp(g.to(source, nn.elem(x)), (math.prod(nn.shape_of(source)) or 1,)))
    picked = g.emit(nn.GatherOp(src, position, 0))
    out = g.emit(nn.WhereOp(flat_mask, picked, g.emit(nn.ReshapeOp(x, (n,)))))
    return g.emit(nn.ReshapeOp(out, shape))


@handles(aten.put.default)
def _put(g: GraphImporter, x: SSAValue, index: SSAValue, source: SSAValue, accumulate: bool = False) -> SSAValue:
    """x.put_(index, source): index_put on x flattened (negative indices count from the end)."""
    shape = nn.shape_of(x)
    n, k = (math.prod(shape) if shape else 1), (math.prod(nn.shape_of(index)) or 1)
    flat = g.emit(nn.ReshapeOp(x, (n,)))
    idx = g.emit(nn.ReshapeOp(index, (k,)))
    src = g.emit(nn.ReshapeOp(g.to(source, nn.elem(x)), (k,)))
    return g.emit(nn.ReshapeOp(g.emit(nn.IndexPutOp(flat, [idx], [0], src, bool(accumulate))), shape))


@handles(aten._pdist_forward.default)
def _pdist(g: GraphImporter, x: SSAValue, p: float = 2) -> SSAValue:
    """The distances of rows i < j, in that order: cdist's matrix, upper triangle."""
    n = nn.shape_of(x)[0]
    _static_dims(g, "pdist", n)
    full = _cdist(g, x, x, p)
    pairs = torch.tensor([i * n + j for i in range(n) for j in range(i + 1, n)], dtype=torch.int64)
    flat = g.emit(nn.ReshapeOp(full, (n * n,)))
    return g.emit(nn.IndexOp(flat, [_constant(g, "pdist", pairs)], [0]))


@handles(aten._trilinear.default)
def _trilinear(g: GraphImporter, i1: SSAValue, i2: SSAValue, i3: SSAValue, expand1: Sequence[int],
               expand2: Sequence[int], expand3: Sequence[int], sumdim: Sequence[int], unroll_dim: int = 1) -> SSAValue:
    """(nn.Bilinear) each input gets unit dims at its `expand` positions; the
    broadcast product is summed over `sumdim`."""
    typ = g.out_type()
    parts = []
    for t, expand in ((i1, expand1), (i2, expand2), (i3, expand3)):
        shape = list(nn.shape_of(t))
        for d in sorted(expand):
            shape.insert(d, 1)
        parts.append(g.emit(nn.ReshapeOp(g.to(t, typ), tuple(shape))))
    product = g.emit(nn.MulOp(g.emit(nn.MulOp(parts[0], parts[1])), parts[2]))
    return g.emit(nn.SumOp(product, sorted(sumdim), False)) if sumdim else product


from sparcc import frontend_complex  # noqa: E402,F401  (registers COMPLEX_HANDLERS)
