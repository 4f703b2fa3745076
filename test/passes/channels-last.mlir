// channels-last: convolutions and poolings run NHWC; the transposes between
// the layouts move forward through layout-blind ops until they cancel.
// RUN: sparcc-opt %s -p channels-last | filecheck %s
// RUN: sparcc-opt %s -p 'channels-last{enabled=false}' | filecheck %s --check-prefix=OFF

// The report lists the decision on the module.
// CHECK: sparcc.fusions = ["channels-last: 4 convolutions and 1 poolings run NHWC; 5 layout transposes left: [1, 3, 8, 8], [1, 4, 4, 4], [1, 8, 4, 4], [1, 4, 4, 4], [1, 4, 4, 8]"]
// OFF-NOT: channels_last
// OFF-NOT: sparcc.fusions

// A chain of convolutions, an activation and a pooling: one transpose of the
// input, one of the result; nothing between them.
// CHECK-LABEL: @conv_relu_conv(
// CHECK:         %[[I:.*]] = nn.permute %x {perm = array<i64: 0, 2, 3, 1>} : tensor<1x3x8x8xf32> -> tensor<1x8x8x3xf32>
// CHECK-NEXT:    %[[C1:.*]] = nn.conv2d %[[I]], %w1 {{.*}}channels_last = true} : (tensor<1x8x8x3xf32>, tensor<8x3x3x3xf32>) -> tensor<1x8x8x8xf32>
// CHECK-NEXT:    %[[R:.*]] = nn.relu %[[C1]] : tensor<1x8x8x8xf32>
// CHECK-NEXT:    %[[P:.*]] = nn.max_pool2d %[[R]] {{.*}}channels_last = true} : tensor<1x8x8x8xf32> -> tensor<1x4x4x8xf32>
// CHECK-NEXT:    %[[C2:.*]] = nn.conv2d %[[P]], %w2 {{.*}}channels_last = true} : (tensor<1x4x4x8xf32>, tensor<4x8x1x1xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT:    %[[O:.*]] = nn.permute %[[C2]] {perm = array<i64: 0, 3, 1, 2>}
// CHECK-NEXT:    func.return %[[O]]

// A depthwise convolution, batch norm (a per-channel multiply-add along the
// last dim), a per-channel [8, 1, 1] operand (reshaped, not transposed), a
// mean over H, W kept as [1, 1, 1, 8], a residual add of two transposed
// values, and a mean that drops H, W: no transpose after the input's.
// CHECK-LABEL: @residual_bn_se(
// CHECK:         %[[I:.*]] = nn.permute %x {perm = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    %[[DW:.*]] = nn.conv2d %[[I]], %w {{.*}}groups = 8 : i64, channels_last = true} : (tensor<1x4x4x8xf32>, tensor<8x1x3x3xf32>) -> tensor<1x4x4x8xf32>
// CHECK:         %[[SC:.*]] = nn.mul %[[DW]], %{{.*}} : tensor<1x4x4x8xf32>, tensor<8xf32> -> tensor<1x4x4x8xf32>
// CHECK-NEXT:    %[[BN:.*]] = nn.add %[[SC]], %{{.*}} : tensor<1x4x4x8xf32>, tensor<8xf32> -> tensor<1x4x4x8xf32>
// CHECK-NEXT:    %[[S:.*]] = nn.reshape %s : tensor<8x1x1xf32> -> tensor<1x1x8xf32>
// CHECK-NEXT:    %[[M:.*]] = nn.mul %[[BN]], %[[S]] : tensor<1x4x4x8xf32>, tensor<1x1x8xf32> -> tensor<1x4x4x8xf32>
// CHECK-NEXT:    %[[SE:.*]] = nn.mean %[[M]] {dims = array<i64: 1, 2>, keepdim = true} : tensor<1x4x4x8xf32> -> tensor<1x1x1x8xf32>
// CHECK-NEXT:    %[[G:.*]] = nn.mul %[[M]], %[[SE]] : tensor<1x4x4x8xf32>, tensor<1x1x1x8xf32> -> tensor<1x4x4x8xf32>
// CHECK-NEXT:    %[[RES:.*]] = nn.add %[[G]], %[[DW]] : tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32> -> tensor<1x4x4x8xf32>
// CHECK-NEXT:    %[[OUT:.*]] = nn.mean %[[RES]] {dims = array<i64: 1, 2>} : tensor<1x4x4x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT:    func.return %[[OUT]]
// CHECK-NOT:     nn.batch_norm

