"""The CPU schedule: which kernels get tiled/vectorised, and that they stay correct.

Each case checks the compile report (`report["schedule"]` lists one decision
per scheduled op, `report["fallbacks"]` must stay empty) and the result
against PyTorch.
"""

import warnings

import pytest
import torch

from sparcc.backends.cpu import schedule
from sparcc.backends.cpu.schedule import parallel_dim, parallel_split, tile_sizes
from sparcc.driver import compile_program
from sparcc.passes import channels_last


def compiled(fn, *args):
    program = compile_program(fn, args)
    assert program.report["fallbacks"] == []
    torch.testing.assert_close(program(*args), fn(*args), atol=1e-4, rtol=1e-4)
    return program.report["schedule"]


@pytest.mark.parametrize("m, k, n", [(1, 37, 5), (3, 16, 64), (37, 64, 130), (128, 256, 768)])
def test_matmuls_are_scheduled_for_any_shape(m, k, n):
    torch.manual_seed(0)
    decisions = compiled(lambda a, b: a @ b, torch.randn(m, k), torch.randn(k, n))
    assert any(d.startswith(f"linalg.matmul [{m}, {n}, {k}]") for d in decisions)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("m, k, n, batch", [(49, 1152, 64, 0), (29, 640, 48, 0), (23, 256, 64, 20)])
def test_rows_the_register_tile_leaves_reuse_the_packed_panel(m, k, n, batch, threads, monkeypatch):
    """Rows that mr does not divide (49 = 8 x 6 + 1) are one more tile inside
    the k loop of the packed panel: the script packs, then splits the rows
    (a split before the packing made them a matmul of their own that
    streamed B again); with the switch off, the rows split first."""
    scripts = []
    original = schedule.apply

    def recording(module, script):
        scripts.append(script)
        return original(module, script)

    monkeypatch.setattr(schedule, "apply", recording)
    torch.manual_seed(0)
    a = torch.randn(*([batch] if batch else []), m, k)
    b = torch.randn(*([batch] if batch else []), k, n)
    config = {"mr": 6, "nr": 16, "nc": n - n % 16, "kc": k, "pack": 1, "split": "none"}
    for inside in (True, False):
        monkeypatch.setattr(schedule, "REMAINDER_ROWS_IN_PANEL", inside)
        scripts.clear()
        with schedule.forced_matmul(config):
            program = compile_program(lambda x, y: x @ y, (a, b), threads=threads, use_cache=False)
        assert program.report["fallbacks"] == []
        torch.testing.assert_close(program(a, b), a @ b, atol=1e-4, rtol=1e-4)
        (script,) = scripts
        first_split = script.index("structured.split")
        assert (script.index("structured.promote") < first_split) == inside, script


def test_large_batches_use_the_batch_matmul_kernel():
    torch.manual_seed(0)
    decisions = compiled(torch.bmm, torch.randn(20, 37, 8), torch.randn(20, 8, 64))
    assert any(d.startswith("linalg.batch_matmul [20, 37, 64, 8]") for d in decisions)


def test_small_batches_unroll_into_2d_matmuls():
    torch.manual_seed(0)
    decisions = compiled(torch.bmm, torch.randn(3, 16, 8), torch.randn(3, 8, 32))
    assert sum(d.startswith("linalg.matmul [16, 32, 8]") for d in decisions) == 3


def test_each_section_of_the_script_finds_its_ops_in_one_walk_and_in_order():
    # the script binds every op's handle from one match per section (a match
    # per op walked the module once per op); a handle given to the wrong op
    # would apply one op's tiles to another: matmuls and elementwise ops of
    # different shapes, interleaved, must each run with their own schedule
    from mlir import ir
    from sparcc.backends.cpu import schedule

    torch.manual_seed(0)

    def f(a, b, c, d):
        x = torch.relu(a @ b)  # [5, 48]
        y = torch.sigmoid(x @ c) + 1  # [5, 40]
        return torch.tanh(y @ d), x.sum(0)  # [5, 24], [48]

    args = (torch.randn(5, 12), torch.randn(12, 48), torch.randn(48, 40), torch.randn(40, 24))
    program = compile_program(f, args)
    assert program.report["fallbacks"] == []
    for got, want in zip(program(*args), f(*args)):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    with ir.Context(), ir.Location.unknown():
        module = ir.Module.parse(program.ir["linalg"])
        from sparcc.backends import cpu

        cpu._run(module, "prepare", cpu.PREPARE, [])
        cpu._run(module, "bufferize", cpu.BUFFERIZE, [])
        script, decisions = schedule.build(module, 1)
    matmuls = [d for d in decisions if d.op == "linalg.matmul"]
    assert [d.shape for d in matmuls] == [(5, 48, 12), (5, 40, 48), (5, 24, 40)]
    assert script.count("transform.structured.match attributes") == 2
    assert script.count("transform.split_handle %all") == 2


