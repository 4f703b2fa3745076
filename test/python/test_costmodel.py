"""The learned cost model (sparcc/costmodel.py), its CPU search space
(backends/cpu/schedule.py, tuning.py) and `sparcc tune` (sparcc/tune.py).

Every configuration of the space must compute the same matmul (checked
against numpy by the timing worker, and against PyTorch through the JIT);
the model must pick what it predicts best, a damaged model file must fall
back to the heuristic with a warning that the report repeats, and the
evaluation's metrics are checked on hand-derived cases.
"""

import json
import os
import warnings

import numpy as np
import pytest
import torch

import sparcc
from sparcc import costmodel, tune
from sparcc.backends.cpu import schedule, tuning
from sparcc.backends.cpu.schedule import MatmulProblem, check_matmul, heuristic_matmul, matmul_space
from sparcc.cli import main as cli_main
from sparcc.driver import compile_program

SPACE = tuning.SPACE


@pytest.fixture(autouse=True)
def avx512_tiles(monkeypatch):
    """The space and the toy models below name AVX-512 register tiles
    (4x32, 8x64); the tests run the same on an AVX2 host, whose own tiles
    are checked in test_avx2_space_fits_sixteen_registers."""
    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX512)


@pytest.mark.parametrize("p", [MatmulProblem(1, 1, 512, 512), MatmulProblem(1, 64, 768, 192),
                               MatmulProblem(1, 37, 130, 70, 2), MatmulProblem(4, 16, 64, 32, 2),
                               MatmulProblem(1, 3, 5, 7)])
def test_space_is_valid_and_holds_the_heuristic(p):
    space = matmul_space(p)
    assert space[0] == heuristic_matmul(p)
    assert all(check_matmul(p, c) is None for c in space)
    assert len({SPACE.key(c) for c in space}) == len(space)
    splits = {c["split"] for c in space}
    assert splits <= set(p.splits()) and ("none" in splits)
    if p.threads == 1:
        assert splits == {"none"}


@pytest.mark.parametrize("p", [MatmulProblem(1, 1, 512, 512), MatmulProblem(1, 64, 768, 192),
                               MatmulProblem(1, 3136, 64, 576), MatmulProblem(1, 17, 40, 70, 2)])
