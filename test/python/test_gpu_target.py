"""The GPU target on a machine without a GPU: every supported model lowers to
PTX for sm_80 and sm_90, ptxas accepts it, and its kernels and launch plan,
run on the CPU (gpu_emulator.py), give PyTorch's values; without a CUDA
driver, jit, load and the CLI say so in one message; ahead-of-time artifacts
are written anyway (cross-compilation). Tests that need a device skip with
the reason. benchmarks/gpu_check.sh runs them where an NVIDIA GPU is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sparcc
from sparcc.backends import get_target
from sparcc.backends.gpu import runtime, toolchain
from sparcc.backends.gpu.lower import ARCHS, lower
from sparcc.backends.gpu.target import bind_weights, weight_abi
from sparcc.driver import prepare

sys.path.insert(0, str(Path(__file__).parent))
from gpu_emulator import Emulator  # noqa: E402

NO_GPU = runtime.probe()
needs_gpu = pytest.mark.skipif(NO_GPU is not None, reason=f"needs an NVIDIA GPU: {NO_GPU}")
needs_ptxas = pytest.mark.skipif(toolchain.tool("ptxas") is None, reason="needs ptxas (CUDA toolkit)")


class Chain(torch.nn.Module):
    def forward(self, x, y):
        return torch.tanh(x * y + 1.0).relu() - torch.sigmoid(y) / (x.abs() + 1.0)


class MatMul(torch.nn.Module):
    def forward(self, a, b):
        return a @ b


class Softmax(torch.nn.Module):
    def forward(self, x):
        return torch.softmax(x, -1)


class Total(torch.nn.Module):
    def forward(self, x):
        return x.sum() * 0.5


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 16))


def cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 5),
    )


# name -> (model, example inputs); sizes chosen so that the block tile (8 x 32) does not divide them
MODELS = {
    "mlp": (mlp, lambda: (torch.randn(5, 32),)),
    "mlp bf16": (lambda: mlp().to(torch.bfloat16), lambda: (torch.randn(5, 32, dtype=torch.bfloat16),)),
    "mlp fp16": (lambda: mlp().to(torch.float16), lambda: (torch.randn(5, 32, dtype=torch.float16),)),
    "elementwise": (Chain, lambda: (torch.randn(3, 5, 70), torch.randn(3, 5, 70))),
    "matmul": (MatMul, lambda: (torch.randn(33, 40), torch.randn(40, 70))),
    "softmax": (Softmax, lambda: (torch.randn(6, 100),)),
    "layer_norm": (lambda: torch.nn.LayerNorm(48), lambda: (torch.randn(2, 5, 48),)),
    "sum": (Total, lambda: (torch.randn(10, 13),)),
    "cnn": (cnn, lambda: (torch.randn(2, 3, 12, 12),)),
    "embedding": (lambda: torch.nn.Embedding(10, 6), lambda: (torch.tensor([[1, 2, 9], [0, 3, 3]]),)),
    "transformer": (lambda: torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True),
                    lambda: (torch.randn(1, 7, 32),)),
}


def _lowered(name: str):
    make, example = MODELS[name]
    torch.manual_seed(0)
    model, args = make().eval(), example()
    prepared = prepare(model, args, get_target("gpu", available=False))
    prepared.run_passes()
    module = prepared.imported.module
    weights = bind_weights(weight_abi(module), prepared.imported.weights)
    return model, args, weights, lower(str(module), ARCHS)


@needs_ptxas
@pytest.mark.parametrize("name", list(MODELS))
def test_model_lowers_to_ptx_that_ptxas_accepts_and_computes_pytorchs_values(name):
    model, args, weights, lowered = _lowered(name)
    for arch in ARCHS:
        ptx = lowered.ptx[arch]
        assert f".target {arch}" in ptx
        for step in lowered.plan.steps:
            assert f".entry {step.kernel}(" in ptx
        cubin = toolchain.ptxas(ptx, arch)
        assert cubin[:4] == b"\x7fELF"
    # the kernels before NVVM and the plan, run on this CPU
    with torch.no_grad():
        want = model(*args)
    wants = want if isinstance(want, tuple) else (want,)
    got = [torch.full(w.shape, float("nan"), dtype=w.dtype) for w in wants]
    error = Emulator(lowered.kernels_mlir).run(lowered.plan.as_dict(), [*args, *weights, *got])
    assert error in (None, [0, 0, 0, 0])  # no index check failed
    for g, w in zip(got, wants):
        # f32: one rounding order against another; bf16/fp16: the same ops in the same order as eager here
        tol = 2e-5 if w.dtype == torch.float32 else 1e-2
        torch.testing.assert_close(g, w, atol=tol, rtol=tol)


def test_a_bad_index_is_reported_as_the_cpu_target_reports_it():
    """An embedding index out of range: the kernel writes kind, dim, value and
    size into the plan's error buffer, which becomes the CPU target's error."""
    from sparcc.errors import run_time_error

    model, _, weights, lowered = _lowered("embedding")
    bad = torch.tensor([[1, 2, 12], [0, 3, 3]])
    out = torch.empty(2, 3, 6)
    error = Emulator(lowered.kernels_mlir).run(lowered.plan.as_dict(), [bad, *weights, out])
    # what the CPU target raises for this input (test_errors_jit checks that one against PyTorch)
    assert error == [2, 0, 12, 10]
    raised = run_time_error(*error)
    assert isinstance(raised, IndexError) and isinstance(raised, sparcc.SparccError)
    assert str(raised) == "index out of range in self (index 12, dimension 0 of size 10)"


def test_launches_stay_within_the_hardware_limits():
    *_, lowered = _lowered("transformer")
    for step in lowered.plan.steps:
        assert 1 <= step.block[0] * step.block[1] * step.block[2] <= 1024
        assert step.grid[1] <= 65535 and step.grid[2] <= 65535


def test_without_a_driver_jit_and_the_registry_say_so_once():
    if NO_GPU is None:
        pytest.skip("this machine has a GPU: the no-driver message is not shown here")
    message = "target 'gpu' is not available: no CUDA driver found"
    with pytest.raises(sparcc.SparccError) as info:
        sparcc.jit(mlp(), target="gpu")(torch.randn(2, 32))
    assert str(info.value) == message
    listed = {name: why for name, _, why in sparcc.backends.targets()}
    assert listed["gpu"] == "no CUDA driver found"


def test_a_quantised_layer_has_no_gpu_kernel_and_says_so(tmp_path):
    with pytest.raises(sparcc.SparccError, match="target 'gpu' has no kernels for quantised weights"):
        sparcc.compile(mlp(), (torch.randn(2, 32),), tmp_path / "q", target="gpu", quant={"*": "nf4:g16"})


@needs_ptxas
def test_cli_cross_compiles_an_artifact_and_load_needs_a_driver(tmp_path):
    model = tmp_path / "model.py"
    model.write_text(
        "import torch\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Linear(16, 24), torch.nn.ReLU(), torch.nn.Linear(24, 8))\n"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "sparcc.cli", "compile", f"{model}:make", "--example-input", "randn(3,16)",
         "--target", "gpu", "--gpu-arch", "sm_80", "-o", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["target"] == "gpu" and m["arch"] == "sm_80"
    assert {"kernels.ptx", "kernels.cubin", "plan.json", "weights.safetensors"} <= set(m["sha256"])
    assert ".target sm_80" in (out / "kernels.ptx").read_text()
    assert (out / "kernels.cubin").read_bytes()[:4] == b"\x7fELF"
    assert [w["shape"] for w in m["weights"]] == [[24], [8], [16, 24], [24, 8]]  # as the kernels take them
    plan = json.loads((out / "plan.json").read_text())
    assert len(plan["args"]) == 1 + 4 + 1
    if NO_GPU is not None:
        with pytest.raises(sparcc.SparccError) as info:
            sparcc.load(out)
        assert str(info.value) == "target 'gpu' is not available: no CUDA driver found"


def test_cli_rejects_an_architecture_it_cannot_name(tmp_path):
    model = tmp_path / "model.py"
    model.write_text("import torch\ndef make():\n    return torch.nn.Linear(4, 4)\n")
    done = subprocess.run(
        [sys.executable, "-m", "sparcc.cli", "compile", f"{model}:make", "--example-input", "randn(2,4)",
         "--target", "gpu", "--gpu-arch", "sm_5", "-o", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "sparcc: error: GPU architecture 'sm_5': expected sm_XY with XY >= 75, e.g. sm_80 or sm_90"
    )


# ----------------------------------------------------------------------------
# on a GPU (benchmarks/gpu_check.sh runs these)
# ----------------------------------------------------------------------------


@needs_gpu
@pytest.mark.parametrize("name", list(MODELS))
def test_model_on_the_gpu_matches_pytorch_cuda(name):
    make, example = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    args = [a.cuda() for a in example()]
    fast = sparcc.jit(model.cuda(), target="gpu", cache=False)
    with torch.no_grad():
        got, want = fast(*args), model(*args)
    assert got.device.type == "cuda"
    # bf16/fp16: sparcc computes in f32 and rounds once, torch CUDA rounds after each op
    tol = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}[want.dtype]
    torch.testing.assert_close(got, want, atol=tol, rtol=tol)


@needs_gpu
def test_an_artifact_cross_compiled_for_this_gpu_loads_and_runs(tmp_path, monkeypatch):
    from sparcc.backends.gpu.target import arch

    torch.manual_seed(0)
    model = mlp().eval()
    monkeypatch.setenv("SPARCC_GPU_ARCH", arch())
    sparcc.compile(model, (torch.randn(5, 32),), tmp_path / "out", target="gpu")
    program = sparcc.load(tmp_path / "out")
    x = torch.randn(5, 32, device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(program(x), model.cuda()(x), atol=1e-4, rtol=1e-4)


@needs_gpu
def test_a_cpu_tensor_to_a_gpu_program_is_one_clear_error():
    fast = sparcc.jit(mlp().cuda(), target="gpu", cache=False)
    fast(torch.randn(2, 32, device="cuda"))
    with pytest.raises(sparcc.SparccError, match="input 0: expected a CUDA tensor, got device cpu"):
        fast(torch.randn(2, 32))


# ----------------------------------------------------------------------------
# hand-written kernels (kernels.cu): bf16/fp16 GEMM, W4A16 GEMV
# ----------------------------------------------------------------------------

needs_nvcc = pytest.mark.skipif(toolchain.tool("nvcc") is None or toolchain.tool("ptxas") is None,
                                reason="needs nvcc and ptxas (CUDA toolkit)")


@needs_nvcc
@pytest.mark.parametrize("arch", ARCHS)
def test_hand_written_kernels_compile_to_ptx_that_ptxas_accepts(arch):
    from sparcc.backends.gpu import kernels

    ptx = kernels.kernel_ptx(arch)
    assert f".target {arch}" in ptx
    for name in [*kernels.GEMM.values(), *kernels.GEMV_W4.values(), kernels.SPMM_CSR]:
        assert f".visible .entry {name}(" in ptx
    assert "mma.sync.aligned" in ptx or "wmma.mma.sync" in ptx  # tensor cores
    assert "cp.async" in ptx
    assert (kernels.build(arch) / "kernels.cubin").read_bytes()[:4] == b"\x7fELF"


@pytest.mark.parametrize("spec", ["nf4:g64", "int4:g128", "mxfp4", "e2m1:g32"])
def test_w4_weights_are_laid_out_as_the_gemv_kernel_reads_them(spec):
    """levels[code] * scale[row, k / group], with code k in the low nibble
    of byte k / 2 when k is even (kernels.cu), is sparcc's dequantize."""
    import numpy as np
    from sparcc.backends.gpu import kernels
    from sparcc.dialects.quant_formats import parse_format

    rng = np.random.default_rng(0)
    q = parse_format(spec).quantize(rng.standard_normal((12, 256)).astype(np.float32))
    w = kernels.W4Weight.of(q, "cpu")
    codes = w.codes.numpy()
    k = np.arange(256)
    nibble = (codes[:, k // 2] >> (4 * (k % 2))) & 0xF
    mine = w.levels.numpy()[nibble] * w.scales.numpy()[:, k // w.group]
    np.testing.assert_array_equal(mine, kernels.reference_w4(q))


@pytest.mark.parametrize("spec, why", [
    ("int8:g64", "takes 4-bit formats only"),
    ("int4:g64:asym", "zero points (asym) are not in the GPU kernel"),
    ("nf4:channel", "groups of a multiple of 32"),
    ("nf4:g16", "groups of a multiple of 32"),
])
def test_a_weight_kind_with_no_gpu_kernel_is_one_clear_error(spec, why):
    from sparcc.backends.gpu import kernels
    from sparcc.dialects.quant_formats import parse_format

    with pytest.raises(sparcc.SparccError) as info:
        kernels.check_w4(parse_format(spec), (16, 256))
    assert str(info.value).startswith(f"no GPU kernel for a {parse_format(spec).spec} weight of shape [16, 256]: ")
    assert why in str(info.value)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("m, n, k", [(128, 128, 64), (200, 136, 72), (1, 8, 8), (257, 1024, 512)])
def test_gemm_matches_torch_matmul(dtype, m, n, k):
    from sparcc.backends.gpu import kernels

    torch.manual_seed(0)
    a = torch.randn(m, k, device="cuda", dtype=dtype)
    b = torch.randn(k, n, device="cuda", dtype=dtype)
    want = (a.float() @ b.float())
    got = kernels.gemm(a, b)
    torch.testing.assert_close(got.float(), want, atol=2e-2 * k ** 0.5, rtol=1e-2)


@needs_gpu
@pytest.mark.parametrize("spec", ["nf4:g64", "int4:g128", "mxfp4"])
def test_gemv_w4a16_matches_the_dequantised_weight(spec):
    import numpy as np
    from sparcc.backends.gpu import kernels
    from sparcc.dialects.quant_formats import parse_format

    rng = np.random.default_rng(0)
    q = parse_format(spec).quantize(rng.standard_normal((300, 1024)).astype(np.float32))
    w = kernels.W4Weight.of(q)
    x = torch.randn(1024, device="cuda", dtype=torch.bfloat16)
    want = torch.from_numpy(kernels.reference_w4(q)).cuda() @ x.float()
    torch.testing.assert_close(kernels.gemv_w4a16(x, w).float(), want, atol=5e-2, rtol=2e-2)


def test_kernel_parameters_are_packed_as_the_driver_reads_them():
    import ctypes

    assert runtime._param("bf16", 1.0).value == 0x3F80
    assert runtime._param("f16", -2.0).value == 0xC000
    assert isinstance(runtime._param("i64", 7), ctypes.c_int64) and runtime._param("f32", 0.5).value == 0.5


def test_spmm_csr_names_what_it_takes():
    from sparcc.backends.gpu import kernels

    a = torch.randn(4, 6).to_sparse_csr()
    with pytest.raises(sparcc.SparccError, match="spmm_csr: expected a torch.sparse_csr CUDA tensor for a"):
        kernels.spmm_csr(a, torch.randn(6, 3))


@needs_gpu
@pytest.mark.parametrize("m, k, n", [(7, 50, 3), (300, 512, 200), (64, 64, 129)])
def test_spmm_csr_matches_torch(m, k, n):
    from sparcc.backends.gpu import kernels

    torch.manual_seed(0)
    dense = torch.randn(m, k, device="cuda") * (torch.rand(m, k, device="cuda") < 0.1)
    dense[0] = 0  # an empty row
    b = torch.randn(k, n, device="cuda")
    torch.testing.assert_close(kernels.spmm_csr(dense.to_sparse_csr(), b), dense @ b, atol=1e-4, rtol=1e-4)


class _Fn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


F = torch.nn.functional
MORE = {
    "grouped conv + adaptive pool": (
        lambda: torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 8, 3, groups=2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(8, 5)),
        lambda: (torch.randn(2, 3, 12, 12),)),
    "conv1d stride 2": (lambda: torch.nn.Conv1d(4, 6, 3, stride=2), lambda: (torch.randn(2, 4, 17),)),
    "causal sdpa": (lambda: _Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
                    lambda: tuple(torch.randn(1, 2, 5, 8) for _ in range(3))),
    "bmm": (lambda: _Fn(torch.bmm), lambda: (torch.randn(3, 5, 7), torch.randn(3, 7, 4))),
    "cat of a transpose": (lambda: _Fn(lambda x, y: torch.cat([x.t(), y], 0)),
                           lambda: (torch.randn(5, 3), torch.randn(2, 5))),
    "argmax": (lambda: _Fn(lambda x: x.argmax(-1)), lambda: (torch.randn(4, 9),)),
    "where": (lambda: _Fn(lambda x, y: torch.where(x > y, x, y * 2)), lambda: (torch.randn(4, 9), torch.randn(4, 9))),
    "bool result": (lambda: _Fn(lambda x: x > 0), lambda: (torch.randn(4, 9),)),
    "cumsum": (lambda: _Fn(lambda x: x.cumsum(-1)), lambda: (torch.randn(4, 9),)),
    "rms norm": (lambda: _Fn(lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)),
                 lambda: (torch.randn(3, 64),)),
    "int64 add": (lambda: _Fn(lambda x: x + 3), lambda: (torch.randint(0, 5, (4, 5)),)),
    "two results": (lambda: _Fn(lambda x: (x.sin(), x.max(-1).values)), lambda: (torch.randn(3, 7),)),
    "100k elements": (lambda: _Fn(lambda x: torch.exp(x) + 1), lambda: (torch.randn(100000),)),
}


@pytest.mark.slow
@needs_ptxas
@pytest.mark.parametrize("name", list(MORE))
def test_more_ops_lower_to_ptx_and_compute_pytorchs_values(name):
    make, example = MORE[name]
    torch.manual_seed(0)
    model, args = make().eval(), example()
    prepared = prepare(model, args, get_target("gpu", available=False))
    prepared.run_passes()
    module = prepared.imported.module
    lowered = lower(str(module), ARCHS)
    for arch in ARCHS:
        assert toolchain.ptxas(lowered.ptx[arch], arch)[:4] == b"\x7fELF"
    with torch.no_grad():
        want = model(*args)
    wants = want if isinstance(want, tuple) else (want,)
    got = [torch.zeros_like(w) for w in wants]
    weights = bind_weights(weight_abi(module), prepared.imported.weights)
    Emulator(lowered.kernels_mlir).run(lowered.plan.as_dict(), [*args, *weights, *got])
    for g, w in zip(got, wants):
        torch.testing.assert_close(g, w, atol=2e-5, rtol=2e-5)
