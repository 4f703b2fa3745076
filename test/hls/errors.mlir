// Schedules and IR the hls emitter refuses, each with one line naming why.
// RUN: not python -m sparcc.backends.hls %s --schedule '{"nest0": {"unroll": 3}}' 2>&1 | FileCheck %s --check-prefix=UNROLL
// RUN: not python -m sparcc.backends.hls %s --schedule '{"*": {"pipeline": 1}}' 2>&1 | FileCheck %s --check-prefix=II
// RUN: not python -m sparcc.backends.hls %s --schedule '{"*": {"partition": {"w": "cyclic:3:1"}}}' --interface ap_memory 2>&1 | FileCheck %s --check-prefix=PART
// RUN: not python -m sparcc.backends.hls %s --schedule '{"*": {"partition": {"in1": "cyclic:3:1"}}}' --interface ap_memory 2>&1 | FileCheck %s --check-prefix=FACTOR
// RUN: not python -m sparcc.backends.hls %s --precision '*=ap_fixed<40,6>' 2>&1 | FileCheck %s --check-prefix=PREC
// RUN: not python -m sparcc.backends.hls %s --interface axi 2>&1 | FileCheck %s --check-prefix=IFACE

func.func @forward(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %out: memref<4x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  bufferization.materialize_in_destination %m in restrict writable %out : (tensor<4x16xf32>, memref<4x16xf32>) -> ()
  return
}

// UNROLL: error: hls schedule for layer nest0: unroll factor 3 must divide the trip count 16 of loop L0_1 (or be 0: complete)
// II: error: hls schedule for layer nest1: pipeline II=1 on loop L1_2 is impossible: recurrence needs II >= 4
// PART: error: partition names 'w', which is not an array of this kernel
// FACTOR: error: partition of in1: factor 3 does not divide its 128 elements; choose a divisor
// PREC: error: hls precision *=ap_fixed<40,6>: expected float or ap_fixed<W,I> with 2 <= W <= 26
// IFACE: error: hls interface 'axi': expected one of m_axi, ap_memory, stream
