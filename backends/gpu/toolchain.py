"""
CUDA tools used at compile time: `ptxas` (PTX -> cubin) and `nvcc` (the
hand-written kernels, CUDA C -> PTX). Both come with the CUDA toolkit and
need no GPU, so a machine without one cross-compiles. At run time without
ptxas, the driver compiles the PTX itself (cuModuleLoadData takes PTX).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sparcc.errors import PipelineError


def tool(name: str) -> str | None:
    """The path of a CUDA tool: PATH, then $CUDA_HOME/bin, then /usr/local/cuda/bin."""
    found = shutil.which(name)
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (Path(root) / "bin" / name).is_file():
            return str(Path(root) / "bin" / name)
    return None


def check_arch(arch: str) -> str:
    """`arch` if it names an NVIDIA architecture ptxas takes (sm_80, sm_90, sm_90a, ...)."""
    digits = arch.removeprefix("sm_").rstrip("af")
    if not arch.startswith("sm_") or not digits.isdigit() or int(digits) < 75:
        raise PipelineError(f"GPU architecture '{arch}': expected sm_XY with XY >= 75, e.g. sm_80 or sm_90")
    return arch


def ptxas(ptx: str, arch: str) -> bytes:
    """Assembles PTX into a cubin for `arch` with ptxas; its diagnostics
    become the PipelineError's message."""
    exe = tool("ptxas")
    if exe is None:
        raise PipelineError("ptxas (CUDA toolkit) is not installed: it assembles the PTX into a cubin; "
                            "install the CUDA toolkit or put ptxas on PATH")
    with tempfile.TemporaryDirectory(prefix="sparcc-ptxas-") as tmp:
        src, out = Path(tmp) / "kernels.ptx", Path(tmp) / "kernels.cubin"
        src.write_text(ptx)
        done = subprocess.run([exe, f"-arch={check_arch(arch)}", "-O3", str(src), "-o", str(out)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            keep = tempfile.mkdtemp(prefix="sparcc-repro-ptxas-")
            shutil.copy(src, keep)
            raise PipelineError(f"ptxas rejected the PTX for {arch}: {done.stderr.strip()[:2000]}", keep)
        return out.read_bytes()


def nvcc_ptx(source: Path, arch: str, out: Path) -> None:
    """CUDA C -> PTX for `arch` (the hand-written kernels)."""
    exe = tool("nvcc")
    if exe is None:
        raise PipelineError("nvcc (CUDA toolkit) is not installed: it compiles sparcc's hand-written GPU kernels")
    done = subprocess.run([exe, "-ptx", f"-arch={check_arch(arch)}", "-O3", "-std=c++17", str(source), "-o", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise PipelineError(f"nvcc failed on {source.name} for {arch}: {done.stderr.strip()[:2000]}")
