"""
What a compiled program takes and gives, without the compiler: the specs of
its inputs and outputs (TensorSpec), the imported program's description
(ImportedProgram), and the sparse-tensor helpers that the run-time checks
share with the frontend. Importing this module imports neither xDSL, sympy
nor MLIR, so a warm start (sparcc.trace_cache) and a loaded program need none
of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from sparcc.errors import SparccError

if TYPE_CHECKING:
    from sparcc.dialects import nn
    from xdsl.dialects.builtin import ModuleOp


def dims_text(shape: Any) -> str:
    """A shape as the IR prints it ("[1, s0, 64]")."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype of one argument or result; `format` is the sparse storage
    format of a torch sparse tensor (sparse_format), None for a dense one."""

    shape: tuple[nn.Dim, ...]  # symbolic sizes (s0, ...) where the program is dynamic
    dtype: torch.dtype
    format: str | None = None

    @staticmethod
    def of(t: torch.Tensor) -> TensorSpec:
        return TensorSpec(tuple(t.shape), t.dtype, sparse_format(t))

    def __str__(self) -> str:
        text = f"{str(self.dtype).removeprefix('torch.')}{dims_text(self.shape)}"
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
    # dynamic programs: each size symbol's range (min, max; max None if unbounded)
    symbols: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    # the user inputs the model updates in place, one per leading output
    # (outputs[:len(mutated)]): the caller copies each result back into its input
    mutated: list[int] = field(default_factory=list)
    # for each mutated input: whether the program may write its new value
    # straight into the input's buffer (the graph reads the input once, in
    # the op that computes the new value: a KV cache's index_copy)
    in_place: list[bool] = field(default_factory=list)
    # whether the program draws random numbers (nn.random): each call is then
    # seeded from torch's generator
    random: bool = False
    # the user's complex inputs and results: their specs (and the IR) are
    # the real (re, im) pairs, a last dim of 2; the caller passes
    # torch.view_as_real(x) and gets torch.view_as_complex(result)
    complex_inputs: list[int] = field(default_factory=list)
    complex_outputs: list[int] = field(default_factory=list)


def tree_json(tree: Any) -> str | None:
    """An output pytree as torch's JSON, or None when it is None or holds a
    type that does not serialise (a custom pytree node without a name)."""
    if tree is None:
        return None
    from torch.utils import _pytree as pytree

    try:
        return pytree.treespec_dumps(tree)
    except Exception:  # noqa: BLE001 (custom pytree nodes without a serialiser)
        return None
