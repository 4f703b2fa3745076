"""The fuzz tier: the fast subset of benchmarks/fuzz.py's corpus.

Mutated .mlir through sparcc-opt, bad command lines and specs, damaged caches
and artifacts, odd tensors through sparcc.jit: each case in its own process,
with a time limit. Every case must end clean (a result that matches eager, or
one short sparcc message), or with a bug listed in fuzz.KNOWN; the failures
are printed with their output.
The whole corpus: `python benchmarks/fuzz.py --cases 2000`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import fuzz  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The fast subset, run once in a server process of its own (its cases
    are forked from it; this process's threads are never forked)."""
    work = tmp_path_factory.mktemp("fuzz")
    out = work / "results.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--fast", "--quiet", "--show", "0",
         "--work", str(work / "corpus"), "--json", str(out)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert out.exists(), f"the fuzz run did not finish:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", fuzz.KINDS)
def test_every_case_is_clean(corpus: list[dict], kind: str) -> None:
    cases = [r for r in corpus if r["kind"] == kind]
    assert len(cases) == fuzz.FAST[kind]
    bad = [r for r in cases if r["verdict"] not in ("clean", "known")]
    report = "\n".join(f"--- {r['verdict']}: {r['name']}\n{r['output'][-1500:]}" for r in bad)
    assert not bad, f"{len(bad)} of {len(cases)} {kind} cases are not clean:\n{report}"


def test_classify() -> None:
    """What the corpus counts as clean, and what not."""
    assert fuzz.classify("exit", 0, "ok") == "clean"
    assert fuzz.classify("exit", 1, "", "sparcc: error: --threads 0: must be at least 1") == "clean"
    parse = "f.mlir:3:8: error: expected ')'\n  %0 = nn.add(%x\n       ^"
    assert fuzz.classify("exit", 1, "", parse) == "clean"
    assert fuzz.classify("exit", 1, "", "Traceback (most recent call last):\n  ...\nValueError: x") == "traceback"
    assert fuzz.classify("signal", 7, "", "") == "crash"
    assert fuzz.classify("timeout", 0, "", "") == "hang"
    assert fuzz.classify("exit", fuzz.WRONG, "FUZZ-WRONG: output 0 differs", "") == "wrong"
    assert fuzz.classify("exit", fuzz.LOST, "FUZZ-LOST: no manifest", "") == "lost"
    assert fuzz.classify("exit", 2, "", "usage: sparcc ...\nsparcc: error: unrecognized arguments") == "unclear"
    assert fuzz.classify("exit", 1, "", "sparcc: error: x\n" + "  %0 = nn.add ...\n" * 50) == "unclear"
    assert fuzz.classify("exit", 1, "", "sparcc: error: pass 'x' failed: a sparcc bug, please report it") == "internal"


def test_corpus_is_seeded() -> None:
    """The same seed gives the same cases (a failure can be rerun)."""
    a = [c.name for c in fuzz.spec_cases(20, 7, Path("/tmp/w"))]
    b = [c.name for c in fuzz.spec_cases(20, 7, Path("/tmp/w"))]
    assert a == b and len(set(a)) > 10
