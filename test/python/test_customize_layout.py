"""customize-layout end to end: weights of few-row matmuls stored in
contiguous panels at load time (passes/customize_layout.py) and the CPU
schedule's panel matmul (backends/cpu/schedule.py:_packed_matmul), against
PyTorch, through the JIT and an AOT artifact; the report names the layout."""

from __future__ import annotations

import pytest
import sparcc
import torch
from torch import nn


def _matmul_lines(program) -> list[str]:
    return [line for line in program.report["schedule"] if line.startswith("linalg.matmul")]


def _program(fast):
    (program,) = fast.cache.values()
    return program


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rows,out_features,panel", [(1, 512, 16), (3, 512, 64), (8, 784, 16), (5, 1056, 32),
                                                     (1, 1000, 16), (3, 1000, 8)])
def test_few_rows_read_a_panelled_weight(rows, out_features, panel, threads, monkeypatch):
    from sparcc.backends.cpu import schedule

    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX512)  # 5 panels of 8 to a tile of 4 zmm; AVX2 takes 1
    torch.manual_seed(rows)
    layer = nn.Linear(1024, out_features).eval()
    x = torch.randn(rows, 1024)
    fast = sparcc.jit(layer, threads=threads, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), layer(x), rtol=1e-4, atol=1e-4)
        x2 = torch.randn(rows, 1024)  # a second call: the weights stay as laid out
        torch.testing.assert_close(fast(x2), layer(x2), rtol=1e-4, atol=1e-4)
    (line,) = _matmul_lines(_program(fast))
    assert f"'layout': 'panels:{panel}'" in line, line
    if panel == 8:  # 125 panels of 8: five side by side in a register tile
        assert "'panels_per_tile': 5" in line, line
    if threads == 2 and out_features == 512:  # 8 panels of 64 (32 of 16 at one row): split among the threads
        assert "'split': 'n', 'threads': 2" in line, line


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("unit", ["AVX2", "AVX512"])
@pytest.mark.parametrize("k,n,pads", [(512, 1024, False), (256, 4001, True), (384, 1152, False), (1280, 1000, True)])
def test_one_row_reads_narrow_panels_side_by_side(k, n, pads, unit, threads, monkeypatch):
    """At one row the weight is stored in panels of ROW_PANEL columns, n a
    multiple of ROW_TILE_PANELS panels a thread (4001 padded to 4032 for one
    thread, 4096 for two: no panel divides it; 1000, which only panels of 8
    divide, to 1024), and the
    register tile takes PANEL_ROW_VECTORS vectors' worth of panels side by
    side: several read streams. With the switch off, the wide panels of
    before."""
    from sparcc.backends.cpu import schedule
    from sparcc.passes import customize_layout

    vector_unit = getattr(schedule, unit)
    monkeypatch.setattr(schedule, "VECTOR_UNIT", vector_unit)
    torch.manual_seed(k)
    layer = nn.Linear(k, n).eval()
    x = torch.randn(1, k)
    lines = {}
    for on in (True, False):
        monkeypatch.setattr(customize_layout, "ROW_STREAMS", on)
        fast = sparcc.jit(layer, threads=threads, cache=False)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), layer(x), rtol=1e-4, atol=1e-4)
            x2 = torch.randn(1, k)
            torch.testing.assert_close(fast(x2), layer(x2), rtol=1e-4, atol=1e-4)
        (lines[on],) = _matmul_lines(_program(fast))
    line = lines[True]
    p = customize_layout.ROW_PANEL
    whole = p * customize_layout.ROW_TILE_PANELS * threads
    padded = -(-n // whole) * whole if pads else None
    assert f"'layout': 'panels:{p}'" in line, line
    assert f"[1, {padded or n}, {k}]" in line, line
    assert (f"'padded_from': {n}" in line) == (padded is not None), line
    # as many panels as make PANEL_ROW_VECTORS vectors, or the most that
    # divide a thread's panels (AVX-512: 36 a thread of 72 take 6)
    side = int(line.split("'panels_per_tile': ")[1].split(",")[0].split("}")[0])
    assert 4 <= side <= schedule.PANEL_ROW_VECTORS * vector_unit.lanes // p, line
    assert ((padded or n) // p) % side == 0, line
    assert f"'nr': {p}," in line, line
    assert "'layout': 'panels:16'" not in lines[False], lines[False]


@pytest.mark.parametrize("n,narrow", [(1536, True), (1024, False)])
def test_one_row_on_three_threads_takes_narrow_panels_only_in_whole_tiles(n, narrow, monkeypatch):
    """3 threads: 1536 columns are 96 panels of 16, 32 a thread in tiles of
    4 (AVX2's); 1024 (64 panels) would leave partial tiles, and keeps the
    wide panels (split unevenly among the threads)."""
    from sparcc.backends.cpu import schedule

    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX2)
    torch.manual_seed(n)
    layer = nn.Linear(256, n).eval()
    x = torch.randn(1, 256)
    fast = sparcc.jit(layer, threads=3, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), layer(x), rtol=1e-4, atol=1e-4)
    (line,) = _matmul_lines(_program(fast))
    assert ("'layout': 'panels:16'" in line) == narrow and ("'panels_per_tile': 4" in line) == narrow, line
    assert narrow or "'layout': 'panels:64'" in line, line


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rows,k,panel", [(2, 2048, 16), (4, 2048, 16), (3, 2048, 16), (2, 256, 64), (5, 2048, 64)])
def test_up_to_four_rows_read_a_weight_from_memory_in_narrow_panels(rows, k, panel, threads, monkeypatch):
    """A weight that comes from memory (8 MiB: stream_bytes) read by 2-4 rows
    takes the panels of 16 too, the register tile the rows by whole panels
    (2 rows: two panels side by side, 8 accumulators on AVX2); a weight in
    the caches (1 MiB) or 5 rows keep the panels of 64."""
    from sparcc.backends.cpu import schedule

    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX2)
    torch.manual_seed(rows)
    layer = nn.Linear(k, 1024).eval()
    x = torch.randn(rows, k)
    fast = sparcc.jit(layer, threads=threads, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), layer(x), rtol=1e-4, atol=1e-4)
    (line,) = _matmul_lines(_program(fast))
    assert f"'layout': 'panels:{panel}'" in line, line
    if panel == 16:
        assert f"'mr': {rows}, 'nr': 16," in line, line
        assert ("'panels_per_tile': 2" in line) == (rows == 2), line


