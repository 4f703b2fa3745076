// customize-layout: a matmul that streams a large weight for few rows reads
// it in panels of P columns, laid out once at load time (nn.weight's view and
// permutation), then copies the panel-major result into C.
// RUN: sparcc-opt %s -p customize-layout | filecheck %s
// RUN: sparcc-opt %s -p 'customize-layout{max_rows=64 min_bytes=0}' | filecheck %s --check-prefix=OPTS
// RUN: sparcc-opt %s -p 'customize-layout{total_bytes=16777216}' | filecheck %s --check-prefix=TOTAL

// A Linear weight ([N, K] stored, read transposed): viewed as [N/64, 64, K],
// permuted to [N/64, K, 64]; the contraction fills and accumulates Cp[j, m, r]
// with one fma, and a copy writes C[m, j*64 + r].
// CHECK-LABEL: @linear_weight(
// CHECK-DAG:     %[[W:.*]] = nn.weight @fc.weight {perm = array<i64: 0, 2, 1>} : tensor<8x1024x64xf32>
// CHECK-DAG:     %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<8x4x64xf32>
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[Z]] : f32) outs(%[[E]] : tensor<8x4x64xf32>)
// CHECK-NEXT:    %[[P:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %[[W]] : tensor<4x1024xf32>, tensor<8x1024x64xf32>) outs(%[[F]] : tensor<8x4x64xf32>) attrs = {sparcc.layout = "panels:64"} {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[C:.*]]: f32):
// CHECK-NEXT:      %[[R:.*]] = math.fma %[[A]], %[[B]], %[[C]] : f32
// CHECK-NEXT:      linalg.yield %[[R]] : f32
// CHECK:         %[[U:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[P]] : tensor<8x4x64xf32>)
// CHECK:         %[[O:.*]] = tensor.collapse_shape %[[U]] {{\[\[}}0 : i64], [1 : i64, 2 : i64]] : tensor<4x8x64xf32> into tensor<4x512xf32>
// CHECK-NEXT:    func.return %[[O]]
// CHECK-NOT:     linalg.matmul
// CHECK-NOT:     nn.weight @fc.weight {perm = array<i64: 1, 0>}
// OPTS-LABEL: @linear_weight(
// OPTS:         sparcc.layout = "panels:64"
func.func @linear_weight(%x: tensor<4x1024xf32>) -> tensor<4x512xf32> {
  %w = nn.weight @fc.weight {perm = array<i64: 1, 0>} : tensor<1024x512xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x512xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x512xf32>) -> tensor<4x512xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<4x1024xf32>, tensor<1024x512xf32>) outs(%f : tensor<4x512xf32>) -> tensor<4x512xf32>
  func.return %0 : tensor<4x512xf32>
}

// A weight stored as [K, N]: viewed as [K, N/P, P], permuted to [N/P, K, P].
// N = 784 = 16 x 49: the widest panel that divides it is 16.
// CHECK-LABEL: @stored_k_by_n(
// CHECK:         nn.weight @w {perm = array<i64: 1, 0, 2>} : tensor<49x512x16xf32>
// CHECK:         sparcc.layout = "panels:16"
func.func @stored_k_by_n(%x: tensor<1x512xf32>) -> tensor<1x784xf32> {
  %w = nn.weight @w : tensor<512x784xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1x784xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x784xf32>) -> tensor<1x784xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<1x512xf32>, tensor<512x784xf32>) outs(%f : tensor<1x784xf32>) -> tensor<1x784xf32>
  func.return %0 : tensor<1x784xf32>
}

