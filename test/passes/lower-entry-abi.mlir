// lower-entry-abi: inputs, then one buffer per distinct weight, then one
// destination per result; results are written, nothing is returned.
// RUN: sparcc-opt %s -p lower-entry-abi | filecheck %s
// After the lowering, the ABI pass leaves no nn op at all:
// RUN: sparcc-opt %s -p convert-nn-to-linalg,lower-entry-abi | filecheck %s --check-prefix=FULL
// With in-place-updates (the CPU target), an updated input is read through
// its result's destination:
// RUN: sparcc-opt %s -p 'lower-entry-abi{in-place-updates=true}' | filecheck %s --check-prefix=INPLACE

// Inputs become memref arguments read through a restrict tensor view.
// CHECK-LABEL: func.func @inputs(
// CHECK-SAME:      %[[X:[^:]*]]: memref<4x8xf32>, %[[Y:[^:]*]]: memref<8xf32>, %[[OUT:[^:]*]]: memref<4x8xf32>)
// CHECK-SAME:      attributes {sparcc.weights = [], sparcc.num_inputs = array<i64: 2>} {
// CHECK-NEXT:    %[[XT:.*]] = bufferization.to_tensor %[[X]] restrict : memref<4x8xf32> to tensor<4x8xf32>
// CHECK-NEXT:    %[[YT:.*]] = bufferization.to_tensor %[[Y]] restrict : memref<8xf32> to tensor<8xf32>
// CHECK-NEXT:    %[[R:.*]] = nn.add %[[XT]], %[[YT]]
// CHECK-NEXT:    bufferization.materialize_in_destination %[[R]] in restrict writable %[[OUT]] : (tensor<4x8xf32>, memref<4x8xf32>) -> ()
// CHECK-NEXT:    func.return{{$}}
// CHECK-NEXT:  }
func.func @inputs(%x: tensor<4x8xf32>, %y: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = nn.add %x, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// Weights are deduplicated by (name, perm), in order of first use, with one
// restrict view each; the same name with another layout is another buffer.
// CHECK-LABEL: func.func @weights(
// CHECK-SAME:      %[[X:[^:]*]]: memref<4x8xf32>, %[[W:[^:]*]]: memref<16x8xf32>, %[[WT:[^:]*]]: memref<8x16xf32>, %[[B:[^:]*]]: memref<16xf32>, %[[OUT:[^:]*]]: memref<4x16xf32>)
// CHECK-SAME:      attributes {sparcc.weights = [{name = "fc.weight"}, {name = "fc.weight", perm = array<i64: 1, 0>}, {name = "fc.bias"}], sparcc.num_inputs = array<i64: 1>}
// CHECK-NEXT:    bufferization.to_tensor %[[X]] restrict : memref<4x8xf32> to tensor<4x8xf32>
// CHECK-NEXT:    bufferization.to_tensor %[[W]] restrict : memref<16x8xf32> to tensor<16x8xf32>
// CHECK-NEXT:    bufferization.to_tensor %[[WT]] restrict : memref<8x16xf32> to tensor<8x16xf32>
// CHECK-NEXT:    bufferization.to_tensor %[[B]] restrict : memref<16xf32> to tensor<16xf32>
// CHECK-NOT:     nn.weight
// CHECK-NOT:     bufferization.to_tensor
// CHECK:         bufferization.materialize_in_destination %{{.*}} in restrict writable %[[OUT]] : (tensor<4x16xf32>, memref<4x16xf32>) -> ()
// CHECK-NEXT:    func.return{{$}}
func.func @weights(%x: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %w = nn.weight @fc.weight : tensor<16x8xf32>
  %wt = nn.weight @fc.weight {perm = array<i64: 1, 0>} : tensor<8x16xf32>
  %w2 = nn.weight @fc.weight : tensor<16x8xf32>
  %b = nn.weight @fc.bias : tensor<16xf32>
  %0 = nn.matmul %x, %wt : tensor<4x8xf32>, tensor<8x16xf32> -> tensor<4x16xf32>
  %1 = nn.linear %x, %w, %b : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %2 = nn.linear %x, %w2 : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  %3 = nn.add %0, %1 : tensor<4x16xf32>, tensor<4x16xf32> -> tensor<4x16xf32>
  %4 = nn.add %3, %2 : tensor<4x16xf32>, tensor<4x16xf32> -> tensor<4x16xf32>
  func.return %4 : tensor<4x16xf32>
}

// Each result gets its own destination, in order; returning an input copies it.
// CHECK-LABEL: func.func @results(
// CHECK-SAME:      %[[X:[^:]*]]: memref<4xf32>, %[[OUT0:[^:]*]]: memref<4xf32>, %[[OUT1:[^:]*]]: memref<4xf32>)
// CHECK-SAME:      sparcc.num_inputs = array<i64: 1>
// CHECK-NEXT:    %[[XT:.*]] = bufferization.to_tensor %[[X]] restrict
// CHECK-NEXT:    %[[R:.*]] = nn.relu %[[XT]]
// CHECK-NEXT:    bufferization.materialize_in_destination %[[R]] in restrict writable %[[OUT0]]
// CHECK-NEXT:    bufferization.materialize_in_destination %[[XT]] in restrict writable %[[OUT1]]
// CHECK-NEXT:    func.return{{$}}
func.func @results(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = nn.relu %x : tensor<4xf32>
  func.return %0, %x : tensor<4xf32>, tensor<4xf32>
}

// A function without a body keeps its signature.
// CHECK-LABEL: func.func private @declaration(tensor<4xf32>) -> tensor<4xf32>{{$}}
func.func private @declaration(tensor<4xf32>) -> tensor<4xf32>

// After convert-nn-to-linalg, the weight's transpose is a weight buffer of its
// own, read by the linalg.matmul through its single restrict view.
// FULL-LABEL: func.func @linear(
// FULL-SAME:      %[[X:[^:]*]]: memref<2x8xf32>, %[[B:[^:]*]]: memref<16xf32>, %[[WT:[^:]*]]: memref<8x16xf32>, %[[OUT:[^:]*]]: memref<2x16xf32>)
// FULL-SAME:      sparcc.weights = [{name = "fc.bias"}, {name = "fc.weight", perm = array<i64: 1, 0>}]
// FULL-NEXT:     %[[XT:.*]] = bufferization.to_tensor %[[X]] restrict : memref<2x8xf32> to tensor<2x8xf32>
// FULL-NEXT:     %[[BT:.*]] = bufferization.to_tensor %[[B]] restrict : memref<16xf32> to tensor<16xf32>
// FULL-NEXT:     %[[WTT:.*]] = bufferization.to_tensor %[[WT]] restrict : memref<8x16xf32> to tensor<8x16xf32>
// FULL-NOT:      nn.
// FULL-NOT:      bufferization.to_tensor
// FULL:          %[[Y:.*]] = linalg.matmul ins(%[[XT]], %[[WTT]] : tensor<2x8xf32>, tensor<8x16xf32>)
// FULL:          %[[R:.*]] = linalg.generic {{.*}} ins(%[[Y]], %[[BT]] : tensor<2x16xf32>, tensor<16xf32>)
// FULL:            arith.addf
// FULL:          bufferization.materialize_in_destination %[[R]] in restrict writable %[[OUT]]
// FULL-NOT:      nn.
func.func @linear(%x: tensor<2x8xf32>) -> tensor<2x16xf32> {
  %w = nn.weight @fc.weight : tensor<16x8xf32>
  %b = nn.weight @fc.bias : tensor<16xf32>
  %0 = nn.linear %x, %w, %b : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<2x16xf32>
  func.return %0 : tensor<2x16xf32>
}

// A weight whose every use was folded away (a conv weight after im2col, say)
// gets no argument.
// CHECK-LABEL: func.func @dead_weight(
// CHECK-SAME:      %{{[^:]*}}: memref<4xf32>, %[[W:[^:]*]]: memref<2x2xf32>, %{{[^:]*}}: memref<2x2xf32>)
// CHECK-SAME:      sparcc.weights = [{name = "w"}]
func.func @dead_weight(%x: tensor<4xf32>) -> tensor<2x2xf32> {
  %dead = nn.weight @w : tensor<4xf32>
  %w = nn.weight @w : tensor<2x2xf32>
  func.return %w : tensor<2x2xf32>
}

// A result that a C kernel wrote into its own buffer (lower-quant,
// lower-sparse) is written straight into the destination: the alloc becomes
// the destination argument and there is no copy. Returned twice, the second
// result is copied as usual.
// CHECK-LABEL: func.func @kernel_result(
// CHECK-SAME:      %[[D1:[^:]*]]: memref<4x8xf32>, %[[D2:[^:]*]]: memref<4x8xf32>)
// CHECK-NOT:     memref.alloc
// CHECK:         %[[P:.*]] = memref.reinterpret_cast %[[D1]]
// CHECK-NEXT:    func.call @kernel(%[[P]])
// CHECK-NEXT:    %[[T:.*]] = bufferization.to_tensor %[[D1]] restrict writable
// CHECK-NEXT:    bufferization.materialize_in_destination %[[T]] in restrict writable %[[D2]]
// CHECK-NEXT:    func.return
func.func private @kernel(memref<1xf32>)
func.func @kernel_result() -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<4x8xf32>
  %p = memref.reinterpret_cast %a to offset: [0], sizes: [1], strides: [1] : memref<4x8xf32> to memref<1xf32>
  func.call @kernel(%p) : (memref<1xf32>) -> ()
  %t = bufferization.to_tensor %a restrict writable : memref<4x8xf32> to tensor<4x8xf32>
  func.return %t, %t : tensor<4x8xf32>, tensor<4x8xf32>
}

