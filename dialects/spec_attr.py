"""A format attribute held as its canonical spec string (`#quant.format<"nf4:g64">`,
`#sparse.format<"csr">`): the string is canonicalised when parsed or built,
and checked by the verifier. Subclasses set CANONICAL (the dialect's
`canonical_spec`) and SAMPLE (a sample spec for parse errors)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from xdsl.dialects.builtin import StringAttr
from xdsl.ir import Attribute, ParametrizedAttribute
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException


class SpecAttr(ParametrizedAttribute):
    """Base of the spec-string format attributes; subclasses declare `spec: StringAttr`."""

    CANONICAL: ClassVar[Callable[[str], str]]  # ValueError if the spec is bad
    SAMPLE: ClassVar[str] = ""  # e.g. 'a quant spec such as "nf4:g64"'

    def __init__(self, spec: str | StringAttr):
        if isinstance(spec, StringAttr):
            spec = spec.data
        try:
            spec = type(self).CANONICAL(spec)
        except ValueError:
            pass  # the verifier reports it
        super().__init__(StringAttr(spec))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            spec = parser.parse_str_literal(f" ({cls.SAMPLE})")
            try:
                spec = cls.CANONICAL(spec)
            except ValueError as e:
                parser.raise_error(str(e), start, parser.pos)
        return (StringAttr(spec),)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.spec.data)  # type: ignore[attr-defined]

    def verify(self) -> None:
        spec = self.spec.data  # type: ignore[attr-defined]
        try:
            canonical = type(self).CANONICAL(spec)
        except ValueError as e:
            raise VerifyException(str(e)) from None
        if canonical != spec:
            raise VerifyException(f'expected the canonical spec "{canonical}", got "{spec}"')
