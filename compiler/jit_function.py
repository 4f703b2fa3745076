"""
`sparcc.jit`: compile on first call per input signature, then reuse.

    fast = sparcc.jit(model, target="cpu")        # an nn.Module or a function
    @sparcc.jit(target="cpu", threads=2)
    def f(x, y): ...

The weights are captured when a signature is first compiled; call
`fast.invalidate()` after changing the model's parameters.

Dynamic shapes: by default (`dynamic=None`) a model is compiled for the
sizes of its first call; when a later call changes the size of some dims
(same ranks and dtypes), the model is compiled once more with those dims
dynamic, and that one program serves every size of them (as torch.compile's
automatic dynamic shapes); a size of 1 keeps a static program of its own (a
decode step's one token is not the prefill's program at length 1). `dynamic={0: {1: (1, 512)}}` marks dims up front
(input index -> dim -> (min, max), max None for unbounded); `dynamic=True`
lets torch.export make every dim dynamic that the model lets vary;
`dynamic=False` compiles every new signature statically. A model whose ops
cannot take a dynamic size falls back to static programs, with a warning.

Compiled code is kept in the on-disk cache (sparcc/cache.py), so another
process that compiles the same model for the same signature loads it
instead of compiling (`cache=False` opts out; so does SPARCC_CACHE=0).
`threads` (default SPARCC_NUM_THREADS, else all CPUs this process may use)
is the number of threads large ops are divided among. `quant` quantises the
weights of chosen linear layers (sparcc/quantize.py).
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils import _pytree as pytree
from sparcc.backends import get_target
from sparcc.driver import CompiledProgram, compile_program
from sparcc.errors import DynamicShapeError, InputMismatchError
from sparcc.specs import sparse_format

# torch.export is not safe to run from two threads at once (it fails with
# "_EXPORT_MODULE_HIERARCHY must not be None"): compiles take turns, and a
# thread whose first call finds another compiling its signature waits for it.
_COMPILE_LOCK = threading.RLock()

Signature = tuple[tuple[tuple[int, ...], torch.dtype, str | None], ...]


class JitFunction:
    def __init__(
        self,
        model: torch.nn.Module | Callable[..., Any],
        target: str,
        threads: int | None = None,
        cache: bool | None = None,
        quant: Any = None,
        sparsity: Any = None,
        dynamic: Any = None,
    ):
        from sparcc.quantize import parse_quant_spec
        from sparcc.sparsify import parse_sparsity_spec

        tgt = get_target(target)
        if threads is not None:
            tgt.check_threads(threads)
        self.quant = parse_quant_spec(quant)  # a bad spec fails here, not at the first call
        self.sparsity = parse_sparsity_spec(sparsity, tgt)
        self.model = model
        self.target = target
        self.threads = threads
        self.use_cache = cache
        self.cache: dict[Signature, CompiledProgram] = {}
        self.compiles = 0
        self.dynamic = parse_dynamic(dynamic)
        self.dynamic_programs: list[CompiledProgram] = []
        self.dynamic_failed: str | None = None  # why automatic dynamic shapes were given up
        # calls with keyword arguments or constants: one JitFunction per (tensor names, constants)
        self.keyword_programs: dict[Any, JitFunction] = {}
        self._lazy_shapes: dict[Any, Any] = {}  # a lazily allocated cache's layer shapes, by its layout
        # keyword calls seen last, by the kinds of their arguments: what the
        # next such call with the same state objects may skip (_CallPlan)
        self._plans: dict[Any, _CallPlan] = {}
        fn = model.forward if isinstance(model, torch.nn.Module) else model
        self._fn = fn  # what a call binds its arguments to
        self._signature: inspect.Signature | None = None
        self._arity = _arity(fn)
        functools.update_wrapper(self, fn, updated=())

    def signature(self, args: tuple[Any, ...]) -> Signature:
        lo, hi = self._arity
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise InputMismatchError(f"{self.__name__}: expected {want} tensor argument(s), got {len(args)}")
        for i, a in enumerate(args):
            if not isinstance(a, torch.Tensor):
                raise InputMismatchError(
                    f"{self.__name__}: argument {i} must be a torch.Tensor, got {type(a).__name__}"
                )
        # a sparse input's key is its format (layout, index width), not its nonzeros
        return tuple((tuple(a.shape), a.dtype, sparse_format(a)) for a in args)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            return self._call_with_keywords(args, kwargs)
        key = self.signature(args)
        program = self.cache.get(key)
        if program is None:
            with _COMPILE_LOCK:  # a second thread's first call waits and takes the same program
                program = self.cache.get(key)
                if program is None:
                    program = self._program_for(args, key)
                    self.cache[key] = program
        return program(*args)

    def _call_with_keywords(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A call with keyword arguments (the Hugging Face convention:
        `model(input_ids=x, use_cache=False)`). The arguments are bound to
        the model's signature; tensors become the compiled program's inputs,
        in signature order, and constants (None, bool, int, float, str) are
        fixed into it: each combination of argument names and constants is
        a model of its own, compiled like a positional one. (A positional
        call takes tensors only, as before.)"""
        plan_key = _plan_key(kwargs) if not args else None
        if plan_key is not None and (plan := self._plans.get(plan_key)) is not None:
            out = plan.run(kwargs)
            if out is not _MISS:
                return out
        fn = self._fn
        try:
            if self._signature is None:  # read once: 20 us a call, on every decode step
                self._signature = inspect.signature(fn)
            signature = self._signature
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise InputMismatchError(f"{self.__name__}: {e}") from None
        except ValueError:  # no signature to bind to
            raise InputMismatchError(
                f"{self.__name__}: keyword arguments need a model whose signature Python can read"
            ) from None
        names, tensors, constants = [], [], []
        trees: list[tuple[str, Any, tuple[Any, ...]]] = []  # (argument, pytree spec, leaves: TENSOR for a tensor)
        tree_tensors: list[torch.Tensor] = []
        states: dict[str, Any] = {}  # argument name -> a state object (a KV cache) whose tensors are inputs
        slots: dict[str, list[tuple[Any, str]]] = {}  # argument name -> its state object's slots
        params = signature.parameters
        items: list[tuple[str, Any]] = []
        for name, value in bound.arguments.items():
            if params[name].kind == inspect.Parameter.VAR_KEYWORD:
                items += list(value.items())  # **kwargs: each entry is an argument by its own name
            elif params[name].kind == inspect.Parameter.VAR_POSITIONAL:
                if value:
                    raise InputMismatchError(
                        f"{self.__name__}: with keyword arguments, pass the model's *{name} tensors by name too"
                    )
            else:
                items.append((name, value))
        for name, value in items:
            if isinstance(value, torch.Tensor):
                names.append(name)
                tensors.append(value)
            elif value is None or isinstance(value, (bool, int, float, str)):
                constants.append((name, value))
            elif isinstance(value, (dict, list, tuple)) and _plain_tree(value):
                leaves, spec = pytree.tree_flatten(value)  # a dict of masks (one per attention kind), say
                trees.append((name, spec, tuple(TENSOR if isinstance(v, torch.Tensor) else v for v in leaves)))
                tree_tensors += [v for v in leaves if isinstance(v, torch.Tensor)]
            elif (found := state_slots(value)) is not None:
                states[name] = value
                slots[name] = found
            else:
                raise InputMismatchError(
                    f"{self.__name__}: argument '{name}' is a {type(value).__name__}; sparcc.jit takes tensors, "
                    "constants (None, bool, int, float, str) and state objects whose tensors are attributes "
                    "(a Hugging Face cache)"
                )
        for name, state in states.items():
            if not _initialized(state):
                _initialize_lazily(fn, bound, name, state, self._lazy_shapes)
                slots[name] = state_slots(state)  # its tensors exist now
        settings: dict[int, tuple[Any, ...]] = {}  # each owner's plain settings, read once per call
        layout = tuple((name, type(states[name]).__name__, tuple(_slot_key(o, a, settings) for o, a in slots[name]))
                       for name in slots)
        tree_key = tuple((n, str(spec), tuple((type(v).__name__, v) for v in leaves)) for n, spec, leaves in trees)
        key = (tuple(names), tuple((n, type(v).__name__, v) for n, v in constants), layout, tree_key)
        inner = self.keyword_programs.get(key)
        if inner is None:
            wrapped = _KeywordCall(self.model, fn, tuple(names), dict(constants), layout, tuple(trees))
            dynamic = self.dynamic if not isinstance(self.dynamic, dict) else None
            inner = JitFunction(wrapped, self.target, self.threads, self.use_cache, self.quant, self.sparsity,
                                dynamic)
            inner.__name__ = self.__name__
            self.keyword_programs[key] = inner
        wrapped = inner.model
        wrapped.states = states  # what a trace (or an eager check) of this call runs on
        tensors += tree_tensors
        for name in slots:
            tensors += [getattr(o, a) for o, a in slots[name]]
        before = inner.compiles
        try:
            out = inner(*tensors)
        finally:
            wrapped.states = {}
            self.compiles += inner.compiles - before
        if plan_key is not None and not trees:
            program = inner.cache.get(inner.signature(tuple(tensors)))
            if program is not None and not program.symbols:
                if len(self._plans) >= PLANS_KEPT:  # the oldest goes (it may hold an old cache alive)
                    self._plans.pop(next(iter(self._plans)))
                self._plans[plan_key] = _CallPlan(program, wrapped, tuple(names), states, slots)
        wrapped.settle(states)
        return wrapped.put_back(out, states)

    def _program_for(self, args: tuple[Any, ...], key: Signature) -> CompiledProgram:
        """A compiled dynamic program that takes `args`, else a new program:
        dynamic where `self.dynamic` or the signatures seen so far say so."""
        for program in self.dynamic_programs:
            if program.accepts(args):
                return program
        marks = self._marks(args, key)
        if marks:
            try:
                program = self.compile(*args, dynamic=marks)
            except DynamicShapeError as e:
                if self.dynamic is not None:  # asked for: the user gets the reason
                    raise
                self.dynamic_failed = str(e)
                warnings.warn(f"sparcc: compiling {self.__name__} for each input size: {e}", stacklevel=3)
            else:
                if program.symbols:
                    self.dynamic_programs.append(program)
                return program
        return self.compile(*args)

    def _marks(self, args: tuple[Any, ...], key: Signature) -> dict[int, Any]:
        """The dims to compile dynamic for `args`: the ones asked for, or
        (automatic) those whose size differs from an earlier signature of the
        same ranks, dtypes and formats."""
        if self.dynamic is False or self.dynamic_failed is not None:
            return {}
        if self.dynamic is True:
            return {i: "auto" for i, a in enumerate(args) if a.layout == torch.strided}
        if isinstance(self.dynamic, dict):
            for i, dims in self.dynamic.items():
                if i >= len(args) or any(d >= args[i].dim() for d in dims):
                    raise InputMismatchError(
                        f"dynamic={self.dynamic}: input {i} has {args[i].dim() if i < len(args) else 'no'} dims"
                    )
            return self.dynamic
        marks: dict[int, Any] = {}
        for seen in self.cache:
            if len(seen) != len(key) or any(
                len(s[0]) != len(k[0]) or s[1:] != k[1:] for s, k in zip(seen, key)
            ):
                continue
            for i, (s, k) in enumerate(zip(seen, key)):
                if k[2] is None:  # dense inputs only
                    for d, (a, b) in enumerate(zip(s[0], k[0])):
                        # a size of 1 keeps its own static program (as torch.compile
                        # specialises 0 and 1): a decode step (one token) is not
                        # the prefill's program at length 1, which is slower
                        if a != b and a != 1 and b != 1:
                            marks.setdefault(i, {})[d] = (2, None)
        return marks

    def compile(self, *args: torch.Tensor, dynamic: dict[int, Any] | None = None) -> CompiledProgram:
        self.compiles += 1
        return compile_program(
            self.model, args, self.target, self.threads, self.use_cache, self.quant, self.sparsity, dynamic
        )

    def invalidate(self) -> None:
        self.cache.clear()
        self.dynamic_programs.clear()
        self.keyword_programs.clear()
        self._plans.clear()

    def __repr__(self) -> str:
        what = type(self.model).__name__ if isinstance(self.model, torch.nn.Module) else f"function {self.__name__}"
        options = "".join(
            f", {k}={v!r}" for k, v in (("threads", self.threads), ("cache", self.use_cache)) if v is not None
        )
        return (
            f"<sparcc.jit of {what}, target={self.target!r}{options}, "
            f"{len(self.cache)} compiled signature(s)>"
        )


