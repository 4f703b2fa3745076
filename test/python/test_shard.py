"""Sharding over torch.distributed (issue 16): 2-process gloo runs against eager
PyTorch and DTensor, the collectives Megatron placements need, the bytes they
move, each rank's weights, and the errors a user can meet.

The 2-process cases run in one torch.multiprocessing spawn per tier (a spawn
costs an interpreter, torch and sparcc per rank); each rank writes what it saw
to a file and the tests below read it. Rank 0 compiles each segment, rank 1
then loads it from the on-disk cache."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import sparcc
from sparcc.errors import SparccError

TOL = 1e-5


class MLP(torch.nn.Module):
    def __init__(self, d: int = 16, f: int = 64, o: int = 16):
        super().__init__()
        self.fc1 = torch.nn.Linear(d, f)
        self.fc2 = torch.nn.Linear(f, o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class Block(torch.nn.Module):
    """A pre-norm transformer block: causal multi-head attention (q, k and v
    projected by one fused Linear, as GPT-2 does, or by three) and a GELU MLP."""

    def __init__(self, d: int = 32, heads: int = 4, f: int = 64, fused: bool = False):
        super().__init__()
        self.heads, self.fused = heads, fused
        self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        if fused:
            self.qkv = torch.nn.Linear(d, 3 * d)
        else:
            self.q, self.k, self.v = (torch.nn.Linear(d, d) for _ in range(3))
        self.o = torch.nn.Linear(d, d)
        self.fc1, self.fc2 = torch.nn.Linear(d, f), torch.nn.Linear(f, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.ln1(x)
        qkv = self.qkv(h).split(d, dim=-1) if self.fused else (self.q(h), self.k(h), self.v(h))
        q, k, v = (t.view(b, n, self.heads, d // self.heads).transpose(1, 2) for t in qkv)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x))))


class Stack(torch.nn.Module):
    def __init__(self, layers: int = 2):
        super().__init__()
        self.layers = torch.nn.ModuleList(Block(fused=i == 0) for i in range(layers))  # layer 0: fused q|k|v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class Branches(MLP):
    """An MLP beside an independent layer: `skip` runs while the MLP's sum moves."""

    def __init__(self, d: int, f: int):
        super().__init__(d, f, d)
        self.skip = torch.nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x))) + self.skip(x)


class Scatter(torch.nn.Module):
    """A row-parallel sum added to a column-parallel output: the sum is
    reduce-scattered to the split it is added to, then gathered."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(16, 32, bias=False), torch.nn.Linear(32, 16, bias=False)
        self.fc3 = torch.nn.Linear(16, 16, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x))) + self.fc3(x)


class Unplaced(torch.nn.Module):
    """A column-parallel linear whose split output meets argsort (no sharding rule)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(16, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.argsort(self.fc(x), dim=0)


MLP_SPEC = {"*fc1.weight": "shard(0)", "*fc2.weight": "shard(1)"}


def min_all_reduce(model: torch.nn.Module, placements: dict[str, str], *args: torch.Tensor) -> list[int]:
    """The analytic minimum for Megatron placements, from the placements and
    the model alone: [calls, bytes] of all-reduce per call. A row-parallel
    layer (its weight split along the input features: shard(1) of a Linear's
    [out, in], shard(0) of a GPT-2 Conv1D's [in, out]) leaves a partial sum
    of its whole output on every rank, which one all-reduce adds; a
    column-parallel layer and the ops between the two move nothing."""
    outputs: dict[str, int] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, o, n=name: outputs.__setitem__(n, o.numel() * o.element_size()))
             for name, m in model.named_modules() if isinstance(getattr(m, "weight", None), torch.Tensor)]
    with torch.no_grad():
        model(*args)
    for h in hooks:
        h.remove()
    row = [name for name, m in model.named_modules() if name in outputs and m.weight.dim() == 2
           and placements.get(f"{name}.weight") == ("shard(0)" if type(m).__name__ == "Conv1D" else "shard(1)")]
    return [len(row), sum(outputs[n] for n in row)]


def _error(fn) -> str:
    try:
        fn()
    except SparccError as e:
        return str(e)
    return "no error"