def test_elementwise_and_reductions_are_vectorised_but_transposes_are_not():
    torch.manual_seed(0)
    decisions = compiled(lambda x: torch.softmax(x, -1), torch.randn(4, 100))
    assert any(d.startswith("linalg.generic [4, 100]") for d in decisions)
    decisions = compiled(lambda x: x.transpose(0, 1) + 1, torch.randn(8, 16))
    assert not any(d.startswith("linalg.generic") for d in decisions)


@pytest.mark.parametrize("n, tail", [(5, 0), (100, 4), (197, 5)])
def test_softmax_of_batched_scores_splits_uneven_rows_instead_of_masking(n, tail):
    # ViT's attention scores (197 tokens): a masked vector transfer through the
    # batch reshape made upstream's fold_memref_alias_ops loop forever.
    torch.manual_seed(0)
    decisions = compiled(lambda q: (q @ q.transpose(-1, -2)).softmax(-1), torch.randn(1, 3, n, 64))
    rows = [d for d in decisions if d.startswith(f"linalg.generic [1, 3, {n}, {n}]")]
    assert len(rows) == 4  # max, exp, sum, divide: all vectorised
    assert sum(f"'tail': {tail}" in d for d in rows) == (2 if tail else 0)  # exp, divide (the reductions fit one vector)


# A masked rank-4 read through a memref.expand_shape: upstream's
# fold_memref_alias_ops patterns never converge on it.
NON_CONVERGING = """
func.func @forward(%a: memref<3x8x8xf32>, %o: memref<1x3x8x8xf32>, %m: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%o : memref<1x3x8x8xf32>)
  %e = memref.expand_shape %a [[0, 1], [2], [3]] output_shape [1, 3, 8, 8]
      : memref<3x8x8xf32> into memref<1x3x8x8xf32>
  %mask = vector.create_mask %c1, %c1, %c1, %m : vector<1x1x1x8xi1>
  %v = vector.mask %mask { vector.transfer_read %e[%c0, %c0, %c0, %c0], %zero {in_bounds = [true, true, true, true]}
      : memref<1x3x8x8xf32>, vector<1x1x1x8xf32> } : vector<1x1x1x8xi1> -> vector<1x1x1x8xf32>
  vector.transfer_write %v, %o[%c0, %c0, %c0, %c0] {in_bounds = [true, true, true, true]}
      : vector<1x1x1x8xf32>, memref<1x3x8x8xf32>
  return
}
"""


def test_memref_alias_folding_that_never_converges_does_not_fail_the_schedule():
    # as a bounded pattern group it failed the whole schedule (and a KV-cache
    # decoder ran as plain loops); as the upstream pass it stops with valid IR
    from mlir import ir
    from sparcc.backends import cpu

    with ir.Context(), ir.Location.unknown(), warnings.catch_warnings():
        warnings.simplefilter("error")
        module, decisions, fallback = cpu._schedule(ir.Module.parse(NON_CONVERGING), [])
        assert fallback is None and [d.op for d in decisions] == ["linalg.fill"]
        text = str(module)
        assert "linalg.fill" not in text and "vector.store" in text


def test_a_schedule_that_does_not_converge_falls_back_with_a_warning(monkeypatch):
    # one iteration is too few for the schedule's pattern groups: the bound
    # fails the schedule, which keeps the module as it was (plain loops)
    from mlir import ir
    from sparcc.backends import cpu
    from sparcc.backends.cpu import schedule

    monkeypatch.setattr(schedule, "MAX_PATTERN_ITERATIONS", 1)
    with ir.Context(), ir.Location.unknown():
        with pytest.warns(UserWarning, match="did not converge in 1 iterations") as caught:
            module, decisions, fallback = cpu._schedule(ir.Module.parse(NON_CONVERGING), [])
        assert decisions == [] and "plain loops" in fallback
        assert "linalg.fill" in str(module)  # the module as it was before the schedule
    folder = str(caught[0].message).rsplit("Reproducer: ", 1)[1]
    text = open(f"{folder}/input.mlir").read()
    assert "sparcc.sched" in text and "transform.named_sequence" in text  # the tagged payload and its script


