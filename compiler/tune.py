"""
`sparcc tune`: measures the candidates of a target's cost spaces
(sparcc.costmodel.CostSpace), keeps every measurement in a dataset on disk,
trains the cost model from it, and evaluates a model against exhaustive
measurement.

  sparcc tune --shapes SHAPES.json       measure the candidates of each problem
  sparcc tune model.py:factory           ... of each kernel of a model
  sparcc tune --train                    fit this machine's model to the dataset
  sparcc tune --eval SHAPES.json         the model's choice against the best measured

The dataset is JSON lines, one per measured candidate:
{"space", "machine", "problem", "config", "us", "noise", "source", "when"},
in <cache dir>/tune/<space>.jsonl (or --dataset). Features are computed from
problem and config when a model is trained, so rows outlive a change of
features.
"""

from __future__ import annotations

import contextlib

import functools
import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sparcc.errors import SparccError


def dataset_path(space: str) -> Path:
    from sparcc import cache

    return cache.root() / "tune" / f"{space}.jsonl"


@functools.cache
def machine_id() -> str:
    """This machine as the CPU target identifies it (rows of other machines
    are not mixed into this machine's model)."""
    from sparcc.backends import get_target

    return hashlib.sha256("|".join(get_target("cpu").identity()).encode()).hexdigest()[:12]


def row(space: Any, problem: Any, config: dict[str, Any], result: dict[str, Any], source: str) -> dict[str, Any]:
    return {"space": space.name, "machine": machine_id(), "target": space.target_features(),
            "problem": space.problem_dict(problem), "config": config,
            "us": result.get("us"), "noise": result.get("noise"), "error": result.get("error"), "source": source,
            "when": time.strftime("%Y-%m-%dT%H:%M:%S")}


def append_rows(space: str, rows: Sequence[dict[str, Any]], path: Path | None = None) -> None:
    path = path or dataset_path(space)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:  # one write per row: a crash loses at most the row being written
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")


def read_rows(space: str, path: Path | None = None, machine: str | None = None) -> list[dict[str, Any]]:
    """The dataset's timed rows of `space` (of `machine`, if given); a
    damaged line is skipped with a count in the warning."""
    import warnings

    path = path or dataset_path(space)
    if not path.exists():
        return []
    out, bad = [], 0
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if not isinstance(r, dict) or r.get("space") != space or r.get("us") is None:
            continue
        if machine is not None and r.get("machine") != machine:
            continue
        out.append(r)
    if bad:
        warnings.warn(f"{path}: {bad} damaged line(s) skipped", stacklevel=2)
    return out


def problem_key(problem: dict[str, Any]) -> str:
    return json.dumps(problem, sort_keys=True)


class Group(NamedTuple):
    """One problem measured on one machine: its candidates' times and the
    machine's target features (None: a row from before rows recorded them,
    read as this machine's)."""

    problem: dict[str, Any]
    configs: list[dict[str, Any]]
    times: list[float]
    target: dict[str, float] | None = None
    machine: str = ""  # machine_id() of the machine that measured it


