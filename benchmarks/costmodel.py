"""
The learned cost model's data, evaluation and shipped defaults (the cost
model issue), for the CPU's spaces cpu.matmul and cpu.sparse.

  python benchmarks/costmodel.py collect [--space cpu.sparse] [--part train|test] [--sample 30]
  python benchmarks/costmodel.py cv                 # choose the objective on the train problems
  python benchmarks/costmodel.py evaluate [-v]      # the unseen test shapes; plots
  python benchmarks/costmodel.py evaluate --space cpu.sparse
  python benchmarks/costmodel.py noise              # measurement against measurement
  python benchmarks/costmodel.py threads --threads 2 # 2-thread choices: a 2-thread model vs per-piece
  python benchmarks/costmodel.py machines           # one machine's model on another's shapes
  python benchmarks/costmodel.py zoo --threads 1    # zoo models: heuristic vs cost model, end to end
  python benchmarks/costmodel.py ship [--space cpu.sparse --objective regression]

collect: a suite (matmul shapes of the zoo's layers at batch-1 token and
pixel counts plus random shapes; for cpu.sparse, Linear layers pruned
unstructured, N:M or in blocks), split **by shape** into train and test
problems before anything is measured (`--extend N` adds train problems of
other shapes). Train problems get a random sample of their candidates (the
heuristic's always among them), test problems all of them. Only problems
that this machine has not measured are measured: the dataset holds rows of
several machines, each with the features of the machine that measured it
(`target`), and evaluate prints a line per machine. Rows go to
benchmarks/results/costmodel/SPACE.jsonl (sparcc tune's dataset format, or
--out FILE); `ship` keeps a gzipped copy and the split in
benchmarks/costmodel_data/, from which the other commands start on a fresh
clone.

cv: 5 folds by shape over the train problems for each objective and its
settings (VARIANTS); the test problems stay unseen. evaluate: trains on the
train problems only and compares the model's choice on each test problem
with the best measured and with the heuristic (sparcc tune --eval's lines);
plots predicted against measured cost, and the best found against the
number of measurements for model-guided and random search. For cpu.sparse:
how often the dense-or-sparse decision of `auto:` agrees with measurement.

ship: trains on every row and writes compiler/costmodels/SPACE.json, the
default the package ships.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "costmodel"
SPACES = ("cpu.matmul", "cpu.sparse")


# the measurements and splits behind the shipped models, in the repository
# (benchmarks/results/ is not): `ship` writes them, the other commands start
# from them when RESULTS has none
DATA = HERE / "costmodel_data"


def dataset(space: str) -> Path:
    path = RESULTS / f"{space}.jsonl"
    packed = DATA / f"{space}.jsonl.gz"
    if not path.exists() and packed.exists():
        import gzip
        import shutil

        RESULTS.mkdir(parents=True, exist_ok=True)
        with gzip.open(packed, "rb") as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        split = DATA / f"{space}.split.json"
        if split.exists() and not split_file(space).exists():
            shutil.copy(split, split_file(space))
    return path


def split_file(space: str) -> Path:
    return RESULTS / f"{space}.split.json"


def shipped(space: str) -> Path:
    return HERE.parent / "compiler" / "costmodels" / f"{space}.json"

# (N, K) of Linear layers and im2col'd convolutions in the zoo's models
LAYERS = [
    (768, 192), (192, 768), (576, 192), (192, 192), (3072, 768), (768, 3072), (2304, 768), (768, 768),
    (512, 512), (1000, 512), (64, 576), (128, 1152), (256, 2304), (512, 4608), (384, 96), (96, 384),
    (1024, 256), (256, 1024), (2048, 512), (512, 2048), (64, 147), (128, 576), (256, 128), (32, 27),
    (1000, 1280), (1280, 320), (96, 24), (144, 24), (40, 240), (480, 80), (100, 37), (130, 70), (64, 64),
    (4096, 1024), (1536, 384), (384, 1536), (320, 1280), (24, 144), (16, 8), (50, 20),
]
ROWS = [1, 2, 4, 7, 8, 14, 16, 25, 49, 50, 56, 64, 100, 128, 196, 197, 256, 384, 512, 784]
MAX_FLOPS = 6e8  # keeps one candidate's call under ~5 ms


def suite(n_train: int, n_test: int, seed: int, two_threads: float = 0.0) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    seen, problems = set(), []
    while len(problems) < n_train + n_test:
        if rng.random() < 0.6:
            n, k = rng.choice(LAYERS)
            m = rng.choice(ROWS)
        else:
            m = int(math.exp(rng.uniform(0, math.log(800))))
            n = int(math.exp(rng.uniform(math.log(8), math.log(4096))))
            k = int(math.exp(rng.uniform(math.log(8), math.log(4096))))
        if 2 * m * n * k > MAX_FLOPS or 2 * m * n * k < 2e4:
            continue
        threads = 2 if rng.random() < two_threads else 1
        p = {"M": m, "N": n, "K": k, "threads": threads}
        key = (m, n, k, threads)
        if key not in seen:
            seen.add(key)
            problems.append(p)
    rng.shuffle(problems)
    # the split is by shape: a shape (M, N, K) is in train or in test at every thread count
    test_shapes = {(p["M"], p["N"], p["K"]) for p in problems[:n_test]}
    test = [p for p in problems if (p["M"], p["N"], p["K"]) in test_shapes]
    train = [p for p in problems if (p["M"], p["N"], p["K"]) not in test_shapes]
    return train, test


def sparse_suite(n_train: int, n_test: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Linear layers of the zoo's sizes at batch-1 row counts, pruned
    unstructured (1-50 % kept), N:M or in blocks."""
    rng = random.Random(seed)
    seen, problems = set(), []
    layers = [(n, k) for n, k in LAYERS if n >= 64 and k >= 64] + [(4096, 4096), (2048, 2048), (4096, 1024)]
    while len(problems) < n_train + n_test:
        n, k = rng.choice(layers)
        m = rng.choice([1, 1, 4, 8, 16, 32, 64, 128, 197, 256])
        kind = rng.random()
        if kind < 0.6:
            p = {"M": m, "N": n, "K": k, "pattern": "unstructured", "density": rng.choice([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5])}
        elif kind < 0.8:
            p = {"M": m, "N": n, "K": k, "pattern": rng.choice(["2:4", "1:4", "2:8", "4:8"])}
        else:
            p = {"M": m, "N": n, "K": k, "pattern": rng.choice(["block:4x4", "block:2x2", "block:8x8"]),
                 "density": rng.choice([0.1, 0.25, 0.5])}
        if 2 * m * n * k > 4 * MAX_FLOPS:
            continue
        key = json.dumps(p, sort_keys=True)
        if key not in seen:
            seen.add(key)
            problems.append(p)
    rng.shuffle(problems)
    shape = lambda p: (p["M"], p["N"], p["K"])  # noqa: E731
    test_shapes = {shape(p) for p in problems[:n_test]}
    return [p for p in problems if shape(p) not in test_shapes], [p for p in problems if shape(p) in test_shapes]


