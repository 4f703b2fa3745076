// fuse-attention: an nn.sdpa whose score matrix does not fit in cache gets
// block sizes (read by convert-nn-to-linalg, which then emits the online
// softmax); every decision, fused or not, is listed on the module for the
// compile report.
// RUN: sparcc-opt %s -p fuse-attention | filecheck %s
// RUN: sparcc-opt %s -p 'fuse-attention{threads=2}' | filecheck %s --check-prefix=TWO
// RUN: sparcc-opt %s -p 'fuse-attention{min_score_bytes=0 min_gain=0.0},convert-nn-to-linalg' | filecheck %s --check-prefix=LOWER

// CHECK:       builtin.module attributes {sparcc.fusions = [
// CHECK-SAME:    "attention 12x512x512x64 causal: online softmax, 64 queries x 128 keys per block, scores of 12.0 MiB not stored, predicted {{[0-9.]+}}x",
// CHECK-SAME:    "attention 2x16x32x8: not fused (scores (4.0 KiB) fit in cache)",
// CHECK-SAME:    "attention 12x61x509x64: not fused (predicted 0.{{[0-9]+}}x)",
// CHECK-SAME:    "attention 6x256x256x64: not fused (a mask that broadcasts over some batch dims but not all)",
// CHECK-SAME:    "attention 12x256x256x64: not fused (a type other than f32)",
// CHECK-SAME:    "attention 4xs0xs0x16 causal: online softmax, 32 queries x 64 keys per block (lengths known at run time)"]}

// 12 heads x 512 x 512 f32 scores (12 MiB): blocks of 64 queries (the
// largest divisor of 512 up to 64 whose [12, 64, 128] block of scores stays
// under 512 KiB) and 128 keys.
// CHECK-LABEL: func.func @long_causal(
// CHECK:         nn.sdpa {{.*}}sparcc.attention_blocks = [64 : i64, 128 : i64], sparcc.fusion = "attention 12x512x512x64 causal
func.func @long_causal(%q: tensor<1x12x512x64xf32>, %k: tensor<1x12x512x64xf32>, %v: tensor<1x12x512x64xf32>) -> tensor<1x12x512x64xf32> {
  %0 = nn.sdpa %q, %k, %v {is_causal = true, scale = 0.125 : f64} : (tensor<1x12x512x64xf32>, tensor<1x12x512x64xf32>, tensor<1x12x512x64xf32>) -> tensor<1x12x512x64xf32>
  func.return %0 : tensor<1x12x512x64xf32>
}

