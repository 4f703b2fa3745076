// What the GPU lowering refuses, with one message each: a call of a CPU
// kernel (a quantised or sparse layer's C kernel).
// RUN: not python -m sparcc.backends.gpu.lower %s 2>&1 | filecheck %s

func.func private @sparcc_qlinear_nf4(memref<4x8xf32>, memref<4x8xf32>)
func.func @forward(%x: memref<4x8xf32>, %out: memref<4x8xf32>) attributes {sparcc.num_inputs = array<i64: 1>, sparcc.weights = []} {
  func.call @sparcc_qlinear_nf4(%x, %out) : (memref<4x8xf32>, memref<4x8xf32>) -> ()
  return
}

// CHECK: error: the GPU target has no kernel for 'sparcc_qlinear_nf4' (a CPU kernel the model's lowering calls: a quantised or sparse layer); compile this model for target 'cpu'
