// convert-nn-to-linalg on the integer shifts: one arith shift each, a left
// shift and an arithmetic (sign-filling) right shift; the frontend keeps the
// amounts inside [0, width).
// RUN: sparcc-opt %s -p convert-nn-to-linalg | filecheck %s

// CHECK-LABEL: func.func @shifts(
// CHECK:         linalg.generic
// CHECK:           arith.shli %{{.*}}, %{{.*}} : i8
// CHECK:         linalg.generic
// CHECK:           arith.shrsi %{{.*}}, %{{.*}} : i8
// CHECK-NOT:     arith.shrui
func.func @shifts(%x: tensor<4xi8>, %y: tensor<i8>) -> tensor<4xi8> {
  %0 = nn.shl %x, %y : tensor<4xi8>, tensor<i8> -> tensor<4xi8>
  %1 = nn.shr %0, %y : tensor<4xi8>, tensor<i8> -> tensor<4xi8>
  func.return %1 : tensor<4xi8>
}