// A channels-last 3x3 convolution's weight: [F, C, KH, KW] stored, laid out
// as [KH, KW, C, F] and read collapsed to [KH*KW*C, F]. Its panels split the
// stored F: viewed as [F/64, 64, C, KH, KW], permuted to [F/64, KH, KW, C,
// 64], collapsed to [F/64, KH*KW*C, 64].
// CHECK-LABEL: @collapsed_conv_weight(
// CHECK:         %[[W:.*]] = nn.weight @conv.weight {perm = array<i64: 0, 3, 4, 2, 1>} : tensor<2x3x3x64x64xf32>
// CHECK-NEXT:    %[[K:.*]] = tensor.collapse_shape %[[W]] {{\[\[}}0 : i64], [1 : i64, 2 : i64, 3 : i64], [4 : i64]] : tensor<2x3x3x64x64xf32> into tensor<2x576x64xf32>
// CHECK:         linalg.generic {{.*}} ins(%x, %[[K]] : tensor<4x576xf32>, tensor<2x576x64xf32>) {{.*}}sparcc.layout = "panels:64"
// CHECK-NOT:     linalg.matmul
// CHECK-NOT:     perm = array<i64: 2, 3, 1, 0>
func.func @collapsed_conv_weight(%x: tensor<4x576xf32>) -> tensor<4x128xf32> {
  %w = nn.weight @conv.weight {perm = array<i64: 2, 3, 1, 0>} : tensor<3x3x64x128xf32>
  %b = tensor.collapse_shape %w [[0, 1, 2], [3]] : tensor<3x3x64x128xf32> into tensor<576x128xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x128xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x128xf32>) -> tensor<4x128xf32>
  %0 = linalg.matmul ins(%x, %b : tensor<4x576xf32>, tensor<576x128xf32>) outs(%f : tensor<4x128xf32>) -> tensor<4x128xf32>
  func.return %0 : tensor<4x128xf32>
}

// A weight collapsed with its last dim merged too ([KH*KW, C*F]) is not a
// [K, N] matrix whose N is the weight's last dim: left alone (with
// min_bytes=0 too).
// CHECK-LABEL: @collapsed_otherwise(
// CHECK:         linalg.matmul
// OPTS-LABEL: @collapsed_otherwise(
// OPTS:         linalg.matmul
func.func @collapsed_otherwise(%x: tensor<4x9xf32>) -> tensor<4x1024xf32> {
  %w = nn.weight @conv2.weight {perm = array<i64: 2, 3, 1, 0>} : tensor<3x3x8x128xf32>
  %b = tensor.collapse_shape %w [[0, 1], [2, 3]] : tensor<3x3x8x128xf32> into tensor<9x1024xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x1024xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x1024xf32>) -> tensor<4x1024xf32>
  %0 = linalg.matmul ins(%x, %b : tensor<4x9xf32>, tensor<9x1024xf32>) outs(%f : tensor<4x1024xf32>) -> tensor<4x1024xf32>
  func.return %0 : tensor<4x1024xf32>
}

// More rows than max_rows (8) but at most stream_rows (32), and a weight of
// at least stream_bytes (8 MiB, here 9 MiB): it comes from memory on every
// call, and is read in panels too.
// CHECK-LABEL: @streamed_weight(
// CHECK:         nn.weight @big {perm = array<i64: 0, 2, 1>} : tensor<48x768x64xf32>
// CHECK:         sparcc.layout = "panels:64"
func.func @streamed_weight(%x: tensor<17x768xf32>) -> tensor<17x3072xf32> {
  %w = nn.weight @big {perm = array<i64: 1, 0>} : tensor<768x3072xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<17x3072xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<17x3072xf32>) -> tensor<17x3072xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<17x768xf32>, tensor<768x3072xf32>) outs(%f : tensor<17x3072xf32>) -> tensor<17x3072xf32>
  func.return %0 : tensor<17x3072xf32>
}

// N a multiple of 8 but not of 16 (an ImageNet head's 1000 classes): panels
// of 8, which the schedule puts several to a register tile. (At one row the
// head takes padded row panels instead: customize-layout-one-row.mlir.)
// CHECK-LABEL: @narrow_panels(
// CHECK:         nn.weight @head {perm = array<i64: 0, 2, 1>} : tensor<125x1024x8xf32>
// CHECK:         sparcc.layout = "panels:8"
func.func @narrow_panels(%x: tensor<2x1024xf32>) -> tensor<2x1000xf32> {
  %w = nn.weight @head {perm = array<i64: 1, 0>} : tensor<1024x1000xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<2x1000xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x1000xf32>) -> tensor<2x1000xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x1024xf32>, tensor<1024x1000xf32>) outs(%f : tensor<2x1000xf32>) -> tensor<2x1000xf32>
  func.return %0 : tensor<2x1000xf32>
}

