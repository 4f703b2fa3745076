"""
Register-tile rules of the CPU schedule, each against its alternative in
one process, with PyTorch eager (MKL) in the same blocked runs
(timing.blocked_median_ms; each time the least of --rounds medians):

  --gemv   one-row Linear layers whose weight is stored in panels, with the
           tile as wide as the panel (schedule.PANEL_ROW_VECTORS) and with
           the model's narrower tile (PANEL_ROW_VECTORS = 0), in the wide
           panels of before the one-row rule (ROW_STREAMS off);
  --split  matmuls of two inputs split among the threads: the schedule's
           choice (tuning.SPLIT_MIN_ACCUMULATORS in force), and forced 4x16
           and 6x16 tiles (kc = min(K, 1024), split n; AVX2's tiles);
  --rows   one-row Linear layers with the weight in narrow panels read side
           by side (customize_layout.ROW_STREAMS: several read streams) and
           in the wide panels of before (one stream a tile). M must be 1.

    python benchmarks/bench_register_tiles.py --gemv --threads 1 1x4096x4096 1x25088x4096
    python benchmarks/bench_register_tiles.py --split --threads 2 1024x1024x1024 512x512x512
    python benchmarks/bench_register_tiles.py --rows --threads 1 1x4096x4096 1x4096x11008

Shapes are MxKxN. On this VM two compiles of the same program differed by up
to 20 % in such runs: read a ratio only when it repeats across shapes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _times(calls, threads: int, rounds: int, repeat: int) -> list[float]:
    from timing import blocked_median_ms

    setups = [lambda: None] * (len(calls) - 1) + [lambda: torch.set_num_threads(threads)]
    runs = [blocked_median_ms(calls, repeat=repeat, setups=setups) for _ in range(rounds)]
    return [min(x) for x in zip(*runs)]


def _switched_linear(shape: tuple[int, int, int], threads: int, rounds: int, repeat: int, owner, name: str,
                     values: tuple) -> tuple[list[str], list[float], float]:
    """A Linear of `shape` compiled with `owner.name` at each of `values`
    (checked against eager), timed with eager in the same blocked runs:
    each compile's weight layout, the times (the values' order, then
    eager's) and the weight's MB."""
    import sparcc

    m, k, n = shape
    lin, x = torch.nn.Linear(k, n).eval(), torch.randn(m, k)
    saved, programs, layouts = getattr(owner, name), [], []
    try:
        for value in values:
            setattr(owner, name, value)
            fast = sparcc.jit(lin, threads=threads, cache=False)
            with torch.no_grad():
                torch.testing.assert_close(fast(x), lin(x), atol=1e-3, rtol=1e-3)
            (program,) = fast.cache.values()  # the program the call above compiled
            report = program.report["schedule"]
            layouts.append(next((d.split("'layout': '")[1].split("'")[0] for d in report if "'layout'" in d), "none"))
            programs.append(fast)
    finally:
        setattr(owner, name, saved)
    with torch.no_grad():
        times = _times([lambda p=p: p(x) for p in programs] + [lambda: lin(x)], threads, rounds, repeat)
    return layouts, times, 4 * k * n / 1e6


def gemv(shape: tuple[int, int, int], threads: int, rounds: int, repeat: int) -> str:
    from sparcc.backends.cpu import schedule
    from sparcc.passes import customize_layout

    saved = customize_layout.ROW_STREAMS
    customize_layout.ROW_STREAMS = False  # the wide panels this rule is for
    try:
        _, (on, off, eager), mb = _switched_linear(shape, threads, rounds, repeat, schedule, "PANEL_ROW_VECTORS",
                                                   (schedule.PANEL_ROW_VECTORS, 0))
    finally:
        customize_layout.ROW_STREAMS = saved
    m, k, n = shape
    return (f"| {m}x{k}x{n} | {threads} | {off:.3f} | {on:.3f} | {off / on:.2f}x | {eager:.3f} | {eager / on:.2f}x "
            f"| {mb / on:.1f} |")


def rows(shape: tuple[int, int, int], threads: int, rounds: int, repeat: int) -> str:
    from sparcc.passes import customize_layout

    layouts, (on, off, eager), mb = _switched_linear(shape, threads, rounds, repeat, customize_layout, "ROW_STREAMS",
                                                     (True, False))
    m, k, n = shape
    return (f"| {m}x{k}x{n} | {threads} | {layouts[1]} | {off:.3f} | {layouts[0]} | {on:.3f} | {off / on:.2f}x "
            f"| {eager:.3f} | {eager / on:.2f}x | {mb / on:.1f} |")


def split(shape: tuple[int, int, int], threads: int, rounds: int, repeat: int) -> str:
    from sparcc.backends.cpu import schedule
    from sparcc.driver import compile_program

    m, k, n = shape
    a, b = torch.randn(m, k), torch.randn(k, n)

    def mm(x, y):
        return x @ y

    programs = [compile_program(mm, (a, b), threads=threads, use_cache=False)]
    chosen = next(d for d in programs[0].report["schedule"] if d.startswith("linalg.matmul"))
    tile = chosen.split("'mr': ")[1].split(",")[0] + "x" + chosen.split("'nr': ")[1].split(",")[0]
    for mr in (4, 6):
        config = {"split": "n" if threads > 1 else "none", "mr": mr, "nr": 16, "nc": 256, "kc": min(k, 1024), "pack": 8}
        with schedule.forced_matmul(config):
            programs.append(compile_program(mm, (a, b), threads=threads, use_cache=False))
    for p in programs:
        torch.testing.assert_close(p(a, b), a @ b, atol=1e-3, rtol=1e-3)
    t = _times([lambda p=p: p(a, b) for p in programs] + [lambda: a @ b], threads, rounds, repeat)
    return (f"| {m}x{k}x{n} | {threads} | {tile} | {t[0]:.3f} | {t[1]:.3f} | {t[2]:.3f} | {t[3]:.3f} "
            f"| {t[1] / t[2]:.2f}x | {t[3] / t[0]:.2f}x |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--gemv", action="store_true")
    mode.add_argument("--split", action="store_true")
    mode.add_argument("--rows", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("shapes", nargs="+", metavar="MxKxN")
    args = p.parse_args()
    try:
        shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes]
        if any(len(s) != 3 or min(s) < 1 for s in shapes):
            raise ValueError
    except ValueError:
        p.error(f"shapes are MxKxN with positive whole numbers, got {args.shapes}")
    torch.set_num_threads(args.threads)
    if args.rows and any(s[0] != 1 for s in shapes):
        p.error("--rows times one-row layers: M must be 1")
    if args.rows:
        print("| shape | threads | before | ms | now | ms | gain | eager ms | vs eager | GB/s |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    elif args.gemv:
        print("| shape | threads | nr = model's ms | nr = panel ms | gain | eager ms | vs eager | GB/s |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    else:
        print("| shape | threads | chosen tile | chosen ms | 4x16 ms | 6x16 ms | MKL ms | 4x16 / 6x16 | MKL / chosen |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for shape in shapes:
        run = rows if args.rows else gemv if args.gemv else split
        print(run(shape, args.threads, args.rounds, args.repeat), flush=True)


if __name__ == "__main__":
    main()