// Small: left as it is (and, with the thresholds at 0, lowered fused below).
// CHECK-LABEL: func.func @small(
// CHECK:         nn.sdpa {{.*}}sparcc.fusion_skipped = "scores (4.0 KiB) fit in cache"
// CHECK-NOT:     sparcc.attention_blocks
// LOWER-LABEL: func.func @small(
// q * scale once, k^T once in [h, S/bk, E, bk] blocks
// LOWER:         %[[Q:.*]] = linalg.generic {{.*}} ins(%q : tensor<2x16x8xf32>)
// LOWER:           arith.mulf
// LOWER:         %[[KT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>, {{.*}} outs(%{{.*}} : tensor<2x1x8x32xf32>)
// the loop over query blocks carries the output; the loop over key blocks
// the running row maximum, row sum and output rows
// LOWER:         scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[OUT:.*]] = %{{.*}}) -> (tensor<2x16x4xf32>) {
// LOWER:           %[[QB:.*]] = tensor.extract_slice %[[Q]][0, %[[Q0:.*]], 0] [2, 16, 8] [1, 1, 1]
// LOWER:           %{{.*}}, %[[L:.*]], %[[ACC:.*]] = scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[M:.*]] = %{{.*}}, %[[LI:.*]] = %{{.*}}, %[[AI:.*]] = %{{.*}}) -> (tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16x4xf32>) {
// LOWER:             tensor.extract_slice %[[KT]][0, %[[J]], 0, 0] [2, 1, 8, 32] [1, 1, 1, 1] : tensor<2x1x8x32xf32> to tensor<2x8x32xf32>
// LOWER:             linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x8xf32>, tensor<8x32xf32>)
// LOWER:             linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x8xf32>, tensor<8x32xf32>)
// the mask's block, broadcast over the heads
// LOWER:             tensor.extract_slice %{{.*}}[0, %[[Q0]], %{{.*}}] [1, 16, 32] [1, 1, 1] : tensor<1x16x32xf32> to tensor<1x16x32xf32>
// LOWER:             %[[S:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x16x32xf32>, tensor<16x32xf32>)
// LOWER:               arith.addf
// LOWER:             %[[MX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[S]] : tensor<2x16x32xf32>)
// LOWER:               arith.maximumf
// alpha = exp(m - max(m, rowmax)), with 0 for a row that is all -inf so far
// LOWER:             %[[ALPHA:.*]] = linalg.generic {{.*}} ins(%[[M]], %[[MX]] : tensor<2x16xf32>, tensor<2x16xf32>)
// LOWER:               arith.maximumf
// LOWER-NEXT:          arith.constant 0xff800000 : f32
// LOWER-NEXT:          arith.cmpf oeq
// LOWER:               arith.select
// LOWER:               arith.subf
// LOWER-NEXT:          math.exp
// the new maximum, written over the old one
// LOWER:             %[[MN:.*]] = linalg.generic {{.*}} ins(%[[MX]] : tensor<2x16xf32>) outs(%[[M]] : tensor<2x16xf32>)
// LOWER:             %[[P:.*]] = linalg.generic {{.*}} ins(%[[S]], %[[MN]] : tensor<2x16x32xf32>, tensor<2x16xf32>)
// LOWER:               math.exp
// LOWER:             %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[P]] : tensor<2x16x32xf32>)
// LOWER:             %[[LN:.*]] = linalg.generic {{.*}} ins(%[[ALPHA]], %[[SUM]] : tensor<2x16xf32>, tensor<2x16xf32>) outs(%[[LI]] : tensor<2x16xf32>)
// LOWER:             linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x32xf32>, tensor<32x4xf32>)
// LOWER:             linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x32xf32>, tensor<32x4xf32>)
// LOWER:             %[[AN:.*]] = linalg.generic {{.*}} ins(%[[ALPHA]], %{{.*}} : tensor<2x16xf32>, tensor<2x16x4xf32>) outs(%[[AI]] : tensor<2x16x4xf32>)
// LOWER:             scf.yield %[[MN]], %[[LN]], %[[AN]]
// out rows = acc / l (0 where l is 0), written into the output's slice
// LOWER:           %[[W:.*]] = tensor.extract_slice %[[OUT]][0, %[[Q0]], 0] [2, 16, 4] [1, 1, 1]
// LOWER:           %[[O:.*]] = linalg.generic {{.*}} ins(%[[ACC]], %[[L]] : tensor<2x16x4xf32>, tensor<2x16xf32>) outs(%[[W]] : tensor<2x16x4xf32>)
// LOWER:             arith.cmpf oeq
// LOWER-NEXT:        arith.constant 0.000000e+00 : f32
// LOWER-NEXT:        arith.divf
// LOWER-NEXT:        arith.select
// LOWER:           tensor.insert_slice %[[O]] into %[[OUT]][0, %[[Q0]], 0] [2, 16, 4] [1, 1, 1]
// LOWER:         } {sparcc.fusion = "attention 2x16x32x8: online softmax, 16 queries x 32 keys per block{{.*}}", sparcc.independent_iterations}
func.func @small(%q: tensor<2x16x8xf32>, %k: tensor<2x32x8xf32>, %v: tensor<2x32x4xf32>, %m: tensor<16x32xf32>) -> tensor<2x16x4xf32> {
  %0 = nn.sdpa %q, %k, %v, mask %m {scale = 0.5 : f64} : (tensor<2x16x8xf32>, tensor<2x32x8xf32>, tensor<2x32x4xf32>, tensor<16x32xf32>) -> tensor<2x16x4xf32>
  func.return %0 : tensor<2x16x4xf32>
}

