// A weight used twice (tied weights, a layer called twice) must be viewed
// through ONE `bufferization.to_tensor ... restrict`: `restrict` promises
// that no other to_tensor reads the same buffer, and one-shot bufferize
// relies on it. convert-nn-to-linalg folds each transpose into its own
// nn.weight op, so the pass must deduplicate the views, not only the
// arguments.
// RUN: sparcc-opt %s -p convert-nn-to-linalg,lower-entry-abi | filecheck %s

// CHECK-LABEL: func.func @tied(
// CHECK-SAME:      %[[WT:[^:]*]]: memref<8x16xf32>, %{{[^:]*}}: memref<4x16xf32>)
// CHECK-SAME:      sparcc.weights = [{name = "fc.weight", perm = array<i64: 1, 0>}]
// CHECK:         bufferization.to_tensor %[[WT]] restrict
// CHECK-NOT:     bufferization.to_tensor %[[WT]]
// CHECK:         func.return
func.func @tied(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %w = nn.weight @fc.weight : tensor<16x8xf32>
  %0 = nn.linear %x, %w : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  %1 = nn.linear %y, %w : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  %2 = nn.add %0, %1 : tensor<4x16xf32>, tensor<4x16xf32> -> tensor<4x16xf32>
  func.return %2 : tensor<4x16xf32>
}
