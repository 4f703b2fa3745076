"""
The trace cache: a warm start that skips torch.export.

A cache hit of the compile cache (sparcc.cache) still paid for torch.export
and the import into `nn` (1.5-2 s for a ResNet or a small transformer),
because the compiled entry's key is the imported IR. This cache keys, before
any tracing, on what decides the trace, and keeps what the compiled program
needs besides its code:

    $SPARCC_CACHE_DIR/trace/<key>/program.json   the program's specs (inputs,
                                                 outputs, size symbols, output
                                                 pytree, in-place updates), the
                                                 compiled entry's key, where
                                                 each weight comes from, and
                                                 the report's import data
    $SPARCC_CACHE_DIR/trace/<key>/nn.mlir        the imported IR (the report's)
    $SPARCC_CACHE_DIR/trace/<key>/weights.safetensors
                                                 weight-store entries that are
                                                 not the model's own tensors
                                                 (quantised codes, packed or
                                                 converted copies, constants)

The key (`fingerprint`) hashes:
- sparcc's version and sources, torch's version, the target, its identity,
  the team size, the quant/sparsity specs and the dynamic dims;
- each input's shape, dtype and sparse format;
- the model: every submodule's name, class, training flag, hooks and plain
  attributes (ints, strings, configs, recursively; a tensor attribute that
  is not a parameter or buffer by its values), the name, shape, dtype and
  layout of every parameter and buffer, and the source files that define
  the classes and functions met on the way (by content), with the versions
  of their packages, and the values of the global tensors their methods
  read. A function model: its code, defaults, closure, the globals its code
  names (recursively: a helper function's code and globals) and source file.
- the values of every tensor that the entry stores as a constant: a
  function model's tensors (closure, globals, the weights of modules it
  calls), and the weights of modules reached through attributes that are
  not submodules.

The values of a module model's own parameters and buffers are not in the
key: the compiled code takes them as arguments, and a warm start binds the
model's own tensors. When the store
holds tensors computed from the values (quantised or pruned weights, a half
model's float copies), the entry is kept per digest of every parameter and
buffer (`<key>-<digest>`, with `<key>.values` saying so), so that changed
weights never reuse stale codes.

What the key cannot see: a change in a file that no class or function of
the model is defined in, within the same package version (an edited helper
module of an editable install), and globals other than tensors that a
module's forward reads without naming them in its file (set at run time).
Such a change needs SPARCC_CACHE=0 or `sparcc cache clear`. An object attribute
whose value has no stable description (an address in its repr) makes the
model untraceable by key: it gets no warm start, never a wrong one.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

VERSION = 2  # the layout of program.json (2: "random")


class _Unkeyable(Exception):
    """The model holds something whose description is not stable."""


# ----------------------------------------------------------------------------
# the key
# ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _source_digest(path: str | None) -> str:
    if not path or not os.path.isfile(path):
        return "?"
    st = os.stat(path)
    return _file_digest(path, st.st_mtime_ns, st.st_size)


def _package_version(module_name: str) -> str:
    top = sys.modules.get(module_name.partition(".")[0])
    return str(getattr(top, "__version__", ""))


_SKIP_ATTRS = {
    "_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "_state_dict_hooks",
    "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks",
    "_backward_hooks", "_backward_pre_hooks", "_is_full_backward_hook", "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs", "_compiled_call_impl",
}
_HOOKS = ("_forward_hooks", "_forward_pre_hooks")
# attributes whose value differs from process to process and never decides a
# trace (Hugging Face's GenerationConfig keeps a hash() of itself, salted per process)
_VOLATILE = {"_original_object_hash"}


class _Fingerprint:
    """Feeds a model's description into a hash (see the module docstring)."""

    def __init__(self, weight_values: bool = False) -> None:
        # a function model's tensors (its modules' weights included) are stored
        # in the entry as constants, so their values are part of the key
        self.weight_values = weight_values
        self.h = hashlib.sha256()
        self.seen: dict[int, int] = {}  # id(object) -> its number, for shared objects and cycles
        self.keep: list[Any] = []  # keeps the objects alive: ids stay unique while hashing
        self.files: set[str] = set()
        self.classes: set[type] = set()

    def put(self, *parts: Any) -> None:
        for p in parts:
            self.h.update(str(p).encode())
            self.h.update(b"\x1f")

    def code_of(self, obj: Any) -> None:
        """The source file of a class (and its bases) or function."""
        for cls in (obj.__mro__ if isinstance(obj, type) else (obj,)):
            module = getattr(cls, "__module__", None) or ""
            if module.startswith("torch."):
                continue
            if isinstance(obj, type) and cls not in self.classes:
                self.classes.add(cls)
                self.global_tensors(cls)
            if module == "builtins":
                continue
            try:
                path = inspect.getsourcefile(cls)
            except (TypeError, OSError):
                path = None
            if path and path not in self.files:
                self.files.add(path)
                self.put("file", path, _source_digest(path), _package_version(module))

    def global_tensors(self, cls: type) -> None:
        """The values of the global tensors that a class's methods read (a
        script's module-level `mask = torch.randn(...)` used in forward): the
        file's text does not fix them. Other globals are left to the file."""
        names: set[str] = set()
        scopes = []
        for attr in vars(cls).values():
            fn = getattr(attr, "__func__", attr)
            if isinstance(fn, types.FunctionType):
                _global_names(fn.__code__, names)
                scopes.append(fn.__globals__)
        for name in sorted(names):
            for scope in scopes:
                if isinstance(scope.get(name), torch.Tensor):
                    self.put("global tensor", name)
                    self.tensor(scope[name], values=True)
                    break

    def tensor(self, t: torch.Tensor, values: bool) -> None:
        self.put("tensor", t.dtype, tuple(t.shape), t.layout, t.requires_grad)
        if values:
            if t.layout != torch.strided or t.is_meta or t.device.type != "cpu":
                raise _Unkeyable("a tensor attribute that is not a dense CPU tensor")
            self.h.update(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                          if t.numel() else b"")

    def value(self, v: Any, depth: int = 0) -> None:
        if depth > 12:
            raise _Unkeyable("too deep")
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes, torch.dtype, torch.device,
                                        torch.layout, torch.memory_format, torch.Size)):
            self.put(type(v).__name__, repr(v))
            return
        if isinstance(v, enum.Enum):
            self.put("enum", type(v).__qualname__, v.name)
            return
        if id(v) in self.seen:
            self.put("ref", self.seen[id(v)])
            return
        self.seen[id(v)] = len(self.seen)
        self.keep.append(v)
        if isinstance(v, torch.Tensor):
            self.tensor(v, values=True)
        elif isinstance(v, torch.nn.Module):
            self.module(v, depth + 1)
        elif isinstance(v, (list, tuple, set, frozenset)):
            items = sorted(v, key=repr) if isinstance(v, (set, frozenset)) else v
            self.put(type(v).__name__, len(items))
            for item in items:
                self.value(item, depth + 1)
        elif isinstance(v, dict):
            self.put(type(v).__qualname__, len(v))
            for k, item in v.items():
                self.value(k, depth + 1)
                self.value(item, depth + 1)
        elif isinstance(v, (types.FunctionType, types.MethodType)):
            self.function(v, depth + 1)
        elif isinstance(v, (types.BuiltinFunctionType, types.BuiltinMethodType, types.ModuleType)):
            self.put(type(v).__name__, getattr(v, "__module__", ""), getattr(v, "__qualname__", v.__name__))
        elif isinstance(v, type):
            self.put("class", v.__module__, v.__qualname__)
            self.code_of(v)
        elif isinstance(v, functools.partial):
            self.put("partial")
            self.value(v.func, depth + 1)
            self.value(v.args, depth + 1)
            self.value(v.keywords, depth + 1)
        else:
            self.obj(v, depth + 1)

    def obj(self, v: Any, depth: int) -> None:
        cls = type(v)
        self.put("object", cls.__module__, cls.__qualname__)
        self.code_of(cls)
        state = getattr(v, "__dict__", None)
        slots = [s for c in cls.__mro__ for s in getattr(c, "__slots__", ()) if isinstance(s, str)]
        if state is None and not slots:
            text = repr(v)
            if " at 0x" in text or " object at " in text:
                raise _Unkeyable(f"an attribute of type {cls.__qualname__}")
            self.put(text)
            return
        if state is not None:
            self.value({k: v for k, v in state.items() if k not in _VOLATILE}, depth)
        for s in slots:
            self.value((s, getattr(v, s, None)), depth)

    def function(self, fn: Any, depth: int) -> None:
        if isinstance(fn, types.MethodType):
            self.put("method")
            self.value(fn.__self__, depth)  # a class, a module or another object
            fn = fn.__func__
        self.put("function", fn.__module__, fn.__qualname__)
        self.code_of(fn)
        self.code(fn.__code__)
        self.value(fn.__defaults__, depth)
        self.value(fn.__kwdefaults__, depth)
        for cell in fn.__closure__ or ():
            try:
                self.value(cell.cell_contents, depth)
            except ValueError:  # an empty cell
                self.put("empty cell")
        # the globals its code (and the code nested in it) names: a script's
        # `w = torch.randn(...)` read by `lambda x: x @ w`
        names: set[str] = set()
        _global_names(fn.__code__, names)
        scope = fn.__globals__
        for name in sorted(names):
            if name in scope:
                self.put("global", name)
                self.value(scope[name], depth)

    def code(self, co: types.CodeType) -> None:
        self.h.update(co.co_code)
        self.put(co.co_names, co.co_varnames)
        for c in co.co_consts:
            if isinstance(c, types.CodeType):
                self.code(c)
            else:
                self.put(repr(c))

    def module(self, m: torch.nn.Module, depth: int = 0, own: bool = False) -> None:
        """`own`: the compiled model itself, whose weights a warm start binds
        (by shape in the key); a module reached through a function or an
        attribute has its weights stored as constants (by value)."""
        values = self.weight_values or not own
        for name, sub in m.named_modules(remove_duplicate=False):
            if sub is not m and id(sub) in self.seen:
                self.put("module ref", name, self.seen[id(sub)])
                continue
            self.seen.setdefault(id(sub), len(self.seen))
            self.keep.append(sub)
            cls = type(sub)
            self.put("module", name, cls.__module__, cls.__qualname__, sub.training)
            self.code_of(cls)
            for p_name, p in sub._parameters.items():  # noqa: SLF001
                self.put("param", p_name)
                if p is not None:
                    self.tensor(p, values=values)
            for b_name, b in sub._buffers.items():  # noqa: SLF001
                self.put("buffer", b_name, b_name in sub._non_persistent_buffers_set)  # noqa: SLF001
                if b is not None:
                    self.tensor(b, values=values)
            for hooks in _HOOKS:
                for hook in getattr(sub, hooks, {}).values():
                    self.value(hook, depth + 1)
            for attr, v in sub.__dict__.items():
                if attr in _SKIP_ATTRS or attr in _HOOKS or attr == "training":
                    continue
                self.put("attr", attr)
                self.value(v, depth + 1)


