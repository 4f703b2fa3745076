"""The on-disk compile cache, the parallel runtime and reproducers.

Cache tests run compiles in fresh processes (as a user's second run would)
against a private cache folder, and read the process's compile counters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sparcc
import torch
from sparcc import cache
from sparcc.backends import cpu
from sparcc.driver import compile_program
from sparcc.errors import PipelineError

ROOT = Path(__file__).resolve().parents[2]

# compiles the encoder layer in a fresh process and prints what happened
_CHILD = r"""
import json, sys, time, torch, sparcc
from sparcc import cache
torch.manual_seed(0)
layer = torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, dropout=0.0).eval()
x = torch.randn(2, 16, 64)
start = time.perf_counter()
fast = sparcc.jit(layer)
got = fast(x)
seconds = time.perf_counter() - start
with torch.no_grad():
    err = (got - layer(x)).abs().max().item()
program = next(iter(fast.cache.values()))
print(json.dumps({"err": err, "seconds": seconds, "stats": cache.STATS,
                  "cache": program.report["cache"], "threads": program.report["threads"]}))
"""


def _child(cache_dir: Path, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env={**os.environ, "SPARCC_CACHE_DIR": str(cache_dir), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "jit").iterdir())


def test_second_process_loads_from_cache_without_compiling(tmp_path: Path) -> None:
    first = _child(tmp_path)
    second = _child(tmp_path)
    assert first["stats"]["compiles"] == 1 and first["cache"] == "built"
    assert second["stats"] == {"compiles": 0, "hits": 1, "rebuilt": 0}
    assert second["cache"] == "hit"
    assert second["seconds"] < first["seconds"]
    assert first["err"] < 1e-4 and second["err"] < 1e-4


@pytest.mark.parametrize("damage", ["truncate-library", "garbage-metadata", "delete-runtime"])
def test_damaged_entry_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    _child(tmp_path)
    (entry,) = _entries(tmp_path)
    if damage == "truncate-library":
        lib = entry / cache.LIBRARY
        lib.write_bytes(lib.read_bytes()[: lib.stat().st_size // 2])
    elif damage == "garbage-metadata":
        (entry / cache.ENTRY).write_text("{not json")
    else:
        (entry / "libsparcc_rt.so").unlink()
    again = _child(tmp_path)
    assert again["stats"] == {"compiles": 1, "hits": 0, "rebuilt": 1}
    assert again["err"] < 1e-4
    assert [p.name for p in _entries(tmp_path)] == [entry.name]  # no debris left behind


def test_concurrent_compiles_of_one_entry_both_succeed(tmp_path: Path) -> None:
    env = {**os.environ, "SPARCC_CACHE_DIR": str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["err"] < 1e-4 for r in results)
    assert len(_entries(tmp_path)) == 1  # one entry; no .build-* folder left
    assert _child(tmp_path)["stats"]["hits"] == 1  # and the survivor is intact


def test_num_threads_from_the_environment(tmp_path: Path) -> None:
    assert _child(tmp_path, SPARCC_NUM_THREADS="1")["threads"] == 1
    assert _child(tmp_path, SPARCC_NUM_THREADS="3")["threads"] == 3


def test_bad_num_threads_is_one_clear_message() -> None:
    os.environ["SPARCC_NUM_THREADS"] = "lots"
    try:
        with pytest.raises(PipelineError, match="SPARCC_NUM_THREADS='lots' is not a whole number"):
            cpu.default_threads()
    finally:
        del os.environ["SPARCC_NUM_THREADS"]
    with pytest.raises(sparcc.InputMismatchError, match="threads=0"):
        sparcc.jit(torch.nn.ReLU(), threads=0)


def _encoder() -> tuple[torch.nn.Module, torch.Tensor]:
    layer = torch.nn.TransformerEncoderLayer(128, 4, 256, batch_first=True, dropout=0.0).eval()
    return layer, torch.randn(2, 24, 128)


@pytest.mark.parametrize("threads", [2, 3])
def test_parallel_code_matches_pytorch(threads: int) -> None:
    layer, x = _encoder()
    program = compile_program(layer, [x], threads=threads)
    assert any("'split'" in d for d in program.report["schedule"]), program.report["schedule"]
    with torch.no_grad():
        torch.testing.assert_close(program(x), layer(x), atol=1e-4, rtol=1e-4)


def test_parallel_matmul_odd_shapes() -> None:
    # 3 threads over N=192 (64 each), M=45 not divisible by the register tile
    a, b = torch.randn(45, 700), torch.randn(700, 192)
    program = compile_program(lambda x, y: x @ y, [a, b], threads=3)
    assert "'split': 'n'" in program.report["schedule"][-1]
    torch.testing.assert_close(program(a, b), a @ b, atol=1e-3, rtol=1e-4)


def test_runtime_team_size_differs_from_the_compiled_split() -> None:
    """Code divided for 2 threads is correct when the runtime runs 1 or 4."""
    layer, x = _encoder()
    program = compile_program(layer, [x], threads=2)
    with torch.no_grad():
        want = layer(x)
    try:
        for team in (1, 4):
            cpu.set_num_threads(team, program.kernel.library)
            torch.testing.assert_close(program(x), want, atol=1e-4, rtol=1e-4)
    finally:
        cpu.set_num_threads(cpu.default_threads(), program.kernel.library)


def test_python_threads_may_call_one_program_at_once() -> None:
    layer, x = _encoder()
    program = compile_program(layer, [x], threads=2)
    with torch.no_grad():
        want = layer(x)
    failures: list[str] = []

    def worker() -> None:
        for _ in range(20):
            if not torch.allclose(program(x), want, atol=1e-4, rtol=1e-4):
                failures.append("mismatch")

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_failing_stage_writes_a_reproducer_that_replays(tmp_path: Path) -> None:
    # parses, but one-shot bufferization cannot bufferize arith on tensors across a call boundary
    text = "func.func @forward(%a: tensor<4xf32>) -> tensor<4xf32> {\n  %0 = arith.addf %a, %a : tensor<4xf32>\n  return %0 : tensor<4xf32>\n}\n"
    with pytest.raises(PipelineError) as info:
        cpu.lower(text)
    message = str(info.value)
    assert "MLIR stage 'bufferize' failed" in message and "reproducer:" in message
    folder = Path(message.split("reproducer:")[1].strip().split()[0])
    replay = (folder / "replay.sh").read_text()
    assert "sparcc-opt" in replay and "--mlir-pipeline=" in replay
    result = subprocess.run(["sh", str(folder / "replay.sh")], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "op was not bufferized" in message
    assert f"{folder}/input.mlir:" in result.stderr and "error: op was not bufferized" in result.stderr


# calls with pauses around the runtime's spin time (SPIN_ROUNDS pauses, about
# 0.1-1 ms), so that the team's threads are caught spinning, falling asleep and
# asleep when a region is posted, a barrier is reached or a region ends
_SLEEPY = r"""
import random, time, torch, sparcc
torch.manual_seed(0)
layer = torch.nn.TransformerEncoderLayer(128, 4, 256, batch_first=True, dropout=0.0).eval()
x = torch.randn(2, 24, 128)
fast = sparcc.jit(layer, threads=3)
with torch.no_grad():
    want = layer(x)
    rng = random.Random(0)
    for i in range(300):
        got = fast(x)
        assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), i
        time.sleep(rng.choice((0.0, 0.0, 0.0002, 0.0008, 0.002, 0.01)))
print("ok")
"""


def test_the_team_wakes_after_sleeping_between_calls(tmp_path: Path) -> None:
    """The runtime enters the kernel to wake only threads that may sleep (a
    waiter counts itself in before sleeping): a lost wake-up would hang here,
    and the timeout turns that into a failure."""
    result = subprocess.run([sys.executable, "-c", _SLEEPY], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "SPARCC_CACHE_DIR": str(tmp_path)}, check=False)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
