// convert-nn-to-linalg on integers, bools, casts and indexing.
// RUN: sparcc-opt %s -p convert-nn-to-linalg | filecheck %s

// The runtime hook of the index checks is declared once.
// CHECK: func.func private @sparcc_rt_index_error(i64, i64, i64, i64)

// Integer compares are signed; the mask selects in the consumer.
// CHECK-LABEL: func.func @compare_where(
// CHECK:           arith.cmpi slt, %{{.*}}, %{{.*}} : i64
// CHECK:         } -> tensor<4xi1>
// CHECK:         ^{{.*}}(%[[C:.*]]: i1, %[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.select %[[C]], %[[A]], %[[B]] : f32
func.func @compare_where(%x: tensor<4xf32>, %i: tensor<4xi64>) -> tensor<4xf32> {
  %0 = nn.compare %i, %i {predicate = "lt"} : tensor<4xi64>, tensor<4xi64> -> tensor<4xi1>
  %1 = nn.where %0, %x, %x : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}

// PyTorch's conversions: float -> int truncates, -> bool is != 0 (NaN is true), -> bf16 rounds.
// CHECK-LABEL: func.func @cast(
// CHECK:           arith.fptosi %{{.*}} : f32 to i64
// CHECK:           %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      arith.cmpf une, %{{.*}}, %[[Z]] : f32
// CHECK:           arith.truncf %{{.*}} : f32 to bf16
func.func @cast(%x: tensor<4xf32>) -> (tensor<4xi64>, tensor<4xi1>, tensor<4xbf16>) {
  %0 = nn.cast %x : tensor<4xf32> -> tensor<4xi64>
  %1 = nn.cast %x : tensor<4xf32> -> tensor<4xi1>
  %2 = nn.cast %x : tensor<4xf32> -> tensor<4xbf16>
  func.return %0, %1, %2 : tensor<4xi64>, tensor<4xi1>, tensor<4xbf16>
}

// Integer division never traps: a zero divisor divides by one, and division
// by -1 is a wrapping negation (x86 idiv faults on INT_MIN / -1).
// CHECK-LABEL: func.func @int_div(
// CHECK:           %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-NEXT:      %[[M1:.*]] = arith.constant -1 : i64
// CHECK-NEXT:      %[[IS0:.*]] = arith.cmpi eq, %[[B:.*]], %[[ZERO]] : i64
// CHECK-NEXT:      %[[S1:.*]] = arith.select %[[IS0]], %[[ONE]], %[[B]] : i64
// CHECK-NEXT:      %[[ISM:.*]] = arith.cmpi eq, %[[S1]], %[[M1]] : i64
// CHECK-NEXT:      %[[S2:.*]] = arith.select %[[ISM]], %[[ONE]], %[[S1]] : i64
// CHECK-NEXT:      %[[Q:.*]] = arith.floordivsi %[[A:.*]], %[[S2]] : i64
// CHECK-NEXT:      %[[NEGB:.*]] = arith.cmpi eq, %[[B]], %[[M1]] : i64
// CHECK-NEXT:      %[[NEG:.*]] = arith.subi %[[ZERO]], %[[A]] : i64
// CHECK-NEXT:      arith.select %[[NEGB]], %[[NEG]], %[[Q]] : i64
func.func @int_div(%a: tensor<4xi64>) -> tensor<4xi64> {
  %0 = nn.floor_div %a, %a : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  func.return %0 : tensor<4xi64>
}

