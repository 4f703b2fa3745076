// Dataflow between layers: a matmul (its fill and accumulation: one process, they write one
// array) then an elementwise exp, connected by an hls::stream as deep as the array; the ports are
// read and written by the processes that use them.
// RUN: python -m sparcc.backends.hls %s --schedule '{"dataflow": true}' | FileCheck %s
// RUN: python -m sparcc.backends.hls %s --schedule '{"dataflow": true}' --emit qor | FileCheck %s --check-prefix=QOR

func.func @forward(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %out: memref<4x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %e2 = tensor.empty() : tensor<4x16xf32>
  %x = linalg.exp ins(%m : tensor<4x16xf32>) outs(%e2 : tensor<4x16xf32>) -> tensor<4x16xf32>
  bufferization.materialize_in_destination %x in restrict writable %out : (tensor<4x16xf32>, memref<4x16xf32>) -> ()
  return
}

// CHECK-LABEL: // process sparcc_p0 (layer nest0, nest1)
// CHECK-NEXT:  static void sparcc_p0(const float in0_port[32], const float in1_port[128], hls::stream<float> &s_buf0_p1) {
// CHECK-NEXT:    static float buf0[64];
// CHECK-NEXT:    static float in0[32];
// CHECK-NEXT:    static float in1[128];
// CHECK-NEXT:    read_in0: for (int i = 0; i < 32; ++i) {
// CHECK-NEXT:      #pragma HLS pipeline II=1
// CHECK-NEXT:      in0[i] = in0_port[i];
// CHECK:         L1_2: for (int i1_2 = 0; i1_2 < 8; i1_2 += 1) {
// CHECK:         write_buf0: for (int i = 0; i < 64; ++i) {
// CHECK-NEXT:      #pragma HLS pipeline II=1
// CHECK-NEXT:      s_buf0_p1.write(buf0[i]);
// CHECK-LABEL: // process sparcc_p1 (layer nest2)
// CHECK-NEXT:  static void sparcc_p1(hls::stream<float> &s_buf0_p1, float out0_port[64]) {
// CHECK:           buf0[i] = s_buf0_p1.read();
// CHECK:           float v{{[0-9]+}} = std::exp(v{{[0-9]+}});
// CHECK:           out0_port[i] = out0[i];
// CHECK-LABEL: void sparcc_top(const float in0_port[32], const float in1_port[128], float out0_port[64]) {
// CHECK:       #pragma HLS interface s_axilite port=return
// CHECK-NEXT:  #pragma HLS dataflow
// CHECK-NEXT:    hls::stream<float> s_buf0_p1;
// CHECK-NEXT:    #pragma HLS stream variable=s_buf0_p1 depth=64
// CHECK-NEXT:    sparcc_p0(in0_port, in1_port, s_buf0_p1);
// CHECK-NEXT:    sparcc_p1(s_buf0_p1, out0_port);

// By hand. p0: reads 32 + 64 and 128 + 64 (m_axi), the fill 72 and matmul 2564 (emit-gemm.mlir),
// streams 64 + 2 out: 288 + 2636 + 66 = 2990. p1: reads 64 + 2, the exp nest 4 x ((16 - 1) + 14 + 1)
// = 120 (depth: load 2, exp 10, store 1, entry 1), writes 64 + 64: 66 + 120 + 128 = 314. Latency
// 2990 + 314 + 2 = 3306 (within one call each process waits for all its input); interval: the
// slower process, 2990 + 1.
// QOR: latency 3306 cycles ({{.*}}), interval 2991 cycles
