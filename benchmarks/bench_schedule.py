"""The CPU schedule's switches, each against the schedule without it, on zoo
models in one process (eager as the third contender).

    python benchmarks/bench_schedule.py [--switch LOOPS_BEFORE_HOISTING] [--threads 2]
                                        [--repeat 30] [--only GLOB ...] [--image-size 224]

Switches (backends/cpu/schedule.py): LOOPS_BEFORE_HOISTING (unvectorised
linalg ops become loops before the accumulators are hoisted, so that their
memref views fold away), SPLIT_PLAIN_LOOPS (gathers and transposes divide
their outer loop among the threads) and WINDOW_OPS (pooling and grouped or
depthwise convolutions vectorised along the output row and split among the
threads), PLAN_BUFFERS (backends/cpu/plan_buffers.py: intermediate
buffers share one arena by lifetime) and MODEL_STREAMS
(passes/customize_layout.py: a model whose weights together reach a
last-level cache reads each weight of up to 32 rows in panels) and
NARROW_PANELS (passes/customize_layout.py: panels of 8 columns, several to a
register tile, for N not a multiple of 16 such as a 1000-class head) and
VECTOR_UNIT (register tiles sized for the host's vector registers; off:
for AVX-512's 32 registers of 16 lanes, what every host got before),
CONV1X1_DIRECT_MIN_PIXELS (1x1 convolutions as W @ X), UNEVEN_PANELS_MIN
(panels that do not divide among the threads split unevenly), JT_ROWS
(panels of one vector several to a register tile at 1-2 rows) and
PAD_PANELS (a Linear weight that no panel divides padded to whole
panels); CHANNELS_LAST (passes/channels_last.py: convolutions and poolings
NHWC, the transposes between them cancelled); FUSE_EPILOGUE (passes/fuse_epilogue.py:
a matmul's elementwise consumer runs on each block of its columns);
REMAINDER_ROWS_IN_PANEL (rows that the register tile does not divide are
one more tile inside the packed panel's loop, not a matmul of their own);
ROW_STREAMS (passes/customize_layout.py: the weight of a one-row matmul,
or of up to 4 rows where it comes from memory, in panels of 16, several
side by side in the register tile); WIDE_SIDE_BY_SIDE (with 32 vector
registers, panels of one vector go side by side up to 4 rows and 16
accumulators); ROW_PADS_NARROW (passes/customize_layout.py: one row
against an n that only panels narrower than 16 divide, a 1000-class head,
padded to the row panels); OPT_LEVEL (backends/cpu/toolchain.py: on = opt -O2, off =
opt -O3).
Each model is compiled with the switch
on and off (cache off: the cache key does not see the switches) and the two
programs and eager are timed in alternating blocks. Writes
benchmarks/results/schedule.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODELS = ["torchvision/resnet18", "torchvision/resnet50", "timm/resnet50d", "torchvision/convnext_tiny",
          "torchvision/densenet121", "timm/vit_tiny_patch16_224"]
SWITCHES = ("LOOPS_BEFORE_HOISTING", "SPLIT_PLAIN_LOOPS", "WINDOW_OPS", "PLAN_BUFFERS", "MODEL_STREAMS",
            "NARROW_PANELS", "VECTOR_UNIT", "CONV1X1_DIRECT_MIN_PIXELS", "UNEVEN_PANELS_MIN", "JT_ROWS",
            "PAD_PANELS", "CHANNELS_LAST", "FUSE_EPILOGUE", "REMAINDER_ROWS_IN_PANEL", "PANEL_ROW_VECTORS", "SPLIT_MIN_ACCUMULATORS",
            "ROW_STREAMS", "OPT_LEVEL", "WIDE_SIDE_BY_SIDE", "ROW_PADS_NARROW")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--switch", choices=SWITCHES, default="LOOPS_BEFORE_HOISTING")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--only", action="append", metavar="GLOB")
    p.add_argument("--image-size", type=int, metavar="S",
                   help="feed models that take one image a 1x3xSxS one instead of the zoo's size")
    p.add_argument("--json", default=str(HERE / "results" / "schedule.json"))
    args = p.parse_args()
    import sparcc
    import torch
    import zoo_models
    from sparcc.backends.cpu import plan_buffers, schedule, toolchain, tuning
    from sparcc.passes import channels_last, convert_nn_to_linalg, customize_layout, fuse_epilogue
    from timing import blocked_median_ms, write_results

    rows: list[dict[str, Any]] = []
    print(f"{args.switch}, {args.threads} thread(s); ms; gain = off / on; vs eager = eager / on")
    print("| model | off ms | on ms | gain | eager ms | vs eager |")
    print("| --- | --- | --- | --- | --- | --- |")
    owner = {"PLAN_BUFFERS": plan_buffers, "MODEL_STREAMS": customize_layout, "NARROW_PANELS": customize_layout,
             "PAD_PANELS": customize_layout, "ROW_STREAMS": customize_layout, "ROW_PADS_NARROW": customize_layout, "CHANNELS_LAST": channels_last,
             "FUSE_EPILOGUE": fuse_epilogue, "SPLIT_MIN_ACCUMULATORS": tuning,
             "CONV1X1_DIRECT_MIN_PIXELS": convert_nn_to_linalg, "OPT_LEVEL": toolchain}.get(args.switch, schedule)
    saved = getattr(owner, args.switch)
    for entry in zoo_models.select(args.only or MODELS):
        model, inputs = entry.build().eval(), entry.inputs(args.image_size)
        programs = []
        try:
            for flag in (True, False):
                if args.switch == "VECTOR_UNIT":  # on: the host's; off: AVX-512's
                    flag = None if flag else schedule.AVX512
                elif args.switch == "CONV1X1_DIRECT_MIN_PIXELS":  # off: 0 (never)
                    flag = saved if flag else 0
                elif args.switch == "UNEVEN_PANELS_MIN":  # off: never split panels unevenly
                    flag = saved if flag else 1 << 30
                elif args.switch in ("JT_ROWS", "PANEL_ROW_VECTORS", "SPLIT_MIN_ACCUMULATORS"):  # off: 0
                    flag = saved if flag else 0
                elif args.switch == "OPT_LEVEL":  # on: opt -O2; off: opt -O3
                    flag = "-O2" if flag else "-O3"
                setattr(owner, args.switch, flag)
                fast = sparcc.jit(model, threads=args.threads, cache=False)
                fast(*inputs)
                programs.append(fast)
        finally:
            setattr(owner, args.switch, saved)
        torch.set_num_threads(args.threads)
        with torch.no_grad():
            want = model(*inputs)
            for fast in programs:
                torch.testing.assert_close(fast(*inputs), want, rtol=1e-3, atol=1e-3)
        on, off = programs
        ms = blocked_median_ms([lambda: on(*inputs), lambda: off(*inputs), lambda: model(*inputs)], args.repeat)
        rows.append({"model": entry.name, **({"image_size": args.image_size} if args.image_size else {}), "on_ms": ms[0], "off_ms": ms[1], "eager_ms": ms[2]})
        print(f"| {entry.name} | {ms[1]:.2f} | {ms[0]:.2f} | {ms[1] / ms[0]:.2f}x | {ms[2]:.2f} | "
              f"{ms[2] / ms[0]:.2f}x |", flush=True)
    write_results(args.json, rows, switch=args.switch, threads=args.threads)


if __name__ == "__main__":
    main()
