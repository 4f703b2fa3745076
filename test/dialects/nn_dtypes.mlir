// Round trip of the nn ops for dtypes, indexing, padding and scatters:
// custom form -> print -> parse again, and through the generic form.
// RUN: sparcc-opt %s | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | sparcc-opt | filecheck %s

// CHECK-LABEL: func.func @dtypes(
// CHECK-NEXT:    %0 = nn.compare %x, %x {predicate = "lt"} : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xi1>
// CHECK-NEXT:    %1 = nn.where %b, %x, %x : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %2 = nn.cast %x : tensor<4x8xf32> -> tensor<4x8xf16>
// CHECK-NEXT:    %3 = nn.arange {start = 0.000000e+00 : f64, step = 2.000000e+00 : f64} : tensor<8xi64>
// CHECK-NEXT:    %4 = nn.cumsum %i {dim = 1 : i64} : tensor<4x8xi64> -> tensor<4x8xi64>
// CHECK-NEXT:    %5 = nn.and %b, %b : tensor<4x8xi1>, tensor<4x8xi1> -> tensor<4x8xi1>
// CHECK-NEXT:    %6 = nn.pow %x, %x : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %7 = nn.floor_div %i, %i : tensor<4x8xi64>, tensor<4x8xi64> -> tensor<4x8xi64>
// CHECK-NEXT:    func.return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf16>, tensor<8xi64>, tensor<4x8xi64>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xi64>
func.func @dtypes(%x: tensor<4x8xf32>, %i: tensor<4x8xi64>, %b: tensor<4x8xi1>) -> (tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf16>, tensor<8xi64>, tensor<4x8xi64>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xi64>) {
  %0 = nn.compare %x, %x {predicate = "lt"} : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xi1>
  %1 = nn.where %b, %x, %x : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = nn.cast %x : tensor<4x8xf32> -> tensor<4x8xf16>
  %3 = nn.arange {start = 0.000000e+00 : f64, step = 2.000000e+00 : f64} : tensor<8xi64>
  %4 = nn.cumsum %i {dim = 1 : i64} : tensor<4x8xi64> -> tensor<4x8xi64>
  %5 = nn.and %b, %b : tensor<4x8xi1>, tensor<4x8xi1> -> tensor<4x8xi1>
  %6 = nn.pow %x, %x : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %7 = nn.floor_div %i, %i : tensor<4x8xi64>, tensor<4x8xi64> -> tensor<4x8xi64>
  func.return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf16>, tensor<8xi64>, tensor<4x8xi64>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xi64>
}

// CHECK-LABEL: func.func @indexing(
// CHECK-NEXT:    %0 = nn.gather %x, %g {dim = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
// CHECK-NEXT:    %1 = nn.index %x[%i] {indexed = array<i64: 1>} : (tensor<4x8xf32>, tensor<3xi64>) -> tensor<4x3xf32>
// CHECK-NEXT:    %2 = nn.index %x[%i, %j] {indexed = array<i64: 0, 1>, wrap = false} : (tensor<4x8xf32>, tensor<3xi64>, tensor<3xi32>) -> tensor<3xf32>
// CHECK-NEXT:    %3 = nn.pad %x {low = array<i64: 1, 1>, high = array<i64: 0, 2>, value = 0.000000e+00 : f64} : tensor<4x8xf32> -> tensor<5x11xf32>
// CHECK-NEXT:    %4 = nn.slice_scatter %x, %s {dim = 1 : i64, start = 0 : i64, end = 4 : i64, step = 2 : i64} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %5 = nn.argmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4xi64>
// CHECK-NEXT:    %6 = nn.prod %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
// CHECK-NEXT:    %p = nn.reshape %x : tensor<4x8xf32> -> tensor<1x2x4x4xf32>
// CHECK-NEXT:    %7 = nn.max_pool2d %p {kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, ceil_mode = true} : tensor<1x2x4x4xf32> -> tensor<1x2x3x3xf32>
// CHECK-NEXT:    %8 = nn.avg_pool2d %p {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true} : tensor<1x2x4x4xf32> -> tensor<1x2x3x3xf32>
// CHECK-NEXT:    func.return %0, %1, %2, %3, %4, %5, %6, %p : tensor<4x2xf32>, tensor<4x3xf32>, tensor<3xf32>, tensor<5x11xf32>, tensor<4x8xf32>, tensor<4xi64>, tensor<4xf32>, tensor<1x2x4x4xf32>
func.func @indexing(%x: tensor<4x8xf32>, %g: tensor<4x2xi64>, %i: tensor<3xi64>, %j: tensor<3xi32>, %s: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x3xf32>, tensor<3xf32>, tensor<5x11xf32>, tensor<4x8xf32>, tensor<4xi64>, tensor<4xf32>, tensor<1x2x4x4xf32>) {
  %0 = nn.gather %x, %g {dim = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
  %1 = nn.index %x[%i] {indexed = array<i64: 1>} : (tensor<4x8xf32>, tensor<3xi64>) -> tensor<4x3xf32>
  %2 = nn.index %x[%i, %j] {indexed = array<i64: 0, 1>, wrap = false} : (tensor<4x8xf32>, tensor<3xi64>, tensor<3xi32>) -> tensor<3xf32>
  %3 = nn.pad %x {low = array<i64: 1, 1>, high = array<i64: 0, 2>, value = 0.0 : f64} : tensor<4x8xf32> -> tensor<5x11xf32>
  %4 = nn.slice_scatter %x, %s {dim = 1 : i64, start = 0 : i64, end = 4 : i64, step = 2 : i64} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<4x8xf32>
  %5 = nn.argmax %x {dim = 1 : i64, keepdim = false, max = true} : tensor<4x8xf32> -> tensor<4xi64>
  %6 = nn.prod %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  %p = nn.reshape %x : tensor<4x8xf32> -> tensor<1x2x4x4xf32>
  %7 = nn.max_pool2d %p {kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, ceil_mode = true} : tensor<1x2x4x4xf32> -> tensor<1x2x3x3xf32>
  %8 = nn.avg_pool2d %p {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true} : tensor<1x2x4x4xf32> -> tensor<1x2x3x3xf32>
  func.return %0, %1, %2, %3, %4, %5, %6, %p : tensor<4x2xf32>, tensor<4x3xf32>, tensor<3xf32>, tensor<5x11xf32>, tensor<4x8xf32>, tensor<4xi64>, tensor<4xf32>, tensor<1x2x4x4xf32>
}