def _global_names(co: types.CodeType, into: set[str]) -> None:
    into.update(co.co_names)
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            _global_names(c, into)


def fingerprint(model: Any, args: Any, parts: list[str]) -> str | None:
    """The trace key of `model` on `args` compiled with `parts` (options,
    target identity), or None when the model holds something the key cannot
    describe (no warm start then)."""
    from sparcc import cache
    from sparcc.specs import sparse_format

    fp = _Fingerprint(weight_values=not isinstance(model, torch.nn.Module))
    fp.put(VERSION, cache.compiler_digest(), torch.__version__, *parts)
    try:
        for a in args:
            fp.put("input", tuple(a.shape), a.dtype, sparse_format(a))
        gm = torch.nn.modules.module
        for hooks in (gm._global_forward_hooks, gm._global_forward_pre_hooks):  # noqa: SLF001
            for hook in hooks.values():
                fp.value(hook)
        if isinstance(model, torch.nn.Module):
            fp.module(model, own=True)
        elif isinstance(model, (types.FunctionType, types.MethodType, functools.partial)):
            fp.value(model)
        else:
            return None
    except Exception:  # noqa: BLE001 (_Unkeyable, or an attribute that breaks on inspection: no warm start)
        return None
    return fp.h.hexdigest()[:32]