class _TensorLeaf:
    def __repr__(self) -> str:
        return "<tensor>"


TENSOR = _TensorLeaf()  # a tensor leaf's place in a keyword argument's pytree (its value is an input)
_FOUND: dict[int, list[tuple[Any, str]]] = {}  # id(_KeywordCall) -> where its output held state objects
_AFTER: dict[int, list[tuple[int, str, Any]]] = {}  # id(_KeywordCall) -> the settings its call changes


class _KeywordCall(torch.nn.Module):
    """`fn(**constants, name_0=t_0, ...)` as a module of positional tensors,
    for torch.export. It shares the model's submodules, parameters and
    buffers (the same dicts), so every weight keeps its name (`lm_head.weight`,
    not `m.lm_head.weight`) and quant/sparsity globs match as for the model."""

    def __init__(self, model: Any, fn: Callable[..., Any], names: tuple[str, ...], constants: dict[str, Any],
                 layout: tuple[Any, ...] = (), trees: tuple[Any, ...] = ()):
        super().__init__()
        if isinstance(model, torch.nn.Module):
            self._modules = model._modules  # noqa: SLF001 (shared, not copied: the weights' names stay)
            self._parameters = model._parameters  # noqa: SLF001
            self._buffers = model._buffers  # noqa: SLF001
        elif isinstance(getattr(fn, "__self__", None), torch.nn.Module):  # a bound forward
            owner = fn.__self__
            self._modules = owner._modules  # noqa: SLF001
            self._parameters = owner._parameters  # noqa: SLF001
            self._buffers = owner._buffers  # noqa: SLF001
        self._fn = fn
        self._names = names
        self._constants = constants
        self._layout = layout  # ((argument, type, slots), ...) of the state objects
        self._trees = trees  # ((argument, pytree spec, leaves with TENSOR for each tensor), ...)
        self.states: dict[str, Any] = {}  # the state objects of the call being traced or checked
        # where the output held a state object, (key, argument), kept outside the
        # module: torch.export restores the module's attributes after tracing
        _FOUND[id(self)] = []
        weakref.finalize(self, _FOUND.pop, id(self), None)
        weakref.finalize(self, _AFTER.pop, id(self), None)

    @property
    def sparcc_traceable(self) -> bool:
        """Whether the trace cache may key this call (sparcc.trace_cache): not
        with state objects, whose tensors change every call and whose
        settings the trace records in _FOUND/_AFTER."""
        return not self._layout

    def forward(self, *tensors: torch.Tensor) -> Any:
        """The call with the state objects' tensors swapped for `tensors`'
        tail (so that torch.export sees their in-place updates as updates of
        inputs); a state object in the output is taken out of it (put_back
        returns it there)."""
        plain = dict(zip(self._names, tensors))
        rest = list(tensors[len(self._names):])
        for name, spec, leaves in self._trees:
            plain[name] = pytree.tree_unflatten([rest.pop(0) if v is TENSOR else v for v in leaves], spec)
        # every attribute of the state objects and of their slots' owners is
        # put back afterwards: a trace must leave no symbolic size (or fake
        # tensor) behind in them, nor an eager check an update
        owners = _owners(self.states.values())
        saved = [(o, dict(vars(o))) for o in owners]
        inputs: list[tuple[Any, str, Any]] = []
        try:
            for name, _, _ in self._layout:
                for owner, attr in state_slots(self.states[name]):
                    inputs.append((owner, attr, rest[0]))
                    setattr(owner, attr, rest.pop(0))
            out = self._fn(**self._constants, **plain, **self.states)
            _AFTER[id(self)] = self._settings_changed(saved, inputs)
        finally:
            for owner, attrs in saved:
                vars(owner).clear()
                vars(owner).update(attrs)
        found = []
        by_id = {id(v): k for k, v in self.states.items()}
        if isinstance(out, dict):
            found = [(k, by_id[id(v)]) for k, v in out.items() if id(v) in by_id]
            if found:  # rebuilt without them (a ModelOutput refuses del, and would keep a None)
                out = type(out)(**{k: v for k, v in out.items() if id(v) not in by_id})
        elif isinstance(out, (tuple, list)):
            items = list(out)
            for k, v in enumerate(items):
                if id(v) in by_id:
                    found.append((k, by_id[id(v)]))
                    items[k] = None
            out = type(out)(items) if isinstance(out, list) or type(out) is tuple else out
        _FOUND[id(self)] = found
        return out

    def _settings_changed(self, saved: list[tuple[Any, dict[str, Any]]],
                          inputs: list[tuple[Any, str, Any]]) -> list[tuple[int, str, Any]]:
        """The plain settings (a Python-side counter such as a sliding
        window's length) the call changed, as (owner index, attribute, new
        value); the compiled call sets the same values afterwards. A tensor
        that the model replaced instead of updating in place (a dynamic
        cache's torch.cat) cannot be an input: one clear error."""
        for owner, attr, value in inputs:
            if getattr(owner, attr, None) is not value:
                raise InputMismatchError(
                    f"the model replaces the tensor '{attr}' of its {type(owner).__name__} instead of updating it "
                    "in place; sparcc compiles caches of a fixed size (Hugging Face: "
                    "cache_implementation='static')"
                )
        changed = []
        for k, (owner, before) in enumerate(saved):
            for attr, value in vars(owner).items():
                if isinstance(value, torch.SymInt):
                    raise DynamicShapeError(f"the call sets '{attr}' of its {type(owner).__name__} from a size")
                if _plain(value) and (attr not in before or (before[attr] is not value and before[attr] != value)):
                    changed.append((k, attr, value))
                elif isinstance(value, torch.Tensor) and not isinstance(before.get(attr), torch.Tensor):
                    raise InputMismatchError(
                        f"the model creates the tensor '{attr}' of its {type(owner).__name__} during the call; "
                        "sparcc compiles caches whose tensors exist before the call (Hugging Face: "
                        "cache_implementation='static')"
                    )
        return changed

    def settle(self, states: dict[str, Any]) -> None:
        """Sets the plain settings the traced call changed, as eager would."""
        changed = _AFTER.get(id(self))
        if changed:
            owners = _owners(states.values())
            for k, attr, value in changed:
                setattr(owners[k], attr, value)

    def put_back(self, out: Any, states: dict[str, Any]) -> Any:
        """`out` with the state objects back where the model returned them."""
        found = _FOUND.get(id(self))
        if not found:
            return out
        if isinstance(out, dict):
            for k, name in found:
                out[k] = states[name]
            return out
        items = list(out)
        for k, name in found:
            items[k] = states[name]
        return type(out)(items) if isinstance(out, list) or type(out) is tuple else out


