// convert-nn-to-linalg on the inverse-trigonometric, hyperbolic and
// NaN-aware elementwise ops.
// RUN: sparcc-opt %s -p convert-nn-to-linalg | filecheck %s

// One math op each; erfc is upstream's math.erfc (libm's erfc later: 1 - erf
// would lose every digit in the tail), which sparcc defines since xDSL's math
// dialect lacks it.
// The runtime functions that @special (below) calls are declared first, once each.
// CHECK:       func.func private @sparcc_sf_digamma_f32(f32) -> f32
// CHECK-NEXT:  func.func private @sparcc_sf_polygamma_f64(f64, f64) -> f64
// CHECK-NEXT:  func.func private @sparcc_sf_frexp_exponent_f32(f32) -> i32
// CHECK-NOT:   func.func private

// CHECK-LABEL: func.func @unary(
// CHECK:         math.asin
// CHECK:         math.acosh
// CHECK:         math.log10
// CHECK:         math.erfc %{{.*}} : f32
// CHECK:         math.exp2
func.func @unary(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.asin %x : tensor<4xf32>
  %1 = nn.acosh %0 : tensor<4xf32>
  %2 = nn.log10 %1 : tensor<4xf32>
  %3 = nn.erfc %2 : tensor<4xf32>
  %4 = nn.exp2 %3 : tensor<4xf32>
  func.return %4 : tensor<4xf32>
}

// fmax takes x where x > y or y is NaN, else y: a NaN operand loses.
// CHECK-LABEL: func.func @fmax(
// CHECK:         ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[GT:.*]] = arith.cmpf ogt, %[[A]], %[[B]] : f32
// CHECK-NEXT:      %[[NAN:.*]] = arith.cmpf une, %[[B]], %[[B]] : f32
// CHECK-NEXT:      %[[PICK:.*]] = arith.ori %[[GT]], %[[NAN]] : i1
// CHECK-NEXT:      %[[R:.*]] = arith.select %[[PICK]], %[[A]], %[[B]] : f32
// CHECK-NEXT:      linalg.yield %[[R]] : f32
func.func @fmax(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.fmax %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// hypot scales by the larger magnitude (no overflow of x^2 + y^2) and
// returns inf when either operand is inf.
// CHECK-LABEL: func.func @hypot(
// CHECK:         math.absf
// CHECK:         arith.divf
// CHECK:         math.sqrt
// CHECK:         arith.constant 0x7f800000 : f32
// CHECK:         linalg.yield
func.func @hypot(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.hypot %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// copysign on integers is not PyTorch's (the frontend converts to float).
// CHECK-LABEL: func.func @copysign(
// CHECK:         math.copysign %{{.*}}, %{{.*}} : f64
func.func @copysign(%x: tensor<4xf64>, %y: tensor<4xf64>) -> tensor<4xf64> {
  %0 = nn.copysign %x, %y : tensor<4xf64>, tensor<4xf64> -> tensor<4xf64>
  func.return %0 : tensor<4xf64>
}

// A running reduction is a reduction over an extra loop j (d2) masked to
// j <= i (d1): positions after i contribute the combine's neutral element,
// so that the combine stays the last op (what the vectoriser recognises).
// CHECK-LABEL: func.func @cumprod(
// CHECK:         %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK:         linalg.fill ins(%[[ONE]] : f32)
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK:           %[[J:.*]] = linalg.index 2 : index
// CHECK-NEXT:      %[[I:.*]] = linalg.index 1 : index
// CHECK-NEXT:      %[[KEEP:.*]] = arith.cmpi ule, %[[J]], %[[I]] : index
// CHECK:           %[[X:.*]] = arith.select %[[KEEP]]
// CHECK-NEXT:      %[[R:.*]] = arith.mulf %{{.*}}, %[[X]] : f32
// CHECK-NEXT:      linalg.yield %[[R]] : f32
func.func @cumprod(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.cumprod %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// cummax starts from the type's lowest value; maximumf keeps a NaN.
// CHECK-LABEL: func.func @cummax(
// CHECK:         arith.constant -9223372036854775808 : i64
// CHECK:         arith.maxsi
// CHECK:         arith.constant 0xff800000 : f32
// CHECK:         arith.maximumf
func.func @cummax(%i: tensor<8xi64>, %x: tensor<8xf32>) -> (tensor<8xi64>, tensor<8xf32>) {
  %0 = nn.cummax %i {dim = 0 : i64} : tensor<8xi64> -> tensor<8xi64>
  %1 = nn.cummax %x {dim = 0 : i64} : tensor<8xf32> -> tensor<8xf32>
  func.return %0, %1 : tensor<8xi64>, tensor<8xf32>
}

// logcumsumexp: max + log1p(exp(min - max)), the max itself where it is infinite.
// CHECK-LABEL: func.func @logcumsumexp(
// CHECK:         arith.maximumf
// CHECK:         arith.minimumf
// CHECK:         math.log1p
// CHECK:         arith.cmpf oeq
// CHECK:         arith.select
func.func @logcumsumexp(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = nn.logcumsumexp %x {dim = 0 : i64} : tensor<8xf32> -> tensor<8xf32>
  func.return %0 : tensor<8xf32>
}

// A special function is a call of the CPU runtime's C function for the
// element type (declared at the top); f16/bf16 go through f32; nextafter is arith:
// one step of the bits (its own width), the smallest subnormal from zero.
// CHECK-LABEL: func.func @special(
// CHECK:         ^{{.*}}(%[[A:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[R:.*]] = func.call @sparcc_sf_digamma_f32(%[[A]]) : (f32) -> f32
// CHECK-NEXT:      linalg.yield %[[R]] : f32
// CHECK:           %[[W:.*]] = arith.extf %{{.*}} : bf16 to f32
// CHECK-NEXT:      %[[S:.*]] = func.call @sparcc_sf_digamma_f32(%[[W]]) : (f32) -> f32
// CHECK-NEXT:      arith.truncf %[[S]] : f32 to bf16
// CHECK:           func.call @sparcc_sf_polygamma_f64(%{{.*}}, %{{.*}}) : (f64, f64) -> f64
// CHECK:           func.call @sparcc_sf_frexp_exponent_f32(%{{.*}}) : (f32) -> i32
// CHECK:           arith.bitcast %{{.*}} : bf16 to i16
// CHECK:           arith.addi
// CHECK:           arith.subi
// CHECK:           math.copysign
// CHECK:           arith.cmpf uno
func.func @special(%x: tensor<4xf32>, %h: tensor<4xbf16>, %n: tensor<f64>, %d: tensor<4xf64>) -> (tensor<4xf32>, tensor<4xbf16>, tensor<4xf64>, tensor<4xi32>, tensor<4xbf16>) {
  %0 = nn.special "digamma" %x : (tensor<4xf32>) -> tensor<4xf32>
  %1 = nn.special "digamma" %h : (tensor<4xbf16>) -> tensor<4xbf16>
  %2 = nn.special "polygamma" %n, %d : (tensor<f64>, tensor<4xf64>) -> tensor<4xf64>
  %3 = nn.special "frexp_exponent" %x : (tensor<4xf32>) -> tensor<4xi32>
  %4 = nn.special "nextafter" %h, %1 : (tensor<4xbf16>, tensor<4xbf16>) -> tensor<4xbf16>
  func.return %0, %1, %2, %3, %4 : tensor<4xf32>, tensor<4xbf16>, tensor<4xf64>, tensor<4xi32>, tensor<4xbf16>
}