def _case_main(rank: int, out: dict[str, Any]) -> None:
    torch.manual_seed(0)
    mlp, mlp_x = MLP().eval(), torch.randn(8, 16)
    fast = sparcc.jit(mlp, shard=MLP_SPEC, threads=1)
    x = mlp_x
    with torch.no_grad():
        out["mlp"] = (fast(x), mlp(x))
    out["mlp_report"], out["mlp_comm"] = fast.program.report, {k: list(v) for k, v in fast.program.comm.items()}
    out["mlp_fc1_local"] = fast.program.weights["fc1.weight"].clone()
    out["mlp_min"] = min_all_reduce(mlp, fast.program.report["placements"], x)

    # the same annotations through DTensor's tensor parallelism
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    mesh = init_device_mesh("cpu", (2,))
    tp = parallelize_module(MLP().eval(), mesh, {"fc1": ColwiseParallel(), "fc2": RowwiseParallel()})
    with torch.no_grad():
        for name, p in tp.named_parameters():  # the same weights as mlp's
            p.copy_(torch.distributed.tensor.distribute_tensor(dict(mlp.named_parameters())[name], mesh,
                                                               p.placements))
        out["dtensor"] = tp(x)
        out["dtensor_fc1_local"] = tp.fc1.weight.to_local().clone()

    torch.manual_seed(1)
    stack, x = Stack().eval(), torch.randn(2, 8, 32)
    auto = sparcc.jit(stack, shard="auto", threads=1)
    with torch.no_grad():
        out["stack"] = (auto(x), stack(x))
    out["stack_report"], out["stack_comm"] = auto.program.report, {k: list(v) for k, v in auto.program.comm.items()}
    out["stack_min"] = min_all_reduce(stack, auto.program.report["placements"], x)
    globs = {"*.qkv.weight": "shard(0, blocks=3)", "*.q.weight": "shard(0)", "*.k.weight": "shard(0)",
             "*.v.weight": "shard(0)", "*.o.weight": "shard(1)", "*.fc1.weight": "shard(0)", "*.fc2.weight": "shard(1)"}
    manual = sparcc.jit(stack, shard=globs, threads=1)
    out["stack_manual"] = manual(x)
    out["stack_manual_cache"] = manual.program.report["cache"]

    # compressed layers: an NF4 column-parallel fc1 and a 2:4 sparse row-parallel
    # fc2, beside a replicated float layer that runs while fc2's sum moves
    torch.manual_seed(2)
    cmlp, cx = Branches(64, 128).eval(), torch.randn(8, 64)
    comp = sparcc.jit(cmlp, shard=MLP_SPEC, quant={"fc1": "nf4:g32"}, sparsity={"fc2": "2:4"}, threads=1)
    with torch.no_grad():
        out["compressed"] = (comp(cx), cmlp, cx)
    out["compressed_report"] = comp.program.report
    out["compressed_comm"] = {k: list(v) for k, v in comp.program.comm.items()}
    out["compressed_min"] = min_all_reduce(cmlp, comp.program.report["placements"], cx)

    # an op without a sharding rule runs replicated and is named
    unruly = Unplaced().eval()
    fast_u = sparcc.jit(unruly, shard={"fc.weight": "shard(0)"}, threads=1)
    out["unplaced"] = (fast_u(mlp_x), unruly(mlp_x), fast_u.program.report)

    # ahead of time: the parent wrote one artifact per rank (see main_run)
    aot = sparcc.load(out["_folder"] + "/aot")
    out["aot"] = (aot(mlp_x), aot.report)
    out["aot_mesh"] = _error(lambda: sparcc.load(out["_folder"] + "/aot4"))

    out["odd"] = _error(lambda: sparcc.jit(MLP(16, 15, 16), shard=MLP_SPEC)(torch.randn(8, 16)))
    out["mesh"] = _error(lambda: sparcc.jit(mlp, shard={"mesh": 4, **MLP_SPEC})(torch.randn(8, 16)))

    # a hung peer (rank 1 sleeps) and then a dead one (it leaves): rank 0's
    # collectives fail with a message, after the timeout or when gloo sees
    # the connection close
    if rank == 1:
        torch.distributed.barrier()
        time.sleep(2.5)
        torch.save({k: v for k, v in out.items() if not k.startswith("_")}, out["_path"])
        os._exit(0)
    torch.distributed.barrier()
    fast.program.timeout = 1.0  # what shard={"timeout": 1.0, ...} sets
    start = time.perf_counter()
    out["hung_peer"] = (_error(lambda: fast(mlp_x)), time.perf_counter() - start)
    fast.program.timeout = 30.0
    out["dead_peer"] = _error(lambda: fast(mlp_x))


