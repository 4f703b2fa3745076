"""
Fused dequantising linear layers on the CPU: `ukernels.c` from Python.

`kernel_operands(q)` maps a `quant_formats.QuantizedTensor` onto the operands
of one of the C kernels in libsparcc_rt.so, exactly as the reference
`QuantFormat.dequantize` reads it:

    w[n, k] = (lut[code[n, k]] - zero[n, k // group]) * scale[n, k // group]

| kernel | formats                                                   | codes                   | scales             |
| ------ | --------------------------------------------------------- | ----------------------- | ------------------ |
| lut4   | int4 (sym/asym), nf4, sf4, apot4, e2m1, e2m1s, lp n <= 4  | packed nibbles [N, ceil(K/2)] | float32 [N, G] |
| mx4    | mxfp4                                                     | packed nibbles          | E8M0 uint8 [N, K/32] |
| lut8   | int8 (sym/asym), fp8_e4m3, fp8_e5m2, lp 5 <= n <= 8       | uint8 [N, K]            | float32 [N, G]     |

The value table is the element's `values` padded with zeros to 16 or 256
entries (formats of fewer bits never use the extra codes). Per-channel
scales are one group of K; a per-tensor scale (and zero point) is broadcast
to one per row; granularity `none` gets scales of 1, which change no value.
The kernels reproduce the reference's weights bit for bit; y differs from
`x @ dequantize(q).T` only by float32 summation order.

`qlinear(x, q, bias)` runs it through ctypes; `bind(...)` prepares one call
with fixed buffers (for benchmarks: no conversion or checking per call).
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable

import numpy as np
from sparcc.dialects.quant_formats import Integer, QuantizedTensor, parse_format

from . import toolchain
from .kernels import FLAG_BIAS, FLAG_ZEROS, QLINEAR

__all__ = ["FLAG_BIAS", "FLAG_ZEROS", "bind", "kernel_operands", "qlinear"]

_P, _I = ctypes.c_void_p, ctypes.c_int64


@functools.cache
def _kernel(name: str) -> ctypes._CFuncPtr:
    record = QLINEAR[name]
    lib = ctypes.CDLL(str(toolchain.runtime_library()))
    fn = getattr(lib, record.symbol)
    fn.argtypes = record.ctypes_args()
    fn.restype = None
    return fn


def _matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """[rows, cols] of a weight, as quant_formats sees it ([out, in * ...]; 1-D as [1, n])."""
    if len(shape) == 1:
        return 1, int(shape[0])
    return int(shape[0]), math.prod(int(d) for d in shape[1:])


def _expect(name: str, a, dtype, shape: tuple[int, int], spec: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != shape:
        got = f"{a.dtype} {list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{spec}: {name} should be {np.dtype(dtype)} {list(shape)}, got {got}")
    return np.ascontiguousarray(a)


def kernel_operands(q: QuantizedTensor) -> dict:
    """The kernel that computes with q and its operands.

    Returns a dict: `kernel` ("lut4", "mx4" or "lut8"), `symbol` (the C
    function), `codes` (uint8, contiguous), `scales` (float32 [N, G], or
    uint8 E8M0 codes [N, G] for mx4), `zeros` (float32 [N, G] or None),
    `lut` (float32 [16] or [256]), `group` (k per scale; K for one per row),
    `flags` (FLAG_ZEROS if zero points are given; the caller adds FLAG_BIAS),
    and the matrix sizes `N`, `K`. Raises ValueError for a tensor that does
    not match its spec and for a format no kernel computes.
    """
    if not isinstance(q, QuantizedTensor):
        raise TypeError(f"kernel_operands: expected a quant_formats.QuantizedTensor, got {type(q).__name__}")
    fmt = parse_format(q.spec)
    spec = q.spec
    if fmt.spec != spec:
        raise ValueError(f"quant tensor spec {spec!r} is not canonical: the reference format calls it {fmt.spec!r}")
    if len(q.shape) == 0:
        raise ValueError(f"{spec}: a quantized weight has at least one dimension, got shape []")
    rows, cols = _matrix_shape(q.shape)
    bits = fmt.bits
    values = np.asarray(fmt.element.values, np.float32)
    mx = fmt.name == "mxfp4"
    if bits <= 4:
        kernel, entries = ("mx4" if mx else "lut4"), 16
        codes = _expect("codes", q.codes, np.uint8, (rows, (cols + 1) // 2), spec)
    elif bits <= 8:
        kernel, entries = "lut8", 256
        codes = _expect("codes", q.codes, np.uint8, (rows, cols), spec)
    else:  # pragma: no cover - every registered element fits a byte
        raise ValueError(f"{spec}: no kernel for {bits}-bit codes; the kernels take 4-bit and 8-bit codes")
    if len(values) > entries:  # pragma: no cover - guarded by the bit width
        raise ValueError(f"{spec}: a {len(values)}-entry value table does not fit the {kernel} kernel's {entries}")
    lut = np.zeros(entries, np.float32)
    lut[: len(values)] = values

    gran = fmt.granularity
    # k per scale, and scales per row ("channel", "tensor", "none": one)
    group, blocks = (fmt.group, -(-cols // fmt.group)) if gran == "group" else (cols, 1)
    stored_rows = 1 if gran == "tensor" else rows
    if gran == "none":
        if q.scales is not None:
            raise ValueError(f"{spec}: granularity 'none' has no scales, but the tensor has some")
        scales = np.ones((rows, 1), np.float32)
    elif mx:
        scales = _expect("E8M0 scales", q.scales, np.uint8, (rows, blocks), spec)
    else:
        scales = _expect("scales", q.scales, np.float32, (stored_rows, blocks), spec)
    zeros = None
    if fmt.asym:
        if not isinstance(fmt.element, Integer):  # pragma: no cover - parse_format allows asym on integers only
            raise ValueError(f"{spec}: zero points are exact only on integer values; no kernel takes them here")
        zeros = _expect("zero points", q.zero_points, np.float32, (stored_rows, blocks), spec)
    elif q.zero_points is not None:
        raise ValueError(f"{spec}: a symmetric format has no zero points, but the tensor has some")
    if gran == "tensor":  # one scale for all: the kernels take one per row
        scales = np.repeat(scales, rows, axis=0)
        zeros = None if zeros is None else np.repeat(zeros, rows, axis=0)
    return {
        "kernel": kernel,
        "symbol": QLINEAR[kernel].symbol,
        "codes": codes,
        "scales": np.ascontiguousarray(scales),
        "zeros": None if zeros is None else np.ascontiguousarray(zeros),
        "lut": lut,
        "group": int(group),
        "flags": FLAG_ZEROS if zeros is not None else 0,
        "N": rows,
        "K": cols,
    }


def as_float32(x, what: str) -> np.ndarray:
    """A numpy or torch array (real dtype) as contiguous float32; ValueError naming `what`."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(x, torch.Tensor):
        if x.dtype.is_complex:
            raise ValueError(f"{what} must be real (float or integer), got {x.dtype}")
        x = x.detach().to("cpu", torch.float32).numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"{what} must be real (float or integer), got {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32)


