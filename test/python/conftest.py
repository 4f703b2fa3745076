"""Shared helpers for the differential tests: compile with sparcc.jit, run, compare with PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import sparcc

# float32 tolerances, unless a test states a looser one and says why.
ATOL = 1e-4
RTOL = 1e-4


def _flat(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flat(v)]
    if isinstance(value, dict):
        return [t for k in sorted(value) for t in _flat(value[k])]
    raise TypeError(f"unexpected output {type(value).__name__}")


def check(
    fn: Callable[..., Any] | torch.nn.Module,
    *args: torch.Tensor,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> Any:
    """Compiles `fn` with sparcc.jit, runs it on `args` and compares every output with PyTorch's."""
    with torch.no_grad():
        want = fn(*args)
    got = sparcc.jit(fn)(*args)
    assert type(got) is type(want), f"output structure: got {type(got).__name__}, want {type(want).__name__}"
    got_flat, want_flat = _flat(got), _flat(want)
    assert len(got_flat) == len(want_flat)
    for i, (g, w) in enumerate(zip(got_flat, want_flat)):
        assert g.shape == w.shape, f"output {i}: shape {list(g.shape)} != {list(w.shape)}"
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype} != {w.dtype}"
        torch.testing.assert_close(g, w, atol=atol, rtol=rtol, msg=lambda m, i=i: f"output {i}: {m}")
    return got


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled libraries go to a cache folder of this test session, not the
    user's. The runtime is built there first, and a test with a cache folder
    of its own (SPARCC_CACHE_DIR set again) copies it from there instead of
    building it again (SPARCC_RUNTIME_FROM; 14 s of gcc each)."""
    import os

    from sparcc.backends.cpu import toolchain

    root = tmp_path_factory.mktemp("sparcc-cache")
    os.environ["SPARCC_CACHE_DIR"] = str(root)
    os.environ["SPARCC_RUNTIME_FROM"] = str(root)
    toolchain.runtime_library()


@pytest.fixture
def rng() -> torch.Generator:
    """A seeded generator, so every random shape and value is reproducible."""
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def avx2_runtime(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """sparcc's runtime built for AVX2 + FMA without AVX-512
    (-march=x86-64-v3), as a host without AVX-512 builds it, loaded with
    ctypes: its kernels' portable paths, tested on any host that runs AVX2."""
    import ctypes
    import subprocess

    from sparcc.backends.cpu import toolchain
    from sparcc.backends.cpu.kernels import c_header

    if not {"avx2", "fma"} <= set(toolchain.host_features()):
        pytest.skip("the host has no AVX2 and FMA")
    folder = tmp_path_factory.mktemp("avx2")
    header, lib = folder / "kernels.h", folder / "libsparcc_rt_avx2.so"
    header.write_text(c_header())
    sources = [str(p) for p in toolchain._RUNTIME_SOURCES if p.exists()]  # noqa: SLF001
    subprocess.run([toolchain.gcc(), "-O3", "-march=x86-64-v3", "-shared", "-fPIC", "-pthread", "-include",
                    str(header), "-o", str(lib), *sources, "-lm"], check=True, capture_output=True)
    code = subprocess.run(["objdump", "-d", str(lib)], capture_output=True, text=True, check=False).stdout
    assert "zmm" not in code  # no AVX-512 instruction
    return ctypes.CDLL(str(lib))
