"""The `sparcc` command: `run` end to end, and one clear message per user mistake."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sparcc.cli import parse_input_spec
from sparcc.errors import SparccError

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "mlp.py")


def sparcc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparcc.cli", *args], check=False, capture_output=True, text=True, timeout=300
    )


def test_run_reports_error_and_speed():
    out = sparcc("run", f"{MLP}:make_model", "--example-input", "randn(8,512)", "--repeat", "3", "--report")
    assert out.returncode == 0, out.stderr
    err = float(out.stdout.split("max abs error")[1].split()[0])
    assert err < 1e-4
    assert "PyTorch eager" in out.stdout and "linalg.matmul [8, 2048, 512]" in out.stdout


def test_run_uses_example_inputs_from_the_file():
    out = sparcc("run", f"{MLP}:make_model", "--repeat", "2")
    assert out.returncode == 0, out.stderr
    assert "(64, 512)" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no/such/file.py:f"], "'no/such/file.py': no such file"),
        (["run", f"{MLP}:missing"], "has no function 'missing'"),
        (["run", MLP], "expected FILE.py:FACTORY"),
        (["run", f"{MLP}:make_model", "--example-input", "randn(8,"], "'randn(8,': not of the form randn(2,3)"),
        (["run", f"{MLP}:make_model", "--example-input", "eye(3)"], "unknown factory 'eye'"),
        (["run", f"{MLP}:make_model", "--example-input", "randn(8,511)"], "for inputs [8, 511]"),
        (["run", f"{MLP}:make_model", "--target", "fpga"], "target 'fpga' is not available"),
    ],
)
def test_user_mistakes_get_one_message(args, message):
    out = sparcc(*args)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


def test_input_specs():
    assert parse_input_spec("randn(2,3)").shape == (2, 3)
    assert parse_input_spec("zeros(4)").sum().item() == 0
    idx = parse_input_spec("randint(0,10,(2,5))")
    assert idx.dtype == torch.int64 and idx.shape == (2, 5) and int(idx.max()) < 10
    assert parse_input_spec("ones(3,dtype=float32)").dtype == torch.float32
    assert parse_input_spec("randn(2,dtype=bfloat16)").dtype == torch.bfloat16
    assert parse_input_spec("randint(0,2,(3,),dtype=bool)").dtype == torch.bool
    assert parse_input_spec("randint(0,256,(4,),dtype=uint8)").dtype == torch.uint8
    with pytest.raises(SparccError, match="dtype complex64 is not supported"):
        parse_input_spec("randn(2,dtype=complex64)")
    with pytest.raises(SparccError, match="sizes must be integer literals"):
        parse_input_spec("randn(n)")


# ----------------------------------------------------------------------------
# sparcc compile
# ----------------------------------------------------------------------------

MODELS_FILE = '''
import torch
from torch import nn


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, idx, x):
        return self.fc(self.emb(idx) + x)


def tagger():
    torch.manual_seed(0)
    return Tagger()


class Cumsum(nn.Module):
    def forward(self, x):
        return torch.linalg.qr((x * 2).reshape(1, -1)).Q


def unsupported():
    return Cumsum()


def broken():
    raise RuntimeError("no checkpoint here")
'''


@pytest.fixture
def models(tmp_path) -> str:
    path = tmp_path / "models.py"
    path.write_text(MODELS_FILE)
    return str(path)


def test_compile_writes_an_artifact_that_loads(tmp_path):
    """No --example-input: examples/mlp.py's example_inputs() gives (64, 512)."""
    import sparcc as sparcc_pkg

    out = sparcc("compile", f"{MLP}:make_model", "-o", str(tmp_path / "out"), "--threads", "1")
    assert out.returncode == 0, out.stderr
    assert "float32[64, 512]" in out.stdout and "weights.safetensors" in out.stdout
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"libmodel.so", "libsparcc_rt.so", "weights.safetensors", "manifest.json", "model.h",
            "report.txt"} <= files
    assert "linalg.matmul [64, 2048, 512] tiles=" in (tmp_path / "out" / "report.txt").read_text()
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from mlp import make_model
    finally:
        sys.path.pop(0)
    program = sparcc_pkg.load(tmp_path / "out")
    assert program.report["threads"] == 1
    x = torch.randn(64, 512)
    with torch.no_grad():
        torch.testing.assert_close(program(x), make_model()(x), atol=1e-4, rtol=1e-4)


