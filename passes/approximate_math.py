"""
approximate-math: rewrites scalar f32 `math.exp`, `math.tanh` and `math.erf`
into arith/math sequences that vectorise.

Upstream lowers these to libm calls, one scalar call per lane, which costs
more than the matmuls around them in a transformer block. The replacements:

  exp(x)   Cody-Waite range reduction x = k ln2 + r, a degree-6 polynomial
           in r (Cephes coefficients), 2^k built in the exponent bits;
           x > 88.7228 -> +inf, x < -87.3365 -> 0, NaN -> NaN. ~1 ulp.
  tanh(x)  sign(x) (1 - e) / (1 + e), e = exp(-2|x|); its Maclaurin
           series (6 terms) for |x| < 0.25. Absolute error < 2e-7,
           relative error < 1e-6.
  erf(x)   Maclaurin series (7 terms) for |x| < 0.5, relative error < 3e-7;
           Abramowitz & Stegun 7.1.26 on |x| beyond, sign restored.
           Absolute error < 3.5e-7 (documented in the README).

The pass touches only f32 scalars (linalg bodies); other types are left to
upstream's lowering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, f32, i32
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from sparcc.passes.convert_nn_to_linalg import Scalar

EXP_HI, EXP_LO = 88.72283935546875, -87.33654022216797
LN2_HI, LN2_LO = 0.693359375, -2.12194440e-4
EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
ERF_P = 0.3275911
ERF_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
# tanh(x) = x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835 - 1382x^11/155925 + ...
TANH_SERIES = (1.0, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925)
# erf(x) = 2/sqrt(pi) * sum_k (-1)^k x^(2k+1) / (k! (2k+1)), k = 0..6
ERF_SERIES = tuple(
    2 / math.sqrt(math.pi) * (-1) ** k / (math.factorial(k) * (2 * k + 1)) for k in range(7)
)


class _Seq(Scalar):
    """Scalar f32 sequences; exp, tanh and erf here are the approximations."""

    def c(self, v: float) -> SSAValue:
        return self.const(v, f32)

    def fma(self, a, b, c):  # a*b + c, left to LLVM to contract
        return self.add(self.mul(a, b), c)

    def select_if(self, pred: str, a: SSAValue, b: SSAValue, then: SSAValue, other: SSAValue) -> SSAValue:
        cond = self._add(arith.CmpfOp(a, b, pred))
        return self._add(arith.SelectOp(cond, then, other))

    def exp(self, x: SSAValue) -> SSAValue:
        clamped = self._add(arith.MinimumfOp(self._add(arith.MaximumfOp(x, self.c(EXP_LO))), self.c(EXP_HI)))
        k = self._add(mathd.FloorOp(self.fma(clamped, self.c(1 / math.log(2)), self.c(0.5))))
        r = self.sub(self.sub(clamped, self.mul(k, self.c(LN2_HI))), self.mul(k, self.c(LN2_LO)))
        p = self.c(EXP_POLY[0])
        for coeff in EXP_POLY[1:]:
            p = self.fma(p, r, self.c(coeff))
        p = self.add(self.add(self.mul(p, self.mul(r, r)), r), self.c(1.0))
        # 2^k = 2^k1 * 2^k2 with both halves in [-63, 64]: finite at k = 128
        # and gradual underflow near the low end
        k1 = self._add(mathd.FloorOp(self.mul(k, self.c(0.5))))
        y = self.mul(self.mul(p, self.pow2(k1)), self.pow2(self.sub(k, k1)))
        y = self.select_if("ogt", x, self.c(EXP_HI), self.c(math.inf), y)
        y = self.select_if("olt", x, self.c(EXP_LO), self.c(0.0), y)
        return self.select_if("uno", x, x, x, y)

    def pow2(self, k: SSAValue) -> SSAValue:
        """2^k for integral k in [-126, 127], built in the exponent bits."""
        ki = self._add(arith.FPToSIOp(k, i32))
        bias = self._add(arith.ConstantOp(IntegerAttr(127, i32)))
        shift = self._add(arith.ConstantOp(IntegerAttr(23, i32)))
        bits = self._add(arith.ShLIOp(self._add(arith.AddiOp(ki, bias)), shift))
        return self._add(arith.BitcastOp(bits, f32))

    def tanh(self, x: SSAValue) -> SSAValue:
        ax = self._add(mathd.AbsFOp(x))
        e = self.exp(self.mul(ax, self.c(-2.0)))
        t = self.div(self.sub(self.c(1.0), e), self.add(self.c(1.0), e))
        t = self._add(mathd.CopySignOp(t, x))
        return self.select_if("olt", ax, self.c(0.25), self.mul(x, self.odd_series(x, TANH_SERIES)), t)

    def odd_series(self, x: SSAValue, coeffs: tuple[float, ...]) -> SSAValue:
        """sum_k coeffs[k] x^(2k), by Horner in x^2 (times x gives an odd series)."""
        x2 = self.mul(x, x)
        acc = self.c(coeffs[-1])
        for coeff in reversed(coeffs[:-1]):
            acc = self.fma(acc, x2, self.c(coeff))
        return acc

    def erf(self, x: SSAValue) -> SSAValue:
        ax = self._add(mathd.AbsFOp(x))
        t = self.div(self.c(1.0), self.fma(ax, self.c(ERF_P), self.c(1.0)))
        poly = self.c(ERF_A[0])
        for coeff in ERF_A[1:]:
            poly = self.fma(poly, t, self.c(coeff))
        poly = self.mul(poly, t)
        e = self.exp(self._add(arith.NegfOp(self.mul(ax, ax))))
        y = self._add(mathd.CopySignOp(self.sub(self.c(1.0), self.mul(poly, e)), x))
        # |x| < 0.5: the Maclaurin series keeps the relative error small near 0
        return self.select_if("olt", ax, self.c(0.5), self.mul(x, self.odd_series(x, ERF_SERIES)), y)


class ApproximateUnary(RewritePattern):
    BUILDERS = {mathd.ExpOp: _Seq.exp, mathd.TanhOp: _Seq.tanh, mathd.ErfOp: _Seq.erf}

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        build = self.BUILDERS.get(type(op))
        if build is None or op.results[0].type != f32:
            return
        seq = _Seq()
        result = build(seq, op.operands[0])
        rewriter.replace(op, seq.ops, [result])


@dataclass(frozen=True)
class ApproximateMathPass(ModulePass):
    name = "approximate-math"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([ApproximateUnary()]), apply_recursively=False).rewrite_module(op)