def _case_zoo(rank: int, out: dict[str, Any]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import zoo_models

    aot = sparcc.load(out["_folder"] + "/aotc")
    torch.manual_seed(2)
    m, x = Branches(64, 128).eval(), torch.randn(8, 64)
    out["aot_compressed"] = (aot(x), m, x, aot.report)

    torch.manual_seed(3)
    m, x = Scatter().eval(), torch.randn(8, 16)
    fast = sparcc.jit(m, shard={"fc1.weight": "shard(0)", "fc2.weight": "shard(1)", "fc3.weight": "shard(0)"},
                      threads=1)
    with torch.no_grad():
        out["scatter"] = (fast(x), m(x), fast.program.report, {k: list(v) for k, v in fast.program.comm.items()})

    for name in ("llama", "gpt2"):
        entry = zoo_models.MODELS[f"hf/{name}"]
        model, args = entry.build(), entry.inputs()
        fast = sparcc.jit(model, shard="auto", threads=1)
        with torch.no_grad():
            out[name] = (fast(*args), model(*args))
        out[f"{name}_report"], out[f"{name}_comm"] = fast.program.report, dict(fast.program.comm)
        out[f"{name}_min"] = min_all_reduce(model, fast.program.report["placements"], *args)


def _worker(rank: int, world: int, port: int, case: str, folder: str, cache: str) -> None:
    import datetime

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), SPARCC_CACHE_DIR=cache)
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    out: dict[str, Any] = {"_path": f"{folder}/rank{rank}.pt", "_folder": folder}
    globals()[f"_case_{case}"](rank, out)
    torch.save({k: v for k, v in out.items() if not k.startswith("_")}, out["_path"])
    if rank == 0 and case == "main":
        os._exit(0)  # the group lost rank 1: skip its teardown
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_aot(folder: Path) -> None:
    """sparcc compile --shard's artifacts of the MLP of _case_main, for 2
    ranks; aot4/ claims a mesh of 4."""
    import json
    import shutil

    from sparcc import shard

    torch.manual_seed(0)
    mlp, x = MLP().eval(), torch.randn(8, 16)
    shard.compile_sharded(mlp, [x], folder / "aot", MLP_SPEC, 2, threads=1)
    shutil.copytree(folder / "aot", folder / "aot4")
    for r in range(2):
        m = json.loads((folder / "aot4" / f"rank{r}" / "shard.json").read_text())
        (folder / "aot4" / f"rank{r}" / "shard.json").write_text(json.dumps({**m, "world": 4}))


def _spawn(case: str, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    import torch.multiprocessing as mp

    folder = tmp_path_factory.mktemp(f"shard-{case}")
    if case == "main":
        _write_aot(folder)
    if case == "zoo":  # compressed layers ahead of time: fc2 2:4-pruned with NF4 kept values
        from sparcc import shard

        torch.manual_seed(2)
        shard.compile_sharded(Branches(64, 128).eval(), [torch.randn(8, 64)], folder / "aotc", MLP_SPEC, 2, threads=1,
                              quant={"fc*": "nf4:g32"}, sparsity={"fc2": "2:4"})
    mp.spawn(_worker, args=(2, _free_port(), case, str(folder), os.environ["SPARCC_CACHE_DIR"]), nprocs=2)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.fixture(scope="module")
def main_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _spawn("main", tmp_path_factory)


def test_mlp_matches_eager(main_run):
    for r in main_run:
        got, want = r["mlp"]
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)


