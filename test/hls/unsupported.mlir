// An op the emitter has no handler for is named, with its location.
// RUN: not python -m sparcc.backends.hls %s 2>&1 | FileCheck %s

func.func private @helper(memref<4xf32>)
func.func @forward(%a: memref<4xf32>, %out: memref<4xf32>) {
  func.call @helper(%a) : (memref<4xf32>) -> () loc("model.py":12:3)
  return
}
// CHECK: error: the hls target cannot emit a call to 'helper' (at "model.py":12:3): it emits loops only and has no kernel library to call