def _space(name: str = "cpu.matmul"):
    from sparcc.backends import get_target

    return get_target("cpu").cost_spaces()[name]


def collect(opts: argparse.Namespace) -> None:
    from sparcc import tune

    space = _space(opts.space)
    DATASET, SPLIT = dataset(space.name), split_file(space.name)
    if SPLIT.exists() and not opts.new_split:
        split = json.loads(SPLIT.read_text())
    else:
        if space.name == "cpu.sparse":
            train, test = sparse_suite(opts.train_problems, opts.test_problems, opts.seed)
        else:
            train, test = suite(opts.train_problems, opts.test_problems, opts.seed, opts.two_threads)
        split = {"seed": opts.seed, "train": train, "test": test}
        RESULTS.mkdir(parents=True, exist_ok=True)
        SPLIT.write_text(json.dumps(split, indent=1))
    if opts.extend:  # more train problems, none of a test shape
        make = sparse_suite if space.name == "cpu.sparse" else suite
        test_shapes = {(p["M"], p["N"], p["K"]) for p in split["test"]}
        have = {json.dumps(p, sort_keys=True) for p in split["train"]}
        more, _ = make(opts.extend, 0, opts.seed + 1000 + len(split["train"]))
        split["train"] += [p for p in more if (p["M"], p["N"], p["K"]) not in test_shapes
                           and json.dumps(p, sort_keys=True) not in have]
        SPLIT.write_text(json.dumps(split, indent=1))
    target = Path(opts.out) if opts.out else DATASET
    # what this machine measured already (the dataset holds other machines' rows too)
    done = {tune.problem_key(g.problem) for g in tune.groups(space, tune.read_rows(space.name, target, tune.machine_id()))}
    todo = []
    parts = ("test", "train") if opts.test_first else ("train", "test")
    for part in [x for x in parts if opts.part in (None, x)]:
        for p in split[part]:
            prob = space.problem(p)
            if opts.threads and p.get("threads", 1) != opts.threads:
                continue
            if tune.problem_key(space.problem_dict(prob)) not in done:
                todo.append((part, prob))
    if opts.limit:
        todo = todo[: opts.limit]
    print(f"{len(todo)} problems to measure ({len(done)} in the dataset)", flush=True)
    for part, prob in todo:
        k = None if part == "test" else opts.sample
        tune.measure_problems(space, [prob], k, source=f"bench-{part}", path=target,
                              say=lambda s: print(s, flush=True))


