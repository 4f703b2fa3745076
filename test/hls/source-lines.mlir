// An op without a location of its own is named by the source marker before its statement
// (hls-lower-sparse puts one before each source line's ops; the frontend knows the lines):
// the call in the second nest comes from model.py:9.
// RUN: not python -m sparcc.backends.hls %s 2>&1 | FileCheck %s

func.func private @helper(f32) -> f32
func.func @forward(%a: memref<4xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  "hls.source"() {location = "model.py:7"} : () -> ()
  scf.for %i = %c0 to %c4 step %c1 {
    %x = memref.load %a[%i] : memref<4xf32>
    memref.store %x, %out[%i] : memref<4xf32>
  }
  "hls.source"() {location = "model.py:9"} : () -> ()
  scf.for %i = %c0 to %c4 step %c1 {
    %x = memref.load %out[%i] : memref<4xf32>
    %y = func.call @helper(%x) : (f32) -> f32
    memref.store %y, %out[%i] : memref<4xf32>
  }
  return
}
// CHECK: error: the hls target cannot emit a call to 'helper' (at model.py:9): it emits loops only
