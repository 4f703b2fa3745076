"""
Where a compiled zoo model spends its time, per outlined loop nest, with the
linalg op each nest holds: compiles the model (cache off) while recording
what backends/cpu/outline.py puts into each `sparcc_nest_N`, calls it for
--seconds under `perf record`, and prints the hottest symbols with their ops.

    python benchmarks/profile_nests.py torchvision/efficientnet_b0 --threads 1
    python benchmarks/profile_nests.py timm/vit_tiny_patch16_224 --threads 2 --top 30
    python benchmarks/profile_nests.py torchvision/resnet18 --image-size 224

Needs `perf` (Debian: linux-perf). Symbols that are not nests (the C
kernels, memset, the runtime's workers) print without an op.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def nest_ops(module) -> dict[str, str]:
    """sparcc_nest_N -> the first region-holding op of its body, shortened."""
    out = {}
    for op in module.body.operations:
        if op.operation.name != "func.func":
            continue
        name = op.attributes["sym_name"].value
        if not name.startswith("sparcc_nest"):
            continue
        for inner in op.regions[0].blocks[0].operations:
            if len(inner.operation.regions):
                text = str(inner.operation)
                ins = text[text.find(" ins("):].split("{")[0] if " ins(" in text else text.split("{")[0]
                out[name] = f"{inner.operation.name}{ins}"[:220]
                break
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    p.add_argument("model", help="a zoo name, e.g. torchvision/resnet18")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--image-size", type=int, metavar="S",
                   help="feed a model that takes one image a 1x3xSxS one instead of the zoo's size")
    args = p.parse_args()
    if shutil.which("perf") is None:
        raise SystemExit("profile_nests.py: `perf` is not installed (Debian: apt-get install linux-perf)")
    import sparcc
    import torch
    import zoo_models
    from sparcc.backends.cpu import outline

    zoo_models.frameworks()
    if args.model not in zoo_models.MODELS:
        raise SystemExit(f"profile_nests.py: no zoo model '{args.model}' (python benchmarks/zoo.py --list)")
    ops: dict[str, str] = {}
    original = outline.outline_loop_nests

    def recording(module):
        counts = original(module)
        ops.update(nest_ops(module))
        return counts

    outline.outline_loop_nests = recording
    entry = zoo_models.MODELS[args.model]
    model, inputs = entry.build(), entry.inputs(args.image_size)
    torch.set_num_threads(args.threads)
    fast = sparcc.jit(model, threads=args.threads, cache=False)
    with torch.no_grad():
        fast(*inputs)
        outline.outline_loop_nests = original
        for _ in range(5):
            fast(*inputs)
        data = Path(tempfile.mkdtemp(prefix="sparcc-prof-")) / "perf.data"
        perf = subprocess.Popen(["perf", "record", "-F", "999", "-p", str(os.getpid()), "-o", str(data)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < args.seconds:
            fast(*inputs)
            calls += 1
        perf.send_signal(signal.SIGINT)
        perf.wait()
    elapsed = time.perf_counter() - start
    print(f"{args.model}, {args.threads} thread(s): {calls} calls, {1e3 * elapsed / max(calls, 1):.2f} ms a call")
    report = subprocess.run(["perf", "report", "-i", str(data), "--sort", "sym", "--stdio"],
                            capture_output=True, text=True, check=False).stdout
    shown = 0
    for line in report.splitlines():
        parts = line.split()
        if not parts or line.startswith("#") or not parts[0].endswith("%"):
            continue
        symbol = parts[-1]
        print(f"{parts[0]:>7} {symbol:<28} {ops.get(symbol, '')}")
        shown += 1
        if shown >= args.top:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