# keyword-call plans a JitFunction keeps (a generation loop uses two: the
# prompt's call and the decode step's)
PLANS_KEPT = 4
_MISS = object()


def _plan_key(kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a keyword call's plan is found by: each argument's name and kind
    (a tensor's shape and dtype, a constant's value, another object's type);
    None where the call takes a pytree of tensors (those go the long way)."""
    key = []
    for name, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            if value.layout != torch.strided:
                return None
            key.append((name, value.shape, value.dtype))
        elif _plain(value):
            key.append((name, type(value), value))
        elif isinstance(value, (dict, list, tuple)):
            return None
        else:
            key.append((name, type(value)))
    return tuple(key)


def _guard(obj: Any) -> tuple[tuple[str, ...], list[Any]]:
    """What a plan assumes of a state object or a slot's owner: its
    attributes' names, and their values (a list's items, copied)."""
    d = vars(obj)
    return tuple(d), [list(v) if type(v) is list else v for v in d.values()]


def _unchanged(obj: Any, guard: tuple[tuple[str, ...], list[Any]]) -> bool:
    """Whether `obj` has the attributes and values of `guard`: the same
    objects (a tensor slot the same tensor, updated in place or not) or
    equal plain values. A comparison that cannot say (a new tensor) is a
    change."""
    try:
        return _guard(obj) == guard
    except Exception:  # noqa: BLE001 (a tensor compared with another: ambiguous, so changed)
        return False


class _CallPlan:
    """A keyword call (a decode step: input_ids, a KV cache, flags) done
    once the long way, for the next one with the same state objects: their
    attributes as they were then (_guard: the same tensors, settings and
    list items), where their tensors are, and the
    compiled program that took them. A call whose state objects, settings or
    tensors differ, or whose tensors the program does not take exactly, is
    a miss and goes the long way (binding, slots, keys: ~0.2 ms a call on a
    Llama decoder of 8 layers)."""

    def __init__(self, program: CompiledProgram, wrapped: _KeywordCall, names: tuple[str, ...],
                 states: dict[str, Any], slots: dict[str, list[tuple[Any, str]]]):
        self.program, self.wrapped, self.names = program, wrapped, names
        self.states = dict(states)
        self.slots = [(o, a) for name in slots for o, a in slots[name]]
        objects = {id(o): o for o in self.states.values()}
        objects.update((id(o), o) for o, _ in self.slots)
        self.guards = [(o, _guard(o)) for o in objects.values()]

    def run(self, kwargs: dict[str, Any]) -> Any:
        for name, state in self.states.items():
            if kwargs[name] is not state:
                return _MISS
        for obj, guard in self.guards:
            if not _unchanged(obj, guard):
                return _MISS
        tensors = [kwargs[n] for n in self.names] + [getattr(o, a) for o, a in self.slots]
        if not self.program.takes_exactly(tensors):
            return _MISS
        out = self.program.run_exact(tensors)
        self.wrapped.settle(self.states)
        return self.wrapped.put_back(out, self.states)


def _plain_tree(value: Any) -> bool:
    """A dict/list/tuple whose leaves are tensors and constants."""
    leaves = pytree.tree_leaves(value)
    return all(v is None or isinstance(v, (torch.Tensor, bool, int, float, str)) for v in leaves)


def state_slots(value: Any) -> list[tuple[Any, str]] | None:
    """The tensors of a state object, as (owner, attribute) pairs in a fixed
    order: its own tensor attributes, then those of the objects in its list
    attributes (a Hugging Face cache's `layers`). None: not a state object."""
    if isinstance(value, (torch.Tensor, torch.nn.Module)) or not hasattr(value, "__dict__"):
        return None
    slots: list[tuple[Any, str]] = []
    for attr, v in sorted(vars(value).items()):
        if isinstance(v, torch.Tensor):
            slots.append((value, attr))
        elif isinstance(v, (list, tuple)) and v and all(hasattr(x, "__dict__") and not isinstance(x, torch.Tensor)
                                                        for x in v):
            for item in v:
                slots += [(item, a) for a, t in sorted(vars(item).items()) if isinstance(t, torch.Tensor)]
    layers = getattr(value, "layers", None)
    if not slots and not isinstance(layers, (list, tuple)):
        return None
    return slots


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.device))


