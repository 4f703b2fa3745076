"""`sparcc-opt`: runs sparcc (and xDSL) passes over .mlir files, like mlir-opt.

Built on xDSL's driver, so it takes the same flags (-p, --split-input-file,
--verify-diagnostics, --print-op-generic, ...). User mistakes (a file that
does not parse, an unknown pass, IR that fails verification) end with one
message and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from sparcc.dialects.nn import Nn
from sparcc.passes import PASSES

DIALECTS = [Nn]


class SparccOptMain(xDSLOptMain):
    version_format = "sparcc-opt (xDSL {xdsl_version})"

    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        for dialect in DIALECTS:
            self.ctx.register_dialect(dialect.name, lambda d=dialect: d)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        self.available_passes.update(PASSES)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        SparccOptMain("sparcc-opt: run sparcc passes on MLIR", argv).run()
    except ParseError as e:
        print(f"sparcc-opt: error: {e}", file=sys.stderr)
        return 1
    except DiagnosticException as e:
        print(f"sparcc-opt: error: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"sparcc-opt: error: no such file: {e.filename}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
