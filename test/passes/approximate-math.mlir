// approximate-math: scalar f32 math.exp / math.tanh / math.erf become
// arith/math sequences that vectorise (no libm call per lane); every other
// type and every other math op is left to upstream's lowering.
// RUN: sparcc-opt %s -p approximate-math | filecheck %s
// No f32 exp/tanh/erf survives in the rewritten functions:
// RUN: sparcc-opt %s -p approximate-math | filecheck %s --check-prefix=GONE

// exp: clamp, k = floor(x log2(e) + 1/2), Cody-Waite r = x - k ln2 (two
// parts), Cephes polynomial, 2^k as two halves built in the exponent bits,
// then overflow -> +inf, underflow -> 0, NaN -> NaN.
// CHECK-LABEL: @exp(
// CHECK-NEXT:    %[[LO:.*]] = arith.constant -87.3365402 : f32
// CHECK-NEXT:    %[[C0:.*]] = arith.maximumf %x, %[[LO]] : f32
// CHECK-NEXT:    %[[HI:.*]] = arith.constant 88.7228394 : f32
// CHECK-NEXT:    %[[C:.*]] = arith.minimumf %[[C0]], %[[HI]] : f32
// CHECK-NEXT:    %[[LOG2E:.*]] = arith.constant 1.44269502 : f32
// CHECK-NEXT:    %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT:    %[[T0:.*]] = arith.mulf %[[C]], %[[LOG2E]] : f32
// CHECK-NEXT:    %[[T1:.*]] = arith.addf %[[T0]], %[[HALF]] : f32
// CHECK-NEXT:    %[[K:.*]] = math.floor %[[T1]] : f32
// CHECK-NEXT:    %[[LN2HI:.*]] = arith.constant 0.693359375 : f32
// CHECK-NEXT:    %[[KHI:.*]] = arith.mulf %[[K]], %[[LN2HI]] : f32
// CHECK-NEXT:    %[[R0:.*]] = arith.subf %[[C]], %[[KHI]] : f32
// CHECK-NEXT:    %[[LN2LO:.*]] = arith.constant -0.000212194442 : f32
// CHECK-NEXT:    %[[KLO:.*]] = arith.mulf %[[K]], %[[LN2LO]] : f32
// CHECK-NEXT:    %[[R:.*]] = arith.subf %[[R0]], %[[KLO]] : f32
// CHECK-NEXT:    arith.constant 0.000198756912 : f32
// CHECK:         %[[RR:.*]] = arith.mulf %[[R]], %[[R]] : f32
// CHECK-NEXT:    %[[PRR:.*]] = arith.mulf %{{.*}}, %[[RR]] : f32
// CHECK-NEXT:    %[[PR:.*]] = arith.addf %[[PRR]], %[[R]] : f32
// CHECK-NEXT:    %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:    %[[P:.*]] = arith.addf %[[PR]], %[[ONE]] : f32
// CHECK-NEXT:    %[[H:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT:    %[[KH:.*]] = arith.mulf %[[K]], %[[H]] : f32
// CHECK-NEXT:    %[[K1:.*]] = math.floor %[[KH]] : f32
// CHECK-NEXT:    %[[K1I:.*]] = arith.fptosi %[[K1]] : f32 to i32
// CHECK-NEXT:    %[[BIAS:.*]] = arith.constant 127 : i32
// CHECK-NEXT:    %[[SHIFT:.*]] = arith.constant 23 : i32
// CHECK-NEXT:    %[[E1:.*]] = arith.addi %[[K1I]], %[[BIAS]] : i32
// CHECK-NEXT:    %[[B1:.*]] = arith.shli %[[E1]], %[[SHIFT]] : i32
// CHECK-NEXT:    %[[POW1:.*]] = arith.bitcast %[[B1]] : i32 to f32
// CHECK-NEXT:    %[[Y1:.*]] = arith.mulf %[[P]], %[[POW1]] : f32
// CHECK-NEXT:    %[[K2:.*]] = arith.subf %[[K]], %[[K1]] : f32
// CHECK-NEXT:    %[[K2I:.*]] = arith.fptosi %[[K2]] : f32 to i32
// CHECK-NEXT:    %[[BIAS2:.*]] = arith.constant 127 : i32
// CHECK-NEXT:    %[[SHIFT2:.*]] = arith.constant 23 : i32
// CHECK-NEXT:    %[[E2:.*]] = arith.addi %[[K2I]], %[[BIAS2]] : i32
// CHECK-NEXT:    %[[B2:.*]] = arith.shli %[[E2]], %[[SHIFT2]] : i32
// CHECK-NEXT:    %[[POW2:.*]] = arith.bitcast %[[B2]] : i32 to f32
// CHECK-NEXT:    %[[Y:.*]] = arith.mulf %[[Y1]], %[[POW2]] : f32
// CHECK-NEXT:    %[[OHI:.*]] = arith.constant 88.7228394 : f32
// CHECK-NEXT:    %[[INF:.*]] = arith.constant 0x7f800000 : f32
// CHECK-NEXT:    %[[OVER:.*]] = arith.cmpf ogt, %x, %[[OHI]] : f32
// CHECK-NEXT:    %[[S1:.*]] = arith.select %[[OVER]], %[[INF]], %[[Y]] : f32
// CHECK-NEXT:    %[[ULO:.*]] = arith.constant -87.3365402 : f32
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[UNDER:.*]] = arith.cmpf olt, %x, %[[ULO]] : f32
// CHECK-NEXT:    %[[S2:.*]] = arith.select %[[UNDER]], %[[ZERO]], %[[S1]] : f32
// CHECK-NEXT:    %[[NAN:.*]] = arith.cmpf uno, %x, %x : f32
// CHECK-NEXT:    %[[S3:.*]] = arith.select %[[NAN]], %x, %[[S2]] : f32
// CHECK-NEXT:    func.return %[[S3]] : f32
// GONE-LABEL:  @exp(
// GONE-NOT:      math.{{(exp|tanh|erf)}}
// GONE:          func.return
func.func @exp(%x: f32) -> f32 {
  %0 = math.exp %x : f32
  func.return %0 : f32
}

