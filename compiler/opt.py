"""`sparcc-opt`: runs sparcc (and xDSL) passes over .mlir files, like mlir-opt.

Built on xDSL's driver, so it takes the same flags (-p, --split-input-file,
--verify-diagnostics, --print-op-generic, ...). User mistakes (a file that
does not parse, an unknown pass, IR that fails verification, a pass that
rejects its input, a bad flag or -o path, a byte that is not UTF-8) end with
one message and exit code 1, never a traceback:

    f.mlir:3:8: error: 'nn.add' op expected result type tensor<4xf32>, got ...

Messages about IR carry the file:line:col of the op, which the parser
records; ops that a pass created have none and are named by the pass.
With --verify-diagnostics the same one-line message is printed and the next
`// -----` chunk is processed.

`sparcc-opt FILE --mlir-pipeline='builtin.module(...)'` instead runs an
upstream MLIR pass pipeline through the MLIR Python bindings (the one
sparcc's CPU backend uses); it is what sparcc's reproducers replay with. A failure that is a bug in sparcc itself is
reported as an internal error; SPARCC_TRACEBACK=1 shows its traceback.
`--step TARGET:NAME` (repeatable) then runs one of a target's own rewrites
of upstream IR, in the order given (`Target.upstream_steps`; the CPU's:
cpu:plan-buffers, cpu:outline-loop-nests).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO

from sparcc.dialects.nn import Nn
from sparcc.dialects.quant import Quant
from sparcc.dialects.shard import Shard
from sparcc.dialects.sparse import Sparse
from sparcc.errors import SparccError
from sparcc.passes import PASSES
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.arg_spec import parse_pipeline
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

DIALECTS = [Nn, Quant, Sparse, Shard]

Loc = tuple[str, int, int]

# Exceptions that a pass raises to reject its input (rather than by a bug).
USER_ERRORS = (DiagnosticException, SparccError, ValueError, NotImplementedError)


class OptError(DiagnosticException):
    """A user-facing sparcc-opt error; its text is the whole message."""


class InternalError(Exception):
    """A bug in sparcc or xDSL, met while running sparcc-opt."""


def _format(loc: Loc | None, message: str) -> str:
    if loc is None:
        return f"sparcc-opt: error: {message}"
    file, line, col = loc
    return f"{file}:{line}:{col}: error: {message}"


def _one_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return " ".join(lines) if lines else type(e).__name__


# xDSL's string-literal pattern, '"(?:[^"...]+|\\...)*"', nests a `+` in a `*`:
# a quote that is not closed on its line backtracks exponentially in the
# line's length (a mutated file hung sparcc-opt). One character per step
# matches the same strings in linear time.
_STRING_LITERAL = re.compile(r'"(?:[^"\\\n\v\f]|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*"')


class _LocatingParser(Parser):
    """The MLIR parser, also recording where each op starts."""

    def __init__(self, ctx, text: bytes, name: str, line_offset: int, locs: dict):
        super().__init__(ctx, text, name)
        self._line_offset = line_offset
        self._locs = locs
        self.lexer._unescaped_characters_regex = _STRING_LITERAL

    def where(self) -> Loc:
        """The place of the token the parser is at."""
        file, line, col = self._current_token.span.get_location()
        return (file, line + self._line_offset, col)

    def parse_operation(self) -> Operation:
        span = self._current_token.span
        op = super().parse_operation()
        file, line, col = span.get_location()
        self._locs[op] = (file, line + self._line_offset, col)
        return op


def _post_order(op: Operation) -> Iterator[Operation]:
    for region in op.regions:
        for block in region.blocks:
            for child in block.ops:
                yield from _post_order(child)
    yield op


class SparccOptMain(xDSLOptMain):
    version_format = "sparcc-opt (xDSL {xdsl_version})"

    def __init__(self, description: str, args: Sequence[str] | None = None):
        self.op_locs: dict[Operation, Loc] = {}
        self._line_offset = 0
        self._running: ModulePass | None = None
        self._verifying_after: ModulePass | None = None
        super().__init__(description, args)

    # -- registration -------------------------------------------------------

    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        for dialect in DIALECTS:
            # sparcc's `shard` replaces xDSL's partial one of the same name
            self.ctx._registered_dialects.pop(dialect.name, None)
            self.ctx.register_dialect(dialect.name, lambda d=dialect: d)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        self.available_passes.update(PASSES)

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def parse_mlir(io: IO[bytes]) -> ModuleOp:
            text = _decode(io.read(), self.get_input_name(), self._line_offset)
            parser = _LocatingParser(self.ctx, text, self.get_input_name(), self._line_offset, self.op_locs)
            try:
                return parser.parse_module(not self.args.no_implicit_module)
            except (ParseError, DiagnosticException):
                raise
            except RecursionError:
                raise OptError(_format(parser.where(), "brackets or regions nested too deeply to parse")) from None
            except (ValueError, TypeError, KeyError, IndexError, AssertionError, ArithmeticError, MemoryError) as e:
                # xDSL's parsers of some ops raise these on malformed input
                raise OptError(_format(parser.where(), f"cannot parse this: {_one_line(e)}")) from None

        self.available_frontends["mlir"] = parse_mlir

    # -- input --------------------------------------------------------------

    def prepare_input(self):
        name = self.args.input_file
        if name is not None and not self.args.frontend:
            ext = os.path.splitext(name)[1].lstrip(".")
            if ext not in self.available_frontends:
                raise OptError(
                    _format(
                        None,
                        f"cannot read '{name}': unknown file extension '.{ext}' "
                        f"(expected one of: {', '.join(self.available_frontends)}; "
                        "or pass --frontend)",
                    )
                )
        try:
            return super().prepare_input()
        except OSError as e:
            raise OptError(_format(None, f"cannot open '{name}': {e.strerror}")) from None

    def parse_chunk(self, chunk: IO[bytes], file_extension: str, start_offset: int = 0):
        self._line_offset = start_offset
        self.op_locs.clear()
        try:
            return super().parse_chunk(chunk, file_extension, start_offset)
        except (ParseError, OptError):
            raise
        except DiagnosticException as e:  # e.g. an attribute rejected while parsing
            raise OptError(_format(None, f"{self.get_input_name()}: {_one_line(e)}")) from None

    # -- output -------------------------------------------------------------

    def prepare_output(self) -> IO[str]:
        """-o FILE is written beside FILE and renamed onto it only when every
        chunk succeeded (`run`): a failure never truncates what was there,
        even when FILE is the input."""
        self._output = None
        if self.args.output_file is None:
            return sys.stdout
        self._output = _AtomicOutput(self.args.output_file)
        return self._output

    def run(self) -> None:
        try:
            super().run()
        except BaseException:
            if getattr(self, "_output", None) is not None:
                self._output.discard()
            raise
        if getattr(self, "_output", None) is not None:
            self._output.commit()

    # -- pipeline -----------------------------------------------------------

    def setup_pipeline(self) -> None:
        try:
            specs = list(parse_pipeline(self.args.passes))
        except ArgSpecParseError as e:
            # its text: a heading, "pass-pipeline:1:COL", the spec, a caret, the message
            lines = [line for line in str(e).splitlines() if line.strip()]
            col = lines[1].rsplit(":", 1)[-1] if len(lines) > 1 else "?"
            raise OptError(
                _format(
                    None,
                    f"cannot parse pass pipeline '{self.args.passes}' at column {col}: "
                    f"{lines[-1].strip()}",
                )
            ) from None
        for spec in specs:
            if spec.name not in self.available_passes:
                raise OptError(_format(None, self._unknown_pass(spec.name)))
        try:
            super().setup_pipeline()
        except ValueError as e:
            raise OptError(_format(None, f"bad pass options in '{self.args.passes}': {e}")) from None
        self.pipeline = PassPipeline(self.pipeline.passes, self._tracking(self.pipeline.callback))

    def _unknown_pass(self, name: str) -> str:
        message = f"unknown pass '{name}'"
        close = difflib.get_close_matches(name, list(self.available_passes), n=3, cutoff=0.8)
        if close:
            message += f" (did you mean {', '.join(repr(c) for c in close)}?)"
        return message + f"; sparcc passes: {', '.join(PASSES)}; `sparcc-opt --help` lists all"

    def _tracking(self, callback: Callable | None) -> Callable:
        """Wraps the pipeline callback (which verifies) to record the stage."""

        def track(previous: ModulePass | None, module: ModuleOp, following: ModulePass | None):
            self._running, self._verifying_after = None, previous
            if callback is not None:
                callback(previous, module, following)
            self._running = following

        return track

    def apply_passes(self, prog: ModuleOp) -> None:
        self._running, self._verifying_after = None, None
        try:
            super().apply_passes(prog)
        except OptError:
            raise
        except Exception as e:
            if self._running is None:
                raise self._verification_error(prog, e) from None
            name = self._running.name
            if isinstance(e, USER_ERRORS):
                raise OptError(
                    _format(None, f"pass '{name}' failed on {self.get_input_name()}: {_one_line(e)}")
                ) from None
            raise InternalError(
                f"pass '{name}' crashed on {self.get_input_name()}: "
                f"{type(e).__name__}: {_one_line(e)}"
            ) from e

    def _verification_error(self, prog: ModuleOp, error: Exception) -> OptError:
        """Names the first op that fails to verify, with its location."""
        after = self._verifying_after
        stage = "" if after is None else f"after pass '{after.name}': "
        for op in _post_order(prog):
            try:
                op.verify(verify_nested_ops=False)
            except Exception as e:  # noqa: BLE001 - any failure names the op
                message = f"{stage}'{op.name}' op {_one_line(e)}"
                loc = self.op_locs.get(op)
                if loc is None:
                    return OptError(_format(None, f"{self.get_input_name()}: {message}"))
                return OptError(_format(loc, message))
        return OptError(_format(None, f"{self.get_input_name()}: {stage}{_one_line(error)}"))


def _decode(data: bytes, name: str, line_offset: int = 0) -> str:
    """The input as text; a byte that is not UTF-8 is an error naming its place."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1 + line_offset
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise OptError(
            _format((name, line, col), f"byte 0x{data[e.start]:02x} is not UTF-8; .mlir files are UTF-8 text")
        ) from None