def evaluate_sparse(space, train_groups, test_groups, opts) -> None:
    """On unseen layer shapes: does the model's dense-or-sparse decision for
    the layer's format agree with measurement (what `auto:` decides), and
    does it pick the fastest format; the rate-table heuristic alongside."""
    from sparcc import costmodel

    model = _train(space, train_groups, opts.objectives[0])
    agree = agree_h = top1 = 0
    lines = []
    for problem, configs, times, target, _ in test_groups:
        p = space.problem(problem)
        t = {space.key(c): x for c, x in zip(configs, times)}
        dense, sparse = t.get(("dense", "")), t.get(("sparse", p.fmt))
        if dense is None or sparse is None:
            continue
        pred = dict(zip([space.key(c) for c in configs], costmodel.rank(space, p, model, configs, target)))
        model_sparse = pred[("sparse", p.fmt)] < pred[("dense", "")]
        heur_sparse = space.heuristic(p)["run"] == "sparse"
        truth = sparse < dense
        agree += model_sparse == truth
        agree_h += heur_sparse == truth
        best = min(times)
        chosen = min(pred, key=pred.get)
        top1 += t[chosen] <= best * 1.05
        lines.append(f"{problem}: measured sparse/dense {dense / sparse:.2f}x, model says "
                     f"{'sparse' if model_sparse else 'dense'}, heuristic {'sparse' if heur_sparse else 'dense'}")
    n = len(lines)
    if opts.verbose:
        print("\n".join(lines))
    print(f"train: {len(train_groups)} layers; test: {n} layers (shapes never trained on)")
    print(f"auto: dense-or-sparse agrees with measurement: model {agree / n * 100:.0f}%, "
          f"rate-table heuristic {agree_h / n * 100:.0f}%")
    print(f"fastest of dense and the pattern's formats within 5%: model {top1 / n * 100:.0f}%")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{space.name}.evaluation.json").write_text(json.dumps(
        {"layers": n, "agree_model": agree / n, "agree_heuristic": agree_h / n, "top1_within_5": top1 / n}, indent=1))


def _groups(space, part: str, split: dict, rows: list[dict]):
    from sparcc import tune

    keys = {tune.problem_key(space.problem_dict(space.problem(p))) for p in split[part]}
    return [g for g in tune.groups(space, rows) if tune.problem_key(g[0]) in keys]


def _train(space, groups, objective: str):
    from sparcc import tune

    return tune.fit(space, groups, objective)