@pytest.mark.parametrize("unit", ["AVX512", "AVX2"])
@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (64, 2048, 512), (1024, 1024, 1024), (37, 130, 3), (17, 24, 8)])
def test_tile_sizes_fit_the_registers_and_the_problem(m, n, k, unit, monkeypatch):
    vu = getattr(schedule, unit)
    monkeypatch.setattr(schedule, "VECTOR_UNIT", vu)
    t = tile_sizes(m, n, k)
    assert t["mr"] <= m and t["nr"] <= n and t["kc"] <= k
    assert k % t["kc"] == 0 or t["kc"] == k
    vectors = -(-t["nr"] // vu.lanes)
    assert t["mr"] * vectors + vectors + 1 <= vu.registers


@pytest.mark.parametrize("threads", [1, 2])
def test_avx2_tiles_compute_what_pytorch_does(threads, monkeypatch):
    """Register tiles sized for AVX2 (which an AVX-512 host runs too): a
    matmul with row and column tails, a Linear and a convolution."""
    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX2)
    torch.manual_seed(0)
    a, b = torch.randn(37, 70), torch.randn(70, 130)
    program = compile_program(lambda x, y: x @ y, (a, b), threads=threads, use_cache=False)
    line = next(d for d in program.report["schedule"] if d.startswith("linalg.matmul"))
    assert "'nr': 16" in line or "'nr': 8" in line or "'nr': 32" in line, line
    torch.testing.assert_close(program(a, b), a @ b, atol=1e-4, rtol=1e-4)
    conv = torch.nn.Sequential(torch.nn.Conv2d(8, 24, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(24 * 10 * 10, 10)).eval()
    x = torch.randn(1, 8, 10, 10)
    program = compile_program(conv, (x,), threads=threads, use_cache=False)
    with torch.no_grad():
        torch.testing.assert_close(program(x), conv(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "m, n, k, threads, batch, want",
    [
        (64, 2048, 512, 2, 1, ("n", 1024)),  # disjoint weight panels per thread
        (128, 64, 128, 2, 1, ("m", 64)),  # N is one register tile wide: split rows
        (8, 8, 8, 2, 1, None),  # too small to pay for a parallel region
        (64, 2048, 512, 1, 1, None),
        (37, 64, 130, 2, 20, ("b", 10)),
        (45, 192, 700, 3, 1, ("n", 64)),
        (45, 100, 700, 2, 1, None),  # no even split keeps static shapes
    ],
)
def test_parallel_split_divides_evenly_or_not_at_all(m, n, k, threads, batch, want, monkeypatch):
    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX512)  # N's chunks are whole register tiles of 64
    assert parallel_split(m, n, k, threads, batch) == want


def test_parallel_dim_is_the_outer_even_parallel_loop():
    assert parallel_dim([1, 4, 128, 128], ["parallel"] * 4, 2) == 1
    assert parallel_dim([128, 256], ["parallel", "reduction"], 2) == 0
    assert parallel_dim([256, 128], ["reduction", "parallel"], 2) is None  # only the innermost is parallel
    assert parallel_dim([8, 8], ["parallel"] * 2, 2) is None  # too small


def test_parallel_kernels_are_reported_and_correct():
    torch.manual_seed(0)
    x = torch.randn(64, 1024)
    program = compile_program(lambda t: torch.softmax(t, -1), (x,), threads=2)
    assert any("'split': 0, 'threads': 2" in d for d in program.report["schedule"]), program.report["schedule"]
    torch.testing.assert_close(program(x), torch.softmax(x, -1), atol=1e-5, rtol=1e-5)
    a, b = torch.randn(20, 37, 130), torch.randn(20, 130, 64)
    program = compile_program(torch.bmm, (a, b), threads=2)
    assert any("'split': 'b'" in d for d in program.report["schedule"]), program.report["schedule"]
    torch.testing.assert_close(program(a, b), torch.bmm(a, b), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("threads,k,rows,classes,panel,uneven", [
    (2, 1280, 4, 1000, 8, True), (3, 512, 6, 1000, 8, True), (2, 1280, 2, 1000, 8, False),
    (2, 768, 3, 1000, 8, True), (3, 256, 5, 50001, 64, True), (3, 96, 1, 5001, 64, True),
])
def test_panels_that_do_not_divide_among_the_threads_are_split_unevenly(threads, k, rows, classes, panel, uneven,
                                                                        monkeypatch):
    """An ImageNet head (1000 classes: 125 panels of 8) ran on one thread;
    now each thread takes ceil(125 / threads) panels, the last fewer (AVX2:
    a panel of 8 is one register tile) where panels do not go several to a
    tile; at 1-2 rows 5 go to a tile (more FMA chains), on one thread (faster
    than split). A head padded to whole panels of 64 (50001 classes: 782
    panels, for 3 threads) is split unevenly at any rows (at one row, 5001
    classes padded to whole tiles of 16-wide panels for 3 threads would add
    more than n/32 columns). At one row 1000 classes take row panels
    padded to 1024 instead (customize-layout's ROW_PADS_NARROW)."""
    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX2)
    torch.manual_seed(0)
    head, x = torch.nn.Linear(k, classes).eval(), torch.randn(rows, k)
    program = compile_program(head, (x,), threads=threads)
    panels = [d for d in program.report["schedule"] if f"'layout': 'panels:{panel}'" in d]
    assert panels, program.report["schedule"]
    if uneven:
        assert "'split': 'n'" in panels[0] and "'uneven': True" in panels[0], panels[0]
    else:
        assert "'split'" not in panels[0] and "'panels_per_tile': 5" in panels[0], panels[0]
    if classes % panel:
        assert f"'padded_from': {classes}" in panels[0], panels[0]
    # a panel dealt to no thread keeps the fill, one dealt to two is summed twice
    with torch.no_grad():
        for _ in range(3):
            torch.testing.assert_close(program(x), head(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("unit", ["AVX2", "AVX512"])
@pytest.mark.parametrize("threads,k,n,rows", [(1, 4096, 1024, 1), (2, 768, 3072, 1), (1, 4096, 1024, 2), (2, 1000, 50257, 1)])
def test_one_row_reads_each_panel_once_with_a_tile_as_wide_as_the_panel(unit, threads, k, n, rows, monkeypatch):
    """One row against B in panels: the register tile spans the panel (its
    accumulators and one broadcast fit when B is not held in registers), so
    each panel is read once front to back; a tile half the panel's width
    (AVX2's 1x32 against 64-wide panels) walked every panel twice, each
    pass reading half of each row. Two rows
    keep the model's tile. PANEL_ROW_VECTORS = 0 turns it off. (Wide panels
    at one row: customize-layout's narrow row panels off, as for an n that
    is not a multiple of 8 narrow panels.)"""
    from sparcc.passes import customize_layout

    vu = getattr(schedule, unit)
    if unit == "AVX512" and schedule.vector_unit() != schedule.AVX512:
        pytest.skip("AVX-512 register tiles need an AVX-512 host to run")
    monkeypatch.setattr(schedule, "VECTOR_UNIT", vu)
    monkeypatch.setattr(customize_layout, "ROW_STREAMS", False)
    torch.manual_seed(0)
    lin, x = torch.nn.Linear(k, n).eval(), torch.randn(rows, k)

    def panel_tile(program):
        d = [d for d in program.report["schedule"] if "'layout': 'panels:" in d]
        assert len(d) == 1, program.report["schedule"]
        p = int(d[0].split("'layout': 'panels:")[1].split("'")[0])
        return p, int(d[0].split("'nr': ")[1].split(",")[0])

    program = compile_program(lin, (x,), threads=threads, use_cache=False)
    p, nr = panel_tile(program)
    assert (nr == p) if rows == 1 and p <= schedule.PANEL_ROW_VECTORS * vu.lanes else nr <= p
    with torch.no_grad():
        torch.testing.assert_close(program(x), lin(x), atol=1e-4, rtol=1e-4)
    monkeypatch.setattr(schedule, "PANEL_ROW_VECTORS", 0)
    off = compile_program(lin, (x,), threads=threads, use_cache=False)
    if rows == 1:  # off: the heuristic's one-row tile, 4 vectors (AVX2 1x32, AVX-512 1x64)
        off_nr = panel_tile(off)[1]
        assert off_nr <= p and (off_nr < p or p <= 4 * vu.lanes), off.report["schedule"]
    with torch.no_grad():
        torch.testing.assert_close(off(x), lin(x), atol=1e-4, rtol=1e-4)


def test_gathers_and_transposes_split_among_threads_unvectorised(monkeypatch):
    """An im2col gather and a transpose are not vectorised (see
    test_elementwise_and_reductions_are_vectorised_but_transposes_are_not);
    on two threads each still splits its outer loop, and computes the same.
    (The NCHW im2col: channels-last off.)"""
    monkeypatch.setattr(channels_last, "CHANNELS_LAST", False)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1).eval()
    x = torch.randn(1, 16, 64, 64)
    program = compile_program(conv, (x,), threads=2)
    split = [d for d in program.report["schedule"] if "'loops': 'scalar'" in d]
    assert any(d.startswith("linalg.generic [1, 32, 32, 16, 3, 3]") for d in split), program.report["schedule"]
    assert all("'threads': 2" in d for d in split)
    with torch.no_grad():
        torch.testing.assert_close(program(x), conv(x), atol=1e-4, rtol=1e-4)
    t = torch.randn(256, 384)
    program = compile_program(lambda a: a.transpose(0, 1) * 2, (t,), threads=2)
    assert any("'loops': 'scalar', 'split': 0" in d for d in program.report["schedule"]), program.report["schedule"]
    torch.testing.assert_close(program(t), t.transpose(0, 1) * 2)
    program = compile_program(lambda a: a.transpose(0, 1) * 2, (t,), threads=1)
    assert not any("'loops': 'scalar'" in d for d in program.report["schedule"])


WINDOW_CASES = [  # (what, module, input shape, vectorised: a contiguous output row of 32 or more)
    ("depthwise 7x7 at 56 (48 + 8 lanes)", lambda: torch.nn.Conv2d(24, 24, 7, padding=3, groups=24), (1, 24, 56, 56),
     True),
    ("depthwise 3x3 at 14", lambda: torch.nn.Conv2d(40, 40, 3, padding=1, groups=40), (1, 40, 14, 14), False),
    ("depthwise 5x5 at 97, dilated (96 + 1)", lambda: torch.nn.Conv2d(8, 8, 5, padding=4, dilation=2, groups=8),
     (2, 8, 97, 97), True),
    ("grouped 3x3 (4 channels a group), no bias", lambda: torch.nn.Conv2d(16, 32, 3, padding=1, groups=4, bias=False),
     (1, 16, 64, 64), True),
    ("depthwise 3x3 stride 2", lambda: torch.nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32), (1, 32, 64, 64),
     False),
    ("max pool 3x3 at 48", lambda: torch.nn.MaxPool2d(3, 1, 1), (1, 16, 48, 48), True),
    ("avg pool 2x2 stride 2", lambda: torch.nn.AvgPool2d(2), (1, 32, 64, 64), False),
    ("avg pool 3x3 at 30", lambda: torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False), (1, 8, 30, 30), False),
]


