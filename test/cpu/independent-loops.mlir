// independent-loops-to-forall (backends/cpu/__init__.py): an scf.for that the
// lowering marked `sparcc.independent_iterations` (fused attention's blocks
// of queries) becomes an scf.forall, which the parallel stage shares among
// the threads, when it counts from 0 by 1, carries no values, and has at
// least as many iterations as threads, or a number known only at run time
// (a dynamic program's blocks; the step runs as for 2 threads).
// RUN: sparcc-opt %s --mlir-pipeline='' --step cpu:independent-loops-to-forall | filecheck %s

func.func private @work(index, memref<4x8xf32>)

// CHECK-LABEL: func.func @marked(
// CHECK:         scf.forall (%[[I:.*]]) in (4) {
// CHECK-NEXT:      func.call @work(%[[I]], %{{.*}})
// CHECK-NEXT:    } {sparcc.fusion = "blocks", sparcc.independent_iterations}
// CHECK-NOT:     scf.for
func.func @marked(%out: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    func.call @work(%i, %out) : (index, memref<4x8xf32>) -> ()
  } {sparcc.independent_iterations, sparcc.fusion = "blocks"}
  return
}

// CHECK-LABEL: func.func @dynamic(
// CHECK:         scf.forall (%[[I:.*]]) in (%{{.*}}) {
func.func @dynamic(%out: memref<4x8xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    func.call @work(%i, %out) : (index, memref<4x8xf32>) -> ()
  } {sparcc.independent_iterations}
  return
}

// Kept: not marked; one iteration (fewer than the threads); a step of 2;
// a loop that carries a value.
// CHECK-LABEL: func.func @kept(
// CHECK-NOT:     scf.forall
// CHECK-COUNT-4: scf.for
func.func @kept(%out: memref<4x8xf32>, %n: index, %x: f32) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    func.call @work(%i, %out) : (index, memref<4x8xf32>) -> ()
  }
  scf.for %i = %c0 to %c1 step %c1 {
    func.call @work(%i, %out) : (index, memref<4x8xf32>) -> ()
  } {sparcc.independent_iterations}
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %n step %c2 {
    func.call @work(%i, %out) : (index, memref<4x8xf32>) -> ()
  } {sparcc.independent_iterations}
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%a = %x) -> (f32) {
    %b = arith.addf %a, %a : f32
    scf.yield %b : f32
  } {sparcc.independent_iterations}
  return %r : f32
}
