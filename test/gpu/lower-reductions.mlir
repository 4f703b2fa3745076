// Reductions on the GPU: a row reduction runs one thread per row (the
// parallel dim is mapped, the reduced one is a loop in the thread); a full
// reduction to a scalar has no parallel dim and runs in a one-thread kernel,
// so that the host never touches device memory (with the fill of its
// result before it: consecutive serial ops share one kernel). A constant tensor becomes a
// buffer the plan uploads once.
// RUN: python -m sparcc.backends.gpu.lower %s --print kernels | filecheck %s
// RUN: python -m sparcc.backends.gpu.lower %s --print plan | filecheck %s --check-prefix=PLAN

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#all = affine_map<(d0, d1) -> ()>
func.func @forward(%x: memref<6x100xf32>, %rows: memref<6xf32>, %total: memref<f32>) attributes {sparcc.num_inputs = array<i64: 1>, sparcc.weights = []} {
  %0 = bufferization.to_tensor %x restrict : memref<6x100xf32> to tensor<6x100xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<6xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<6xf32>) -> tensor<6xf32>
  %r = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%0 : tensor<6x100xf32>) outs(%f : tensor<6xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %in, %acc : f32
    linalg.yield %s : f32
  } -> tensor<6xf32>
  %c = arith.constant dense<2.0> : tensor<f32>
  %e2 = tensor.empty() : tensor<f32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<f32>) -> tensor<f32>
  %t = linalg.generic {indexing_maps = [#id, #all, #all], iterator_types = ["reduction", "reduction"]} ins(%0, %c : tensor<6x100xf32>, tensor<f32>) outs(%f2 : tensor<f32>) {
  ^bb0(%in: f32, %k: f32, %acc: f32):
    %p = arith.mulf %in, %k : f32
    %s = arith.addf %p, %acc : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  bufferization.materialize_in_destination %r in restrict writable %rows : (tensor<6xf32>, memref<6xf32>) -> ()
  bufferization.materialize_in_destination %t in restrict writable %total : (tensor<f32>, memref<f32>) -> ()
  return
}

// CHECK-LABEL: gpu.module @sparcc_kernels
// CHECK:       gpu.func @forward_kernel_0(%[[R:.*]]: memref<6xf32>, %[[X:.*]]: memref<6x100xf32>) kernel
// CHECK:         %[[T:.*]] = gpu.thread_id  x
// CHECK:         %[[INIT:.*]] = memref.load %[[R]][%[[T]]]
// CHECK:         %[[SUM:.*]] = scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[INIT]])
// CHECK:           memref.load %[[X]][%[[T]], %[[K]]] : memref<6x100xf32>
// CHECK:         memref.store %[[SUM]], %[[R]][%[[T]]]
// the full reduction's accumulator stays in memory: the constant has its type, so promotion does not prove them apart
// CHECK:       gpu.func @forward_kernel_1(%{{.*}}: memref<f32>, %{{.*}}: memref<6x100xf32>, %{{.*}}: memref<f32>) kernel
// CHECK-NOT:     gpu.thread_id
// CHECK:         memref.store
// CHECK:         scf.for
// CHECK:           scf.for

// PLAN:      const {"shape": [], "dtype": "f32", "values": [2.0]}
// PLAN:      step {"op": "launch", "kernel": "forward_kernel_0", "grid": [1, 1, 1], "block": [6, 1, 1], "args": {{\[\["buf", "arg1"\], \["buf", "arg0"\]\]}}}
// PLAN:      step {"op": "launch", "kernel": "forward_kernel_1", "grid": [1, 1, 1], "block": [1, 1, 1], "args": {{\[\["buf", "arg2"\], \["buf", "arg0"\], \["buf", "const0"\]\]}}}