def evaluate(opts: argparse.Namespace) -> None:
    from sparcc import tune

    space = _space(opts.space)
    rows = tune.read_rows(space.name, dataset(space.name))
    split = json.loads(split_file(space.name).read_text())
    train_groups, test_groups = _groups(space, "train", split, rows), _groups(space, "test", split, rows)
    if space.name == "cpu.sparse":
        return evaluate_sparse(space, train_groups, test_groups, opts)
    print(f"train: {len(train_groups)} problems, {sum(len(g[2]) for g in train_groups)} measurements; "
          f"test: {len(test_groups)} problems, {sum(len(g[2]) for g in test_groups)} measurements (shapes never trained on)")
    report = {}
    for objective in opts.objectives:
        model = _train(space, train_groups, objective)
        results = [tune.evaluate_group(space, model, space.problem(g.problem), g.configs, g.times, target=g.target)
                   | {"machine": g.machine} for g in test_groups]
        s = tune.summarise(results)
        report[objective] = {"summary": s, "results": results}
        print(f"\n== objective {objective} ==")
        if opts.verbose:
            for r in results:
                h = f"{r['heuristic_vs_best']:.2f}" if r["heuristic_vs_best"] is not None else "-"
                print(f"{tune._problem_text(r['problem'])}  chosen/best {r['chosen_vs_best']:.2f}  heuristic/best {h}  "
                      f"tau {r['tau']:.2f}  ({r['candidates']} measured)")
        hb = [r["heuristic_vs_best"] for r in results if r["heuristic_vs_best"] is not None]
        print(f"heuristic within 5% of the best on {sum(x >= 1 / 1.05 for x in hb) / len(hb) * 100:.0f}% of problems")
        print(f"measurements to come within 5% of the best: {s['fewer_measurements']:.1f}x fewer than random search")
        print(tune.summary_line(s))
        machines = sorted({r["machine"] for r in results})
        for m in machines if len(machines) > 1 else []:
            mine = [r for r in results if r["machine"] == m]
            print(f"  machine {m} ({len(mine)} problems): {tune.summary_line(tune.summarise(mine))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{space.name}.evaluation.json").write_text(json.dumps({o: r["summary"] for o, r in report.items()}, indent=1))
    if opts.plot_dir:
        _plots(report, Path(opts.plot_dir))


VARIANTS = {
    "relative": ("relative", {}),
    "relative-deep": ("relative", {"num_leaves": 63, "learning_rate": 0.03}),
    "lambdarank-top10": ("lambdarank", {"lambdarank_truncation_level": 10, "num_leaves": 31, "min_data_in_leaf": 5}),
    "lambdarank-all-pairs": ("lambdarank", {"lambdarank_truncation_level": 400, "num_leaves": 31,
                                            "min_data_in_leaf": 5}),
    "lambdarank-deep": ("lambdarank", {"lambdarank_truncation_level": 10, "num_leaves": 63, "learning_rate": 0.03}),
    "xendcg": ("lambdarank", {"objective": "rank_xendcg"}),
    "lambdarank-all-pairs-deep": ("lambdarank", {"lambdarank_truncation_level": 400, "num_leaves": 63,
                                                 "learning_rate": 0.03}),
    "lambdarank-all-pairs-small": ("lambdarank", {"lambdarank_truncation_level": 400, "num_leaves": 15,
                                                  "min_data_in_leaf": 10}),
}


def cv(opts: argparse.Namespace) -> None:
    """Chooses the objective and its settings on the train problems alone
    (5 folds by shape); the test problems stay unseen until `evaluate`."""
    from sparcc import costmodel, tune

    space = _space(opts.space)
    rows = tune.read_rows(space.name, dataset(space.name))
    split = json.loads(split_file(space.name).read_text())
    groups = _groups(space, "train", split, rows)
    shapes = sorted({(g[0]["m"], g[0]["n"], g[0]["k"]) for g in groups})
    random.Random(0).shuffle(shapes)
    folds = [set(shapes[i::5]) for i in range(5)]
    for name in opts.variants:
        objective, extra = VARIANTS[name]
        saved = dict(costmodel.PARAMS[objective])
        costmodel.PARAMS[objective].update(extra)
        try:
            results = []
            for fold in folds:
                train = [g for g in groups if (g[0]["m"], g[0]["n"], g[0]["k"]) not in fold]
                held = [g for g in groups if (g[0]["m"], g[0]["n"], g[0]["k"]) in fold]
                model = _train(space, train, objective)
                results += [tune.evaluate_group(space, model, space.problem(g.problem), g.configs, g.times,
                                                target=g.target) for g in held if len(g.configs) > 1]
        finally:
            costmodel.PARAMS[objective] = saved
        s = tune.summarise(results)
        print(f"{name:<22} {tune.summary_line(s)}  fewer-measurements: {s['fewer_measurements']:.1f}x", flush=True)


