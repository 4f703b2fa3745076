// Round trip of the nn dialect's inverse-trigonometric, hyperbolic and
// NaN-aware elementwise ops: custom form -> print -> parse, and generic.
// RUN: sparcc-opt %s | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | sparcc-opt | filecheck %s

// CHECK-LABEL: func.func @math(
// CHECK-NEXT:    %0 = nn.asin %x : tensor<4xf32>
// CHECK-NEXT:    %1 = nn.acos %0 : tensor<4xf32>
// CHECK-NEXT:    %2 = nn.sinh %1 : tensor<4xf32>
// CHECK-NEXT:    %3 = nn.cosh %2 : tensor<4xf32>
// CHECK-NEXT:    %4 = nn.asinh %3 : tensor<4xf32>
// CHECK-NEXT:    %5 = nn.acosh %4 : tensor<4xf32>
// CHECK-NEXT:    %6 = nn.atanh %5 : tensor<4xf32>
// CHECK-NEXT:    %7 = nn.log10 %6 : tensor<4xf32>
// CHECK-NEXT:    %8 = nn.erfc %7 : tensor<4xf32>
// CHECK-NEXT:    %9 = nn.exp2 %8 : tensor<4xf32>
// CHECK-NEXT:    %10 = nn.copysign %9, %x : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
// CHECK-NEXT:    %11 = nn.fmax %10, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
// CHECK-NEXT:    %12 = nn.fmin %11, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
// CHECK-NEXT:    %13 = nn.hypot %12, %x : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
// CHECK-NEXT:    func.return %13 : tensor<4xf32>
func.func @math(%x: tensor<4xf32>, %y: tensor<f32>) -> tensor<4xf32> {
  %0 = nn.asin %x : tensor<4xf32>
  %1 = nn.acos %0 : tensor<4xf32>
  %2 = nn.sinh %1 : tensor<4xf32>
  %3 = nn.cosh %2 : tensor<4xf32>
  %4 = nn.asinh %3 : tensor<4xf32>
  %5 = nn.acosh %4 : tensor<4xf32>
  %6 = nn.atanh %5 : tensor<4xf32>
  %7 = nn.log10 %6 : tensor<4xf32>
  %8 = nn.erfc %7 : tensor<4xf32>
  %9 = nn.exp2 %8 : tensor<4xf32>
  %10 = nn.copysign %9, %x : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %11 = nn.fmax %10, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
  %12 = nn.fmin %11, %y : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
  %13 = nn.hypot %12, %x : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %13 : tensor<4xf32>
}

// Running reductions along a dim.
// CHECK-LABEL: func.func @scans(
// CHECK-NEXT:    %0 = nn.cumprod %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %1 = nn.cummax %0 {dim = 0 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %2 = nn.cummin %1 {dim = -1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %3 = nn.logcumsumexp %2 {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %3 : tensor<4x8xf32>
func.func @scans(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.cumprod %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  %1 = nn.cummax %0 {dim = 0 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  %2 = nn.cummin %1 {dim = -1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  %3 = nn.logcumsumexp %2 {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  func.return %3 : tensor<4x8xf32>
}

// PyTorch's special functions: one op, the function by name; polygamma's
// order is an operand (a 0-d tensor, broadcast); frexp's exponent is i32.
// CHECK-LABEL: func.func @special(
// CHECK-NEXT:    %0 = nn.special "digamma" %x : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    %1 = nn.special "polygamma" %n, %0 : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    %2 = nn.special "nextafter" %1, %n : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT:    %3 = nn.special "frexp_exponent" %2 : (tensor<4xf32>) -> tensor<4xi32>
// CHECK-NEXT:    func.return %2, %3 : tensor<4xf32>, tensor<4xi32>
func.func @special(%x: tensor<4xf32>, %n: tensor<f32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %0 = nn.special "digamma" %x : (tensor<4xf32>) -> tensor<4xf32>
  %1 = nn.special "polygamma" %n, %0 : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = nn.special "nextafter" %1, %n : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %3 = nn.special "frexp_exponent" %2 : (tensor<4xf32>) -> tensor<4xi32>
  func.return %2, %3 : tensor<4xf32>, tensor<4xi32>
}
