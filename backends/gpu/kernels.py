"""
sparcc's hand-written GPU kernels (kernels.cu): build, load, launch.

    ptx = kernel_ptx("sm_90")                 # nvcc -ptx, cached; no GPU needed
    c = gemm(a, b)                            # bf16/fp16 CUDA tensors, f32 accumulation
    w = W4Weight.of(quantized, "cuda")        # a sparcc 4-bit QuantizedTensor on the device
    y = gemv_w4a16(x, w)                      # x: [K] bf16/fp16
    c = spmm_csr(a, b)                        # a: torch sparse CSR f32, b: dense f32

Why CUDA C and not MLIR: upstream MLIR 22 reaches tensor cores through
nvgpu.mma.sync only from vector IR that sparcc's lowering does not yet
produce, and a 4-bit dequantising GEMV needs a hand-chosen memory layout.
These are the first kernels for the kinds that matter; the lowering in
lower.py stays the general path. The source is compiled by nvcc at build
time (the first call per architecture, then from sparcc's cache folder) and
assembled by ptxas; the driver loads the cubin.

A kind of weight or shape these kernels do not take is one SparccError that
says which and why (`check_w4` below).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sparcc.backends.gpu import runtime, toolchain
from sparcc.errors import SparccError

SOURCE = Path(__file__).with_name("kernels.cu")
GEMM = {torch.bfloat16: "sparcc_gemm_bf16", torch.float16: "sparcc_gemm_f16"}
GEMV_W4 = {torch.bfloat16: "sparcc_gemv_w4a16_bf16", torch.float16: "sparcc_gemv_w4a16_f16"}
SPMM_CSR = "sparcc_spmm_csr_f32"
GEMM_TILE = (128, 128)  # kernels.cu BM, BN
THREADS = 256


def build(arch: str) -> Path:
    """The folder holding kernels.ptx and kernels.cubin for `arch`, built
    once per source and architecture in sparcc's cache folder."""
    from sparcc.cache import root

    digest = hashlib.sha256(SOURCE.read_bytes() + arch.encode()).hexdigest()[:16]
    folder = root() / f"gpu-kernels-{arch}-{digest}"
    if (folder / "kernels.cubin").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"kernels.ptx.{os.getpid()}"  # another process may build the same folder at once
    toolchain.nvcc_ptx(SOURCE, arch, tmp)
    cubin = toolchain.ptxas(tmp.read_text(), arch)
    tmp.replace(folder / "kernels.ptx")
    tmp_cubin = folder / f"kernels.cubin.{os.getpid()}"
    tmp_cubin.write_bytes(cubin)
    tmp_cubin.replace(folder / "kernels.cubin")  # last: marks the folder complete
    return folder


def kernel_ptx(arch: str) -> str:
    return (build(toolchain.check_arch(arch)) / "kernels.ptx").read_text()


@functools.cache
def _module(arch: str) -> runtime.Module:
    image = (build(arch) / "kernels.cubin").read_bytes()
    return runtime.Module(image, [*GEMM.values(), *GEMV_W4.values(), SPMM_CSR])


def _loaded() -> runtime.Module:
    device = runtime.use_torch_context()
    return _module(runtime.compute_capability(device))


def _check_cuda(name: str, t: torch.Tensor, dtypes: Any, ndim: int) -> None:
    if not isinstance(t, torch.Tensor) or t.device.type != "cuda":
        raise SparccError(f"{name}: expected a CUDA tensor, got {getattr(t, 'device', type(t).__name__)}")
    if t.dtype not in dtypes:
        raise SparccError(f"{name}: expected dtype {' or '.join(str(d) for d in dtypes)}, got {t.dtype}")
    if t.dim() != ndim or not t.is_contiguous():
        raise SparccError(f"{name}: expected a contiguous {ndim}-D tensor, got shape {list(t.shape)}")