def noise(opts: argparse.Namespace) -> None:
    """The ceiling that measurement noise puts on the metrics: times N test
    problems again and compares the two runs as evaluate compares the
    model with a run (Kendall's tau; the best of one run within 5 % of
    the best in the other)."""
    from scipy.stats import kendalltau

    from sparcc import tune

    space = _space(opts.space)
    split = json.loads(split_file(space.name).read_text())
    rows = tune.read_rows(space.name, dataset(space.name), tune.machine_id())
    first = {tune.problem_key(g[0]): g for g in _groups(space, "test", split, rows)}
    again = RESULTS / f"{space.name}.repeat.jsonl"
    problems = [space.problem(p) for p in split["test"]][: opts.problems]
    have = {tune.problem_key(g[0]) for g in tune.groups(space, tune.read_rows(space.name, again))}
    todo = [p for p in problems if tune.problem_key(space.problem_dict(p)) not in have]
    tune.measure_problems(space, todo, None, source="bench-repeat", path=again, say=lambda s: None)
    taus, top1 = [], []
    for problem, configs, times, _, _ in tune.groups(space, tune.read_rows(space.name, again)):
        g = first.get(tune.problem_key(problem))
        if g is None or len(times) < 2:
            continue
        t1 = {space.key(c): t for c, t in zip(g[1], g[2])}
        pairs = [(t1[space.key(c)], t) for c, t in zip(configs, times) if space.key(c) in t1]
        a, b = [x for x, _ in pairs], [y for _, y in pairs]
        taus.append(kendalltau(a, b).statistic)
        top1.append(a[b.index(min(b))] <= min(a) * 1.05)
    print(f"{len(taus)} test problems timed twice: kendall-tau between the runs {sum(taus) / len(taus):.2f}, "
          f"the best of run 2 within 5% of run 1's best on {sum(top1) / len(top1) * 100:.0f}%")


def machines(opts: argparse.Namespace) -> None:
    """Transfer between machines, at one thread: a model trained on each
    machine's train rows alone and on all of them, tested on each machine's
    unseen test shapes (tune --eval's summary line per pair)."""
    from sparcc import tune

    space = _space("cpu.matmul")
    rows = tune.read_rows(space.name, dataset(space.name))
    split = json.loads(split_file(space.name).read_text())
    train = [g for g in _groups(space, "train", split, rows) if g.problem["threads"] == 1]
    test = [g for g in _groups(space, "test", split, rows) if g.problem["threads"] == 1]
    names = sorted({g.machine for g in test})
    for trained in [[m] for m in names] + [names]:
        model = _train(space, [g for g in train if g.machine in trained], opts.objective)
        for m in names:
            results = [tune.evaluate_group(space, model, space.problem(g.problem), g.configs, g.times, target=g.target)
                       for g in test if g.machine == m]
            print(f"trained on {'+'.join(trained):27s} tested on {m}: {tune.summary_line(tune.summarise(results))}")


def threads(opts: argparse.Namespace) -> None:
    """How the matmuls of `--threads` threads are best chosen, on the unseen
    test shapes at that count: a model trained with those problems (it
    chooses the split too), the way compiles choose with a model trained at
    one thread (the heuristic splits, the model tiles each thread's piece:
    tuning._choose), and the heuristic. Each choice's measured time against
    the best of all candidates."""
    from sparcc import costmodel, tune
    from sparcc.backends.cpu import tuning
    from sparcc.backends.cpu.schedule import heuristic_matmul

    space = _space("cpu.matmul")
    rows = tune.read_rows(space.name, dataset(space.name))
    split = json.loads(split_file(space.name).read_text())
    train, test = _groups(space, "train", split, rows), _groups(space, "test", split, rows)
    test = [g for g in test if g.problem["threads"] == opts.threads]
    if not test:
        raise SystemExit(f"no test problem at {opts.threads} threads was measured (collect first)")
    with_threads = _train(space, train, opts.objective)
    one_thread = _train(space, [g for g in train if g.problem["threads"] == 1], opts.objective)

    def piecewise(p):  # what tuning._choose does with a one-thread model
        s = heuristic_matmul(p)["split"]
        piece = tuning.piece_problem(p, s)
        cands = space.candidates(piece)
        costs = costmodel.rank(space, piece, one_thread, cands)
        return {**cands[min(range(len(cands)), key=costs.__getitem__)], "split": s}

    ratios: dict[str, list[float]] = {"model with these threads": [], "one-thread model per piece": [],
                                      "heuristic": []}
    for g in test:
        p = space.problem(g.problem)
        t = {space.key(c): x for c, x in zip(g.configs, g.times)}
        best = min(g.times)
        r = tune.evaluate_group(space, with_threads, p, g.configs, g.times, target=g.target)
        ratios["model with these threads"].append(best / r["chosen_us"])
        for name, config in (("one-thread model per piece", piecewise(p)), ("heuristic", heuristic_matmul(p))):
            if space.key(config) in t:
                ratios[name].append(best / t[space.key(config)])
    print(f"{len(test)} unseen problems at {opts.threads} threads; train: {len(train)} problems")
    for name, v in ratios.items():
        top1 = sum(x >= 1 / 1.05 for x in v) / len(v) * 100
        print(f"{name:28s} within 5% of the best: {top1:.0f}%  geomean best/chosen: "
              f"{math.exp(sum(map(math.log, v)) / len(v)):.3f}  ({len(v)} problems)")


