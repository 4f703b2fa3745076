// widen-bool-tensors: no tensor<...xi1> is left; booleans are bytes (0/1) in
// memory and i1 only inside scalar code.
// RUN: sparcc-opt %s -p widen-bool-tensors | filecheck %s
// RUN: sparcc-opt %s -p widen-bool-tensors | filecheck %s --check-prefix=NOI1
// NOI1-NOT: tensor<{{[0-9x]*}}xi1>
// NOI1-NOT: tensor<i1>

// A generic that makes a mask widens its i1 result; one that reads a mask
// compares the byte with 0. Function signatures change with them.
// CHECK-LABEL: func.func @mask(%x: tensor<4xf32>, %m: tensor<4xi8>) -> (tensor<4xi8>, tensor<4xf32>)
// CHECK:         ^{{.*}}(%{{.*}}: f32, %{{.*}}: i8):
// CHECK-NEXT:      %{{.*}} = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      %[[C:.*]] = arith.cmpf ogt
// CHECK-NEXT:      %[[W:.*]] = arith.extui %[[C]] : i1 to i8
// CHECK-NEXT:      linalg.yield %[[W]] : i8
// CHECK-NEXT:    } -> tensor<4xi8>
// CHECK:         ins(%m, %x : tensor<4xi8>, tensor<4xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[B:.*]]: i8, %[[A:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[Z:.*]] = arith.constant 0 : i8
// CHECK-NEXT:      %[[T:.*]] = arith.cmpi ne, %[[B]], %[[Z]] : i8
// CHECK-NEXT:      %{{.*}} = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      arith.select %[[T]], %[[A]], %{{.*}} : f32
func.func @mask(%x: tensor<4xf32>, %m: tensor<4xi1>) -> (tensor<4xi1>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xi1>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xi1>) {
  ^bb0(%a: f32, %o: i1):
    %z = arith.constant 0.0 : f32
    %c = arith.cmpf ogt, %a, %z : f32
    linalg.yield %c : i1
  } -> tensor<4xi1>
  %f = tensor.empty() : tensor<4xf32>
  %1 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%m, %x : tensor<4xi1>, tensor<4xf32>) outs(%f : tensor<4xf32>) {
  ^bb0(%b: i1, %a: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %s = arith.select %b, %a, %z : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  func.return %0, %1 : tensor<4xi1>, tensor<4xf32>
}

// Fills widen their scalar; dense constants are rebuilt as bytes.
// CHECK-LABEL: func.func @fill_and_const() -> (tensor<2xi8>, tensor<i8>)
// CHECK:         %[[W:.*]] = arith.extui %{{.*}} : i1 to i8
// CHECK-NEXT:    linalg.fill ins(%[[W]] : i8) outs(%{{.*}} : tensor<2xi8>) -> tensor<2xi8>
// CHECK-NEXT:    arith.constant dense<1> : tensor<i8>
func.func @fill_and_const() -> (tensor<2xi1>, tensor<i1>) {
  %t = arith.constant true
  %e = tensor.empty() : tensor<2xi1>
  %0 = linalg.fill ins(%t : i1) outs(%e : tensor<2xi1>) -> tensor<2xi1>
  %1 = arith.constant dense<true> : tensor<i1>
  func.return %0, %1 : tensor<2xi1>, tensor<i1>
}

// A scalar read of a mask element compares the loaded byte with 0.
// CHECK-LABEL: func.func @extract(%m: tensor<3xi8>, %i: index) -> i1
// CHECK-NEXT:    %[[V:.*]] = tensor.extract %m[%i] : tensor<3xi8>
// CHECK-NEXT:    %[[Z:.*]] = arith.constant 0 : i8
// CHECK-NEXT:    %[[T:.*]] = arith.cmpi ne, %[[V]], %[[Z]] : i8
// CHECK-NEXT:    func.return %[[T]] : i1
func.func @extract(%m: tensor<3xi1>, %i: index) -> i1 {
  %0 = tensor.extract %m[%i] : tensor<3xi1>
  func.return %0 : i1
}

// A named op's implicit body takes bytes too (linalg.copy of a mask slice).
// CHECK-LABEL: func.func @copy(%m: tensor<4xi8>) -> tensor<2xi8>
// CHECK:         %[[S:.*]] = tensor.extract_slice %m[0] [2] [1] : tensor<4xi8> to tensor<2xi8>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<2xi8>
// CHECK-NEXT:    %[[C:.*]] = linalg.copy ins(%[[S]] : tensor<2xi8>) outs(%[[E]] : tensor<2xi8>) -> tensor<2xi8>
func.func @copy(%m: tensor<4xi1>) -> tensor<2xi1> {
  %s = tensor.extract_slice %m[0] [2] [1] : tensor<4xi1> to tensor<2xi1>
  %e = tensor.empty() : tensor<2xi1>
  %c = linalg.copy ins(%s : tensor<2xi1>) outs(%e : tensor<2xi1>) -> tensor<2xi1>
  func.return %c : tensor<2xi1>
}
