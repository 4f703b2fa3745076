"""
The CPU target's ahead-of-time artifact (sparcc.artifact is the front).

    out/
      libmodel.so          the model (entry `forward`) and its C API (sparcc_model_*)
      libsparcc_rt.so      sparcc's runtime, found through RUNPATH=$ORIGIN
      weights.safetensors  the weights as the entry takes them (ABI order, laid out)
      manifest.json        signature, weights, target, CPU, threads, sparcc version
      model.h              the C API and the model's shapes
      report.txt           passes and stages with their time, kernels, fallbacks

`write(folder, prepared, ...)` writes one (sparcc.artifact.compile and
`sparcc compile` call it through CpuTarget.write_artifact); `load(folder,
manifest)` checks it and returns a `CompiledProgram`. No file names an
absolute path, so the folder can be moved or copied anywhere.

The C API (generated per model, linked into libmodel.so, declared in model.h):

    int  sparcc_model_open(const char *weights_path);   /* 0, or -1 */
    int  sparcc_model_run(void *const *inputs, void *const *outputs);
    void sparcc_model_close(void);
    const char *sparcc_model_error(void);              /* why the last call failed */

Buffers are contiguous, row-major; outputs are allocated by the caller.
`open` checks the CPU features the code needs, the weights file's size and
a hash of its header, which sparcc wrote for this model.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import sparcc
import torch
from sparcc.artifact import FORMAT, MANIFEST, Artifact, write_atomic
from sparcc.backends.cpu import default_threads, load_library, lower, toolchain
from sparcc.backends.cpu.target import CpuExecutable, bind_weights, weight_abi
from sparcc.cache import sha256_file
from sparcc.driver import CompiledProgram
from sparcc.errors import SparccError
from sparcc.frontend import TensorSpec
from sparcc.specs import tree_json
from torch.utils import _pytree as pytree

ENTRY = "forward"
WEIGHTS, REPORT, HEADER = "weights.safetensors", "report.txt", "model.h"
LIBRARY = "libmodel.so"

# every dtype a program takes, returns or stores (uint8 also for quantised
# codes), with its safetensors name
_ST_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64", "int32": "I32",
    "int16": "I16", "int8": "I8", "uint8": "U8", "uint16": "U16", "uint32": "U32", "bool": "BOOL",
}
DTYPES = {name: getattr(torch, name) for name in _ST_DTYPES}
# /proc/cpuinfo flag -> name for gcc's __builtin_cpu_supports (the ones gcc >= 8 knows)
_GCC_FEATURES = {
    "sse4_2": "sse4.2", "avx": "avx", "avx2": "avx2", "fma": "fma", "bmi2": "bmi2",
    "avx512f": "avx512f", "avx512dq": "avx512dq", "avx512bw": "avx512bw",
    "avx512vl": "avx512vl", "avx512cd": "avx512cd", "avx512vbmi": "avx512vbmi",
}



def write(folder: Path, prepared: Any, threads: int, stages: Any, name: str) -> Artifact:
    """Writes the artifact of `prepared` (sparcc.driver.Prepared) into `folder`."""
    start = time.perf_counter()
    imported = prepared.imported
    with stages("passes", "running sparcc's passes"):
        pass_times = prepared.run_passes()
    with stages("lower", "lowering with MLIR"):
        lowered = lower(str(imported.module), threads)
    with stages("weights", f"writing {WEIGHTS}"):
        abi = weight_abi(imported.module)
        keys = _weight_keys(abi)
        buffers = bind_weights(abi, imported.weights)
        header, spans = _write_weights(folder / WEIGHTS, keys, buffers)
    with stages("build", "opt, llc, link"):
        c_api = _c_api(len(imported.inputs), len(imported.outputs), keys, header, spans, threads)
        tool_times = toolchain.build_shared(lowered.llvm_ir, folder, "model", extra_c=c_api)
    weights = [
        {"key": k, "name": w["name"], "shape": list(b.shape), "dtype": _dtype_name(b.dtype),
         "perm": w["perm"], **({"pad_rows": w["pad_rows"]} if "pad_rows" in w else {})}
        for k, w, b in zip(keys, abi, buffers)
    ]
    manifest = {
        "format": FORMAT,
        "sparcc_version": sparcc.__version__,
        "target": "cpu",
        "triple": toolchain.TRIPLE,
        "host_cpu": toolchain.host_cpu(),
        "cpu_features": list(toolchain.host_features()),
        "threads": threads,
        "entry": ENTRY,
        "library": LIBRARY,
        "runtime": toolchain.RUNTIME,
        "weights_file": WEIGHTS,
        "inputs": [_spec_json(s) for s in imported.inputs],
        "outputs": [_spec_json(s) for s in imported.outputs],
        "output_tree": tree_json(imported.output_tree),
        "mutated_inputs": list(imported.mutated),  # outputs[k] is written back into inputs[mutated_inputs[k]]
        "random": imported.random,  # each call seeded from torch's generator (sparcc.load)
        # inputs / outputs the model takes or returns complex: the C ABI passes their (re, im) pairs
        "complex_inputs": list(imported.complex_inputs),
        "complex_outputs": list(imported.complex_outputs),
        "weights": weights,
        "schedule": [str(d) for d in lowered.decisions],
        "choices": [d.tiles["choice"] for d in lowered.decisions if isinstance(d.tiles, dict) and "choice" in d.tiles],
        "fallbacks": [lowered.fallback] if lowered.fallback else [],
        "quant": [r.as_dict() for r in prepared.quant_layers],
        "sparsity": [r.as_dict() for r in prepared.sparse_layers],
    }
    seconds = {
        "import": prepared.import_seconds,
        **{f"pass {k}": v for k, v in pass_times.items()},
        **{f"mlir {t.name}": t.seconds for t in lowered.timings},
        "write weights": stages.seconds["weights"],
        **tool_times,
        "total": time.perf_counter() - start,
    }
    report = _report(name, manifest, imported.ops, seconds)
    try:
        (folder / HEADER).write_text(_c_header(manifest))
        (folder / REPORT).write_text(report)
        manifest["sha256"] = {f: sha256_file(folder / f) for f in (LIBRARY, toolchain.RUNTIME, WEIGHTS)}
        write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1).encode())  # last: marks it complete
    except OSError as e:
        raise SparccError(f"could not write the artifact into '{folder}': {e.strerror or e}") from None
    return Artifact(folder, manifest, report)


def _weight_keys(abi: list[dict[str, Any]]) -> list[str]:
    """Stable, unique keys that sort in ABI order: `000.fc1.weight`."""
    width = max(3, len(str(len(abi))))
    return [f"{i:0{width}d}.{w['name']}" for i, w in enumerate(abi)]


def _write_weights(path: Path, keys: list[str], buffers: list[torch.Tensor]) -> tuple[bytes, list[tuple[int, int]]]:
    """Writes a safetensors file (8-byte little-endian header size, JSON
    header padded to 8 bytes, then the tensors back to back in ABI order).
    Returns the header and each tensor's (offset, size) in the data."""
    entries: dict[str, Any] = {"__metadata__": {"format": "pt", "writer": f"sparcc {sparcc.__version__}"}}
    spans, offset = [], 0
    for key, b in zip(keys, buffers):
        size = b.numel() * b.element_size()
        entries[key] = {"dtype": _ST_DTYPES[_dtype_name(b.dtype)], "shape": list(b.shape),
                        "data_offsets": [offset, offset + size]}
        spans.append((offset, size))
        offset += size
    header = json.dumps(entries, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            for b in buffers:
                f.write(memoryview(b.detach().contiguous().numpy()).cast("B"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return header, spans


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _spec_json(spec: TensorSpec) -> dict[str, Any]:
    return {"shape": list(spec.shape), "dtype": _dtype_name(spec.dtype)}


def _report(name: str, m: dict[str, Any], ops: dict[str, int], seconds: dict[str, float]) -> str:
    def specs(items: list[dict[str, Any]]) -> str:
        return ", ".join(f"{s['dtype']}{s['shape']}" for s in items) or "none"

    nbytes = sum(_numel(w["shape"]) * DTYPES[w["dtype"]].itemsize for w in m["weights"])
    lines = [
        f"sparcc {m['sparcc_version']}: {name}, compiled ahead of time",
        "",
        f"target     {m['target']} ({m['triple']}, {m['host_cpu']}), code divided for {m['threads']} thread(s)",
        f"features   {' '.join(m['cpu_features']) or 'none'}",
        f"inputs     {specs(m['inputs'])}",
        f"outputs    {specs(m['outputs'])}",
        f"weights    {len(m['weights'])} tensor(s), {nbytes / 2**20:.2f} MiB",
        f"ATen ops   {', '.join(f'{op} x{n}' for op, n in ops.items()) or 'none'}",
        "",
        "stage                                  seconds",
        *(f"  {stage:<36} {s:7.3f}" for stage, s in seconds.items()),
        "",
        "kernels (tile sizes from the cost model, or backends/cpu/schedule.py's heuristic: see each line)",
        *(f"  {k}" for k in m["schedule"] or ["none scheduled"]),
        "",
        "fallbacks",
        *(f"  {f}" for f in m["fallbacks"] or ["none"]),
    ]
    if m.get("quant"):
        lines += ["", "quantised weights (layer, format, shape, MSE, SQNR, bytes f32 -> stored)"]
        lines += [
            f"  {q['layer']:<24} {q['format']:<16} {q['shape']!s:<14} {q['mse']:.3e} {q['sqnr_db']:6.2f} dB "
            f"{q['bytes_f32']} -> {q['bytes_quantized']}"
            for q in m["quant"]
        ]
    return "\n".join(lines) + "\n"


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# ----------------------------------------------------------------------------
# the C API
# ----------------------------------------------------------------------------


def _c_array(ctype: str, name: str, values: Sequence[str]) -> str:
    return f"static const {ctype} {name}[{max(1, len(values))}] = {{{', '.join(values) or '0'}}};"


def _c_api(n_in: int, n_out: int, keys: list[str], header: bytes, spans: list[tuple[int, int]],
           threads: int) -> str:
    """C source of the model's C API, linked into libmodel.so."""
    n_w = len(keys)
    params = ", ".join(["void *"] * (n_in + n_w + n_out)) or "void"
    call = ", ".join(
        [f"inputs[{i}]" for i in range(n_in)] + [f"weights[{i}]" for i in range(n_w)]
        + [f"outputs[{i}]" for i in range(n_out)]
    )
    checks = "\n".join(
        f'  if (!__builtin_cpu_supports("{gcc}")) return fail("this CPU lacks {flag}, which the model '
        f'was compiled for (recompile it on this machine)");'
        for flag, gcc in _GCC_FEATURES.items() if flag in toolchain.host_features()
    )
    file_size = 8 + len(header) + sum(size for _, size in spans)
    return f"""/* Generated by sparcc {sparcc.__version__}: the C API of this model (see model.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API __attribute__((visibility("default")))
#define NUM_WEIGHTS {n_w}
#define FILE_SIZE {file_size}ULL
#define HEADER_SIZE {len(header)}ULL
#define HEADER_HASH 0x{_fnv1a64(header):016x}ULL /* FNV-1a 64 of the JSON header */

extern void {ENTRY}({params});
extern void sparcc_rt_set_num_threads(int);

{_c_array("uint64_t", "weight_offset", [f"{o}ULL" for o, _ in spans])}
{_c_array("uint64_t", "weight_size", [f"{s}ULL" for _, s in spans])}
{_c_array("char *const", "weight_key", [json.dumps(k) for k in keys])}
static void *weights[NUM_WEIGHTS > 0 ? NUM_WEIGHTS : 1];
static int opened;
static char error[1024];

API void sparcc_model_close(void) {{
  for (int i = 0; i < NUM_WEIGHTS; i++) {{
    free(weights[i]);
    weights[i] = NULL;
  }}
  opened = 0;
}}

API const char *sparcc_model_error(void) {{ return error; }}

static int fail(const char *fmt, ...) {{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error, sizeof error, fmt, ap);
  va_end(ap);
  sparcc_model_close();
  return -1;
}}

API int sparcc_model_open(const char *path) {{
  sparcc_model_close();
  __builtin_cpu_init();
{checks}
  FILE *f = fopen(path, "rb");
  if (!f) return fail("%s: %s", path, strerror(errno));
  unsigned char size[8], *header = malloc(HEADER_SIZE ? HEADER_SIZE : 1);
  uint64_t header_size = 0, hash = 0xcbf29ce484222325ULL;
  long long file_size = -1;
  if (fseek(f, 0, SEEK_END) == 0) file_size = ftell(f);
  int ok = header && file_size == (long long)FILE_SIZE && fseek(f, 0, SEEK_SET) == 0 && fread(size, 8, 1, f) == 1;
  for (int i = 7; ok && i >= 0; i--) header_size = header_size << 8 | size[i];
  ok = ok && header_size == HEADER_SIZE && fread(header, 1, HEADER_SIZE, f) == HEADER_SIZE;
  for (uint64_t i = 0; ok && i < HEADER_SIZE; i++) hash = (hash ^ header[i]) * 0x100000001b3ULL;
  free(header);
  if (!ok || hash != HEADER_HASH) {{
    fclose(f);
    return fail("%s is not the weights file this model was compiled with "
                "(expected %llu bytes, got %lld, or a different header)", path, FILE_SIZE, file_size);
  }}
  for (int i = 0; i < NUM_WEIGHTS; i++) {{
    /* each weight 64-byte aligned, as the compiled code gets them from Python */
    if (posix_memalign(&weights[i], 64, weight_size[i] ? weight_size[i] : 1) != 0) {{
      fclose(f);
      return fail("out of memory reading weight %s", weight_key[i]);
    }}
    if (fseek(f, (long)(8 + HEADER_SIZE + weight_offset[i]), SEEK_SET) != 0 ||
        fread(weights[i], 1, weight_size[i], f) != weight_size[i]) {{
      fclose(f);
      return fail("%s: could not read weight %s", path, weight_key[i]);
    }}
  }}
  fclose(f);
  /* the team size the code was divided for, unless the user chose one */
  const char *env = getenv("SPARCC_NUM_THREADS");
  if (!env || !*env) sparcc_rt_set_num_threads({threads});
  opened = 1;
  error[0] = 0;
  return 0;
}}

API int sparcc_model_run(void *const *inputs, void *const *outputs) {{
  if (!opened) {{
    snprintf(error, sizeof error, "sparcc_model_run: call sparcc_model_open first");
    return -1;
  }}
  (void)inputs;
  {ENTRY}({call});
  return 0;
}}
"""


def _c_header(m: dict[str, Any]) -> str:
    """model.h: the C API and the shapes of this model's inputs and outputs."""

    updates = dict(enumerate(m.get("mutated_inputs", [])))  # output k -> the input it updates

    complex_io = {"input": set(m.get("complex_inputs", [])), "output": set(m.get("complex_outputs", []))}

    def describe(kind: str, specs: list[dict[str, Any]]) -> list[str]:
        return [f" *   {kind} {i}: {s['dtype']}{s['shape']}"
                + (f" (the new value of input {updates[i]}: copy it back)" if kind == "output" and i in updates else "")
                + (" (complex: real and imaginary parts interleaved)" if i in complex_io[kind.strip()] else "")
                for i, s in enumerate(specs)]

    def arrays(kind: str, specs: list[dict[str, Any]]) -> list[str]:
        return [
            _c_array("size_t", f"sparcc_model_{kind}_bytes",
                     [str(_numel(s["shape"]) * DTYPES[s["dtype"]].itemsize) for s in specs]),
            _c_array("char *const", f"sparcc_model_{kind}_dtype", [json.dumps(s["dtype"]) for s in specs]),
            _c_array("char *const", f"sparcc_model_{kind}_shape",
                     [json.dumps(str(s["shape"])) for s in specs]),
        ]

    lines = [
        f"/* Generated by sparcc {m['sparcc_version']}: the C API of libmodel.so.",
        " *",
        *describe("input ", m["inputs"]),
        *describe("output", m["outputs"]),
        " *",
        " * Buffers are contiguous and row-major; the caller allocates the outputs.",
        " * Built for " + f"{m['triple']}, {m['host_cpu']}, {m['threads']} thread(s) "
        "(SPARCC_NUM_THREADS overrides).",
        " */",
        "#ifndef SPARCC_MODEL_H",
        "#define SPARCC_MODEL_H",
        "",
        "#include <stddef.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        "/* Reads weights.safetensors; 0 on success, -1 (see sparcc_model_error). */",
        "int sparcc_model_open(const char *weights_path);",
        "/* Runs the model: inputs[i] and outputs[i] point to the buffers below. */",
        "int sparcc_model_run(void *const *inputs, void *const *outputs);",
        "void sparcc_model_close(void);",
        "/* Why the last call failed. */",
        "const char *sparcc_model_error(void);",
        "",
        f"#define SPARCC_MODEL_NUM_INPUTS {len(m['inputs'])}",
        f"#define SPARCC_MODEL_NUM_OUTPUTS {len(m['outputs'])}",
        f"#define SPARCC_MODEL_THREADS {m['threads']}",
        "",
        "/* Per input and output: size in bytes, dtype, shape. */",
        *arrays("input", m["inputs"]),
        *arrays("output", m["outputs"]),
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        "#endif",
    ]
    return "\n".join(lines) + "\n"


def load(path: Path, m: dict[str, Any], threads: int | None = None, verify: bool = True) -> CompiledProgram:
    """The program of the CPU artifact in `path`, whose manifest is `m`
    (sparcc.artifact.load read it). threads: the runtime's team size
    (default SPARCC_NUM_THREADS, else the threads the code was divided
    for). verify: check the files' sha256 against the manifest."""
    try:
        missing = [f for f in m["cpu_features"] if f not in toolchain.host_features()]
        if missing:
            raise SparccError(
                f"'{path}' was compiled for {m['host_cpu']} and needs CPU features this machine "
                f"lacks: {', '.join(missing)}; recompile it here with `sparcc compile`"
            )
        if m["triple"] != toolchain.TRIPLE:
            raise SparccError(f"'{path}' was compiled for {m['triple']}, not this machine ({toolchain.TRIPLE})")
        for name in (m["library"], m["runtime"], m["weights_file"]):
            if not (path / name).is_file():
                raise SparccError(f"'{path}' is incomplete: {name} is missing; recompile it")
            if verify and sha256_file(path / name) != m["sha256"][name]:
                raise SparccError(f"'{path / name}' is corrupt (its sha256 differs from the manifest's); recompile it")
        inputs = [_spec(s) for s in m["inputs"]]
        outputs = [_spec(s) for s in m["outputs"]]
        tree = pytree.treespec_loads(m["output_tree"]) if m["output_tree"] is not None else None
        weights = _read_weights(path / m["weights_file"], m["weights"])
        if threads is None:
            threads = default_threads() if os.environ.get("SPARCC_NUM_THREADS", "").strip() else m["threads"]
        library = path / m["library"]
        try:
            handle = load_library(_private_if_stale(library, m["sha256"][m["library"]]), threads)
        except OSError as e:
            raise SparccError(f"could not load '{library}': {e}") from None
        n_args = len(inputs) + len(weights) + len(outputs)
        executable = CpuExecutable(handle, library, weights, n_args, inputs, m["entry"])
    except (KeyError, TypeError, ValueError) as e:
        raise SparccError(f"'{path / MANIFEST}' is corrupt ({type(e).__name__}: {e}); recompile it") from None
    report = {
        "target": m["target"], "threads": threads, "cache": "aot", "library": str(library),
        "artifact": str(path), "schedule": m["schedule"], "fallbacks": m["fallbacks"],
    }
    return CompiledProgram(inputs, outputs, tree, executable, {}, report, mutated=list(m.get("mutated_inputs", [])),
                           random=bool(m.get("random", False)), complex_inputs=list(m.get("complex_inputs", [])),
                           complex_outputs=list(m.get("complex_outputs", [])))


_LOADED: dict[Path, str] = {}  # library path -> sha256 of the one this process loaded from there
_COPIES: dict[str, Path] = {}  # sha256 -> its private copy


def _private_if_stale(library: Path, sha256: str) -> Path:
    """The path to dlopen. dlopen returns the library it already loaded from
    a path, even if that file was replaced since (a folder compiled again):
    then a private copy of the new one is loaded instead."""
    path = library.resolve()
    if _LOADED.setdefault(path, sha256) == sha256:
        return path
    if sha256 not in _COPIES:
        private = Path(tempfile.mkdtemp(prefix="sparcc-load-"))
        atexit.register(shutil.rmtree, private, True)  # the copy is loaded; only this process uses it
        shutil.copyfile(path, private / path.name)
        shutil.copyfile(path.with_name(toolchain.RUNTIME), private / toolchain.RUNTIME)
        _COPIES[sha256] = private / path.name
    return _COPIES[sha256]




def _spec(s: dict[str, Any]) -> TensorSpec:
    return TensorSpec(tuple(int(d) for d in s["shape"]), DTYPES[s["dtype"]])


def _read_weights(file: Path, expected: list[dict[str, Any]]) -> list[torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(file)
    except (SafetensorError, OSError, ValueError) as e:
        raise SparccError(f"'{file}' is not a valid safetensors file ({e}); recompile the artifact") from None
    out = []
    for w in expected:
        t = tensors.get(w["key"])
        if t is None or list(t.shape) != w["shape"] or t.dtype != DTYPES[w["dtype"]]:
            got = "missing" if t is None else f"{_dtype_name(t.dtype)}{list(t.shape)}"
            raise SparccError(
                f"'{file}': weight {w['key']} is {got}, expected {w['dtype']}{w['shape']}; recompile the artifact"
            )
        # a copy: 64-byte aligned like any torch tensor, and not tied to the file's mapping
        out.append(t.clone())
    return out