def _owners(states: Any) -> list[Any]:
    """The state objects and the owners of their slots, each once."""
    seen: dict[int, Any] = {}
    for state in states:
        seen.setdefault(id(state), state)
        for owner, _ in state_slots(state) or []:
            seen.setdefault(id(owner), owner)
    return list(seen.values())


def _slot_key(owner: Any, attr: str, settings: dict[int, tuple[Any, ...]] | None = None) -> tuple[Any, ...]:
    """What a compiled program assumes of one slot's owner: its type, the
    attribute, and its plain settings (sizes, flags), which tracing reads
    (`settings` keeps them per owner, for the owner's other slots)."""
    plain = settings.get(id(owner)) if settings is not None else None
    if plain is None:
        plain = tuple(sorted((k, v) for k, v in vars(owner).items() if _plain(v)))
        if settings is not None:
            settings[id(owner)] = plain
    return (type(owner).__name__, attr, plain)


def _initialized(state: Any) -> bool:
    layers = getattr(state, "layers", None)
    if not isinstance(layers, (list, tuple)):
        return True
    return all(getattr(layer, "is_initialized", True) for layer in layers)


def _initialize_lazily(fn: Callable[..., Any], bound: inspect.BoundArguments, name: str, state: Any,
                       memo: dict[Any, Any]) -> None:
    """Allocates the tensors of a cache whose layers allocate them on first
    use (a Hugging Face StaticCache before its prefill), so that they can be
    inputs: one eager call on a copy of the cache records each layer's first
    keys and values, and the real layers are initialised from their shapes.
    The shapes are kept (`memo`, by the cache's layout and the arguments'
    batch sizes): generate() makes a new cache per call, and only the first
    one pays for the eager call."""
    layout = (name, type(state).__name__, tuple(
        (type(layer).__name__, tuple(sorted((k, v) for k, v in vars(layer).items() if _plain(v))))
        for layer in state.layers
    ), tuple((n, v.shape[:1], v.dtype) for n, v in bound.arguments.items() if isinstance(v, torch.Tensor)))
    shapes = memo.get(layout)
    if shapes is None:
        shapes = memo[layout] = _probe_shapes(fn, bound, name, state)
    for i, layer in enumerate(state.layers):
        if i in shapes and not getattr(layer, "is_initialized", True):
            (ks, kd), (vs, vd) = shapes[i]
            layer.lazy_initialization(torch.zeros(ks, dtype=kd), torch.zeros(vs, dtype=vd))


