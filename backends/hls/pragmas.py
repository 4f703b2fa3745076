"""The pragma checker: g++ ignores `#pragma HLS`, so this reads the emitted
C++ and checks every pragma against what it names.

- pipeline / unroll / loop_tripcount: first line of a labelled `for`
  loop's body; unroll factors divide the loop's constant trip count (a
  loop whose bounds are variables, a CSR row, is not unrolled); II >= 1;
  loop_tripcount only on such a loop, with 0 <= min <= avg <= max.
- array_partition: `variable=` names an array declared in the file (a
  local, a weight ROM or a top-function argument that is not an m_axi
  port); cyclic/block factors divide its size; dim 1 (flat arrays).
- interface: `port=` names an argument of the enclosing function (or
  `return`); the mode is one Vitis knows.
- dataflow: at function scope.
- stream: `variable=` names an hls::stream declared in the file, depth >= 1.
"""

from __future__ import annotations

import re
from pathlib import Path

from sparcc.errors import SparccError

FOR = re.compile(r"^\s*(\w+):\s*for\s*\(int\s+(\w+)\s*=\s*(-?\w+);\s*\2\s*<\s*(-?\w+);\s*(?:\2\s*\+=\s*(\d+)|\+\+\2)\)\s*\{")
ARRAY = re.compile(r"(?:static\s+)?(?:const\s+)?([\w:<>,\s]+?)\s+(\w+)\[(\d+)\]")
FUNC = re.compile(r"^(?:static\s+)?void\s+(\w+)\((.*)\)\s*\{\s*$")
MODES = {"m_axi", "s_axilite", "ap_memory", "axis", "ap_none", "ap_vld", "bram", "ap_fifo"}


class PragmaError(SparccError):
    """An emitted pragma names nothing, or has an illegal factor."""


def check(text: str, where: str = "kernel.cpp", extern: dict[str, int] | None = None) -> int:
    """Checks every pragma of `text`; returns how many there are. `extern`:
    arrays declared elsewhere (weights.h), name -> size."""
    lines = text.splitlines()
    arrays: dict[str, int] = dict(extern or {})
    for ln in lines:
        for m in ARRAY.finditer(ln):
            arrays[m.group(2)] = int(m.group(3))
    streams = {m.group(1) for ln in lines if (m := re.search(r"hls::stream<.*>\s+(\w+);", ln)) is not None}
    args: list[str] = []
    maxi: set[str] = set()
    for ln in lines:
        if (m := re.search(r"interface m_axi port=(\w+)", ln)) is not None:
            maxi.add(m.group(1))
    count = 0
    for i, ln in enumerate(lines):
        if (f := FUNC.match(ln)) is not None:
            args = [re.split(r"[\s&*\[]+", a.strip().split("[")[0])[-1] for a in f.group(2).split(",") if a.strip()]
        s = ln.strip()
        if not s.startswith("#pragma HLS"):
            continue
        count += 1
        at = f"{where}:{i + 1}"
        words = s.split()[2:]
        kind = words[0].lower() if words else ""
        opts = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if kind in ("pipeline", "unroll", "loop_tripcount"):
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#pragma HLS"):
                j -= 1  # pragmas stack at the top of the body
            loop = FOR.match(lines[j]) if j >= 0 else None
            if loop is None:
                raise PragmaError(f"{at}: '{s}' is not the first line of a labelled loop's body")
            bounds = (loop.group(3), loop.group(4))
            static = all(re.fullmatch(r"-?\d+", b) for b in bounds)
            trip = max(0, -(-(int(bounds[1]) - int(bounds[0])) // int(loop.group(5) or 1))) if static else None
            if kind == "loop_tripcount":
                counts = [int(opts.get(k, "-1")) for k in ("min", "max", "avg")]
                if static or not 0 <= counts[0] <= counts[2] <= counts[1]:
                    raise PragmaError(f"{at}: loop_tripcount on loop {loop.group(1)} needs data-dependent bounds and "
                                      "0 <= min <= avg <= max")
            elif trip is None and kind == "unroll":
                raise PragmaError(f"{at}: unroll on loop {loop.group(1)}, whose trip count is data")
            elif kind == "pipeline":
                ii = int(opts.get("II", "1"))
                if ii < 1:
                    raise PragmaError(f"{at}: pipeline II={ii} on loop {loop.group(1)}: II must be >= 1")
            elif "factor" in opts:
                factor = int(opts["factor"])
                if factor < 1 or trip % factor:
                    raise PragmaError(
                        f"{at}: unroll factor={factor} on loop {loop.group(1)} does not divide its trip count {trip}"
                    )
        elif kind == "array_partition":
            var = opts.get("variable")
            if var not in arrays:
                raise PragmaError(f"{at}: array_partition names '{var}', which is not an array of this kernel")
            if var in maxi:
                raise PragmaError(f"{at}: array_partition of '{var}', an m_axi port (it lives in DRAM)")
            if opts.get("dim", "1") != "1":
                raise PragmaError(f"{at}: array_partition of '{var}' on dim {opts.get('dim')}: the arrays are flat")
            kinds = [w for w in words[1:] if w in ("cyclic", "block", "complete")]
            if len(kinds) != 1:
                raise PragmaError(f"{at}: array_partition of '{var}' needs one of cyclic, block, complete")
            if kinds[0] != "complete":
                factor = int(opts.get("factor", "0"))
                if factor < 1 or arrays[var] % factor:
                    raise PragmaError(f"{at}: array_partition factor={factor} does not divide '{var}' ({arrays[var]} elements)")
        elif kind == "interface":
            mode = words[1] if len(words) > 1 and "=" not in words[1] else ""
            port = opts.get("port")
            if mode not in MODES:
                raise PragmaError(f"{at}: interface mode '{mode}' is not one Vitis HLS knows")
            if port != "return" and port not in args:
                raise PragmaError(f"{at}: interface names port '{port}', not an argument of the function")
        elif kind == "stream":
            var, depth = opts.get("variable"), opts.get("depth", "")
            if var not in streams:
                raise PragmaError(f"{at}: stream names '{var}', which is not an hls::stream of this kernel")
            if not depth.isdigit() or int(depth) < 1:
                raise PragmaError(f"{at}: stream '{var}' needs a depth >= 1")
        elif kind == "dataflow":
            if ln.startswith("    "):
                raise PragmaError(f"{at}: dataflow inside a loop; it belongs at function scope")
        else:
            raise PragmaError(f"{at}: unknown pragma '{s}'")
    return count


def check_file(path: Path, *others: Path) -> int:
    """Checks kernel.cpp, with the arrays that `others` (weights.h) declare."""
    extern: dict[str, int] = {}
    for other in others:
        for m in ARRAY.finditer(other.read_text()[:1_000_000]):
            extern[m.group(2)] = int(m.group(3))
    return check(path.read_text(), path.name, extern)
