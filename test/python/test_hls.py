"""The hls target: emitted HLS C++ run as a g++ C simulation (in-process
through sparcc.jit, and as `make csim` in a fresh copy of a compiled
project), checked against PyTorch (float: 1e-5 relative) and bit for bit
against the Python model of the design (interp.py); the QoR model against
hand-derived counts (CSR rows, tile, dataflow processes, the weights.bin
load); the pragma checker; refused inputs, named with the user's source
line.

Skips when g++ or the ap_types headers (the hls4ml package) are missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sparcc
from sparcc.backends import get_target
from sparcc.errors import SparccError

_why = get_target("hls", available=False).unavailable()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"hls target unavailable: {_why}")

from sparcc.backends.hls import options  # noqa: E402
from sparcc.backends.hls.interp import simulate  # noqa: E402
from sparcc.backends.hls.pragmas import PragmaError, check, check_file  # noqa: E402


def _program(fast):
    return next(iter(fast.cache.values()))


def _run(model, args, **opts):
    with options(**opts):
        fast = sparcc.jit(model, target="hls", cache=False)
        got = fast(*args)
    return fast, got


def _close(got, want, rtol=1e-5):
    got, want = got.detach().double(), want.detach().double()
    scale = max(1.0, float(want.abs().max()))
    assert float((got - want).abs().max()) <= rtol * scale, float((got - want).abs().max())


def _bit_exact(fast, args):
    prog = _program(fast)
    exe = prog.executable
    want = simulate(prog.ir["linalg"], exe.options, [a.numpy() for a in args], exe.store)
    got = fast(*args)
    got = [got] if isinstance(got, torch.Tensor) else list(got)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.detach().numpy(), w)


def _report(fast) -> dict:
    return json.loads((Path(_program(fast).report["library"]).parent / "report.json").read_text())


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 10)

    def forward(self, x):
        return torch.softmax(self.fc2(torch.tanh(self.fc1(x))), dim=-1)


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.avg = torch.nn.AvgPool2d(2)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.avg(self.pool(torch.relu(self.conv(x)))), 1))


class Attention(torch.nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.q, self.k, self.v = (torch.nn.Linear(d, d) for _ in range(3))
        self.norm = torch.nn.LayerNorm(d)

    def forward(self, x):
        a = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2) / 8**0.5, dim=-1)
        return self.norm(x + a @ self.v(x))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", ["mlp", "cnn", "attention"])
def test_float_models_match_pytorch_and_the_model(name):
    model, x = {
        "mlp": (MLP(), torch.randn(2, 16)),
        "cnn": (CNN(), torch.randn(1, 3, 8, 8)),
        "attention": (Attention(), torch.randn(1, 4, 8)),
    }[name]
    model.eval()
    fast, got = _run(model, [x])
    with torch.no_grad():
        _close(got, model(x))
    _bit_exact(fast, [x])


# PolyBench kernels as torch functions (small sizes; the loop structure is what matters)
def gemm(A, B, C):
    return 1.5 * A @ B + 1.2 * C


def k2mm(A, B, C, D):
    return 1.5 * (A @ B) @ C + 1.2 * D


def k3mm(A, B, C, D):
    return (A @ B) @ (C @ D)


def atax(A, x):
    return A.t() @ (A @ x)


def bicg(A, p, r):
    return A @ p, A.t() @ r


def mvt(A, x1, x2, y1, y2):
    return x1 + A @ y1, x2 + A.t() @ y2


def gesummv(A, B, x):
    return 1.5 * A @ x + 1.2 * B @ x


def syrk(A, C):
    return 1.2 * C + 1.5 * A @ A.t()


def syr2k(A, B, C):
    return 1.2 * C + 1.5 * (A @ B.t() + B @ A.t())


def jacobi_2d(A, B):
    for _ in range(2):
        B = B.clone()
        B[1:-1, 1:-1] = 0.2 * (A[1:-1, 1:-1] + A[1:-1, :-2] + A[1:-1, 2:] + A[2:, 1:-1] + A[:-2, 1:-1])
        A = A.clone()
        A[1:-1, 1:-1] = 0.2 * (B[1:-1, 1:-1] + B[1:-1, :-2] + B[1:-1, 2:] + B[2:, 1:-1] + B[:-2, 1:-1])
    return A


POLYBENCH = {
    "gemm": (gemm, [(8, 6), (6, 10), (8, 10)]),
    "2mm": (k2mm, [(6, 4), (4, 5), (5, 7), (6, 7)]),
    "3mm": (k3mm, [(6, 4), (4, 5), (5, 3), (3, 7)]),
    "atax": (atax, [(8, 6), (6,)]),
    "bicg": (bicg, [(8, 6), (6,), (8,)]),
    "mvt": (mvt, [(8, 8), (8,), (8,), (8,), (8,)]),
    "gesummv": (gesummv, [(8, 8), (8, 8), (8,)]),
    "syrk": (syrk, [(8, 6), (8, 8)]),
    "syr2k": (syr2k, [(8, 6), (8, 6), (8, 8)]),
    "jacobi-2d": (jacobi_2d, [(8, 8), (8, 8)]),
}
FAST_POLYBENCH = {"gemm", "jacobi-2d"}


@pytest.mark.parametrize(
    "name", [n if n in FAST_POLYBENCH else pytest.param(n, marks=pytest.mark.slow) for n in POLYBENCH]
)
def test_polybench_kernels(name):
    fn, shapes = POLYBENCH[name]
    args = [torch.randn(*s) for s in shapes]
    fast, got = _run(fn, args)
    want = fn(*args)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    for g, w in zip(got, want):
        _close(g, w)
    _bit_exact(fast, args)


@pytest.mark.parametrize("interface", ["stream", pytest.param("ap_memory", marks=pytest.mark.slow)])
def test_interfaces(interface):
    model, x = MLP().eval(), torch.randn(2, 16)
    fast, got = _run(model, [x], interface=interface, schedule={"*": {"unroll": 2}})
    with torch.no_grad():
        _close(got, model(x))
    folder = Path(_program(fast).report["library"]).parent
    cpp = (folder / "kernel.cpp").read_text()
    assert ("interface ap_memory port=in0" if interface == "ap_memory" else "hls::stream<float> &in0") in cpp
    assert check_file(folder / "kernel.cpp", folder / "weights.h") > 0


@pytest.mark.parametrize("precision", [{"*": "ap_fixed<16,6>"},
                                       pytest.param({"fc1": "ap_fixed<12,4>"}, marks=pytest.mark.slow),
                                       pytest.param("fc*=ap_fixed<18,8>", marks=pytest.mark.slow)])
def test_fixed_point_is_bit_exact_and_near_float(precision):
    model, x = MLP().eval(), torch.randn(2, 16)
    fast, got = _run(model, [x], precision=precision, schedule={"fc2": {"unroll": 2}})
    _bit_exact(fast, [x])
    with torch.no_grad():
        err = float((got - model(x)).abs().max())
    assert 0 < err < 0.05  # rounded, but close: 6..10 fraction bits on a softmax output
    cpp = (Path(_program(fast).report["library"]).parent / "kernel.cpp").read_text()
    assert "ap_fixed<" in cpp


@pytest.mark.slow
def test_fixed_point_weights_are_rounded_in_the_rom():
    model, x = MLP().eval(), torch.randn(2, 16)
    fast, _ = _run(model, [x], precision={"fc1": "ap_fixed<8,2>"})
    text = (Path(_program(fast).report["library"]).parent / "weights.h").read_text()
    assert "static const ap_fixed<8,2> w_fc1_weight[512]" in text
    assert "static const float w_fc2_weight[320]" in text
    block = text.split("w_fc1_weight[512] = {")[1].split("}")[0]
    values = np.array([float(v) for v in block.replace("\n", " ").split(",") if v.strip()])
    np.testing.assert_array_equal(values * 64, np.round(values * 64))  # multiples of 2^-6


def test_unroll_by_4_gives_fewer_cycles_and_more_dsps():
    model, x = torch.nn.Linear(64, 32).eval(), torch.randn(1, 64)
    base, _ = _run(model, [x])
    fast, got = _run(model, [x], schedule={"*": {"unroll": 4}})
    with torch.no_grad():
        _close(got, model(x))
    r0, r4 = _report(base), _report(fast)
    assert r4["latency_cycles"] < r0["latency_cycles"] / 3
    assert r4["resources"]["DSP"] == 4 * r0["resources"]["DSP"]
    cpp = (Path(_program(fast).report["library"]).parent / "kernel.cpp").read_text()
    assert "#pragma HLS unroll factor=4" in cpp
    assert "array_partition variable=w_weight cyclic factor=4 dim=1" in cpp


def test_qor_hand_derived_vector_add():
    # one loop of 64 at II 1: two loads (2 cycles, in parallel), fadd (4), store (1) = depth 7,
    # + 1 to enter: (64 - 1) * 1 + 8 = 71 cycles; + 2 for the call = 73. fadd: 2 DSP.
    def vadd(a, b):
        return a + b

    a, b = torch.randn(64), torch.randn(64)
    fast, _ = _run(vadd, [a, b], interface="ap_memory")
    r = _report(fast)
    assert r["nests"][0]["loop"] == {"label": "L0", "trip": 64, "unroll": 1, "latency": 71, "ii": 1, "depth": 8,
                                     "ii_parts": {"asked": 1, "recurrence": 1, "memory": 1, "user": False}}
    assert r["latency_cycles"] == 73 and r["resources"]["DSP"] == 2
    # unroll 4 with ap_memory ports partitioned cyclic 4: 16 iterations at II 1 -> 15 + 8 = 23
    fast, _ = _run(vadd, [a, b], interface="ap_memory", schedule={"*": {"unroll": 4}})
    r = _report(fast)
    assert r["nests"][0]["loop"]["latency"] == 23 and r["resources"]["DSP"] == 8
    # in0 left in one bank: 4 reads a cycle on 2 ports -> II 2: 15 * 2 + 8 = 38
    fast, _ = _run(vadd, [a, b], interface="ap_memory",
                   schedule={"*": {"unroll": 4, "partition": {"in0": "cyclic:1:1"}}})
    loop = _report(fast)["nests"][0]["loop"]
    assert (loop["ii"], loop["latency"], loop["ii_parts"]["memory"]) == (2, 38, 2)
    # m_axi: the ports are copied to on-chip buffers first, 64 + 64 cycles each: 23 + 3 * 128 + 2
    fast, _ = _run(vadd, [a, b], schedule={"*": {"unroll": 4}})
    r = _report(fast)
    assert (r["nests"][0]["loop"]["latency"], r["copy_cycles"], r["latency_cycles"]) == (23, 384, 409)


def test_qor_hand_derived_reduction():
    # y[i] = sum_k A[i,k] x[k], 8 x 16: the k loop's float accumulation through memory has
    # recurrence II = fadd latency 4; depth: load 2, fmul 3, fadd 4, store 1 = 10, + 1.
    # per row: (16 - 1) * 4 + 11 = 71; rows: 8 * (71 + 1) = 576
    def mv(A, x):
        return A @ x

    fast, _ = _run(mv, [torch.randn(8, 16), torch.randn(16)], interface="ap_memory")
    nest = _report(fast)["nests"][-1]["loop"]
    inner = nest["loops"][0]
    assert (inner["trip"], inner["ii"], inner["depth"], inner["latency"]) == (16, 4, 11, 71)
    assert nest["latency"] == 576
    # the same in ap_fixed<16,6>: add 1 cycle, mul 2 -> II 1, depth 2 + 2 + 1 + 1 + 1 = 7
    fast, _ = _run(mv, [torch.randn(8, 16), torch.randn(16)], interface="ap_memory", precision="*=ap_fixed<16,6>")
    inner = _report(fast)["nests"][-1]["loop"]["loops"][0]
    assert (inner["ii"], inner["depth"], inner["latency"]) == (1, 7, 22)


def test_tile_moves_the_reduction_out_of_the_pipelined_loop():
    # y = A @ x, 8 x 16, ap_memory: untiled the k loop is pipelined at II 4 (576 cycles, above).
    # tile [8]: i -> i.outer (1 iteration) > k (16) > i.point (8); the pipelined point loop stores
    # y[i] at a new address each iteration: no recurrence, II 1; depth load 2 + fmul 3 + fadd 4 +
    # store 1 + entry 1 = 11: (8 - 1) * 1 + 11 = 18; k: 16 * (18 + 1) = 304; i.outer: 1 * (304 + 1) = 305.
    def mv(A, x):
        return A @ x

    args = [torch.randn(8, 16), torch.randn(16)]
    fast, got = _run(mv, args, interface="ap_memory", schedule={"*": {"tile": [8]}})
    _close(got, mv(*args))
    _bit_exact(fast, args)
    outer = _report(fast)["nests"][-1]["loop"]
    k = outer["loops"][0]
    point = k["loops"][0]
    assert (outer["trip"], k["trip"], point["trip"]) == (1, 16, 8)
    assert (point["ii"], point["depth"], point["latency"], k["latency"], outer["latency"]) == (1, 11, 18, 304, 305)
    folder = Path(_program(fast).report["library"]).parent
    cpp = (folder / "kernel.cpp").read_text()
    assert "L1: for (int i1 = 0; i1 < 8; i1 += 8) {" in cpp and "L1_2: for (int i1_2 = 0; i1_2 < 8; i1_2 += 1) {" in cpp
    assert check_file(folder / "kernel.cpp", folder / "weights.h") > 0


def test_dataflow_connects_the_layers_through_streams():
    # each layer a process: its inputs read from hls::stream FIFOs (or its port) into its own copy,
    # its nests unchanged, its outputs written to a stream per reader (the softmax's exp feeds two)
    model, x = MLP().eval(), torch.randn(2, 16)
    fast, got = _run(model, [x], schedule={"dataflow": True})
    with torch.no_grad():
        _close(got, model(x))
    _bit_exact(fast, [x])
    folder = Path(_program(fast).report["library"]).parent
    cpp = (folder / "kernel.cpp").read_text()
    top = cpp[cpp.index("void sparcc_top("):]
    assert "#pragma HLS dataflow" in top and "hls::stream<float> s_" in top and "static void sparcc_p5(" in cpp
    assert "for (int i = 0; i < 32; ++i) {\n    #pragma HLS pipeline II=1\n    in0[i] = in0_port[i];" in cpp
    assert check_file(folder / "kernel.cpp", folder / "weights.h") > 0
    r = _report(fast)
    procs = r["dataflow"]["processes"]
    assert procs[0]["layers"] == ["fc1"] and procs[1]["layers"] == ["fc2"]
    # fc1: in0 from m_axi (32 + 64 cycles), its 64 outputs to fc2's stream (64 + 2); its nests by label
    fc1 = sum(n["latency"] for n in r["nests"] if n["layer"] == "fc1")
    assert procs[0]["latency"] == (32 + 64) + fc1 + (64 + 2)
    assert r["interval_cycles"] == max(p["latency"] for p in procs) + 1
    assert r["latency_cycles"] == sum(p["latency"] for p in procs) + 2
    assert any(len([s for s in r["dataflow"]["streams"] if s["from"] == p["name"]]) == 2 for p in procs)


def test_weights_as_a_binary_file():
    # weights.bin: one 32-bit word a weight, read through the sparcc_wts m_axi port into the
    # on-chip arrays by the first call; weights.h declares the arrays without initialisers
    model, x = MLP().eval(), torch.randn(2, 16)
    fast, got = _run(model, [x], weights="bin", precision={"fc2": "ap_fixed<16,6>"})
    _bit_exact(fast, [x])
    _close(fast(x), got)  # the second call runs on the weights the first one loaded
    folder = Path(_program(fast).report["library"]).parent
    header, cpp = (folder / "weights.h").read_text(), (folder / "kernel.cpp").read_text()
    words = 16 * 32 + 32 + 32 * 10 + 10
    assert "static float w_fc1_weight[512];" in header and "static ap_fixed<16,6> w_fc2_weight[320];" in header
    assert (folder / "weights.bin").stat().st_size == 4 * words
    assert f"#pragma HLS interface m_axi port=sparcc_wts offset=slave bundle=gmem_sparcc_wts depth={words}" in cpp
    assert check_file(folder / "kernel.cpp", folder / "weights.h") > 0
    assert _report(fast)["weight_load_cycles"] == words + 64  # one word a cycle after the AXI latency
    with pytest.raises(SparccError, match="hls weights 'rom': expected one of auto, header, bin"):
        _run(model, [x], weights="rom")


@pytest.mark.slow
def test_a_model_of_two_million_weights_builds_with_its_weights_in_a_file():
    model = torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024)).eval()
    x = torch.randn(1, 1024)
    fast, got = _run(model, [x])  # "auto": above 2^18 weights
    with torch.no_grad():
        _close(got, model(x))
    folder = Path(_program(fast).report["library"]).parent
    assert (folder / "weights.bin").stat().st_size == 4 * (2 * 1024 * 1024 + 2 * 1024)
    assert (folder / "weights.h").stat().st_size < 10_000
    assert any("BRAM18K" in w and "over the device" in w for w in _report(fast)["warnings"])


def test_compile_writes_a_project_whose_make_csim_passes_in_a_fresh_copy(tmp_path):
    factory = tmp_path / "small.py"
    factory.write_text(
        "import torch\n"
        "def make_model():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()\n"
        "def example_inputs():\n"
        "    return (torch.randn(4, 16),)\n"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "sparcc.cli", "compile", f"{factory}:make_model", "--target", "hls", "-o", str(out),
         "--hls-precision", "0=ap_fixed<16,6>", "--hls-schedule", '{"*": {"unroll": 2}}'],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for f in ("kernel.cpp", "kernel.h", "weights.h", "tb.cpp", "Makefile", "run_hls.tcl", "report.json", "report.txt",
              "manifest.json"):
        assert (out / f).exists(), f
    m = json.loads((out / "manifest.json").read_text())
    assert m["target"] == "hls" and m["precision"] == ["ap_fixed<16,6>"]
    assert "set_part {xczu7ev" in (out / "run_hls.tcl").read_text()
    # sparcc.load builds the project's kernel.cpp and runs it like a jit program
    import runpy

    ns = runpy.run_path(str(factory))
    model, x = ns["make_model"](), torch.randn(3, 16)
    with pytest.raises(SparccError, match=r"expected shape \[4, 16\]"):
        sparcc.load(out)(x)
    x = torch.randn(4, 16)
    with torch.no_grad():
        assert float((sparcc.load(out)(x) - model(x)).abs().max()) < 0.1  # layer 0 in ap_fixed<16,6>
    fresh = tmp_path / "fresh"
    shutil.copytree(out, fresh)
    run = subprocess.run(["make", "csim"], capture_output=True, text=True, cwd=fresh)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASS: 40 outputs" in run.stdout
    # a testbench exits non-zero when an output is wrong
    tb = (fresh / "tb.cpp").read_text()
    start = tb.index("golden_out0[40] = {") + len("golden_out0[40] = {\n  ")
    (fresh / "tb.cpp").write_text(tb[:start] + "100.0f, " + tb[start:].split(",", 1)[1])
    run = subprocess.run(["make", "csim"], capture_output=True, text=True, cwd=fresh)
    assert run.returncode != 0 and "FAIL: 1 mismatches" in run.stdout


@pytest.mark.slow
def test_cli_rejects_a_bad_hls_option(tmp_path):
    factory = tmp_path / "m.py"
    factory.write_text("import torch\ndef f():\n    return torch.nn.Sequential(torch.nn.Linear(4, 4)).eval()\n")
    done = subprocess.run(
        [sys.executable, "-m", "sparcc.cli", "compile", f"{factory}:f", "--example-input", "randn(1,4)", "--target",
         "hls", "-o", str(tmp_path / "o"), "--hls-schedule", '{"0": {"unroll": 3}}'],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "unroll factor 3 must divide the trip count 4" in done.stderr and "Traceback" not in done.stderr


def test_refused_inputs_are_one_clear_error():
    model, x = MLP().eval(), torch.randn(2, 16)
    with pytest.raises(SparccError, match="unroll factor 5 must divide the trip count 32 of loop"):
        _run(model, [x], schedule={"fc1": {"unroll": 5}})
    with pytest.raises(SparccError, match=r"pipeline II=1 on loop L\d+_2 is impossible: recurrence needs II >= 4"):
        _run(model, [x], schedule={"fc1": {"pipeline": 1}})
    with pytest.raises(SparccError, match="reuse_factor=3 must divide the trip count 32"):
        _run(model, [x], schedule={"fc1": {"reuse_factor": 3}})
    with pytest.raises(SparccError, match="partition of w_fc1_weight: factor 5 does not divide its 512 elements"):
        _run(model, [x], schedule={"fc1": {"partition": {"w_fc1_weight": "cyclic:5:1"}}})
    with pytest.raises(SparccError, match="expected float or ap_fixed<W,I>"):
        _run(model, [x], precision={"*": "ap_fixed<16>"})
    with pytest.raises(SparccError, match="HLS needs static sizes"):
        with options():
            sparcc.jit(model, target="hls", cache=False, dynamic={0: {0: (1, 8)}})(x)


def test_reuse_factor_sets_the_unroll():
    model, x = MLP().eval(), torch.randn(2, 16)
    fast, got = _run(model, [x], schedule={"fc1": {"reuse_factor": 8}})
    with torch.no_grad():
        _close(got, model(x))
    fc1 = [n for n in _report(fast)["nests"] if n["layer"] == "fc1"][0]
    assert fc1["loop"]["loops"][0]["unroll"] == 4  # 32 outputs / reuse 8


def test_pragma_checker():
    good = (
        "void sparcc_top(const float in0[8], float out0[8]) {\n"
        "#pragma HLS interface ap_memory port=in0\n"
        "  static float buf0[8];\n"
        "  #pragma HLS array_partition variable=buf0 cyclic factor=4 dim=1\n"
        "  L0: for (int i0 = 0; i0 < 8; i0 += 1) {\n"
        "    #pragma HLS pipeline II=1\n"
        "    #pragma HLS unroll factor=4\n"
        "    out0[i0] = in0[i0];\n"
        "  }\n"
        "}\n"
    )
    assert check(good) == 4
    cases = [
        (good.replace("unroll factor=4", "unroll factor=3"), "does not divide its trip count 8"),
        (good.replace("cyclic factor=4", "cyclic factor=3"), "factor=3 does not divide 'buf0'"),
        (good.replace("variable=buf0", "variable=nothing"), "names 'nothing', which is not an array"),
        (good.replace("port=in0", "port=in9"), "names port 'in9'"),
        (good.replace("    #pragma HLS pipeline II=1\n", "").replace("  L0:", "  #pragma HLS pipeline II=1\n  L0:"),
         "not the first line of a labelled loop's body"),
    ]
    for text, message in cases:
        with pytest.raises(PragmaError, match=message):
            check(text)
    # a loop whose bounds are data (a CSR row) takes loop_tripcount and no unroll; stream pragmas name streams
    row = (
        "void f(hls::stream<float> &s_in, const int pos[5]) {\n"
        "  hls::stream<float> s_a;\n"
        "  #pragma HLS stream variable=s_a depth=4\n"
        "  L0: for (int i0 = 0; i0 < 4; i0 += 1) {\n"
        "    int v1 = pos[i0];\n"
        "    int v2 = pos[i0 + 1];\n"
        "    L0_1: for (int i0_1 = v1; i0_1 < v2; i0_1 += 1) {\n"
        "      #pragma HLS pipeline II=1\n"
        "      #pragma HLS loop_tripcount min=0 max=6 avg=3\n"
        "      s_a.write(s_in.read());\n"
        "    }\n"
        "  }\n"
        "}\n"
    )
    assert check(row) == 3
    for text, message in [
        (row.replace("loop_tripcount", "unroll factor=2 //"), "unroll on loop L0_1, whose trip count is data"),
        (row.replace("min=0 max=6 avg=3", "min=4 max=6 avg=3"), "0 <= min <= avg <= max"),
        (row.replace("variable=s_a", "variable=s_b"), "stream names 's_b', which is not an hls::stream"),
        (good.replace("#pragma HLS unroll factor=4", "#pragma HLS loop_tripcount min=1 max=8 avg=8"),
         "loop_tripcount on loop L0 needs data-dependent bounds"),
    ]:
        with pytest.raises(PragmaError, match=message):
            check(text)


class Tangent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        y = torch.relu(self.fc(x))
        return torch.tan(y)  # math.tan: no C++ handler


def test_an_op_the_emitter_cannot_handle_is_named_with_its_source_line():
    import inspect

    line = inspect.getsourcelines(Tangent.forward)[1] + 2
    with pytest.raises(SparccError, match=rf"cannot emit 'math.tan' \(at {re.escape(__file__)}:{line}\)"):
        _run(Tangent().eval(), [torch.randn(2, 8)])
    # a schedule the layer cannot take names its line too
    line -= 1
    with pytest.raises(SparccError, match=rf"for layer fc \(.*{re.escape(__file__)}:{line}.*\): unroll factor 3 must"):
        _run(Tangent().eval(), [torch.randn(2, 8)], schedule={"fc": {"unroll": 3}})


@pytest.mark.slow
def test_sparcc_compile_names_the_source_line_without_a_traceback(tmp_path):
    factory = tmp_path / "tangent.py"
    factory.write_text(
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.tan(x) + 1\n"
        "def make():\n"
        "    return M()\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "sparcc.cli", "compile", f"{factory}:make", "--example-input", "randn(2,4)", "--target",
         "hls", "-o", str(tmp_path / "o")], capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 1
    assert f"cannot emit 'math.tan' (at {factory}:4)" in done.stderr and "Traceback" not in done.stderr


def test_an_index_out_of_range_is_reported_and_the_read_stays_clamped():
    from sparcc.errors import IndexOutOfRangeError

    emb = torch.nn.Embedding(10, 4).eval()
    fast, got = _run(emb, [torch.tensor([[1, 2, 3]])])
    _close(got, emb(torch.tensor([[1, 2, 3]])))
    with pytest.raises(IndexOutOfRangeError, match="index 12"):
        fast(torch.tensor([[1, 12, 3]]))
    _close(fast(torch.tensor([[4, 5, 6]])), emb(torch.tensor([[4, 5, 6]])))  # the error was taken once


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hf/gpt2", "hf/llama", "hf/bert"])
def test_zoo_transformers_run_end_to_end(name):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    zoo = pytest.importorskip("zoo_models")
    entry = zoo.MODELS[name]
    model, args = entry.build(), entry.inputs()
    fast = sparcc.jit(model, target="hls", cache=False)
    with torch.no_grad():
        assert zoo.error(fast(*args), model(*args)) < 1e-5
    cpp = (Path(_program(fast).report["library"]).parent / "kernel.cpp").read_text()
    assert cpp.count("#pragma HLS pipeline") > 20


@pytest.mark.slow
def test_zoo_gpt2_in_dataflow_with_its_weights_in_a_file():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    zoo = pytest.importorskip("zoo_models")
    entry = zoo.MODELS["hf/gpt2"]
    model, args = entry.build(), entry.inputs()
    with options(schedule={"dataflow": True}, weights="bin"):
        fast = sparcc.jit(model, target="hls", cache=False)
        with torch.no_grad():
            assert zoo.error(fast(*args), model(*args)) < 1e-5
    r = _report(fast)
    assert len(r["dataflow"]["processes"]) > 20 and r["interval_cycles"] < r["latency_cycles"] / 2


@pytest.mark.parametrize("spec", ["nf4:g32", pytest.param("int4:g32", marks=pytest.mark.slow),
                                  pytest.param("mxfp4", marks=pytest.mark.slow),
                                  pytest.param("int8:channel", marks=pytest.mark.slow),
                                  pytest.param("int8:channel:asym", marks=pytest.mark.slow)])
def test_quantised_layers_read_codes_through_the_value_table(spec):
    model = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8)).eval()
    x = torch.randn(2, 64)
    with options():
        fast = sparcc.jit(model, target="hls", cache=False, quant={"0": spec})
        got = fast(x)
    want = sparcc.jit(model, target="ref", cache=False, quant={"0": spec})(x)  # sparcc's oracle, same codes
    _close(got, want)
    _bit_exact(fast, [x])
    folder = Path(_program(fast).report["library"]).parent
    weights = (folder / "weights.h").read_text()
    bits = 8 if spec.startswith("int8") else 4
    assert f"static const ap_uint<{bits}> w_0_weight_codes[1024]" in weights  # codes as narrow as the table
    assert "w_0_weight_lut[" in weights and "w_0_weight_scales[" in weights
    assert "w_0_weight[" not in weights  # the float weight is not in the design


def test_quantised_and_sparse_on_one_layer():
    # 2:4 with asymmetric int4 on the kept values: (table[code] - zero point) * scale per group of
    # 32 kept values, multiplied with x read through the kept positions
    model = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8)).eval()
    x = torch.randn(2, 64)
    spec = {"quant": {"0": "int4:g32:asym"}, "sparsity": {"0": "2:4"}}
    with options():
        fast = sparcc.jit(model, target="hls", cache=False, **spec)
        got = fast(x)
    _close(got, sparcc.jit(model, target="ref", cache=False, **spec)(x))  # sparcc's oracle, same codes
    _bit_exact(fast, [x])
    weights = (Path(_program(fast).report["library"]).parent / "weights.h").read_text()
    kept = 16 * 64 // 2
    assert f"static const ap_uint<4> w_0_weight_codes[{kept}]" in weights  # the kept values' codes only
    assert f"static const signed char w_0_weight_i0[{kept}]" in weights
    assert "w_0_weight_zeros[16]" in weights and "w_0_weight_scales[16]" in weights  # 16 rows x 32 kept: 1 group
    assert "w_0_weight[" not in weights and "w_0_weight_values[" not in weights


def test_quantised_layer_refusals():
    model = torch.nn.Sequential(torch.nn.Linear(64, 16)).eval()
    narrow = torch.nn.Sequential(torch.nn.Linear(48, 16)).eval()  # 2:4 keeps 24 values a row
    with pytest.raises(SparccError, match="24 columns are not a whole number of groups of 16"):
        with options():
            sparcc.jit(narrow, target="hls", cache=False, quant={"0": "int4:g16"}, sparsity={"0": "2:4"})(torch.randn(1, 48))
    with pytest.raises(SparccError, match="target 'hls' takes N:M, ELL and CSR sparsity .*, not 'bsr:2x2'"):
        sparcc.jit(model, target="hls", cache=False, sparsity={"0": "unstructured:0.5@bsr:2x2"})(torch.randn(1, 64))


@pytest.mark.parametrize("spec", ["2:4", pytest.param("1:4", marks=pytest.mark.slow)])
def test_nm_sparse_layers_walk_the_kept_values(spec):
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).eval()
    x = torch.randn(3, 16)
    with options():
        fast = sparcc.jit(model, target="hls", cache=False, sparsity={"0": spec})
        got = fast(x)
    want = sparcc.jit(model, target="ref", cache=False, sparsity={"0": spec})(x)  # the same pruned weights
    _close(got, want)
    _bit_exact(fast, [x])
    weights = (Path(_program(fast).report["library"]).parent / "weights.h").read_text()
    kept = 16 * 8 * int(spec[0]) // 4
    assert f"static const signed char w_0_weight_i0[{kept}]" in weights
    assert f"static const float w_0_weight_values[{kept}]" in weights
    assert "w_0_weight[" not in weights


def test_ell_sparse_layers_gather_x_by_column():
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).eval()
    x = torch.randn(3, 16)
    spec = {"0": "unstructured:0.75@ell"}
    with options():
        fast = sparcc.jit(model, target="hls", cache=False, sparsity=spec)
        got = fast(x)
    _close(got, sparcc.jit(model, target="ref", cache=False, sparsity=spec)(x))
    _bit_exact(fast, [x])
    weights = (Path(_program(fast).report["library"]).parent / "weights.h").read_text()
    assert "static const int w_0_weight_i1[" in weights and "w_0_weight_values[" in weights
    assert "w_0_weight[" not in weights


def test_csr_layers_walk_each_row_with_a_data_dependent_loop():
    # CSR: row r's entries pos[r] .. pos[r+1] are a loop whose trip count is data; the QoR model
    # counts each row's entries: a row of t entries takes (t - 1) * II + depth cycles at II 4 (the
    # float accumulation into y[b, r]); depth: crd load 2 -> x load 2 -> fmul 3 -> fadd 4 -> store 1,
    # + 1 to enter = 13.
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).eval()
    x = torch.randn(3, 16)
    spec = {"0": "unstructured:0.7@csr"}
    with options():
        fast = sparcc.jit(model, target="hls", cache=False, sparsity=spec)
        got = fast(x)
    _close(got, sparcc.jit(model, target="ref", cache=False, sparsity=spec)(x))
    _bit_exact(fast, [x])
    prog = _program(fast)
    pos = prog.executable.store["0.weight#i0"].numpy().view(np.int32)
    rows = np.diff(pos)
    assert rows.min() > 0 and len(rows) == 8
    folder = Path(prog.report["library"]).parent
    weights, cpp = (folder / "weights.h").read_text(), (folder / "kernel.cpp").read_text()
    assert f"static const int w_0_weight_i1[{pos[-1]}]" in weights and "w_0_weight[" not in weights
    assert f"#pragma HLS loop_tripcount min={rows.min()} max={rows.max()} avg={-(-pos[-1] // 8)}" in cpp
    assert check_file(folder / "kernel.cpp", folder / "weights.h") > 0
    nest = next(n for n in _report(fast)["nests"] if "loops" in n["loop"]["loops"][0])
    row_loop, walk = nest["loop"]["loops"][0], nest["loop"]["loops"][0]["loops"][0]
    assert (walk["ii"], walk["depth"]) == (4, 13)
    assert walk["trips"] == {"min": int(rows.min()), "max": int(rows.max()), "total": int(pos[-1]), "estimated": False}
    assert walk["latency"] == sum((t - 1) * 4 + 13 for t in rows)
    assert row_loop["latency"] == 8 * (1 + 1) + walk["latency"]  # the bound loads, + 1 per row
    assert nest["latency"] == 3 * (row_loop["latency"] + 1)


@pytest.mark.slow
def test_csr_layers_refuse_an_unroll_around_a_row():
    model = torch.nn.Sequential(torch.nn.Linear(16, 8)).eval()
    x = torch.randn(2, 16)
    with pytest.raises(SparccError, match="unroll 2: loop L1_1 .* holds a loop whose trip count is data"):
        with options(schedule={"0": {"unroll": 2}}):
            sparcc.jit(model, target="hls", cache=False, sparsity={"0": "unstructured:0.5@csr"})(x)
    with options(schedule={"*": {"unroll": 2}}):  # a wildcard: the CSR nest is left rolled, and the report says so
        fast = sparcc.jit(model, target="hls", cache=False, sparsity={"0": "unstructured:0.5@csr"})
        fast(x)
    assert any("not applied" in w for w in _report(fast)["warnings"])
    with pytest.raises(SparccError, match=r"tile \[2, 2\]: it holds a loop whose trip count is data"):
        with options(schedule={"0": {"tile": [2, 2]}}):
            sparcc.jit(model, target="hls", cache=False, sparsity={"0": "unstructured:0.5@csr"})(x)
    wide = torch.nn.Sequential(torch.nn.Linear(160, 4)).eval()
    with pytest.raises(SparccError, match="CSR columns up to 159 do not fit the format's signed 8-bit index type"):
        with options():
            sparcc.jit(wide, target="hls", cache=False, sparsity={"0": "unstructured:0.5@csr;crd=8"})(torch.randn(1, 160))


@pytest.mark.slow
def test_a_quantised_layer_in_fixed_point_is_bit_exact():
    model = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8)).eval()
    x = torch.randn(2, 64)
    fast, got = _run_q(model, x, quant={"0": "nf4:g32"}, precision={"*": "ap_fixed<16,6>"})
    _bit_exact(fast, [x])
    weights = (Path(_program(fast).report["library"]).parent / "weights.h").read_text()
    assert "static const ap_fixed<16,6> w_0_weight_lut[16]" in weights  # the table in the layer's type
    assert "static const ap_uint<4> w_0_weight_codes[1024]" in weights


def _run_q(model, x, quant, **opts):
    with options(**opts):
        fast = sparcc.jit(model, target="hls", cache=False, quant=quant)
        return fast, fast(x)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["cnn", "attention", "nf4", "2:4", "ell", "csr", "gemm", "jacobi-2d", "fixed",
                                  "dataflow", "weights.bin", "sparse+quant"])
def test_every_kind_of_design_passes_make_csim_in_a_fresh_copy(case, tmp_path):
    from sparcc import artifact

    model, args, kw, opts = {
        "cnn": (CNN(), [torch.randn(1, 3, 8, 8)], {}, {}),
        "attention": (Attention(), [torch.randn(1, 4, 8)], {}, {}),
        "nf4": (MLP(), [torch.randn(2, 16)], {"quant": {"fc1": "nf4:g16"}}, {}),
        "2:4": (MLP(), [torch.randn(2, 16)], {"sparsity": {"fc1": "2:4"}}, {}),
        "ell": (MLP(), [torch.randn(2, 16)], {"sparsity": {"fc1": "unstructured:0.5@ell"}}, {}),
        "csr": (MLP(), [torch.randn(2, 16)], {"sparsity": {"fc1": "unstructured:0.8@csr"}},
                {"precision": {"fc2": "ap_fixed<18,8>"}}),
        "gemm": (gemm, [torch.randn(8, 6), torch.randn(6, 10), torch.randn(8, 10)], {}, {"interface": "stream"}),
        "jacobi-2d": (jacobi_2d, [torch.randn(8, 8), torch.randn(8, 8)], {}, {"interface": "ap_memory"}),
        "fixed": (MLP(), [torch.randn(2, 16)], {}, {"precision": {"*": "ap_fixed<18,8>"}}),
        "dataflow": (Attention(), [torch.randn(1, 4, 8)], {},  # x feeds q, k, v and the residual
                     {"schedule": {"dataflow": True, "norm": {"unroll": 2}}, "interface": "stream",
                      "precision": {"v": "ap_fixed<18,8>"}}),
        "sparse+quant": (MLP(), [torch.randn(2, 16)], {"quant": {"fc1": "int4:g8:asym"}, "sparsity": {"fc1": "2:4"}},
                         {"precision": {"fc1": "ap_fixed<16,6>"}}),
        "weights.bin": (MLP(), [torch.randn(2, 16)], {"quant": {"fc1": "int4:g8"}, "sparsity": {"fc2": "unstructured:0.5@csr"}},
                        {"weights": "bin", "schedule": {"dataflow": True}, "precision": {"fc1": "ap_fixed<16,6>"}}),
    }[case]
    if isinstance(model, torch.nn.Module):
        model.eval()
    with options(**opts):
        artifact.compile(model, args, tmp_path / "out", target="hls", **kw)
    shutil.copytree(tmp_path / "out", tmp_path / "fresh")
    run = subprocess.run(["make", "csim"], capture_output=True, text=True, cwd=tmp_path / "fresh")
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