def _probe_shapes(fn: Callable[..., Any], bound: inspect.BoundArguments, name: str,
                  state: Any) -> dict[int, Any]:
    """Layer index -> ((shape, dtype) of keys, of values), with a length of 0,
    from one eager call on a copy of `state`."""
    import copy

    probe = copy.deepcopy(state)
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for i, layer in enumerate(probe.layers):
        init = getattr(layer, "lazy_initialization", None)
        if init is None or getattr(layer, "is_initialized", True):
            continue

        def record(k: torch.Tensor, v: torch.Tensor, *rest: Any, _i: int = i, _init: Any = init, **kw: Any) -> Any:
            seen[_i] = (k, v)
            return _init(k, v, *rest, **kw)

        layer.lazy_initialization = record
    # the same call with the copy in place of the cache (which may have come
    # through the model's **kwargs)
    arguments = dict(bound.arguments)
    if name not in arguments:
        extra = next(p.name for p in bound.signature.parameters.values() if p.kind == p.VAR_KEYWORD)
        arguments[extra] = {**arguments[extra], name: probe}
    else:
        arguments[name] = probe
    call = inspect.BoundArguments(bound.signature, arguments)
    with torch.no_grad():
        fn(*call.args, **call.kwargs)
    return {i: tuple(((*t.shape[:-2], 0, t.shape[-1]), t.dtype) for t in kv) for i, kv in seen.items()}