def test_mlp_one_all_reduce_of_the_output(main_run):
    # column->row parallel: the analytic minimum is one all-reduce of the
    # output [8, 16] float32; nothing else moves
    for r in main_run:
        assert r["mlp_report"]["collectives"] == ["all_reduce"]
        assert r["mlp_report"]["unplaced"] == []
        assert r["mlp_comm"] == {"all_reduce": [1, 8 * 16 * 4]}
        assert r["mlp_comm"]["all_reduce"] == r["mlp_min"]


def test_bytes_moved_are_the_analytic_minimum(main_run):
    # bytes handed to torch.distributed at run time, per collective, against
    # min_all_reduce's count from the placements and the model's shapes
    for r in main_run:
        for case in ("mlp", "stack", "compressed"):
            assert list(r[f"{case}_comm"]) == ["all_reduce"], case
            assert r[f"{case}_comm"]["all_reduce"] == r[f"{case}_min"], case


def test_each_rank_holds_its_weight_parts(main_run):
    full = (16 * 64 + 64 + 64 * 16 + 16) * 4
    mine = (16 * 64 + 64 + 64 * 16) * 4 // 2 + 16 * 4  # fc2's bias is added once, after the sum
    for rank, r in enumerate(main_run):
        assert r["mlp_report"]["memory"] == {"weights_bytes": mine, "model_weights_bytes": full}
        # rank r's fc1 rows are rows [32r, 32r + 32) of the full weight, as DTensor's ColwiseParallel puts them
        torch.testing.assert_close(r["mlp_fc1_local"], r["dtensor_fc1_local"], atol=0, rtol=0)


def test_mlp_matches_dtensor_tensor_parallel(main_run):
    for r in main_run:
        torch.testing.assert_close(r["mlp"][0], r["dtensor"], atol=TOL, rtol=0)


def _compressed_reference(m: torch.nn.Module, x: torch.Tensor, nf4_kept: bool = False) -> torch.Tensor:
    """PyTorch with the weights that sparcc's single-process compression gives
    (fc1's NF4 round trip, fc2's 2:4 pruning, with NF4 kept values if nf4_kept)."""
    from sparcc.dialects import sparse_quant
    from sparcc.dialects.quant_formats import parse_format
    from sparcc.dialects.sparse_formats import prune

    w2 = m.fc2.weight.detach().numpy()
    w2 = sparse_quant.dequantize(sparse_quant.quantize(w2, "2:4", "nf4:g32", "2:4")) if nf4_kept else prune(w2, "2:4")
    with torch.no_grad():
        m.fc1.weight.copy_(torch.from_numpy(parse_format("nf4:g32").roundtrip(m.fc1.weight.detach().numpy())))
        m.fc2.weight.copy_(torch.from_numpy(w2))
        return m(x)


def test_compressed_layers_keep_their_parts(main_run):
    # NF4 fc1 split by rows (output features) and 2:4 fc2 split by columns
    # (input features): the same as PyTorch with the compressed weights
    got, m, x = main_run[0]["compressed"]
    want = _compressed_reference(m, x)
    for r in main_run:
        torch.testing.assert_close(r["compressed"][0], want, atol=TOL, rtol=0)
        report = r["compressed_report"]
        assert report["placements"]["fc1.weight"] == "shard(0)" and report["unplaced"] == []
        # each rank: half of fc1's 4-bit codes, scales and bias and of fc2's
        # kept values and their 1-byte indices; NF4's table, fc2's bias and skip whole
        split = 64 * 32 + 64 * 2 * 4 + 64 * 4 + 64 * 32 * 4 + 64 * 32
        whole = 16 * 4 + 64 * 4 + (64 * 64 + 64) * 4
        assert report["memory"] == {"weights_bytes": split + whole, "model_weights_bytes": 2 * split + whole}


def test_communication_overlaps_independent_compute(main_run):
    # fc2's all-reduce starts as soon as fc2 is done; `skip`, which does not
    # read it, runs before the wait; the bias add and the sum after it
    for r in main_run:
        assert r["compressed_report"]["schedule"] == ["segment", "all_reduce", "segment", "wait", "segment"]
        assert r["mlp_report"]["schedule"] == ["segment", "all_reduce", "wait", "segment"]  # nothing to overlap


def test_transformer_stack_auto_matches_eager(main_run):
    for r in main_run:
        got, want = r["stack"]
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)
        torch.testing.assert_close(r["stack_manual"], want, atol=TOL, rtol=0)