// tanh: sign(x) (1 - e) / (1 + e) with e = exp(-2|x|) (the sequence above,
// inlined), and its Maclaurin series (x times a polynomial in x^2, Horner)
// where |x| < 0.25.
// CHECK-LABEL: @tanh(
// CHECK-NEXT:    %[[AX:.*]] = math.absf %x : f32
// CHECK-NEXT:    %[[M2:.*]] = arith.constant -2.000000e+00 : f32
// CHECK-NEXT:    %[[ARG:.*]] = arith.mulf %[[AX]], %[[M2]] : f32
// CHECK:         math.floor
// CHECK:         arith.bitcast
// CHECK:         %[[NAN:.*]] = arith.cmpf uno, %[[ARG]], %[[ARG]] : f32
// CHECK-NEXT:    %[[E:.*]] = arith.select %[[NAN]], %[[ARG]], %{{.*}} : f32
// CHECK-NEXT:    %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:    %[[NUM:.*]] = arith.subf %[[ONE]], %[[E]] : f32
// CHECK-NEXT:    %[[ONE2:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:    %[[DEN:.*]] = arith.addf %[[ONE2]], %[[E]] : f32
// CHECK-NEXT:    %[[Q:.*]] = arith.divf %[[NUM]], %[[DEN]] : f32
// CHECK-NEXT:    %[[T:.*]] = math.copysign %[[Q]], %x : f32
// CHECK-NEXT:    %[[QUARTER:.*]] = arith.constant 2.500000e-01 : f32
// CHECK-NEXT:    %[[XX:.*]] = arith.mulf %x, %x : f32
// CHECK-NEXT:    arith.constant -0.00886323582 : f32
// CHECK:         arith.constant -0.333333343 : f32
// CHECK:         arith.constant 1.000000e+00 : f32
// CHECK-NEXT:    arith.mulf
// CHECK-NEXT:    %[[P:.*]] = arith.addf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT:    %[[SMALL:.*]] = arith.mulf %x, %[[P]] : f32
// CHECK-NEXT:    %[[ISSMALL:.*]] = arith.cmpf olt, %[[AX]], %[[QUARTER]] : f32
// CHECK-NEXT:    %[[R:.*]] = arith.select %[[ISSMALL]], %[[SMALL]], %[[T]] : f32
// CHECK-NEXT:    func.return %[[R]] : f32
// GONE-LABEL:  @tanh(
// GONE-NOT:      math.{{(exp|tanh|erf)}}
// GONE:          func.return
func.func @tanh(%x: f32) -> f32 {
  %0 = math.tanh %x : f32
  func.return %0 : f32
}

