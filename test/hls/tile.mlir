// The tile primitive (Allo's split + reorder) on a matmul [i, j, k]: tile [1, 4] splits j into
// j.outer (step 4) and j.point (4) and sinks the point loop below k, so the pipelined loop
// writes a new output each iteration and no longer waits for the accumulation.
// RUN: python -m sparcc.backends.hls %s --schedule '{"nest1": {"tile": [1, 4]}}' | FileCheck %s
// RUN: python -m sparcc.backends.hls %s --schedule '{"nest1": {"tile": [1, 4]}}' --emit qor | FileCheck %s --check-prefix=QOR
// RUN: python -m sparcc.backends.hls %s --schedule '{"nest1": {"tile": [1, 4], "unroll": 0}}' --interface ap_memory | FileCheck %s --check-prefix=UNROLL
// RUN: python -m sparcc.backends.hls %s --schedule '{"nest1": {"tile": [1, 4], "unroll": 0}}' --interface ap_memory --emit qor | FileCheck %s --check-prefix=UQOR
// RUN: not python -m sparcc.backends.hls %s --schedule '{"nest1": {"tile": [1, 3]}}' 2>&1 | FileCheck %s --check-prefix=FACTOR
// RUN: not python -m sparcc.backends.hls %s --schedule '{"nest1": {"tile": 4}}' 2>&1 | FileCheck %s --check-prefix=LIST
// RUN: python -m sparcc.backends.hls %s --schedule '{"*": {"tile": [3]}}' --emit qor | FileCheck %s --check-prefix=WILD

func.func @forward(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %out: memref<4x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  bufferization.materialize_in_destination %m in restrict writable %out : (tensor<4x16xf32>, memref<4x16xf32>) -> ()
  return
}

// CHECK:      // layer nest1
// CHECK-NEXT: L1: for (int i1 = 0; i1 < 4; i1 += 1) {
// CHECK-NEXT:   L1_1: for (int i1_1 = 0; i1_1 < 16; i1_1 += 4) {
// CHECK-NEXT:     L1_2: for (int i1_2 = 0; i1_2 < 8; i1_2 += 1) {
// CHECK-NEXT:       L1_3: for (int i1_3 = 0; i1_3 < 4; i1_3 += 1) {
// CHECK-NEXT:         #pragma HLS pipeline II=1
// CHECK-NEXT:         long long v1 = i1_1 + i1_3;
// CHECK-NEXT:         float v2 = in0[i1*8 + i1_2];
// CHECK-NEXT:         float v3 = in1[i1_2*16 + v1];
// CHECK-NEXT:         float v4 = out0[i1*16 + v1];
// CHECK-NEXT:         float v5 = v2 * v3;
// CHECK-NEXT:         float v6 = v4 + v5;
// CHECK-NEXT:         out0[i1*16 + v1] = v6;

// By hand: the point loop j.point, 4 iterations at II 1 (no recurrence: its store moves with it),
// depth load 2 + fmul 3 + fadd 4 + store 1 + entry 1 = 11: 3 + 11 = 14; k: 8 x (14 + 1) = 120;
// j.outer: 4 x (120 + 1) = 484; i: 4 x (484 + 1) = 1940 (untiled: 2564, emit-gemm.mlir).
// QOR: L1 {{ +}}nest1 {{ +}}1940 {{ +}}5 {{.*}}L1 4 > L1_1 4 > L1_2 8 > L1_3 4 II=1

// Unrolled completely (ap_memory, the arrays it walks partitioned by 4): one iteration of depth 11;
// k: 8 x 12 = 96; j.outer: 4 x 97 = 388; i: 4 x 389 = 1556; 4 fmul + 4 fadd = 20 DSP.
// UNROLL:      #pragma HLS array_partition variable=in1 cyclic factor=4 dim=1
// UNROLL:      L1_3: for (int i1_3 = 0; i1_3 < 4; i1_3 += 1) {
// UNROLL-NEXT:   #pragma HLS pipeline II=1
// UNROLL-NEXT:   #pragma HLS unroll
// UQOR: L1 {{ +}}nest1 {{ +}}1556 {{ +}}20 {{.*}}L1 4 > L1_1 4 > L1_2 8 > L1_3 4/u4 II=1

// FACTOR: error: hls schedule for layer nest1: tile factor 3 must divide the trip count 16 of loop 1 of the nest
// LIST: error: hls schedule for layer nest1: tile=4: expected a list of factors, one per loop of the nest
// WILD: warning: tile 3 from '*' does not divide loop 0 of a nest of layer nest0 (4 iterations): tiled by 2