def groups(space: Any, rows: Sequence[dict[str, Any]]) -> list[Group]:
    """Rows grouped by machine and problem; a config measured more than
    once keeps the median of its times."""
    by: dict[tuple[str, str], dict[tuple, list]] = {}
    keep: dict[tuple[str, str], tuple[dict[str, Any], dict[str, float] | None]] = {}
    configs: dict[tuple[str, str, tuple], dict[str, Any]] = {}
    for r in rows:
        gk = (str(r.get("machine")), problem_key(r["problem"]))
        keep.setdefault(gk, (r["problem"], r.get("target")))
        ck = space.key(r["config"])
        configs[(*gk, ck)] = r["config"]
        by.setdefault(gk, {}).setdefault(ck, []).append(float(r["us"]))
    out = []
    for gk, cmap in by.items():
        cs = [configs[(*gk, ck)] for ck in cmap]
        ts = [sorted(v)[len(v) // 2] for v in cmap.values()]
        out.append(Group(keep[gk][0], cs, ts, keep[gk][1], gk[0]))
    return out


def sample(candidates: list[dict[str, Any]], heuristic: dict[str, Any], k: int | None, seed: Any) -> list[dict[str, Any]]:
    """At most k candidates, the heuristic's always among them."""
    if k is None or len(candidates) <= k:
        return list(candidates)
    rng = random.Random(str(seed))
    rest = [c for c in candidates if c != heuristic]
    return [heuristic] + rng.sample(rest, k - 1)


def measure_problems(space: Any, problems: Sequence[Any], k: int | None = None, source: str = "tune",
                     path: Path | None = None, say: Callable[[str], None] = print) -> list[tuple[Any, list, list]]:
    """Measures (up to k of) the candidates of each problem; appends every
    measurement to the dataset as soon as a problem is done."""
    done = []
    for n, problem in enumerate(problems, 1):
        start = time.perf_counter()
        candidates = sample(space.candidates(problem), space.heuristic(problem), k, space.problem_dict(problem))
        results = space.measure(problem, candidates)
        append_rows(space.name, [row(space, problem, c, r, source) for c, r in zip(candidates, results)], path)
        timed = [r["us"] for r in results if r.get("us") is not None]
        failed = len(results) - len(timed)
        say(f"[{n}/{len(problems)}] {space.problem_dict(problem)}: {len(candidates)} candidates, "
            f"best {min(timed):.1f} us" + (f", {failed} failed" if failed else "") if timed else
            f"[{n}/{len(problems)}] {space.problem_dict(problem)}: nothing could be timed")
        say(f"      ({time.perf_counter() - start:.1f} s)")
        done.append((problem, candidates, results))
    return done


def train(space: Any, rows: Sequence[dict[str, Any]], objective: str = "regression") -> Any:
    return fit(space, groups(space, rows), objective)


def fit(space: Any, grouped: Sequence[Group],
        objective: str = "regression") -> Any:
    """A model of `space` from measured problems (groups()); it records
    what it was trained on (space.domain) so that it declines problems
    outside of it."""
    from sparcc import costmodel

    data, problems = [], []
    for g in grouped:
        p = space.problem(g.problem)
        problems.append(p)
        data.append(([space.features(p, c, g.target) for c in g.configs], g.times))
    if len(data) < 2:
        raise SparccError(f"the dataset of '{space.name}' holds {len(data)} measured problem(s); "
                          f"measure more first (sparcc tune --shapes SHAPES.json)")
    model = costmodel.train(space.name, data, objective)
    model.meta["domain"] = space.domain(problems, [g.target for g in grouped])
    return model


# ----------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------


def evaluate_group(space: Any, model: Any, problem: Any, configs: list[dict[str, Any]], times: list[float],
                   within: float = 0.05, target: dict[str, float] | None = None) -> dict[str, Any]:
    """The model's choice among measured `configs` of `problem` against the
    best measured and the heuristic's: speeds relative to the best (1.0 =
    the best), Kendall's tau of predicted against measured, and the
    measurements a model-guided and a random search need to come within
    `within` of the best. `target`: the features of the machine that
    measured them (default this one's)."""
    from scipy.stats import kendalltau

    from sparcc import costmodel

    pred = costmodel.rank(space, problem, model, configs, target)
    best = min(times)
    chosen = min(range(len(configs)), key=lambda i: pred[i])
    with space.as_target(target) if hasattr(space, "as_target") else contextlib.nullcontext():
        hkey = space.key(space.heuristic(problem))  # the heuristic of the machine that measured them
    h = next((i for i, c in enumerate(configs) if space.key(c) == hkey), None)
    tau = kendalltau(pred, times).statistic if len(configs) > 1 else 1.0
    order = sorted(range(len(configs)), key=lambda i: pred[i])
    good = {i for i, t in enumerate(times) if t <= best * (1 + within)}
    guided = 1 + next(n for n, i in enumerate(order) if i in good)
    random_expected = (len(configs) + 1) / (len(good) + 1)
    return {"problem": space.problem_dict(problem), "candidates": len(configs), "best_us": best,
            "chosen_us": times[chosen], "chosen": space.describe(configs[chosen]),
            "heuristic_us": times[h] if h is not None else None,
            "chosen_vs_best": best / times[chosen], "heuristic_vs_best": best / times[h] if h is not None else None,
            "tau": float(tau) if tau == tau else 0.0, "guided_measurements": guided,
            "random_measurements": random_expected,
            "predicted": [float(x) for x in pred], "measured": list(times)}


def summarise(results: Sequence[dict[str, Any]], within: float = 0.05) -> dict[str, float]:
    n = len(results)
    top1 = sum(r["chosen_vs_best"] >= 1 / (1 + within) for r in results) / n
    tau = sum(r["tau"] for r in results) / n
    with_h = [r for r in results if r["heuristic_us"] is not None]
    vs_h = math.exp(sum(math.log(r["heuristic_us"] / r["chosen_us"]) for r in with_h) / len(with_h)) if with_h else float("nan")
    fewer = math.exp(sum(math.log(r["random_measurements"] / r["guided_measurements"]) for r in results) / n)
    return {"problems": n, "top1_within": top1, "kendall_tau": tau, "vs_heuristic": vs_h, "fewer_measurements": fewer}


def summary_line(s: dict[str, float], within: float = 0.05) -> str:
    return (f"top1-within-{within * 100:.0f}%: {s['top1_within'] * 100:.0f}%  kendall-tau: {s['kendall_tau']:.2f}  "
            f"vs-heuristic geomean: {s['vs_heuristic']:.2f}x")


def read_problems(path: str, space: Any, threads: int = 1) -> list[Any]:
    """Problems from a JSON file: a list of {"M", "N", "K", ...} objects
    (`threads` where an object does not say)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise SparccError(f"{path}: cannot read it ({e.strerror or e})") from None
    except ValueError as e:
        raise SparccError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, list) or not data:
        raise SparccError(f"{path}: expected a non-empty JSON list of problems like {{\"M\": 64, \"N\": 768, \"K\": 192}}")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise SparccError(f"{path}: item {i} is {type(item).__name__}, not an object like {{\"M\": 64, ...}}")
        try:
            out.append(space.problem({"threads": threads, **item}))
        except ValueError as e:
            raise SparccError(f"{path}: item {i}: {e}") from None
    return out


def model_problems(spec: str, inputs: Sequence[str] | None, threads: int, space: Any) -> list[Any]:
    """The problems of `space` in a model's compiled program (each kernel
    the cost model decided)."""
    from sparcc.cli import model_and_inputs
    from sparcc.driver import compile_program

    model, args = model_and_inputs(spec, inputs)
    program = compile_program(model, args, threads=threads, use_cache=False)
    seen, out = set(), []
    for choice in program.report.get("choices", []):
        if choice.get("space") == space.name and problem_key(choice["problem"]) not in seen:
            seen.add(problem_key(choice["problem"]))
            out.append(space.problem(choice["problem"]))
    return out


def tune(problems: Sequence[dict[str, Any]], space: str = "cpu.matmul", sample: int | None = None,
         dataset: str | Path | None = None, threads: int = 1, target: str = "cpu") -> list[dict[str, Any]]:
    """`sparcc tune --shapes` from Python: measures (up to `sample` of) the
    candidates of each problem ({"M", "N", "K", ...}) and appends them to
    the dataset; returns one record per problem: {"problem", "best_us",
    "best", "heuristic_us"}."""
    sp = _space_of(target, space)
    parsed = []
    for i, item in enumerate(problems):
        try:
            parsed.append(sp.problem({"threads": threads, **item}))
        except (ValueError, TypeError) as e:
            raise SparccError(f"problem {i}: {e}") from None
    out = []
    for p, configs, results in measure_problems(sp, parsed, sample, path=Path(dataset) if dataset else None,
                                                say=lambda s: None):
        timed = [(r["us"], c) for c, r in zip(configs, results) if r.get("us") is not None]
        hkey = sp.key(sp.heuristic(p))
        h = next((r["us"] for c, r in zip(configs, results) if sp.key(c) == hkey), None)
        best = min(timed, key=lambda x: x[0]) if timed else (None, None)
        out.append({"problem": sp.problem_dict(p), "best_us": best[0], "best": best[1], "heuristic_us": h})
    return out


def train_model(space: str = "cpu.matmul", dataset: str | Path | None = None, objective: str = "regression",
                out: str | Path | None = None, target: str = "cpu") -> Path:
    """`sparcc tune --train` from Python: fits this machine's model of
    `space` to the dataset and writes it where compiles find it (or `out`)."""
    from sparcc import costmodel

    sp = _space_of(target, space)
    model = train(sp, read_rows(space, Path(dataset) if dataset else None, machine_id()), objective)
    return costmodel.save(model, Path(out) if out else costmodel.local_path(space), machine=machine_id())


def _space_of(target: str, space: str) -> Any:
    from sparcc.backends import get_target

    spaces = get_target(target).cost_spaces()
    if space not in spaces:
        raise SparccError(f"space '{space}': target '{target}' has {', '.join(spaces) or 'none'}")
    return spaces[space]


def main(opts: Any) -> None:
    """The `sparcc tune` command."""
    from sparcc import costmodel
    from sparcc.backends import get_target

    target = get_target(opts.target_device)
    spaces = target.cost_spaces()
    if not spaces:
        raise SparccError(f"target '{target.name}' has no cost spaces to tune")
    name = opts.space or next(iter(spaces))
    if name not in spaces:
        raise SparccError(f"--space {name}: target '{target.name}' has {', '.join(spaces)}")
    space = spaces[name]
    if opts.sample is not None and opts.sample < 2:
        raise SparccError(f"--sample {opts.sample}: at least 2 (the heuristic's candidate and another)")
    if opts.threads is not None and opts.threads < 1:
        raise SparccError(f"--threads {opts.threads}: must be at least 1")
    dataset = Path(opts.dataset) if opts.dataset else None
    threads = opts.threads or 1
    problems: list[Any] = []
    if opts.shapes:
        problems += read_problems(opts.shapes, space, threads)
    if opts.model:
        problems += model_problems(opts.model, opts.example_input, threads, space)
    if not (problems or opts.train or opts.eval):
        raise SparccError("nothing to do: give --shapes SHAPES.json or FILE:FACTORY to measure, --train, or --eval SHAPES.json")
    if problems:
        measure_problems(space, problems, opts.sample, path=dataset)
    if opts.train:
        rows = read_rows(name, dataset, machine_id())
        model = train(space, rows, opts.objective)
        out = Path(opts.model_file) if opts.model_file else costmodel.local_path(name)
        costmodel.save(model, out, machine=machine_id())
        print(f"trained on {model.meta['rows']} measurements of {model.meta['problems']} problems: {out}")
    if opts.eval:
        model, warning = costmodel.load(name)
        if model is None:
            raise SparccError(f"no cost model to evaluate for '{name}'" + (f": {warning}" if warning else
                                                                           " (sparcc tune --train first)"))
        eval_problems = read_problems(opts.eval, space, threads)
        results = []
        for problem, configs, measured in measure_problems(space, eval_problems, opts.sample, "eval", dataset,
                                                           say=lambda s: None):
            timed = [(c, r["us"]) for c, r in zip(configs, measured) if r.get("us") is not None]
            if len(timed) < 2:
                print(f"{space.problem_dict(problem)}: fewer than 2 candidates could be timed; left out")
                continue
            r = evaluate_group(space, model, problem, [c for c, _ in timed], [t for _, t in timed])
            results.append(r)
            h = f"{r['heuristic_vs_best']:.2f}" if r["heuristic_vs_best"] is not None else "-"
            print(f"{_problem_text(r['problem'])}  chosen/best {r['chosen_vs_best']:.2f}  heuristic/best {h}  "
                  f"tau {r['tau']:.2f}  ({r['candidates']} measured, chose {r['chosen']})", flush=True)
        if not results:
            raise SparccError("no problem of the evaluation could be timed")
        s = summarise(results)
        print(f"measurements to come within 5% of the best: {s['fewer_measurements']:.1f}x fewer than random search")
        print(summary_line(s))


def _problem_text(p: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in p.items())