def test_auto_is_megatron_two_all_reduces_per_layer(main_run):
    for r in main_run:
        report = r["stack_report"]
        assert report["unplaced"] == []
        assert report["collectives"] == ["all_reduce"] * 4  # 2 layers
        assert r["stack_comm"] == {"all_reduce": [4, 4 * 2 * 8 * 32 * 4]}
        # the fused q|k|v is split per block: each rank keeps its heads of q, of k and of v
        assert report["placements"]["layers.0.qkv.weight"] == "shard(0, blocks=3)"
        assert report["placements"]["layers.1.q.weight"] == "shard(0)"
        assert report["placements"]["layers.1.fc2.weight"] == "shard(1)"


def test_same_segments_are_cached(main_run):
    # the globs give auto's placements: every segment is found in the cache
    assert main_run[0]["stack_manual_cache"] == ["hit"] * 5
    assert main_run[1]["stack_report"]["cache"] == ["hit"] * 5


def test_an_op_without_a_rule_is_named_and_runs_replicated(main_run):
    for r in main_run:
        got, want, report = r["unplaced"]
        assert torch.equal(got, want)
        assert report["unplaced"] == ["nn.argsort", "nn.gather"]  # torch.argsort imports as both
        assert report["collectives"] == ["all_gather"]  # one gather serves both


def test_aot_artifact_per_rank(main_run):
    for rank, r in enumerate(main_run):
        got, report = r["aot"]
        torch.testing.assert_close(got, r["mlp"][1], atol=TOL, rtol=0)
        assert report["rank"] == rank and report["collectives"] == ["all_reduce"]
        assert report["memory"] == r["mlp_report"]["memory"]
        assert "compiled for a mesh of 4 processes but the process group has 2" in r["aot_mesh"]


def test_distributed_errors(main_run):
    r = main_run[0]
    assert "'fc1.weight' dim 0 has size 15, which 2 ranks do not divide" in r["odd"]
    assert "the mesh has 4 processes but the process group has 2" in r["mesh"]
    assert "all_reduce over 2 ranks failed" in r["dead_peer"] and "peer process may have died" in r["dead_peer"]
    hung, seconds = r["hung_peer"]
    assert "all_reduce over 2 ranks failed" in hung and seconds < 2.2  # rank 1 sleeps 2.5 s


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _spawn("zoo", tmp_path_factory)


@pytest.mark.slow
def test_compressed_layers_ahead_of_time(zoo_run):
    # compile_sharded with quant= and sparsity=, fc2 2:4 with NF4 kept values
    # (split along its input features: each rank keeps half of the kept
    # values' codes, their groups' scales and their positions): each rank's
    # artifact computes what the single-process compressed model does
    for rank, r in enumerate(zoo_run):
        got, m, x, report = r["aot_compressed"]
        torch.testing.assert_close(got, _compressed_reference(m, x, nf4_kept=True), atol=TOL, rtol=0)
        assert report["rank"] == rank and report["collectives"] == ["all_reduce"]
        whole = 16 * 4 + 16 * 4 + 64 * 4 + (64 * 64 + 64) * 4  # the two NF4 tables, fc2's bias, skip
        mem = report["memory"]
        assert 2 * mem["weights_bytes"] - mem["model_weights_bytes"] == whole  # everything else halves


@pytest.mark.slow
def test_reduce_scatter_on_gloo(zoo_run):
    # the row-parallel sum goes to each rank's half of the columns (gloo's
    # reduce_scatter: the whole 8x16 output handed in), the sum is gathered
    for r in zoo_run:
        got, want, report, comm = r["scatter"]
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)
        assert report["collectives"] == ["reduce_scatter", "all_gather"]
        assert comm == {"reduce_scatter": [1, 8 * 16 * 4], "all_gather": [1, 8 * 8 * 4]}


@pytest.mark.slow
def test_llama_zoo_model_auto(zoo_run):
    # HF Llama (GQA, RoPE, RMSNorm, SwiGLU), 2 layers: Megatron attention and MLP
    for r in zoo_run:
        got, want = r["llama"]
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)
        assert r["llama_report"]["unplaced"] == []
        assert r["llama_report"]["collectives"] == ["all_reduce"] * 4
        assert r["llama_comm"] == {"all_reduce": [4, 4 * 16 * 64 * 4]}
        assert r["llama_comm"]["all_reduce"] == r["llama_min"]


