"""
The fuzz corpus: sparcc driven as a hostile user would drive it.

    python benchmarks/fuzz.py --cases 2000        # the full corpus, then a table
    python benchmarks/fuzz.py --fast              # the subset test/python/test_fuzz.py runs
    python benchmarks/fuzz.py --only cache --show 20 --cases 200

Six kinds of generated cases, seeded (--seed) and bounded (--cases, a time
limit per case):

  opt       mutated .mlir from the lit tests (test/dialects, test/passes:
            flipped and non-UTF-8 bytes, truncation, lines deleted or
            repeated, numbers and types replaced) through `sparcc-opt` with
            each registered pass, bad pass pipelines and options, bad -o paths
  cli       `sparcc run/compile` with bad arguments: files and factories that
            do not exist or misbehave, --example-input specs, --threads,
            --repeat, --target, -o, unknown and missing flags
  spec      `sparcc run` with mutated --quant/--sparsity specs
  cache     a good cache entry with one file damaged (truncated, emptied, a
            byte flipped, deleted, replaced by a folder, ...), then two
            processes that compile the same model
  artifact  a good `sparcc compile` folder with one file damaged, then
            `sparcc.load` and a call; a failing or killed recompile into a
            good folder, then `sparcc.load`
  tensor    odd tensors through sparcc.jit: zero-size, every dtype,
            non-contiguous, NaN/Inf, huge (expanded) shapes, 0-d, sparse,
            meta, non-tensors, the wrong number of arguments

Each case runs in a child process (forked from a server that has imported
sparcc, so a case costs milliseconds, not an interpreter start) and is
classified as:

  clean      exit 0, or exit 1 with a short message that says "error" (one
             line, plus the source line and caret for a parse error)
  internal   a clean message that says it is a bug in sparcc
  unclear    any other exit code, or a message of many lines (an IR dump)
  traceback  a Python traceback
  crash      killed by a signal (SIGSEGV, SIGBUS, SIGABRT, ...)
  hang       over the time limit
  wrong      a result that differs from PyTorch eager's
  lost       a good artifact that no longer loads after a failed compile
  known      a failure from a bug listed in KNOWN (its fix is elsewhere)

Anything but clean fails test_fuzz.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import string
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("opt", "cli", "spec", "cache", "artifact", "tensor")
CLASSES = ("clean", "known", "internal", "unclear", "traceback", "crash", "hang", "wrong", "lost")
# bugs found by the corpus whose fix belongs to another change (see the
# README's fuzz section): (kind, verdict, texts that the case's name and output
# all hold, what it is). A case that fails that way counts as "known", not as
# a failure; delete the entry when the bug is fixed.
KNOWN: list[tuple[str, str, tuple[str, ...], str]] = [
    # (kind, verdict, texts in the output, why): none open. The last two, inputs
    # of a dtype PyTorch rejects (a float64 input to a float32 Linear, an int32
    # softmax) reaching the verifier, are InputMismatchErrors with PyTorch's
    # words since driver.pytorch_rejects.
]
# share of the corpus per kind (--cases N); the fast subset's counts (--fast)
SHARES = {"opt": 0.55, "cli": 0.15, "spec": 0.10, "cache": 0.04, "artifact": 0.06, "tensor": 0.10}
FAST = {"opt": 120, "cli": 40, "spec": 20, "cache": 6, "artifact": 12, "tensor": 12}
WRONG, LOST = 3, 4  # exit codes a case uses to say what it found
MESSAGE_LINES = 8  # a clean message has at most this many lines


@dataclass
class Step:
    """One child process: `fn(*args)` (a function of this module), its time
    limit, and `kill_after` (seconds: the step is killed on purpose then)."""

    fn: str
    args: tuple[Any, ...]
    timeout: float = 60.0
    kill_after: float | None = None


@dataclass
class Case:
    kind: str
    name: str
    steps: list[Step]
    # run in the parent before the steps (damage a file, copy a folder)
    setup: tuple[str, tuple[Any, ...]] | None = None


@dataclass
class Result:
    case: Case
    verdict: str
    seconds: float
    output: str = ""
    step: int = 0
    details: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------
# the child side: what a step runs (in a forked process)
# ----------------------------------------------------------------------------

TINY_MODEL = '''import torch


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 8)
        self.fc2 = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def make_model():
    torch.manual_seed(0)
    return Tiny()


def example_inputs():
    torch.manual_seed(1)
    return [torch.randn(2, 16)]
'''

# user files that misbehave in one way each: name -> source
BAD_MODELS = {
    "none": "def make_model():\n    return None\n\ndef example_inputs():\n    import torch\n    return [torch.randn(2, 16)]\n",
    "raises": "def make_model():\n    raise RuntimeError('boom')\n",
    "syntax": "def make_model(:\n    pass\n",
    "import_error": "import no_such_module_for_sparcc\n",
    "returns_int": "def make_model():\n    return 42\n\ndef example_inputs():\n    import torch\n    return [torch.randn(2, 16)]\n",
    "returns_str": "def make_model():\n    return 'model'\n\ndef example_inputs():\n    import torch\n    return [torch.randn(2, 16)]\n",
    "not_callable": "make_model = 3\n",
    "takes_args": "def make_model(size):\n    return None\n",
    "unsupported_op": (
        "import torch\n\ndef make_model():\n    return lambda x: torch.linalg.qr(x).Q\n\n"
        "def example_inputs():\n    return [torch.randn(2, 16)]\n"
    ),
    "inputs_raise": (
        TINY_MODEL + "\n\ndef example_inputs():\n    raise ValueError('no inputs today')\n"
    ),
    "inputs_not_tensors": (
        TINY_MODEL + "\n\ndef example_inputs():\n    return ['x', 3]\n"
    ),
    "inputs_not_iterable": TINY_MODEL + "\n\ndef example_inputs():\n    return 7\n",
    "inputs_wrong_count": (
        TINY_MODEL + "\n\ndef example_inputs():\n"
        "    return [torch.randn(2, 16), torch.randn(2, 16)]\n"
    ),
    "model_raises": (
        "import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n        raise KeyError('inside')\n\n"
        "def make_model():\n    return M()\n\ndef example_inputs():\n    return [torch.randn(2, 16)]\n"
    ),
    "returns_none_output": (
        "import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n        return None\n\n"
        "def make_model():\n    return M()\n\ndef example_inputs():\n    return [torch.randn(2, 16)]\n"
    ),
    "returns_tuple_int": (
        "import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n        return x + 1, 3\n\n"
        "def make_model():\n    return M()\n\ndef example_inputs():\n    return [torch.randn(2, 16)]\n"
    ),
    "sys_exit": "import sys\nsys.exit('bye from the model file')\n",
    "empty": "",
    "binary": "\x00\xff\xfe garbage",
    "no_linear": (
        "import torch\n\ndef make_model():\n    return lambda x: x * 2\n\ndef example_inputs():\n"
        "    return [torch.randn(2, 16)]\n"
    ),
}


def _model(path: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_tiny", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_model().eval(), module.example_inputs()


def _close(got: Any, want: Any) -> str | None:
    """None if sparcc's output matches eager's, else what differs."""
    import torch
    from torch.utils import _pytree as pytree

    g, w = pytree.tree_leaves(got), pytree.tree_leaves(want)
    if len(g) != len(w):
        return f"{len(g)} outputs, eager gives {len(w)}"
    for i, (a, b) in enumerate(zip(g, w)):
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
            if a != b:
                return f"output {i}: {a!r} != {b!r}"
            continue
        if a.shape != b.shape:
            return f"output {i}: shape {list(a.shape)} != eager's {list(b.shape)}"
        if a.dtype != b.dtype:
            return f"output {i}: dtype {a.dtype} != eager's {b.dtype}"
        if a.dtype.is_floating_point or a.dtype.is_complex:
            ok = torch.allclose(a.double() if not a.dtype.is_complex else a, b.double() if not b.dtype.is_complex else b,
                                atol=1e-4, rtol=1e-3, equal_nan=True)
        else:
            ok = torch.equal(a, b)
        if not ok:
            return f"output {i}: values differ from eager's (max abs diff {(a.double() - b.double()).abs().max().item():.3g})"
    return None


def _sparcc_error(e: BaseException) -> int:
    print(f"sparcc: error: {e}", file=sys.stderr)
    return 1


def step_opt(argv: list[str]) -> int:
    from sparcc.opt import main

    return main(argv)


def step_cli(argv: list[str]) -> int:
    from sparcc.cli import main

    return main(argv)


def step_jit_tiny(model_file: str) -> int:
    """sparcc.jit on the tiny model (with the cache of SPARCC_CACHE_DIR): the
    result must match eager."""
    import sparcc

    model, inputs = _model(model_file)
    try:
        got = sparcc.jit(model, threads=1)(*inputs)
    except sparcc.SparccError as e:
        return _sparcc_error(e)
    return _against_eager(model, inputs, got)


def _against_eager(model, inputs, got) -> int:
    """0 when `got` matches eager's result for `inputs`, else WRONG (said)."""
    import torch

    with torch.no_grad():
        want = model(*inputs)
    if (why := _close(got, want)) is not None:
        print(f"FUZZ-WRONG: {why}")
        return WRONG
    return 0


