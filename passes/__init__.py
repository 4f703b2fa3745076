"""sparcc passes: one file per pass; `PASSES` maps each name to its class."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def _convert_nn_to_linalg() -> type[ModulePass]:
    from sparcc.passes.convert_nn_to_linalg import ConvertNnToLinalgPass

    return ConvertNnToLinalgPass


def _lower_entry_abi() -> type[ModulePass]:
    from sparcc.passes.lower_entry_abi import LowerEntryAbiPass

    return LowerEntryAbiPass


def _approximate_math() -> type[ModulePass]:
    from sparcc.passes.approximate_math import ApproximateMathPass

    return ApproximateMathPass


def _fuse_elementwise() -> type[ModulePass]:
    from sparcc.passes.fuse_elementwise import FuseElementwisePass

    return FuseElementwisePass


def _quantize_weights() -> type[ModulePass]:
    from sparcc.passes.quantize_weights import QuantizeWeightsPass

    return QuantizeWeightsPass


def _lower_quant() -> type[ModulePass]:
    from sparcc.passes.lower_quant import LowerQuantPass

    return LowerQuantPass


def _sparsify_weights() -> type[ModulePass]:
    from sparcc.passes.sparsify_weights import SparsifyWeightsPass

    return SparsifyWeightsPass


def _lower_sparse() -> type[ModulePass]:
    from sparcc.passes.lower_sparse import LowerSparsePass

    return LowerSparsePass


def _widen_bool_tensors() -> type[ModulePass]:
    from sparcc.passes.widen_bool_tensors import WidenBoolTensorsPass

    return WidenBoolTensorsPass


PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "convert-nn-to-linalg": _convert_nn_to_linalg,
    "lower-entry-abi": _lower_entry_abi,
    "approximate-math": _approximate_math,
    "fuse-elementwise": _fuse_elementwise,
    "quantize-weights": _quantize_weights,
    "lower-quant": _lower_quant,
    "sparsify-weights": _sparsify_weights,
    "lower-sparse": _lower_sparse,
    "widen-bool-tensors": _widen_bool_tensors,
}
