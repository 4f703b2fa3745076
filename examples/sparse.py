"""Sparse models with sparcc: a GCN layer on a torch sparse CSR adjacency, and
an MLP whose weights sparcc prunes (2:4 and 90 % unstructured).

    python examples/sparse.py

Prints, for each, the max abs error against PyTorch (for the pruned MLP:
against PyTorch running the same pruned weights densely, and the error the
pruning itself costs against the dense model) and the median latency of
sparcc and PyTorch.
"""

import time

import sparcc
import torch
from sparcc.dialects.sparse_formats import prune
from torch import nn


class GCNLayer(nn.Module):
    def __init__(self, d_in: int = 128, d_out: int = 64):
        super().__init__()
        self.lin = nn.Linear(d_in, d_out, bias=False)

    def forward(self, adjacency, x):
        return torch.relu(adjacency @ self.lin(x))


class MLP(nn.Module):
    def __init__(self, d: int = 1024, hidden: int = 4096):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def median_ms(fn, *args, repeat: int = 30) -> float:
    for _ in range(3):
        fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3


def gcn() -> None:
    torch.manual_seed(0)
    nodes = 4096
    dense = (torch.rand(nodes, nodes) < 0.005).float() * torch.rand(nodes, nodes)
    adjacency = dense.to_sparse_csr()
    x = torch.randn(nodes, 128)
    model = GCNLayer().eval()
    fast = sparcc.jit(model)
    with torch.no_grad():
        err = (fast(adjacency, x) - model(adjacency, x)).abs().max().item()
        ours, eager = median_ms(fast, adjacency, x), median_ms(model, adjacency, x)
    print(f"GCN layer, {nodes} nodes, {adjacency.values().numel()} edges (CSR), X {list(x.shape)}")
    print(f"  max abs error    {err:9.2e}  (vs PyTorch, torch.sparse CSR)")
    print(f"  sparcc           {ours:9.3f} ms")
    print(f"  PyTorch          {eager:9.3f} ms  ({eager / ours:.2f}x)")


def pruned_mlp() -> None:
    torch.manual_seed(0)
    model = MLP().eval()
    x = torch.randn(64, 1024)
    spec = {"fc1": "2:4", "fc2": "unstructured:0.9"}
    fast = sparcc.jit(model, sparsity=spec)
    with torch.no_grad():
        got = fast(x)
    report = next(iter(fast.cache.values())).report["sparsity"]
    # PyTorch with the same pruned weights, dense
    pruned = MLP().eval()
    with torch.no_grad():
        for name in ("fc1", "fc2"):
            layer = getattr(model, name)
            target = getattr(pruned, name)
            target.bias.copy_(layer.bias)
            target.weight.copy_(torch.from_numpy(prune(layer.weight.numpy(), spec[name])))
        err = (got - pruned(x)).abs().max().item()
        ours, eager = median_ms(fast, x), median_ms(pruned, x)
    print(f"MLP 1024-4096-1024, batch 64, sparsity {spec}")
    for layer in report["layers"]:
        print(f"  {layer['layer']}: {layer['spec']:<24} density {layer['density']:.3f}  {layer['execution']}")
    print(f"  max abs error    {err:9.2e}  (vs PyTorch running the pruned weights densely)")
    print(f"  pruning error    {report['output_rel_l2_err']:9.2e}  (relative L2, vs the dense model)")
    print(f"  sparcc           {ours:9.3f} ms")
    print(f"  PyTorch (dense)  {eager:9.3f} ms  ({eager / ours:.2f}x)")


if __name__ == "__main__":
    gcn()
    pruned_mlp()
