// Round trip of every nn op: custom form -> print -> parse again, and the
// generic form parsed back to the same custom form.
// RUN: sparcc-opt %s | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// The generic form spells out properties, defaults and operand segments.
// GENERIC-LABEL: sym_name = "weights"
// GENERIC:         "nn.weight"() <{sym_name = @fc1.weight}> : () -> tensor<16x8xf32>
// GENERIC-NEXT:    "nn.weight"() <{sym_name = @fc1.weight, perm = array<i64: 1, 0>}> : () -> tensor<8x16xf32>
// GENERIC-LABEL: sym_name = "unary"
// GENERIC:         "nn.gelu"(%1) <{approximate = "none"}> : (tensor<4xf32>) -> tensor<4xf32>
// GENERIC-LABEL: sym_name = "reduce"
// GENERIC:         "nn.sum"(%x) <{dims = array<i64: 1>, keepdim = false}> : (tensor<4x8xf32>) -> tensor<4xf32>
// GENERIC-LABEL: sym_name = "norm"
// GENERIC:         "nn.layer_norm"(%x, %w, %b) <{normalized_ndim = 1 : i64, eps = 1.000000e-05 : f64, operandSegmentSizes = array<i32: 1, 1, 1>}>
// GENERIC-NEXT:    "nn.layer_norm"(%x) <{normalized_ndim = 2 : i64, eps = 1.000000e-05 : f64, operandSegmentSizes = array<i32: 1, 0, 0>}>
// GENERIC-NEXT:    "nn.layer_norm"(%x, %w) <{normalized_ndim = 1 : i64, eps = 1.000000e-05 : f64, operandSegmentSizes = array<i32: 1, 1, 0>}>
// GENERIC-LABEL: sym_name = "contract"
// GENERIC:         "nn.linear"(%x, %w) : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
// GENERIC-LABEL: sym_name = "attention"
// GENERIC:         "nn.sdpa"(%q, %q, %q, %m) <{scale = 1.250000e-01 : f64, is_causal = false}>

// CHECK-LABEL: func.func @weights(
// CHECK-NEXT:    %w = nn.weight @fc1.weight : tensor<16x8xf32>
// CHECK-NEXT:    %wt = nn.weight @fc1.weight {perm = array<i64: 1, 0>} : tensor<8x16xf32>
// CHECK-NEXT:    %wp = nn.weight @fc1.weight {perm = array<i64: 0, 2, 1>, pad_rows = 24 : i64} : tensor<3x8x8xf32>
// CHECK-NEXT:    func.return %w, %wt, %wp : tensor<16x8xf32>, tensor<8x16xf32>, tensor<3x8x8xf32>
func.func @weights() -> (tensor<16x8xf32>, tensor<8x16xf32>, tensor<3x8x8xf32>) {
  %w = nn.weight @"fc1.weight" : tensor<16x8xf32>
  %wt = nn.weight @"fc1.weight" {perm = array<i64: 1, 0>} : tensor<8x16xf32>
  %wp = nn.weight @"fc1.weight" {perm = array<i64: 0, 2, 1>, pad_rows = 24 : i64} : tensor<3x8x8xf32>
  func.return %w, %wt, %wp : tensor<16x8xf32>, tensor<8x16xf32>, tensor<3x8x8xf32>
}

// CHECK-LABEL: func.func @weight_names(
// CHECK-NEXT:    %a = nn.weight @"0.weight" : tensor<2xbf16>
// CHECK-NEXT:    %b = nn.weight @layers.0.attn.w {perm = array<i64: 2, 0, 1>} : tensor<2x3x4xf32>
// CHECK-NEXT:    func.return %a, %b : tensor<2xbf16>, tensor<2x3x4xf32>
func.func @weight_names() -> (tensor<2xbf16>, tensor<2x3x4xf32>) {
  %a = nn.weight @"0.weight" : tensor<2xbf16>
  %b = nn.weight @"layers.0.attn.w" {perm = array<i64: 2, 0, 1>} : tensor<2x3x4xf32>
  func.return %a, %b : tensor<2xbf16>, tensor<2x3x4xf32>
}

