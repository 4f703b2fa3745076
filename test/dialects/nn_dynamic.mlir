// Dynamic shapes in the nn dialect: a `?` dim carries its symbolic size in the
// tensor's encoding, and the shape rules compute with the symbols.
// RUN: sparcc-opt %s | filecheck %s
// Invalid cases: nn_dynamic_invalid.mlir.

// CHECK-LABEL: func.func @shapes(
// CHECK:         nn.linear {{.*}} -> tensor<?x4xf32, "[s0, 4]">
// CHECK:         nn.concat {{.*}} -> tensor<?x4xf32, "[2*s0, 4]">
// CHECK:         nn.slice {{.*}}end = "s0"{{.*}} -> tensor<?x4xf32, "[s0 - 1, 4]">
// CHECK:         nn.add {{.*}} -> tensor<?x4xf32, "[s0, 4]">
func.func @shapes(%x: tensor<?x8xf32, "[s0, 8]">, %w: tensor<4x8xf32>, %b: tensor<1x4xf32>) -> tensor<?x4xf32, "[s0, 4]"> {
  %0 = nn.linear %x, %w : (tensor<?x8xf32, "[s0, 8]">, tensor<4x8xf32>) -> tensor<?x4xf32, "[s0, 4]">
  %1 = nn.concat %0, %0 {dim = 0 : i64} : (tensor<?x4xf32, "[s0, 4]">, tensor<?x4xf32, "[s0, 4]">) -> tensor<?x4xf32, "[2*s0, 4]">
  %2 = nn.slice %1 {dim = 0 : i64, start = 1 : i64, end = "s0", step = 1 : i64} : tensor<?x4xf32, "[2*s0, 4]"> -> tensor<?x4xf32, "[s0 - 1, 4]">
  %3 = nn.add %0, %b : tensor<?x4xf32, "[s0, 4]">, tensor<1x4xf32> -> tensor<?x4xf32, "[s0, 4]">
  func.return %3 : tensor<?x4xf32, "[s0, 4]">
}
