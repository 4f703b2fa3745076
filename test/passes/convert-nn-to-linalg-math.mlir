// convert-nn-to-linalg on the inverse-trigonometric, hyperbolic and
// NaN-aware elementwise ops.
// RUN: sparcc-opt %s -p convert-nn-to-linalg | filecheck %s

// One math op each; erfc is upstream's math.erfc (libm's erfc later: 1 - erf
// would lose every digit in the tail), which sparcc defines since xDSL's math
// dialect lacks it.
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