def step_load(folder: str, model_file: str, expect_ok: bool = False) -> int:
    """sparcc.load(folder) and a call: a clean error or eager's result. With
    expect_ok, an artifact that was good before must still load (else lost)."""
    import sparcc

    model, inputs = _model(model_file)
    try:
        got = sparcc.load(folder)(*inputs)
    except sparcc.SparccError as e:
        if expect_ok:
            print(f"FUZZ-LOST: the good artifact in {folder} no longer loads: {e}")
            return LOST
        return _sparcc_error(e)
    return _against_eager(model, inputs, got)


def step_compile_artifact(model_file: str, folder: str) -> int:
    import sparcc

    model, inputs = _model(model_file)
    try:
        sparcc.compile(model, inputs, folder, threads=1)
    except sparcc.SparccError as e:
        return _sparcc_error(e)
    return 0


def _functions() -> dict[str, Callable[[], Any]]:
    """What the tensor cases compile: name -> a function that makes it."""
    import torch

    def linear() -> Any:
        torch.manual_seed(0)
        return torch.nn.Linear(16, 4).eval()

    return {
        "linear": linear,
        "elementwise": lambda: (lambda x: torch.relu(x) * 2.0 + 1.0),
        "softmax": lambda: (lambda x: torch.softmax(x, dim=-1)),
        "sum": lambda: (lambda x: x.sum(dim=-1)),
        "matmul_t": lambda: (lambda x: x @ x.transpose(-1, -2)),
        "two_inputs": lambda: (lambda x, y: x * y + x),
    }