// Lengths without a block size that divides them (61 and 509 are prime):
// padded to whole blocks, 4 x 16 queries and 4 x 128 keys; the padding keys
// are masked to -inf, the padding query rows dropped. At one thread the
// padding costs more than fusing gains; at two, the threads share the 4
// blocks of queries while the unfused passes over the scores barely divide.
// CHECK-LABEL: func.func @prime_lengths(
// CHECK:         sparcc.fusion_skipped = "predicted 0.{{[0-9]+}}x"
// TWO-LABEL:   func.func @prime_lengths(
// TWO:           sparcc.attention_blocks = [16 : i64, 128 : i64], sparcc.fusion = "attention 12x61x509x64: online softmax, 16 queries x 128 keys per block, scores of 1.4 MiB not stored, predicted 1.{{[0-9]+}}x"
// LOWER-LABEL: func.func @prime_lengths(
// LOWER:         tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0] [12, 61, 64] [1, 1, 1] : tensor<12x61x64xf32> into tensor<12x64x64xf32>
// LOWER:         tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0] [12, 509, 64] [1, 1, 1] : tensor<12x509x64xf32> into tensor<12x512x64xf32>
// LOWER:         %[[LAST:.*]] = arith.constant 509 : index
// LOWER:         scf.for
// LOWER:           scf.for
// LOWER:             %[[PAST:.*]] = arith.cmpi uge, %{{.*}}, %[[LAST]] : index
// LOWER-NEXT:        arith.constant 0xff800000 : f32
// LOWER-NEXT:        arith.select %[[PAST]]
// LOWER:         %[[ROWS:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0] [12, 61, 64] [1, 1, 1] : tensor<12x64x64xf32> to tensor<12x61x64xf32>
// LOWER:         linalg.copy ins(%[[ROWS]] : tensor<12x61x64xf32>)
func.func @prime_lengths(%q: tensor<12x61x64xf32>, %k: tensor<12x509x64xf32>, %v: tensor<12x509x64xf32>) -> tensor<12x61x64xf32> {
  %0 = nn.sdpa %q, %k, %v {scale = 0.125 : f64} : (tensor<12x61x64xf32>, tensor<12x509x64xf32>, tensor<12x509x64xf32>) -> tensor<12x61x64xf32>
  func.return %0 : tensor<12x61x64xf32>
}

// A [2, 1, L, S] mask for 3 heads: each head would need its own copy.
// CHECK-LABEL: func.func @mask_per_batch(
// CHECK:         sparcc.fusion_skipped = "a mask that broadcasts over some batch dims but not all"
func.func @mask_per_batch(%q: tensor<2x3x256x64xf32>, %k: tensor<2x3x256x64xf32>, %v: tensor<2x3x256x64xf32>, %m: tensor<2x1x256x256xf32>) -> tensor<2x3x256x64xf32> {
  %0 = nn.sdpa %q, %k, %v, mask %m {scale = 0.125 : f64} : (tensor<2x3x256x64xf32>, tensor<2x3x256x64xf32>, tensor<2x3x256x64xf32>, tensor<2x1x256x256xf32>) -> tensor<2x3x256x64xf32>
  func.return %0 : tensor<2x3x256x64xf32>
}

// bf16: its online softmax would round differently from PyTorch's.
// CHECK-LABEL: func.func @bf16(
// CHECK:         sparcc.fusion_skipped = "a type other than f32"
func.func @bf16(%q: tensor<12x256x64xbf16>, %k: tensor<12x256x64xbf16>, %v: tensor<12x256x64xbf16>) -> tensor<12x256x64xbf16> {
  %0 = nn.sdpa %q, %k, %v {scale = 0.125 : f64} : (tensor<12x256x64xbf16>, tensor<12x256x64xbf16>, tensor<12x256x64xbf16>) -> tensor<12x256x64xbf16>
  func.return %0 : tensor<12x256x64xbf16>
}

// A length known only at run time (a dynamic program): fused for every
// length, in blocks of 32 queries x 64 keys; the numbers of blocks come
// from the size (ceil(s0 / 32), ceil(s0 / 64)) and the padded buffers have
// dynamic sizes, while the blocks inside the loops stay static.
// CHECK-LABEL: func.func @dynamic_length(
// CHECK:         sparcc.attention_blocks = [32 : i64, 64 : i64]
// LOWER-LABEL: func.func @dynamic_length(
// LOWER:         %[[S:.*]] = tensor.dim {sparcc.size = "s0"} %q
// LOWER:         arith.ceildivsi %{{.*}}, %{{.*}} : index
// LOWER:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (tensor<4x?x16xf32>) {
// LOWER:           tensor.extract_slice %{{.*}} [4, 32, 16] [1, 1, 1] : tensor<4x?x16xf32> to tensor<4x32x16xf32>
// LOWER:           scf.for
// LOWER:             linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<32x16xf32>, tensor<16x64xf32>)
// LOWER:             arith.cmpi uge
func.func @dynamic_length(%q: tensor<4x?x16xf32, "[4, s0, 16]">, %k: tensor<4x?x16xf32, "[4, s0, 16]">, %v: tensor<4x?x16xf32, "[4, s0, 16]">) -> tensor<4x?x16xf32, "[4, s0, 16]"> {
  %0 = nn.sdpa %q, %k, %v {is_causal = true, scale = 0.25 : f64} : (tensor<4x?x16xf32, "[4, s0, 16]">, tensor<4x?x16xf32, "[4, s0, 16]">, tensor<4x?x16xf32, "[4, s0, 16]">) -> tensor<4x?x16xf32, "[4, s0, 16]">
  func.return %0 : tensor<4x?x16xf32, "[4, s0, 16]">
}