@pytest.mark.slow
def test_gpt2_zoo_model_auto(zoo_run):
    # GPT-2's Conv1D layers (matmul by a [in, out] weight) are split, its
    # fused q|k|v projection per block: Megatron's 2 all-reduces per layer
    for r in zoo_run:
        got, want = r["gpt2"]
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)
        assert r["gpt2_report"]["unplaced"] == []
        assert r["gpt2_report"]["placements"]["m.transformer.h.0.mlp.c_fc.weight"] == "shard(1)"
        assert r["gpt2_report"]["placements"]["m.transformer.h.0.attn.c_attn.weight"] == "shard(1, blocks=3)"
        assert r["gpt2_report"]["collectives"] == ["all_reduce"] * 4
        assert list(r["gpt2_comm"]["all_reduce"]) == r["gpt2_min"]


@pytest.mark.slow
@pytest.mark.parametrize("name, all_reduces", [
    ("gpt_neox", 4), ("gpt_neo", 4), ("gptj", 4), ("bert", 4), ("mistral", 4), ("qwen2", 4),
    ("gpt_bigcode", 2),  # multi-query attention: one k/v head, not split; its MLP is
])
def test_zoo_transformers_are_placed(name, all_reduces):
    # propagation places every op of these 2-layer zoo models under auto (no
    # process group needed to plan): Megatron's 2 all-reduces per layer
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import zoo_models

    from sparcc import shard
    from sparcc.backends import get_target

    entry = zoo_models.MODELS[f"hf/{name}"]
    p = shard.plan(entry.build(), entry.inputs(), shard.parse_shard_spec("auto"), 2, get_target("cpu"))
    assert p.unplaced == []
    assert [s[1].kind for s in p.steps if s[0] == "collective"] == ["all_reduce"] * all_reduces


# -- single process: mistakes caught before anything runs ----------------------


def test_bad_placement_is_one_message():
    with pytest.raises(SparccError, match=r"shard: layer pattern '\*fc1.weight': placement 'shrad\(0\)' is not"):
        sparcc.jit(MLP(), shard={"*fc1.weight": "shrad(0)"})


def test_no_process_group_is_one_message():
    with pytest.raises(SparccError, match=r"torch.distributed has no process group; call "
                                          r"torch.distributed.init_process_group\('gloo'\) first"):
        sparcc.jit(MLP(), shard=MLP_SPEC)(torch.randn(8, 16))


def test_a_peer_lost_while_rank_0_compiles_is_one_message(monkeypatch):
    import torch.distributed as dist

    from sparcc import shard

    def lost() -> None:
        raise RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer\nmore")

    monkeypatch.setattr(dist, "barrier", lost)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    with pytest.raises(SparccError, match=r"shard: rank 1: waiting for the other ranks while rank 0 compiles failed "
                                          r"\(.*Connection closed by peer\); a peer process may have died"):
        shard._barrier()


def test_bad_options_are_one_message():
    from sparcc.shard import parse_shard_spec

    assert parse_shard_spec({"*": "auto", "mesh": 2, "timeout": 30}).timeout == 30
    with pytest.raises(SparccError, match="shard: timeout -1 is not a number of seconds > 0"):
        parse_shard_spec({"timeout": -1, "fc1.weight": "shard(0)"})
    with pytest.raises(SparccError, match=r"shard: mesh \[0\] is not a size or a tuple of sizes >= 1"):
        parse_shard_spec({"mesh": [0], "fc1.weight": "shard(0)"})


def test_shard_does_not_combine_with_dynamic():
    with pytest.raises(SparccError, match="shard= cannot be combined with dynamic="):
        sparcc.jit(MLP(), shard="auto", dynamic={0: {0: (1, 64)}})