class _AtomicOutput:
    """A text stream into a temporary file beside `path`, renamed onto it by
    commit(); a bad path is an OptError before any input is parsed."""

    def __init__(self, path: str):
        import tempfile

        if not path:
            raise OptError(_format(None, "-o '': expected a file name"))
        if os.path.isdir(path):
            raise OptError(_format(None, f"cannot write '{path}': it is a folder; pass -o a file name"))
        self.path = path
        try:
            fd, self.tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.")
        except OSError as e:
            raise OptError(_format(None, f"cannot write '{path}': {e.strerror or e}")) from None
        self.stream = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, text: str) -> int:
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()

    def commit(self) -> None:
        self.stream.close()
        try:
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise OptError(_format(None, f"cannot write '{self.path}': {e.strerror or e}")) from None

    def discard(self) -> None:
        self.stream.close()
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def _parse_error_message(e: ParseError) -> str:
    loc = e.span.get_location()
    msg = e.msg.strip()
    if msg.startswith("in ") and e.span.start >= len(e.span.input.content):
        msg = f"unexpected end of file {msg}"
    elif msg.startswith("in "):
        msg = f"unexpected '{e.span.text}' {msg}"
    text = _format((loc.file, loc.line, loc.col), msg)
    line = e.span.input.content[
        e.span.input.get_start_of_line(e.span.start) : e.span.input.get_end_of_line(e.span.start)
    ]
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    if line.strip():
        col = loc.col - 1
        text += f"\n{line.rstrip()}\n{' ' * col}^"
    return text


