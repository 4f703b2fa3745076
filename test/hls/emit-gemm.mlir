// The hls emitter on a matmul: labelled loops, the heuristic's pipeline at
// the II the QoR model reaches (a float accumulation: 4), m_axi ports.
// RUN: python -m sparcc.backends.hls %s | FileCheck %s
// RUN: python -m sparcc.backends.hls %s --emit qor | FileCheck %s --check-prefix=QOR
// RUN: python -m sparcc.backends.hls %s --interface ap_memory --schedule '{"*": {"unroll": 4}}' | FileCheck %s --check-prefix=UNROLL
// RUN: python -m sparcc.backends.hls %s --precision '*=ap_fixed<16,6>' | FileCheck %s --check-prefix=FIXED

func.func @forward(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %out: memref<4x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  bufferization.materialize_in_destination %m in restrict writable %out : (tensor<4x16xf32>, memref<4x16xf32>) -> ()
  return
}

// CHECK-LABEL: static void sparcc_core(const float in0[32], const float in1[128], float out0[64]) {
// CHECK:      L0: for (int i0 = 0; i0 < 4; i0 += 1) {
// CHECK-NEXT:   L0_1: for (int i0_1 = 0; i0_1 < 16; i0_1 += 1) {
// CHECK-NEXT:     #pragma HLS pipeline II=1
// CHECK-NEXT:     out0[i0*16 + i0_1] = 0.0f;
// CHECK:      L1_2: for (int i1_2 = 0; i1_2 < 8; i1_2 += 1) {
// CHECK-NEXT:   #pragma HLS pipeline II=4
// CHECK-NEXT:   float v1 = in0[i1*8 + i1_2];
// CHECK-NEXT:   float v2 = in1[i1_2*16 + i1_1];
// CHECK-NEXT:   float v3 = out0[i1*16 + i1_1];
// CHECK-NEXT:   float v4 = v1 * v2;
// CHECK-NEXT:   float v5 = v3 + v4;
// CHECK-NEXT:   out0[i1*16 + i1_1] = v5;
// CHECK-LABEL: void sparcc_top(const float in0[32], const float in1[128], float out0[64]) {
// CHECK-NEXT: #pragma HLS interface m_axi port=in0 offset=slave bundle=gmem_in0 depth=32
// CHECK-NEXT: #pragma HLS interface m_axi port=in1 offset=slave bundle=gmem_in1 depth=128
// CHECK-NEXT: #pragma HLS interface m_axi port=out0 offset=slave bundle=gmem_out0 depth=64
// CHECK-NEXT: #pragma HLS interface s_axilite port=return
// CHECK-NEXT: static float in0_buf[32];
// CHECK:      read_in0: for (int i = 0; i < 32; ++i) {
// CHECK-NEXT:   #pragma HLS pipeline II=1
// CHECK-NEXT:   in0_buf[i] = in0[i];
// CHECK:      sparcc_core(in0_buf, in1_buf, out0_buf);
// CHECK:      extern "C" void sparcc_run(void **args) {
// CHECK-NEXT:   sparcc_top((float *)args[0], (float *)args[1], (float *)args[2]);

// The QoR model by hand. fill: the inner loop 16 iterations at II 1, depth store 1 + entry 1:
// 15 + 2 = 17; outer 4 x (17 + 1) = 72. matmul: inner (8 - 1) x II 4 + depth (load 2, fmul 3,
// fadd 4, store 1, entry 1 = 11) = 39; middle 16 x (39 + 1) = 640; outer 4 x (640 + 1) = 2564;
// copies between the m_axi ports and on-chip buffers: (32 + 64) + (128 + 64) + (64 + 64) = 416;
// + 2 for the call = 3054. DSP: fmul 3 + fadd 2.
// QOR:      latency 3054 cycles
// QOR:      L0 {{ +}}nest0 {{ +}}72
// QOR-NEXT: L1 {{ +}}nest1 {{ +}}2564 {{ +}}5 {{.*}}L1 4 > L1_1 16 > L1_2 8 II=4

// UNROLL:      #pragma HLS interface ap_memory port=in0
// UNROLL:      #pragma HLS array_partition variable=in1 cyclic factor=4 dim=1
// UNROLL-NEXT: #pragma HLS array_partition variable=out0 cyclic factor=4 dim=1
// UNROLL:      L1_1: for (int i1_1 = 0; i1_1 < 16; i1_1 += 1) {
// UNROLL-NEXT:   #pragma HLS unroll factor=4
// UNROLL-NEXT:   L1_2: for

// FIXED:      // layer nest1, ap_fixed<16,6>
// FIXED:      ap_fixed<16,6> v4 = v1 * v2;
// FIXED-NEXT: ap_fixed<16,6> v5 = v3 + v4;
// FIXED-NEXT: out0[i1*16 + i1_1] = (float)v5;
