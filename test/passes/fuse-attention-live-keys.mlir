// fuse-attention on a prompt against a long static KV cache: up to 64
// queries against at least 4 times as many keys, with an additive mask that
// the heads share and a key count with a block size, stay unfused for the
// lowering that reads only the keys the mask leaves (convert-nn-to-linalg's
// _sdpa_live_keys), and take the unrepeated key/value heads.
// RUN: sparcc-opt %s -p fuse-attention | filecheck %s
// RUN: sparcc-opt %s -p fuse-attention,convert-nn-to-linalg | filecheck %s --check-prefix=LOWER

// CHECK:       builtin.module attributes {sparcc.fusions = [
// CHECK-SAME:    "attention 8x20x128x64: not fused (20 queries against 128 keys: only the keys the mask leaves are read); key/value heads shared by 2 query heads, not repeated",
// CHECK-SAME:    "attention 8x40x128x64: not fused (scores (160.0 KiB) fit in cache)",
// CHECK-SAME:    "attention 8x20x256x64: not fused (scores (160.0 KiB) fit in cache)"]}

// CHECK-LABEL: func.func @prefill_long_cache(
// CHECK:         nn.sdpa {{.*}}sparcc.kv_groups = 2 : i64
// CHECK-SAME:      (tensor<1x8x20x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x1x20x128xf32>) -> tensor<1x8x20x64xf32>
// LOWER-LABEL: func.func @prefill_long_cache(
// LOWER:         arith.ceildivui
// LOWER:         scf.for
// LOWER-NOT:     tensor<1x8x128x64xf32>
// LOWER:         func.return
func.func @prefill_long_cache(%q: tensor<1x8x20x64xf32>, %k: tensor<1x4x128x64xf32>, %v: tensor<1x4x128x64xf32>, %m: tensor<1x1x20x128xf32>) -> tensor<1x8x20x64xf32> {
  %k1 = nn.reshape %k : tensor<1x4x128x64xf32> -> tensor<1x4x1x128x64xf32>
  %k2 = nn.expand %k1 : tensor<1x4x1x128x64xf32> -> tensor<1x4x2x128x64xf32>
  %k3 = nn.reshape %k2 : tensor<1x4x2x128x64xf32> -> tensor<1x8x128x64xf32>
  %v1 = nn.reshape %v : tensor<1x4x128x64xf32> -> tensor<1x4x1x128x64xf32>
  %v2 = nn.expand %v1 : tensor<1x4x1x128x64xf32> -> tensor<1x4x2x128x64xf32>
  %v3 = nn.reshape %v2 : tensor<1x4x2x128x64xf32> -> tensor<1x8x128x64xf32>
  %0 = nn.sdpa %q, %k3, %v3, mask %m {scale = 0.125 : f64} : (tensor<1x8x20x64xf32>, tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>, tensor<1x1x20x128xf32>) -> tensor<1x8x20x64xf32>
  func.return %0 : tensor<1x8x20x64xf32>
}

// 40 queries against 128 keys (fewer than 4 per query): the usual decision
// and lowering.
// CHECK-LABEL: func.func @prefill_short_cache(
// CHECK-NOT:     sparcc.kv_groups
// LOWER-LABEL: func.func @prefill_short_cache(
// LOWER-NOT:     arith.ceildivui
// LOWER:         func.return
func.func @prefill_short_cache(%q: tensor<1x8x40x64xf32>, %k: tensor<1x8x128x64xf32>, %v: tensor<1x8x128x64xf32>, %m: tensor<1x1x40x128xf32>) -> tensor<1x8x40x64xf32> {
  %0 = nn.sdpa %q, %k, %v, mask %m {scale = 0.125 : f64} : (tensor<1x8x40x64xf32>, tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>, tensor<1x1x40x128xf32>) -> tensor<1x8x40x64xf32>
  func.return %0 : tensor<1x8x40x64xf32>
}

// No mask: nothing tells which keys are dead.
// CHECK-LABEL: func.func @prefill_no_mask(
// LOWER-LABEL: func.func @prefill_no_mask(
// LOWER-NOT:     arith.ceildivui
// LOWER:         func.return
func.func @prefill_no_mask(%q: tensor<1x8x20x64xf32>, %k: tensor<1x8x256x64xf32>, %v: tensor<1x8x256x64xf32>) -> tensor<1x8x20x64xf32> {
  %0 = nn.sdpa %q, %k, %v {scale = 0.125 : f64} : (tensor<1x8x20x64xf32>, tensor<1x8x256x64xf32>, tensor<1x8x256x64xf32>) -> tensor<1x8x20x64xf32>
  func.return %0 : tensor<1x8x20x64xf32>
}