def _window_decisions(make, shape, threads):
    """(program, module, input, the report's window-op lines) of make() compiled on an input of `shape`."""
    torch.manual_seed(0)
    module = make().eval()
    x = torch.randn(shape)
    program = compile_program(module, (x,), threads=threads)
    assert program.report["fallbacks"] == []
    return program, module, x, [d for d in program.report["schedule"] if "'window': True" in d]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("what, make, shape, vectorised", WINDOW_CASES, ids=[c[0] for c in WINDOW_CASES])
def test_window_ops_are_vectorised_along_the_output_row_and_split_among_threads(what, make, shape, vectorised,
                                                                                  threads, monkeypatch):
    """Pooling and grouped/depthwise convolutions (generics that read the
    input at oh * stride + kh): a contiguous output row of 32 or more is
    vectorised in pieces of 2^k lanes (a 48-lane vector's loads were
    scalarised by LLVM), and with 2 threads the channels are split; a
    strided row stays scalar loops, split among 2 threads; a row under 32
    is left to the plain loops. The result is PyTorch's. (NCHW: channels-last
    off; test_nhwc_window_ops_are_vectorised_along_the_channels has NHWC.)"""
    monkeypatch.setattr(channels_last, "CHANNELS_LAST", False)
    program, module, x, window = _window_decisions(make, shape, threads)
    short = shape[-1] // (2 if "stride 2" in what else 1) < 32
    assert bool(window) == (vectorised or (threads > 1 and not short)), program.report["schedule"]
    for d in window:
        if vectorised:
            width = int(d.split("'vector': [")[1].split("]")[0])
            assert width & (width - 1) == 0 and 16 <= width <= 64, d
        else:
            assert "'loops': 'scalar'" in d, d
        assert ("'threads': 2" in d) == (threads == 2), d
    with torch.no_grad():
        torch.testing.assert_close(program(x), module(x), atol=1e-5, rtol=1e-5)


