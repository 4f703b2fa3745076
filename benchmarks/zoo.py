"""
Runs the model zoo (benchmarks/zoo_models.py) through sparcc: per model, the
compile time, the error against eager, a status, and the speed of sparcc and
of torch.compile (Inductor, CPU) against eager at 1 and 2 threads, with the
peak working memory of eager and sparcc (the most a call adds to what the
process holds), and the MiB of weight copies (packed, transposed) that the
compiled program holds on top of the model's own parameters.

    python benchmarks/zoo.py                                 # every model
    python benchmarks/zoo.py --family hf --json zoo-hf.json
    python benchmarks/zoo.py --only resnet18 --only 'hf/*' --no-speed
    python benchmarks/zoo.py --only 'hf/*' --json benchmarks/results/zoo.json --plot benchmarks/results/zoo.png

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
link, load. The peers (benchmarks/peers.py: torch.compile, ONNX Runtime,
OpenVINO; --peers, default those installed) are built once per team size
(Inductor fixes the OpenMP team size in its code) and timed in alternating
blocks with eager at that size; the summary gives each one's geomean
against eager and sparcc's against each, over the models both ran. Peak memory: the most resident memory
that three calls add to the process (VmHWM, reset before them), plus, for
sparcc, its weight buffers that are not the model's own tensors (packed or
transposed copies, quantised codes). The table goes to stdout as markdown with
the geomean ratios under it; --json writes every field, --plot a bar chart.
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


def measure(name: str, speed: bool, threads: list[int], repeat: int, import_only: bool = False,
            chosen: list[str] | None = None) -> dict[str, Any]:
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
    if speed:  # eager and Inductor first: no sparcc thread pool spinning yet
        eager, row["eager_peak_mib"] = _time_peers(model, inputs, threads, repeat, chosen or [], row)
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
    if ours:
        # the runtime keeps freed intermediate buffers for the next call: give them
        # back first, so that the calls below count them as eager's count its own
        from sparcc.backends.cpu import release_memory

        release_memory()
        row["sparcc_peak_mib"] = _peak_mib(lambda: fast(*inputs))
        # held for as long as the program lives, on top of the model's own parameters
        row["sparcc_weight_copies_mib"] = _own_weights_mib(fast, model)
    return row


# ----------------------------------------------------------------------------
# the peers (eager, torch.compile) and memory
# ----------------------------------------------------------------------------


def _time_peers(model: Any, inputs: Any, threads: list[int], repeat: int, chosen: list[str],
                row: dict[str, Any]) -> tuple[dict[int, float], float]:
    """Eager's latency per team size and its peak working memory; and each
    `chosen` peer's (benchmarks/peers.py: torch.compile, ONNX Runtime,
    OpenVINO), built for that team size (Inductor fixes the OpenMP team size
    in the code it writes; the others take it as an option) and timed in
    alternating blocks with eager at that size. Row keys per peer P:
    P_ms, P_speedup (eager / P), P_compile_s, and P_message if it failed."""
    import peers
    import torch
    from timing import blocked_median_ms

    eager: dict[int, float] = {}
    active = list(chosen)
    for n in threads:
        torch.set_num_threads(n)
        calls, names = [lambda: model(*inputs)], []
        for peer in list(active):
            start = time.perf_counter()
            try:
                fn = peers.make(peer, model, inputs, n)
                with torch.no_grad():
                    fn()
            except Exception as e:  # noqa: BLE001 (the peer's failure is reported, not fatal)
                row[f"{peer}_message"] = _first_line(str(e)) if isinstance(e, peers.PeerError) else \
                    f"{type(e).__name__}: {_first_line(str(e))}"
                active.remove(peer)
                continue
            row.setdefault(f"{peer}_compile_s", {})[str(n)] = time.perf_counter() - start
            calls.append(fn)
            names.append(peer)
        with torch.no_grad():
            ms = blocked_median_ms(calls, repeat, slow_s=0.25,
                                   setups=[lambda n=n: torch.set_num_threads(n)] * len(calls))
        eager[n] = ms[0]
        for peer, t in zip(names, ms[1:]):
            row.setdefault(f"{peer}_ms", {})[str(n)] = t
            row.setdefault(f"{peer}_speedup", {})[str(n)] = eager[n] / t
    torch._dynamo.reset()
    return eager, _peak_mib(lambda: model(*inputs))


def _peak_mib(call: Any) -> float:
    """The most resident memory (MiB) that three calls of `call` add to what
    the process holds before them: the working memory of a call (Linux's
    VmHWM, reset through /proc/self/clear_refs after returning freed heap to
    the system). NaN where the kernel does not offer it."""
    import ctypes

    import torch

    def status(field: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return float("nan")
    before = status("VmRSS")
    with torch.no_grad():
        for _ in range(3):
            call()
    return max(0.0, status("VmHWM") - before)


def _own_weights_mib(program: Any, model: Any) -> float:
    """MiB of the compiled program's weight buffers that are copies (packed,
    transposed, quantised) rather than the model's own tensors: memory that
    sparcc holds on top of the model."""
    shared = {p.untyped_storage().data_ptr() for p in [*model.parameters(), *model.buffers()]}
    # a JitFunction holds one CompiledProgram per signature it has compiled
    programs = list(program.cache.values()) if hasattr(program, "cache") else [program]
    own = {w.untyped_storage().data_ptr(): w.untyped_storage().nbytes() for p in programs for w in p.weights
           if w.untyped_storage().data_ptr() not in shared}
    return sum(own.values()) / 2**20


def _leaves(value: Any) -> list[Any]:
    from torch.utils import _pytree as pytree

    return pytree.tree_leaves(value)


def _chosen_peers(args: argparse.Namespace) -> list[str]:
    import peers

    if args.peers is None:
        chosen = peers.available()
    else:
        chosen = [p for p in args.peers.split(",") if p]
        unknown = [p for p in chosen if p not in peers.PEERS]
        if unknown:
            raise SystemExit(f"zoo.py: unknown peer(s) {', '.join(unknown)} (one of {', '.join(peers.PEERS)})")
    return [p for p in chosen if not (args.no_inductor and p == "inductor")]


def child(args: argparse.Namespace) -> int:
    threads = [int(t) for t in args.threads.split(",")]
    row = measure(args.child, not args.no_speed and not args.import_only, threads, args.repeat, args.import_only,
                  _chosen_peers(args))
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
        cmd += ["--no-speed"] * args.no_speed + ["--import-only"] * args.import_only + ["--no-inductor"] * args.no_inductor
        cmd += ["--peers", args.peers] if args.peers is not None else []
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
    return "" if value is None else (f"{value:.2f}x" if key.endswith("speedup") else f"{value:.2f}")


def geomeans(rows: list[dict[str, Any]], key: str, n: str) -> tuple[float, int, float]:
    """Geomean of the speed ratios `key` at `n` threads over the rows that
    have one, how many, and the smallest."""
    import math

    ratios = [r[key][n] for r in rows if n in r.get(key, {})]
    if not ratios:
        return float("nan"), 0, float("nan")
    return math.exp(sum(map(math.log, ratios)) / len(ratios)), len(ratios), min(ratios)


PEER_NAMES = {"inductor": "torch.compile", "ort": "ONNX Runtime", "openvino": "OpenVINO"}


def _peers_in(rows: list[dict[str, Any]]) -> list[str]:
    return [p for p in PEER_NAMES if any(f"{p}_ms" in r for r in rows)]


def table(rows: list[dict[str, Any]], threads: list[str]) -> str:
    timed_peers = _peers_in(rows)
    head = ["model", "status", "compile s", "error"]
    for n in threads:
        head += [f"eager {n}t ms"] + [f"{p} {n}t ms" for p in timed_peers] + [f"sparcc {n}t ms", f"speed {n}t"]
        head += [f"{p} speed {n}t" for p in timed_peers]
    if any("sparcc_peak_mib" in r for r in rows):
        head += ["peak MiB eager/sparcc", "weight copies MiB"]
    head.append("message")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [r["name"], r["status"], f"{r['compile_s']:.1f}" if "compile_s" in r else "",
                 f"{r['error']:.1e}" if "error" in r else ""]
        for n in threads:
            cells += [_ms(r, "eager_ms", n)] + [_ms(r, f"{p}_ms", n) for p in timed_peers]
            cells += [_ms(r, "sparcc_ms", n), _ms(r, "speedup", n)] + [_ms(r, f"{p}_speedup", n) for p in timed_peers]
        if "peak MiB eager/sparcc" in head:
            cells.append(f"{r['eager_peak_mib']:.1f}/{r['sparcc_peak_mib']:.1f}" if "sparcc_peak_mib" in r else "")
            cells.append(f"{r['sparcc_weight_copies_mib']:.0f}" if "sparcc_weight_copies_mib" in r else "")
        message = summary(r)
        failed = [f"{PEER_NAMES[p]}: {_first_line(r[p + '_message'], 80)}" for p in PEER_NAMES if f"{p}_message" in r]
        cells.append("; ".join([message] * bool(message) + failed).replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    totals = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    text = "\n".join(lines) + f"\n\n{len(rows)} models: {totals}\n"
    for n in threads:
        for key, who in [("speedup", "sparcc")] + [(f"{p}_speedup", PEER_NAMES[p]) for p in timed_peers]:
            g, count, worst = geomeans(rows, key, n)
            if count:
                text += f"{n} thread(s): {who} / eager geomean {g:.2f}x over {count} models (lowest {worst:.2f}x)\n"
        for p in timed_peers:  # side by side: only the models both ran
            both = [r for r in rows if n in r.get("sparcc_ms", {}) and n in r.get(f"{p}_ms", {})]
            if both:
                ratios = [{"r": {n: r[f"{p}_ms"][n] / r["sparcc_ms"][n]}} for r in both]
                g, count, worst = geomeans(ratios, "r", n)
                text += (f"{n} thread(s): sparcc against {PEER_NAMES[p]} ({p} time / sparcc time) geomean {g:.2f}x "
                         f"over {count} models (lowest {worst:.2f}x)\n")
    return text


def plot(rows: list[dict[str, Any]], threads: list[str], path: str) -> None:
    """A bar chart of eager time / sparcc time (and / torch.compile time)
    per model and team size, log scale, 1x marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in rows if r.get("speedup")]
    series = [(key, n) for n in threads for key in ["speedup"] + [f"{p}_speedup" for p in _peers_in(timed)]
              if any(n in r.get(key, {}) for r in timed)]
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(timed) + 2), 4.5))
    for k, (key, n) in enumerate(series):
        values = [r.get(key, {}).get(n, float("nan")) for r in timed]
        who = "sparcc" if key == "speedup" else PEER_NAMES[key.removesuffix("_speedup")]
        g, _, _ = geomeans(timed, key, n)
        ax.bar([i + k * width for i in range(len(timed))], values, width, label=f"{who}, {n} thread(s) (geomean {g:.2f}x)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("eager time / time (higher is faster)")
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(timed))])
    ax.set_xticklabels([r["name"] for r in timed], rotation=60, ha="right", fontsize=7)
    ax.legend(fontsize=7)
    ax.set_title("model zoo, batch 1: speed against PyTorch eager")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


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
    p.add_argument("--no-inductor", action="store_true", help="do not time torch.compile (Inductor)")
    p.add_argument("--peers", metavar="LIST",
                   help="comma-separated peers to time beside eager: inductor, ort (ONNX Runtime), openvino "
                        "(default: those installed; --no-inductor drops inductor; '' for none)")
    p.add_argument("--json", metavar="FILE", help="write every row as JSON")
    p.add_argument("--plot", metavar="PNG", help="bar chart of the speed against eager per model (matplotlib)")
    p.add_argument("--list", action="store_true", help="list the selected models and exit")
    p.add_argument("--table", metavar="FILE", help="print the table of a JSON file that --json wrote, and exit")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    if args.table:
        data = json.loads(Path(args.table).read_text())
        threads = [] if all("eager_ms" not in r for r in data["results"]) else data["threads"]
        print(table(data["results"], threads))
        if args.plot and threads:
            plot(data["results"], threads, args.plot)
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
    if args.plot and not (args.no_speed or args.import_only):
        plot(rows, threads, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