// A concatenation along the channels concatenates along the last dim; a
// flatten of several pixels reads NCHW, so the transpose stays before it.
// CHECK-LABEL: @concat_then_flatten(
// CHECK:         %[[C:.*]] = nn.concat %[[A:.*]], %[[A]] {dim = 3 : i64} : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x4x4x8xf32>
// CHECK-NEXT:    %[[T:.*]] = nn.permute %[[C]] {perm = array<i64: 0, 3, 1, 2>} : tensor<1x4x4x8xf32> -> tensor<1x8x4x4xf32>
// CHECK-NEXT:    nn.reshape %[[T]] : tensor<1x8x4x4xf32> -> tensor<1x128xf32>

// A batch known only at run time: left NCHW.
// CHECK-LABEL: @dynamic_batch(
// CHECK-NOT:     nn.permute
// CHECK-NOT:     channels_last
// CHECK:         func.return

func.func @conv_relu_conv(%x: tensor<1x3x8x8xf32>) -> tensor<1x4x4x4xf32> {
  %w1 = nn.weight @c1.weight : tensor<8x3x3x3xf32>
  %w2 = nn.weight @c2.weight : tensor<4x8x1x1xf32>
  %0 = nn.conv2d %x, %w1 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<8x3x3x3xf32>) -> tensor<1x8x8x8xf32>
  %1 = nn.relu %0 : tensor<1x8x8x8xf32>
  %2 = nn.max_pool2d %1 {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x8x8x8xf32> -> tensor<1x8x4x4xf32>
  %3 = nn.conv2d %2, %w2 {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x8x4x4xf32>, tensor<4x8x1x1xf32>) -> tensor<1x4x4x4xf32>
  func.return %3 : tensor<1x4x4x4xf32>
}

func.func @residual_bn_se(%x: tensor<1x8x4x4xf32>, %m: tensor<8xf32>, %s: tensor<8x1x1xf32>) -> tensor<1x8xf32> {
  %w = nn.weight @dw.weight : tensor<8x1x3x3xf32>
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 8 : i64} : (tensor<1x8x4x4xf32>, tensor<8x1x3x3xf32>) -> tensor<1x8x4x4xf32>
  %1 = nn.batch_norm %0, %m, %m, %m, %m {eps = 1.0e-05 : f64} : (tensor<1x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  %2 = nn.mul %1, %s : tensor<1x8x4x4xf32>, tensor<8x1x1xf32> -> tensor<1x8x4x4xf32>
  %3 = nn.mean %2 {dims = array<i64: 2, 3>, keepdim = true} : tensor<1x8x4x4xf32> -> tensor<1x8x1x1xf32>
  %4 = nn.mul %2, %3 : tensor<1x8x4x4xf32>, tensor<1x8x1x1xf32> -> tensor<1x8x4x4xf32>
  %5 = nn.add %4, %0 : tensor<1x8x4x4xf32>, tensor<1x8x4x4xf32> -> tensor<1x8x4x4xf32>
  %6 = nn.mean %5 {dims = array<i64: 2, 3>} : tensor<1x8x4x4xf32> -> tensor<1x8xf32>
  func.return %6 : tensor<1x8xf32>
}

func.func @concat_then_flatten(%x: tensor<1x4x4x4xf32>) -> tensor<1x128xf32> {
  %w = nn.weight @c.weight : tensor<4x4x1x1xf32>
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x4x4x4xf32>, tensor<4x4x1x1xf32>) -> tensor<1x4x4x4xf32>
  %1 = nn.concat %0, %0 {dim = 1 : i64} : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x8x4x4xf32>
  %2 = nn.reshape %1 : tensor<1x8x4x4xf32> -> tensor<1x128xf32>
  func.return %2 : tensor<1x128xf32>
}

func.func @dynamic_batch(%x: tensor<?x3x8x8xf32, "[s0, 3, 8, 8]">) -> tensor<?x4x6x6xf32, "[s0, 4, 6, 6]"> {
  %w = nn.weight @d.weight : tensor<4x3x3x3xf32>
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8xf32, "[s0, 3, 8, 8]">, tensor<4x3x3x3xf32>) -> tensor<?x4x6x6xf32, "[s0, 4, 6, 6]">
  func.return %0 : tensor<?x4x6x6xf32, "[s0, 4, 6, 6]">
}
