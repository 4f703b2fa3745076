"""sparcc backends: one folder per target, reached through one seam.

    target = get_target("cpu")        # a Target, or SparccError naming why not
    module -> target.pipeline (sparcc passes) -> target.build(...) -> target.load(...)

The driver (sparcc.driver), the JIT, the AOT front (sparcc.artifact), the
cache and the CLI know targets only through `Target` and this registry; a
target's own modules live under backends/<name>/ and nothing outside that
folder imports them (test/python/test_architecture.py checks it with
import-linter). The registry is lazy, like the pass registry: a target's
module is imported when the target is first asked for, so an unused target
costs nothing and a missing dependency of one target does not break others.
"""

from __future__ import annotations

import abc
import importlib
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sparcc.errors import InputMismatchError, SparccError

if TYPE_CHECKING:  # the timing worker of sparcc tune loads libraries without torch
    import torch

# name -> "module:class"; the class is a Target
TARGETS: dict[str, str] = {
    "cpu": "sparcc.backends.cpu.target:CpuTarget",
    "ref": "sparcc.backends.ref.target:RefTarget",
    "gpu": "sparcc.backends.gpu.target:GpuTarget",
    "hls": "sparcc.backends.hls.target:HlsTarget",
}


class Executable(Protocol):
    """A loaded program: runs one call on checked, contiguous inputs and
    fills `results` (allocated by the caller from the output specs).
    `sizes` are the values of the size symbols of a dynamic program."""

    weights: list[torch.Tensor]  # what it keeps alive (the report counts them)

    def __call__(self, inputs: Sequence[torch.Tensor], results: Sequence[torch.Tensor], sizes: Sequence[int]) -> None: ...

    def take_error(self) -> SparccError | None:
        """The error a failed run-time check left (an index out of range), once."""
        ...


