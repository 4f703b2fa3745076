// Invalid dynamic shapes: one case per chunk, each must fail with the message checked.
// RUN: sparcc-opt %s --split-input-file --verify-diagnostics 2>&1 | filecheck %s


// CHECK: error: 'nn.add' op expected result type tensor<?x4xf32, "[s0, 4]">, got tensor<?x4xf32, "[s1, 4]">
func.func @wrong_symbol(%x: tensor<?x4xf32, "[s0, 4]">) -> tensor<?x4xf32, "[s1, 4]"> {
  %0 = nn.add %x, %x : tensor<?x4xf32, "[s0, 4]">, tensor<?x4xf32, "[s0, 4]"> -> tensor<?x4xf32, "[s1, 4]">
  func.return %0 : tensor<?x4xf32, "[s1, 4]">
}

// -----

// CHECK: error: 'nn.add' op shapes [s0, 4] and [s1, 4] do not broadcast
func.func @two_symbols(%x: tensor<?x4xf32, "[s0, 4]">, %y: tensor<?x4xf32, "[s1, 4]">) -> tensor<?x4xf32, "[s0, 4]"> {
  %0 = nn.add %x, %y : tensor<?x4xf32, "[s0, 4]">, tensor<?x4xf32, "[s1, 4]"> -> tensor<?x4xf32, "[s0, 4]">
  func.return %0 : tensor<?x4xf32, "[s0, 4]">
}

// -----

// CHECK: error: 'nn.relu' op tensor<?x4xf32>: a dynamic dim needs its symbolic size in the encoding
func.func @no_symbols(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = nn.relu %x : tensor<?x4xf32>
  func.return %0 : tensor<?x4xf32>
}

// -----

// CHECK: error: 'nn.conv2d' op input [1, 3, s0, 8]: only the batch dim of a convolution may be dynamic
func.func @conv_height(%x: tensor<1x3x?x8xf32, "[1, 3, s0, 8]">, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x?x6xf32, "[1, 4, s0 - 2, 6]"> {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x?x8xf32, "[1, 3, s0, 8]">, tensor<4x3x3x3xf32>) -> tensor<1x4x?x6xf32, "[1, 4, s0 - 2, 6]">
  func.return %0 : tensor<1x4x?x6xf32, "[1, 4, s0 - 2, 6]">
}