// CHECK-LABEL: func.func @unary(
// CHECK-NEXT:    %0 = nn.neg %x : tensor<4xf32>
// CHECK-NEXT:    %1 = nn.relu %0 : tensor<4xf32>
// CHECK-NEXT:    %2 = nn.gelu %1 : tensor<4xf32>
// CHECK-NEXT:    %3 = nn.gelu %2 {approximate = "tanh"} : tensor<4xf32>
// CHECK-NEXT:    %4 = nn.silu %3 : tensor<4xf32>
// CHECK-NEXT:    %5 = nn.sigmoid %4 : tensor<4xf32>
// CHECK-NEXT:    %6 = nn.tanh %5 : tensor<4xf32>
// CHECK-NEXT:    %7 = nn.exp %6 : tensor<4xf32>
// CHECK-NEXT:    %8 = nn.log %7 : tensor<4xf32>
// CHECK-NEXT:    %9 = nn.sqrt %8 : tensor<4xf32>
// CHECK-NEXT:    %10 = nn.rsqrt %9 : tensor<4xf32>
// CHECK-NEXT:    %11 = nn.erf %10 : tensor<4xf32>
// CHECK-NEXT:    func.return %11 : tensor<4xf32>
func.func @unary(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.neg %x : tensor<4xf32>
  %1 = nn.relu %0 : tensor<4xf32>
  %2 = nn.gelu %1 : tensor<4xf32>
  %3 = nn.gelu %2 {approximate = "tanh"} : tensor<4xf32>
  %4 = nn.silu %3 : tensor<4xf32>
  %5 = nn.sigmoid %4 : tensor<4xf32>
  %6 = nn.tanh %5 : tensor<4xf32>
  %7 = nn.exp %6 : tensor<4xf32>
  %8 = nn.log %7 : tensor<4xf32>
  %9 = nn.sqrt %8 : tensor<4xf32>
  %10 = nn.rsqrt %9 : tensor<4xf32>
  %11 = nn.erf %10 : tensor<4xf32>
  func.return %11 : tensor<4xf32>
}

