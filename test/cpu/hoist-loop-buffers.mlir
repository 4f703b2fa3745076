// hoist-loop-buffers (backends/cpu/plan_buffers.py:hoist_out_of_loops): a
// static buffer that a sequential loop's body allocates and frees moves out
// of the loop (its dealloc after the loop), out of nested loops too, so that
// upstream's buffer-loop-hoisting cannot move the allocation alone and free
// it once per iteration. Parallel bodies and escaping buffers keep theirs.
// RUN: sparcc-opt %s --mlir-pipeline='' --step cpu:hoist-loop-buffers | filecheck %s

func.func private @use(memref<64xf32>)

// CHECK-LABEL: func.func @nested(
// CHECK-NEXT:    %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[C1:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:    %[[A:.*]] = memref.alloc() : memref<64xf32>
// CHECK-NEXT:    %[[B:.*]] = memref.alloc() : memref<64xf32>
// CHECK-NEXT:    scf.for
// CHECK-NEXT:      call @use(%[[A]])
// CHECK-NEXT:      scf.for
// CHECK-NEXT:        call @use(%[[B]])
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// CHECK-NEXT:    memref.dealloc %[[B]]
// CHECK-NEXT:    memref.dealloc %[[A]]
// CHECK-NEXT:    return
func.func @nested(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %a = memref.alloc() : memref<64xf32>
    func.call @use(%a) : (memref<64xf32>) -> ()
    scf.for %j = %c0 to %n step %c1 {
      %b = memref.alloc() : memref<64xf32>
      func.call @use(%b) : (memref<64xf32>) -> ()
      memref.dealloc %b : memref<64xf32>
    }
    memref.dealloc %a : memref<64xf32>
  }
  return
}

// Left in place: a buffer yielded to the next iteration, one freed in a
// nested region only, one of dynamic size, and one in a parallel loop.
// CHECK-LABEL: func.func @kept(
// CHECK:         scf.for {{.*}} iter_args
// CHECK-NEXT:      memref.alloc() : memref<64xf32>
// CHECK:         scf.for
// CHECK-NEXT:      memref.alloc() : memref<64xf32>
// CHECK-NEXT:      scf.if
// CHECK:         scf.for
// CHECK-NEXT:      memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK:         scf.parallel
// CHECK-NEXT:      memref.alloc() : memref<64xf32>
func.func @kept(%n: index, %init: memref<64xf32>, %p: i1) -> memref<64xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%x = %init) -> (memref<64xf32>) {
    %a = memref.alloc() : memref<64xf32>
    func.call @use(%x) : (memref<64xf32>) -> ()
    scf.yield %a : memref<64xf32>
  }
  scf.for %i = %c0 to %n step %c1 {
    %a = memref.alloc() : memref<64xf32>
    scf.if %p {
      memref.dealloc %a : memref<64xf32>
    }
  }
  scf.for %i = %c0 to %n step %c1 {
    %a = memref.alloc(%i) : memref<?xf32>
    memref.dealloc %a : memref<?xf32>
  }
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %a = memref.alloc() : memref<64xf32>
    func.call @use(%a) : (memref<64xf32>) -> ()
    memref.dealloc %a : memref<64xf32>
    scf.reduce
  }
  return %r : memref<64xf32>
}