def _upstream_loc(loc: object, name: str) -> str:
    """`loc("-":3:8)` (upstream's name for a parsed string) -> `FILE:3:8`."""
    import re

    found = re.search(r'"[^"]*":(\d+):(\d+)', str(loc))
    return f"{name}:{found[1]}:{found[2]}" if found else name


def _upstream_steps() -> dict[str, Callable]:
    """Every target's own rewrites of upstream IR (no pass manager knows
    them), as TARGET:NAME."""
    from sparcc.backends import TARGETS, get_target

    steps = {}
    for target in TARGETS:
        for name, step in get_target(target, available=False).upstream_steps().items():
            steps[f"{target}:{name}"] = step
    return steps


def run_upstream(argv: Sequence[str]) -> int:
    """`FILE [-o OUT] --mlir-pipeline=PIPELINE`: upstream MLIR's parser and passes."""
    import argparse

    from mlir import ir, passmanager

    parser = argparse.ArgumentParser(prog="sparcc-opt")
    parser.add_argument("input", nargs="?", default="-")
    parser.add_argument("--mlir-pipeline", required=True)
    parser.add_argument("-o", "--output", default="-")
    steps = _upstream_steps()
    parser.add_argument("--step", action="append", default=[], choices=sorted(steps),
                        help="a target's own rewrite of upstream IR, run after the pipeline")
    opts = parser.parse_args(argv)
    name = "<stdin>" if opts.input == "-" else opts.input
    try:
        if opts.input == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(opts.input, "rb") as f:
                data = f.read()
        text = _decode(data, name)
        out = None if opts.output == "-" else _AtomicOutput(opts.output)
    except OSError as e:
        print(_format(None, f"cannot read {name}: {e.strerror}"), file=sys.stderr)
        return 1
    except OptError as e:
        print(str(e), file=sys.stderr)
        return 1
    with ir.Context() as ctx, ir.Location.unknown():
        ctx.allow_unregistered_dialects = True
        try:
            module = ir.Module.parse(text)
            if opts.mlir_pipeline.strip():
                passmanager.PassManager.parse(opts.mlir_pipeline).run(module.operation)
            for step in opts.step:
                steps[step](module)
                module.operation.verify()
        except (ir.MLIRError, ValueError) as e:
            diags = getattr(e, "error_diagnostics", None) or []
            lines = [f"{_upstream_loc(d.location, name)}: error: {d.message}" for d in diags]
            lines = lines or [_format(None, f"{name}: {_one_line(e)}")]
            print("\n".join(lines), file=sys.stderr)
            if out is not None:
                out.discard()
            return 1
        text = str(module)
    if out is None:
        print(text)
        return 0
    out.write(text + "\n")
    try:
        out.commit()
    except OptError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if any(a == "--mlir-pipeline" or a.startswith("--mlir-pipeline=") for a in args):
            return run_upstream(args)
        SparccOptMain("sparcc-opt: run sparcc passes on MLIR", args).run()
    except SystemExit as e:  # argparse printed the usage and the message: a user error like any other
        return 1 if e.code == 2 else e.code
    except OptError as e:
        print(str(e), file=sys.stderr)
        return 1
    except ParseError as e:
        print(_parse_error_message(e), file=sys.stderr)
        return 1
    except InternalError as e:
        if os.environ.get("SPARCC_TRACEBACK"):
            raise
        print(
            f"sparcc-opt: internal error: {e}\n"
            "  this is a bug in sparcc; rerun with SPARCC_TRACEBACK=1 for the traceback",
            file=sys.stderr,
        )
        return 2
    except DiagnosticException as e:
        print(_format(None, _one_line(e)), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