def test_a_weight_from_memory_is_panelled_for_more_rows():
    layer = nn.Linear(768, 3072).eval()  # 9 MiB: over stream_bytes
    x = torch.randn(17, 768)
    fast = sparcc.jit(layer, threads=2, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), layer(x), rtol=1e-4, atol=1e-4)
    (line,) = _matmul_lines(_program(fast))
    assert "'layout': 'panels:64'" in line, line


@pytest.mark.parametrize("layers, panelled", [(3, False), (9, True)])
def test_a_model_larger_than_a_cache_reads_every_weight_in_panels(layers, panelled):
    # Linear(1024, 1024) is 4 MiB, under stream_bytes; nine of them (36 MiB)
    # reach total_bytes (32 MiB): each weight then comes from memory on every call
    torch.manual_seed(layers)
    model = nn.Sequential(*(nn.Linear(1024, 1024) for _ in range(layers))).eval()
    x = torch.randn(16, 1024)
    fast = sparcc.jit(model, threads=1, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)
    program = _program(fast)
    # each layer's matmul carries the layout (the IR); equal layers share one
    # outlined function, which the schedule tiles once (the report)
    assert program.ir["linalg"].count('sparcc.layout = "panels:64"') == (layers if panelled else 0)
    lines = _matmul_lines(program)
    assert lines and all(("'layout': 'panels:64'" in line) == panelled for line in lines), lines


def test_more_rows_keep_the_plain_matmul():
    layer = nn.Linear(1024, 512).eval()
    x = torch.randn(9, 1024)
    fast = sparcc.jit(layer, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), layer(x), rtol=1e-4, atol=1e-4)
    (line,) = _matmul_lines(_program(fast))
    assert "layout" not in line