class Target(abc.ABC):
    """What a backend provides to the rest of sparcc."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for `sparcc targets`
    # sparcc passes (sparcc.passes.PASSES names) from the imported nn/sparse/quant IR to what build() takes
    pipeline: ClassVar[tuple[str, ...]] = ()
    max_threads: ClassVar[int] = 1
    cacheable: ClassVar[bool] = True  # build()'s folder may be kept in the on-disk cache
    writes_artifacts: ClassVar[bool] = False

    # -- availability ------------------------------------------------------
    def unavailable(self) -> str | None:
        """Why this target cannot run here (a missing tool, no device), or None."""
        return None

    def unavailable_to_compile(self) -> str | None:
        """Why this target cannot write an ahead-of-time artifact here, or
        None; a target that cross-compiles (gpu) needs no device for that."""
        return self.unavailable()

    def identity(self) -> list[str]:
        """What, besides the IR and options, decides the code built (host CPU,
        device): part of the cache key."""
        return []

    def default_threads(self) -> int:
        return 1

    def check_threads(self, threads: Any) -> int:
        """`threads` as a whole number in range (None: the default), else one
        InputMismatchError; the one place a thread count is validated."""
        if threads is None:
            return self.default_threads()
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= self.max_threads:
            raise InputMismatchError(
                f"threads={threads!r}: expected a whole number from 1 to {self.max_threads} "
                f"(the most the {self.name} target runs)"
            )
        return threads

    # -- kernel library ----------------------------------------------------
    def quant_store(self, name: str, typ: Any, quantized: Any) -> dict[str, Any]:
        """The weight-store entries (store name -> numpy array) of the
        quantised weight `name` of IR type `typ` (quant.QuantTensorType),
        whose values are `quantized` (quant_formats' QuantizedTensor; for a
        sparse `typ`, sparse_quant's SparseQuantized), laid out for this
        target's kernels."""
        raise SparccError(f"target '{self.name}' has no kernels for quantised weights")

    def sparse_quant_kernel(self, sparse_fmt: Any, quant_fmt: Any) -> str:
        """The kernel that runs a weight stored in sparse format `sparse_fmt`
        whose values are in quant format `quant_fmt` (the reference formats);
        ValueError saying what the target takes when none does."""
        raise ValueError(f"target '{self.name}' has no kernels for sparse quantised weights")

    def sparse_kind(self, fmt: Any) -> str:
        """The kernel kind that runs a weight stored in sparse format `fmt`;
        ValueError when no kernel of this target takes it."""
        raise ValueError(f"target '{self.name}' has no kernels for sparse weights")

    # -- cost hooks (sparcc.costmodel) --------------------------------------
    # the names of cost_spaces(), known without importing them (cache keys)
    cost_space_names: ClassVar[tuple[str, ...]] = ()

    def upstream_steps(self) -> dict[str, Any]:
        """The target's own rewrites of upstream MLIR (a function of an
        `mlir.ir.Module`) by name, which `sparcc-opt --mlir-pipeline ...
        --step NAME` runs for lit tests; none by default."""
        return {}

    def cost_spaces(self) -> dict[str, Any]:
        """The decisions this target lets the learned cost model make, by
        name: sparcc.costmodel.CostSpace objects (`sparcc tune` measures
        them, `choose` asks the model)."""
        return {}

    def sparse_speedup(self, parts: Sequence[tuple[str, int]], rows: int, cols: int) -> float:
        """Predicted speed of a sparse layer (kernel kind, stored values per
        part) against this target's dense code for a rows x cols weight."""
        return 1.0

    def sparse_estimate(self, parts: Sequence[tuple[str, int]], rows: int, cols: int,
                        batch_rows: int | None = None, formats: Sequence[str] | None = None,
                        threads: int | None = None) -> tuple[float, str]:
        """(sparse_speedup's prediction, what made it). A target with a
        learned model of its sparse kernels also knows the layer's input
        rows (`batch_rows`, None when dynamic) and formats."""
        return self.sparse_speedup(parts, rows, cols), "the kernel rate table"

    # -- build and load ----------------------------------------------------
    @abc.abstractmethod
    def build(self, module: Any, folder: Path, threads: int) -> dict[str, Any]:
        """Compiles `module` (after `pipeline`) into `folder`; returns what
        load() needs (JSON-able: the cache keeps it), with "schedule",
        "fallbacks", "seconds" and anything else the report shows."""

    @abc.abstractmethod
    def load(self, folder: Path, meta: dict[str, Any], program: Any, threads: int) -> Executable:
        """The program that build() left in `folder`. `program` is the
        frontend's ImportedProgram: its inputs, outputs, size symbols and
        weight store (by name), which the executable binds."""

    def required_files(self) -> set[str]:
        """Files a cache entry of this target must hold."""
        return set()

    # -- ahead of time -----------------------------------------------------
    def write_artifact(self, folder: Path, prepared: Any, threads: int, stages: Any, name: str) -> Any:
        """Writes the artifact of `prepared` (sparcc.driver.Prepared) into the
        empty `folder`, its manifest.json (with "target") last; `stages`
        (sparcc.artifact.Stages) times and shows each step. Returns a
        sparcc.artifact.Artifact."""
        raise SparccError(f"target '{self.name}' does not write ahead-of-time artifacts; use sparcc.jit")

    def load_artifact(self, folder: Path, manifest: dict[str, Any], threads: int | None, verify: bool) -> Any:
        raise SparccError(f"'{folder}' is for target '{self.name}', which has no artifact loader")


# -- what every target's entry function shares (lower-entry-abi) ------------


def weight_abi(module: Any) -> list[dict[str, Any]]:
    """The entry function's weight parameters, in order: the store name, the
    `perm` (nn.weight semantics) and the parameter's shape."""
    from sparcc.dialects.nn import ints
    from xdsl.dialects import func

    entry = next(op for op in module.ops if isinstance(op, func.FuncOp) and not op.is_declaration)
    first = ints(entry.attributes["sparcc.num_inputs"])[0]  # type: ignore[arg-type]
    arg_types = entry.function_type.inputs.data
    abi = []
    for i, entry_attr in enumerate(entry.attributes["sparcc.weights"].data):  # type: ignore[attr-defined]
        fields = entry_attr.data
        w = {
            "name": fields["name"].data,
            "perm": list(ints(fields["perm"])) if "perm" in fields else None,
            "shape": list(arg_types[first + i].get_shape()),
        }
        if "pad_rows" in fields:
            w["pad_rows"] = fields["pad_rows"].value.data
        abi.append(w)
    return abi


def weight_view(data: torch.Tensor, shape: list[int], perm: list[int] | None,
                pad_rows: int | None = None) -> torch.Tensor:
    """nn.weight semantics: the stored tensor (with `pad_rows`, as rows of the
    view's last dim padded with zero rows to that many) viewed row-major in
    the shape that `perm` maps onto `shape`, then permuted."""
    viewed = list(shape)
    if perm is not None:
        viewed = [0] * len(perm)
        for j, p in enumerate(perm):
            viewed[p] = shape[j]
    if pad_rows is not None:
        import torch

        rows = data.reshape(-1, viewed[-1])
        data = torch.cat([rows, rows.new_zeros(pad_rows - rows.shape[0], rows.shape[1])])
    bound = data.reshape(viewed)
    return bound.permute(*perm) if perm is not None else bound


def bind_weights(abi: list[dict[str, Any]], store: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The weight buffers in the order the entry function takes them (on the
    host; a device target uploads them). A buffer that must be a copy of
    the stored tensor (permuted, or made contiguous) is shared with every
    other program of the process that binds the same tensor the same way
    while it holds the same values (a model compiled for two signatures or
    team sizes keeps one transposed copy of each weight, not two)."""
    buffers = []
    for w in abi:
        data, shape, perm, pad = store[w["name"]], w["shape"], w["perm"], w.get("pad_rows")
        bound = weight_view(data, shape, perm, pad)
        # in the store's dtype, which the frontend made the IR's (float64 stays float64)
        buffers.append(bound if bound.is_contiguous() and pad is None else _shared_copy(data, bound, perm, pad))
    return buffers


# (the source's storage address and layout, the bound view's shape and
# permutation) -> a contiguous copy of that view; an entry lives as long as
# some program holds its copy, and the copy keeps its source alive (so that
# the address cannot be reused by another tensor meanwhile)
_copies: weakref.WeakValueDictionary[tuple[Any, ...], torch.Tensor] = weakref.WeakValueDictionary()


def _shared_copy(source: torch.Tensor, view: torch.Tensor, perm: list[int] | None,
                 pad_rows: int | None = None) -> torch.Tensor:
    import torch

    key = (source.device, source.untyped_storage().data_ptr(), source.storage_offset(), source.dtype,
           tuple(source.shape), source.stride(), tuple(view.shape), tuple(perm or ()), pad_rows)
    copy = _copies.get(key)
    # the same values: weights are captured when a program is built, and a
    # tensor changed in place since the last copy (even through .data, which
    # no version counter sees) gets a copy of its own
    if copy is not None and torch.equal(copy, view):
        return copy
    copy = view.contiguous()
    copy._sparcc_source = source  # type: ignore[attr-defined]
    _copies[key] = copy
    return copy


_loaded: dict[str, Target] = {}


def get_target(name: Any, *, available: bool = True, compiling: bool = False) -> Target:
    """The target called `name`. SparccError when there is none, or (with
    `available`) when it cannot run here (`compiling`: cannot compile ahead
    of time here), with the reason."""
    if not isinstance(name, str) or name not in TARGETS:
        raise SparccError(f"target '{name}' is not available; choose one of: {', '.join(TARGETS)}")
    target = _loaded.get(name)
    if target is None:
        module, _, cls = TARGETS[name].partition(":")
        target = _loaded[name] = getattr(importlib.import_module(module), cls)()
    if available and (why := target.unavailable_to_compile() if compiling else target.unavailable()) is not None:
        raise SparccError(f"target '{name}' is not available: {why}")
    return target


def targets() -> list[tuple[str, str, str | None]]:
    """Every target: (name, summary, why it is unavailable or None)."""
    out = []
    for name in TARGETS:
        try:
            t = get_target(name, available=False)
            out.append((name, t.summary, t.unavailable()))
        except ImportError as e:  # a target whose own dependency is missing
            out.append((name, "", f"cannot import it: {e}"))
    return out
