"""
Ahead-of-time artifacts: compile -> folder -> sparcc.load / C program, vs PyTorch.

Each model is compiled once per session (a compile takes 2-4 s) and then
run from Python (sparcc.load) and from C (examples/run_model.c built with
gcc against the folder's model.h and libmodel.so). Corruption tests work
on copies.

Tolerance: atol = rtol = 1e-4 (float32), 2e-4 for the transformer layer
(see test_models.py for why).
"""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sparcc
import torch
from safetensors.torch import load_file
from sparcc.artifact import FORMAT
from test_models import SmallCNN
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
RUN_MODEL = ROOT / "examples" / "run_model.c"




class Tagger(nn.Module):
    """int64 and float32 inputs, a nested output: (tensor, {"hidden": tensor})."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, idx: torch.Tensor, x: torch.Tensor) -> Any:
        h = self.emb(idx) + x
        return self.fc(h), {"hidden": torch.relu(h)}


def _mlp() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from mlp import make_model
    finally:
        sys.path.pop(0)
    return make_model(), (torch.randn(64, 512),)


def _encoder() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    layer = nn.TransformerEncoderLayer(256, 8, 1024, batch_first=True, dropout=0.0).eval()
    return layer, (torch.randn(1, 128, 256),)


def _cnn() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = SmallCNN().eval()
    with torch.no_grad():  # non-trivial running statistics
        model.bn.running_mean.normal_()
        model.bn.running_var.uniform_(0.5, 2.0)
    return model, (torch.randn(2, 3, 16, 16),)


def _tagger() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return Tagger().eval(), (torch.randint(0, 10, (2, 5)), torch.randn(2, 5, 8))


MODELS = {"mlp": (_mlp, 1e-4), "encoder": (_encoder, 2e-4), "cnn": (_cnn, 1e-4), "tagger": (_tagger, 1e-4)}


class Compiled:
    def __init__(self, name: str, folder: Path) -> None:
        torch.manual_seed(0)
        make, self.tol = MODELS[name]
        self.model, self.inputs = make()
        self.folder = folder
        self.artifact = sparcc.compile(self.model, self.inputs, folder, threads=2)
        with torch.no_grad():
            self.want = _flat(self.model(*self.inputs))


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory):
    """name -> Compiled, each model compiled once per session."""
    done: dict[str, Compiled] = {}

    def get(name: str) -> Compiled:
        if name not in done:
            done[name] = Compiled(name, tmp_path_factory.mktemp("aot") / name)
        return done[name]

    return get


def _flat(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flat(v)]
    return [t for k in sorted(value) for t in _flat(value[k])]


def _close(got: list[torch.Tensor], want: list[torch.Tensor], tol: float) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, f"output {i}"
        torch.testing.assert_close(g, w, atol=tol, rtol=tol, msg=lambda m, i=i: f"output {i}: {m}")


def build_runner(folder: Path, exe: Path, rpath: str | None = None) -> Path:
    """examples/run_model.c built against folder, as the README says (warnings are errors)."""
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", str(RUN_MODEL), f"-I{folder}", f"-L{folder}", "-lmodel",
         f"-Wl,-rpath,{rpath or folder}", "-o", str(exe)],
        check=True, capture_output=True, text=True,
    )
    return exe


def run_in_c(exe: Path, folder: Path, inputs: tuple[torch.Tensor, ...], outputs: list[torch.Tensor],
             work: Path) -> list[torch.Tensor]:
    """Runs the C program on `inputs`; returns outputs shaped like `outputs`."""
    (work / "in.bin").write_bytes(b"".join(t.contiguous().numpy().tobytes() for t in inputs))
    result = subprocess.run([str(exe), str(folder), str(work / "in.bin"), str(work / "out.bin")],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data, got, at = (work / "out.bin").read_bytes(), [], 0
    for w in outputs:
        n = w.numel() * w.element_size()
        got.append(torch.frombuffer(bytearray(data[at:at + n]), dtype=w.dtype).reshape(w.shape))
        at += n
    assert at == len(data)
    return got


# ----------------------------------------------------------------------------
# round trips
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_load_runs_like_pytorch(compiled, name):
    c = compiled(name)
    program = sparcc.load(c.folder)
    got = program(*c.inputs)
    with torch.no_grad():
        want = c.model(*c.inputs)
    assert type(got) is type(want)
    _close(_flat(got), c.want, c.tol)
    assert program.report["cache"] == "aot" and program.report["threads"] == 2


@pytest.mark.parametrize("name", list(MODELS))
def test_c_program_runs_like_pytorch(compiled, name, tmp_path):
    c = compiled(name)
    exe = build_runner(c.folder, tmp_path / "run_model")
    _close(run_in_c(exe, c.folder, c.inputs, c.want, tmp_path), c.want, c.tol)


def test_c_program_without_files_prints_outputs(compiled, tmp_path):
    c = compiled("tagger")
    exe = build_runner(c.folder, tmp_path / "run_model")
    out = subprocess.run([str(exe), str(c.folder)], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("output 0: float32[2, 5, 4] ") and "output 1: float32[2, 5, 8]" in out.stdout


def test_folder_is_relocatable(compiled, tmp_path):
    """Copy the artifact and a C program that finds it through $ORIGIN, delete
    the originals: Python and C both run from the copy."""
    c = compiled("mlp")
    app = tmp_path / "app"
    shutil.copytree(c.folder, app / "model")
    (app / "bin").mkdir()
    build_runner(app / "model", app / "bin" / "run_model", rpath="$ORIGIN/../model")
    moved = tmp_path / "elsewhere" / "app"
    shutil.copytree(app, moved)
    shutil.rmtree(app)

    program = sparcc.load(moved / "model")
    _close([program(*c.inputs)], c.want, c.tol)
    assert program.report["library"] == str(moved / "model" / "libmodel.so")
    got = run_in_c(moved / "bin" / "run_model", moved / "model", c.inputs, c.want, tmp_path)
    _close(got, c.want, c.tol)


def test_ctypes_usage(compiled):
    """The C API from Python without sparcc, as the README shows it."""
    c = compiled("cnn")
    lib = ctypes.CDLL(str(c.folder / "libmodel.so"))
    lib.sparcc_model_error.restype = ctypes.c_char_p
    x = c.inputs[0].contiguous()
    y = torch.empty(c.want[0].shape)
    buffers = ctypes.c_void_p * 1
    assert lib.sparcc_model_run(buffers(x.data_ptr()), buffers(y.data_ptr())) == -1
    assert b"call sparcc_model_open first" in lib.sparcc_model_error()
    assert lib.sparcc_model_open(str(c.folder / "no-such-file").encode()) == -1
    assert b"No such file or directory" in lib.sparcc_model_error()
    assert lib.sparcc_model_open(str(c.folder / "weights.safetensors").encode()) == 0, lib.sparcc_model_error()
    assert lib.sparcc_model_run(buffers(x.data_ptr()), buffers(y.data_ptr())) == 0
    _close([y], c.want, c.tol)
    lib.sparcc_model_close()


# ----------------------------------------------------------------------------
# what the folder holds
# ----------------------------------------------------------------------------


def test_manifest_weights_and_report(compiled):
    c = compiled("mlp")
    m = json.loads((c.folder / "manifest.json").read_text())
    assert m["format"] == FORMAT and m["sparcc_version"] == sparcc.__version__
    assert m["entry"] == "forward" and m["threads"] == 2 and m["target"] == "cpu"
    assert m["inputs"] == [{"shape": [64, 512], "dtype": "float32"}]
    assert m["outputs"] == [{"shape": [64, 512], "dtype": "float32"}]
    assert m["host_cpu"] and "avx2" in m["cpu_features"]
    # weights: ABI order, keys sort in that order, laid out as the entry takes them
    keys = [w["key"] for w in m["weights"]]
    assert keys == sorted(keys) and {w["name"] for w in m["weights"]} == {
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    tensors = load_file(c.folder / "weights.safetensors")
    assert list(tensors) == keys
    fc1 = next(w for w in m["weights"] if w["name"] == "fc1.weight")
    assert fc1["perm"] == [1, 0] and fc1["shape"] == [512, 2048]
    torch.testing.assert_close(tensors[fc1["key"]], c.model.fc1.weight.detach().t(), atol=0, rtol=0)
    report = (c.folder / "report.txt").read_text()
    for line in ("pass convert-nn-to-linalg", "mlir schedule", "opt", "llc", "link", "write weights",
                 "linalg.matmul [64, 2048, 512] tiles=", "fallbacks\n  none"):
        assert line in report
    header = (c.folder / "model.h").read_text()
    assert "int sparcc_model_open(const char *weights_path);" in header
    assert "sparcc_model_input_bytes[1] = {131072}" in header


def test_nested_outputs_keep_their_structure(compiled):
    c = compiled("tagger")
    got = sparcc.load(c.folder)(*c.inputs)
    assert isinstance(got, tuple) and isinstance(got[1], dict) and list(got[1]) == ["hidden"]


def test_load_checks_its_arguments(compiled):
    program = sparcc.load(compiled("cnn").folder)
    with pytest.raises(sparcc.InputMismatchError, match=r"expected shape \[2, 3, 16, 16\], got \[1, 3, 16, 16\]"):
        program(torch.randn(1, 3, 16, 16))


# ----------------------------------------------------------------------------
# broken folders: one clear error each
# ----------------------------------------------------------------------------


@pytest.fixture
def copy(compiled, tmp_path) -> Path:
    """A private copy of a small artifact, to break."""
    shutil.copytree(compiled("tagger").folder, tmp_path / "model")
    return tmp_path / "model"


def _edit_manifest(folder: Path, edit) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    edit(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def test_missing_folder_or_manifest(tmp_path):
    with pytest.raises(sparcc.SparccError, match="no such folder"):
        sparcc.load(tmp_path / "nothing")
    with pytest.raises(sparcc.SparccError, match="has no manifest.json: not a sparcc artifact"):
        sparcc.load(tmp_path)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda f: (f / "manifest.json").write_text('{"format": 1, "sparcc'), r"manifest.json' is corrupt"),
        (lambda f: (f / "manifest.json").write_text("[]"), r"manifest.json' is corrupt \(no format"),
        (lambda f: _edit_manifest(f, lambda m: m.pop("inputs")), r"manifest.json' is corrupt \(KeyError: 'inputs'\)"),
        (lambda f: _edit_manifest(f, lambda m: m.update(format=99, sparcc_version="9.0")),
         r"written by sparcc 9.0 \(artifact format 99\); sparcc .* reads format 1"),
        (lambda f: _edit_manifest(f, lambda m: m["cpu_features"].append("avx10_9")),
         r"needs CPU features this machine lacks: avx10_9"),
        (lambda f: (f / "libmodel.so").unlink(), r"is incomplete: libmodel.so is missing"),
    ],
)
def test_broken_manifest_or_folder(copy, corrupt, message):
    corrupt(copy)
    with pytest.raises(sparcc.SparccError, match=message):
        sparcc.load(copy)


def test_corrupt_weights(copy):
    data = bytearray((copy / "weights.safetensors").read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the data: the sha256 catches it
    (copy / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(sparcc.SparccError, match=r"weights.safetensors' is corrupt \(its sha256 differs"):
        sparcc.load(copy)
    (copy / "weights.safetensors").write_bytes(bytes(data[:100]))  # truncated: the header is cut
    with pytest.raises(sparcc.SparccError, match="is not a valid safetensors file"):
        sparcc.load(copy, verify=False)


def test_c_api_rejects_other_weights(copy, tmp_path):
    exe = build_runner(copy, tmp_path / "run_model")
    weights = copy / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4])
    out = subprocess.run([str(exe), str(copy)], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "is not the weights file this model was compiled with" in out.stderr


def test_compile_again_into_the_same_folder(tmp_path):
    """The process that loaded the first library gets the second one (dlopen
    alone would return the first), and a compile that fails leaves the
    folder as it was: it still loads as the last model that compiled."""
    x = torch.randn(2, 8)
    first, second = nn.Linear(8, 4).eval(), nn.Linear(8, 6).eval()
    sparcc.compile(first, (x,), tmp_path / "out")
    old = sparcc.load(tmp_path / "out")
    sparcc.compile(second, (x,), tmp_path / "out")
    new = sparcc.load(tmp_path / "out")
    with torch.no_grad():
        _close([new(x)], [second(x)], 1e-4)
        _close([old(x)], [first(x)], 1e-4)
    with pytest.raises(sparcc.UnsupportedOpError):
        sparcc.compile(lambda t: torch.linalg.qr(t).Q, (x,), tmp_path / "out")
    with torch.no_grad():
        _close([sparcc.load(tmp_path / "out")(x)], [second(x)], 1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left beside it


def test_an_artifact_writes_back_the_inputs_it_updates_and_its_header_says_which(tmp_path):
    from sparcc import artifact

    def append(cache, pos, x):
        cache.index_copy_(0, pos, x)
        return cache * 2

    artifact.compile(append, (torch.zeros(6, 4), torch.tensor([1]), torch.ones(1, 4)), tmp_path / "out", threads=1)
    header = (tmp_path / "out" / "model.h").read_text()
    assert "output 0: float32[6, 4] (the new value of input 0: copy it back)" in header
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["mutated_inputs"] == [0]
    program = sparcc.load(tmp_path / "out")
    cache, want = torch.zeros(6, 4), torch.zeros(6, 4)
    for p in (2, 5):
        x = torch.randn(1, 4)
        torch.testing.assert_close(program(cache, torch.tensor([p]), x), append(want, torch.tensor([p]), x))
        assert torch.equal(cache, want)


class EveryDtype(nn.Module):
    """Inputs, outputs and buffers of every dtype sparcc compiles, not only
    float32 and int64 (an int32 input once failed at the artifact's header)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("k", torch.arange(5, dtype=torch.int32))
        self.register_buffer("u", torch.arange(5, dtype=torch.uint8) * 60)

    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (a + 1, (b > 3).to(torch.int32), c.to(torch.bfloat16) * 2, c.double(), b.to(torch.int16),
                b > 2, self.k * b, self.u + a, a.to(torch.int8))


def test_artifact_of_every_dtype_runs_like_pytorch(tmp_path: Path) -> None:
    args = (torch.randint(0, 256, (5,), dtype=torch.uint8), torch.arange(5, dtype=torch.int32),
            torch.randn(5, dtype=torch.float16))
    model = EveryDtype()
    sparcc.compile(model, args, tmp_path / "m")
    got, want = sparcc.load(tmp_path / "m")(*args), model(*args)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and torch.equal(g, w), (g, w)