def _named_tensors(model: Any) -> list[tuple[str, torch.Tensor]]:
    """Every parameter and buffer of a module by its name (shared ones under
    each name); none for a function."""
    if not isinstance(model, torch.nn.Module):
        return []
    return [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]


def values_digest(model: Any) -> str | None:
    """A digest of every parameter's and buffer's values (dense CPU ones)."""
    if not isinstance(model, torch.nn.Module):
        return "-"
    h = hashlib.sha256()
    for name, t in _named_tensors(model):
        if t.layout != torch.strided or t.device.type != "cpu" or t.is_meta:
            return None
        h.update(name.encode())
        h.update(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().data if t.numel() else b"")
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------
# entries
# ----------------------------------------------------------------------------


def folder() -> Path:
    from sparcc import cache

    return cache.root() / "trace"


@dataclass
class Entry:
    """A trace-cache entry: the program's description, read back."""

    data: dict[str, Any]
    path: Path

    @property
    def compiled_key(self) -> str:
        return self.data["compiled_key"]


def _model_tensors(model: Any) -> dict[tuple[int, torch.dtype, tuple[int, ...], tuple[int, ...]], str]:
    found = {}
    for name, t in _named_tensors(model):
        if t.layout == torch.strided and t.device.type == "cpu":
            found.setdefault((t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride())), name)
    return found


def _spec_json(spec: Any) -> list[Any]:
    from sparcc.specs import dims_text

    return [dims_text(spec.shape), str(spec.dtype).removeprefix("torch."), spec.format]


def _spec_of(data: list[Any]) -> Any:
    from sparcc.specs import TensorSpec

    shape, dtype, fmt = data
    dims = shape.strip()[1:-1].replace(" ", "").split(",") if shape.strip() != "[]" else []
    if all(d.isdigit() for d in dims):  # static: no sympy
        return TensorSpec(tuple(int(d) for d in dims), getattr(torch, dtype), fmt)
    from sparcc.dialects import nn

    return TensorSpec(nn.parse_dim_list(shape), getattr(torch, dtype), fmt)