def test_compile_several_inputs_with_dtypes(models, tmp_path):
    import sparcc as sparcc_pkg

    out = sparcc("compile", f"{models}:tagger", "--example-input", "randint(0,10,(2,5))",
                 "--example-input", "randn(2,5,8,dtype=float32)", "-o", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    manifest = (tmp_path / "out" / "manifest.json").read_text()
    assert '"dtype": "int64"' in manifest
    spec = importlib.util.spec_from_file_location("models", models)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    idx, x = torch.randint(0, 10, (2, 5)), torch.randn(2, 5, 8)
    with torch.no_grad():
        want = module.tagger().eval()(idx, x)
    torch.testing.assert_close(sparcc_pkg.load(tmp_path / "out")(idx, x), want, atol=1e-4, rtol=1e-4)


UNSUPPORTED_LINE = MODELS_FILE.splitlines().index("        return torch.linalg.qr((x * 2).reshape(1, -1)).Q") + 1


@pytest.mark.parametrize(
    "args, message",
    [
        ("compile no/such/file.py:f -o {tmp}/o", "'no/such/file.py': no such file"),
        ("compile {mlp}:missing -o {tmp}/o", "has no function 'missing'"),
        ("compile {models}:broken --example-input randn(3) -o {tmp}/o",
         "broken() raised RuntimeError: no checkpoint here"),
        ("compile {mlp}:make_model --example-input randn(8, -o {tmp}/o",
         "--example-input 'randn(8,': not of the form randn(2,3)"),
        ("compile {mlp}:make_model --example-input randn(8,511) -o {tmp}/o", "for inputs [8, 511]"),
        ("compile {models}:unsupported --example-input randn(3) -o {tmp}/o",
         "unsupported operation in the model:\n  aten.linalg_qr.default (1x), first at {models}:" + str(UNSUPPORTED_LINE)),
        ("compile {mlp}:make_model --target tpu -o {tmp}/o", "target 'tpu' is not available; choose one of: cpu"),
        ("compile {mlp}:make_model --target fpga -o {tmp}/o", "target 'fpga' is not available"),
        ("compile {mlp}:make_model -o {tmp}/a-file", "output '{tmp}/a-file' is a file, not a folder"),
        ("compile {mlp}:make_model -o {tmp}/a-file/out", "cannot create the output folder '{tmp}/a-file/out'"),
        ("compile {mlp}:make_model -o {readonly}/out", "cannot create the output folder '{readonly}/out'"),
        ("compile {mlp}:make_model --threads 0 -o {tmp}/o", "--threads 0: must be at least 1"),
    ],
)
def test_compile_mistakes_get_one_message(args, message, models, tmp_path, capsys):
    """In-process (one torch import for all cases); the subprocess test above
    shows the same handler leaves no traceback."""
    from sparcc.cli import main

    (tmp_path / "a-file").write_text("")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    if os.geteuid() == 0:  # root may write into any folder, but not create one in /proc
        readonly = Path("/proc/sparcc-test")
    where = {"tmp": tmp_path, "mlp": MLP, "models": models, "readonly": readonly}
    assert main(args.format(**where).split()) == 1
    err = capsys.readouterr().err
    assert err.startswith("sparcc: error: ") and message.format(**where) in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # every mistake is found before anything is written


def test_compile_unsupported_op_from_the_shell(models, tmp_path):
    out = sparcc("compile", f"{models}:unsupported", "--example-input", "randn(3)", "-o", str(tmp_path / "o"))
    assert out.returncode == 1
    assert out.stderr.startswith(f"sparcc: error: 1 unsupported operation in the model:\n  aten.linalg_qr.default (1x), first at {models}:{UNSUPPORTED_LINE}")
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


def test_quantised_artifact_from_the_shell_matches_the_dequantised_reference(tmp_path):
    import copy

    import numpy as np
    import sparcc as sparcc_pkg
    from sparcc.dialects.quant_formats import dequantize, parse_format

    out = sparcc("compile", f"{MLP}:make_model", "--quant", "fc1=nf4:g64", "--quant", "*=int8:channel",
                 "-o", str(tmp_path / "q"))
    assert out.returncode == 0, out.stderr
    assert "fc1                  nf4:g64" in out.stdout and "int8:channel" in out.stdout
    report = (tmp_path / "q" / "report.txt").read_text()
    assert "quantised weights" in report and "fc2" in report
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from mlp import make_model
    finally:
        sys.path.pop(0)
    model = make_model()
    ref = copy.deepcopy(model)
    for layer, spec in (("fc1", "nf4:g64"), ("fc2", "int8:channel")):
        w = getattr(ref, layer).weight.detach().numpy()
        deq = dequantize(parse_format(spec).quantize(w)).reshape(w.shape)
        getattr(ref, layer).weight.data = torch.from_numpy(deq.astype(np.float32))
    x = torch.randn(64, 512)
    with torch.no_grad():
        want = ref(x)
        got = sparcc_pkg.load(tmp_path / "q")(x)
    torch.testing.assert_close(got, want, atol=2e-5 * float(want.abs().max()), rtol=1e-4)


@pytest.mark.parametrize(
    "quant, message",
    [("fc1=nf9", "--quant: layer pattern 'fc1': quant spec 'nf9': unknown format 'nf9'"),
     ("fc1", "--quant: 'fc1' is not of the form PATTERN=FORMAT")],
)
def test_bad_quant_specs_get_one_message(quant, message):
    out = sparcc("run", f"{MLP}:make_model", "--quant", quant)
    assert out.returncode == 1 and message in out.stderr
    assert "Traceback" not in out.stderr


def test_sparse_run_from_the_shell_reports_each_layer():
    out = sparcc("run", f"{MLP}:make_model", "--example-input", "randn(4,512)", "--repeat", "2",
                 "--sparsity", "fc1=2:4", "--sparsity", "*=unstructured:0.9")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip().startswith("sparse ")]
    assert [line.split()[1:3] for line in lines] == [["fc1", "2:4"], ["fc2", "unstructured:0.9"]]
    # 2:4 keeps half the weights, unstructured:0.9 a tenth
    densities = [float(line.split("density")[1].split()[0]) for line in lines]
    assert densities == [0.5, 0.1]


@pytest.mark.parametrize(
    "sparsity, message",
    [("fc1=2:5x", "--sparsity: layer pattern 'fc1': prune spec '2:5x'"),
     ("fc1=unstructured:0.5@bsr:4x4x", "--sparsity: layer pattern 'fc1'"),
     ("fc1", "--sparsity: 'fc1' is not of the form PATTERN=FORMAT")],
)
def test_bad_sparsity_specs_get_one_message(sparsity, message):
    out = sparcc("run", f"{MLP}:make_model", "--sparsity", sparsity)
    assert out.returncode == 1 and message in out.stderr
    assert "Traceback" not in out.stderr
