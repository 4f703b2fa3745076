"""
Runs the model zoo (benchmarks/zoo_models.py) through sparcc: per model, the
compile time, the error against eager, a status and the speed against eager
at 1 and 2 threads.

    python benchmarks/zoo.py                                 # every model
    python benchmarks/zoo.py --family hf --json zoo-hf.json
    python benchmarks/zoo.py --only resnet18 --only 'hf/*' --no-speed

Each model runs in its own process (a crash or a hang costs one row) with a
time limit (--timeout, seconds, for the whole row). Status:

  ok           compiled; error <= the entry's tolerance
  mismatch     compiled; error above it
  unsupported  sparcc.UnsupportedOpError (its message is in the row)
  error        another sparcc.SparccError (e.g. a failing MLIR stage)
  crash        any other exception (a bug: users must get a SparccError),
               or the process died (signal)
  timeout      the row took longer than --timeout
  skipped      the model itself did not build or run in eager (not sparcc's fault)
  imports      (--import-only) the frontend imported it into the nn dialect

Error: max |sparcc - eager| / max |eager| over the outputs (float32), as
zoo_models.error defines it. Speed: the median latency (benchmarks/timing.py)
of eager with torch.set_num_threads(N) and of sparcc.jit(model, threads=N),
N = 1 and 2. Eager is timed first, before sparcc's thread pool exists (a
spinning pool slows eager). Compile time is the first call of
sparcc.jit(model, threads=1, cache=False): export, import, passes, LLVM,
link, load. The table goes to stdout as markdown; --json writes every field.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import zoo_models  # noqa: E402


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    if "site-packages/" in line:  # ".../torch/nn/modules/activation.py:143" is enough
        head, _, rest = line.partition(" at ")
        line = f"{head} at {rest.rpartition('site-packages/')[2]}" if rest else line
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ----------------------------------------------------------------------------
# one model, in a child process
# ----------------------------------------------------------------------------


def measure(name: str, speed: bool, threads: list[int], repeat: int, import_only: bool = False) -> dict[str, Any]:
    import sparcc
    import torch
    from timing import blocked_median_ms

    entry = zoo_models.MODELS[name]
    row: dict[str, Any] = {"name": name, "family": entry.family, "kind": entry.kind, "tol": entry.tol,
                           "notes": entry.notes}
    try:
        model = entry.build()
        inputs = entry.inputs()
        with torch.no_grad():
            want = model(*inputs)
    except Exception as e:  # noqa: BLE001 (the model's own failure, not sparcc's)
        return {**row, "status": "skipped", "message": f"eager: {type(e).__name__}: {_first_line(str(e))}"}
    row["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)

    eager: dict[int, float] = {}
    if speed:  # eager first: no sparcc thread pool spinning yet
        def eager_call() -> Any:
            return model(*inputs)

        ms = blocked_median_ms(
            [eager_call] * len(threads), repeat, slow_s=0.25,
            setups=[lambda n=n: torch.set_num_threads(n) for n in threads],
        )
        eager = dict(zip(threads, ms))
        row["eager_ms"] = {str(n): eager[n] for n in threads}

    programs = {}
    start = time.perf_counter()
    try:
        if import_only:
            from sparcc.frontend import import_module

            import_module(model, inputs)
            return {**row, "status": "imports", "compile_s": time.perf_counter() - start}
        programs[threads[0]] = fast = sparcc.jit(model, threads=threads[0], cache=False)
        got = fast(*inputs)
    except sparcc.UnsupportedOpError as e:
        return {**row, "status": "unsupported", "message": str(e), "compile_s": time.perf_counter() - start}
    except sparcc.SparccError as e:
        return {**row, "status": "error", "message": f"{type(e).__name__}: {e}",
                "compile_s": time.perf_counter() - start}
    except Exception as e:  # noqa: BLE001 (a raw exception out of sparcc is what this row reports)
        return {**row, "status": "crash", "message": f"{type(e).__name__}: {str(e)[:2000]}",
                "traceback": "".join(traceback.format_tb(e.__traceback__, limit=-8)),
                "compile_s": time.perf_counter() - start}
    row["compile_s"] = time.perf_counter() - start
    row["error"] = zoo_models.error(got, want)
    leaves = [(g - w).abs().max().item() for g, w in zip(_leaves(got), _leaves(want))]
    row["max_abs_error"] = max(leaves) if leaves else float("inf")
    row["status"] = "ok" if row["error"] <= entry.tol else "mismatch"
    if not speed:
        return row

    ours: dict[int, float] = {}
    for n in threads:  # one team size at a time: the runtime's pool is shared by the process
        try:
            fast = programs.get(n) or sparcc.jit(model, threads=n, cache=False)
            fast(*inputs)
        except Exception as e:  # noqa: BLE001
            row["message"] = f"threads={n}: {type(e).__name__}: {_first_line(str(e))}"
            break
        ours[n] = blocked_median_ms([lambda fast=fast: fast(*inputs)], repeat, slow_s=0.25)[0]
    row["sparcc_ms"] = {str(n): ms for n, ms in ours.items()}
    row["speedup"] = {str(n): eager[n] / ours[n] for n in ours}
    return row


def _leaves(value: Any) -> list[Any]:
    from torch.utils import _pytree as pytree

    return pytree.tree_leaves(value)


def child(args: argparse.Namespace) -> int:
    threads = [int(t) for t in args.threads.split(",")]
    row = measure(args.child, not args.no_speed and not args.import_only, threads, args.repeat, args.import_only)
    Path(args.result).write_text(json.dumps(row))
    return 0


# ----------------------------------------------------------------------------
# the parent: one process per model, with a time limit
# ----------------------------------------------------------------------------


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    entry = zoo_models.MODELS[name]
    with tempfile.TemporaryDirectory(prefix="sparcc-zoo-") as tmp:
        result = Path(tmp) / "row.json"
        log = Path(tmp) / "log.txt"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--result", str(result),
               "--threads", args.threads, "--repeat", str(args.repeat)]
        cmd += ["--no-speed"] * args.no_speed + ["--import-only"] * args.import_only
        start = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(timeout=args.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = None
        seconds = time.perf_counter() - start
        base = {"name": name, "family": entry.family, "kind": entry.kind, "tol": entry.tol, "notes": entry.notes,
                "seconds": seconds}
        if code is None:
            return {**base, "status": "timeout", "message": f"no result within {args.timeout} s"}
        if result.is_file():
            return {**base, **json.loads(result.read_text())}
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return {**base, "status": "crash", "message": f"process {how}: {tail[0]}"}


def summary(row: dict[str, Any], limit: int = 110) -> str:
    """The message column: the ATen ops an unsupported model needs, else the first line."""
    message = row.get("message", "")
    if row["status"] == "unsupported":
        ops = list(dict.fromkeys(re.findall(r"\baten\.([\w.]+?)(?:\.default)?\b(?=[\s(,]|$)", message)))
        if ops:
            return _first_line(", ".join(ops), limit)
    return _first_line(message, limit)


def _ms(row: dict[str, Any], key: str, n: str) -> str:
    value = row.get(key, {}).get(n)
    return "" if value is None else (f"{value:.2f}x" if key == "speedup" else f"{value:.2f}")


def table(rows: list[dict[str, Any]], threads: list[str]) -> str:
    head = ["model", "status", "compile s", "error"]
    for n in threads:
        head += [f"eager {n}t ms", f"sparcc {n}t ms", f"speed {n}t"]
    head.append("message")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [r["name"], r["status"], f"{r['compile_s']:.1f}" if "compile_s" in r else "",
                 f"{r['error']:.1e}" if "error" in r else ""]
        for n in threads:
            cells += [_ms(r, "eager_ms", n), _ms(r, "sparcc_ms", n), _ms(r, "speedup", n)]
        cells.append(summary(r).replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    totals = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return "\n".join(lines) + f"\n\n{len(rows)} models: {totals}\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    p.add_argument("--only", action="append", metavar="GLOB",
                   help="models whose name matches (e.g. 'resnet18', 'hf/*', 'timm/vit_*'); repeatable")
    p.add_argument("--family", choices=zoo_models.FAMILIES)
    p.add_argument("--timeout", type=float, default=600, help="seconds per model (default 600)")
    p.add_argument("--threads", default="1,2", help="thread counts to time (default 1,2)")
    p.add_argument("--repeat", type=int, default=20, help="timed calls per measurement (default 20)")
    p.add_argument("--no-speed", action="store_true", help="compile and check only")
    p.add_argument("--import-only", action="store_true",
                   help="only import into the nn dialect (status imports / unsupported; seconds per model)")
    p.add_argument("--json", metavar="FILE", help="write every row as JSON")
    p.add_argument("--list", action="store_true", help="list the selected models and exit")
    p.add_argument("--table", metavar="FILE", help="print the table of a JSON file that --json wrote, and exit")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    if args.table:
        data = json.loads(Path(args.table).read_text())
        print(table(data["results"], [] if all("eager_ms" not in r for r in data["results"]) else data["threads"]))
        return 0
    entries = zoo_models.select(args.only, args.family)
    if not entries:
        p.error("no model matches --only/--family (see --list)")
    if args.list:
        for e in entries:
            print(f"{e.name:<40} {e.kind:<8} tol {e.tol:.0e}  {e.notes}")
        return 0
    rows = []
    for i, entry in enumerate(entries):
        row = run_one(entry.name, args)
        rows.append(row)
        print(f"[{i + 1}/{len(entries)}] {row['name']}: {row['status']} ({row['seconds']:.0f} s) "
              f"{_first_line(row.get('message', ''), 100)}", file=sys.stderr, flush=True)
    threads = args.threads.split(",")
    print(table(rows, [] if args.no_speed or args.import_only else threads))
    if args.json:
        from timing import write_results

        write_results(args.json, rows, benchmark="zoo", threads=threads, timeout_s=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
