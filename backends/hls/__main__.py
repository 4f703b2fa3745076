"""`python -m sparcc.backends.hls FILE.mlir`: the hls emitter on its own, for
lit tests and inspection. FILE holds one entry function on tensors (linalg)
or memrefs (loops); it prints kernel.cpp, the QoR report (--emit qor) or the
annotated loop IR (--emit ir). A user mistake is one line on stderr, exit 1.

  --schedule JSON     e.g. '{"*": {"unroll": 4}, "dataflow": true}'
  --precision SPEC    e.g. '*=ap_fixed<16,6>'
  --interface MODE    m_axi (default), ap_memory or stream
  --weights MODE      auto (default), header or bin (weights.bin through the sparcc_wts port)
"""

from __future__ import annotations

import argparse
import json
import sys

from sparcc.errors import SparccError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sparcc.backends.hls")
    p.add_argument("file")
    p.add_argument("--schedule", default="{}")
    p.add_argument("--precision")
    p.add_argument("--interface", default="m_axi")
    p.add_argument("--weights", default="auto")
    p.add_argument("--emit", choices=("cpp", "qor", "ir"), default="cpp")
    opts = p.parse_args(argv)
    from sparcc.backends.hls import project, qor
    from sparcc.backends.hls.pragmas import check
    from sparcc.backends.hls.target import Options, _check_weights, generate

    try:
        try:
            schedule = json.loads(opts.schedule)
        except ValueError as e:
            raise SparccError(f"--schedule is not JSON: {e}") from None
        with open(opts.file) as f:
            text = f.read()
        design = generate(text, Options(schedule, opts.precision, opts.interface, _check_weights(opts.weights)))
        cpp = project.kernel_cpp(design.kernel)
        check(cpp, "kernel.cpp", {b.name: b.size for b in design.kernel.buffers})
    except (SparccError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if opts.emit == "cpp":
        print(cpp)
    elif opts.emit == "qor":
        print(qor.text(design.report), end="")
    else:
        print(design.hls_ir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
