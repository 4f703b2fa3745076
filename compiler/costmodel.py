"""
sparcc's learned cost model: gradient-boosted trees (LightGBM) that predict
the run time of one candidate of a target's search space from features of
the candidate and its problem (shapes, tiles, bytes moved, FLOPs, the
machine), trained on measurements that `sparcc tune` takes (sparcc/tune.py).

A target declares its spaces (Target.cost_spaces): the candidates of a
problem, the hand-written heuristic's choice, the features of a candidate,
and how to measure candidates. The compiler asks `choose(space, ...)`; the
model ranks the candidates by predicted time. `SPARCC_MEASURE_TOP=K` makes
the compile time the model's K best (and the heuristic's) and keep the
fastest.

Model files (JSON: the feature names, the objective, what it was trained
on, LightGBM's text model):
  <cache dir>/costmodel/<space>.json   this machine's, written by `sparcc tune --train`
  sparcc/costmodels/<space>.json       the default shipped with the package
The first that exists is used. A damaged file (or no LightGBM) gives one
warning and the heuristic; the report says so.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import os
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

FORMAT = "sparcc-costmodel/1"
SHIPPED = Path(__file__).parent / "costmodels"
TOP_ENV = "SPARCC_MEASURE_TOP"
MODEL_ENV = "SPARCC_COSTMODEL"  # "off": the heuristic everywhere; a folder: model files there first


@dataclass
class Model:
    space: str
    features: list[str]
    objective: str  # "regression" (log microseconds) or "lambdarank" (a score; higher is faster)
    booster: Any  # lightgbm.Booster
    source: str  # "default", or the path of this machine's file
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, rows: Sequence[dict[str, float]]) -> list[float]:
        """Predicted cost per row: microseconds (regression) or a rank
        cost (lambdarank: -score); lower is better either way."""
        import numpy as np

        x = np.array([[float(r.get(f, 0.0)) for f in self.features] for r in rows], dtype=np.float64)
        raw = self.booster.predict(x)
        if self.objective in ("regression", "relative"):
            return [math.exp(v) for v in raw]
        return [-float(v) for v in raw]

    @property
    def unit(self) -> str:
        return {"regression": "us", "relative": "x the best"}.get(self.objective, "rank")


def local_path(space: str) -> Path:
    from sparcc import cache

    return cache.root() / "costmodel" / f"{space}.json"


def candidates_paths(space: str) -> list[tuple[str, Path]]:
    env = os.environ.get(MODEL_ENV, "").strip()
    paths: list[tuple[str, Path]] = []
    if env and env.lower() != "off":
        paths.append((str(Path(env) / f"{space}.json"), Path(env) / f"{space}.json"))
    paths.append((str(local_path(space)), local_path(space)))
    paths.append(("default", SHIPPED / f"{space}.json"))
    return paths


_LOADED: dict[tuple[str, str, float], tuple[Model | None, str | None]] = {}


def load(space: str) -> tuple[Model | None, str | None]:
    """The model of `space` and a warning (None when all is well). No model
    at all is no warning: the heuristic is then simply the choice."""
    if os.environ.get(MODEL_ENV, "").strip().lower() == "off":
        return None, f"{MODEL_ENV}=off"
    for source, path in candidates_paths(space):
        try:
            stamp = path.stat().st_mtime
        except OSError:
            continue
        key = (space, str(path), stamp)
        if key not in _LOADED:
            _LOADED[key] = _read(space, source, path)
            if _LOADED[key][1]:
                warnings.warn(_LOADED[key][1], stacklevel=2)
        return _LOADED[key]
    return None, None


def _read(space: str, source: str, path: Path) -> tuple[Model | None, str | None]:
    where = f"cost model file {path}"
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        if data.get("space") != space:
            raise ValueError(f"it is the model of '{data.get('space')}', not '{space}'")
        features = [str(f) for f in data["features"]]
        objective = str(data["objective"])
        if objective not in ("regression", "relative", "lambdarank"):
            raise ValueError(f"unknown objective '{objective}'")
        text = data["booster"] if "booster" in data else _unpack(data["booster_gz"])
    except (OSError, ValueError, KeyError, TypeError, EOFError, zlib.error) as e:
        return None, f"{where} is damaged ({e}); sparcc uses its heuristic for '{space}'"
    try:
        import lightgbm
    except ImportError:
        return None, f"LightGBM is not installed (pip install lightgbm); sparcc uses its heuristic for '{space}'"
    try:
        booster = lightgbm.Booster(model_str=text)
        if booster.num_feature() != len(features):
            raise ValueError(f"the trees take {booster.num_feature()} features, the file names {len(features)}")
    except Exception as e:  # noqa: BLE001 (LightGBM raises its own error class on a bad model string)
        return None, f"{where} is damaged ({str(e).strip()[:160]}); sparcc uses its heuristic for '{space}'"
    meta = {k: v for k, v in data.items() if k not in ("booster", "booster_gz", "features")}
    return Model(space, features, objective, booster, source, meta), None


def fingerprint(spaces: Sequence[str]) -> str:
    """What changes the model's choices for `spaces`: the file each would
    load, its contents, and SPARCC_MEASURE_TOP (part of the compile cache's key)."""
    h = hashlib.sha256(f"{os.environ.get(MODEL_ENV, '')}|{measure_top()}".encode())
    for space in spaces:
        for _source, path in candidates_paths(space):
            digest = _file_digest(path)
            if digest is not None:
                h.update(digest)
                break
    return h.hexdigest()[:16]


_DIGESTS: dict[tuple[str, int, int], bytes] = {}


def _file_digest(path: Path) -> bytes | None:
    """The file's sha256, read once per version (tuning.choose asks for
    every matmul of a compile); None when it cannot be read."""
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in _DIGESTS:
            _DIGESTS[key] = hashlib.sha256(path.read_bytes()).digest()
        return _DIGESTS[key]
    except OSError:
        return None


def measure_top() -> int:
    env = os.environ.get(TOP_ENV, "").strip()
    if not env:
        return 0
    try:
        k = int(env)
    except ValueError:
        from sparcc.errors import SparccError

        raise SparccError(f"{TOP_ENV}='{env}' is not a whole number (the candidates to measure per kernel)") from None
    return max(k, 0)


class CostSpace(Protocol):
    """What a target declares for each decision it lets the model make."""

    name: str

    def problem(self, values: dict[str, Any]) -> Any: ...
    def problem_dict(self, problem: Any) -> dict[str, Any]: ...
    def candidates(self, problem: Any) -> list[dict[str, Any]]: ...
    def heuristic(self, problem: Any) -> dict[str, Any]: ...
    def features(self, problem: Any, config: dict[str, Any],
                 target: dict[str, float] | None = None) -> dict[str, float]: ...
    def target_features(self) -> dict[str, float]: ...  # this machine's part of the features
    def key(self, config: dict[str, Any]) -> tuple: ...
    def describe(self, config: dict[str, Any]) -> str: ...
    def measure(self, problem: Any, configs: Sequence[dict[str, Any]],
                progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]: ...
    def domain(self, problems: Sequence[Any], targets: Sequence[dict[str, float] | None] = ()) -> dict[str, Any]: ...
    def covers(self, domain: dict[str, Any], problem: Any) -> str | None: ...


def rank(space: CostSpace, problem: Any, model: Model, candidates: Sequence[dict[str, Any]],
         target: dict[str, float] | None = None) -> list[float]:
    """The model's cost of each candidate on this machine (or on the one
    that `target`, its features, describes)."""
    return model.predict([space.features(problem, c, target) for c in candidates])


def choose(space: CostSpace, problem: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The candidate to use for `problem` and a record of the decision for
    the report: {"space", "problem", "by" (model | measured | heuristic),
    "model", "candidates", "predicted", "heuristic_predicted", "top",
    "measured", "warning", "summary"}."""
    candidates = space.candidates(problem)
    heuristic = space.heuristic(problem)
    model, warning = load(space.name)
    record: dict[str, Any] = {"space": space.name, "problem": space.problem_dict(problem),
                              "candidates": len(candidates), "warning": warning}
    outside = space.covers(model.meta.get("domain", {}), problem) if model is not None else None
    if model is None or len(candidates) <= 1 or outside:
        why = warning or outside or ("one candidate" if len(candidates) <= 1 else f"no cost model for '{space.name}'")
        record |= {"by": "heuristic", "model": None, "summary": f"heuristic: {why}"}
        return heuristic, record
    costs = rank(space, problem, model, candidates)
    order = sorted(range(len(candidates)), key=lambda i: costs[i])
    h_index = next((i for i, c in enumerate(candidates) if space.key(c) == space.key(heuristic)), None)
    record |= {
        "by": "model", "model": model.source, "unit": model.unit,
        "predicted": costs[order[0]],
        "heuristic_predicted": costs[h_index] if h_index is not None else None,
        "top": [[space.describe(candidates[i]), round(costs[i], 3)] for i in order[:5]],
    }
    chosen = candidates[order[0]]
    k = measure_top()
    if k > 0:
        picked = order[:k] + ([h_index] if h_index is not None and h_index not in order[:k] else [])
        results = space.measure(problem, [candidates[i] for i in picked])
        timed = [(r["us"], i) for r, i in zip(results, picked) if r.get("us") is not None]
        if timed:
            _, best = min(timed)
            chosen = candidates[best]
            record |= {"by": "measured", "measured": [[space.describe(candidates[i]), round(us, 3)] for us, i in timed]}
            _append_measurements(space, problem, [candidates[i] for _, i in timed], results, picked)
    pred, h_pred, unit = record["predicted"], record["heuristic_predicted"], model.unit
    text = f"cost model ({'default' if model.source == 'default' else model.source}): {len(candidates)} candidates"
    if record["by"] == "measured":
        text += f", top {k} measured, fastest {space.describe(chosen)}"
    else:
        text += f", predicted {pred:.3g} {unit}" + (f" vs heuristic's {h_pred:.3g}" if h_pred is not None else "")
    record["summary"] = text
    return chosen, record


def _append_measurements(space: CostSpace, problem: Any, configs: list[dict[str, Any]],
                         results: list[dict[str, Any]], picked: list[int]) -> None:
    """Measurements taken while compiling are data too: sparcc tune's dataset."""
    try:
        from sparcc import tune

        timed = [r for r in results if r.get("us") is not None]
        tune.append_rows(space.name, [tune.row(space, problem, c, r, "compile") for c, r in zip(configs, timed)])
    except Exception as e:  # noqa: BLE001 (losing a few rows must not fail a compile)
        warnings.warn(f"could not keep the measurements in sparcc tune's dataset: {e}", stacklevel=2)


# ----------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------


PARAMS = {
    "regression": {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 5,
                   "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1, "verbose": -1,
                   "num_threads": 1, "seed": 0, "deterministic": True},
    "relative": {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 5,
                 "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1, "verbose": -1,
                 "num_threads": 1, "seed": 0, "deterministic": True},
    # lambdarank over all pairs of a problem's candidates, small trees: chosen by 5-fold CV by shape on the
    # train problems (benchmarks/costmodel.py cv)
    "lambdarank": {"objective": "lambdarank", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 10,
                   "feature_fraction": 0.9, "verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True,
                   "lambdarank_truncation_level": 400, "label_gain": list(range(0, 64))},
}
ROUNDS = 400


def relevance(times: Sequence[float], levels: int = 31) -> list[int]:
    """lambdarank labels within one problem: `levels` for the fastest,
    falling with speed relative to it (best/time, in 1/levels steps)."""
    best = min(times)
    return [max(0, int(round(levels * best / t))) for t in times]


def train(space: str, groups: Sequence[tuple[list[dict[str, float]], list[float]]], objective: str = "regression",
          rounds: int = ROUNDS) -> Model:
    """A model of `space` from measured groups: (feature rows, microseconds)
    per problem."""
    import lightgbm
    import numpy as np

    names = sorted({f for rows, _ in groups for r in rows for f in r})
    x = np.array([[r.get(f, 0.0) for f in names] for rows, _ in groups for r in rows], dtype=np.float64)
    if objective == "regression":
        y = np.array([math.log(t) for _, times in groups for t in times])
        data = lightgbm.Dataset(x, y, feature_name=names, free_raw_data=False)
    elif objective == "relative":
        y = np.array([math.log(t / min(times)) for _, times in groups for t in times])
        data = lightgbm.Dataset(x, y, feature_name=names, free_raw_data=False)
    elif objective == "lambdarank":
        y = np.array([lab for _, times in groups for lab in relevance(times)])
        data = lightgbm.Dataset(x, y, group=[len(t) for _, t in groups], feature_name=names, free_raw_data=False)
    else:
        raise ValueError(f"objective '{objective}': regression, relative or lambdarank")
    booster = lightgbm.train(PARAMS[objective], data, num_boost_round=rounds)
    meta = {"rows": int(len(y)), "problems": len(groups)}
    return Model(space, names, objective, booster, "trained", meta)


def _pack(text: str) -> str:
    """LightGBM's text model, gzipped and base64'd (a fifth of the size)."""
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def _unpack(blob: str) -> str:
    return gzip.decompress(base64.b64decode(blob, validate=True)).decode()


def save(model: Model, path: Path, **meta: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "space": model.space, "objective": model.objective, "features": model.features,
            **model.meta, **meta, "booster_gz": _pack(model.booster.model_to_string())}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
    return path