NHWC_WINDOW_CASES = [  # (what, module, input shape): rows of 8 channels or more (CHANNEL_ROW_MIN_WIDTH)
    ("depthwise 7x7 at 28, 48 channels", lambda: torch.nn.Conv2d(48, 48, 7, padding=3, groups=48), (1, 48, 28, 28)),
    ("depthwise 3x3 stride 2, 96 channels", lambda: torch.nn.Conv2d(96, 96, 3, stride=2, padding=1, groups=96),
     (1, 96, 16, 16)),
    ("depthwise 5x5 dilated, 32 channels", lambda: torch.nn.Conv2d(32, 32, 5, padding=4, dilation=2, groups=32),
     (2, 32, 20, 20)),
    ("grouped 3x3, 32 channels a group", lambda: torch.nn.Conv2d(64, 64, 3, padding=1, groups=2), (1, 64, 16, 16)),
    ("grouped 3x3, 8 channels a group", lambda: torch.nn.Conv2d(64, 64, 3, padding=1, groups=8), (1, 64, 16, 16)),
    ("depthwise 3x3 stride 2, 16 channels", lambda: torch.nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16),
     (1, 16, 64, 64)),
    ("max pool 3x3 stride 2, 64 channels", lambda: torch.nn.MaxPool2d(3, 2, 1), (1, 64, 32, 32)),
    ("avg pool 2x2, 40 channels (32 + 8)", lambda: torch.nn.AvgPool2d(2), (1, 40, 64, 64)),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("what, make, shape", NHWC_WINDOW_CASES, ids=[c[0] for c in NHWC_WINDOW_CASES])