def gemm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a [M, K] @ b [K, N] -> [M, N] in a's dtype (bf16 or fp16), on tensor
    cores with f32 accumulation, on torch's current stream."""
    _check_cuda("a", a, GEMM, 2)
    _check_cuda("b", b, (a.dtype,), 2)
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise SparccError(f"gemm: a is {m}x{k}, b is {k2}x{n}: the inner sizes differ")
    if k % 8 or n % 8:
        raise SparccError(f"gemm: K={k} and N={n} must be multiples of 8 (16-byte rows for the tile loads)")
    c = torch.empty(m, n, dtype=a.dtype, device=a.device)
    grid = [(n + GEMM_TILE[1] - 1) // GEMM_TILE[1], (m + GEMM_TILE[0] - 1) // GEMM_TILE[0], 1]
    _loaded().launch(GEMM[a.dtype], grid, [THREADS, 1, 1],
                     [("ptr", a.data_ptr()), ("ptr", b.data_ptr()), ("ptr", c.data_ptr()),
                      ("i32", m), ("i32", n), ("i32", k)],
                     torch.cuda.current_stream(a.device).cuda_stream)
    return c


@dataclass
class W4Weight:
    """A 4-bit weight as the GEMV kernel takes it: codes [N, K/2] (two a
    byte, even k low), f32 scales [N, K/group], the format's 16 levels."""

    codes: torch.Tensor
    scales: torch.Tensor
    levels: torch.Tensor
    group: int
    shape: tuple[int, int]

    @staticmethod
    def of(quantized: Any, device: str | torch.device = "cuda") -> W4Weight:
        """From a sparcc QuantizedTensor (sparcc.dialects.quant_formats)."""
        from sparcc.dialects.quant_formats import decode_e8m0, parse_format

        fmt = parse_format(quantized.spec)
        levels = check_w4(fmt, quantized.shape)
        scales = quantized.scales
        if scales.dtype == np.uint8:  # MXFP4: E8M0 exponents
            scales = decode_e8m0(scales)
        n, k = quantized.shape
        return W4Weight(
            torch.from_numpy(np.ascontiguousarray(quantized.codes)).to(device),
            torch.from_numpy(np.ascontiguousarray(scales, dtype=np.float32)).to(device),
            torch.tensor(levels, dtype=torch.float32, device=device),
            fmt.group, (n, k),
        )


def check_w4(fmt: Any, shape: tuple[int, ...]) -> list[float]:
    """The 16 levels of `fmt` if the W4A16 GEMV kernel takes a weight of that
    format and shape, else one SparccError naming what it lacks."""
    what = f"no GPU kernel for a {fmt.spec} weight of shape {list(shape)}"
    values = getattr(fmt.element, "values", None)
    if fmt.bits != 4 or values is None or len(values) != 16:
        raise SparccError(f"{what}: the GPU's quantised kernel takes 4-bit formats only (int4, nf4, sf4, e2m1, mxfp4)")
    if fmt.asym:
        raise SparccError(f"{what}: zero points (asym) are not in the GPU kernel; use a symmetric format")
    if fmt.granularity != "group" or fmt.group % 32:
        raise SparccError(f"{what}: the GPU kernel takes groups of a multiple of 32 weights (e.g. :g64, :g128)")
    if len(shape) != 2 or shape[1] % fmt.group:
        raise SparccError(f"{what}: the input size must be a multiple of the group ({fmt.group})")
    return [float(v) for v in values]


def gemv_w4a16(x: torch.Tensor, w: W4Weight) -> torch.Tensor:
    """y [N] = W x for x [K] bf16/fp16 on the device; y in x's dtype."""
    _check_cuda("x", x, GEMV_W4, 1)
    n, k = w.shape
    if x.shape[0] != k:
        raise SparccError(f"gemv_w4a16: x has {x.shape[0]} elements, the weight takes {k}")
    y = torch.empty(n, dtype=x.dtype, device=x.device)
    rows_per_block = THREADS // 32
    _loaded().launch(GEMV_W4[x.dtype], [(n + rows_per_block - 1) // rows_per_block, 1, 1], [THREADS, 1, 1],
                     [("ptr", x.data_ptr()), ("ptr", w.codes.data_ptr()), ("ptr", w.scales.data_ptr()),
                      ("ptr", w.levels.data_ptr()), ("ptr", y.data_ptr()), ("i32", n), ("i32", k), ("i32", w.group)],
                     torch.cuda.current_stream(x.device).cuda_stream)
    return y


def spmm_csr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a [M, K] (torch.sparse_csr, float32, int64 indices) @ b [K, N] (dense
    float32) -> dense [M, N], on the device."""
    if not isinstance(a, torch.Tensor) or a.layout != torch.sparse_csr or a.device.type != "cuda":
        raise SparccError(f"spmm_csr: expected a torch.sparse_csr CUDA tensor for a, got "
                          f"{getattr(a, 'layout', type(a).__name__)} on {getattr(a, 'device', '?')}")
    if a.dtype != torch.float32 or a.crow_indices().dtype != torch.int64:
        raise SparccError(f"spmm_csr: no GPU kernel for CSR values {a.dtype} with {a.crow_indices().dtype} "
                          f"indices; it takes float32 values and int64 indices")
    _check_cuda("b", b, (torch.float32,), 2)
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise SparccError(f"spmm_csr: a is {m}x{k}, b is {k2}x{n}: the inner sizes differ")
    crow, col, val = a.crow_indices().contiguous(), a.col_indices().contiguous(), a.values().contiguous()
    c = torch.empty(m, n, dtype=torch.float32, device=b.device)
    _loaded().launch(SPMM_CSR, [(m * 32 + THREADS - 1) // THREADS, 1, 1], [THREADS, 1, 1],
                     [("ptr", crow.data_ptr()), ("ptr", col.data_ptr()), ("ptr", val.data_ptr()),
                      ("ptr", b.data_ptr()), ("ptr", c.data_ptr()), ("i32", m), ("i32", n)],
                     torch.cuda.current_stream(b.device).cuda_stream)
    return c


def reference_w4(quantized: Any) -> np.ndarray:
    """The f32 weight the kernel computes with (sparcc's own dequantize)."""
    from sparcc.dialects.quant_formats import dequantize

    return dequantize(quantized)
