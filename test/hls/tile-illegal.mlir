// Tiling reorders iterations: a nest that reads an array it writes at another address (here a
// sum down the columns) is refused. The check is conservative: it does not analyse the
// dependence distances (this tile would happen to keep them), it accepts only accumulators.
// RUN: not python -m sparcc.backends.hls %s --schedule '{"nest0": {"tile": [3, 4]}}' 2>&1 | FileCheck %s

func.func @forward(%a: memref<4x8xf32>, %out: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  scf.for %i = %c1 to %c4 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %p = arith.subi %i, %c1 : index
      %prev = memref.load %out[%p, %j] : memref<4x8xf32>
      %x = memref.load %a[%i, %j] : memref<4x8xf32>
      %s = arith.addf %prev, %x : f32
      memref.store %s, %out[%i, %j] : memref<4x8xf32>
    }
  }
  return
}
// CHECK: error: hls schedule for layer nest0: tile [3, 4]: it reads an array it writes at another address, and reordering its iterations could change the result