// N that no panel divides (GPT-2's 50257 classes; here 1004): the Linear
// weight is padded with zero rows to whole panels (pad_rows, at load time;
// 64 wastes 20 columns, under 1/32 of N), the contraction runs over the
// padded panels and C keeps the first N columns.
// CHECK-LABEL: @padded_panels(
// CHECK:         %[[W:.*]] = nn.weight @classes {perm = array<i64: 0, 2, 1>, pad_rows = 1024 : i64} : tensor<16x1024x64xf32>
// CHECK:         %[[P:.*]] = linalg.generic {{.*}} ins(%x, %[[W]] : tensor<2x1024xf32>, tensor<16x1024x64xf32>) outs(%{{.*}} : tensor<16x2x64xf32>) attrs = {sparcc.layout = "panels:64", sparcc.padded_from = 1004 : i64}
// CHECK:         %[[O:.*]] = tensor.collapse_shape %{{.*}} : tensor<2x16x64xf32> into tensor<2x1024xf32>
// CHECK-NEXT:    %[[S:.*]] = tensor.extract_slice %[[O]][0, 0] [2, 1004] [1, 1] : tensor<2x1024xf32> to tensor<2x1004xf32>
// CHECK-NEXT:    func.return %[[S]]
// CHECK-LABEL: @padded_panels_of_32(
// CHECK:         nn.weight @few {perm = array<i64: 0, 2, 1>, pad_rows = 992 : i64} : tensor<31x288x32xf32>
// CHECK:         sparcc.padded_from = 970 : i64
func.func @padded_panels(%x: tensor<2x1024xf32>) -> tensor<2x1004xf32> {
  %w = nn.weight @classes {perm = array<i64: 1, 0>} : tensor<1024x1004xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<2x1004xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x1004xf32>) -> tensor<2x1004xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x1024xf32>, tensor<1024x1004xf32>) outs(%f : tensor<2x1004xf32>) -> tensor<2x1004xf32>
  func.return %0 : tensor<2x1004xf32>
}
// 970: panels of 64 would waste 54 columns (over 1/32 of N), of 32 waste 22.
// (K = 288 keeps this file's weights under total_bytes: see @left_alone.)
func.func @padded_panels_of_32(%x: tensor<1x288xf32>) -> tensor<1x970xf32> {
  %w = nn.weight @few {perm = array<i64: 1, 0>} : tensor<288x970xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1x970xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x970xf32>) -> tensor<1x970xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<1x288xf32>, tensor<288x970xf32>) outs(%f : tensor<1x970xf32>) -> tensor<1x970xf32>
  func.return %0 : tensor<1x970xf32>
}

// A weight that something else reads too keeps its buffer, and the matmul
// gets a packed one of its own.
// CHECK-LABEL: @shared_weight(
// CHECK-DAG:     nn.weight @t {perm = array<i64: 1, 0>} : tensor<1024x512xf32>
// CHECK-DAG:     nn.weight @t {perm = array<i64: 0, 2, 1>} : tensor<8x1024x64xf32>
func.func @shared_weight(%x: tensor<2x1024xf32>) -> (tensor<2x512xf32>, tensor<1024x512xf32>) {
  %w = nn.weight @t {perm = array<i64: 1, 0>} : tensor<1024x512xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<2x512xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x512xf32>) -> tensor<2x512xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x1024xf32>, tensor<1024x512xf32>) outs(%f : tensor<2x512xf32>) -> tensor<2x512xf32>
  func.return %0, %w : tensor<2x512xf32>, tensor<1024x512xf32>
}

