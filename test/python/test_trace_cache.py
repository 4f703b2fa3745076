"""The trace cache (sparcc/trace_cache.py): a warm start skips torch.export,
and anything that decides the trace misses it.

Each test uses its own cache folder; "a new process" is a new sparcc.jit of
the model (the trace cache lives on disk), and export is made to fail where a
test asserts that it did not run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sparcc
import torch
from sparcc import cache, frontend, trace_cache


@pytest.fixture(scope="module")
def _shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trace-cache")


@pytest.fixture
def cache_dir(_shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder whose compiled entries the tests share (each test's
    first compile of Block is a compile-cache hit) and whose trace cache
    starts empty."""
    monkeypatch.setenv("SPARCC_CACHE_DIR", str(_shared_cache))
    shutil.rmtree(_shared_cache / "trace", ignore_errors=True)
    return _shared_cache


class Block(torch.nn.Module):
    def __init__(self, scale: float = 2.0, act: str = "gelu"):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 8)
        self.norm = torch.nn.LayerNorm(16)
        self.scale = scale
        self.act = act
        self.register_buffer("shift", torch.linspace(0, 1, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(self.norm(x))
        h = torch.nn.functional.gelu(h) if self.act == "gelu" else torch.relu(h)
        return self.fc2(h) * self.scale + self.shift


def _run(model: torch.nn.Module, x: torch.Tensor, **options) -> tuple[torch.Tensor, dict]:
    fast = sparcc.jit(model, **options)
    got = fast(x)
    (program,) = fast.cache.values()
    return got, program.report


def _eager(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def test_warm_start_does_not_export_and_matches(cache_dir: Path) -> None:
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 16)
    got, report = _run(model, x)
    assert report["trace"] == "saved" and report["cache"] == "built"
    torch.testing.assert_close(got, _eager(model, x), rtol=1e-5, atol=1e-5)

    def refuse(*args, **kwargs):
        raise AssertionError("torch.export ran on a warm start")

    frontend.export, saved = refuse, frontend.export
    try:
        got, report = _run(model, x)
    finally:
        frontend.export = saved
    assert report["trace"] == "hit" and report["cache"] == "hit"
    assert report["seconds"]["import"] == 0.0
    torch.testing.assert_close(got, _eager(model, x), rtol=1e-5, atol=1e-5)


def test_new_weights_are_used_on_a_warm_start(cache_dir: Path) -> None:
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 16)
    _run(model, x)
    other = Block().eval()  # same structure, new random weights
    got, report = _run(other, x)
    assert report["trace"] == "hit"
    torch.testing.assert_close(got, _eager(other, x), rtol=1e-5, atol=1e-5)


def _key(model: torch.nn.Module, x: torch.Tensor) -> str | None:
    return trace_cache.fingerprint(model, [x], ["cpu"])


@pytest.mark.parametrize("change", ["attribute", "string", "training", "shape", "dtype", "submodule", "hook",
                                    "buffer-kind", "config-object", "global-hook"])
def test_what_decides_the_trace_changes_the_key(change: str) -> None:
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 16)
    model.config = type("Config", (), {})()
    model.config.eps = 1e-5
    before = _key(model, x)
    assert before is not None and _key(model, x) == before
    assert _key(Block().eval(), x) != before  # no config attribute
    handle = None
    if change == "attribute":
        model.scale = 3.0
    elif change == "string":
        model.act = "relu"
    elif change == "training":
        model.norm.train()
    elif change == "shape":
        x = torch.randn(5, 16)
    elif change == "dtype":
        model = model.double()
    elif change == "submodule":
        model.norm = torch.nn.LayerNorm(16, eps=1e-2)
    elif change == "hook":
        model.fc1.register_forward_hook(lambda m, i, o: o * 0.5)
    elif change == "buffer-kind":
        model.register_buffer("shift", model.shift, persistent=False)
    elif change == "config-object":
        model.config.eps = 1e-6
    elif change == "global-hook":
        handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o)
    try:
        assert _key(model, x) != before
    finally:
        if handle is not None:
            handle.remove()


def test_changed_attribute_misses(cache_dir: Path) -> None:
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 16)
    _run(model, x)
    model.scale = -1.0
    got, report = _run(model, x)
    assert report["trace"] == "saved"
    torch.testing.assert_close(got, _eager(model, x), rtol=1e-5, atol=1e-5)