// CHECK-LABEL: func.func @binary(
// CHECK-NEXT:    %0 = nn.add %x, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %1 = nn.sub %0, %x : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %2 = nn.mul %1, %s : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
// CHECK-NEXT:    %3 = nn.div %2, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %4 = nn.maximum %3, %s : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %4 : tensor<4x8xf32>
func.func @binary(%x: tensor<4x8xf32>, %y: tensor<8xf32>, %s: tensor<f32>) -> tensor<4x8xf32> {
  %0 = nn.add %x, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  %1 = nn.sub %0, %x : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %2 = nn.mul %1, %s : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
  %3 = nn.div %2, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  %4 = nn.maximum %3, %s : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
  func.return %4 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @reduce(
// CHECK-NEXT:    %0 = nn.sum %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
// CHECK-NEXT:    %1 = nn.mean %x {dims = array<i64: -1>, keepdim = true} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %2 = nn.amax %x {dims = array<i64: 0>} : tensor<4x8xf32> -> tensor<8xf32>
// CHECK-NEXT:    func.return %0, %1, %2 : tensor<4xf32>, tensor<4x1xf32>, tensor<8xf32>
func.func @reduce(%x: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4x1xf32>, tensor<8xf32>) {
  %0 = nn.sum %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  %1 = nn.mean %x {dims = array<i64: -1>, keepdim = true} : tensor<4x8xf32> -> tensor<4x1xf32>
  %2 = nn.amax %x {dims = array<i64: 0>} : tensor<4x8xf32> -> tensor<8xf32>
  func.return %0, %1, %2 : tensor<4xf32>, tensor<4x1xf32>, tensor<8xf32>
}

// CHECK-LABEL: func.func @norm(
// CHECK-NEXT:    %0 = nn.softmax %x {dim = 1 : i64} : tensor<2x8xf32> -> tensor<2x8xf32>
// CHECK-NEXT:    %1 = nn.log_softmax %x {dim = -1 : i64} : tensor<2x8xf32> -> tensor<2x8xf32>
// CHECK-NEXT:    %2 = nn.layer_norm %x weight %w : tensor<8xf32> bias %b : tensor<8xf32> {normalized_ndim = 1 : i64, eps = 1.000000e-05 : f64} : tensor<2x8xf32>
// CHECK-NEXT:    %3 = nn.layer_norm %x {normalized_ndim = 2 : i64, eps = 1.000000e-05 : f64} : tensor<2x8xf32>
// CHECK-NEXT:    %4 = nn.layer_norm %x weight %w : tensor<8xf32> {normalized_ndim = 1 : i64, eps = 1.000000e-05 : f64} : tensor<2x8xf32>
// CHECK-NEXT:    %5 = nn.batch_norm %i, %c, %c, %c, %c {eps = 1.000000e-05 : f64} : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
// CHECK-NEXT:    func.return %0, %1, %2, %3, %4, %5 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<1x3x4x4xf32>
func.func @norm(%x: tensor<2x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>, %i: tensor<1x3x4x4xf32>, %c: tensor<3xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<1x3x4x4xf32>) {
  %0 = nn.softmax %x {dim = 1 : i64} : tensor<2x8xf32> -> tensor<2x8xf32>
  %1 = nn.log_softmax %x {dim = -1 : i64} : tensor<2x8xf32> -> tensor<2x8xf32>
  %2 = nn.layer_norm %x weight %w : tensor<8xf32> bias %b : tensor<8xf32> {normalized_ndim = 1 : i64, eps = 1.0e-05 : f64} : tensor<2x8xf32>
  %3 = nn.layer_norm %x {normalized_ndim = 2 : i64, eps = 1.0e-05 : f64} : tensor<2x8xf32>
  %4 = nn.layer_norm %x weight %w : tensor<8xf32> {normalized_ndim = 1 : i64, eps = 1.0e-05 : f64} : tensor<2x8xf32>
  %5 = nn.batch_norm %i, %c, %c, %c, %c {eps = 1.0e-05 : f64} : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
  func.return %0, %1, %2, %3, %4, %5 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<1x3x4x4xf32>
}

// CHECK-LABEL: func.func @contract(
// CHECK-NEXT:    %0 = nn.linear %x, %w, %b : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
// CHECK-NEXT:    %1 = nn.linear %x, %w : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
// CHECK-NEXT:    %2 = nn.matmul %p, %q : tensor<2x4x8xf32>, tensor<2x8x3xf32> -> tensor<2x4x3xf32>
// CHECK-NEXT:    %3 = nn.matmul %p, %r : tensor<2x4x8xf32>, tensor<8x3xf32> -> tensor<2x4x3xf32>
// CHECK-NEXT:    func.return %0, %1, %2, %3 : tensor<4x16xf32>, tensor<4x16xf32>, tensor<2x4x3xf32>, tensor<2x4x3xf32>
func.func @contract(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf32>, %p: tensor<2x4x8xf32>, %q: tensor<2x8x3xf32>, %r: tensor<8x3xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>, tensor<2x4x3xf32>, tensor<2x4x3xf32>) {
  %0 = nn.linear %x, %w, %b : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %1 = nn.linear %x, %w : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  %2 = nn.matmul %p, %q : tensor<2x4x8xf32>, tensor<2x8x3xf32> -> tensor<2x4x3xf32>
  %3 = nn.matmul %p, %r : tensor<2x4x8xf32>, tensor<8x3xf32> -> tensor<2x4x3xf32>
  func.return %0, %1, %2, %3 : tensor<4x16xf32>, tensor<4x16xf32>, tensor<2x4x3xf32>, tensor<2x4x3xf32>
}

// CHECK-LABEL: func.func @attention(
// CHECK-NEXT:    %0 = nn.sdpa %q, %q, %q {is_causal = true, scale = 1.250000e-01 : f64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
// CHECK-NEXT:    %1 = nn.sdpa %q, %q, %q, mask %m {scale = 1.250000e-01 : f64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<4x4xf32>) -> tensor<1x2x4x8xf32>
// CHECK-NEXT:    func.return %0, %1 : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
func.func @attention(%q: tensor<1x2x4x8xf32>, %m: tensor<4x4xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  %0 = nn.sdpa %q, %q, %q {is_causal = true, scale = 1.250000e-01 : f64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %1 = nn.sdpa %q, %q, %q, mask %m {scale = 1.250000e-01 : f64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<4x4xf32>) -> tensor<1x2x4x8xf32>
  func.return %0, %1 : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}

// CHECK-LABEL: func.func @conv(
// CHECK-NEXT:    %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
// CHECK-NEXT:    %1 = nn.conv2d %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT:    %2 = nn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
// CHECK-NEXT:    %3 = nn.avg_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, count_include_pad = false} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
// CHECK-NEXT:    func.return %0, %1, %2, %3 : tensor<1x4x6x6xf32>, tensor<1x4x4x4xf32>, tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>
func.func @conv(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> (tensor<1x4x6x6xf32>, tensor<1x4x4x4xf32>, tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>) {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  %1 = nn.conv2d %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
  %2 = nn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
  %3 = nn.avg_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, count_include_pad = false} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
  func.return %0, %1, %2, %3 : tensor<1x4x6x6xf32>, tensor<1x4x4x4xf32>, tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>
}

// channels_last: NHWC in and out, the weight as PyTorch stores it.
// CHECK-LABEL: func.func @conv_nhwc(
// CHECK-NEXT:    %0 = nn.conv2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, channels_last = true} : (tensor<1x8x8x3xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT:    %1 = nn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, channels_last = true} : tensor<1x8x8x3xf32> -> tensor<1x4x4x3xf32>
func.func @conv_nhwc(%x: tensor<1x8x8x3xf32>, %w: tensor<4x3x3x3xf32>) -> (tensor<1x4x4x4xf32>, tensor<1x4x4x3xf32>) {
  %0 = nn.conv2d %x, %w {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, channels_last = true} : (tensor<1x8x8x3xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x4x4xf32>
  %1 = nn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, channels_last = true} : tensor<1x8x8x3xf32> -> tensor<1x4x4x3xf32>
  func.return %0, %1 : tensor<1x4x4x4xf32>, tensor<1x4x4x3xf32>
}

// CHECK-LABEL: func.func @movement(
// CHECK-NEXT:    %0 = nn.permute %x {perm = array<i64: 1, 0>} : tensor<4x8xf32> -> tensor<8x4xf32>
// CHECK-NEXT:    %1 = nn.reshape %x : tensor<4x8xf32> -> tensor<32xf32>
// CHECK-NEXT:    %2 = nn.expand %y : tensor<1x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %3 = nn.concat %x, %y {dim = 0 : i64} : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<5x8xf32>
// CHECK-NEXT:    %4 = nn.slice %x {dim = 1 : i64, start = 2 : i64, end = 6 : i64, step = 2 : i64} : tensor<4x8xf32> -> tensor<4x2xf32>
// CHECK-NEXT:    %5 = nn.embedding %e, %i : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    func.return %0, %1, %2, %3, %4, %5 : tensor<8x4xf32>, tensor<32xf32>, tensor<4x8xf32>, tensor<5x8xf32>, tensor<4x2xf32>, tensor<2x3x4xf32>
func.func @movement(%x: tensor<4x8xf32>, %y: tensor<1x8xf32>, %e: tensor<10x4xf32>, %i: tensor<2x3xi64>) -> (tensor<8x4xf32>, tensor<32xf32>, tensor<4x8xf32>, tensor<5x8xf32>, tensor<4x2xf32>, tensor<2x3x4xf32>) {
  %0 = nn.permute %x {perm = array<i64: 1, 0>} : tensor<4x8xf32> -> tensor<8x4xf32>
  %1 = nn.reshape %x : tensor<4x8xf32> -> tensor<32xf32>
  %2 = nn.expand %y : tensor<1x8xf32> -> tensor<4x8xf32>
  %3 = nn.concat %x, %y {dim = 0 : i64} : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<5x8xf32>
  %4 = nn.slice %x {dim = 1 : i64, start = 2 : i64, end = 6 : i64, step = 2 : i64} : tensor<4x8xf32> -> tensor<4x2xf32>
  %5 = nn.embedding %e, %i : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
  func.return %0, %1, %2, %3, %4, %5 : tensor<8x4xf32>, tensor<32xf32>, tensor<4x8xf32>, tensor<5x8xf32>, tensor<4x2xf32>, tensor<2x3x4xf32>
}

// CHECK-LABEL: func.func @routing(
// CHECK-NEXT:    %0 = nn.argsort %x {dim = 1 : i64, descending = true} : tensor<4x8xf32> -> tensor<4x8xi64>
// CHECK-NEXT:    %1 = nn.argsort %x {dim = -2 : i64} : tensor<4x8xf32> -> tensor<4x8xi64>
// CHECK-NEXT:    %2 = nn.index_put %x[%i], %v {indexed = array<i64: 0>, accumulate = true} : (tensor<4x8xf32>, tensor<3xi64>, tensor<3x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %3 = nn.index_put %x[%i, %i], %s {indexed = array<i64: 0, 1>, wrap = false} : (tensor<4x8xf32>, tensor<3xi64>, tensor<3xi64>, tensor<f32>) -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %0, %1, %2, %3 : tensor<4x8xi64>, tensor<4x8xi64>, tensor<4x8xf32>, tensor<4x8xf32>
func.func @routing(%x: tensor<4x8xf32>, %i: tensor<3xi64>, %v: tensor<3x8xf32>, %s: tensor<f32>) -> (tensor<4x8xi64>, tensor<4x8xi64>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = nn.argsort %x {dim = 1 : i64, descending = true} : tensor<4x8xf32> -> tensor<4x8xi64>
  %1 = nn.argsort %x {dim = -2 : i64, descending = false} : tensor<4x8xf32> -> tensor<4x8xi64>
  %2 = nn.index_put %x[%i], %v {indexed = array<i64: 0>, accumulate = true} : (tensor<4x8xf32>, tensor<3xi64>, tensor<3x8xf32>) -> tensor<4x8xf32>
  %3 = nn.index_put %x[%i, %i], %s {indexed = array<i64: 0, 1>, wrap = false} : (tensor<4x8xf32>, tensor<3xi64>, tensor<3xi64>, tensor<f32>) -> tensor<4x8xf32>
  func.return %0, %1, %2, %3 : tensor<4x8xi64>, tensor<4x8xi64>, tensor<4x8xf32>, tensor<4x8xf32>
}

// CHECK-LABEL: func.func @scatter(
// CHECK-NEXT:    %0 = nn.scatter %x, %i, %s {dim = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %1 = nn.scatter %x, %i, %s {dim = -1 : i64, reduce = "mean", include_self = false} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %2 = nn.scatter %x, %i, %s {dim = 0 : i64, reduce = "amax", error = "in_self"} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %0, %1, %2 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
func.func @scatter(%x: tensor<4x8xf32>, %i: tensor<4x2xi64>, %s: tensor<4x3xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64, reduce = "none", include_self = true} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
  %1 = nn.scatter %x, %i, %s {dim = -1 : i64, reduce = "mean", include_self = false} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
  %2 = nn.scatter %x, %i, %s {dim = 0 : i64, reduce = "amax", error = "in_self"} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
  func.return %0, %1, %2 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}
