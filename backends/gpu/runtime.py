"""
The CUDA driver API through ctypes on libcuda: probe, module load, launch.

    why = probe()                     # None, or why no GPU can run here
    module = Module(image)            # a cubin, or PTX the driver compiles
    module.launch(name, grid, block, params, stream)

No CUDA toolkit is needed at run time: only the driver (libcuda.so.1, which
comes with the NVIDIA kernel driver). The context is torch's: its primary
context on the current device is made current before any call, and kernels
run on torch's current stream, so a launch is ordered with the torch work
around it and nothing is copied to or from the host.

Every driver call's result is checked; a failure is a SparccError with the
call's name and the driver's own words (cuGetErrorName, cuGetErrorString).

This file runs only where a GPU is; on a machine without one, probe() says
so and nothing else here is called.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence
from typing import Any

from sparcc.errors import SparccError

NO_DRIVER = "no CUDA driver found"
_LIBRARIES = ("libcuda.so.1", "libcuda.so")
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


@functools.cache
def _library() -> ctypes.CDLL | None:
    for name in _LIBRARIES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def probe() -> str | None:
    """None when a CUDA driver and at least one device are here, else why not
    (NO_DRIVER when libcuda is missing or does not initialise)."""
    lib = _library()
    if lib is None:
        return NO_DRIVER
    try:
        if lib.cuInit(ctypes.c_uint(0)) != 0:
            return NO_DRIVER
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
            return "the CUDA driver finds no GPU"
    except AttributeError:  # a libcuda without the driver API's entry points
        return NO_DRIVER
    return None


def _error_text(lib: ctypes.CDLL, code: int) -> str:
    name, text = ctypes.c_char_p(), ctypes.c_char_p()
    lib.cuGetErrorName(ctypes.c_int(code), ctypes.byref(name))
    lib.cuGetErrorString(ctypes.c_int(code), ctypes.byref(text))
    n = name.value.decode() if name.value else f"CUDA error {code}"
    return f"{n}: {text.value.decode()}" if text.value else n


def check(call: str, code: int) -> None:
    if code != 0:
        lib = _library()
        raise SparccError(f"the CUDA driver failed in {call} ({_error_text(lib, code) if lib else code})")


def driver() -> ctypes.CDLL:
    """libcuda, initialised; SparccError (the target's unavailable message) if absent."""
    why = probe()
    if why is not None:
        raise SparccError(f"target 'gpu' is not available: {why}")
    lib = _library()
    assert lib is not None
    return lib


def use_torch_context() -> int:
    """Makes torch's primary context on its current device current on this
    thread (torch creates it on first use); returns the device's ordinal."""
    import torch

    torch.cuda.init()
    device = torch.cuda.current_device()
    torch.cuda.synchronize(device)  # forces the primary context to exist and be current
    return device


def compute_capability(device: int) -> str:
    """'sm_XY' of a device (what ptxas and the kernels are compiled for)."""
    lib = driver()
    major, minor = ctypes.c_int(), ctypes.c_int()
    check("cuDeviceGetAttribute", lib.cuDeviceGetAttribute(
        ctypes.byref(major), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, ctypes.c_int(device)))
    check("cuDeviceGetAttribute", lib.cuDeviceGetAttribute(
        ctypes.byref(minor), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, ctypes.c_int(device)))
    return f"sm_{major.value}{minor.value}"


# ctypes type of each kernel parameter kind the launch plan names
PARAM_TYPES: dict[str, Any] = {
    "ptr": ctypes.c_void_p, "i64": ctypes.c_int64, "i32": ctypes.c_int32, "i16": ctypes.c_int16,
    "i8": ctypes.c_int8, "i1": ctypes.c_bool, "f32": ctypes.c_float, "f64": ctypes.c_double,
}


def _param(kind: str, value: Any) -> Any:
    """One kernel parameter as a ctypes value; 16-bit floats as their bits."""
    if kind in ("f16", "bf16"):
        import torch

        dtype = torch.float16 if kind == "f16" else torch.bfloat16
        return ctypes.c_uint16(torch.tensor([value], dtype=dtype).view(torch.int16).item() & 0xFFFF)
    return PARAM_TYPES[kind](value)


class Module:
    """A loaded CUDA module (cubin or NUL-terminated PTX) and its functions."""

    def __init__(self, image: bytes, names: Sequence[str]):
        self.lib = driver()
        use_torch_context()
        self.handle = ctypes.c_void_p()
        data = image if image[:4] == b"\x7fELF" else image.rstrip(b"\0") + b"\0"  # PTX: a C string
        self._image = ctypes.create_string_buffer(data, len(data))  # alive while loaded
        check("cuModuleLoadData", self.lib.cuModuleLoadData(ctypes.byref(self.handle), self._image))
        self.functions: dict[str, ctypes.c_void_p] = {}
        for name in names:
            fn = ctypes.c_void_p()
            check(f"cuModuleGetFunction({name})",
                  self.lib.cuModuleGetFunction(ctypes.byref(fn), self.handle, name.encode()))
            self.functions[name] = fn

    def launch(self, name: str, grid: Sequence[int], block: Sequence[int],
               params: Sequence[tuple[str, Any]], stream: int, shared: int = 0) -> None:
        """Launches kernel `name`; params: (kind, value) per parameter, kind a
        PARAM_TYPES key. Asynchronous, on `stream` (a CUstream handle)."""
        values = [_param(kind, value) for kind, value in params]
        array = (ctypes.c_void_p * max(len(values), 1))(
            *[ctypes.cast(ctypes.byref(v), ctypes.c_void_p) for v in values])
        check(f"cuLaunchKernel({name})", self.lib.cuLaunchKernel(
            self.functions[name],
            ctypes.c_uint(grid[0]), ctypes.c_uint(grid[1]), ctypes.c_uint(grid[2]),
            ctypes.c_uint(block[0]), ctypes.c_uint(block[1]), ctypes.c_uint(block[2]),
            ctypes.c_uint(shared), ctypes.c_void_p(stream), array, ctypes.c_void_p(0)))

    def __del__(self) -> None:
        import sys

        handle = getattr(self, "handle", None)
        if handle is not None and handle.value and not sys.is_finalizing():  # at exit the driver tears down itself
            try:
                self.lib.cuModuleUnload(handle)
            except Exception:  # noqa: BLE001 (interpreter shutdown)
                pass