def bind(x, q: QuantizedTensor | dict, bias=None, out: np.ndarray | None = None) -> tuple[Callable[[], None], np.ndarray]:
    """Prepares `y = x @ dequantize(q).T + bias` for repeated calls.

    Returns (run, y): `run()` calls the kernel on the buffers checked and
    pinned here, with no conversion or checking per call. x is used in place
    if it is a contiguous float32 array (new values written into it between
    calls are seen), else converted once. `q` may be a QuantizedTensor or the
    dict `kernel_operands` returned. The kernels run on sparcc's thread pool
    (`sparcc.backends.cpu.set_num_threads`).
    """
    ops = q if isinstance(q, dict) else kernel_operands(q)
    spec = q.spec if isinstance(q, QuantizedTensor) else ops["kernel"]
    if isinstance(q, QuantizedTensor) and len(q.shape) != 2:
        raise ValueError(f"qlinear: {spec} weight has shape {list(q.shape)}; a linear layer's weight is [out, in]")
    return bound_call(_kernel(ops["kernel"]), QLINEAR[ops["kernel"]], ops, "codes", x, bias, out, "qlinear")


def bound_call(fn: Callable[..., None], record, ops: dict, weight: str, x, bias, out: np.ndarray | None,
               what: str) -> tuple[Callable[[], None], np.ndarray]:
    """The checked buffers of a weight-only linear kernel `record` (x [..., K],
    bias [N], y [M, N]; the weight's arrays from `ops`, its codes under the
    name `weight`) bound to `fn` once: returns (run, y). Shared by qlinear
    and sqlinear (2:4 x 4-bit)."""
    N, K = ops["N"], ops["K"]
    x = as_float32(x, f"{what}: x")
    if x.ndim == 0 or x.shape[-1] != K:
        raise ValueError(f"{what}: x has shape {list(x.shape)}, expected [..., {K}] (the weight is [{N}, {K}])")
    lead = x.shape[:-1]
    M = math.prod(lead)
    flags = ops["flags"]
    b = None
    if bias is not None:
        b = as_float32(bias, f"{what}: bias")
        if b.shape != (N,):
            raise ValueError(f"{what}: bias has shape {list(b.shape)}, expected [{N}]")
        flags |= FLAG_BIAS
    if out is None:
        out = np.empty((M, N), np.float32)
    elif out.dtype != np.float32 or out.shape != (M, N) or not out.flags.c_contiguous:
        raise ValueError(f"{what}: out must be a contiguous float32 [{M}, {N}] array")
    arrays = {"x": x.reshape(M, K), weight: ops[weight], "scales": ops["scales"], "zeros": ops["zeros"],
              "lut": ops["lut"], "bias": b, "y": out}
    sizes = {"M": M, "N": N, "K": K, "group": ops["group"], "flags": flags}
    args = [(None if arrays[o.name] is None else arrays[o.name].ctypes.data) if o.is_pointer else sizes[o.name]
            for o in record.operands]

    def run() -> None:
        fn(*args)

    run.buffers = arrays  # keeps alive the arrays whose addresses `args` holds
    return run, out.reshape(*lead, N)


def qlinear(x, q: QuantizedTensor, bias=None) -> np.ndarray:
    """y = x @ dequantize(q).T (+ bias) in float32, through the fused kernel.

    x: numpy array or torch.Tensor [..., K] (converted to float32); q: a
    2-D QuantizedTensor [N, K]; bias: None or [N]. Returns float32 [..., N].
    """
    run, y = bind(x, q, bias)
    run()
    return y