def test_avx2_space_fits_sixteen_registers(p, monkeypatch):
    """With AVX2's 16 registers of 8 lanes, every candidate (the heuristic's
    first) keeps its accumulators, a row of B and a broadcast in registers:
    AVX-512's 6x64 tile (24 zmm accumulators) is 48 ymm and spilled."""
    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX2)
    space = matmul_space(p)
    assert space[0] == heuristic_matmul(p) and all(check_matmul(p, c) is None for c in space)
    for c in space:
        v = -(-c["nr"] // 8)
        assert c["mr"] * v + v + 1 <= 16, c
    assert max(c["nr"] for c in space) <= 32
    if p.n % 16 == 0 and p.m >= 6:
        assert (heuristic_matmul(p)["mr"], heuristic_matmul(p)["nr"]) == (6, 16)
    assert "16 vector registers of 8 lanes" in check_matmul(
        MatmulProblem(1, 8, 64, 32), {"split": "none", "mr": 6, "nr": 64, "nc": 64, "kc": 32, "pack": 0})


def test_a_model_of_other_vector_widths_declines(monkeypatch):
    """The shipped default was measured on AVX-512 machines: on an AVX2 host
    the heuristic sizes the tiles, and the report says why."""
    p = MatmulProblem(1, 64, 256, 128)
    assert SPACE.covers({"threads": [1]}, p) is None  # a model without widths: AVX-512 ones
    monkeypatch.setattr(schedule, "VECTOR_UNIT", schedule.AVX2)
    assert SPACE.covers({"threads": [1]}, p) == "the model was trained on 16-lane vectors, not this CPU's 8-lane ones"
    assert SPACE.covers({"threads": [1], "simd_lanes": [8, 16]}, p) is None
    target = tuning.machine() | {"simd_lanes": 16.0}
    assert SPACE.domain([p], [target, None])["simd_lanes"] == sorted({16, int(tuning.machine()["simd_lanes"])})


def test_check_names_what_is_wrong():
    p = MatmulProblem(1, 8, 64, 32)
    assert "32 vector registers" in check_matmul(p, {"split": "none", "mr": 8, "nr": 64, "nc": 64, "kc": 32, "pack": 0})
    assert "do not fit" in check_matmul(p, {"split": "none", "mr": 9, "nr": 16, "nc": 64, "kc": 32, "pack": 0})
    assert "split 'n'" in check_matmul(p, {"split": "n", "mr": 8, "nr": 16, "nc": 64, "kc": 32, "pack": 0})
    assert "missing" in check_matmul(p, {"split": "none"})


@pytest.mark.parametrize("p, sample", [
    (MatmulProblem(1, 20, 48, 40, 1), 5),
    pytest.param(MatmulProblem(1, 20, 48, 40, 2), None, marks=pytest.mark.slow),
    pytest.param(MatmulProblem(1, 33, 80, 100, 1), None, marks=pytest.mark.slow),
])
def test_every_candidate_computes_the_matmul(p, sample):
    """The worker checks each library's result against numpy before timing
    it ('wrong result' otherwise): every configuration is a correct schedule."""
    configs = tune.sample(matmul_space(p), heuristic_matmul(p), sample, "test")
    results = tuning.measure_matmul(p, configs)
    assert [r.get("error") for r in results] == [None] * len(configs)
    assert all(r["us"] > 0 and r["noise"] >= 0 for r in results)


def _toy_model(tmp_path, best: dict, space=SPACE):
    """A model trained on made-up times where `best`'s register tile is fastest."""
    data = []
    for p in (MatmulProblem(1, 64, 256, 128), MatmulProblem(1, 32, 512, 64), MatmulProblem(1, 48, 128, 256)):
        configs = matmul_space(p)
        times = [1.0 if (c["mr"], c["nr"]) == (best["mr"], best["nr"]) else 3.0 + c["kc"] / 512 for c in configs]
        data.append(([space.features(p, c) for c in configs], times))
    model = costmodel.train(space.name, data, "regression", rounds=60)
    folder = tmp_path / "models"
    costmodel.save(model, folder / f"{space.name}.json")
    return folder


def test_the_model_chooses_what_it_predicts_fastest_and_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(costmodel.MODEL_ENV, str(_toy_model(tmp_path, {"mr": 4, "nr": 32})))
    a, b = torch.randn(64, 128), torch.randn(128, 256)
    program = compile_program(lambda x, y: x @ y, (a, b), threads=1, use_cache=False)
    torch.testing.assert_close(program(a, b), a @ b, atol=1e-4, rtol=1e-4)
    (choice,) = program.report["choices"]
    assert choice["by"] == "model" and choice["problem"] == {"batch": 1, "m": 64, "n": 256, "k": 128, "threads": 1}
    assert choice["top"][0][0].startswith("4x32") and choice["candidates"] == len(matmul_space(MatmulProblem(1, 64, 256, 128)))
    line = next(d for d in program.report["schedule"] if d.startswith("linalg.matmul"))
    assert "'mr': 4, 'nr': 32" in line and "cost model" in line and "candidates" in line


def test_a_damaged_model_file_warns_and_falls_back_to_the_heuristic(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "cpu.matmul.json").write_text('{"format": "sparcc-costmodel/1", "space": "cpu.matmul", "features": ')
    monkeypatch.setenv(costmodel.MODEL_ENV, str(folder))
    a, b = torch.randn(16, 32), torch.randn(32, 64)
    with pytest.warns(UserWarning, match="is damaged"):
        program = compile_program(lambda x, y: x @ y, (a, b), threads=1, use_cache=False)
    torch.testing.assert_close(program(a, b), a @ b, atol=1e-4, rtol=1e-4)
    (choice,) = program.report["choices"]
    assert choice["by"] == "heuristic" and "damaged" in choice["warning"]
    h = heuristic_matmul(MatmulProblem(1, 16, 64, 32))
    assert f"'mr': {h['mr']}, 'nr': {h['nr']}" in next(d for d in program.report["schedule"] if "matmul" in d)


def test_a_model_of_another_space_or_bad_trees_is_damaged(tmp_path):
    good = json.loads((_toy_model(tmp_path, {"mr": 4, "nr": 32}) / "cpu.matmul.json").read_text())
    for broken, why in (({**good, "space": "cpu.other"}, "model of 'cpu.other'"),
                        ({**{k: v for k, v in good.items() if k != "booster_gz"}, "booster": "tree\nnonsense"}, "damaged"),
                        ({**good, "booster_gz": "not base64!"}, "damaged"),
                        ({**good, "features": good["features"][:-1]}, "features")):
        path = tmp_path / "broken.json"
        path.write_text(json.dumps(broken))
        model, warning = costmodel._read("cpu.matmul", str(path), path)
        assert model is None and why in warning


def test_a_new_model_changes_the_compile_cache_key(tmp_path, monkeypatch):
    before = costmodel.fingerprint(["cpu.matmul"])
    monkeypatch.setenv(costmodel.MODEL_ENV, str(_toy_model(tmp_path, {"mr": 4, "nr": 32})))
    with_model = costmodel.fingerprint(["cpu.matmul"])
    monkeypatch.setenv(costmodel.TOP_ENV, "3")
    assert len({before, with_model, costmodel.fingerprint(["cpu.matmul"])}) == 3


def test_measuring_the_top_k_keeps_the_fastest_and_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv(costmodel.MODEL_ENV, str(_toy_model(tmp_path, {"mr": 4, "nr": 32})))
    monkeypatch.setenv(costmodel.TOP_ENV, "2")
    p = MatmulProblem(1, 24, 64, 32)
    config, record = tuning.choose(p)
    assert record["by"] == "measured" and 2 <= len(record["measured"]) <= 3  # the top 2 and the heuristic's
    fastest = min(record["measured"], key=lambda x: x[1])[0]
    assert SPACE.describe(config) == fastest
    rows = tune.read_rows("cpu.matmul")
    assert sum(r["source"] == "compile" and r["problem"] == p.as_dict() for r in rows) == len(record["measured"])


def test_bad_measure_top_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(costmodel.TOP_ENV, "many")
    with pytest.raises(sparcc.SparccError, match="SPARCC_MEASURE_TOP='many' is not a whole number"):
        costmodel.measure_top()


def test_evaluation_metrics_on_a_hand_derived_case():
    class Fixed:
        name = "toy"

        def predict(self, rows):
            return [3.0, 1.0, 2.0]

        unit = "us"

    class ToySpace:
        name = "toy"

        def features(self, p, c, target=None):
            return {}

        def heuristic(self, p):
            return {"i": 0}

        def key(self, c):
            return (c["i"],)

        def describe(self, c):
            return str(c["i"])

        def problem_dict(self, p):
            return {"p": p}

    r = tune.evaluate_group(ToySpace(), Fixed(), 1, [{"i": 0}, {"i": 1}, {"i": 2}], [1.0, 2.0, 4.0])
    assert r["chosen_vs_best"] == 0.5 and r["heuristic_vs_best"] == 1.0
    assert r["tau"] == pytest.approx(-1 / 3)  # pairs: (0,1) and (0,2) discordant, (1,2) concordant
    assert r["guided_measurements"] == 3 and r["random_measurements"] == 2.0  # (3 + 1) / (1 + 1)
    s = tune.summarise([r, {**r, "chosen_vs_best": 1.0, "chosen_us": 1.0, "tau": 1.0}])
    assert s["top1_within"] == 0.5 and s["kendall_tau"] == pytest.approx(1 / 3)
    assert s["vs_heuristic"] == pytest.approx((0.5 * 1.0) ** 0.5)
    assert tune.summary_line(s).startswith("top1-within-5%: 50%  kendall-tau: 0.33  vs-heuristic geomean: 0.71x")


def test_tune_cli_measures_trains_and_evaluates(tmp_path, capsys):
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps([{"M": 4, "N": 32, "K": 16}, {"M": 8, "N": 16, "K": 24}]))
    data = tmp_path / "data.jsonl"
    assert cli_main(["tune", "--shapes", str(shapes), "--dataset", str(data)]) == 0
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert {(r["problem"]["m"], r["problem"]["n"], r["problem"]["k"]) for r in rows} == {(4, 32, 16), (8, 16, 24)}
    assert all(r["us"] > 0 and r["space"] == "cpu.matmul" and r["error"] is None for r in rows)
    model_file = tmp_path / "m.json"
    assert cli_main(["tune", "--train", "--dataset", str(data), "--model-file", str(model_file)]) == 0
    assert json.loads(model_file.read_text())["format"] == costmodel.FORMAT
    os.environ[costmodel.MODEL_ENV] = str(tmp_path / "nowhere")
    try:
        import shutil

        (tmp_path / "nowhere").mkdir()
        shutil.copy(model_file, tmp_path / "nowhere" / "cpu.matmul.json")
        capsys.readouterr()
        assert cli_main(["tune", "--eval", str(shapes), "--dataset", str(data)]) == 0
    finally:
        del os.environ[costmodel.MODEL_ENV]
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("top1-within-5%: ") and "kendall-tau: " in out[-1] and "vs-heuristic geomean: " in out[-1]
    assert sum("chosen/best" in line for line in out) == 2


