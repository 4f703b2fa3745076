"""sparcc passes: one file per pass; `PASSES` maps each name to its class.

The passes here are target-independent. A target's own passes (the CPU's
lower-sparse and lower-quant, which call its kernels) live in its folder
under backends/ and are registered here by module path, so that sparcc-opt
and the lit tests reach them while nothing here imports a target.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextvars import ContextVar

from xdsl.passes import ModulePass


# The team size the code is built for, while the driver runs the passes
# (driver.run_passes): a pass whose cost decision depends on it reads it
# (fuse-attention: its blocks of queries are shared by the threads).
TEAM: ContextVar[int] = ContextVar("sparcc_team", default=1)


def team_size() -> int:
    return TEAM.get()


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


def _fuse_epilogue() -> type[ModulePass]:
    from sparcc.passes.fuse_epilogue import FuseEpiloguePass

    return FuseEpiloguePass


def _fuse_attention() -> type[ModulePass]:
    from sparcc.passes.fuse_attention import FuseAttentionPass

    return FuseAttentionPass


def _quantize_weights() -> type[ModulePass]:
    from sparcc.passes.quantize_weights import QuantizeWeightsPass

    return QuantizeWeightsPass


def _target_pass(path: str) -> Callable[[], type[ModulePass]]:
    """A target's own pass (it lowers to that target's kernels), imported
    by name when first asked for: nothing here imports a target."""

    def load() -> type[ModulePass]:
        module, _, cls = path.partition(":")
        return getattr(importlib.import_module(module), cls)

    return load


def _sparsify_weights() -> type[ModulePass]:
    from sparcc.passes.sparsify_weights import SparsifyWeightsPass

    return SparsifyWeightsPass


def _shard_propagate() -> type[ModulePass]:
    from sparcc.passes.shard_propagate import ShardPropagatePass

    return ShardPropagatePass


def _shard_partition() -> type[ModulePass]:
    from sparcc.passes.shard_partition import ShardPartitionPass

    return ShardPartitionPass


def _customize_layout() -> type[ModulePass]:
    from sparcc.passes.customize_layout import CustomizeLayoutPass

    return CustomizeLayoutPass


def _channels_last() -> type[ModulePass]:
    from sparcc.passes.channels_last import ChannelsLastPass

    return ChannelsLastPass


def _widen_bool_tensors() -> type[ModulePass]:
    from sparcc.passes.widen_bool_tensors import WidenBoolTensorsPass

    return WidenBoolTensorsPass


PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "convert-nn-to-linalg": _convert_nn_to_linalg,
    "lower-entry-abi": _lower_entry_abi,
    "approximate-math": _approximate_math,
    "fuse-elementwise": _fuse_elementwise,
    "fuse-attention": _fuse_attention,
    "fuse-epilogue": _fuse_epilogue,
    "customize-layout": _customize_layout,
    "channels-last": _channels_last,
    "quantize-weights": _quantize_weights,
    "lower-quant": _target_pass("sparcc.backends.cpu.lower_quant:LowerQuantPass"),
    "hls-lower-quant": _target_pass("sparcc.backends.hls.lower_quant:LowerQuantPass"),
    "hls-lower-sparse": _target_pass("sparcc.backends.hls.lower_sparse:LowerSparsePass"),
    "sparsify-weights": _sparsify_weights,
    "lower-sparse": _target_pass("sparcc.backends.cpu.lower_sparse:LowerSparsePass"),
    "widen-bool-tensors": _widen_bool_tensors,
    "shard-propagate": _shard_propagate,
    "shard-partition": _shard_partition,
}