ZOO = ["torchvision/resnet18", "torchvision/mobilenet_v3_small", "torchvision/convnext_tiny", "torchvision/resnet50",
       "timm/vit_tiny_patch16_224", "timm/deit_tiny_patch16_224", "hf/bert", "hf/gpt2"]


def zoo(opts: argparse.Namespace) -> None:
    """Zoo models compiled with the heuristic (SPARCC_COSTMODEL=off) and
    with the cost model, timed in alternating blocks in one process, with
    eager PyTorch alongside: the end-to-end effect of the model's choices."""
    import os

    import sparcc
    import torch

    sys.path.insert(0, str(HERE))
    import zoo_models
    from timing import blocked_median_ms

    torch.set_num_threads(opts.threads)
    rows = []
    print(f"{opts.threads} thread(s); ms; gain = heuristic / cost model")
    print("| model | heuristic ms | cost model ms | gain | eager ms | matmuls chosen by the model |")
    print("| --- | --- | --- | --- | --- | --- |")
    for entry in zoo_models.select(opts.models):
        model, args = entry.build(), entry.inputs()
        programs = []
        for setting in ("off", ""):
            os.environ["SPARCC_COSTMODEL"] = setting
            fast = sparcc.jit(model, threads=opts.threads)
            with torch.no_grad():
                fast(*args)
            programs.append(fast)
        os.environ.pop("SPARCC_COSTMODEL", None)
        report = next(iter(programs[1].cache.values())).report
        by_model = sum(c.get("by") in ("model", "measured") for c in report.get("choices", []))
        with torch.no_grad():
            torch.testing.assert_close(programs[1](*args), programs[0](*args), rtol=1e-3, atol=1e-3)
            ms = blocked_median_ms([lambda: programs[0](*args), lambda: programs[1](*args), lambda: model(*args)],
                                   opts.repeat)
        rows.append({"model": entry.name, "heuristic_ms": ms[0], "costmodel_ms": ms[1], "eager_ms": ms[2],
                     "gain": ms[0] / ms[1], "chosen_by_model": by_model, "matmuls": len(report.get("choices", []))})
        print(f"| {entry.name} | {ms[0]:.3f} | {ms[1]:.3f} | {ms[0] / ms[1]:.2f}x | {ms[2]:.3f} | "
              f"{by_model}/{len(report.get('choices', []))} |", flush=True)
    gains = [r["gain"] for r in rows]
    print(f"geomean gain {math.exp(sum(map(math.log, gains)) / len(gains)):.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"zoo-{opts.threads}t.json").write_text(json.dumps(rows, indent=1))


def _plots(report: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    for objective, r in report.items():
        fig, ax = plt.subplots(figsize=(5, 5))
        for res in r["results"]:
            best = min(res["measured"])
            pbest = min(res["predicted"])
            ax.scatter([p / pbest for p in res["predicted"]] if objective == "regression" else res["predicted"],
                       [t / best for t in res["measured"]], s=4, alpha=0.5)
        ax.set_xlabel("predicted cost (relative to the problem's lowest)" if objective == "regression" else "predicted rank cost")
        ax.set_ylabel("measured time / best measured")
        if objective == "regression":
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"cpu.matmul test shapes ({objective})")
        fig.tight_layout()
        fig.savefig(folder / f"predicted_vs_measured_{objective}.png", dpi=110)
        plt.close(fig)
        # best found (relative to the best) after n measurements: guided (predicted order) vs random (expected)
        steps = 30
        guided = [0.0] * steps
        rnd = [0.0] * steps
        rng = random.Random(0)
        for res in r["results"]:
            t, p = res["measured"], res["predicted"]
            best = min(t)
            order = sorted(range(len(t)), key=lambda i: p[i])
            for n in range(steps):
                guided[n] += best / min(t[i] for i in order[: n + 1])
            for _ in range(50):
                perm = rng.sample(range(len(t)), len(t))
                for n in range(steps):
                    rnd[n] += best / min(t[i] for i in perm[: n + 1]) / 50
        count = len(r["results"])
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(range(1, steps + 1), [g / count for g in guided], label="cost-model guided")
        ax.plot(range(1, steps + 1), [x / count for x in rnd], label="random search")
        ax.set_xlabel("measurements")
        ax.set_ylabel("best found / best of all (mean over test shapes)")
        ax.legend()
        ax.set_title(f"search on unseen shapes ({objective})")
        fig.tight_layout()
        fig.savefig(folder / f"search_{objective}.png", dpi=110)
        plt.close(fig)
    print(f"plots in {folder}")


def ship(opts: argparse.Namespace) -> None:
    from sparcc import costmodel, tune

    space = _space(opts.space)
    rows = tune.read_rows(space.name, dataset(space.name))
    groups = [g for g in tune.groups(space, rows) if not opts.threads or g.problem.get("threads", 1) == opts.threads]
    model = _train(space, groups, opts.objective)
    import gzip
    import shutil

    DATA.mkdir(parents=True, exist_ok=True)
    with open(dataset(space.name), "rb") as src, open(DATA / f"{space.name}.jsonl.gz", "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    shutil.copy(split_file(space.name), DATA / f"{space.name}.split.json")
    out = shipped(space.name)
    costmodel.save(model, out, machine=tune.machine_id(), trained_on=str(dataset(space.name).relative_to(HERE.parent)))
    print(f"{out}: {opts.objective}, {model.meta['rows']} measurements of {model.meta['problems']} problems, "
          f"{out.stat().st_size // 1024} KiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--space", default="cpu.matmul", choices=SPACES)
    c.add_argument("--train-problems", type=int, default=120)
    c.add_argument("--test-problems", type=int, default=40)
    c.add_argument("--sample", type=int, default=40)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--limit", type=int, help="measure at most this many problems now")
    c.add_argument("--new-split", action="store_true")
    c.add_argument("--two-threads", type=float, default=0.0,
                   help="the share of 2-thread problems (their wall-clock times need a quiet machine)")
    c.add_argument("--test-first", action="store_true")
    c.add_argument("--part", choices=("train", "test"), help="measure only this part of the split")
    c.add_argument("--threads", type=int, help="measure only the split's problems at this thread count")
    c.add_argument("--out", help="append to this file instead of the dataset (merge it afterwards)")
    c.add_argument("--extend", type=int, metavar="N", help="add N train problems (no test shape) to the split")
    c.set_defaults(fn=collect)
    e = sub.add_parser("evaluate")
    e.add_argument("--space", default="cpu.matmul", choices=SPACES)
    e.add_argument("--objectives", nargs="+", default=["regression", "lambdarank"])
    e.add_argument("--plot-dir", default=str(RESULTS))
    e.add_argument("-v", "--verbose", action="store_true")
    e.set_defaults(fn=evaluate)
    v = sub.add_parser("cv")
    v.add_argument("--space", default="cpu.matmul", choices=SPACES)
    v.add_argument("--variants", nargs="+", default=list(VARIANTS))
    v.set_defaults(fn=cv)
    n = sub.add_parser("noise")
    n.add_argument("--space", default="cpu.matmul", choices=SPACES)
    n.add_argument("--problems", type=int, default=12)
    n.set_defaults(fn=noise)
    m = sub.add_parser("machines")
    m.add_argument("--objective", default="lambdarank", choices=["regression", "lambdarank"])
    m.set_defaults(fn=machines)
    t = sub.add_parser("threads")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--objective", default="lambdarank", choices=["regression", "lambdarank"])
    t.set_defaults(fn=threads)
    z = sub.add_parser("zoo")
    z.add_argument("--threads", type=int, default=1)
    z.add_argument("--repeat", type=int, default=20)
    z.add_argument("--models", nargs="+", default=ZOO)
    z.set_defaults(fn=zoo)
    s = sub.add_parser("ship")
    s.add_argument("--space", default="cpu.matmul", choices=SPACES)
    s.add_argument("--objective", default="regression", choices=["regression", "lambdarank"])
    s.add_argument("--threads", type=int, help="train on the problems of this thread count only (the dataset keeps all)")
    s.set_defaults(fn=ship)
    opts = ap.parse_args()
    opts.fn(opts)


if __name__ == "__main__":
    sys.exit(main())
