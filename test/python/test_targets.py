"""The target seam (sparcc.backends): the registry, the `ref` target through
the same front door as the CPU (sparcc.jit / compile_program), and the
messages for a target that does not exist or cannot do what is asked."""

import subprocess
import sys

import pytest
import sparcc
import torch
from sparcc.backends import TARGETS, Target, get_target, targets


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 16))


def cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, groups=2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5),
    )


def encoder() -> torch.nn.Module:
    return torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)


CASES = {
    "mlp": (mlp, lambda: (torch.randn(4, 32),), {}),
    "cnn": (cnn, lambda: (torch.randn(2, 3, 12, 12),), {}),
    "encoder": (encoder, lambda: (torch.randn(1, 7, 32),), {}),
    "mlp 2:4": (mlp, lambda: (torch.randn(4, 32),), {"sparsity": {"*": "2:4"}}),
    "mlp csr": (mlp, lambda: (torch.randn(4, 32),), {"sparsity": {"*": "unstructured:0.8@csr"}}),
    "mlp nf4": (mlp, lambda: (torch.randn(4, 32),), {"quant": {"*": "nf4:g16"}}),
    "mlp int8": (mlp, lambda: (torch.randn(4, 32),), {"quant": {"*": "int8:channel"}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_ref_target_matches_pytorch_and_the_cpu_target(case):
    make, example, options = CASES[case]
    torch.manual_seed(0)
    model = make().eval()
    args = example()
    ref = sparcc.jit(model, target="ref", cache=False, **options)
    cpu = sparcc.jit(model, target="cpu", cache=False, **options)
    with torch.no_grad():
        got, want = ref(*args), cpu(*args)
        torch.testing.assert_close(got, want, atol=2e-5, rtol=2e-5)
        if not options:  # a pruned or quantised model differs from eager by design
            torch.testing.assert_close(got, model(*args), atol=2e-5, rtol=2e-5)
    program = next(iter(ref.cache.values()))
    assert program.report["target"] == "ref"
    assert "interpreted" in program.ir  # the IR it ran


def test_registry_lists_every_target_with_its_availability():
    listed = {name: why for name, _, why in targets()}
    assert set(listed) == set(TARGETS) >= {"cpu", "ref"}
    assert listed["cpu"] is None and listed["ref"] is None  # both run on this machine
    for name in TARGETS:
        assert isinstance(get_target(name, available=listed[name] is None), Target)
    out = subprocess.run([sys.executable, "-m", "sparcc.cli", "targets"], capture_output=True, text=True, check=True)
    assert "cpu    available" in out.stdout and "ref    available" in out.stdout


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sparcc.jit(mlp(), target="fpga"), "target 'fpga' is not available; choose one of: cpu, ref"),
        (lambda: sparcc.jit(mlp(), target="ref", threads=2), "threads=2: expected a whole number from 1 to 1"),
        (lambda: sparcc.compile(mlp(), (torch.randn(2, 32),), "out", target="ref"),
         "target 'ref' does not write ahead-of-time artifacts"),
        (lambda: sparcc.jit(mlp(), target="cpu", threads=0), "threads=0: expected a whole number from 1 to 255"),
    ],
)
def test_target_mistakes_get_one_message(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(sparcc.SparccError) as info:
        call()
    assert message in str(info.value)
    assert not (tmp_path / "out").exists()


def test_an_unavailable_target_says_why(monkeypatch):
    cpu = get_target("cpu")
    monkeypatch.setattr(type(cpu), "unavailable", lambda self: "no C compiler (gcc) on PATH; install gcc")
    with pytest.raises(sparcc.SparccError, match="target 'cpu' is not available: no C compiler"):
        sparcc.jit(mlp(), target="cpu")(torch.randn(2, 32))