def parse_dynamic(spec: Any) -> Any:
    """None, True, False, or {input index: {dim: (min, max) | None} or [dims]}
    normalised to {input: {dim: (min, max)}}; InputMismatchError otherwise."""
    if spec is None or isinstance(spec, bool):
        return spec
    usage = "expected None, True, False or {input index: {dim: (min, max)}}, e.g. {0: {1: (1, 512)}}"
    if not isinstance(spec, dict) or not spec:
        raise InputMismatchError(f"dynamic={spec!r}: {usage}")
    out: dict[int, dict[int, tuple[int, int | None]]] = {}
    for i, dims in spec.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise InputMismatchError(f"dynamic={spec!r}: input index {i!r} is not a whole number >= 0; {usage}")
        if isinstance(dims, (list, tuple, set)):
            dims = {d: None for d in dims}
        if not isinstance(dims, dict) or not dims:
            raise InputMismatchError(f"dynamic={spec!r}: input {i}: {usage}")
        out[i] = {}
        for d, bounds in dims.items():
            if not isinstance(d, int) or isinstance(d, bool) or d < 0:
                raise InputMismatchError(f"dynamic={spec!r}: input {i}: dim {d!r} is not a whole number >= 0")
            lo, hi = (1, None) if bounds is None else bounds if isinstance(bounds, tuple) and len(bounds) == 2 else (None, None)
            if not isinstance(lo, int) or lo < 1 or (hi is not None and (not isinstance(hi, int) or hi < lo)):
                raise InputMismatchError(
                    f"dynamic={spec!r}: input {i} dim {d}: bounds {bounds!r} must be (min, max) with "
                    "1 <= min <= max (max None: unbounded)"
                )
            out[i][d] = (lo, hi)
    return out