def step_tensor(function: str, recipe: str, warm: bool) -> int:
    """sparcc.jit(function) called with the tensor(s) `recipe` makes (after a
    normal call when `warm`): a clean error, or eager's result."""
    import sparcc
    import torch

    torch.manual_seed(0)
    fn = _functions()[function]()
    env = {"torch": torch, "nan": float("nan"), "inf": float("inf")}
    args = eval(recipe, env)  # noqa: S307 (the corpus's own recipes)
    args = args if isinstance(args, tuple) else (args,)
    fast = sparcc.jit(fn, threads=1)
    if warm:
        normal = (torch.randn(2, 16),) * (2 if function == "two_inputs" else 1)
        try:
            fast(*normal)
        except sparcc.SparccError as e:
            print(f"FUZZ-WRONG: a normal input failed: {e}")
            return WRONG
    try:
        got = fast(*args)
    except sparcc.SparccError as e:
        return _sparcc_error(e)
    try:  # eager after sparcc: on a huge expanded tensor eager itself runs for hours
        with torch.no_grad():
            want = fn(*args)
    except Exception:  # noqa: BLE001 (eager rejects it: sparcc may still accept it)
        want = None
    if want is not None and (why := _close(got, want)) is not None:
        print(f"FUZZ-WRONG: {why}")
        return WRONG
    return 0


# ----------------------------------------------------------------------------
# the parent side: running a step in a forked child, and classifying it
# ----------------------------------------------------------------------------


def _exec_step(step: Step, out_path: Path, env: dict[str, str], err_path: Path | None = None) -> tuple[str, int, float]:
    """Runs `step` in a forked child. Returns (how it ended: exit, signal,
    timeout or killed; the exit code or signal number; seconds)."""
    fn = globals()[step.fn]
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.setpgid(0, 0)
            for target, path in ((1, out_path), (2, err_path or out_path)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
                os.dup2(fd, target)
                os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            sys.stdin = open(0, closefd=False)  # noqa: SIM115
            sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            os.environ.update(env)
            os.chdir(env["FUZZ_CWD"])  # what a case writes by a relative path stays in the work folder
            try:
                import torch

                torch.set_num_threads(1)
                rc = fn(*step.args)
                code = 0 if rc is None else int(rc)
            except SystemExit as e:
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:
                    print(e.code, file=sys.stderr)
                    code = 1
            except BaseException:  # noqa: BLE001 (what Python prints for an uncaught exception)
                import traceback

                traceback.print_exc()
                code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code & 0xFF)
    deadline = start + (step.kill_after if step.kill_after is not None else step.timeout)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() > deadline:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return ("killed" if step.kill_after is not None else "timeout"), 0, time.perf_counter() - start
            time.sleep(0.01)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): the case goes with the server
        try:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        raise
    seconds = time.perf_counter() - start
    try:  # the compilers it started (opt, llc, gcc) go with it
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if os.WIFSIGNALED(status):
        return "signal", os.WTERMSIG(status), seconds
    return "exit", os.WEXITSTATUS(status), seconds


def classify(how: str, code: int, stdout: str, stderr: str = "") -> str:
    """The verdict for one step (module docstring)."""
    output = stdout + stderr
    if how == "timeout":
        return "hang"
    if how == "killed":
        return "clean"  # killed on purpose; the next step judges the damage
    if how == "signal":
        return "crash"
    if "Traceback (most recent call last)" in output:
        return "traceback"
    if code == WRONG and "FUZZ-WRONG" in stdout:
        return "wrong"
    if code == LOST and "FUZZ-LOST" in stdout:
        return "lost"
    if "LLVM ERROR" in output:
        return "crash"
    if "a sparcc bug" in stderr or "internal error" in stderr or "this is a bug" in stderr:
        return "internal"
    if code == 0:
        return "clean"
    if code != 1:
        return "unclear"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not any("error" in line.lower() for line in lines):
        return "unclear"
    # what a message may hold besides its error lines: `// -----` between
    # --verify-diagnostics chunks, a source line with its caret, a usage line,
    # an indented detail (a reproducer, a command)
    other = [
        line for i, line in enumerate(lines)
        if "error" not in line.lower() and line.strip() != "// -----" and set(line.strip()) != {"^"}
        and not (i + 1 < len(lines) and set(lines[i + 1].strip()) == {"^"})
    ]
    return "clean" if len(other) <= MESSAGE_LINES // 2 else "unclear"


SEVERITY = {c: i for i, c in enumerate(CLASSES)}


def run_case(case: Case, work: Path, env: dict[str, str]) -> Result:
    start = time.perf_counter()
    if case.setup is not None:
        globals()[case.setup[0]](*case.setup[1])
    verdict, output, failed_step = "clean", "", 0
    for i, step in enumerate(case.steps):
        out, err = work / "step.out", work / "step.err"
        how, code, _ = _exec_step(step, out, env, err)
        stdout, stderr = (p.read_text(errors="replace") if p.exists() else "" for p in (out, err))
        v = classify(how, code, stdout, stderr)
        text = (stdout[-3000:] + "\n" + stderr).strip()
        if how == "signal":
            text += f"\n[killed by signal {signal.Signals(code).name}]"
        if how == "timeout":
            text += f"\n[over the time limit of {step.timeout:.0f} s]"
        if any(kind == case.kind and verdict_ == v and all(t in case.name + text for t in texts)
               for kind, verdict_, texts, _ in KNOWN):
            v = "known"
        if SEVERITY[v] > SEVERITY[verdict]:
            verdict, output, failed_step = v, text, i
        elif i == 0 and not output:
            output = text
    return Result(case, verdict, time.perf_counter() - start, output, failed_step)


# ----------------------------------------------------------------------------
# the corpus
# ----------------------------------------------------------------------------


def _lit_files() -> list[Path]:
    return sorted(p for d in ("test/dialects", "test/passes") for p in (ROOT / d).glob("*.mlir"))


def _passes() -> list[str]:
    from sparcc.passes import PASSES

    return sorted(PASSES)


