"""
GPU backend (NVIDIA): the linalg IR the CPU target starts from, lowered with
upstream MLIR to PTX, assembled by ptxas, launched with the CUDA driver.

    lower.py      linalg -> tiles on blocks/threads -> gpu.launch_func -> NVVM -> PTX, and the launch plan
    toolchain.py  ptxas and nvcc (compile time; no GPU needed)
    runtime.py    libcuda through ctypes: probe, module load, launch on torch's stream
    target.py     GpuTarget (the seam), GpuExecutable (replays the plan)
    artifact.py   `sparcc compile --target gpu` folders and their loader
    kernels.py    hand-written kernels (kernels.cu): bf16/fp16 GEMM, W4A16 GEMV
"""
