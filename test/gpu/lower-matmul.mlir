// The GPU lowering of a matmul whose sizes the block tile (8 x 32) does not
// divide: blocks over tiles (the dim with more tiles on x), threads inside a
// tile with x on the innermost (contiguous) dim, guards on the last tiles,
// the reduction in each thread with its accumulator in a register.
// RUN: python -m sparcc.backends.gpu.lower %s --print kernels | filecheck %s --check-prefix=KERNELS
// RUN: python -m sparcc.backends.gpu.lower %s --print plan | filecheck %s --check-prefix=PLAN
// RUN: python -m sparcc.backends.gpu.lower %s --print ptx --arch sm_80 | filecheck %s --check-prefix=PTX80
// RUN: python -m sparcc.backends.gpu.lower %s --print ptx --arch sm_90 | filecheck %s --check-prefix=PTX90

func.func @forward(%a: memref<33x40xf32>, %b: memref<40x70xf32>, %out: memref<33x70xf32>) attributes {sparcc.num_inputs = array<i64: 2>, sparcc.weights = []} {
  %0 = bufferization.to_tensor %a restrict : memref<33x40xf32> to tensor<33x40xf32>
  %1 = bufferization.to_tensor %b restrict : memref<40x70xf32> to tensor<40x70xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<33x70xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<33x70xf32>) -> tensor<33x70xf32>
  %m = linalg.matmul ins(%0, %1 : tensor<33x40xf32>, tensor<40x70xf32>) outs(%f : tensor<33x70xf32>) -> tensor<33x70xf32>
  bufferization.materialize_in_destination %m in restrict writable %out : (tensor<33x70xf32>, memref<33x70xf32>) -> ()
  return
}

// KERNELS-DAG: #[[ROWS:.*]] = affine_map<()[s0] -> (s0 * -8 + 33, 8)>
// KERNELS-DAG: #[[COLS:.*]] = affine_map<()[s0] -> (s0 * -32 + 70, 32)>
// KERNELS-LABEL: gpu.module @sparcc_kernels
// KERNELS:       gpu.func @forward_kernel(%{{.*}}: memref<33x70xf32>) kernel
// KERNELS:         memref.store
// KERNELS:       gpu.func @forward_kernel_0(%[[C:.*]]: memref<33x70xf32>, %[[A:.*]]: memref<33x40xf32>, %[[B:.*]]: memref<40x70xf32>) kernel
// KERNELS:         %[[BX:.*]] = gpu.block_id  x
// KERNELS:         %[[BY:.*]] = gpu.block_id  y
// KERNELS:         %[[TX:.*]] = gpu.thread_id  x
// KERNELS:         %[[TY:.*]] = gpu.thread_id  y
// KERNELS:         %[[NR:.*]] = affine.min #[[ROWS]]()[%[[BX]]]
// KERNELS:         %[[NC:.*]] = affine.min #[[COLS]]()[%[[BY]]]
// KERNELS:         arith.cmpi slt, %[[TY]], %[[NR]]
// KERNELS:         arith.cmpi slt, %[[TX]], %[[NC]]
// the accumulator lives in a register across the reduction (promote_accumulators)
// KERNELS:         %[[INIT:.*]] = memref.load %[[C]][%[[I:.*]], %[[J:.*]]] : memref<33x70xf32>
// KERNELS-NEXT:    %[[SUM:.*]] = scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[INIT]]) -> (f32) {
// KERNELS-NEXT:      memref.load %[[A]][%[[I]], %[[K]]]
// KERNELS-NEXT:      memref.load %[[B]][%[[K]], %[[J]]]
// KERNELS-NEXT:      %[[P:.*]] = arith.mulf
// KERNELS-NEXT:      %[[S:.*]] = arith.addf %[[ACC]], %[[P]] : f32
// KERNELS-NEXT:      scf.yield %[[S]] : f32
// KERNELS-NEXT:    }
// KERNELS-NEXT:    memref.store %[[SUM]], %[[C]][%[[I]], %[[J]]] : memref<33x70xf32>
// KERNELS:       gpu.return

// PLAN:      arg {"kind": "arg", "index": 0, "shape": [33, 40], "dtype": "f32"}
// PLAN-NEXT: arg {"kind": "arg", "index": 1, "shape": [40, 70], "dtype": "f32"}
// PLAN-NEXT: arg {"kind": "arg", "index": 2, "shape": [33, 70], "dtype": "f32"}
// PLAN-NEXT: step {"op": "launch", "kernel": "forward_kernel", "grid": [5, 3, 1], "block": [32, 8, 1], "args": {{\[\["buf", "arg2"\]\]}}}
// PLAN-NEXT: step {"op": "launch", "kernel": "forward_kernel_0", "grid": [5, 3, 1], "block": [32, 8, 1], "args": {{\[\["buf", "arg2"\], \["buf", "arg0"\], \["buf", "arg1"\]\]}}}

// PTX80: .version 8.0
// PTX80: .target sm_80
// PTX80: .visible .entry forward_kernel(
// PTX80: .visible .entry forward_kernel_0(
// PTX90: .target sm_90
// PTX90: .visible .entry forward_kernel_0(