_TYPES = [b"f32", b"f64", b"i1", b"i8", b"i32", b"i64", b"index", b"f16", b"bf16", b"none", b"tensor<?xf32>",
          b"tensor<0x4xf32>", b"tensor<f32>", b"memref<4xf32>", b"!nn.what", b"i0", b"f8E4M3FN"]
_NUMBERS = [b"0", b"-1", b"1", b"99999999999999999999999", b"-2147483649", b"4294967296", b"1e309", b"nan",
            b"0x7fffffffffffffff", b"18446744073709551616", b"3.5", b"?", b"-0"]
_JUNK = [b"\xff", b"\xfe\xff", b"\x00", b"\xc3", b"\xe2\x80", b"\xed\xa0\x80", "\u00e9".encode(), "\u202e".encode(),
         b"\"", b"{", b"}", b"(", b")", b"<", b">", b"[", b"]", b"%", b"^bb9", b"@", b"#", b"!", b":", b",",
         b"=", b"->", b"//", b"\\", b"\t", b"\r", b"\"\\x", b"dense<", b"affine_map<(d0) -> (d0 floordiv 0)>",
         b"((((((((((((((((((((((((((((((((", b"<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<", b"\"" + b"\\" * 7]


def _mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """1-3 random edits of `data`; returns the result and their names."""
    names = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.choice(("flip", "high", "truncate", "delete_line", "dup_line", "swap_lines", "delete_span",
                         "insert", "number", "type", "ident", "chunk", "bracket"))
        names.append(op)
        if not data:
            data = rng.choice(_JUNK)
            continue
        pos = rng.randrange(len(data))
        lines = data.split(b"\n")
        li = rng.randrange(len(lines))
        if op == "flip":
            data = data[:pos] + bytes([data[pos] ^ (1 << rng.randrange(8))]) + data[pos + 1:]
        elif op == "high":  # a byte that is not UTF-8
            data = data[:pos] + bytes([rng.choice((0x80, 0xC0, 0xFF, 0xFE, 0xF5))]) + data[pos + 1:]
        elif op == "truncate":
            data = data[:pos]
        elif op == "delete_line":
            data = b"\n".join(lines[:li] + lines[li + 1:])
        elif op == "dup_line":
            data = b"\n".join(lines[:li] + [lines[li]] * rng.randint(2, 4) + lines[li + 1:])
        elif op == "swap_lines":
            lj = rng.randrange(len(lines))
            lines[li], lines[lj] = lines[lj], lines[li]
            data = b"\n".join(lines)
        elif op == "delete_span":
            data = data[:pos] + data[pos + rng.randint(1, 40):]
        elif op == "insert":
            data = data[:pos] + rng.choice(_JUNK) + data[pos:]
        elif op in ("number", "type", "ident"):
            import re

            pattern = {"number": rb"-?\d+(\.\d+)?", "type": rb"\b(f32|f64|i1|i8|i32|i64|index)\b",
                       "ident": rb"\b[a-z_]+\.[a-z_]+\b"}[op]
            found = list(re.finditer(pattern, data))
            if found:
                m = rng.choice(found)
                new = (rng.choice(_NUMBERS) if op == "number" else rng.choice(_TYPES) if op == "type"
                       else rng.choice([b"nn.add", b"nn.matmul", b"nn.linear", b"quant.linear", b"sparse.spmm",
                                        b"arith.addf", b"func.call", b"linalg.generic", b"nn.nope", b"tensor.empty"]))
                data = data[:m.start()] + new + data[m.end():]
        elif op == "chunk":  # one `// -----` chunk only
            chunks = data.split(b"// -----")
            data = rng.choice(chunks)
        elif op == "bracket":
            data = data[:pos] + rng.choice((b"(", b"<", b"[", b"{")) * rng.randint(50, 3000) + data[pos:]
    return data, "+".join(names)


def opt_cases(n: int, seed: int, work: Path) -> list[Case]:
    files, passes = _lit_files(), _passes()
    folder = work / "opt"
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for i in range(n):
        rng = random.Random(f"{seed}:opt:{i}")
        src = rng.choice(files)
        data, what = _mutate(src.read_bytes(), rng)
        path = folder / f"{i:05d}.mlir"
        path.write_bytes(data)
        r = rng.random()
        if r < 0.75:
            pipeline = ",".join(rng.choice(passes) for _ in range(rng.choice((1, 1, 1, 2, 3))))
        elif r < 0.85:
            pipeline = rng.choice(passes) + rng.choice(("{", "{x=1}", "{pattern=2:4}", "{spec=\xff}", "{=}",
                                                        "{format=nf4:g64", "{threads=-1}", "}", ",,"))
        elif r < 0.9:
            pipeline = ""
        else:
            pipeline = "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 30)))
        argv = [str(path)]
        if pipeline or rng.random() < 0.5:
            argv += ["-p", pipeline]
        extra = rng.random()
        if extra < 0.15:
            argv += ["--split-input-file", "--verify-diagnostics"]
        elif extra < 0.2:
            argv += ["--print-op-generic"]
        elif extra < 0.3:
            argv += ["-o", rng.choice([str(work / "opt" / "no" / "such" / "x.mlir"), str(folder), "",
                                       "/proc/sparcc-nope.mlir", str(work / "opt" / f"{i:05d}.out.mlir"),
                                       str(work / ("x" * 300) / "y.mlir")])]
        elif extra < 0.35:
            argv = [rng.choice([str(folder / "missing.mlir"), str(folder), "/dev/null", str(path) + ".txt"])] + argv[1:]
        elif extra < 0.4:  # upstream MLIR's parser and passes
            argv += [f"--mlir-pipeline={rng.choice(['builtin.module(canonicalize)', 'builtin.module(cse)', '', 'nope(', 'builtin.module(func.func(nope))'])}"]
            argv = [a for a in argv if a != "-p" and a != pipeline] if pipeline else argv
        cases.append(Case("opt", f"{src.name} {what} {' '.join(argv[1:])[:80]}", [Step("step_opt", (argv,), 30.0)]))
    return cases