// Left alone: more rows than max_rows (8), a weight under min_bytes (256 KiB),
// N not a multiple of 8 in a weight stored [K, N] (only a Linear's [N, K]
// weight is padded), a float64 matmul, an operand that is not a weight,
// and an accumulator that is not a fill. With max_rows=64 and min_bytes=0
// the first two are rewritten.
// CHECK-LABEL: @left_alone(
// CHECK-NOT:     sparcc.layout
// CHECK-COUNT-6: linalg.matmul
// CHECK-NOT:     sparcc.layout
// CHECK:         func.return
// All of this file's weights together (about 30 MiB) reach total_bytes=16 MiB
// (a last-level cache): every weight comes from memory on each call, and the
// 16-row matmul on the 2 MiB weight @a is read in panels as well.
// TOTAL-LABEL: @left_alone(
// TOTAL:         nn.weight @a {perm = array<i64: 0, 2, 1>} : tensor<8x1024x64xf32>
// TOTAL-COUNT-1: sparcc.layout = "panels:64"
// TOTAL-NOT:     sparcc.layout
// TOTAL:         func.return
// OPTS-LABEL: @left_alone(
// OPTS-COUNT-2:  sparcc.layout = "panels:64"
// OPTS-COUNT-4:  linalg.matmul
func.func @left_alone(%x16: tensor<16x1024xf32>, %x4s: tensor<4x64xf32>, %x1: tensor<1x1024xf32>,
                      %x64: tensor<2x1024xf64>, %y: tensor<1024x512xf32>, %acc: tensor<4x512xf32>)
    -> (tensor<16x512xf32>, tensor<4x256xf32>, tensor<1x1004xf32>, tensor<2x512xf64>, tensor<1x512xf32>, tensor<4x512xf32>) {
  %z = arith.constant 0.000000e+00 : f32
  %z64 = arith.constant 0.000000e+00 : f64
  %w = nn.weight @a {perm = array<i64: 1, 0>} : tensor<1024x512xf32>
  %e0 = tensor.empty() : tensor<16x512xf32>
  %f0 = linalg.fill ins(%z : f32) outs(%e0 : tensor<16x512xf32>) -> tensor<16x512xf32>
  %0 = linalg.matmul ins(%x16, %w : tensor<16x1024xf32>, tensor<1024x512xf32>) outs(%f0 : tensor<16x512xf32>) -> tensor<16x512xf32>
  %ws = nn.weight @small {perm = array<i64: 1, 0>} : tensor<64x256xf32>
  %e1 = tensor.empty() : tensor<4x256xf32>
  %f1 = linalg.fill ins(%z : f32) outs(%e1 : tensor<4x256xf32>) -> tensor<4x256xf32>
  %1 = linalg.matmul ins(%x4s, %ws : tensor<4x64xf32>, tensor<64x256xf32>) outs(%f1 : tensor<4x256xf32>) -> tensor<4x256xf32>
  %wc = nn.weight @classes : tensor<1024x1004xf32>
  %e2 = tensor.empty() : tensor<1x1004xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<1x1004xf32>) -> tensor<1x1004xf32>
  %2 = linalg.matmul ins(%x1, %wc : tensor<1x1024xf32>, tensor<1024x1004xf32>) outs(%f2 : tensor<1x1004xf32>) -> tensor<1x1004xf32>
  %wd = nn.weight @double {perm = array<i64: 1, 0>} : tensor<1024x512xf64>
  %e3 = tensor.empty() : tensor<2x512xf64>
  %f3 = linalg.fill ins(%z64 : f64) outs(%e3 : tensor<2x512xf64>) -> tensor<2x512xf64>
  %3 = linalg.matmul ins(%x64, %wd : tensor<2x1024xf64>, tensor<1024x512xf64>) outs(%f3 : tensor<2x512xf64>) -> tensor<2x512xf64>
  %e4 = tensor.empty() : tensor<1x512xf32>
  %f4 = linalg.fill ins(%z : f32) outs(%e4 : tensor<1x512xf32>) -> tensor<1x512xf32>
  %4 = linalg.matmul ins(%x1, %y : tensor<1x1024xf32>, tensor<1024x512xf32>) outs(%f4 : tensor<1x512xf32>) -> tensor<1x512xf32>
  %wa = nn.weight @b {perm = array<i64: 1, 0>} : tensor<1024x512xf32>
  %x4 = tensor.extract_slice %x16[0, 0] [4, 1024] [1, 1] : tensor<16x1024xf32> to tensor<4x1024xf32>
  %5 = linalg.matmul ins(%x4, %wa : tensor<4x1024xf32>, tensor<1024x512xf32>) outs(%acc : tensor<4x512xf32>) -> tensor<4x512xf32>
  func.return %0, %1, %2, %3, %4, %5 : tensor<16x512xf32>, tensor<4x256xf32>, tensor<1x1004xf32>, tensor<2x512xf64>, tensor<1x512xf32>, tensor<4x512xf32>
}