def _arity(fn: Callable[..., Any]) -> tuple[int, int]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return (0, 1 << 30)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return (sum(p.default is p.empty for p in positional), 1 << 30)
    return (sum(p.default is p.empty for p in positional), len(positional))


def jit(
    model: Any = None,
    *,
    target: str = "cpu",
    threads: int | None = None,
    cache: bool | None = None,
    quant: Any = None,
    sparsity: Any = None,
    dynamic: Any = None,
    shard: Any = None,
) -> Any:
    """Compiles `model` (an nn.Module or a function of tensors) for `target`.

    dynamic: None (default) recompiles once with dynamic dims when a call
    changes some input sizes; {input: {dim: (min, max)}} marks dims up front;
    True lets every dim vary that the model allows; False compiles each
    signature statically (see the module docstring).

    quant: weight quantisation per layer, {glob: format}, e.g.
    {"*.mlp.*": "nf4:g64", "*": "int8:channel"} (sparcc/quantize.py).
    sparsity: weight pruning and sparse storage per layer, {glob: value}, e.g.
    {"encoder.*.fc1": "2:4", "*": "unstructured:0.9"} (sparcc/sparsify.py).
    Torch sparse inputs (COO, CSR, CSC, BSR) are compiled as sparse arguments.
    shard: split the model over torch.distributed's process group, {glob:
    "shard(dim)" | "replicate"} over parameter names, or "auto" (sparcc/shard.py).
    """
    if shard is not None:
        from sparcc.shard import sharded_jit

        return sharded_jit(model, shard, target, threads, cache, quant=quant, sparsity=sparsity, dynamic=dynamic)
    if model is None:
        return lambda m: JitFunction(m, target, threads, cache, quant, sparsity, dynamic)
    return JitFunction(model, target, threads, cache, quant, sparsity, dynamic)