@pytest.mark.parametrize("argv, message", [
    (["tune"], "nothing to do"),
    (["tune", "--shapes", "/nonexistent.json"], "cannot read it"),
    (["tune", "--space", "gpu.magic", "--train"], "--space gpu.magic"),
    (["tune", "--sample", "1", "--train"], "--sample 1"),
    (["run", "examples/mlp.py:make_model", "--measure-top", "-1"], "--measure-top -1: must be at least 0"),
])
def test_tune_cli_errors_are_one_line(argv, message, capsys):
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_tune_cli_rejects_malformed_shapes(tmp_path, capsys):
    for text, message in (("[1, 2]", "item 0 is int"), ('[{"M": 4, "N": "x", "K": 2}]', "whole numbers"),
                          ("{", "not JSON"), ('[{"M": 0, "N": 2, "K": 2}]', "at least 1")):
        path = tmp_path / "s.json"
        path.write_text(text)
        assert cli_main(["tune", "--shapes", str(path)]) == 1
        assert message in capsys.readouterr().err


def test_training_needs_data(tmp_path, capsys):
    assert cli_main(["tune", "--train", "--dataset", str(tmp_path / "empty.jsonl")]) == 1
    assert "holds 0 measured problem(s)" in capsys.readouterr().err


def test_a_damaged_dataset_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "d.jsonl"
    good = {"space": "cpu.matmul", "us": 1.0, "problem": {}, "config": {}}
    path.write_text(json.dumps(good) + "\n{broken\n" + json.dumps({**good, "us": None}) + "\n")
    with pytest.warns(UserWarning, match="1 damaged line"):
        rows = tune.read_rows("cpu.matmul", path)
    assert rows == [good]