// Result 0 is the new value of input 0 (sparcc.updates, from the frontend: a
// KV cache that the model updates in place). Without the option, nothing
// differs from any other result:
// CHECK-LABEL: func.func @update(
// CHECK-NOT:     memref.extract_aligned_pointer_as_index
// CHECK-NOT:     to_tensor {{.*}} writable
// CHECK:         bufferization.materialize_in_destination
// With it, the function copies the input into the destination unless the
// caller passed one buffer for both, and reads the input through the
// destination (restrict writable), so that bufferization updates it where it
// lies; result 1 (sparcc.updates has no entry for it) and input 1 are as before.
// INPLACE-LABEL: func.func @update(
// INPLACE-SAME:      %[[C:[^:]*]]: memref<8x4xf32>, %[[X:[^:]*]]: memref<4xf32>, %[[OUT:[^:]*]]: memref<8x4xf32>, %[[OUT1:[^:]*]]: memref<4xf32>)
// INPLACE-NEXT:    bufferization.to_tensor %[[X]] restrict : memref<4xf32> to tensor<4xf32>
// INPLACE-NEXT:    %[[P0:.*]] = "memref.extract_aligned_pointer_as_index"(%[[C]]) : (memref<8x4xf32>) -> index
// INPLACE-NEXT:    %[[P1:.*]] = "memref.extract_aligned_pointer_as_index"(%[[OUT]]) : (memref<8x4xf32>) -> index
// INPLACE-NEXT:    %[[NE:.*]] = arith.cmpi ne, %[[P0]], %[[P1]] : index
// INPLACE-NEXT:    scf.if %[[NE]] {
// INPLACE-NEXT:      "memref.copy"(%[[C]], %[[OUT]]) : (memref<8x4xf32>, memref<8x4xf32>) -> ()
// INPLACE-NEXT:    }
// INPLACE-NEXT:    %[[CT:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<8x4xf32> to tensor<8x4xf32>
// INPLACE-NOT:     bufferization.to_tensor %[[C]]
// INPLACE:         %[[NEW:.*]] = nn.add %[[CT]]
// INPLACE:         bufferization.materialize_in_destination %[[NEW]] in restrict writable %[[OUT]]
// INPLACE-NEXT:    bufferization.materialize_in_destination %{{.*}} in restrict writable %[[OUT1]]
func.func @update(%cache: tensor<8x4xf32>, %x: tensor<4xf32>) -> (tensor<8x4xf32>, tensor<4xf32>) attributes {sparcc.updates = array<i64: 0>} {
  %0 = nn.add %cache, %x : tensor<8x4xf32>, tensor<4xf32> -> tensor<8x4xf32>
  %1 = nn.relu %x : tensor<4xf32>
  func.return %0, %1 : tensor<8x4xf32>, tensor<4xf32>
}

// -1: the input has other readers; it stays an input like any other.
// INPLACE-LABEL: func.func @read_elsewhere(
// INPLACE-NOT:     memref.extract_aligned_pointer_as_index
// INPLACE-NOT:     to_tensor {{.*}} writable
// INPLACE:         func.return
func.func @read_elsewhere(%cache: tensor<8x4xf32>, %x: tensor<4xf32>) -> (tensor<8x4xf32>, tensor<8x4xf32>) attributes {sparcc.updates = array<i64: -1>} {
  %0 = nn.add %cache, %x : tensor<8x4xf32>, tensor<4xf32> -> tensor<8x4xf32>
  %1 = nn.relu %cache : tensor<8x4xf32>
  func.return %0, %1 : tensor<8x4xf32>, tensor<8x4xf32>
}
