"""Compile a 2-layer MLP with sparcc and compare it with PyTorch eager.

    python examples/mlp.py

Prints the max abs error against PyTorch and the median latency of both,
at one thread and at all of this machine's cores (sparcc's code is compiled
for that many threads, PyTorch runs with torch.set_num_threads of the same).
"""

import os
import time

import torch
from torch import nn

import sparcc


class MLP(nn.Module):
    def __init__(self, d: int = 512, hidden: int = 2048):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x)))


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return MLP().eval()


def example_inputs():
    return (torch.randn(64, 512),)


def median_ms(fn, *args, repeat: int = 50) -> float:
    for _ in range(5):
        fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3


def main() -> None:
    model = make_model()
    (x,) = example_inputs()
    with torch.no_grad():
        ref = model(x)
    print("MLP Linear(512,2048)-GELU-Linear(2048,512), batch 64")
    for threads in sorted({1, len(os.sched_getaffinity(0))}):
        torch.set_num_threads(threads)
        fast = sparcc.jit(model, target="cpu", threads=threads)
        start = time.perf_counter()
        y = fast(x)
        compile_s = time.perf_counter() - start
        err = (y - ref).abs().max().item()
        with torch.no_grad():
            ours, eager = median_ms(fast, x), median_ms(model, x)
        print(f"  {threads} thread(s)")
        print(f"    compile time      {compile_s:8.2f} s")
        print(f"    max abs error     {err:8.2e}  (vs PyTorch eager)")
        print(f"    sparcc            {ours:8.3f} ms")
        print(f"    PyTorch eager     {eager:8.3f} ms")
        print(f"    speed vs eager    {eager / ours:8.2f}x")


if __name__ == "__main__":
    main()