def test_the_shipped_model_loads_and_ranks_the_space():
    shipped = costmodel.SHIPPED / "cpu.matmul.json"
    if not shipped.exists():
        pytest.skip("no default model shipped yet (benchmarks/costmodel.py ship)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, warning = costmodel._read("cpu.matmul", "default", shipped)
    assert warning is None
    p = MatmulProblem(1, 64, 768, 192)
    costs = costmodel.rank(SPACE, p, model, matmul_space(p))
    assert len(costs) == len(matmul_space(p)) and all(np.isfinite(costs)) and len(set(costs)) > 1


def test_sparse_problems_parse_and_name_what_is_wrong():
    space = tuning.SPARSE_SPACE
    p = space.problem({"M": 8, "N": 256, "K": 128, "pattern": "2:4"})
    assert (p.density, p.fmt) == (0.5, "2:4") and [space.describe(c) for c in space.candidates(p)] == ["dense", "sparse 2:4"]
    p = space.problem({"M": 1, "N": 64, "K": 64, "density": 0.1, "pattern": "unstructured", "format": "ell"})
    assert p.fmt == "ell" and len(space.candidates(p)) == 6 and p.prune_spec() == "unstructured:0.9"
    assert space.problem({"M": 1, "N": 64, "K": 64, "density": 0.25, "pattern": "block:4x4"}).fmt == "bsr:4x4"
    for bad, message in (({"M": 1, "N": 4, "K": 4, "density": 0}, "0 < density <= 1"),
                         ({"M": 1, "N": 4, "K": 4, "pattern": "3:2"}, "pattern '3:2'"),
                         ({"M": 1, "N": 4, "K": 4, "density": 0.5, "format": "2:4"}, "does not store"),
                         ({"N": 4, "K": 4}, "whole numbers")):
        with pytest.raises(ValueError, match=message):
            space.problem(bad)


def test_sparse_candidates_compute_the_layer_and_are_timed():
    space = tuning.SPARSE_SPACE
    p = space.problem({"M": 4, "N": 64, "K": 96, "density": 0.2, "pattern": "unstructured"})
    results = space.measure(p, space.candidates(p))  # the worker checks each against numpy first
    assert [r.get("error") for r in results] == [None] * 6 and all(r["us"] > 0 for r in results)


def test_the_sparse_model_decides_auto_and_the_report_says_so(tmp_path, monkeypatch):
    """A model trained on made-up times where sparse wins below 30 % stored
    makes auto: run a 10 %-kept layer sparse and a 60 %-kept one dense."""
    space = tuning.SPARSE_SPACE
    data = []
    for density in (0.05, 0.1, 0.2, 0.4, 0.6, 0.8):
        for m in (1, 4, 16):
            p = space.problem({"M": m, "N": 96, "K": 96, "density": density, "pattern": "unstructured"})
            configs = space.candidates(p)
            data.append(([space.features(p, c) for c in configs],
                         [1.0 if c["run"] == "dense" else 0.3 + 2.5 * density for c in configs]))
    model = costmodel.train(space.name, data, "regression", rounds=80)
    costmodel.save(model, tmp_path / "cpu.sparse.json")
    monkeypatch.setenv(costmodel.MODEL_ENV, str(tmp_path))

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(96, 96), torch.nn.Linear(96, 96)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    program = compile_program(MLP().eval(), [torch.randn(4, 96)], threads=1, use_cache=False,
                              sparsity={"fc1": "auto:unstructured:0.9", "fc2": "auto:unstructured:0.4"})
    fc1, fc2 = program.report["sparsity"]["layers"]
    assert fc1["execution"].startswith("sparse (predicted") and "by the cost model" in fc1["execution"]
    assert fc2["execution"].startswith("dense (auto:") and "by the cost model" in fc2["execution"]


def test_a_one_thread_model_schedules_each_threads_piece(tmp_path, monkeypatch):
    """Trained at one thread, the model declines to split 2 threads; the
    heuristic splits, and each thread's piece gets the model's tiles."""
    monkeypatch.setattr(tuning, "SPLIT_MIN_ACCUMULATORS", 0)  # any tile (the next test: which are left out)
    monkeypatch.setenv(costmodel.MODEL_ENV, str(_toy_model(tmp_path, {"mr": 4, "nr": 32})))
    model, _ = costmodel.load("cpu.matmul")
    model.meta["domain"] = {"threads": [1]}
    p = MatmulProblem(1, 64, 512, 256, 2)
    config, record = tuning.choose(p)
    assert config["split"] == heuristic_matmul(p)["split"] == "n"
    assert (config["mr"], config["nr"]) == (4, 32) and check_matmul(p, config) is None
    assert record["by"] == "model" and "split n by the heuristic" in record["summary"]
    assert SPACE.covers({"threads": [1]}, p) == "the model was trained on 1 thread(s), not 2"


@pytest.mark.parametrize("unit", ["AVX2", "AVX512"])
def test_a_threads_piece_keeps_tiles_with_more_accumulators_than_fma_chains(unit, tmp_path, monkeypatch):
    """A piece of a split matmul (row-major B, at least 64 rows) takes no
    register tile of fewer than SPLIT_MIN_ACCUMULATORS accumulators where a
    taller one exists, whatever the one-thread model prefers (4x16 on AVX2,
    4x32 on AVX-512: 8); one thread, a shorter piece, B in panels, or a
    threshold no tile meets keep the model's choice."""
    from sparcc.backends.cpu import schedule

    monkeypatch.setattr(schedule, "VECTOR_UNIT", getattr(schedule, unit))
    lanes = schedule.vector_unit().lanes
    best = {"mr": 4, "nr": 16} if unit == "AVX2" else {"mr": 4, "nr": 32}
    monkeypatch.setenv(costmodel.MODEL_ENV, str(_toy_model(tmp_path, best)))
    model, _ = costmodel.load("cpu.matmul")
    model.meta["domain"] = {"threads": [1], "simd_lanes": [8, 16]}
    tuning._CHOSEN.clear()
    accumulators = lambda c: c["mr"] * -(-c["nr"] // lanes)  # noqa: E731
    config, record = tuning.choose(MatmulProblem(1, 64, 512, 256, 2))
    assert record["by"] == "model" and config["split"] == "n"
    assert accumulators(config) >= tuning.SPLIT_MIN_ACCUMULATORS, config
    assert record["candidates"] < len(matmul_space(tuning.piece_problem(MatmulProblem(1, 64, 512, 256, 2), "n")))
    config, _ = tuning.choose(MatmulProblem(1, 64, 512, 256, 1))
    assert (config["mr"], config["nr"]) == (best["mr"], best["nr"])
    # fewer rows than WHOLE_ROWS_MAX_M, or B in panels: the model's tile
    for short, panels in ((MatmulProblem(1, 16, 512, 256, 2), False), (MatmulProblem(1, 64, 512, 256, 2), True)):
        config, _ = tuning.choose(short, panels=panels)
        assert (config["mr"], config["nr"]) == (best["mr"], best["nr"]), (short, panels, config)
    monkeypatch.setattr(tuning, "SPLIT_MIN_ACCUMULATORS", 0)
    tuning._CHOSEN.clear()
    config, _ = tuning.choose(MatmulProblem(1, 64, 512, 256, 2))
    assert (config["mr"], config["nr"]) == (best["mr"], best["nr"])
    monkeypatch.setattr(tuning, "SPLIT_MIN_ACCUMULATORS", 10 ** 6)  # no tile has that many: all stay
    tuning._CHOSEN.clear()
    config, _ = tuning.choose(MatmulProblem(1, 64, 512, 256, 2))
    assert (config["mr"], config["nr"]) == (best["mr"], best["nr"])
    a, b = torch.randn(64, 256), torch.randn(256, 512)
    if schedule.vector_unit() == schedule.AVX512 or unit == "AVX2":
        monkeypatch.setattr(tuning, "SPLIT_MIN_ACCUMULATORS", 9)
        tuning._CHOSEN.clear()
        program = compile_program(lambda x, y: x @ y, (a, b), threads=2, use_cache=False)
        torch.testing.assert_close(program(a, b), a @ b, atol=1e-4, rtol=1e-4)


def test_single_row_panel_matmuls_take_the_heuristic(tmp_path, monkeypatch):
    """A weight in panels at one or two rows per thread: the model (which
    timed row-major B) does not choose; from three rows it does. Through a
    whole compile: a Linear at 1 and at 8 rows."""
    monkeypatch.setenv(costmodel.MODEL_ENV, str(_toy_model(tmp_path, {"mr": 4, "nr": 32})))
    for rows, by in ((1, "heuristic"), (2, "heuristic"), (8, "model")):
        p = MatmulProblem(1, rows, 256, 128)
        config, record = tuning.choose(p, panels=True)
        assert record["by"] == by, (rows, record)
        if by == "heuristic":
            assert config == heuristic_matmul(p) and "B in panels" in record["summary"]
        assert tuning.choose(p)[1]["by"] == "model"  # row-major B: the model
    lin = torch.nn.Linear(512, 1536).eval()  # large enough to be stored in panels
    for rows, by in ((1, "heuristic"), (8, "model")):
        x = torch.randn(rows, 512)
        program = compile_program(lin, (x,), threads=1, use_cache=False)
        with torch.no_grad():
            torch.testing.assert_close(program(x), lin(x), atol=1e-4, rtol=1e-4)
        line = next(d for d in program.report["schedule"] if d.startswith("linalg.matmul"))
        assert "panels" in line and (("B in panels" in line) == (by == "heuristic")), line


def test_tune_measures_the_matmuls_of_a_model(tmp_path):
    (tmp_path / "m.py").write_text(
        "import torch\n"
        "def make():\n    return torch.nn.Sequential(torch.nn.Linear(24, 40), torch.nn.ReLU(), torch.nn.Linear(40, 16))\n")
    data = tmp_path / "d.jsonl"
    assert cli_main(["tune", f"{tmp_path / 'm.py'}:make", "--example-input", "randn(6,24)", "--sample", "2",
                     "--dataset", str(data)]) == 0
    problems = {tuple(json.loads(line)["problem"][k] for k in "mnk") for line in data.read_text().splitlines()}
    assert problems == {(6, 40, 24), (6, 16, 40)}  # one problem per Linear: rows x out x in


def test_tune_from_python(tmp_path):
    data = tmp_path / "d.jsonl"
    (rec,) = tune.tune([{"M": 8, "N": 32, "K": 16}], dataset=data)
    assert rec["problem"] == {"batch": 1, "m": 8, "n": 32, "k": 16, "threads": 1}
    assert rec["best_us"] <= rec["heuristic_us"] and check_matmul(MatmulProblem(1, 8, 32, 16), rec["best"]) is None
    tune.tune([{"M": 4, "N": 16, "K": 32}], dataset=data)
    path = tune.train_model(dataset=data, out=tmp_path / "m.json")
    assert costmodel._read("cpu.matmul", str(path), path)[1] is None
    with pytest.raises(sparcc.SparccError, match="problem 0: a matmul problem needs whole numbers"):
        tune.tune([{"M": "x"}])
    with pytest.raises(sparcc.SparccError, match="space 'cpu.nothing'"):
        tune.tune([{"M": 1, "N": 1, "K": 1}], space="cpu.nothing")


def test_one_model_learns_from_rows_of_two_machines_and_chooses_per_machine():
    """Rows record the target features of the machine that measured them;
    groups() keeps each machine's measurements of a problem apart and fit()
    sees each with its own machine's features. Made-up times: on the AMD
    machine 4x64 tiles win, on the other 14x32 (as GEMM 1024^3 measured on
    Zen 4 and Sapphire Rapids); the model, asked for a problem it never
    saw, must choose each machine's winner."""
    intel = {"cores": 2.0, "simd_lanes": 16.0, "l1d_kib": 48.0, "l2_kib": 2048.0, "amd": 0.0}
    amd = {"cores": 2.0, "simd_lanes": 16.0, "l1d_kib": 32.0, "l2_kib": 1024.0, "amd": 1.0}
    winners = {"intel": (14, 32), "amd": (4, 64)}
    rows = []
    for m, n, k in [(64, 256, 128), (96, 512, 64), (128, 128, 256), (256, 512, 512), (192, 256, 384), (128, 1024, 128)]:
        p = MatmulProblem(1, m, n, k)
        for name, target in (("intel", intel), ("amd", amd)):
            for c in matmul_space(p):
                us = 1.0 if (c["mr"], c["nr"]) == winners[name] else 2.0 + c["kc"] / 1024
                rows.append({"space": SPACE.name, "machine": name, "target": target, "problem": p.as_dict(),
                             "config": c, "us": us})
    grouped = tune.groups(SPACE, rows)
    assert len(grouped) == 12 and {g.machine for g in grouped} == {"intel", "amd"}
    assert all(g.target == (amd if g.machine == "amd" else intel) for g in grouped)
    model = tune.fit(SPACE, grouped, "regression")
    unseen = MatmulProblem(1, 224, 512, 256)
    configs = matmul_space(unseen)
    for name, target in (("intel", intel), ("amd", amd)):
        costs = costmodel.rank(SPACE, unseen, model, configs, target)
        chosen = configs[min(range(len(configs)), key=costs.__getitem__)]
        assert (chosen["mr"], chosen["nr"]) == winners[name], name


def test_tuned_rows_record_this_machines_target_features():
    p = MatmulProblem(1, 4, 16, 8)
    r = tune.row(SPACE, p, heuristic_matmul(p), {"us": 1.0, "noise": 0.0}, "test")
    assert r["target"] == tuning.machine() and r["machine"] == tune.machine_id()
    assert set(r["target"]) >= {"cores", "simd_lanes", "l1d_kib", "l2_kib", "amd"}