def test_edited_model_source_misses(cache_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "edited_model.py"
    text = (
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(8, 8)\n"
        "    def forward(self, x):\n"
        "        return torch.relu(self.fc(x))\n"
    )
    source.write_text(text)
    sys.path.insert(0, str(tmp_path))
    try:
        import edited_model

        model, x = edited_model.M().eval(), torch.randn(2, 8)
        _run(model, x)
        _, report = _run(model, x)
        assert report["trace"] == "hit"
        # the class's file changes (a user edited forward and reloaded it)
        source.write_text(text.replace("torch.relu", "torch.sigmoid") + "\n# edited\n")
        import importlib

        edited_model = importlib.reload(edited_model)
        model2 = edited_model.M().eval()
        model2.load_state_dict(model.state_dict())
        got, report = _run(model2, x)
        assert report.get("trace") != "hit"
        torch.testing.assert_close(got, _eager(model2, x), rtol=1e-5, atol=1e-5)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("edited_model", None)


def test_quantised_model_is_kept_per_weight_values(cache_dir: Path) -> None:
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 16)
    quant = {"fc1": "int8:channel"}
    got1, report = _run(model, x, quant=quant)
    assert report["trace"] == "saved"
    assert any(p.name.endswith(".values") for p in (cache_dir / "trace").iterdir())
    _, report = _run(model, x, quant=quant)
    assert report["trace"] == "hit" and report["quant"]["layers"]  # the report keeps the quant layers
    with torch.no_grad():
        model.fc1.weight.mul_(-1.5)  # the codes of the old weights would be wrong now
    got2, report = _run(model, x, quant=quant)
    assert report.get("trace") != "hit"
    # against a compile that never saw the cache
    want = sparcc.jit(model, quant=quant, cache=False)(x)
    torch.testing.assert_close(got2, want, rtol=0, atol=0)
    assert not torch.allclose(got1, got2)


def test_unkeyable_attribute_gets_no_warm_start(cache_dir: Path) -> None:
    class Opaque:
        __slots__ = ()

    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 16)
    model.thing = Opaque()  # no __dict__, a repr with an address
    assert trace_cache.fingerprint(model, [x], []) is None
    got, report = _run(model, x)
    assert "trace" not in report
    torch.testing.assert_close(got, _eager(model, x), rtol=1e-5, atol=1e-5)


def test_fingerprint_is_stable_across_processes() -> None:
    """The key of a model built the same way in two processes (hash
    randomisation differs) is the same, and a different model's differs."""
    code = (
        "import torch, sparcc\n"
        "from sparcc import trace_cache\n"
        "torch.manual_seed(0)\n"
        "m = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True).eval()\n"
        "m.extra = {'a': {1, 2, 3}, 'b': ('x', 1.5)}\n"
        "print(trace_cache.fingerprint(m, [torch.randn(1, 4, 32)], ['cpu']))\n"
    )
    keys = []
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, timeout=120, check=True)
        keys.append(out.stdout.strip())
    assert keys[0] == keys[1] and len(keys[0]) == 32
    torch.manual_seed(0)
    m = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True).eval()
    m.extra = {"a": {1, 2, 3}, "b": ("x", 2.5)}
    assert trace_cache.fingerprint(m, [torch.randn(1, 4, 32)], ["cpu"]) != keys[0]


@pytest.mark.parametrize("damage", ["program", "weights-missing", "foreign-weights", "compiled-entry"])
def test_damaged_trace_entry_compiles_again(cache_dir: Path, damage: str) -> None:
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 16)
    quant = {"fc2": "int4:g8"}  # saved tensors, per weight values
    want, _ = _run(model, x, quant=quant)
    (entry,) = [p for p in (cache_dir / "trace").iterdir() if p.is_dir()]
    if damage == "program":
        (entry / "program.json").write_text("{not json")
    elif damage == "weights-missing":
        (entry / "weights.safetensors").unlink()
    elif damage == "foreign-weights":
        data = json.loads((entry / "program.json").read_text())
        data["weights"] = [[n, "no.such.parameter"] for n, _ in data["weights"]]
        (entry / "program.json").write_text(json.dumps(data))
    else:  # every compiled entry of the shared folder: the next tests rebuild theirs
        for e in (cache_dir / "jit").iterdir():
            lib = e / cache.LIBRARY
            lib.unlink()  # a new file: this process still maps the old one
            lib.write_bytes(b"\0")
    got, report = _run(model, x, quant=quant)
    assert report.get("trace") == "saved"
    assert report["cache"] == ("built" if damage == "compiled-entry" else "hit")
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    _, report = _run(model, x, quant=quant)
    assert report["trace"] == "hit"


def test_cache_clear_removes_trace_entries(cache_dir: Path) -> None:
    model, x = Block().eval(), torch.randn(4, 16)
    _run(model, x)
    assert any((cache_dir / "trace").iterdir())
    cache.clear()
    assert not (cache_dir / "trace").exists()
    _, report = _run(model, x)
    assert report["trace"] == "saved"


