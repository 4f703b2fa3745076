// Weights as a file: the top function takes weights.bin's words through one more m_axi port,
// sparcc_wts, and its first call copies them into the on-chip arrays (one word a cycle; an
// ap_fixed array takes its raw bits).
// RUN: python -m sparcc.backends.hls %s --weights bin --precision '*=ap_fixed<16,6>' | FileCheck %s
// RUN: python -m sparcc.backends.hls %s --weights bin --emit qor | FileCheck %s --check-prefix=QOR
// RUN: not python -m sparcc.backends.hls %s --weights rom 2>&1 | FileCheck %s --check-prefix=BAD

func.func @forward(%0: memref<2x8xf32>, %1: memref<4xf32>, %2: memref<8x4xf32>, %3: memref<2x4xf32>) attributes {sparcc.weights = [{name = "bias"}, {name = "weight", perm = array<i64: 1, 0>}], sparcc.num_inputs = array<i64: 1>} {
  %4 = bufferization.to_tensor %0 restrict : memref<2x8xf32> to tensor<2x8xf32>
  %5 = bufferization.to_tensor %1 restrict : memref<4xf32> to tensor<4xf32>
  %6 = bufferization.to_tensor %2 restrict : memref<8x4xf32> to tensor<8x4xf32>
  "hls.source"() {location = "model.py:7"} : () -> ()
  %7 = arith.constant 0.000000e+00 : f32
  %8 = tensor.empty() : tensor<2x4xf32>
  %9 = linalg.fill ins(%7 : f32) outs(%8 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %10 = linalg.matmul ins(%4, %6 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%9 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %11 = tensor.empty() : tensor<2x4xf32>
  %12 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%10, %5 : tensor<2x4xf32>, tensor<4xf32>) outs(%11 : tensor<2x4xf32>) {
  ^bb0(%13: f32, %14: f32, %15: f32):
    %16 = arith.addf %13, %14 : f32
    linalg.yield %16 : f32
  } -> tensor<2x4xf32>
  bufferization.materialize_in_destination %12 in restrict writable %3 : (tensor<2x4xf32>, memref<2x4xf32>) -> ()
  func.return
}

// CHECK-LABEL: static void sparcc_load_weights(const unsigned int sparcc_wts[36]) {
// CHECK-NEXT:    load_w_bias: for (int i = 0; i < 4; ++i) {
// CHECK-NEXT:      #pragma HLS pipeline II=1
// CHECK-NEXT:      ap_fixed<16,6> t;
// CHECK-NEXT:      t.range(15, 0) = sparcc_wts[0 + i];
// CHECK-NEXT:      w_bias[i] = t;
// CHECK:         load_w_weight: for (int i = 0; i < 32; ++i) {
// CHECK:           t.range(15, 0) = sparcc_wts[4 + i];
// CHECK-LABEL: void sparcc_top(const float in0[16], float out0[8], const unsigned int sparcc_wts[36]) {
// CHECK:       #pragma HLS interface m_axi port=sparcc_wts offset=slave bundle=gmem_sparcc_wts depth=36
// CHECK-NEXT:  #pragma HLS interface s_axilite port=return
// CHECK-NEXT:    static bool sparcc_loaded = false;
// CHECK-NEXT:    if (!sparcc_loaded) { sparcc_load_weights(sparcc_wts); sparcc_loaded = true; }
// CHECK:       extern "C" void sparcc_set_weights(const unsigned int *words) { sparcc_weight_words = words; }
// CHECK:         sparcc_top((float *)args[0], (float *)args[1], sparcc_weight_words);

// 36 words after the AXI latency of 64: 100 cycles, on the first call only.
// QOR: the first call loads the weights first: 100 cycles

// BAD: error: hls weights 'rom': expected one of auto, header, bin
