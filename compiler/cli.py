"""The `sparcc` command.

    sparcc run examples/mlp.py:make_model --example-input "randn(64,512)"
    sparcc compile examples/mlp.py:make_model --example-input "randn(64,512)" -o out/
    sparcc --version

`run` imports FILE, calls FACTORY() for the model (an nn.Module or a
function of tensors), compiles it for the example inputs, and prints the
max abs error against PyTorch, the latency of both (at --threads each) and
the compile report. `compile` writes an ahead-of-time artifact into a
folder (sparcc.artifact), which `sparcc.load(folder)` or C code runs.
Inputs come from `--example-input` specs (repeatable:
`randn(2,3)`, `rand(4)`, `zeros(1,8)`, `ones(3)`, `randint(0,10,(2,5))`,
with an optional dtype, e.g. `randn(2,3,dtype=float32)`), or from an
`example_inputs()` function in FILE.

User mistakes end with one message and exit code 1, argument errors that
argparse finds (an unknown flag, a missing value) included; `--help` and
`--version` exit 0.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import sparcc
from sparcc.errors import SparccError

_FACTORIES = ("randn", "rand", "zeros", "ones", "randint")
_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "bool")


def parse_input_spec(spec: str) -> Any:
    """`randn(64,512)` -> a tensor; anything else is a SparccError naming the spec."""
    import torch

    def bad(why: str) -> SparccError:
        return SparccError(f"--example-input '{spec}': {why}")

    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError:
        raise bad("not of the form randn(2,3)") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise bad("not of the form randn(2,3)")
    if node.func.id not in _FACTORIES:
        raise bad(f"unknown factory '{node.func.id}'; use one of {', '.join(_FACTORIES)}")
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: k.value for k in node.keywords}
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise bad(f"unexpected argument(s) {', '.join(map(str, kwargs))}")
        if dtype is not None:
            name = dtype.id if isinstance(dtype, ast.Name) else ast.literal_eval(dtype)
            if name not in _DTYPES:
                raise bad(f"dtype {name} is not supported; use {' or '.join(_DTYPES)}")
            kw = {"dtype": getattr(torch, name)}
        else:
            kw = {}
    except (ValueError, TypeError):
        raise bad("sizes must be integer literals") from None
    try:
        return getattr(torch, node.func.id)(*args, **kw)
    except (TypeError, RuntimeError) as e:
        raise bad(str(e).splitlines()[0]) from None


def load_factory(target: str) -> tuple[Callable[[], Any], Any]:
    """FILE:FACTORY -> (factory, module)."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise SparccError(f"'{target}': expected FILE.py:FACTORY, e.g. examples/mlp.py:make_model")
    if not os.path.isfile(path):
        raise SparccError(f"'{path}': no such file")
    spec = importlib.util.spec_from_file_location("sparcc_user_model", path)
    if spec is None or spec.loader is None:
        raise SparccError(f"'{path}': not a Python file (expected FILE.py:FACTORY)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:
        raise SparccError(f"'{path}' called sys.exit({e.code!r}) on import") from None
    except Exception as e:  # noqa: BLE001 (the user's file: report it, don't crash)
        raise SparccError(f"'{path}' raised {type(e).__name__} on import: {e}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise SparccError(f"'{path}' has no function '{name}'")
    return factory, module


def _median_ms(fn: Callable[..., Any], args: Sequence[Any], repeat: int) -> float:
    for _ in range(3):
        fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def model_and_inputs(target: str, specs: Sequence[str] | None) -> tuple[Any, list[Any]]:
    """FILE:FACTORY and --example-input specs (or FILE's example_inputs())
    -> the model (in eval mode) and its example inputs."""
    import torch

    factory, module = load_factory(target)
    file = target.rpartition(":")[0]
    if specs:
        inputs = [parse_input_spec(s) for s in specs]
    elif callable(getattr(module, "example_inputs", None)):
        try:
            inputs = list(module.example_inputs())
        except Exception as e:  # noqa: BLE001 (the user's code)
            raise SparccError(f"{file}: example_inputs() raised {type(e).__name__}: {e}") from None
        for i, x in enumerate(inputs):
            if not isinstance(x, torch.Tensor):
                raise SparccError(
                    f"{file}: example_inputs() must return tensors; item {i} is {type(x).__name__}"
                )
    else:
        raise SparccError("no inputs: pass --example-input (e.g. \"randn(64,512)\") or define example_inputs()")
    try:
        model = factory()
    except Exception as e:  # noqa: BLE001 (the user's code)
        raise SparccError(f"{target}() raised {type(e).__name__}: {e}") from None
    if isinstance(model, torch.nn.Module):
        model.eval()
    elif not callable(model):
        raise SparccError(
            f"{target}() returned {type(model).__name__}, not a model: return an nn.Module or a function of tensors"
        )
    return model, inputs


def _checked_setup(opts: argparse.Namespace) -> tuple[Any, Any, Any, list[Any]]:
    """The options both commands share, checked before the model is loaded:
    (quant spec, sparsity spec, model, inputs)."""
    from sparcc.backends import get_target

    if getattr(opts, "measure_top", None) is not None:
        if opts.measure_top < 0:
            raise SparccError(f"--measure-top {opts.measure_top}: must be at least 0 (0: do not measure)")
        os.environ["SPARCC_MEASURE_TOP"] = str(opts.measure_top)  # sparcc/costmodel.py reads it
    if getattr(opts, "gpu_arch", None):
        os.environ["SPARCC_GPU_ARCH"] = opts.gpu_arch  # the gpu target reads it (backends/gpu/target.py)
    for flag, env in (("hls_precision", "SPARCC_HLS_PRECISION"), ("hls_schedule", "SPARCC_HLS_SCHEDULE"),
                      ("hls_interface", "SPARCC_HLS_INTERFACE")):
        if getattr(opts, flag, None):  # the hls target reads them (backends/hls/target.py)
            value = getattr(opts, flag)
            os.environ[env] = ";".join(value) if isinstance(value, list) else value
    target = get_target(opts.target_device, compiling=getattr(opts, "output", None) is not None)
    if opts.threads is not None and opts.threads < 1:
        raise SparccError(f"--threads {opts.threads}: must be at least 1")
    if opts.threads is not None and opts.threads > target.max_threads:
        raise SparccError(
            f"--threads {opts.threads}: at most {target.max_threads} (the most the {target.name} target runs)"
        )
    if getattr(opts, "repeat", 1) < 1:
        raise SparccError(f"--repeat {opts.repeat}: must be at least 1 (the number of timed calls)")
    if getattr(opts, "output", None) is not None and not opts.output.strip():
        raise SparccError(f"-o {opts.output!r}: expected the name of a folder for the artifact")
    spec = _layer_rules(opts.quant, "--quant")
    sparse_spec = _layer_rules(opts.sparsity, "--sparsity")
    model, inputs = model_and_inputs(opts.target, opts.example_input)
    return spec, sparse_spec, model, inputs


def run(opts: argparse.Namespace) -> None:
    import torch

    if opts.generate is not None:
        return run_generate(opts)
    spec, sparse_spec, model, inputs = _checked_setup(opts)
    from sparcc.backends import get_target

    threads = get_target(opts.target_device).check_threads(opts.threads)
    torch.set_num_threads(threads)
    fast = sparcc.jit(model, target=opts.target_device, threads=threads, quant=spec, sparsity=sparse_spec)
    start = time.perf_counter()
    with torch.no_grad():
        ours = fast(*inputs)
        ref = model(*inputs)
    compile_s = time.perf_counter() - start
    outs = ours if isinstance(ours, (tuple, list)) else [ours]
    refs = ref if isinstance(ref, (tuple, list)) else [ref]
    err = max((o.float() - r.float()).abs().max().item() for o, r in zip(outs, refs))
    with torch.no_grad():
        ms, eager = _median_ms(fast, inputs, opts.repeat), _median_ms(model, inputs, opts.repeat)
    program = next(iter(fast.cache.values()))
    print(f"{opts.target}: {', '.join(str(tuple(x.shape)) for x in inputs)} on {opts.target_device}, {threads} thread(s)")
    print(f"  compile time     {compile_s:9.2f} s")
    print(f"  max abs error    {err:9.2e}  (vs PyTorch eager)")
    print(f"  sparcc           {ms:9.3f} ms")
    print(f"  PyTorch eager    {eager:9.3f} ms  ({eager / ms:.2f}x)")
    if "quant" in program.report:
        print("  (the error is the quantised model's against float32 PyTorch)")
        _print_quant(program.report["quant"]["layers"])
    if "sparsity" in program.report:
        print("  (the error is the pruned model's against the dense PyTorch model)")
        _print_sparsity(program.report["sparsity"]["layers"])
    if opts.report:
        for fusion in program.report.get("fusions", []):
            print(f"  fusion  {fusion}")
        for kernel in program.report["schedule"]:
            print(f"  kernel  {kernel}")
        for fallback in program.report["fallbacks"]:
            print(f"  fallback  {fallback}")


def run_generate(opts: argparse.Namespace) -> None:
    """`sparcc run FILE:FACTORY --generate N`: FACTORY returns a Hugging Face
    causal LM; greedy generation of N tokens after a random prompt, through
    sparcc and through eager PyTorch, each timed by phase (prefill, decode),
    with the tokens compared and, for a quantised or pruned model, its
    logits against float32's."""
    import torch
    from sparcc.backends import get_target
    from sparcc.generate import agreeing_prefix, greedy, logit_errors, teacher_forced_logits

    if opts.generate < 1:
        raise SparccError(f"--generate {opts.generate}: must be at least 1 (the tokens to generate)")
    if opts.prompt < 1:
        raise SparccError(f"--prompt {opts.prompt}: must be at least 1 (the prompt's length in tokens)")
    if opts.example_input:
        raise SparccError("--generate makes its own prompt (--prompt N tokens); leave out --example-input")
    spec = _layer_rules(opts.quant, "--quant")
    sparse_spec = _layer_rules(opts.sparsity, "--sparsity")
    threads = get_target(opts.target_device).check_threads(opts.threads)
    factory, _ = load_factory(opts.target)
    try:
        model = factory()
    except Exception as e:  # noqa: BLE001 (the user's code)
        raise SparccError(f"{opts.target}() raised {type(e).__name__}: {e}") from None
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if not isinstance(model, torch.nn.Module) or not isinstance(vocab, int):
        raise SparccError(f"{opts.target}(): --generate needs a Hugging Face causal LM (a model with "
                          f"config.vocab_size), got {type(model).__name__}")
    model.eval()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ids = torch.randint(0, vocab, (1, opts.prompt))
    fast = sparcc.jit(model.forward, target=opts.target_device, threads=threads, quant=spec, sparsity=sparse_spec)
    start = time.perf_counter()
    greedy(model, ids, min(opts.generate, 2), forward=fast, max_cache_len=opts.prompt + opts.generate)
    compile_s = time.perf_counter() - start
    runs = {"sparcc": [], "eager": []}
    for _ in range(max(1, opts.repeat // 10)):  # alternated, best of each
        runs["sparcc"].append(greedy(model, ids, opts.generate, forward=fast))
        runs["eager"].append(greedy(model, ids, opts.generate))
    best = {k: (max(r, key=lambda g: g.prefill_tokens_per_s), max(r, key=lambda g: g.decode_tokens_per_s))
            for k, r in runs.items()}
    ours, ref = runs["sparcc"][0], runs["eager"][0]
    print(f"{opts.target}: prompt {opts.prompt} tokens, {opts.generate} new, on {opts.target_device}, "
          f"{threads} thread(s), static cache")
    print(f"  compile time     {compile_s:9.2f} s  (prefill and decode, {fast.compiles} program(s))")
    print(f"  {'':16} {'prefill tok/s':>14} {'decode tok/s':>14}")
    for k in ("sparcc", "eager"):
        print(f"  {k:16} {best[k][0].prefill_tokens_per_s:14.1f} {best[k][1].decode_tokens_per_s:14.1f}")
    print(f"  speed-up         {best['sparcc'][0].prefill_tokens_per_s / best['eager'][0].prefill_tokens_per_s:13.2f}x "
          f"{best['sparcc'][1].decode_tokens_per_s / best['eager'][1].decode_tokens_per_s:13.2f}x")
    same = agreeing_prefix(ours.tokens, ref.tokens, opts.prompt)
    print(f"  greedy tokens    {same}/{opts.generate} equal to eager float32's before the first difference")
    first = float((ours.first_logits - ref.first_logits).abs().max())
    print(f"  first logits     {first:9.2e}  max abs error (vs PyTorch eager)")
    if spec is not None or sparse_spec is not None:
        # the same jit: the full-sequence call (no cache) is one more program of it
        errors = logit_errors(teacher_forced_logits(model, ref.tokens), teacher_forced_logits(model, ref.tokens, fast))
        print(f"  vs float32 (teacher-forced on eager's tokens): logits rel err {errors['logits_rel_err']:.3e}, "
              f"KL {errors['kl']:.3e} nats, top-1 agreement {errors['top1_agreement']:.1%}")
        program = next(iter(next(iter(fast.keyword_programs.values())).cache.values()))
        if "quant" in program.report:
            _print_quant(program.report["quant"]["layers"])
        if "sparsity" in program.report:
            _print_sparsity(program.report["sparsity"]["layers"])


def compile_artifact(opts: argparse.Namespace) -> None:
    from sparcc import artifact

    spec, sparse_spec, model, inputs = _checked_setup(opts)
    if opts.shard or opts.world_size is not None:
        from sparcc.shard import cli_compile

        return cli_compile(opts, model, inputs, spec, sparse_spec)
    result = artifact.compile(
        model, inputs, opts.output, target=opts.target_device, threads=opts.threads, name=opts.target,
        quant=spec, sparsity=sparse_spec,
    )
    m = result.manifest
    signature = ", ".join(f"{s['dtype']}{s['shape']}" for s in m["inputs"])
    where = ", ".join(str(m[k]) for k in ("target", "host_cpu") if k in m)
    print(f"{opts.target}: {signature} -> {result.folder}/ ({where}, {m['threads']} thread(s))")
    for name in sorted([*m.get("sha256", {}), artifact.MANIFEST]):
        print(f"  {name:<22} {(result.folder / name).stat().st_size / 1024:10.1f} KiB")
    for fallback in m["fallbacks"]:
        print(f"  fallback  {fallback}")
    _print_quant(m.get("quant") or [])
    _print_sparsity(m.get("sparsity") or [])


def _print_sparsity(layers: Sequence[dict[str, Any]]) -> None:
    for q in layers:
        print(f"  sparse {q['layer']:<20} {q['spec']:<22} density {q['density']:.3f}  "
              f"weight rel err {q['weight_rel_err']:.2e}  {q['bytes_dense'] / 2**20:.2f} -> "
              f"{q['bytes_sparse'] / 2**20:.2f} MiB  {q['execution']}")
        for t in q.get("truncations", []):
            print(f"           {t['spec']:<28} rel err {t['rel_err']:.3e}  density {t['density']:.3f}")


def _layer_rules(parts: Sequence[str] | None, flag: str) -> Any:
    """--quant/--sparsity 'PATTERN=VALUE' (repeatable, in priority order) or one JSON object."""
    from sparcc.quantize import parse_quant_spec
    from sparcc.sparsify import parse_sparsity_spec

    if not parts:
        return None
    text = parts[0] if len(parts) == 1 and parts[0].strip().startswith("{") else ";".join(parts)
    if flag == "--quant":
        return parse_quant_spec(text, flag)
    return parse_sparsity_spec(text, where=flag)


def _print_quant(layers: Sequence[dict[str, Any]]) -> None:
    for q in layers:
        print(f"  quant  {q['layer']:<20} {q['format']:<14} SQNR {q['sqnr_db']:6.2f} dB  MSE {q['mse']:.2e}  "
              f"{q['bytes_f32'] / 2**20:.2f} -> {q['bytes_quantized'] / 2**20:.2f} MiB")


def tune_command(opts: argparse.Namespace) -> None:
    from sparcc import tune

    tune.main(opts)


def list_targets(opts: argparse.Namespace) -> None:
    from sparcc.backends import targets

    for name, summary, why in targets():
        print(f"{name:<6} {'available' if why is None else 'unavailable: ' + why}")
        if summary:
            print(f"       {summary}")


def cache_command(opts: argparse.Namespace) -> None:
    """`sparcc cache info|clear`: the on-disk compile and trace caches."""
    from sparcc import cache

    root = cache.root()
    if opts.cache_action == "clear":
        cache.clear()
        print(f"cleared the compile and trace caches in {root}")
        return
    for name, what in (("jit", "compiled entries"), ("trace", "trace entries")):
        folder = root / name
        entries = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")] if folder.is_dir() else []
        size = sum(f.stat().st_size for e in entries for f in e.rglob("*") if f.is_file())
        print(f"{what:<17} {len(entries):>5}  {size / 2**20:8.1f} MiB  {folder}")
    print(f"(SPARCC_CACHE={'on' if cache.enabled() else 'off'}; set SPARCC_CACHE_DIR to move it)")


def shadowing_note(cwd: str | None = None) -> str | None:
    """A warning if the working directory holds a `sparcc` folder (or
    sparcc.py) other than this package: Python started here (`python -c`,
    `python -m`, a REPL or notebook) imports that instead. A folder without
    __init__.py becomes an empty namespace package, and `sparcc.jit` then
    fails with "module 'sparcc' has no attribute 'jit'"; the usual cause is
    running from the folder that holds the clone (cd into it)."""
    cwd = cwd or os.getcwd()
    ours = os.path.realpath(os.path.dirname(sparcc.__file__ or ""))
    for name in ("sparcc", "sparcc.py"):
        path = os.path.join(cwd, name)
        if os.path.exists(path) and os.path.realpath(path) != ours:
            return (
                f"sparcc: note: '{path}' shadows the installed sparcc package ({ours}) for Python "
                "started in this folder (python -c, python -m, a REPL, a notebook): `import sparcc` finds "
                "that instead (a folder without __init__.py gives \"module 'sparcc' has no attribute 'jit'\"). "
                "Run Python from another folder (the clone itself is fine), or rename it."
            )
    return None


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line exits 1 like every other user mistake
    (argparse's own convention is 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    if (note := shadowing_note()) is not None:
        print(note, file=sys.stderr)
    parser = _Parser(prog="sparcc", description="sparcc: compile PyTorch models")
    parser.add_argument("--version", action="version", version=f"sparcc {sparcc.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    from sparcc.backends import TARGETS

    targets_help = ", ".join(TARGETS)
    t = sub.add_parser("targets", help="list the targets and whether each is available here")
    t.set_defaults(action=list_targets)
    k = sub.add_parser("cache", help="show or clear the on-disk compile and trace caches")
    k.add_argument("cache_action", choices=["info", "clear"], nargs="?", default="info")
    k.set_defaults(action=cache_command)
    p = sub.add_parser("run", help="compile FILE:FACTORY, check it against PyTorch and time both",
                       usage="sparcc run FILE:FACTORY [options]  (sparcc run -h lists them)")
    p.add_argument("target", metavar="FILE:FACTORY")
    p.add_argument("--example-input", action="append", metavar="SPEC", help='e.g. "randn(64,512)"; repeat per input')
    p.add_argument("--target", dest="target_device", default="cpu", help=f"one of {targets_help} (sparcc targets)")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--report", action="store_true", help="print the chosen tile sizes per kernel")
    p.add_argument("--generate", type=int, metavar="N",
                   help="FACTORY returns a Hugging Face causal LM: generate N tokens greedily with a static KV "
                        "cache and print prefill and decode tokens/s against eager")
    p.add_argument("--prompt", type=int, default=32, help="with --generate: the random prompt's length in tokens")
    p.add_argument("--threads", type=int, help="threads for sparcc and PyTorch (default: this machine's CPUs)")
    p.add_argument("--measure-top", type=int, metavar="K", help="time the cost model's K best schedules of each "
                   "kernel (and the heuristic's) while compiling, and keep the fastest (SPARCC_MEASURE_TOP)")
    p.add_argument("--quant", action="append", metavar="PATTERN=FORMAT",
                   help="quantise matching linear layers' weights, e.g. '*.fc1=nf4:g64' (repeat; first match wins)")
    p.add_argument("--sparsity", action="append", metavar="PATTERN=VALUE",
                   help="prune matching linear layers and store them sparse, e.g. '*.fc1=2:4', "
                        "'*=unstructured:0.9@csr', '*=auto:unstructured:0.5', '*=tasd:2:4+1:8' (repeat; first match wins)")
    p.set_defaults(action=run)
    c = sub.add_parser("compile", help="compile FILE:FACTORY ahead of time into a folder (sparcc.load or C runs it)",
                       usage="sparcc compile FILE:FACTORY -o FOLDER [options]  (sparcc compile -h lists them)")
    c.add_argument("target", metavar="FILE:FACTORY")
    c.add_argument("--example-input", action="append", metavar="SPEC", help='e.g. "randn(64,512)"; repeat per input')
    c.add_argument("--target", dest="target_device", default="cpu", help=f"one of {targets_help} (sparcc targets)")
    c.add_argument("-o", "--output", required=True, metavar="FOLDER", help="where the artifact goes")
    c.add_argument("--gpu-arch", metavar="SM", help="with --target gpu: the NVIDIA architecture, e.g. sm_80, sm_90 "
                   "(default: this machine's GPU, else sm_90); no GPU is needed to compile")
    c.add_argument("--threads", type=int, help="threads the code is divided for (default: this machine's CPUs)")
    c.add_argument("--measure-top", type=int, metavar="K", help="time the cost model's K best schedules of each "
                   "kernel (and the heuristic's) while compiling, and keep the fastest (SPARCC_MEASURE_TOP)")
    c.add_argument("--quant", action="append", metavar="PATTERN=FORMAT",
                   help="quantise matching linear layers' weights, e.g. '*.fc1=nf4:g64' (repeat; first match wins)")
    c.add_argument("--sparsity", action="append", metavar="PATTERN=VALUE",
                   help="prune matching linear layers and store them sparse (as for run)")
    c.add_argument("--shard", action="append", metavar="PATTERN=PLACEMENT",
                   help="split over --world-size processes: 'fc1.weight=shard(0)' (repeat; first match wins) "
                   "or 'auto'; writes one artifact per rank")
    c.add_argument("--world-size", type=int, metavar="N", help="with --shard: the number of processes")
    c.add_argument("--hls-precision", action="append", metavar="PATTERN=TYPE",
                   help="--target hls: number type per layer, e.g. 'fc1=ap_fixed<16,6>' (repeat; first match wins)")
    c.add_argument("--hls-schedule", metavar="JSON",
                   help='--target hls: primitives per layer, e.g. \'{"fc1": {"unroll": 4}, "dataflow": true}\'')
    c.add_argument("--hls-interface", choices=("m_axi", "ap_memory", "stream"),
                   help="--target hls: the top function's ports (default m_axi)")
    c.set_defaults(action=compile_artifact)
    u = sub.add_parser("tune", help="measure schedule candidates, train and evaluate the cost model",
                       usage="sparcc tune [FILE:FACTORY] [--shapes SHAPES.json] [--train] [--eval SHAPES.json] [options]")
    u.add_argument("model", nargs="?", metavar="FILE:FACTORY", help="measure the candidates of this model's kernels")
    u.add_argument("--example-input", action="append", metavar="SPEC", help='with FILE:FACTORY, e.g. "randn(64,512)"')
    u.add_argument("--shapes", metavar="SHAPES.json", help='measure these problems: [{"M": 64, "N": 768, "K": 192}, ...]')
    u.add_argument("--train", action="store_true", help="fit this machine's cost model to the dataset")
    u.add_argument("--eval", metavar="SHAPES.json", help="measure each problem's candidates and rate the model's choice")
    u.add_argument("--space", help="the cost space (default: the target's first, cpu.matmul)")
    u.add_argument("--target", dest="target_device", default="cpu", help=f"one of {targets_help}")
    u.add_argument("--threads", type=int, help="threads of problems that do not say (default 1)")
    u.add_argument("--sample", type=int, metavar="K", help="measure at most K candidates per problem (random, "
                   "the heuristic's always among them; default: all)")
    u.add_argument("--objective", choices=("regression", "lambdarank"), default="regression",
                   help="with --train: predict log time, or rank within a problem")
    u.add_argument("--dataset", metavar="FILE", help="the dataset (default: <cache dir>/tune/SPACE.jsonl)")
    u.add_argument("--model-file", metavar="FILE", help="with --train: where the model goes (default: "
                   "<cache dir>/costmodel/SPACE.json, which compiles then use)")
    u.set_defaults(action=tune_command)
    opts = parser.parse_args(argv)
    try:
        opts.action(opts)
    except SparccError as e:
        print(f"sparcc: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
