"""
How much of PyTorch's OpInfo database (`op_db`, every op and variant, not
only test_opinfo.py's allowlist) sparcc compiles and gets right.

    python benchmarks/opinfo_coverage.py [--dtype float32] [--samples 4] [--only NAME ...]

For each OpInfo entry that declares the dtype: its first `--samples`
samples that eager PyTorch accepts (no zero-size tensors) are compiled as
one function with `sparcc.jit` and compared with eager (test_opinfo's
tolerances). Each entry ends as `pass`, `rejected` (a sparcc.SparccError:
an unsupported op or a limit, with its message), `MISMATCH` (wrong
values: a bug, unless the op's result is not deterministic, e.g. `empty`),
`CRASH` (any other exception: a bug), `timeout`, or `nodtype` /
`nosamples`. A process that dies (a segfault would) is restarted after the
entry, which is recorded as `PROCESS_DIED`.

Writes benchmarks/results/opinfo_coverage_<dtype>.jsonl (one line per
entry; an existing file is resumed, delete it to start over) and prints
the counts and the missing ATen ops by how many entries need them.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sweep(path: Path, dtype_name: str, samples: int, only: list[str]) -> None:
    sys.path.insert(0, str(ROOT / "test" / "python"))
    import sparcc
    import test_opinfo as T
    import torch

    dtype = getattr(torch, dtype_name)
    done = {json.loads(line)["op"] for line in path.read_text().splitlines()} if path.exists() else set()

    class Timeout(Exception):
        pass

    def alarm(*_):
        raise Timeout

    signal.signal(signal.SIGALRM, alarm)
    for name, variant in sorted(T.OPS):
        label = f"{name}.{variant}" if variant else name
        if label in done or (only and label not in only):
            continue
        (path.parent / (path.name + ".current")).write_text(label)
        op, rec = T.OPS[(name, variant)], {"op": label}
        try:
            signal.alarm(180)
            if dtype not in op.supported_dtypes("cpu"):
                rec["status"] = "nodtype"
            else:
                chosen = []
                for s in T._samples(op, dtype, True):
                    chosen.append(s)
                    if len(chosen) >= samples:
                        break
                if not chosen:
                    rec["status"] = "nosamples"
                else:
                    fn, tensors = T._batched(op, chosen)
                    with torch.no_grad():
                        want = fn(*tensors)
                    got = sparcc.jit(fn)(*tensors)
                    for k, (g, w) in enumerate(zip(got, want)):
                        T._compare(g, w, f"sample {k} {chosen[k].summary()}")
                    rec["status"] = "pass"
        except Timeout:
            rec["status"] = "timeout"
        except sparcc.SparccError as e:
            rec |= {"status": "rejected", "msg": str(e)[:600]}
        except AssertionError as e:
            rec |= {"status": "MISMATCH", "msg": str(e)[:600]}
        except Exception as e:  # noqa: BLE001 (recorded: a crash is a finding)
            rec |= {"status": "CRASH", "msg": f"{type(e).__name__}: {e}"[:600], "tb": traceback.format_exc()[-1500:]}
        finally:
            signal.alarm(0)
        with path.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(label, rec["status"], flush=True)


def _report(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    print(dict(collections.Counter(r["status"] for r in rows)))
    missing = collections.Counter()
    for r in rows:
        if r["status"] == "rejected" and "unsupported operation" in r.get("msg", ""):
            missing.update(set(re.findall(r"aten\.[\w.]+", r["msg"])))
    print("missing ATen ops (entries needing them):")
    for op, n in missing.most_common():
        print(f"  {n:3d} {op}")
    for r in rows:
        if r["status"] in ("MISMATCH", "CRASH", "PROCESS_DIED", "timeout"):
            print(f"{r['status']}: {r['op']}: {r.get('msg', '')[:200]!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    path = ROOT / "benchmarks" / "results" / f"opinfo_coverage_{args.dtype}.jsonl"
    if args.worker:
        _sweep(path, args.dtype, args.samples, args.only)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    current = path.parent / (path.name + ".current")
    for _ in range(50):  # restarts after a process that died
        cmd = [sys.executable, __file__, "--worker", "--dtype", args.dtype, "--samples", str(args.samples)]
        for o in args.only:
            cmd += ["--only", o]
        if subprocess.run(cmd, env=os.environ).returncode == 0:
            break
        with path.open("a") as f:
            f.write(json.dumps({"op": current.read_text(), "status": "PROCESS_DIED"}) + "\n")
    current.unlink(missing_ok=True)
    _report(path)


if __name__ == "__main__":
    main()