// Float floor division is PyTorch's div_floor, not floor(a / b) (1 // 0.1 is
// 9): (a - fmod(a, b)) / b, less one where fmod's sign is not b's, rounded to
// the nearest integer; a zero keeps the sign of a / b, a zero divisor gives a / b.
// CHECK-LABEL: func.func @float_floor_div(
// CHECK:           ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:      %[[MOD:.*]] = arith.remf %[[A]], %[[B]] : f32
// CHECK-NEXT:      %[[SUB:.*]] = arith.subf %[[A]], %[[MOD]] : f32
// CHECK-NEXT:      %[[DIV:.*]] = arith.divf %[[SUB]], %[[B]] : f32
// CHECK:           %[[FIXED:.*]] = arith.select %{{.*}}, %{{.*}}, %[[DIV]] : f32
// CHECK-NEXT:      %[[FLOOR:.*]] = math.floor %[[FIXED]] : f32
// CHECK:           %[[Q:.*]] = arith.divf %[[A]], %[[B]] : f32
// CHECK-NEXT:      %[[ISZERO:.*]] = arith.cmpf oeq, %[[FIXED]], %[[ZERO]] : f32
// CHECK-NEXT:      %[[SIGNED:.*]] = math.copysign %[[ZERO]], %[[Q]] : f32
// CHECK-NEXT:      %[[R:.*]] = arith.select %[[ISZERO]], %[[SIGNED]], %{{.*}} : f32
// CHECK-NEXT:      %[[BZERO:.*]] = arith.cmpf oeq, %[[B]], %[[ZERO]] : f32
// CHECK-NEXT:      arith.select %[[BZERO]], %[[Q]], %[[R]] : f32
func.func @float_floor_div(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.floor_div %a, %b : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// Integer aranges are exact: start + i * step in i64.
// CHECK-LABEL: func.func @arange(
// CHECK:           %[[I:.*]] = linalg.index 0 : index
// CHECK-NEXT:      %[[I64:.*]] = arith.index_cast %[[I]] : index to i64
// CHECK-NEXT:      %[[START:.*]] = arith.constant 3 : i64
// CHECK-NEXT:      %[[STEP:.*]] = arith.constant 2 : i64
// CHECK-NEXT:      %[[M:.*]] = arith.muli %[[I64]], %[[STEP]] : i64
// CHECK-NEXT:      arith.addi %[[START]], %[[M]] : i64
func.func @arange() -> tensor<5xi64> {
  %0 = nn.arange {start = 3.0 : f64, step = 2.0 : f64} : tensor<5xi64>
  func.return %0 : tensor<5xi64>
}

// cumsum: a masked reduction over an extra loop j <= i.
// CHECK-LABEL: func.func @cumsum(
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK:           %[[J:.*]] = linalg.index 2 : index
// CHECK-NEXT:      %[[I:.*]] = linalg.index 1 : index
// CHECK-NEXT:      arith.cmpi ule, %[[J]], %[[I]] : index
func.func @cumsum(%x: tensor<3x5xi64>) -> tensor<3x5xi64> {
  %0 = nn.cumsum %x {dim = 1 : i64} : tensor<3x5xi64> -> tensor<3x5xi64>
  func.return %0 : tensor<3x5xi64>
}

// gather: the index tensor is checked against [0, 8) (kind 3, dim 1), reads are clamped.
// CHECK-LABEL: func.func @gather(
// CHECK:         %[[SIZE:.*]] = arith.constant 8 : i64
// CHECK:         %[[KIND:.*]] = arith.constant 3 : i64
// CHECK-NEXT:    %[[DIM:.*]] = arith.constant 1 : i64
// CHECK-NEXT:    scf.if %{{.*}} {
// CHECK-NEXT:      func.call @sparcc_rt_index_error(%[[KIND]], %[[DIM]], %{{.*}}, %[[SIZE]])
// CHECK:           %[[ROW:.*]] = linalg.index 0 : index
// CHECK:           tensor.extract %x[%[[ROW]], %{{.*}}] : tensor<4x8xf32>
func.func @gather(%x: tensor<4x8xf32>, %g: tensor<4x2xi64>) -> tensor<4x2xf32> {
  %0 = nn.gather %x, %g {dim = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
  func.return %0 : tensor<4x2xf32>
}

// index: i32 indices widen to i64; negative ones count from the end (allowed down to -8).
// CHECK-LABEL: func.func @index_wrap(
// CHECK:         %[[LOW:.*]] = arith.constant -8 : i64
// CHECK-NEXT:    arith.cmpi slt, %{{.*}}, %[[LOW]] : i64
// CHECK:           %[[V:.*]] = arith.extsi %{{.*}} : i32 to i64
// CHECK-NEXT:      %[[Z:.*]] = arith.constant 0 : i64
// CHECK-NEXT:      %[[NEG:.*]] = arith.cmpi slt, %[[V]], %[[Z]] : i64
// CHECK-NEXT:      %[[N:.*]] = arith.constant 8 : i64
// CHECK-NEXT:      %[[UP:.*]] = arith.addi %[[V]], %[[N]] : i64
// CHECK-NEXT:      arith.select %[[NEG]], %[[UP]], %[[V]] : i64
func.func @index_wrap(%x: tensor<4x8xf32>, %i: tensor<3xi32>) -> tensor<4x3xf32> {
  %0 = nn.index %x[%i] {indexed = array<i64: 1>} : (tensor<4x8xf32>, tensor<3xi32>) -> tensor<4x3xf32>
  func.return %0 : tensor<4x3xf32>
}

// pad: a fill of the value (in the element type) with the input copied into its window.
// CHECK-LABEL: func.func @pad(
// CHECK:         %[[V:.*]] = arith.constant 7 : i64
// CHECK:         %[[F:.*]] = linalg.fill ins(%[[V]] : i64) outs(%{{.*}} : tensor<5x11xi64>) -> tensor<5x11xi64>
// CHECK-NEXT:    %[[W:.*]] = tensor.extract_slice %[[F]][1, 1] [4, 8] [1, 1]
// CHECK-NEXT:    %[[C:.*]] = linalg.copy ins(%x : tensor<4x8xi64>) outs(%[[W]] : tensor<4x8xi64>)
// CHECK-NEXT:    tensor.insert_slice %[[C]] into %[[F]][1, 1] [4, 8] [1, 1]
func.func @pad(%x: tensor<4x8xi64>) -> tensor<5x11xi64> {
  %0 = nn.pad %x {low = array<i64: 1, 1>, high = array<i64: 0, 2>, value = 7.0 : f64} : tensor<4x8xi64> -> tensor<5x11xi64>
  func.return %0 : tensor<5x11xi64>
}

// slice_scatter writes into a copy of the input, through a strided window.
// CHECK-LABEL: func.func @slice_scatter(
// CHECK:         %[[D:.*]] = linalg.copy ins(%x : tensor<4x8xf32>)
// CHECK-NEXT:    %[[W:.*]] = tensor.extract_slice %[[D]][0, 1] [4, 2] [1, 2]
// CHECK-NEXT:    %[[C:.*]] = linalg.copy ins(%s : tensor<4x2xf32>) outs(%[[W]] : tensor<4x2xf32>)
// CHECK-NEXT:    tensor.insert_slice %[[C]] into %[[D]][0, 1] [4, 2] [1, 2]
func.func @slice_scatter(%x: tensor<4x8xf32>, %s: tensor<4x2xf32>) -> tensor<4x8xf32> {
  %0 = nn.slice_scatter %x, %s {dim = 1 : i64, start = 1 : i64, end = 5 : i64, step = 2 : i64} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// argmax carries (value, index); NaN wins, and the first of equal values stays.
// CHECK-LABEL: func.func @argmax(
// CHECK:         %{{.*}}, %[[IDX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK:           arith.cmpf ogt
// CHECK:           arith.cmpf une
// CHECK:         func.return %[[IDX]] : tensor<4xi64>
func.func @argmax(%x: tensor<4x8xf32>) -> tensor<4xi64> {
  %0 = nn.argmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4xi64>
  func.return %0 : tensor<4xi64>
}
