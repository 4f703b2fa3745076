// A CSR layer: hls-lower-sparse walks each row's entries pos[r] .. pos[r+1] with a loop
// whose bounds are data; the emitter prints it with its bounds read from pos and a
// loop_tripcount, the QoR model estimates its trips when the weights are not at hand
// (the emitter alone): 10 entries over 4 rows, ceil(10 / 4) = 3 a row.
// RUN: sparcc-opt %s -p hls-lower-sparse | FileCheck %s --check-prefix=PASS
// RUN: sparcc-opt %s -p hls-lower-sparse,convert-nn-to-linalg,fuse-elementwise,widen-bool-tensors,lower-entry-abi > %t.mlir
// RUN: python -m sparcc.backends.hls %t.mlir | FileCheck %s
// RUN: python -m sparcc.backends.hls %t.mlir --emit qor | FileCheck %s --check-prefix=QOR
// RUN: not python -m sparcc.backends.hls %t.mlir --schedule '{"g": {"unroll": 2}}' 2>&1 | FileCheck %s --check-prefix=UNROLL

func.func @csr(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = sparse.weight @"g.weight" {entries = array<i64: 4, 10>} : !sparse.tensor<4x8xf32, #sparse.format<"csr">>
  %b = nn.weight @"g.bias" : tensor<4xf32>
  %y = sparse.linear %x, %w, %b : tensor<2x8xf32>, !sparse.tensor<4x8xf32, #sparse.format<"csr">>, tensor<4xf32> -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}

// PASS-LABEL: @csr
// PASS:         %[[POS:.*]] = nn.weight @"g.weight#i0" : tensor<5xi32>
// PASS-NEXT:    %[[CRD:.*]] = nn.weight @"g.weight#i1" : tensor<10xi32>
// PASS-NEXT:    %[[VALS:.*]] = nn.weight @"g.weight#values" : tensor<10xf32>
// PASS:         scf.for %[[B:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// PASS-NEXT:      scf.for %[[R:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// PASS-NEXT:        %[[LO:.*]] = tensor.extract %[[POS]][%[[R]]] : tensor<5xi32>
// PASS:             %[[HI:.*]] = tensor.extract %[[POS]][%{{.*}}] : tensor<5xi32>
// PASS:             scf.for %[[P:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[Y:.*]] = %{{.*}}) -> (tensor<2x4xf32>) {
// PASS-NEXT:          %{{.*}} = tensor.extract %[[CRD]][%[[P]]] : tensor<10xi32>
// PASS:               tensor.extract %[[VALS]][%[[P]]] : tensor<10xf32>
// PASS:               tensor.insert %{{.*}} into %[[Y]][%[[B]], %[[R]]] : tensor<2x4xf32>
// PASS-NOT:     sparse.

// CHECK:      L1_1: for (int i1_1 = 0; i1_1 < 4; i1_1 += 1) {
// CHECK-NEXT:   int v2 = w_g_weight_i0[i1_1];
// CHECK-NEXT:   long long v3 = (long long)v2;
// CHECK-NEXT:   long long v4 = i1_1 + 1;
// CHECK-NEXT:   int v5 = w_g_weight_i0[v4];
// CHECK-NEXT:   long long v6 = (long long)v5;
// CHECK-NEXT:   L1_2: for (int i1_2 = v3; i1_2 < v6; i1_2 += 1) {
// CHECK-NEXT:     #pragma HLS pipeline II=4
// CHECK-NEXT:     #pragma HLS loop_tripcount min=0 max=10 avg=3
// CHECK-NEXT:     int v7 = w_g_weight_i1[i1_2];
// CHECK-NEXT:     long long v8 = (long long)v7;
// CHECK-NEXT:     float v9 = w_g_weight_values[i1_2];
// CHECK-NEXT:     float v10 = in0[i1*8 + v8];
// CHECK-NEXT:     float v11 = out0[i1*4 + i1_1];
// CHECK-NEXT:     float v12 = v9 * v10;
// CHECK-NEXT:     float v13 = v11 + v12;
// CHECK-NEXT:     out0[i1*4 + i1_1] = v13;

// By hand: a row of 3 entries at II 4 (the fadd recurrence), depth crd load 2 + x load 2 + fmul 3
// + fadd 4 + store 1 + entry 1 = 13: 2 * 4 + 13 = 21; the row loop 4 x (1 + 1) for the bound
// loads + 4 x 21 = 92; the batch 2 x (92 + 1) = 186.
// QOR:      warning: loop L1_2: its trip counts are data and the weights were not at hand
// QOR:      L1 {{ +}}g {{ +}}186 {{ +}}5 {{.*}}L1 2 > L1_1 4 > L1_2 3..3? II=4

// UNROLL: error: hls schedule for layer g: unroll 2: loop L1_1 (layer g) holds a loop whose trip count is data (a CSR row)