def test_nhwc_window_ops_are_vectorised_along_the_channels(what, make, shape, threads):
    """Channels-last, a window op's contiguous row is its channels: the
    window schedule vectorises along them whatever the stride (the stride is
    in the pixel loops), and with 2 threads splits the output rows."""
    program, module, x, window = _window_decisions(make, shape, threads)
    assert len(window) == 1, program.report["schedule"]
    (d,) = window
    assert d.startswith(f"linalg.generic [{shape[0]}, "), d
    width = int(d.split("'vector': [")[1].split("]")[0])
    assert width & (width - 1) == 0 and 8 <= width <= 64 and "'loops': 'scalar'" not in d, d
    assert ("'threads': 2" in d) == (threads == 2), d
    with torch.no_grad():
        torch.testing.assert_close(program(x), module(x), atol=1e-5, rtol=1e-5)


def _layers(x, w1, w2):
    h = torch.nn.functional.layer_norm(torch.relu(x @ w1), (w1.shape[1],))
    return torch.softmax(h @ w2, -1) + h.sum(-1, keepdim=True)


def test_the_staged_script_transforms_as_its_whole_module_form_does(monkeypatch):
    """`apply` runs the per-function stages nested under func.func (on the
    context's threads) and the others on the module; upstream's interpreter
    running `__transform_main` (the stages included in order, what a
    reproducer replays) on the same payload must give the same module."""
    from mlir import ir, passmanager

    seen = []
    original = schedule.apply

    def recording(module, script):
        before = str(module)
        original(module, script)
        seen.append((before, script, str(module)))

    monkeypatch.setattr(schedule, "apply", recording)
    torch.manual_seed(0)
    args = (torch.randn(24, 40), torch.randn(40, 72), torch.randn(72, 72))
    program = compile_program(_layers, args, threads=2, use_cache=False)
    assert program.report["fallbacks"] == []
    torch.testing.assert_close(program(*args), _layers(*args), atol=1e-4, rtol=1e-4)
    ((before, script, staged),) = seen
    assert before.count("func.func") >= 4, "the test needs several outlined functions"
    assert [n for n, _ in schedule.STAGES if f"@{n}(" in script] == [n for n, _ in schedule.STAGES]
    with ir.Context():
        whole = ir.Module.parse(schedule.with_script(before, script))
        passmanager.PassManager.parse(
            "builtin.module(transform-interpreter{entry-point=__transform_main},canonicalize,cse)"
        ).run(whole.operation)
        for op in list(whole.body.operations):
            if op.operation.name == "transform.named_sequence":
                op.operation.erase()
        del whole.operation.attributes["transform.with_named_sequence"]
        assert str(whole) == staged