VALID_QUANT = ["nf4:g64", "int8:channel", "int4:g128", "int4:g16:asym", "sf4:nu=5:g32", "mxfp4", "e2m1", "e2m1s",
               "fp8_e4m3", "fp8_e5m2", "apot4", "lp:n=4,es=1,rs=2,sf=0", "int8:tensor", "int8:g8", "nf4:none"]
VALID_SPARSE = ["2:4", "unstructured:0.5", "unstructured:0.9@csr", "unstructured:0.5@csc", "unstructured:0.5@coo",
                "unstructured:0.5@dcsr", "unstructured:0.5@ell", "unstructured:0.5@bsr:2x2", "block:2x2:0.5",
                "vnm:2:2:4", "tasd:2:4+1:8", "auto:unstructured:0.5", "dense", "unstructured:0.5@block", "1:4"]
_SPEC_JUNK = ["", " ", ":", "=", ";", "@", "+", "*", "**", "[", "{", "}", "\"", "\\", "\xff", "\u00e9", "0", "-1",
              "99999", "99999x99999", "1e309", "nan", "inf", "-0", "0.0", "1.0", "g0", "g7", "g99999999", "x", "asym",
              "nu=", "nu=0", "nu=-1", "n=99", "es=", "bsr:0x0", "@bsr:99999x99999", "@bsr:1x99999", "tasd:",
              "unstructured:", "auto:", "dense", "levels=(dense,compressed)", "levels=(", "\n", "\x00"]


def _mutate_spec(rng: random.Random, valid: list[str]) -> str:
    text = rng.choice(valid)
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.randrange(6)
        pos = rng.randrange(len(text) + 1)
        if op == 0:
            text = text[:pos] + rng.choice(_SPEC_JUNK) + text[pos:]
        elif op == 1 and text:
            text = text[:pos] + text[pos + rng.randint(1, 4):]
        elif op == 2:
            text = text + ":" + rng.choice(_SPEC_JUNK)
        elif op == 3:
            text = rng.choice(valid) + rng.choice(("+", "@", ":", ";")) + rng.choice(valid)
        elif op == 4:
            import re

            text = re.sub(r"\d+(\.\d+)?", lambda m: rng.choice(["0", "1", "3", "99999", "-1", "0.999999", "1.5", "65536"]),
                          text, count=1)
        else:
            text = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 20)))
    return text


def spec_cases(n: int, seed: int, work: Path) -> list[Case]:
    model = f"{work / 'models' / 'tiny.py'}:make_model"
    cases = []
    for i in range(n):
        rng = random.Random(f"{seed}:spec:{i}")
        flag = rng.choice(("--quant", "--sparsity"))
        valid = VALID_QUANT if flag == "--quant" else VALID_SPARSE
        r = rng.random()
        if r < 0.1:
            value = rng.choice(['{"*": "nf4:g64"}', '{"*": 5}', "{}", "[1, 2]", '{"*": null}', "{not json",
                                '{"fc1": "2:4", "*": "unstructured:0.9"}', '{"*": ["nf4"]}', "{\"\xff\": 1}"])
        else:
            pattern = rng.choice(("*", "fc1", "fc2", "*.fc1", "", "[", "fc?", "*" * 50, "=", "\xff", "nothing"))
            value = f"{pattern}={_mutate_spec(rng, valid) if rng.random() < 0.85 else rng.choice(valid)}"
        argv = ["run", model, "--repeat", "1", "--threads", "1", flag, value]
        if rng.random() < 0.2:
            argv += [rng.choice(("--quant", "--sparsity")), f"*={_mutate_spec(rng, VALID_QUANT + VALID_SPARSE)}"]
        cases.append(Case("spec", " ".join(argv[4:])[:100], [Step("step_cli", (argv,), 120.0)]))
    return cases


_INPUT_SPECS = [
    "randn(2,16)", "randn(0,16)", "randn(2,0)", "randn(-1,16)", "randn(2,16,dtype=float64)",
    "randint(0,10,(2,16))", "randn(2,16,dtype=int8)", "zeros(2,16,dtype=complex64)", "randn(2,16,dtype='float32')",
    "randn(100000,100000,100000)", "randn(2**62)", "randn(1e3)", "randn(True)", "randn(2,16)[0]", "randint(10,0,(2,))",
    "__import__('os').system('true')", "randn(*[2,16])", "randn(2,16,device='meta')", "ones(16)", "rand(2,3,16)",
    "randn()", "randn(2,16,dtype=bool)", "randn(2,16,dtype=int64)", "ones(2,16,dtype=bool)", "zeros(2,16,dtype=bfloat16)",
    "randn(2, 16", "randn(2,16))", "randn[2,16]", "", "   ", "randn(2,16,dtype=float32,requires_grad=True)",
    "x" * 5000, "randn(" + "1," * 300 + "16)", "randn(2,16,dtype=float32,dtype=float64)", "eye(16)",
    "randint(0,10)", "randint(0,10,(2,16),dtype=float32)", "rand(2,16,dtype=float16)", "randn(2,16,dtype=None)",
]


