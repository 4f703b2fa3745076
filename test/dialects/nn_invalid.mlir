// One invalid case per chunk, one for each rule of the nn verifiers.
// Every chunk must fail with exactly the message checked, in order.
// RUN: sparcc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// CHECK: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.add' op shapes [4, 8] and [3] do not broadcast
func.func @bad_broadcast(%x: tensor<4x8xf32>, %y: tensor<3xf32>) {
  %0 = nn.add %x, %y : tensor<4x8xf32>, tensor<3xf32> -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.mul' op expected operands of one element type, got f32 and f16
func.func @binary_elem(%x: tensor<4xf32>, %y: tensor<4xf16>) {
  %0 = nn.mul %x, %y : tensor<4xf32>, tensor<4xf16> -> tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.add' op expected result type tensor<4x8xf32>, got tensor<8xf32>
func.func @result_type(%x: tensor<4x8xf32>, %y: tensor<8xf32>) {
  %0 = nn.add %x, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.relu' op result 'result' at position 0 does not verify: attribute tensor<4xf32> expected from variable 'T', but got tensor<5xf32>
func.func @unary_result(%x: tensor<4xf32>) {
  %0 = "nn.relu"(%x) : (tensor<4xf32>) -> tensor<5xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.gelu' op expected approximate "none" or "tanh", got "fast"
func.func @gelu_approximate(%x: tensor<4xf32>) {
  %0 = nn.gelu %x {approximate = "fast"} : tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.weight' op expected perm to permute 2 dims, got [0, 0]
func.func @weight_perm() {
  %0 = nn.weight @w {perm = array<i64: 0, 0>} : tensor<4x4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.weight' op expected perm to permute 2 dims, got [1, 0, 2]
func.func @weight_perm_rank() {
  %0 = nn.weight @w {perm = array<i64: 1, 0, 2>} : tensor<4x4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.weight' op pad_rows = 10 does not give rows of the view [2, 8, 24]
func.func @weight_pad_rows() {
  %0 = nn.weight @w {perm = array<i64: 0, 2, 1>, pad_rows = 10 : i64} : tensor<2x24x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.sum' op dim 2 is out of range for rank 2
func.func @reduce_dim(%x: tensor<4x8xf32>) {
  %0 = nn.sum %x {dims = array<i64: 2>} : tensor<4x8xf32> -> tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.mean' op expected result type tensor<4x1xf32>, got tensor<4xf32>
func.func @reduce_keepdim(%x: tensor<4x8xf32>) {
  %0 = nn.mean %x {dims = array<i64: 1>, keepdim = true} : tensor<4x8xf32> -> tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.softmax' op dim -3 is out of range for rank 2
func.func @softmax_dim(%x: tensor<4x8xf32>) {
  %0 = nn.softmax %x {dim = -3 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.layer_norm' op expected normalized_ndim in [1, 2], got 3
func.func @layer_norm_ndim(%x: tensor<2x8xf32>) {
  %0 = nn.layer_norm %x {normalized_ndim = 3 : i64, eps = 1.0e-05 : f64} : tensor<2x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.layer_norm' op expected affine parameters of shape [8], got [2, 8]
func.func @layer_norm_affine(%x: tensor<2x8xf32>, %w: tensor<2x8xf32>) {
  %0 = nn.layer_norm %x weight %w : tensor<2x8xf32> {normalized_ndim = 1 : i64, eps = 1.0e-05 : f64} : tensor<2x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.batch_norm' op expected per-channel operands of shape [3], got [4]
func.func @batch_norm_channels(%x: tensor<1x3x4x4xf32>, %c: tensor<3xf32>, %d: tensor<4xf32>) {
  %0 = nn.batch_norm %x, %c, %d, %c, %c {eps = 1.0e-05 : f64} : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<4xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.batch_norm' op expected an input of rank >= 2, got rank 1
func.func @batch_norm_rank(%x: tensor<3xf32>, %c: tensor<3xf32>) {
  %0 = nn.batch_norm %x, %c, %c, %c, %c {eps = 1.0e-05 : f64} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.linear' op expected weight of shape [out, 8], got [16, 7]
func.func @linear_weight(%x: tensor<4x8xf32>, %w: tensor<16x7xf32>) {
  %0 = nn.linear %x, %w : (tensor<4x8xf32>, tensor<16x7xf32>) -> tensor<4x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.linear' op expected bias of shape [16], got [8]
func.func @linear_bias(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) {
  %0 = nn.linear %x, %w, %b : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<8xf32>) -> tensor<4x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.matmul' op expected lhs columns (8) to equal rhs rows (7)
func.func @matmul_inner(%x: tensor<4x8xf32>, %y: tensor<7x3xf32>) {
  %0 = nn.matmul %x, %y : tensor<4x8xf32>, tensor<7x3xf32> -> tensor<4x3xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.matmul' op expected operands of rank >= 2, got [8] and [8, 3]
func.func @matmul_rank(%x: tensor<8xf32>, %y: tensor<8x3xf32>) {
  %0 = nn.matmul %x, %y : tensor<8xf32>, tensor<8x3xf32> -> tensor<3xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.matmul' op shapes [2] and [3] do not broadcast
func.func @matmul_batch(%x: tensor<2x4x8xf32>, %y: tensor<3x8x3xf32>) {
  %0 = nn.matmul %x, %y : tensor<2x4x8xf32>, tensor<3x8x3xf32> -> tensor<2x4x3xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.sdpa' op expected q [..., L, E], k [..., S, E], v [..., S, Ev], got [1, 4, 8], [1, 4, 6], [1, 4, 6]
func.func @sdpa_shapes(%q: tensor<1x4x8xf32>, %k: tensor<1x4x6xf32>) {
  %0 = nn.sdpa %q, %k, %k {scale = 1.0 : f64} : (tensor<1x4x8xf32>, tensor<1x4x6xf32>, tensor<1x4x6xf32>) -> tensor<1x4x6xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.sdpa' op expected either is_causal or a mask, not both
func.func @sdpa_mask_and_causal(%q: tensor<1x4x8xf32>, %m: tensor<4x4xf32>) {
  %0 = nn.sdpa %q, %q, %q, mask %m {is_causal = true, scale = 1.0 : f64} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x4xf32>) -> tensor<1x4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.sdpa' op shapes [1, 4, 4] and [3, 4] do not broadcast
func.func @sdpa_mask_shape(%q: tensor<1x4x8xf32>, %m: tensor<3x4xf32>) {
  %0 = nn.sdpa %q, %q, %q, mask %m {scale = 1.0 : f64} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<3x4xf32>) -> tensor<1x4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.conv2d' op expected weight [F, C/groups, KH, KW] with C=4, groups=2, got [6, 3, 3, 3]
func.func @conv2d_groups(%x: tensor<1x4x8x8xf32>, %w: tensor<6x3x3x3xf32>) {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x4x8x8xf32>, tensor<6x3x3x3xf32>) -> tensor<1x6x6x6xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.conv2d' op expected weight [F, C/groups, KH, KW] with C=3, groups=1, got [4, 2, 3, 3]
func.func @conv2d_channels(%x: tensor<1x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 3]]:3: error: 'nn.conv2d' op expected weight [F, C/groups, KH, KW] with C=8, groups=1, got [4, 3, 3, 3]
// channels_last: the channels are the last dim (8 here), not dim 1
func.func @conv2d_channels_last(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, channels_last = true} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.conv2d' op expected bias of shape [4]
func.func @conv2d_bias(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.conv2d' op kernel [3, 3] does not fit input [2, 2]
func.func @conv2d_kernel(%x: tensor<1x3x2x2xf32>, %w: tensor<4x3x3x3xf32>) {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x2x2xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x1x1xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.max_pool2d' op kernel [3, 3] does not fit input [2, 2]
func.func @pool_kernel(%x: tensor<1x3x2x2xf32>) {
  %0 = nn.max_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x3x2x2xf32> -> tensor<1x3x1x1xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.avg_pool2d' op expected padding at most half the kernel size
func.func @pool_padding(%x: tensor<1x3x8x8xf32>) {
  %0 = nn.avg_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>, padding = array<i64: 2, 2>} : tensor<1x3x8x8xf32> -> tensor<1x3x11x11xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.max_pool2d' op expected a 4-d NCHW input, got [3, 8, 8]
func.func @pool_rank(%x: tensor<3x8x8xf32>) {
  %0 = nn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<3x8x8xf32> -> tensor<3x4x4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.permute' op expected a permutation of 2 dims, got [1, 1]
func.func @permute_not_perm(%x: tensor<4x8xf32>) {
  %0 = nn.permute %x {perm = array<i64: 1, 1>} : tensor<4x8xf32> -> tensor<8x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.reshape' op expected 32 elements in the result, got 30
func.func @reshape_count(%x: tensor<4x8xf32>) {
  %0 = nn.reshape %x : tensor<4x8xf32> -> tensor<30xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.reshape' op expected the same element type in and out
func.func @reshape_elem(%x: tensor<4x8xf32>) {
  %0 = nn.reshape %x : tensor<4x8xf32> -> tensor<32xf16>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.expand' op shapes [2, 8] and [4, 8] do not broadcast
func.func @expand_shape(%x: tensor<2x8xf32>) {
  %0 = nn.expand %x : tensor<2x8xf32> -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.concat' op expected inputs that agree except in dim 0, got [4, 8] and [4, 7]
func.func @concat_mismatch(%x: tensor<4x8xf32>, %y: tensor<4x7xf32>) {
  %0 = nn.concat %x, %y {dim = 0 : i64} : (tensor<4x8xf32>, tensor<4x7xf32>) -> tensor<8x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.concat' op expected inputs that agree except in dim 0, got [4, 8] and [8]
func.func @concat_rank(%x: tensor<4x8xf32>, %y: tensor<8xf32>) {
  %0 = nn.concat %x, %y {dim = 0 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<5x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.slice' op expected 0 <= start <= end <= 8 and step >= 1, got start=2 end=9 step=1
func.func @slice_bounds(%x: tensor<4x8xf32>) {
  %0 = nn.slice %x {dim = 1 : i64, start = 2 : i64, end = 9 : i64, step = 1 : i64} : tensor<4x8xf32> -> tensor<4x7xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.slice' op expected 0 <= start <= end <= 8 and step >= 1, got start=0 end=8 step=0
func.func @slice_step(%x: tensor<4x8xf32>) {
  %0 = nn.slice %x {dim = 1 : i64, start = 0 : i64, end = 8 : i64, step = 0 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.embedding' op expected integer indices, got f32
func.func @embedding_indices(%w: tensor<10x4xf32>, %i: tensor<3xf32>) {
  %0 = nn.embedding %w, %i : (tensor<10x4xf32>, tensor<3xf32>) -> tensor<3x4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.embedding' op expected a 2-d weight, got [10]
func.func @embedding_weight(%w: tensor<10xf32>, %i: tensor<3xi64>) {
  %0 = nn.embedding %w, %i : (tensor<10xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.relu' op operand 'input' at position 0 does not verify: memref<4xf32> should be of base attribute tensor
func.func @not_a_tensor(%x: memref<4xf32>) {
  %0 = "nn.relu"(%x) : (memref<4xf32>) -> memref<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.add' op operand 'lhs' at position 0 does not verify: memref<4xf32> should be of base attribute tensor
func.func @binary_not_tensor(%x: memref<4xf32>) {
  %0 = "nn.add"(%x, %x) : (memref<4xf32>, memref<4xf32>) -> tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.compare' op expected a predicate in eq, ne, lt, le, gt, ge, got 'lg'
func.func @bad_predicate(%x: tensor<4xf32>) {
  %0 = nn.compare %x, %x {predicate = "lg"} : tensor<4xf32>, tensor<4xf32> -> tensor<4xi1>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.where' op expected an i1 condition, got f32
func.func @where_cond(%x: tensor<4xf32>) {
  %0 = nn.where %x, %x, %x : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.gather' op expected an index of rank 2 no larger than [4, 8] outside dim 1, got [5, 2]
func.func @gather_shape(%x: tensor<4x8xf32>, %i: tensor<5x2xi64>) {
  %0 = nn.gather %x, %i {dim = 1 : i64} : (tensor<4x8xf32>, tensor<5x2xi64>) -> tensor<5x2xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.index' op expected integer indices, got f32
func.func @index_float(%x: tensor<4x8xf32>, %i: tensor<3xf32>) {
  %0 = nn.index %x[%i] {indexed = array<i64: 1>} : (tensor<4x8xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.index' op expected one index tensor per indexed dim (ascending, < 2), got [2]
func.func @index_dim(%x: tensor<4x8xf32>, %i: tensor<3xi64>) {
  %0 = nn.index %x[%i] {indexed = array<i64: 2>} : (tensor<4x8xf32>, tensor<3xi64>) -> tensor<4x3xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.pad' op expected 2 non-negative low and high pads, got [0, -1] and [0, 0]
func.func @pad_negative(%x: tensor<4x8xf32>) {
  %0 = nn.pad %x {low = array<i64: 0, -1>, high = array<i64: 0, 0>, value = 0.0 : f64} : tensor<4x8xf32> -> tensor<4x7xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.slice_scatter' op expected a source of shape [4, 2] and the input's element type, got tensor<4x3xf32>
func.func @scatter_shape(%x: tensor<4x8xf32>, %s: tensor<4x3xf32>) {
  %0 = nn.slice_scatter %x, %s {dim = 1 : i64, start = 0 : i64, end = 4 : i64, step = 2 : i64} : (tensor<4x8xf32>, tensor<4x3xf32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.arange' op expected a 1-d result, got [2, 4]
func.func @arange_rank() {
  %0 = nn.arange {start = 0.0 : f64, step = 1.0 : f64} : tensor<2x4xi64>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.random' op expected kind uniform or normal, got 'poisson'
func.func @random_kind() {
  %0 = nn.random {kind = "poisson"} : tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.random' op expected a floating-point result, got i64
func.func @random_integers() {
  %0 = nn.random {kind = "uniform"} : tensor<4xi64>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.index_put' op expected values of the input's element type that broadcast to [3, 8], got tensor<2x8xf32>
func.func @index_put_values_shape(%x: tensor<4x8xf32>, %i: tensor<3xi64>, %v: tensor<2x8xf32>) {
  %0 = nn.index_put %x[%i], %v {indexed = array<i64: 0>} : (tensor<4x8xf32>, tensor<3xi64>, tensor<2x8xf32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.index_put' op expected values of the input's element type that broadcast to [3, 8], got tensor<3x8xi64>
func.func @index_put_values_type(%x: tensor<4x8xf32>, %i: tensor<3xi64>, %v: tensor<3x8xi64>) {
  %0 = nn.index_put %x[%i], %v {indexed = array<i64: 0>} : (tensor<4x8xf32>, tensor<3xi64>, tensor<3x8xi64>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.index_put' op expected integer indices, got f32
func.func @index_put_float_indices(%x: tensor<4x8xf32>, %i: tensor<3xf32>, %v: tensor<f32>) {
  %0 = nn.index_put %x[%i], %v {indexed = array<i64: 0>} : (tensor<4x8xf32>, tensor<3xf32>, tensor<f32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.index_put' op expected result type tensor<4x8xf32>, got tensor<4x8xf64>
func.func @index_put_result(%x: tensor<4x8xf32>, %i: tensor<3xi64>, %v: tensor<f32>) {
  %0 = nn.index_put %x[%i], %v {indexed = array<i64: 0>} : (tensor<4x8xf32>, tensor<3xi64>, tensor<f32>) -> tensor<4x8xf64>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.argsort' op expected result type tensor<4x8xi64>, got tensor<4x8xi32>
func.func @argsort_result(%x: tensor<4x8xf32>) {
  %0 = nn.argsort %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xi32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.argsort' op dim 2 is out of range for rank 2
func.func @argsort_dim(%x: tensor<4x8xf32>) {
  %0 = nn.argsort %x {dim = 2 : i64} : tensor<4x8xf32> -> tensor<4x8xi64>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.argsort' op expected a tensor of rank >= 1, got a 0-d tensor
func.func @argsort_scalar(%x: tensor<f32>) {
  %0 = nn.argsort %x {dim = 0 : i64} : tensor<f32> -> tensor<i64>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.scatter' op expected reduce in none, sum, prod, mean, amax, amin, got 'add'
func.func @scatter_reduce_name(%x: tensor<4x8xf32>, %i: tensor<4x2xi64>, %s: tensor<4x3xf32>) {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64, reduce = "add"} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.scatter' op expected error in runtime, in_self, got 'bounds'
func.func @scatter_error_kind(%x: tensor<4x8xf32>, %i: tensor<4x2xi64>, %s: tensor<4x3xf32>) {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64, error = "bounds"} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.scatter' op expected integer indices, got f32
func.func @scatter_float_indices(%x: tensor<4x8xf32>, %i: tensor<4x2xf32>, %s: tensor<4x3xf32>) {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xf32>, tensor<4x3xf32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.scatter' op expected src of the input's element type f32, got i64
func.func @scatter_src_type(%x: tensor<4x8xf32>, %i: tensor<4x2xi64>, %s: tensor<4x3xi64>) {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xi64>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.scatter' op expected an index of rank 2 no larger than src [4, 1], nor than the input [4, 8] outside dim 1, got [4, 2]
func.func @scatter_index_larger_than_src(%x: tensor<4x8xf32>, %i: tensor<4x2xi64>, %s: tensor<4x1xf32>) {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x1xf32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.scatter' op expected an index of rank 2 no larger than src [5, 3], nor than the input [4, 8] outside dim 1, got [5, 2]
func.func @scatter_index_larger_than_input(%x: tensor<4x8xf32>, %i: tensor<5x2xi64>, %s: tensor<5x3xf32>) {
  %0 = nn.scatter %x, %i, %s {dim = -1 : i64} : (tensor<4x8xf32>, tensor<5x2xi64>, tensor<5x3xf32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.scatter' op expected an index of rank 2 no larger than src [4, 3], nor than the input [4, 8] outside dim 1, got [2]
func.func @scatter_index_rank(%x: tensor<4x8xf32>, %i: tensor<2xi64>, %s: tensor<4x3xf32>) {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64} : (tensor<4x8xf32>, tensor<2xi64>, tensor<4x3xf32>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.scatter' op expected result type tensor<4x8xf32>, got tensor<4x2xf32>
func.func @scatter_result(%x: tensor<4x8xf32>, %i: tensor<4x2xi64>, %s: tensor<4x3xf32>) {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64, reduce = "sum"} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x3xf32>) -> tensor<4x2xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.special' op expected a special function of {{.*}}, got 'gamma'
func.func @special_unknown(%x: tensor<4xf32>) {
  %0 = nn.special "gamma" %x : (tensor<4xf32>) -> tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.special' op expected 2 operands for 'polygamma', got 1
func.func @special_arity(%x: tensor<4xf32>) {
  %0 = nn.special "polygamma" %x : (tensor<4xf32>) -> tensor<4xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: nn_invalid.mlir:[[# @LINE + 2]]:3: error: 'nn.special' op expected float operands of one element type, got i64
func.func @special_integer(%x: tensor<4xi64>) {
  %0 = nn.special "digamma" %x : (tensor<4xi64>) -> tensor<4xi64>
  func.return
}

// CHECK-NOT: {{.}}