def save(key: str, model: Any, imported: Any, nn_text: str, compiled_key: str, extra: dict[str, Any]) -> bool:
    """Keeps `imported` (the frontend's ImportedProgram after the weight
    passes) under `key`; best effort: an entry that cannot be written (an
    output pytree of a type pytree cannot serialise, a full disk) is skipped:
    False."""
    from sparcc.specs import tree_json

    tree = tree_json(imported.output_tree)
    if tree is None and imported.output_tree is not None:
        return False  # a custom pytree node without a serialised name
    own = _model_tensors(model)
    recipe, saved = [], {}
    for name, t in imported.weights.items():
        where = own.get((t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))) if t.layout == torch.strided else None
        if where is not None:
            recipe.append([name, where])
        elif t.layout != torch.strided:
            return False
        else:
            recipe.append([name, None])
            saved[name] = t.detach().contiguous().clone()
    derived = any(where is None and not name.startswith("_sparcc.") for name, where in recipe)
    digest = values_digest(model) if derived else None
    if derived and digest is None:
        return False
    data = {
        "version": VERSION,
        "inputs": [_spec_json(s) for s in imported.inputs],
        "outputs": [_spec_json(s) for s in imported.outputs],
        "output_tree": tree,
        "ops": imported.ops,
        "symbols": {k: list(v) for k, v in imported.symbols.items()},
        "mutated": list(imported.mutated),
        "in_place": list(imported.in_place),
        "random": imported.random,
        "complex_inputs": list(imported.complex_inputs),
        "complex_outputs": list(imported.complex_outputs),
        "weights": recipe,
        "compiled_key": compiled_key,
        "extra": extra,
    }
    root = folder()
    name = f"{key}-{digest}" if derived else key
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".build-{name}-"))
        try:
            (tmp / "nn.mlir").write_text(nn_text)
            if saved:
                from safetensors.torch import save_file

                save_file(saved, str(tmp / "weights.safetensors"))
            (tmp / "program.json").write_text(json.dumps(data))
            if derived:
                (root / f"{key}.values").write_text("weights' values decide this entry\n")
            try:
                os.rename(tmp, root / name)
            except OSError:
                pass  # another process placed it first
            return True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except (OSError, TypeError, ValueError):
        return False


def find(key: str, model: Any) -> Entry | None:
    root = folder()
    path = root / key
    if not (path / "program.json").is_file() and (root / f"{key}.values").is_file():
        digest = values_digest(model)
        if digest is None:
            return None
        path = root / f"{key}-{digest}"
    if not path.exists():
        return None
    try:
        data = json.loads((path / "program.json").read_text())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        discard(path)
        return None
    return Entry(data, path)


def discard(path: Path) -> None:
    """Removes a damaged (or outdated) entry, so that the next compile keeps a sound one."""
    from sparcc import cache

    cache._discard(path)  # noqa: SLF001 (the compile cache's atomic removal)


def imported_program(entry: Entry, model: Any) -> Any:
    """The frontend's ImportedProgram of `entry` (no module), its weight
    store bound to the model's tensors and the saved ones; None when the
    entry does not fit the model (a damaged or foreign entry)."""
    from torch.utils import _pytree as pytree

    from sparcc.specs import ImportedProgram

    data = entry.data
    try:
        tensors = dict(_named_tensors(model))
        saved: dict[str, torch.Tensor] = {}
        if (entry.path / "weights.safetensors").is_file():
            from safetensors.torch import load_file

            saved = load_file(str(entry.path / "weights.safetensors"))
        store = {}
        for name, where in data["weights"]:
            store[name] = tensors[where].detach() if where is not None else saved[name]
        return ImportedProgram(
            module=None,
            weights=store,
            inputs=[_spec_of(s) for s in data["inputs"]],
            outputs=[_spec_of(s) for s in data["outputs"]],
            output_tree=pytree.treespec_loads(data["output_tree"]) if data["output_tree"] is not None else None,
            ops=dict(data["ops"]),
            symbols={k: (lo, hi) for k, (lo, hi) in data["symbols"].items()},
            mutated=list(data["mutated"]),
            in_place=list(data["in_place"]),
            random=bool(data["random"]),
            complex_inputs=list(data.get("complex_inputs", [])),
            complex_outputs=list(data.get("complex_outputs", [])),
        )
    except Exception:  # noqa: BLE001 (damaged, or written by another model: trace again)
        discard(entry.path)
        return None


def nn_text(entry: Entry) -> str:
    try:
        return (entry.path / "nn.mlir").read_text()
    except OSError:
        return ""


def clear() -> None:
    shutil.rmtree(folder(), ignore_errors=True)