def cli_cases(n: int, seed: int, work: Path) -> list[Case]:
    models = work / "models"
    tiny = f"{models / 'tiny.py'}:make_model"
    out = work / "cli-out"
    cases = []
    for i in range(n):
        rng = random.Random(f"{seed}:cli:{i}")
        command = rng.choice(("run", "compile"))
        folder = out / f"{i:05d}"
        argv = [command, tiny, "--threads", "1"] + (["--repeat", "1"] if command == "run" else ["-o", str(folder)])
        what = rng.randrange(10)
        if what == 0:
            argv[1] = rng.choice([f"{models / name}.py:make_model" for name in BAD_MODELS])
        elif what == 1:
            argv[1] = rng.choice(["", ":", "tiny.py", f"{models}:make_model", f"{models / 'tiny.py'}:",
                                  f"{models / 'tiny.py'}:nothing", f"{models / 'tiny.py'}:torch",
                                  "/dev/null:make_model", f"{models / 'tiny.py'}:make_model:extra", "\xff.py:f",
                                  f"{models / 'tiny.py'}:Tiny", "/proc/self/status:make_model"])
        elif what == 2:
            argv += ["--example-input", rng.choice(_INPUT_SPECS)]
            if rng.random() < 0.3:
                argv += ["--example-input", rng.choice(_INPUT_SPECS)]
        elif what == 3:
            i_threads = argv.index("--threads") + 1
            argv[i_threads] = rng.choice(["0", "-1", "100000", "256", "255", "abc", "", "1.5", str(2**63), "2"])
        elif what == 4 and command == "run":
            argv[argv.index("--repeat") + 1] = rng.choice(["0", "-1", "x", "", "1e3", "2"])
        elif what == 4 or what == 5:
            if command == "compile":
                argv[argv.index("-o") + 1] = rng.choice([
                    "", str(models / "tiny.py"), "/proc/sparcc-nope", str(out / "a" / "b" / "c"), "/proc",
                    str(out / ("x" * 300)), str(out / "new\nline"), "-", str(work / "base-artifact-ro"), "."])
            else:
                argv += ["--target", rng.choice(["gpu", "hls", "", "CPU", "fpga", "\xff", "cpu "])]
        elif what == 6:
            pos = rng.randrange(len(argv) + 1)
            argv.insert(pos, rng.choice(["--bogus", "-x", "--threads", "--example-input", "--quant", "-o", "--",
                                          "--report", "--help", "--version", "run", "compile", "-"]))
        elif what == 7:
            drop = rng.randrange(len(argv))
            argv.pop(drop)
        elif what == 8:
            argv = rng.choice([[], ["--version"], ["bogus"], ["run"], ["compile"], ["compile", tiny],
                               ["-h"], ["run", "--help"], ["\xff"], ["run", tiny, "--threads"]])
        else:
            argv += ["--" + "".join(rng.choice(string.ascii_lowercase + "-") for _ in range(rng.randint(1, 12)))]
        cases.append(Case("cli", " ".join(argv)[:100], [Step("step_cli", (argv,), 120.0)]))
    return cases


DAMAGES = ("truncate", "empty", "flip", "delete", "folder", "append", "zeros", "swap")


def damage(path: str, how: str, offset_fraction: float) -> None:
    """Damages one file in place (the corpus's cache and artifact cases)."""
    p = Path(path)
    data = p.read_bytes() if p.is_file() else b""
    at = int(offset_fraction * max(len(data) - 1, 0))
    if how == "truncate":
        p.write_bytes(data[:at])
    elif how == "empty":
        p.write_bytes(b"")
    elif how == "flip":
        p.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:] if data else b"\xff")
    elif how == "delete":
        p.unlink()
    elif how == "folder":
        p.unlink()
        p.mkdir()
    elif how == "append":
        p.write_bytes(data + b"\x00garbage\xff" * 16)
    elif how == "zeros":
        p.write_bytes(data[:at] + b"\x00" * min(4096, len(data) - at) + data[at + 4096:])
    elif how == "swap":  # another file of the same folder in its place
        others = sorted(q for q in p.parent.iterdir() if q.is_file() and q != p)
        p.write_bytes(others[0].read_bytes() if others else b"")


def copy_and_damage(src: str, dst: str, relative: str, how: str, offset_fraction: float) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)
    matches = sorted(Path(dst).glob(relative))
    if matches:
        damage(str(matches[0]), how, offset_fraction)


def copy_folder(src: str, dst: str) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)


CACHE_FILES = ("jit/*/libmodel.so", "jit/*/libsparcc_rt.so", "jit/*/entry.json", "jit/*/linalg.mlir",
               "runtime-*/libsparcc_rt.so")
ARTIFACT_FILES = ("libmodel.so", "libsparcc_rt.so", "weights.safetensors", "manifest.json", "model.h", "report.txt")


