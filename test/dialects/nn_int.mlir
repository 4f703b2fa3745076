// Round trip of the nn dialect's integer shifts: custom form -> print ->
// parse, and generic.
// RUN: sparcc-opt %s | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | sparcc-opt | filecheck %s

// CHECK-LABEL: func.func @shifts(
// CHECK-NEXT:    %0 = nn.shl %x, %y : tensor<4xi32>, tensor<i32> -> tensor<4xi32>
// CHECK-NEXT:    %1 = nn.shr %0, %x : tensor<4xi32>, tensor<4xi32> -> tensor<4xi32>
// CHECK-NEXT:    func.return %1 : tensor<4xi32>
func.func @shifts(%x: tensor<4xi32>, %y: tensor<i32>) -> tensor<4xi32> {
  %0 = nn.shl %x, %y : tensor<4xi32>, tensor<i32> -> tensor<4xi32>
  %1 = nn.shr %0, %x : tensor<4xi32>, tensor<4xi32> -> tensor<4xi32>
  func.return %1 : tensor<4xi32>
}
