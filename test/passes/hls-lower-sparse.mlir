// RUN: sparcc-opt %s -p hls-lower-sparse | FileCheck %s

// CHECK-LABEL: @two_of_four
// CHECK:         %[[CRD:.*]] = nn.weight @"fc.weight#i0" : tensor<8x4x2xi8>
// CHECK-NEXT:    %[[VALS:.*]] = nn.weight @"fc.weight#values" : tensor<8x4x2xf32>
// CHECK-NEXT:    %[[X4:.*]] = nn.reshape %x : tensor<2x16xf32> -> tensor<2x1x4x4xf32>
// CHECK-NEXT:    %[[XE:.*]] = nn.expand %[[X4]] : tensor<2x1x4x4xf32> -> tensor<2x8x4x4xf32>
// CHECK-NEXT:    %[[IDX:.*]] = nn.cast %[[CRD]] : tensor<8x4x2xi8> -> tensor<8x4x2xi64>
// CHECK:         %[[PICK:.*]] = nn.gather %[[XE]], %{{.*}} {dim = 3 : i64} : (tensor<2x8x4x4xf32>, tensor<2x8x4x2xi64>) -> tensor<2x8x4x2xf32>
// CHECK:         %[[PROD:.*]] = nn.mul %[[PICK]], %{{.*}}
// CHECK-NEXT:    %[[SUM:.*]] = nn.sum %[[PROD]] {dims = array<i64: 2, 3>}
// CHECK:         nn.add %[[SUM]], %{{.*}}
// CHECK-NOT:     sparse.
func.func @two_of_four(%x: tensor<2x16xf32>) -> tensor<2x8xf32> {
  %w = sparse.weight @"fc.weight" {entries = array<i64: 8, 32, 64>} : !sparse.tensor<8x16xf32, #sparse.format<"2:4">>
  %b = nn.weight @"fc.bias" : tensor<8xf32>
  %y = sparse.linear %x, %w, %b : tensor<2x16xf32>, !sparse.tensor<8x16xf32, #sparse.format<"2:4">>, tensor<8xf32> -> tensor<2x8xf32>
  func.return %y : tensor<2x8xf32>
}

// CHECK-LABEL: @ell
// CHECK:         %[[CRD:.*]] = nn.weight @"g.weight#i1" : tensor<4x5xi32>
// CHECK-NEXT:    %[[VALS:.*]] = nn.weight @"g.weight#values" : tensor<4x5xf32>
// CHECK-NEXT:    %[[X3:.*]] = nn.reshape %x : tensor<2x8xf32> -> tensor<2x1x8xf32>
// CHECK-NEXT:    %[[XE:.*]] = nn.expand %[[X3]] : tensor<2x1x8xf32> -> tensor<2x4x8xf32>
// CHECK:         nn.gather %[[XE]], %{{.*}} {dim = 2 : i64} : (tensor<2x4x8xf32>, tensor<2x4x5xi64>) -> tensor<2x4x5xf32>
// CHECK:         nn.sum %{{.*}} {dims = array<i64: 2>} : tensor<2x4x5xf32> -> tensor<2x4xf32>
func.func @ell(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = sparse.weight @"g.weight" {entries = array<i64: 4, 20>} : !sparse.tensor<4x8xf32, #sparse.format<"ell">>
  %y = sparse.linear %x, %w : tensor<2x8xf32>, !sparse.tensor<4x8xf32, #sparse.format<"ell">> -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}
