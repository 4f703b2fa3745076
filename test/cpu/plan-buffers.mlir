// plan-buffers (backends/cpu/plan_buffers.py): a function's intermediate
// buffers become views into one arena, allocated when the function starts;
// buffers whose lifetimes (allocation to last use) overlap never share bytes.
// RUN: sparcc-opt %s --mlir-pipeline='' --step cpu:plan-buffers | filecheck %s

func.func private @fill(memref<16x16xf32>)
func.func private @step(memref<16x16xf32>, memref<16x16xf32>)
func.func private @use(memref<256xf32>)

// %a dies at the second call, so %c takes its bytes; %b lives across both
// and gets its own. The deallocations go, the arena is freed before return.
// CHECK-LABEL: func.func @chain(
// CHECK-NEXT:    %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2048xi8>
// CHECK-NEXT:    arith.constant [[OA:[0-9]+]] : index
// CHECK-NEXT:    %[[A:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<2048xi8> to memref<16x16xf32>
// CHECK-NEXT:    call @fill(%[[A]])
// CHECK-NEXT:    arith.constant [[OB:[0-9]+]] : index
// CHECK-NEXT:    %[[B:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<2048xi8> to memref<16x16xf32>
// CHECK-NEXT:    call @step(%[[A]], %[[B]])
// CHECK-NEXT:    arith.constant [[OA]] : index
// CHECK-NEXT:    %[[C:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<2048xi8> to memref<16x16xf32>
// CHECK:         call @step(%[[B]], %[[C]])
// CHECK:         call @step(%[[C]], %arg0)
// CHECK-NOT:     memref.dealloc %[[A]]
// CHECK:         memref.dealloc %[[ARENA]] : memref<2048xi8>
// CHECK-NEXT:    return
func.func @chain(%out: memref<16x16xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16x16xf32>
  call @fill(%a) : (memref<16x16xf32>) -> ()
  %b = memref.alloc() {alignment = 64 : i64} : memref<16x16xf32>
  call @step(%a, %b) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  %c = memref.alloc() {alignment = 64 : i64} : memref<16x16xf32>
  call @step(%b, %c) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  call @step(%c, %out) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  memref.dealloc %a : memref<16x16xf32>
  memref.dealloc %b : memref<16x16xf32>
  memref.dealloc %c : memref<16x16xf32>
  return
}

// A view keeps its buffer alive: %a is read through %flat after %b is
// written, so the two do not share; %c reuses %a's bytes after that.
// CHECK-LABEL: func.func @through_a_view(
// CHECK:         arith.constant [[OA:[0-9]+]] : index
// CHECK-NEXT:    %[[A:.*]] = memref.view %{{.*}} : memref<2048xi8> to memref<16x16xf32>
// CHECK:         %[[FLAT:.*]] = memref.collapse_shape %[[A]]
// CHECK-NEXT:    arith.constant [[OB:[0-9]+]] : index
// CHECK-NEXT:    %[[B:.*]] = memref.view %{{.*}} : memref<2048xi8> to memref<16x16xf32>
// CHECK:         call @use(%[[FLAT]])
// CHECK-NEXT:    arith.constant [[OA]] : index
// CHECK-NEXT:    memref.view %{{.*}} : memref<2048xi8> to memref<16x16xf32>
func.func @through_a_view(%out: memref<16x16xf32>) {
  %a = memref.alloc() : memref<16x16xf32>
  call @fill(%a) : (memref<16x16xf32>) -> ()
  %flat = memref.collapse_shape %a [[0, 1]] : memref<16x16xf32> into memref<256xf32>
  %b = memref.alloc() : memref<16x16xf32>
  call @fill(%b) : (memref<16x16xf32>) -> ()
  call @use(%flat) : (memref<256xf32>) -> ()
  %c = memref.alloc() : memref<16x16xf32>
  call @step(%b, %c) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  call @step(%c, %out) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  memref.dealloc %a : memref<16x16xf32>
  memref.dealloc %b : memref<16x16xf32>
  memref.dealloc %c : memref<16x16xf32>
  return
}