// erf: Abramowitz & Stegun 7.1.26 on |x|:
// 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-x^2), t = 1 / (1 + p|x|),
// with the sign of x restored.
// CHECK-LABEL: @erf(
// CHECK-NEXT:    %[[AX:.*]] = math.absf %x : f32
// CHECK-NEXT:    %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:    %[[PC:.*]] = arith.constant 0.327591091 : f32
// CHECK-NEXT:    %[[ONE2:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:    %[[PX:.*]] = arith.mulf %[[AX]], %[[PC]] : f32
// CHECK-NEXT:    %[[DEN:.*]] = arith.addf %[[PX]], %[[ONE2]] : f32
// CHECK-NEXT:    %[[T:.*]] = arith.divf %[[ONE]], %[[DEN]] : f32
// CHECK-NEXT:    %[[A5:.*]] = arith.constant 1.06140542 : f32
// CHECK-NEXT:    %[[A4:.*]] = arith.constant -1.45315206 : f32
// CHECK-NEXT:    %[[M4:.*]] = arith.mulf %[[A5]], %[[T]] : f32
// CHECK-NEXT:    %[[P4:.*]] = arith.addf %[[M4]], %[[A4]] : f32
// CHECK-NEXT:    %[[A3:.*]] = arith.constant 1.42141378 : f32
// CHECK-NEXT:    %[[M3:.*]] = arith.mulf %[[P4]], %[[T]] : f32
// CHECK-NEXT:    %[[P3:.*]] = arith.addf %[[M3]], %[[A3]] : f32
// CHECK-NEXT:    %[[A2:.*]] = arith.constant -0.284496725 : f32
// CHECK-NEXT:    %[[M2:.*]] = arith.mulf %[[P3]], %[[T]] : f32
// CHECK-NEXT:    %[[P2:.*]] = arith.addf %[[M2]], %[[A2]] : f32
// CHECK-NEXT:    %[[A1:.*]] = arith.constant 0.254829586 : f32
// CHECK-NEXT:    %[[M1:.*]] = arith.mulf %[[P2]], %[[T]] : f32
// CHECK-NEXT:    %[[P1:.*]] = arith.addf %[[M1]], %[[A1]] : f32
// CHECK-NEXT:    %[[POLY:.*]] = arith.mulf %[[P1]], %[[T]] : f32
// CHECK-NEXT:    %[[XX:.*]] = arith.mulf %[[AX]], %[[AX]] : f32
// CHECK-NEXT:    %[[ARG:.*]] = arith.negf %[[XX]] : f32
// CHECK:         math.floor
// CHECK:         arith.bitcast
// CHECK:         %[[NAN:.*]] = arith.cmpf uno, %[[ARG]], %[[ARG]] : f32
// CHECK-NEXT:    %[[E:.*]] = arith.select %[[NAN]], %[[ARG]], %{{.*}} : f32
// CHECK-NEXT:    %[[ONE3:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:    %[[PE:.*]] = arith.mulf %[[POLY]], %[[E]] : f32
// CHECK-NEXT:    %[[Y:.*]] = arith.subf %[[ONE3]], %[[PE]] : f32
// CHECK-NEXT:    %[[BIG:.*]] = math.copysign %[[Y]], %x : f32
// CHECK-NEXT:    %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT:    %[[XX2:.*]] = arith.mulf %x, %x : f32
// CHECK-NEXT:    arith.constant 0.000120553326 : f32
// CHECK:         arith.constant 1.12837923 : f32
// CHECK:         %[[P:.*]] = arith.addf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT:    %[[SMALL:.*]] = arith.mulf %x, %[[P]] : f32
// CHECK-NEXT:    %[[ISSMALL:.*]] = arith.cmpf olt, %[[AX]], %[[HALF]] : f32
// CHECK-NEXT:    %[[R:.*]] = arith.select %[[ISSMALL]], %[[SMALL]], %[[BIG]] : f32
// CHECK-NEXT:    func.return %[[R]] : f32
// GONE-LABEL:  @erf(
// GONE-NOT:      math.{{(exp|tanh|erf)}}
// GONE:          func.return
func.func @erf(%x: f32) -> f32 {
  %0 = math.erf %x : f32
  func.return %0 : f32
}

// Not f32: math.exp on f64 is left to upstream's lowering.
// CHECK-LABEL: @exp_f64(
// CHECK-NEXT:    %[[R:.*]] = math.exp %x : f64
// CHECK-NEXT:    func.return %[[R]] : f64
func.func @exp_f64(%x: f64) -> f64 {
  %0 = math.exp %x : f64
  func.return %0 : f64
}

// Other math ops are untouched.
// CHECK-LABEL: @log(
// CHECK-NEXT:    %[[R:.*]] = math.log %x : f32
// CHECK-NEXT:    func.return %[[R]] : f32
func.func @log(%x: f32) -> f32 {
  %0 = math.log %x : f32
  func.return %0 : f32
}

// Inside a linalg body, where convert-nn-to-linalg puts them (here GELU's erf).
// CHECK-LABEL: @in_linalg_body(
// CHECK:         linalg.generic
// CHECK:           math.absf
// CHECK:           math.copysign
// CHECK:           linalg.yield
// GONE-LABEL:  @in_linalg_body(
// GONE-NOT:      math.{{(exp|tanh|erf)}}
// GONE:          func.return
func.func @in_linalg_body(%x: tensor<8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.erf %a : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  func.return %0 : tensor<8xf32>
}