def test_keyword_call_with_a_state_object_is_not_traced(cache_dir: Path) -> None:
    class State:
        def __init__(self):
            self.buf = torch.zeros(4, 8)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x, state=None):
            state.buf.add_(self.fc(x))
            return state.buf * 2

    model, x = Model().eval(), torch.randn(4, 8)
    fast = sparcc.jit(model)
    state = State()
    got = fast(x, state=state)
    program = next(iter(next(iter(fast.keyword_programs.values())).cache.values()))
    assert "trace" not in program.report
    assert not (cache_dir / "trace").exists() or not any((cache_dir / "trace").iterdir())
    ref = State()
    with torch.no_grad():
        want = model(x, state=ref)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(state.buf, ref.buf)


def test_function_model_warm_start(cache_dir: Path) -> None:
    def f(x, y):
        return torch.softmax(x @ y, dim=-1) * 3

    x, y = torch.randn(4, 8), torch.randn(8, 4)
    fast = sparcc.jit(f)
    fast(x, y)
    fast2 = sparcc.jit(f)
    got = fast2(x, y)
    (program,) = fast2.cache.values()
    assert program.report["trace"] == "hit"
    torch.testing.assert_close(got, f(x, y))


def _trace(fast: sparcc.JitFunction) -> str:
    (program,) = fast.cache.values()
    return program.report["trace"]


def test_function_reading_a_global_tensor_sees_its_values(cache_dir: Path) -> None:
    """A script's `w = torch.randn(...)` read by a function is stored with
    the entry; run again with other values, it must not come back stale."""
    scope = {"torch": torch, "w": torch.randn(4, 3)}
    exec("def f(x):\n    return torch.nn.functional.gelu(x @ w) + 1", scope)  # noqa: S102
    x = torch.randn(2, 4)
    first = sparcc.jit(scope["f"])
    torch.testing.assert_close(first(x), scope["f"](x))
    again = sparcc.jit(scope["f"])
    torch.testing.assert_close(again(x), scope["f"](x))
    assert _trace(again) == "hit"
    scope["w"] = torch.randn(4, 3)  # the next run of the script
    fresh = sparcc.jit(scope["f"])
    torch.testing.assert_close(fresh(x), scope["f"](x))
    assert _trace(fresh) != "hit"


def test_function_calling_a_module_sees_its_weights(cache_dir: Path) -> None:
    def make() -> Any:
        m = torch.nn.Linear(4, 3)
        return lambda x: m(x) * 2

    x = torch.randn(2, 4)
    for _ in range(2):  # the same code, other weights
        f = make()
        with torch.no_grad():
            torch.testing.assert_close(sparcc.jit(f)(x), f(x))


def test_module_reading_a_global_tensor_sees_its_values(cache_dir: Path) -> None:
    scope = {"torch": torch, "shift": torch.randn(3)}
    exec(  # noqa: S102
        "class Shifted(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(4, 3)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x) + shift\n",
        scope,
    )
    model, x = scope["Shifted"]().eval(), torch.randn(2, 4)
    torch.testing.assert_close(sparcc.jit(model)(x), _eager(model, x))
    scope["shift"] = torch.randn(3)
    fresh = sparcc.jit(model)
    torch.testing.assert_close(fresh(x), _eager(model, x))
    assert _trace(fresh) != "hit"


def test_cli_cache_info_and_clear(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sparcc.cli import main

    _run(Block().eval(), torch.randn(4, 16))
    assert main(["cache", "info"]) in (0, None)
    out = capsys.readouterr().out
    assert "trace entries         1" in out and str(cache_dir / "jit") in out
    assert main(["cache", "clear"]) in (0, None)
    assert not (cache_dir / "trace").exists() and not (cache_dir / "jit").exists()
    with pytest.raises(SystemExit):
        main(["cache", "bogus"])
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_zero_dim_buffers_and_attributes(cache_dir: Path) -> None:
    """0-dim buffers and tensor attributes (LeViT keeps an int64 scalar) are
    hashed like any other: `view(torch.uint8)` refuses a 0-dim tensor of a
    wider type, and raised a RuntimeError out of sparcc.jit."""
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(4, 16)
    model.register_buffer("steps", torch.tensor(3))
    model.gain = torch.tensor(0.5)
    forward = model.forward
    model.forward = lambda x: forward(x) * model.gain + model.steps
    assert trace_cache.values_digest(model) is not None
    assert trace_cache.fingerprint(model, [x], ["cpu"]) is not None
    got, report = _run(model, x, quant={"fc1": "int8:channel"})  # quantised: the digest of the values is taken
    assert report["trace"] == "saved"
    want = sparcc.jit(model, quant={"fc1": "int8:channel"}, cache=False)(x)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