class SharedWeight(nn.Module):
    """One weight read by two matmuls and by an elementwise op: the matmuls
    share one panelled buffer, the sum reads the weight as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(1024, 512) / 32)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x @ self.w + torch.relu(y @ self.w), self.w.sum(0)


def test_a_weight_read_by_several_ops():
    model = SharedWeight().eval()
    x, y = torch.randn(3, 1024), torch.randn(3, 1024)
    fast = sparcc.jit(model, threads=2, cache=False)
    with torch.no_grad():
        got, want = fast(x, y), model(x, y)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
    program = _program(fast)
    assert program.ir["linalg"].count('sparcc.layout = "panels:64"') == 2  # both matmuls (one function: equal shapes)
    lines = _matmul_lines(program)
    assert lines and all("panels:64" in line for line in lines), lines


@pytest.mark.parametrize("out_features", [256, 1001])  # 1001: padded to whole panels (pad_rows)
def test_aot_artifact_lays_the_weights_out_when_it_loads(tmp_path, out_features):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1024, 1024), nn.GELU(), nn.Linear(1024, out_features)).eval()
    x = torch.randn(2, 1024)
    sparcc.compile(model, (x,), tmp_path / "out")
    loaded = sparcc.load(tmp_path / "out")
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-4, atol=1e-4)


# a weight whose rows no panel divides is padded with zero rows to whole
# panels when it is bound (nn.weight pad_rows); C keeps the first N columns
_PADDED_CHILD = r"""
import json, sys, torch, sparcc
torch.manual_seed(0)
head = torch.nn.Linear(96, 4097).eval()
x = torch.randn(2, 96)
fast = sparcc.jit(head, threads=2)
with torch.no_grad():
    err = (fast(x) - head(x)).abs().max().item()
(program,) = fast.cache.values()
line = next(l for l in program.report["schedule"] if "panels" in l)
print(json.dumps({"err": err, "trace": program.report.get("trace"), "line": line}))
"""


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rows,out_features,panel,padded", [(1, 1001, 16, 1024), (3, 4097, 64, 4160),
                                                            (2, 970, 32, 992), (5, 203, 16, 208), (1, 201, 8, 208)])
def test_a_weight_no_panel_divides_is_padded_to_whole_panels(rows, out_features, panel, padded, threads):
    torch.manual_seed(rows)
    # at least min_bytes, under stream_bytes (a weight from memory takes panels of 16 at up to 4 rows)
    k = 2048 if out_features < 400 else 256 if out_features > 4000 else 512
    layer = nn.Linear(k, out_features).eval()
    x = torch.randn(rows, k)
    fast = sparcc.jit(layer, threads=threads, cache=False)
    with torch.no_grad():
        got = fast(x)
        assert got.shape == (rows, out_features)
        torch.testing.assert_close(got, layer(x), rtol=1e-4, atol=1e-4)
        x2 = torch.randn(rows, k)
        torch.testing.assert_close(fast(x2), layer(x2), rtol=1e-4, atol=1e-4)
    (line,) = _matmul_lines(_program(fast))
    assert f"[{rows}, {padded}, {k}]" in line and f"'layout': 'panels:{panel}'" in line, line
    assert f"'padded_from': {out_features}" in line, line


def test_a_new_process_binds_a_padded_weight_from_the_cache(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "SPARCC_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", _PADDED_CHILD], env=env, capture_output=True, text=True,
                           timeout=600, check=False) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    cold, warm = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert warm["trace"] == "hit", warm
    for out in (cold, warm):
        assert out["err"] < 1e-4 and "'padded_from': 4097" in out["line"], out


def test_gpt2_with_its_real_vocabulary_pads_the_tied_head():
    """GPT-2's 50257 classes: the LM head (tied to the token embedding,
    which keeps reading the unpadded weight) runs on panels padded to 50304."""
    import sys
    from pathlib import Path

    pytest.importorskip("transformers")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import zoo_models

    transformers = zoo_models.frameworks()[1]  # torchvision's ops first (README: development traps)
    config = transformers.GPT2Config(vocab_size=50257, n_embd=32, n_layer=1, n_head=2, n_positions=64)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 50257, (1, 4))
    ids[0, 0] = 50256  # the last row of the embedding, next to the padding

    def logits(tokens):
        return model(input_ids=tokens).logits

    fast = sparcc.jit(logits, threads=2, cache=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(ids), logits(ids), rtol=1e-4, atol=1e-4)
    lines = [line for line in _matmul_lines(_program(fast)) if "'padded_from': 50257" in line]
    assert lines and "[4, 50304, 32]" in lines[0], _matmul_lines(_program(fast))