// Not in the arena: a returned buffer, one freed under a condition, one of
// dynamic size, and one of i1 (its bytes are the lowering's business). Only
// %p and %q are planned; the unused %d and %i are freed where they are made.
// CHECK-LABEL: func.func @left_alone(
// CHECK:         %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2048xi8>
// CHECK:         %[[R:.*]] = memref.alloc() : memref<16x16xf32>
// CHECK:         %[[S:.*]] = memref.alloc() : memref<16x16xf32>
// CHECK:         %[[D:.*]] = memref.alloc(%arg1) : memref<?xf32>
// CHECK-NEXT:    memref.dealloc %[[D]]
// CHECK-NEXT:    %[[I:.*]] = memref.alloc() : memref<16xi1>
// CHECK-NEXT:    memref.dealloc %[[I]]
// CHECK:         memref.view %[[ARENA]]
// CHECK:         memref.view %[[ARENA]]
// CHECK:         scf.if %arg0 {
// CHECK-NEXT:      memref.dealloc %[[S]]
// CHECK:         memref.dealloc %[[ARENA]]
// CHECK-NEXT:    return %[[R]]
func.func @left_alone(%cond: i1, %n: index) -> memref<16x16xf32> {
  %r = memref.alloc() : memref<16x16xf32>
  %s = memref.alloc() : memref<16x16xf32>
  %d = memref.alloc(%n) : memref<?xf32>
  %i = memref.alloc() : memref<16xi1>
  %p = memref.alloc() : memref<16x16xf32>
  %q = memref.alloc() : memref<16x16xf32>
  call @step(%p, %q) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  call @step(%q, %r) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  call @fill(%s) : (memref<16x16xf32>) -> ()
  scf.if %cond {
    memref.dealloc %s : memref<16x16xf32>
  }
  memref.dealloc %d : memref<?xf32>
  memref.dealloc %i : memref<16xi1>
  memref.dealloc %p : memref<16x16xf32>
  memref.dealloc %q : memref<16x16xf32>
  return %r : memref<16x16xf32>
}

// Buffers of dynamic size stay buffers, each made just before its first use
// and freed just after its last, so that the runtime's free lists can hand
// %x's block to %z.
// CHECK-LABEL: func.func @dynamic_lifetimes(
// CHECK-NEXT:    %[[X:.*]] = memref.alloc(%arg0) : memref<?xf32>
// CHECK-NEXT:    call @fill_n(%[[X]])
// CHECK-NEXT:    %[[Y:.*]] = memref.alloc(%arg0) : memref<?xf32>
// CHECK-NEXT:    call @step_n(%[[X]], %[[Y]])
// CHECK-NEXT:    memref.dealloc %[[X]]
// CHECK-NEXT:    %[[Z:.*]] = memref.alloc(%arg0) : memref<?xf32>
// CHECK-NEXT:    call @step_n(%[[Y]], %[[Z]])
// CHECK-NEXT:    memref.dealloc %[[Y]]
// CHECK-NEXT:    call @step_n(%[[Z]], %arg1)
// CHECK-NEXT:    memref.dealloc %[[Z]]
// CHECK-NEXT:    return
func.func private @fill_n(memref<?xf32>)
func.func private @step_n(memref<?xf32>, memref<?xf32>)
func.func @dynamic_lifetimes(%n: index, %out: memref<?xf32>) {
  %x = memref.alloc(%n) : memref<?xf32>
  %y = memref.alloc(%n) : memref<?xf32>
  %z = memref.alloc(%n) : memref<?xf32>
  call @fill_n(%x) : (memref<?xf32>) -> ()
  call @step_n(%x, %y) : (memref<?xf32>, memref<?xf32>) -> ()
  call @step_n(%y, %z) : (memref<?xf32>, memref<?xf32>) -> ()
  call @step_n(%z, %out) : (memref<?xf32>, memref<?xf32>) -> ()
  memref.dealloc %x : memref<?xf32>
  memref.dealloc %y : memref<?xf32>
  memref.dealloc %z : memref<?xf32>
  return
}

// Storing into a buffer is a use like any other: both are planned.
// CHECK-LABEL: func.func @stored_into(
// CHECK:         %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2048xi8>
// CHECK:         %[[A:.*]] = memref.view %[[ARENA]]
// CHECK:         memref.store %arg0, %[[A]]
func.func @stored_into(%v: f32, %out: memref<16x16xf32>) {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<16x16xf32>
  memref.store %v, %a[%c0, %c0] : memref<16x16xf32>
  %b = memref.alloc() : memref<16x16xf32>
  call @step(%a, %b) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  call @step(%b, %out) : (memref<16x16xf32>, memref<16x16xf32>) -> ()
  memref.dealloc %a : memref<16x16xf32>
  memref.dealloc %b : memref<16x16xf32>
  return
}

// One plannable buffer: nothing to share, no arena.
// CHECK-LABEL: func.func @single(
// CHECK-NOT:     memref<{{[0-9]+}}xi8>
// CHECK:         return
func.func @single() {
  %a = memref.alloc() : memref<16x16xf32>
  call @fill(%a) : (memref<16x16xf32>) -> ()
  memref.dealloc %a : memref<16x16xf32>
  return
}
