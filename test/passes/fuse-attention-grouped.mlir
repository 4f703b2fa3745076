// fuse-attention on grouped-query attention: an unfused nn.sdpa of a few
// queries whose keys and values are repeated heads (Hugging Face's
// repeat_kv: unsqueeze, expand, reshape) takes the unrepeated heads instead,
// with sparcc.kv_groups; the lowering then never builds the repeated copy.
// RUN: sparcc-opt %s -p fuse-attention | filecheck %s
// RUN: sparcc-opt %s -p fuse-attention,convert-nn-to-linalg | filecheck %s --check-prefix=LOWER

// CHECK:       builtin.module attributes {sparcc.fusions = [
// CHECK-SAME:    "attention 8x1x300x64: not fused (scores (9.4 KiB) fit in cache); key/value heads shared by 2 query heads, not repeated",
// CHECK-SAME:    "attention 8x1x300x64: not fused (scores (9.4 KiB) fit in cache)",
// CHECK-SAME:    "attention 8x32x300x64: not fused (predicted {{[0-9.]+}}x)"]}

// CHECK-LABEL: func.func @decode_step(
// CHECK:         %[[K:.*]] = nn.reshape %k : tensor<1x4x300x64xf32> -> tensor<1x4x1x300x64xf32>
// CHECK:         %[[V:.*]] = nn.reshape %v : tensor<1x4x300x64xf32> -> tensor<1x4x1x300x64xf32>
// CHECK:         %[[K4:.*]] = nn.reshape %[[K]] : tensor<1x4x1x300x64xf32> -> tensor<1x4x300x64xf32>
// CHECK-NEXT:    %[[V4:.*]] = nn.reshape %[[V]] : tensor<1x4x1x300x64xf32> -> tensor<1x4x300x64xf32>
// CHECK-NEXT:    nn.sdpa %q, %[[K4]], %[[V4]], mask %m {{.*}}sparcc.kv_groups = 2 : i64
// CHECK-SAME:      (tensor<1x8x1x64xf32>, tensor<1x4x300x64xf32>, tensor<1x4x300x64xf32>, tensor<1x1x1x300xf32>) -> tensor<1x8x1x64xf32>
// LOWER-LABEL: func.func @decode_step(
// LOWER-NOT:     tensor<1x4x2x300x64xf32>
// LOWER-NOT:     tensor<1x8x300x64xf32>
// LOWER:         func.return
func.func @decode_step(%q: tensor<1x8x1x64xf32>, %k: tensor<1x4x300x64xf32>, %v: tensor<1x4x300x64xf32>, %m: tensor<1x1x1x300xf32>) -> tensor<1x8x1x64xf32> {
  %k1 = nn.reshape %k : tensor<1x4x300x64xf32> -> tensor<1x4x1x300x64xf32>
  %k2 = nn.expand %k1 : tensor<1x4x1x300x64xf32> -> tensor<1x4x2x300x64xf32>
  %k3 = nn.reshape %k2 : tensor<1x4x2x300x64xf32> -> tensor<1x8x300x64xf32>
  %v1 = nn.reshape %v : tensor<1x4x300x64xf32> -> tensor<1x4x1x300x64xf32>
  %v2 = nn.expand %v1 : tensor<1x4x1x300x64xf32> -> tensor<1x4x2x300x64xf32>
  %v3 = nn.reshape %v2 : tensor<1x4x2x300x64xf32> -> tensor<1x8x300x64xf32>
  %0 = nn.sdpa %q, %k3, %v3, mask %m {scale = 0.125 : f64} : (tensor<1x8x1x64xf32>, tensor<1x8x300x64xf32>, tensor<1x8x300x64xf32>, tensor<1x1x1x300xf32>) -> tensor<1x8x1x64xf32>
  func.return %0 : tensor<1x8x1x64xf32>
}

// Heads repeated as a block (head h reads h mod 4, torch.Tensor.repeat), not
// in groups: left as it is.
// CHECK-LABEL: func.func @tiled_heads(
// CHECK-NOT:     sparcc.kv_groups
// CHECK:         func.return
func.func @tiled_heads(%q: tensor<1x8x1x64xf32>, %k: tensor<1x4x300x64xf32>) -> tensor<1x8x1x64xf32> {
  %k1 = nn.reshape %k : tensor<1x4x300x64xf32> -> tensor<1x1x4x300x64xf32>
  %k2 = nn.expand %k1 : tensor<1x1x4x300x64xf32> -> tensor<1x2x4x300x64xf32>
  %k3 = nn.reshape %k2 : tensor<1x2x4x300x64xf32> -> tensor<1x8x300x64xf32>
  %0 = nn.sdpa %q, %k3, %k3 {scale = 0.125 : f64} : (tensor<1x8x1x64xf32>, tensor<1x8x300x64xf32>, tensor<1x8x300x64xf32>) -> tensor<1x8x1x64xf32>
  func.return %0 : tensor<1x8x1x64xf32>
}

// 32 queries (more than a few): the matmul lowering, repeated heads and all.
// CHECK-LABEL: func.func @prefill(
// CHECK-NOT:     sparcc.kv_groups
// CHECK:         func.return
func.func @prefill(%q: tensor<1x8x32x64xf32>, %k: tensor<1x4x300x64xf32>) -> tensor<1x8x32x64xf32> {
  %k1 = nn.reshape %k : tensor<1x4x300x64xf32> -> tensor<1x4x1x300x64xf32>
  %k2 = nn.expand %k1 : tensor<1x4x1x300x64xf32> -> tensor<1x4x2x300x64xf32>
  %k3 = nn.reshape %k2 : tensor<1x4x2x300x64xf32> -> tensor<1x8x300x64xf32>
  %0 = nn.sdpa %q, %k3, %k3 {scale = 0.125 : f64} : (tensor<1x8x32x64xf32>, tensor<1x8x300x64xf32>, tensor<1x8x300x64xf32>) -> tensor<1x8x32x64xf32>
  func.return %0 : tensor<1x8x32x64xf32>
}
