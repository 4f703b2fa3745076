// The CPU runtime's index-check hook on the GPU: each call becomes stores of
// (kind, dim, value, size) into a new last argument, memref<4xi64>, which the
// executable zeroes before a call and reads after it (plan.error_arg).
// RUN: python -m sparcc.backends.gpu.lower %s --print kernels | filecheck %s
// RUN: python -m sparcc.backends.gpu.lower %s --print plan | filecheck %s --check-prefix=PLAN

func.func private @sparcc_rt_index_error(i64, i64, i64, i64) -> ()
func.func @forward(%x: memref<4xi64>, %out: memref<4xi64>) attributes {sparcc.num_inputs = array<i64: 1>, sparcc.weights = []} {
  %0 = bufferization.to_tensor %x restrict : memref<4xi64> to tensor<4xi64>
  %c0 = arith.constant 0 : index
  %v = tensor.extract %0[%c0] : tensor<4xi64>
  %size = arith.constant 10 : i64
  %bad = arith.cmpi sge, %v, %size : i64
  scf.if %bad {
    %kind = arith.constant 2 : i64
    %dim = arith.constant 0 : i64
    func.call @sparcc_rt_index_error(%kind, %dim, %v, %size) : (i64, i64, i64, i64) -> ()
  }
  bufferization.materialize_in_destination %0 in restrict writable %out : (tensor<4xi64>, memref<4xi64>) -> ()
  return
}

// CHECK-LABEL: gpu.module @sparcc_kernels
// CHECK:       gpu.func @forward_kernel(%[[X:.*]]: memref<4xi64>, %[[ERR:.*]]: memref<4xi64>) kernel
// CHECK:         scf.if
// CHECK:           memref.store %{{.*}}, %[[ERR]][%{{.*}}] : memref<4xi64>
// CHECK-COUNT-3:   memref.store %{{.*}}, %[[ERR]][%{{.*}}] : memref<4xi64>
// CHECK-NOT:     func.call

// PLAN: arg {"kind": "arg", "index": 2, "shape": [4], "dtype": "i64"}
// PLAN: step {"op": "launch", "kernel": "forward_kernel", "grid": [1, 1, 1], "block": [1, 1, 1], "args": {{\[\["buf", "arg0"\], \["buf", "arg2"\]\]}}}