def test_a_stage_that_fails_in_one_function_falls_back_with_a_reproducer_that_replays(monkeypatch):
    """A pattern group that does not converge inside a per-function stage
    fails the schedule: the program runs as loops (still right), the warning
    says why, and the reproducer's replay.sh fails the same way with
    upstream's interpreter on the whole-module script."""
    import pathlib
    import re
    import shutil
    import subprocess

    monkeypatch.setattr(schedule, "MAX_PATTERN_ITERATIONS", 1)
    torch.manual_seed(0)
    args = (torch.randn(8, 64), torch.randn(64, 48), torch.randn(48, 48))
    with pytest.warns(UserWarning, match="did not converge in 1 iterations") as caught:
        program = compile_program(_layers, args, use_cache=False)
    torch.testing.assert_close(program(*args), _layers(*args), atol=1e-4, rtol=1e-4)
    (fallback,) = program.report["fallbacks"]
    assert "runs as plain loops" in fallback
    folder = pathlib.Path(re.search(r"Reproducer: (\S+)", str(caught[0].message))[1])
    if shutil.which("sparcc-opt") is None:
        pytest.skip("sparcc-opt is not on PATH (the package is not installed)")
    result = subprocess.run(["sh", str(folder / "replay.sh")], capture_output=True, text=True, timeout=120, check=False)
    assert "greedy pattern application failed" in result.stderr + result.stdout
    shutil.rmtree(folder)


class _FourLinears(torch.nn.Module):
    """Four Linear(4608, 512) on the same rows: 38 MB of weights, which
    customize-layout reads in panels of 16 at up to 4 rows (from memory)."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(4608, 512, bias=False) for _ in range(4))

    def forward(self, x):
        y = self.layers[0](x)
        for layer in self.layers[1:]:
            y = y + layer(x)
        return y


@pytest.mark.parametrize("unit", ["AVX2", "AVX512"])
@pytest.mark.parametrize("rows", [2, 3, 4])
def test_rows_against_panels_of_one_vector_take_several_panels_per_tile(unit, rows, monkeypatch):
    """A few rows against panels one vector wide (AVX-512's 16-wide row
    panels): one panel to a register tile is one accumulator a row and one
    read stream; panels go side by side up to 16 accumulators with 32
    registers (4 rows: 4 panels), 10 with 16 (AVX2, whose 16-wide panels
    are two vectors and take the row-panel rule instead). Off
    (WIDE_SIDE_BY_SIDE): 4 rows had one panel a tile on AVX-512."""
    vu = getattr(schedule, unit)
    if unit == "AVX512" and schedule.vector_unit() != schedule.AVX512:
        pytest.skip("AVX-512 register tiles need an AVX-512 host to run")
    monkeypatch.setattr(schedule, "VECTOR_UNIT", vu)
    torch.manual_seed(0)
    model, x = _FourLinears().eval(), torch.randn(rows, 4608)

    def per_tile(program):
        lines = [d for d in program.report["schedule"] if d.startswith("linalg.matmul") and "'panels:16'" in d]
        assert lines, program.report["schedule"]
        return int(lines[0].split("'panels_per_tile': ")[1].split("}")[0].split(",")[0]) if "panels_per_tile" in lines[0] else 1

    program = compile_program(model, (x,), threads=1, use_cache=False)
    with torch.no_grad():
        torch.testing.assert_close(program(x), model(x), atol=1e-3, rtol=1e-4)
    got = per_tile(program)

    def most(budget):  # the most panels of the 32 (a divisor, at most 8) within `budget` accumulators
        return max(d for d in (1, 2, 4, 8) if d * rows <= budget)

    if unit == "AVX512":
        assert got == most(16), got  # 2 rows: 8 panels, 3 and 4 rows: 4
        monkeypatch.setattr(schedule, "WIDE_SIDE_BY_SIDE", False)
        off = compile_program(model, (x,), threads=1, use_cache=False)
        assert per_tile(off) == (most(10) if rows < 4 else 1)
        with torch.no_grad():
            torch.testing.assert_close(off(x), model(x), atol=1e-3, rtol=1e-4)
    else:
        assert got * rows * vu.vectors(16) <= 16, got  # the accumulators fit 16 registers
