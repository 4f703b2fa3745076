"""ap_fixed<W,I> arithmetic in numpy, bit for bit as the ap_types headers do
it with their defaults (AP_TRN: round towards minus infinity; AP_WRAP: wrap
around in W bits): the model the C simulation is checked against."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fixed:
    width: int
    integer: int

    @property
    def frac(self) -> int:
        return self.width - self.integer

    def __str__(self) -> str:
        return f"ap_fixed<{self.width},{self.integer}>"


def parse(text: str) -> Fixed:
    m = re.fullmatch(r"ap_fixed<\s*(\d+)\s*,\s*(-?\d+)\s*>", text.strip())
    if m is None:
        raise ValueError(f"not an ap_fixed type: {text!r}")
    return Fixed(int(m.group(1)), int(m.group(2)))


def quantize(x: np.ndarray | float, fmt: Fixed) -> np.ndarray:
    """x (float64, exact) rounded to fmt: floor to the LSB, wrap to W bits."""
    scaled = np.floor(np.asarray(x, dtype=np.float64) * 2.0**fmt.frac)
    span = 2.0**fmt.width
    wrapped = np.mod(scaled + span / 2, span) - span / 2
    return wrapped / 2.0**fmt.frac


def literal(v: float, fmt: Fixed) -> float:
    """A float constant in a fixed-point nest: infinities (a max-reduction's
    start) become the type's extremes, everything else is rounded as usual."""
    if v == float("inf"):
        return 2.0 ** (fmt.integer - 1) - 2.0**-fmt.frac
    if v == float("-inf"):
        return -(2.0 ** (fmt.integer - 1))
    return float(quantize(v, fmt))