def cache_cases(n: int, seed: int, work: Path) -> list[Case]:
    tiny = str(work / "models" / "tiny.py")
    cases = []
    for i in range(n):
        rng = random.Random(f"{seed}:cache:{i}")
        relative = CACHE_FILES[i % len(CACHE_FILES)] if i < 2 * len(CACHE_FILES) else rng.choice(CACHE_FILES)
        how = DAMAGES[(i // len(CACHE_FILES)) % len(DAMAGES)] if i < 2 * len(CACHE_FILES) else rng.choice(DAMAGES)
        where = rng.random()
        dst = str(work / "cache-case")
        env_step = Step("step_in_cache", (dst, tiny), 180.0)
        cases.append(Case("cache", f"{relative} {how} at {where:.2f}", [env_step, env_step],
                          setup=("copy_and_damage", (str(work / "base-cache"), dst, relative, how, where))))
    return cases


def step_in_cache(cache_dir: str, model_file: str) -> int:
    os.environ["SPARCC_CACHE_DIR"] = cache_dir
    return step_jit_tiny(model_file)


_BAD_RECOMPILES = ("unsupported_op", "raises", "none", "model_raises", "syntax")


def artifact_cases(n: int, seed: int, work: Path) -> list[Case]:
    models = work / "models"
    tiny = str(models / "tiny.py")
    base = str(work / "base-artifact")
    dst = str(work / "artifact-case")
    cases = []
    for i in range(n):
        rng = random.Random(f"{seed}:artifact:{i}")
        r = rng.random() if i >= len(ARTIFACT_FILES) else 0.0
        if r < 0.7:
            relative = ARTIFACT_FILES[i % len(ARTIFACT_FILES)] if i < len(ARTIFACT_FILES) else rng.choice(ARTIFACT_FILES)
            how = rng.choice(DAMAGES)
            where = rng.random()
            cases.append(Case("artifact", f"{relative} {how} at {where:.2f}",
                              [Step("step_load", (dst, tiny), 60.0)],
                              setup=("copy_and_damage", (base, dst, relative, how, where))))
        elif r < 0.85:  # a failing recompile into a good artifact must leave it loadable
            bad = rng.choice(_BAD_RECOMPILES)
            argv = ["compile", f"{models / bad}.py:make_model", "-o", dst, "--threads", "1"]
            if rng.random() < 0.5:
                argv = ["compile", f"{tiny}:make_model", "-o", dst, "--threads", "1",
                        rng.choice(("--quant", "--sparsity", "--example-input")),
                        rng.choice(("*=nf4:g7", "*=bsr:3x3", "randn(2,15)", "randn(0,16)", "fc1=2:4;fc1=int8"))]
            cases.append(Case("artifact", f"recompile {' '.join(argv[1:])[:70]}",
                              [Step("step_cli", (argv,), 120.0), Step("step_load", (dst, tiny, True), 60.0)],
                              setup=("copy_folder", (base, dst))))
        else:  # a recompile killed part way must leave the old artifact loadable
            after = rng.uniform(0.5, 6.0)
            cases.append(Case("artifact", f"recompile killed after {after:.1f} s",
                              [Step("step_compile_artifact", (tiny, dst), 120.0, kill_after=after),
                               Step("step_load", (dst, tiny, True), 60.0)],
                              setup=("copy_folder", (base, dst))))
    return cases


_DTYPES = ["int64", "int32", "int16", "int8", "uint8", "bool", "float64", "float16", "bfloat16", "complex64"]
TENSOR_RECIPES = [
    "torch.randn(0, 16)", "torch.randn(2, 0)", "torch.randn(0, 0)", "torch.randn(0)",
    *(f"torch.randn(2, 16).to(torch.{d})" if d not in ("int64", "int32", "int16", "int8", "uint8", "bool")
      else f"torch.randint(0, 3, (2, 16)).to(torch.{d})" for d in _DTYPES),
    "torch.randn(16, 2).t()", "torch.randn(2, 32)[:, ::2]", "torch.randn(1, 16).expand(2, 16)",
    "torch.randn(2, 16, 2)[..., 0]", "torch.randn(4, 16)[1:3]", "torch.randn(2, 16).as_strided((2, 16), (1, 2))",
    "torch.full((2, 16), nan)", "torch.full((2, 16), inf)", "torch.full((2, 16), -inf)",
    "torch.tensor([[nan, inf, -inf, 1e-45, 3e38, -3e38, 0.0, -0.0] * 2] * 2)",
    "torch.zeros(1, 16).expand(2**31, 16)", "torch.zeros(1, 1).expand(2**20, 2**20)",
    "torch.zeros(2**40, 16, device='meta')", "torch.zeros(2, 16, device='meta')",
    "torch.tensor(1.0)", "torch.randn(16)", "torch.randn(2, 3, 16)", "torch.randn(1, 1, 1, 1, 1, 1, 2, 16)",
    "torch.randn(2, 16, requires_grad=True)", "torch.randn(2, 16).to_sparse()", "torch.randn(2, 16).to_sparse_csr()",
    "None", "3", "'hello'", "[torch.randn(2, 16)]", "(torch.randn(2, 16), torch.randn(2, 16))", "()",
    "{'x': torch.randn(2, 16)}", "torch.randn(2, 16).numpy()", "torch.randn(2, 17)", "torch.randn(2, 15)",
    "torch.randn(2, 16).to(memory_format=torch.contiguous_format)", "torch.randn(2, 16, 4, 4).to(memory_format=torch.channels_last)",
    "torch.randn(2, 16, dtype=torch.float32).view(torch.int32)", "torch.randn(2, 16).nan_to_num().fill_(1e30)",
    "torch.empty(2, 16).fill_(nan).as_strided((2, 16), (0, 0))",
]


def tensor_cases(n: int, seed: int, work: Path) -> list[Case]:
    functions = ["linear", "elementwise", "softmax", "sum", "matmul_t", "two_inputs"]
    cases = []
    for i in range(n):
        rng = random.Random(f"{seed}:tensor:{i}")
        recipe = TENSOR_RECIPES[i] if i < len(TENSOR_RECIPES) else rng.choice(TENSOR_RECIPES)
        function = rng.choice(functions)
        if function == "two_inputs" and not recipe.startswith("("):
            recipe = f"({recipe}, torch.randn(2, 16))" if rng.random() < 0.5 else recipe
        warm = rng.random() < 0.3
        cases.append(Case("tensor", f"{function}({recipe}){' after a normal call' if warm else ''}",
                          [Step("step_tensor", (function, recipe, warm), 120.0)]))
    return cases


GENERATORS = {"opt": opt_cases, "cli": cli_cases, "spec": spec_cases, "cache": cache_cases,
              "artifact": artifact_cases, "tensor": tensor_cases}


def counts(cases: int | None, fast: bool, only: Sequence[str] | None) -> dict[str, int]:
    kinds = list(only or KINDS)
    if fast:
        return {k: FAST[k] for k in kinds}
    total = cases or 2000
    return {k: max(1, round(total * SHARES[k])) for k in kinds}  # --only: those kinds' share of the corpus


def prepare(work: Path, kinds: Sequence[str], env: dict[str, str], log: Callable[[str], None]) -> None:
    """The corpus's files: user models, a good cache and a good artifact."""
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "tiny.py").write_text(TINY_MODEL)
    for name, source in BAD_MODELS.items():
        (models / f"{name}.py").write_bytes(source.encode("latin-1") if name == "binary" else source.encode())
    tiny = str(models / "tiny.py")
    if "cache" in kinds and not (work / "base-cache").exists():
        log("preparing a good cache entry")
        how, code, _ = _exec_step(Step("step_in_cache", (str(work / "base-cache"), tiny), 300.0),
                                  work / "prepare.out", env)
        if (how, code) != ("exit", 0):
            raise RuntimeError(f"building the good cache entry failed:\n{(work / 'prepare.out').read_text()}")
    if ("artifact" in kinds or "cli" in kinds) and not (work / "base-artifact").exists():
        log("preparing a good artifact")
        how, code, _ = _exec_step(Step("step_compile_artifact", (tiny, str(work / "base-artifact")), 300.0),
                                  work / "prepare.out", env)
        if (how, code) != ("exit", 0):
            raise RuntimeError(f"building the good artifact failed:\n{(work / 'prepare.out').read_text()}")
        copy_folder(str(work / "base-artifact"), str(work / "base-artifact-ro"))


def _preload() -> None:
    """Imports what the cases use once, in the server, so forks start warm
    (imports only: no threads, no computation, nothing a fork could break)."""
    import sparcc.artifact  # noqa: F401
    import sparcc.cli  # noqa: F401
    import sparcc.driver  # noqa: F401
    import sparcc.jit_function  # noqa: F401
    import sparcc.opt  # noqa: F401
    import sparcc.quantize  # noqa: F401
    import sparcc.sparsify  # noqa: F401
    import sparcc.backends.cpu  # noqa: F401
    from sparcc.passes import PASSES  # noqa: F401


def run(counts_: dict[str, int], seed: int, work: Path, log: Callable[[str], None] = print,
        progress: bool = True) -> list[Result]:
    _preload()
    cwd = work / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    env = {"SPARCC_CACHE_DIR": str(work / "cache"), "SPARCC_TRACEBACK": "", "FUZZ_CWD": str(cwd)}
    prepare(work, list(counts_), env, log)
    results = []
    for kind, n in counts_.items():
        cases = GENERATORS[kind](n, seed, work)
        start = time.perf_counter()
        for j, case in enumerate(cases):
            results.append(run_case(case, work, env))
            if progress:
                r = results[-1]
                mark = "" if r.verdict == "clean" else f"  <- {r.verdict}"
                log(f"[{kind} {j + 1}/{n} {time.perf_counter() - start:6.1f}s] {r.seconds:5.1f}s {case.name[:90]}{mark}")
    return results


def table(results: list[Result]) -> str:
    by = {k: Counter(r.verdict for r in results if r.case.kind == k) for k in KINDS}
    kinds = [k for k in KINDS if by[k]]
    seconds = {k: sum(r.seconds for r in results if r.case.kind == k) for k in kinds}
    head = "| kind | cases | " + " | ".join(CLASSES) + " | seconds |"
    rows = [head, "| " + " | ".join(["---"] * (len(CLASSES) + 3)) + " |"]
    for k in kinds:
        rows.append(f"| {k} | {sum(by[k].values())} | " + " | ".join(str(by[k][c]) for c in CLASSES)
                    + f" | {seconds[k]:.0f} |")
    total = Counter(r.verdict for r in results)
    rows.append(f"| all | {len(results)} | " + " | ".join(str(total[c]) for c in CLASSES)
                + f" | {sum(seconds.values()):.0f} |")
    return "\n".join(rows)


def failures(results: list[Result], limit: int = 20) -> str:
    out = []
    for r in [r for r in results if r.verdict not in ("clean", "known")][:limit]:
        tail = "\n".join(r.output.strip().splitlines()[-12:])
        out.append(f"--- {r.case.kind}: {r.verdict}: {r.case.name}\n{tail}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=2000, help="cases in the whole corpus, shared among the kinds (default 2000); "
                   "with --only, those kinds' share of it")
    p.add_argument("--fast", action="store_true", help="the CI subset (test_fuzz.py): a fixed count per kind")
    p.add_argument("--only", action="append", choices=KINDS, help="only these kinds (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", help="folder for the corpus's files (default: a temporary one, removed)")
    p.add_argument("--json", help="write every case's verdict here")
    p.add_argument("--show", type=int, default=20, help="print this many failures")
    p.add_argument("--quiet", action="store_true", help="no line per case")
    opts = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stops the running case too
    work = Path(opts.work) if opts.work else Path(tempfile.mkdtemp(prefix="sparcc-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = run(counts(opts.cases, opts.fast, opts.only), opts.seed, work, progress=not opts.quiet)
    finally:
        if not opts.work:
            shutil.rmtree(work, ignore_errors=True)
    if opts.json:
        Path(opts.json).write_text(json.dumps(
            [{"kind": r.case.kind, "name": r.case.name, "verdict": r.verdict, "seconds": round(r.seconds, 2),
              "output": r.output[-4000:] if r.verdict != "clean" else ""} for r in results], indent=1))
    print(failures(results, opts.show))
    print(table(results))
    return 0 if all(r.verdict in ("clean", "known") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