def test_unknown_glob_and_dim_are_named():
    from sparcc import shard
    from sparcc.frontend import import_module

    imported = import_module(MLP(), [torch.randn(8, 16)])
    with pytest.raises(SparccError, match="the pattern 'fc3.\\*' matches no parameter of the model"):
        shard.rule_placements(shard.parse_shard_spec({"fc3.*": "shard(0)"}), imported.module, imported.weights)
    with pytest.raises(SparccError, match=r"'fc1.weight' has 2 dims \(shape \[64, 16\]\); shard\(2\) names no dim"):
        shard.rule_placements(shard.parse_shard_spec({"fc1.weight": "shard(2)"}), imported.module, imported.weights)


@pytest.mark.parametrize("rank", [0, 1])
def test_local_weight_follows_a_folded_transpose(rank):
    # nn.weight @w {perm = [1, 0]}: the stored [6, 4] tensor viewed as [6, 4]
    # and transposed to the [4, 6] result; split along result dim 1 (local [4, 3])
    from sparcc import shard
    from sparcc.dialects import nn
    from sparcc.passes.shard_propagate import ATTR, S
    from xdsl.dialects.builtin import f32

    full = torch.randn(6, 4)
    op = nn.WeightOp("w", nn.tensor([4, 3], f32), perm=[1, 0])
    op.attributes[ATTR] = S(1).attr("mesh")
    local = shard.local_weight(full, op, rank, 2)
    assert local.shape == (3, 4)
    torch.testing.assert_close(shard._bound(local, op), full.t()[:, 3 * rank : 3 * rank + 3], atol=0, rtol=0)


@pytest.mark.parametrize("fmt", ["nf4:g32", "int4:g32:asym", "int8:channel", "int4:tensor", "mxfp4"])
@pytest.mark.parametrize("dim", [0, 1])
def test_a_rank_keeps_its_part_of_the_quantised_weight(fmt, dim):
    # codes and scales cut from the whole weight's: the part dequantises to
    # exactly the slice of the whole (a per-channel or per-tensor scale that
    # spans a split row is kept whole)
    import numpy as np

    from sparcc.dialects.quant_formats import parse_format
    from sparcc.shard import slice_quantized

    f = parse_format(fmt)
    w = np.random.default_rng(0).standard_normal((16, 128)).astype(np.float32)
    whole = f.dequantize(f.quantize(w))
    for rank in range(2):
        part = f.dequantize(slice_quantized(f.quantize(w), f, dim, rank, 2))
        want = np.split(whole, 2, axis=dim)[rank]
        assert part.shape == want.shape and np.array_equal(part, want)


EXAMPLE_MLP = str(Path(__file__).resolve().parents[2] / "examples" / "mlp.py")


@pytest.mark.slow  # about 20 s on 2 busy cores: 2 ranks x 2 segments through llc; _write_aot covers the writer
def test_cli_compile_writes_one_artifact_per_rank(tmp_path, capsys):
    from sparcc.cli import main

    args = f"compile {EXAMPLE_MLP}:make_model --example-input randn(4,512) -o {tmp_path}/o --shard auto --world-size 2 --threads 1"
    assert main(args.split()) == 0
    out = capsys.readouterr().out
    assert "rank 0 of 2" in out and "rank 1 of 2" in out and "collectives all_reduce" in out
    for r in range(2):
        assert (tmp_path / "o" / f"rank{r}" / "shard.json").is_file()
        assert (tmp_path / "o" / f"rank{r}" / "seg0" / "manifest.json").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        ("--shard auto", "--shard and --world-size go together"),
        ("--shard fc1.weight=shard(x) --world-size 2", "placement 'shard(x)' is not 'shard(<dim>)'"),
        pytest.param("--shard fc1.weight=shard(0) --world-size 3",
                     "weight 'fc1.weight' dim 0 has size 2048, which 3 ranks do not divide",
                     marks=pytest.mark.slow),  # 0.4-0.7 s; the 2-process run and lit check this message too
    ],
)
def test_cli_shard_mistakes_get_one_message(extra, message, tmp_path, capsys):
    from sparcc.cli import main

    args = f"compile {EXAMPLE_MLP}:make_model --example-input randn(4,512) -o {tmp_path}/o {extra}"
    assert main(args.split()) == 1
    err = capsys.readouterr().err
    assert err.startswith("sparcc: error: ") and message in err and "Traceback" not in err
