// convert-nn-to-linalg: one function per behaviour of the lowering.
// RUN: sparcc-opt %s -p convert-nn-to-linalg | filecheck %s
// Every nn op but nn.weight is gone (only nn.weight prints without operands):
// RUN: sparcc-opt %s -p convert-nn-to-linalg | filecheck %s --check-prefix=NONN
// NONN-NOT: nn.{{[a-z_0-9]+}} %

// CHECK-LABEL: func.func @unary_relu(
// CHECK:         %[[INIT:.*]] = tensor.empty() : tensor<4x8xf32>
// CHECK-NEXT:    %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%[[INIT]] : tensor<4x8xf32>) {
// CHECK-NEXT:    ^{{.*}}(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      %[[MAX:.*]] = arith.maximumf %[[IN]], %[[ZERO]] : f32
// CHECK-NEXT:      linalg.yield %[[MAX]] : f32
// CHECK-NEXT:    } -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %[[R]] : tensor<4x8xf32>
func.func @unary_relu(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.relu %x : tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// Unary ops whose body is one math op, each in its own generic.
// CHECK-LABEL: func.func @unary_math(
// CHECK:           math.exp
// CHECK:           math.log
// CHECK:           math.tanh
// CHECK:           math.erf
// CHECK:           math.sqrt
// CHECK:           math.rsqrt
func.func @unary_math(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.exp %x : tensor<4xf32>
  %1 = nn.log %0 : tensor<4xf32>
  %2 = nn.tanh %1 : tensor<4xf32>
  %3 = nn.erf %2 : tensor<4xf32>
  %4 = nn.sqrt %3 : tensor<4xf32>
  %5 = nn.rsqrt %4 : tensor<4xf32>
  func.return %5 : tensor<4xf32>
}

// CHECK-LABEL: func.func @unary_silu(
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
// CHECK-NEXT:    ^{{.*}}(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:      %[[NEG:.*]] = arith.negf %[[IN]] : f32
// CHECK-NEXT:      %[[EXP:.*]] = math.exp %[[NEG]] : f32
// CHECK-NEXT:      %[[DEN:.*]] = arith.addf %[[ONE]], %[[EXP]] : f32
// CHECK-NEXT:      %[[SIG:.*]] = arith.divf %[[ONE]], %[[DEN]] : f32
// CHECK-NEXT:      %[[Y:.*]] = arith.mulf %[[IN]], %[[SIG]] : f32
// CHECK-NEXT:      linalg.yield %[[Y]] : f32
func.func @unary_silu(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.silu %x : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// CHECK-LABEL: func.func @gelu_erf(
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel"]
// CHECK:           arith.constant 0.707106769 : f32
// CHECK:           math.erf
// CHECK-NOT:       math.tanh
// CHECK:           linalg.yield
func.func @gelu_erf(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.gelu %x : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// CHECK-LABEL: func.func @gelu_tanh(
// CHECK:         linalg.generic
// CHECK-SAME:      iterator_types = ["parallel"]
// CHECK:           arith.constant 0.797884583 : f32
// CHECK:           arith.constant 4.471500e-02 : f32
// CHECK:           math.tanh
// CHECK-NOT:       math.erf
// CHECK:           linalg.yield
func.func @gelu_tanh(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.gelu %x {approximate = "tanh"} : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// CHECK-LABEL: func.func @binary_broadcast(
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x, %y : tensor<4x8xf32>, tensor<8xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[A]], %[[B]] : f32
// CHECK-NEXT:      linalg.yield %[[S]] : f32
func.func @binary_broadcast(%x: tensor<4x8xf32>, %y: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = nn.add %x, %y : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @binary_unit_dim(
// The size-1 dim of %y is collapsed away so that its map stays a projected permutation.
// CHECK:         %[[Y:.*]] = tensor.collapse_shape %y {{\[\[}}0 : i64, 1 : i64]] : tensor<4x1xf32> into tensor<4xf32>
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x, %[[Y]] : tensor<4x8xf32>, tensor<4xf32>)
// CHECK:           arith.mulf
func.func @binary_unit_dim(%x: tensor<4x8xf32>, %y: tensor<4x1xf32>) -> tensor<4x8xf32> {
  %0 = nn.mul %x, %y : tensor<4x8xf32>, tensor<4x1xf32> -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @binary_scalar(
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x, %s : tensor<4x8xf32>, tensor<f32>)
// CHECK:           arith.maximumf
func.func @binary_scalar(%x: tensor<4x8xf32>, %s: tensor<f32>) -> tensor<4x8xf32> {
  %0 = nn.maximum %x, %s : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @sum(
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT:    %[[ACC:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x8xf32>) outs(%[[ACC]] : tensor<4xf32>) {
// CHECK-NEXT:    ^{{.*}}(%[[IN:.*]]: f32, %[[OUT:.*]]: f32):
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[IN]], %[[OUT]] : f32
// CHECK-NEXT:      linalg.yield %[[S]] : f32
// CHECK-NEXT:    } -> tensor<4xf32>
// CHECK-NEXT:    func.return %[[R]] : tensor<4xf32>
func.func @sum(%x: tensor<4x8xf32>) -> tensor<4xf32> {
  %0 = nn.sum %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// CHECK-LABEL: func.func @mean_keepdim(
// CHECK:         %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
// CHECK:           arith.addf
// CHECK:         %[[KEPT:.*]] = tensor.expand_shape %[[SUM]] {{\[\[}}0 : i64, 1 : i64]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
// CHECK:         %[[N:.*]] = arith.constant dense<8.000000e+00> : tensor<f32>
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[KEPT]], %[[N]] : tensor<4x1xf32>, tensor<f32>)
// CHECK:           arith.divf
func.func @mean_keepdim(%x: tensor<4x8xf32>) -> tensor<4x1xf32> {
  %0 = nn.mean %x {dims = array<i64: -1>, keepdim = true} : tensor<4x8xf32> -> tensor<4x1xf32>
  func.return %0 : tensor<4x1xf32>
}

// CHECK-LABEL: func.func @amax(
// CHECK:         %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK:         linalg.fill ins(%[[NEGINF]] : f32)
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>], iterator_types = ["reduction", "parallel"]}
// CHECK:           arith.maximumf
func.func @amax(%x: tensor<4x8xf32>) -> tensor<8xf32> {
  %0 = nn.amax %x {dims = array<i64: 0>} : tensor<4x8xf32> -> tensor<8xf32>
  func.return %0 : tensor<8xf32>
}

// CHECK-LABEL: func.func @softmax(
// softmax(x) = exp(x - amax(x)) / sum(exp(x - amax(x))), all along dim 1.
// CHECK:         arith.constant 0xff800000 : f32
// CHECK:         %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%x
// CHECK:           arith.maximumf
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x,
// CHECK:           arith.subf
// CHECK:         %[[EXP:.*]] = linalg.generic
// CHECK:           math.exp
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[EXP]]
// CHECK:           arith.addf
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[EXP]],
// CHECK:           arith.divf
// CHECK-NOT:     nn.
func.func @softmax(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.softmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @layer_norm(
// mean, centre, variance, rsqrt(var + eps), then the affine weight and bias over the last dim.
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%x
// CHECK:           arith.addf
// CHECK:         arith.constant dense<8.000000e+00> : tensor<f32>
// CHECK:         arith.divf
// CHECK:         %[[C:.*]] = linalg.generic {{.*}} ins(%x, %{{.*}} : tensor<4x8xf32>, tensor<4xf32>)
// CHECK:           arith.subf
// CHECK:         linalg.generic {{.*}} ins(%[[C]], %[[C]] : tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK:           arith.mulf
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]}
// CHECK:         arith.constant dense<1.000000e-05> : tensor<f32>
// CHECK:           arith.addf
// CHECK:           math.rsqrt
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%{{.*}}, %w : tensor<4x8xf32>, tensor<8xf32>)
// CHECK:           arith.mulf
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%{{.*}}, %b : tensor<4x8xf32>, tensor<8xf32>)
// CHECK:           arith.addf
// CHECK-NOT:     nn.
func.func @layer_norm(%x: tensor<4x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = nn.layer_norm %x weight %w : tensor<8xf32> bias %b : tensor<8xf32> {normalized_ndim = 1 : i64, eps = 1.0e-05 : f64} : tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @batch_norm(
// scale = w * rsqrt(var + eps) and shift = b - mean * scale on [C]; then x * scale + shift over dim 1.
// CHECK:         arith.constant dense<1.000000e-05> : tensor<f32>
// CHECK:         linalg.generic {{.*}} ins(%v, %{{.*}} : tensor<3xf32>, tensor<f32>)
// CHECK:           math.rsqrt
// CHECK:         %[[SCALE:.*]] = linalg.generic {{.*}} ins(%w, %{{.*}} : tensor<3xf32>, tensor<3xf32>)
// CHECK:           arith.mulf
// CHECK:         linalg.generic {{.*}} ins(%m, %[[SCALE]] : tensor<3xf32>, tensor<3xf32>)
// CHECK:           arith.mulf
// CHECK:         linalg.generic {{.*}} ins(%b, %{{.*}} : tensor<3xf32>, tensor<3xf32>)
// CHECK:           arith.subf
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x,
// CHECK:           arith.mulf
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK:           arith.addf
func.func @batch_norm(%x: tensor<2x3x4x4xf32>, %m: tensor<3xf32>, %v: tensor<3xf32>, %w: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<2x3x4x4xf32> {
  %0 = nn.batch_norm %x, %m, %v, %w, %b {eps = 1.0e-05 : f64} : (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3x4x4xf32>
  func.return %0 : tensor<2x3x4x4xf32>
}

// CHECK-LABEL: func.func @linear_weight(
// The transpose of a weight folds into the weight (laid out once, at load time).
// CHECK-DAG:     %[[B:.*]] = nn.weight @fc.bias : tensor<16xf32>
// CHECK-DAG:     %[[WT:.*]] = nn.weight @fc.weight {perm = array<i64: 1, 0>} : tensor<8x16xf32>
// CHECK-NOT:     affine_map<(d0, d1) -> (d1, d0)>
// CHECK:         %[[ACC:.*]] = linalg.fill
// CHECK-NEXT:    %[[Y:.*]] = linalg.matmul ins(%x, %[[WT]] : tensor<4x8xf32>, tensor<8x16xf32>) outs(%[[ACC]] : tensor<4x16xf32>) -> tensor<4x16xf32>
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[Y]], %[[B]] : tensor<4x16xf32>, tensor<16xf32>)
// CHECK:           arith.addf
func.func @linear_weight(%x: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %w = nn.weight @fc.weight : tensor<16x8xf32>
  %b = nn.weight @fc.bias : tensor<16xf32>
  %0 = nn.linear %x, %w, %b : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  func.return %0 : tensor<4x16xf32>
}

// CHECK-LABEL: func.func @linear_arg(
// A weight that is not an nn.weight is transposed by a generic.
// CHECK:         %[[WT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%w : tensor<16x8xf32>)
// CHECK:         %[[ACC:.*]] = linalg.fill
// CHECK-NEXT:    %[[Y:.*]] = linalg.matmul ins(%x, %[[WT]] : tensor<4x8xf32>, tensor<8x16xf32>) outs(%[[ACC]] : tensor<4x16xf32>) -> tensor<4x16xf32>
// CHECK-NEXT:    func.return %[[Y]] : tensor<4x16xf32>
func.func @linear_arg(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>) -> tensor<4x16xf32> {
  %0 = nn.linear %x, %w : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  func.return %0 : tensor<4x16xf32>
}

// A 2-d contraction is a named linalg.matmul (the CPU schedule's kernel) on a zero-filled accumulator.
// CHECK-LABEL: func.func @matmul_2d(
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<4x3xf32>
// CHECK-NEXT:    %[[ACC:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT:    %[[R:.*]] = linalg.matmul ins(%x, %y : tensor<4x8xf32>, tensor<8x3xf32>) outs(%[[ACC]] : tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT:    func.return %[[R]] : tensor<4x3xf32>
func.func @matmul_2d(%x: tensor<4x8xf32>, %y: tensor<8x3xf32>) -> tensor<4x3xf32> {
  %0 = nn.matmul %x, %y : tensor<4x8xf32>, tensor<8x3xf32> -> tensor<4x3xf32>
  func.return %0 : tensor<4x3xf32>
}

// A small batch (<= UNROLL_BATCH) unrolls into one 2-d matmul per entry:
// rank-reducing slices of both operands and of the result, a zero fill of the
// result slice, and the product written back into the chained result.
// CHECK-LABEL: func.func @matmul_batched(
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<2x4x3xf32>
// CHECK-NEXT:    %[[A0:.*]] = tensor.extract_slice %x[0, 0, 0] [1, 4, 8] [1, 1, 1] : tensor<2x4x8xf32> to tensor<4x8xf32>
// CHECK-NEXT:    %[[B0:.*]] = tensor.extract_slice %y[0, 0, 0] [1, 8, 3] [1, 1, 1] : tensor<2x8x3xf32> to tensor<8x3xf32>
// CHECK-NEXT:    %[[O0:.*]] = tensor.extract_slice %[[E]][0, 0, 0] [1, 4, 3] [1, 1, 1] : tensor<2x4x3xf32> to tensor<4x3xf32>
// CHECK-NEXT:    %[[Z0:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[F0:.*]] = linalg.fill ins(%[[Z0]] : f32) outs(%[[O0]] : tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT:    %[[M0:.*]] = linalg.matmul ins(%[[A0]], %[[B0]] : tensor<4x8xf32>, tensor<8x3xf32>) outs(%[[F0]] : tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT:    %[[R0:.*]] = tensor.insert_slice %[[M0]] into %[[E]][0, 0, 0] [1, 4, 3] [1, 1, 1] : tensor<4x3xf32> into tensor<2x4x3xf32>
// CHECK-NEXT:    %[[A1:.*]] = tensor.extract_slice %x[1, 0, 0] [1, 4, 8] [1, 1, 1] : tensor<2x4x8xf32> to tensor<4x8xf32>
// CHECK-NEXT:    %[[B1:.*]] = tensor.extract_slice %y[1, 0, 0] [1, 8, 3] [1, 1, 1] : tensor<2x8x3xf32> to tensor<8x3xf32>
// CHECK-NEXT:    %[[O1:.*]] = tensor.extract_slice %[[R0]][1, 0, 0] [1, 4, 3] [1, 1, 1] : tensor<2x4x3xf32> to tensor<4x3xf32>
// CHECK-NEXT:    %[[Z1:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[F1:.*]] = linalg.fill ins(%[[Z1]] : f32) outs(%[[O1]] : tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT:    %[[M1:.*]] = linalg.matmul ins(%[[A1]], %[[B1]] : tensor<4x8xf32>, tensor<8x3xf32>) outs(%[[F1]] : tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT:    %[[R1:.*]] = tensor.insert_slice %[[M1]] into %[[R0]][1, 0, 0] [1, 4, 3] [1, 1, 1] : tensor<4x3xf32> into tensor<2x4x3xf32>
// CHECK-NEXT:    func.return %[[R1]] : tensor<2x4x3xf32>
func.func @matmul_batched(%x: tensor<2x4x8xf32>, %y: tensor<2x8x3xf32>) -> tensor<2x4x3xf32> {
  %0 = nn.matmul %x, %y : tensor<2x4x8xf32>, tensor<2x8x3xf32> -> tensor<2x4x3xf32>
  func.return %0 : tensor<2x4x3xf32>
}

// A batch above UNROLL_BATCH (16) stays one batched contraction generic.
// CHECK-LABEL: func.func @matmul_batched_large(
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<17x4x3xf32>
// CHECK-NEXT:    %[[ACC:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<17x4x3xf32>) -> tensor<17x4x3xf32>
// CHECK-NEXT:    %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %y : tensor<17x4x8xf32>, tensor<17x8x3xf32>) outs(%[[ACC]] : tensor<17x4x3xf32>) {
// CHECK-NEXT:    ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[O:.*]]: f32):
// CHECK-NEXT:      %[[P:.*]] = arith.mulf %[[A]], %[[B]] : f32
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[O]], %[[P]] : f32
// CHECK-NEXT:      linalg.yield %[[S]] : f32
// CHECK-NEXT:    } -> tensor<17x4x3xf32>
// CHECK-NEXT:    func.return %[[R]] : tensor<17x4x3xf32>
func.func @matmul_batched_large(%x: tensor<17x4x8xf32>, %y: tensor<17x8x3xf32>) -> tensor<17x4x3xf32> {
  %0 = nn.matmul %x, %y : tensor<17x4x8xf32>, tensor<17x8x3xf32> -> tensor<17x4x3xf32>
  func.return %0 : tensor<17x4x3xf32>
}

// CHECK-LABEL: func.func @matmul_fold_rows(
// A 2-d rhs: the leading dims of lhs fold into M, one 2-d matmul.
// CHECK:         %[[X:.*]] = tensor.expand_shape %{{.*}} output_shape [8, 8] : tensor<64xf32> into tensor<8x8xf32>
// CHECK:         %[[Y:.*]] = linalg.matmul ins(%[[X]], %y : tensor<8x8xf32>, tensor<8x3xf32>) outs(%{{.*}} : tensor<8x3xf32>) -> tensor<8x3xf32>
// CHECK-NEXT:    %[[F:.*]] = tensor.collapse_shape %[[Y]] {{\[\[}}0 : i64, 1 : i64]] : tensor<8x3xf32> into tensor<24xf32>
// CHECK-NEXT:    %[[R:.*]] = tensor.expand_shape %[[F]] {{\[\[}}0 : i64, 1 : i64, 2 : i64]] output_shape [2, 4, 3] : tensor<24xf32> into tensor<2x4x3xf32>
// CHECK-NEXT:    func.return %[[R]]
func.func @matmul_fold_rows(%x: tensor<2x4x8xf32>, %y: tensor<8x3xf32>) -> tensor<2x4x3xf32> {
  %0 = nn.matmul %x, %y : tensor<2x4x8xf32>, tensor<8x3xf32> -> tensor<2x4x3xf32>
  func.return %0 : tensor<2x4x3xf32>
}

// CHECK-LABEL: func.func @matmul_broadcast(
// Batch dims broadcast: the unit batch dim of lhs is expanded, then one 2-d
// matmul per batch entry on slices of the expanded lhs.
// CHECK:         %[[X:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%{{.*}} : tensor<4x8xf32>) outs(%{{.*}} : tensor<3x4x8xf32>)
// CHECK:         %[[A0:.*]] = tensor.extract_slice %[[X]][0, 0, 0] [1, 4, 8] [1, 1, 1] : tensor<3x4x8xf32> to tensor<4x8xf32>
// CHECK-NEXT:    %[[B0:.*]] = tensor.extract_slice %y[0, 0, 0] [1, 8, 2] [1, 1, 1] : tensor<3x8x2xf32> to tensor<8x2xf32>
// CHECK:         linalg.matmul ins(%[[A0]], %[[B0]] :
// CHECK:         %[[A1:.*]] = tensor.extract_slice %[[X]][1, 0, 0]
// CHECK-NEXT:    %[[B1:.*]] = tensor.extract_slice %y[1, 0, 0]
// CHECK:         linalg.matmul ins(%[[A1]], %[[B1]] :
// CHECK:         %[[A2:.*]] = tensor.extract_slice %[[X]][2, 0, 0]
// CHECK-NEXT:    %[[B2:.*]] = tensor.extract_slice %y[2, 0, 0]
// CHECK:         linalg.matmul ins(%[[A2]], %[[B2]] :
// CHECK-NEXT:    %[[R:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[2, 0, 0] [1, 4, 2] [1, 1, 1] : tensor<4x2xf32> into tensor<3x4x2xf32>
// CHECK-NEXT:    func.return %[[R]]
func.func @matmul_broadcast(%x: tensor<1x4x8xf32>, %y: tensor<3x8x2xf32>) -> tensor<3x4x2xf32> {
  %0 = nn.matmul %x, %y : tensor<1x4x8xf32>, tensor<3x8x2xf32> -> tensor<3x4x2xf32>
  func.return %0 : tensor<3x4x2xf32>
}

// CHECK-LABEL: func.func @permute(
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d2, d0)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<2x3x4xf32>) outs(%{{.*}} : tensor<4x2x3xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      linalg.yield %[[IN]] : f32
func.func @permute(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %0 = nn.permute %x {perm = array<i64: 2, 0, 1>} : tensor<2x3x4xf32> -> tensor<4x2x3xf32>
  func.return %0 : tensor<4x2x3xf32>
}

// CHECK-LABEL: func.func @permute_weight(
// Permutations compose into the weight's perm: [1, 2, 0] then [1, 2, 0] is [2, 0, 1].
// CHECK-NEXT:    %[[W:.*]] = nn.weight @w {perm = array<i64: 2, 0, 1>} : tensor<4x2x3xf32>
// CHECK-NEXT:    func.return %[[W]] : tensor<4x2x3xf32>
func.func @permute_weight() -> tensor<4x2x3xf32> {
  %w = nn.weight @w {perm = array<i64: 1, 2, 0>} : tensor<3x4x2xf32>
  %0 = nn.permute %w {perm = array<i64: 1, 2, 0>} : tensor<3x4x2xf32> -> tensor<4x2x3xf32>
  func.return %0 : tensor<4x2x3xf32>
}

// CHECK-LABEL: func.func @reshape(
// CHECK-NOT:     linalg.generic
// CHECK:         tensor.collapse_shape %x {{\[\[}}0 : i64, 1 : i64]] : tensor<4x8xf32> into tensor<32xf32>
// CHECK-NEXT:    tensor.expand_shape %{{.*}} {{\[\[}}0 : i64, 1 : i64]] output_shape [2, 16] : tensor<32xf32> into tensor<2x16xf32>
func.func @reshape(%x: tensor<4x8xf32>) -> tensor<2x16xf32> {
  %0 = nn.reshape %x : tensor<4x8xf32> -> tensor<2x16xf32>
  func.return %0 : tensor<2x16xf32>
}

// CHECK-LABEL: func.func @expand(
// CHECK:         %[[X:.*]] = tensor.collapse_shape %x {{\[\[}}0 : i64, 1 : i64]] : tensor<1x8xf32> into tensor<8xf32>
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[X]] : tensor<8xf32>) outs(%{{.*}} : tensor<4x8xf32>)
func.func @expand(%x: tensor<1x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.expand %x : tensor<1x8xf32> -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// The strided view is copied into a fresh tensor by a linalg.copy (a strided
// view reaching a result would bufferize to a strided memref.copy).
// CHECK-LABEL: func.func @slice(
// CHECK-NEXT:    %[[S:.*]] = tensor.extract_slice %x[0, 2] [4, 2] [1, 2] : tensor<4x8xf32> to tensor<4x2xf32>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<4x2xf32>
// CHECK-NEXT:    %[[C:.*]] = linalg.copy ins(%[[S]] : tensor<4x2xf32>) outs(%[[E]] : tensor<4x2xf32>) -> tensor<4x2xf32>
// CHECK-NEXT:    func.return %[[C]]
func.func @slice(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  %0 = nn.slice %x {dim = 1 : i64, start = 2 : i64, end = 6 : i64, step = 2 : i64} : tensor<4x8xf32> -> tensor<4x2xf32>
  func.return %0 : tensor<4x2xf32>
}

// Each input is linalg.copy'd into its slice of a zero-filled destination.
// CHECK-LABEL: func.func @concat(
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<4x10xf32>
// CHECK-NEXT:    %[[D:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<4x10xf32>) -> tensor<4x10xf32>
// CHECK-NEXT:    %[[W0:.*]] = tensor.extract_slice %[[D]][0, 0] [4, 8] [1, 1] : tensor<4x10xf32> to tensor<4x8xf32>
// CHECK-NEXT:    %[[C0:.*]] = linalg.copy ins(%x : tensor<4x8xf32>) outs(%[[W0]] : tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %[[A:.*]] = tensor.insert_slice %[[C0]] into %[[D]][0, 0] [4, 8] [1, 1] : tensor<4x8xf32> into tensor<4x10xf32>
// CHECK-NEXT:    %[[W1:.*]] = tensor.extract_slice %[[A]][0, 8] [4, 2] [1, 1] : tensor<4x10xf32> to tensor<4x2xf32>
// CHECK-NEXT:    %[[C1:.*]] = linalg.copy ins(%y : tensor<4x2xf32>) outs(%[[W1]] : tensor<4x2xf32>) -> tensor<4x2xf32>
// CHECK-NEXT:    %[[B:.*]] = tensor.insert_slice %[[C1]] into %[[A]][0, 8] [4, 2] [1, 1] : tensor<4x2xf32> into tensor<4x10xf32>
// CHECK-NEXT:    func.return %[[B]]
func.func @concat(%x: tensor<4x8xf32>, %y: tensor<4x2xf32>) -> tensor<4x10xf32> {
  %0 = nn.concat %x, %y {dim = -1 : i64} : (tensor<4x8xf32>, tensor<4x2xf32>) -> tensor<4x10xf32>
  func.return %0 : tensor<4x10xf32>
}

// Embedding: the indices' min and max are checked against [0, 10) once (a
// bad one is reported to the runtime: kind 2, "index out of range in self"),
// and every read is clamped into the table.
// CHECK-LABEL: func.func @embedding(
// CHECK:         %[[W:.*]] = nn.weight @emb.weight : tensor<10x4xf32>
// CHECK:           arith.minsi
// CHECK:           arith.maxsi
// CHECK:         %[[LO:.*]] = tensor.extract %{{.*}}[] : tensor<i64>
// CHECK-NEXT:    %[[HI:.*]] = tensor.extract %{{.*}}[] : tensor<i64>
// CHECK-NEXT:    %[[SIZE:.*]] = arith.constant 10 : i64
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-NEXT:    %[[NEG:.*]] = arith.cmpi slt, %[[LO]], %[[ZERO]] : i64
// CHECK-NEXT:    %[[OVER:.*]] = arith.cmpi sge, %[[HI]], %[[SIZE]] : i64
// CHECK-NEXT:    %[[BAD:.*]] = arith.ori %[[NEG]], %[[OVER]] : i1
// CHECK-NEXT:    %[[VAL:.*]] = arith.select %[[NEG]], %[[LO]], %[[HI]] : i64
// CHECK-NEXT:    %[[KIND:.*]] = arith.constant 2 : i64
// CHECK:         scf.if %[[BAD]] {
// CHECK-NEXT:      func.call @sparcc_rt_index_error(%[[KIND]], %{{.*}}, %[[VAL]], %{{.*}}) : (i64, i64, i64, i64) -> ()
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%i : tensor<2x3xi64>) outs(%{{.*}} : tensor<2x3x4xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[IDX:.*]]: i64, %{{.*}}: f32):
// CHECK-NEXT:      %[[TOP:.*]] = arith.constant 9 : i64
// CHECK-NEXT:      %[[A:.*]] = arith.minsi %[[IDX]], %[[TOP]] : i64
// CHECK-NEXT:      %[[Z:.*]] = arith.constant 0 : i64
// CHECK-NEXT:      %[[B:.*]] = arith.maxsi %[[A]], %[[Z]] : i64
// CHECK-NEXT:      %[[ROW:.*]] = arith.index_cast %[[B]] : i64 to index
// CHECK-NEXT:      %[[COL:.*]] = linalg.index 2 : index
// CHECK-NEXT:      %[[V:.*]] = tensor.extract %[[W]][%[[ROW]], %[[COL]]] : tensor<10x4xf32>
// CHECK-NEXT:      linalg.yield %[[V]] : f32
func.func @embedding(%i: tensor<2x3xi64>) -> tensor<2x3x4xf32> {
  %w = nn.weight @emb.weight : tensor<10x4xf32>
  %0 = nn.embedding %w, %i : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
  func.return %0 : tensor<2x3x4xf32>
}

// CHECK-LABEL: func.func @sdpa_causal(
// softmax(q @ k^T * scale, masked where key index > query index) @ v; 20
// queries: more than a few, so k^T is laid out once for the matmuls
// CHECK:         %[[KT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%k : tensor<2x20x8xf32>)
// CHECK:         %[[Q0:.*]] = tensor.extract_slice %q[0, 0, 0] [1, 20, 8] [1, 1, 1] : tensor<2x20x8xf32> to tensor<20x8xf32>
// CHECK-NEXT:    %[[K0:.*]] = tensor.extract_slice %[[KT]][0, 0, 0] [1, 8, 20] [1, 1, 1] : tensor<2x8x20xf32> to tensor<8x20xf32>
// CHECK:         linalg.matmul ins(%[[Q0]], %[[K0]] : tensor<20x8xf32>, tensor<8x20xf32>)
// CHECK:         %[[Q1:.*]] = tensor.extract_slice %q[1, 0, 0] [1, 20, 8] [1, 1, 1] : tensor<2x20x8xf32> to tensor<20x8xf32>
// CHECK-NEXT:    %[[K1:.*]] = tensor.extract_slice %[[KT]][1, 0, 0] [1, 8, 20] [1, 1, 1] : tensor<2x8x20xf32> to tensor<8x20xf32>
// CHECK:         linalg.matmul ins(%[[Q1]], %[[K1]] : tensor<20x8xf32>, tensor<8x20xf32>)
// CHECK:         arith.constant dense<1.250000e-01> : tensor<f32>
// CHECK:           arith.mulf
// CHECK:         linalg.generic
// CHECK-NEXT:    ^{{.*}}(%[[S:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[I:.*]] = linalg.index 1 : index
// CHECK-NEXT:      %[[J:.*]] = linalg.index 2 : index
// CHECK-NEXT:      %[[FUT:.*]] = arith.cmpi ugt, %[[J]], %[[I]] : index
// CHECK-NEXT:      %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT:      %[[M:.*]] = arith.select %[[FUT]], %[[NEGINF]], %[[S]] : f32
// CHECK-NEXT:      linalg.yield %[[M]] : f32
// CHECK:           arith.maximumf
// CHECK:           math.exp
// CHECK:         %[[P:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x20x20xf32>, tensor<2x20xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[EX:.*]]: f32, %[[SUM:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      arith.divf %[[EX]], %[[SUM]] : f32
// CHECK:         %[[P0:.*]] = tensor.extract_slice %[[P]][0, 0, 0] [1, 20, 20] [1, 1, 1] : tensor<2x20x20xf32> to tensor<20x20xf32>
// CHECK-NEXT:    %[[V0:.*]] = tensor.extract_slice %v[0, 0, 0] [1, 20, 8] [1, 1, 1] : tensor<2x20x8xf32> to tensor<20x8xf32>
// CHECK:         linalg.matmul ins(%[[P0]], %[[V0]] : tensor<20x20xf32>, tensor<20x8xf32>)
// CHECK:         %[[P1:.*]] = tensor.extract_slice %[[P]][1, 0, 0] [1, 20, 20] [1, 1, 1] : tensor<2x20x20xf32> to tensor<20x20xf32>
// CHECK-NEXT:    %[[V1:.*]] = tensor.extract_slice %v[1, 0, 0] [1, 20, 8] [1, 1, 1] : tensor<2x20x8xf32> to tensor<20x8xf32>
// CHECK:         linalg.matmul ins(%[[P1]], %[[V1]] : tensor<20x20xf32>, tensor<20x8xf32>)
// CHECK-NEXT:    %[[R:.*]] = tensor.insert_slice %{{.*}}[1, 0, 0] [1, 20, 8] [1, 1, 1] : tensor<20x8xf32> into tensor<2x20x8xf32>
// CHECK-NEXT:    func.return %[[R]]
// CHECK-NOT:     nn.
func.func @sdpa_causal(%q: tensor<2x20x8xf32>, %k: tensor<2x20x8xf32>, %v: tensor<2x20x8xf32>) -> tensor<2x20x8xf32> {
  %0 = nn.sdpa %q, %k, %v {is_causal = true, scale = 0.125 : f64} : (tensor<2x20x8xf32>, tensor<2x20x8xf32>, tensor<2x20x8xf32>) -> tensor<2x20x8xf32>
  func.return %0 : tensor<2x20x8xf32>
}

// A few queries (a decode step: at most 16): each score a dot product of a
// query row and a key row, read in place (no k^T), each output row a sum of
// value rows. With sparcc.kv_groups = 2 (fuse-attention, for repeated
// key/value heads), the 4 query heads read 2 key/value heads: loops [batch,
// kv head, group, query, key | E] and [batch, kv head, group, query | key, E].
// CHECK-LABEL: func.func @sdpa_decode_grouped(
// CHECK-NOT:     linalg.matmul
// CHECK:         %[[Q5:.*]] = tensor.expand_shape %{{.*}} output_shape [1, 2, 2, 1, 8] : tensor<32xf32> into tensor<1x2x2x1x8xf32>
// CHECK:         %[[S:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[Q5]], %[[K4:.*]] : tensor<1x2x2x1x8xf32>, tensor<1x2x6x8xf32>)
// CHECK:         math.exp
// CHECK:         %[[O:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d5)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "parallel"]} ins(%{{.*}}, %{{.*}} : tensor<1x2x2x1x6xf32>, tensor<1x2x6x8xf32>)
// CHECK-NOT:     linalg.matmul
// CHECK:         func.return
func.func @sdpa_decode_grouped(%q: tensor<1x4x1x8xf32>, %k: tensor<1x2x6x8xf32>, %v: tensor<1x2x6x8xf32>) -> tensor<1x4x1x8xf32> {
  %0 = nn.sdpa %q, %k, %v {scale = 0.125 : f64, sparcc.kv_groups = 2 : i64} : (tensor<1x4x1x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>) -> tensor<1x4x1x8xf32>
  func.return %0 : tensor<1x4x1x8xf32>
}

// A few queries with a mask over 64 keys: the keys that some query may
// attend to are counted at run time (one past the last mask entry above
// -1e30, provided every other entry is below -1e37 and every row has a live
// key; else all 64), and a loop over the (batch, kv head) pairs, which the
// threads share, runs the online softmax over blocks of 32 keys up to that
// count, reading keys and values in place.
// CHECK-LABEL: func.func @sdpa_decode_live_keys(
// CHECK-NOT:     linalg.matmul
// CHECK:         arith.constant -1.000000e+30 : f32
// CHECK:         arith.constant -1.000000e+37 : f32
// CHECK:         %[[ALL:.*]] = arith.constant 64 : i64
// CHECK:         %[[N:.*]] = arith.select %{{.*}}, %{{.*}}, %[[ALL]] : i64
// CHECK:         %[[NI:.*]] = arith.index_cast %[[N]] : i64 to index
// CHECK:         %[[BLOCKS:.*]] = arith.ceildivui %[[NI]], %{{.*}} : index
// CHECK:         scf.for %[[PAIR:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[OUT:.*]] = %{{.*}}) -> (tensor<2x2x1x8xf32>) {
// CHECK:           scf.for %{{.*}} = %{{.*}} to %[[BLOCKS]] step %{{.*}} iter_args({{.*}}) -> (tensor<2x1xf32>, tensor<2x1xf32>, tensor<2x1x8xf32>) {
// CHECK:             tensor.extract_slice %{{.*}}[%[[PAIR]], %[[K0:.*]], 0] [1, 32, 8] [1, 1, 1] : tensor<2x64x8xf32> to tensor<32x8xf32>
// CHECK:             tensor.extract_slice %{{.*}}[%[[PAIR]], %[[K0]], 0] [1, 32, 8] [1, 1, 1] : tensor<2x64x8xf32> to tensor<32x8xf32>
// CHECK:             math.exp
// CHECK:           tensor.insert_slice %{{.*}} into %[[OUT]][%[[PAIR]], 0, 0, 0] [1, 2, 1, 8]
// CHECK:         } {sparcc.independent_iterations}
// CHECK-NOT:     linalg.matmul
// CHECK:         func.return
func.func @sdpa_decode_live_keys(%q: tensor<1x4x1x8xf32>, %k: tensor<1x2x64x8xf32>, %v: tensor<1x2x64x8xf32>, %m: tensor<1x1x1x64xf32>) -> tensor<1x4x1x8xf32> {
  %0 = nn.sdpa %q, %k, %v, mask %m {scale = 0.125 : f64, sparcc.kv_groups = 2 : i64} : (tensor<1x4x1x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x1x1x64xf32>) -> tensor<1x4x1x8xf32>
  func.return %0 : tensor<1x4x1x8xf32>
}

// CHECK-LABEL: func.func @conv2d(
// Ungrouped: im2col over the padded input (stride 2), one linalg.matmul with
// the weight as [C*KH*KW, F], then NHWF -> NCHW and the bias. The padding is a
// zero-filled tensor with the input linalg.copy'd into its interior.
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<1x3x10x10xf32>
// CHECK-NEXT:    %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<1x3x10x10xf32>) -> tensor<1x3x10x10xf32>
// CHECK-NEXT:    %[[WIN:.*]] = tensor.extract_slice %[[FILL]][0, 0, 1, 1] [1, 3, 8, 8] [1, 1, 1, 1] : tensor<1x3x10x10xf32> to tensor<1x3x8x8xf32>
// CHECK-NEXT:    %[[CP:.*]] = linalg.copy ins(%x : tensor<1x3x8x8xf32>) outs(%[[WIN]] : tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
// CHECK-NEXT:    %[[PAD:.*]] = tensor.insert_slice %[[CP]] into %[[FILL]][0, 0, 1, 1] [1, 3, 8, 8] [1, 1, 1, 1] : tensor<1x3x8x8xf32> into tensor<1x3x10x10xf32>
// CHECK-NEXT:    %[[PE:.*]] = tensor.empty() : tensor<1x4x4x3x3x3xf32>
// CHECK-NEXT:    %[[PATCHES:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d3, ((d1 * 2) + d4), ((d2 * 2) + d5))>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4, d5)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%[[PAD]] : tensor<1x3x10x10xf32>) outs(%[[PE]] : tensor<1x4x4x3x3x3xf32>)
// CHECK:         %[[ROWS:.*]] = tensor.expand_shape {{.*}} output_shape [16, 27] : tensor<432xf32> into tensor<16x27xf32>
// CHECK:         %[[W2:.*]] = tensor.expand_shape {{.*}} output_shape [4, 27] : tensor<108xf32> into tensor<4x27xf32>
// CHECK:         %[[WT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], {{.*}} ins(%[[W2]] : tensor<4x27xf32>)
// CHECK:         %[[Y:.*]] = linalg.matmul ins(%[[ROWS]], %[[WT]] : tensor<16x27xf32>, tensor<27x4xf32>) outs(%{{.*}} : tensor<16x4xf32>)
// CHECK:         tensor.expand_shape {{.*}} output_shape [1, 4, 4, 4]
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>]
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>]
// CHECK:           arith.addf
func.func @conv2d(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x4x4xf32> {
  %0 = nn.conv2d %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
  func.return %0 : tensor<1x4x4x4xf32>
}

// A conv weight that is a model weight folds the reshape and the transpose
// into the weight itself (laid out once at load time): no copy per call.
// CHECK-LABEL: func.func @conv2d_weight(
// CHECK:         %[[W:.*]] = nn.weight @conv.weight {perm = array<i64: 1, 0>} : tensor<27x4xf32>
// CHECK:         linalg.matmul ins(%{{.*}}, %[[W]] : tensor<16x27xf32>, tensor<27x4xf32>)
func.func @conv2d_weight(%x: tensor<1x3x6x6xf32>) -> tensor<1x4x4x4xf32> {
  %w = nn.weight @"conv.weight" : tensor<4x3x3x3xf32>
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x6x6xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x4x4xf32>
  func.return %0 : tensor<1x4x4x4xf32>
}

// A 1x1 convolution (stride 1, no padding, batch 1) over 64 pixels or more and
// of 2^20 multiply-adds or more is W[F, C] @ X[C, H*W]: no im2col copy, no
// transposed write of the result.
// CHECK-LABEL: func.func @conv2d_1x1(
// CHECK-NOT:     linalg.copy
// CHECK:         %[[X:.*]] = tensor.collapse_shape %x {{.*}} : tensor<1x32x32x32xf32> into tensor<32768xf32>
// CHECK:         %[[XM:.*]] = tensor.expand_shape %[[X]] {{.*}} output_shape [32, 1024] : tensor<32768xf32> into tensor<32x1024xf32>
// CHECK:         %[[WM:.*]] = tensor.expand_shape {{.*}} output_shape [32, 32] : tensor<1024xf32> into tensor<32x32xf32>
// CHECK:         %[[Y:.*]] = linalg.matmul ins(%[[WM]], %[[XM]] : tensor<32x32xf32>, tensor<32x1024xf32>) outs(%{{.*}} : tensor<32x1024xf32>)
// CHECK-NOT:     affine_map<(d0, d1, d2, d3) -> (d0, d2, d3, d1)>
// CHECK:         tensor.expand_shape {{.*}} output_shape [1, 32, 32, 32]
// CHECK:         arith.addf
// Fewer pixels, or fewer multiply-adds, keep the rows form (its vectors run along F).
// CHECK-LABEL: func.func @conv2d_1x1_few_pixels(
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x3xf32>, tensor<3x4xf32>)
// CHECK-LABEL: func.func @conv2d_1x1_small(
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<64x3xf32>, tensor<3x4xf32>)
func.func @conv2d_1x1(%x: tensor<1x32x32x32xf32>, %w: tensor<32x32x1x1xf32>, %b: tensor<32xf32>) -> tensor<1x32x32x32xf32> {
  %0 = nn.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x32x32x32xf32>, tensor<32x32x1x1xf32>, tensor<32xf32>) -> tensor<1x32x32x32xf32>
  func.return %0 : tensor<1x32x32x32xf32>
}

func.func @conv2d_1x1_few_pixels(%x: tensor<1x3x4x4xf32>, %w: tensor<4x3x1x1xf32>) -> tensor<1x4x4x4xf32> {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x4x4xf32>, tensor<4x3x1x1xf32>) -> tensor<1x4x4x4xf32>
  func.return %0 : tensor<1x4x4x4xf32>
}

func.func @conv2d_1x1_small(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x1x1xf32>) -> tensor<1x4x8x8xf32> {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x1x1xf32>) -> tensor<1x4x8x8xf32>
  func.return %0 : tensor<1x4x8x8xf32>
}

// CHECK-LABEL: func.func @conv2d_groups_dilation(
// groups = 2 splits C and F; dilation 2 scales the kernel offsets; no padding, no bias.
// CHECK-NOT:     linalg.copy
// CHECK:         tensor.expand_shape {{.*}} output_shape [1, 2, 2, 8, 8]
// CHECK:         tensor.expand_shape {{.*}} output_shape [2, 3, 2, 3, 3]
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, (d3 + (d6 * 2)), (d4 + (d7 * 2)))>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>]
// CHECK-SAME:      outs(%{{.*}} : tensor<1x2x3x4x4xf32>)
// CHECK:         tensor.expand_shape {{.*}} output_shape [1, 6, 4, 4]
func.func @conv2d_groups_dilation(%x: tensor<1x4x8x8xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<1x6x4x4xf32> {
  %0 = nn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 2, 2>, groups = 2 : i64} : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x4x4xf32>
  func.return %0 : tensor<1x6x4x4xf32>
}

// CHECK-LABEL: func.func @max_pool(
// CHECK-DAG:     %[[WIN:.*]] = tensor.empty() : tensor<2x2xf32>
// CHECK-DAG:     %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK:         %[[ACC:.*]] = linalg.fill ins(%[[NEGINF]] : f32)
// CHECK-NEXT:    linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, ((d2 * 2) + d4), ((d3 * 2) + d5))>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%x, %[[WIN]] : tensor<1x3x8x8xf32>, tensor<2x2xf32>) outs(%[[ACC]] : tensor<1x3x4x4xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[IN:.*]]: f32, %{{.*}}: f32, %[[O:.*]]: f32):
// CHECK-NEXT:      %[[M:.*]] = arith.maximumf %[[O]], %[[IN]] : f32
func.func @max_pool(%x: tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32> {
  %0 = nn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>
  func.return %0 : tensor<1x3x4x4xf32>
}

// CHECK-LABEL: func.func @avg_pool_exclude_pad(
// Without count_include_pad, each window divides by its number of real taps.
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<1x3x6x6xf32>
// CHECK-NEXT:    %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<1x3x6x6xf32>) -> tensor<1x3x6x6xf32>
// CHECK-NEXT:    %[[WIN:.*]] = tensor.extract_slice %[[FILL]][0, 0, 1, 1] [1, 3, 4, 4] [1, 1, 1, 1] : tensor<1x3x6x6xf32> to tensor<1x3x4x4xf32>
// CHECK-NEXT:    %[[CP:.*]] = linalg.copy ins(%x : tensor<1x3x4x4xf32>) outs(%[[WIN]] : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
// CHECK-NEXT:    %[[PAD:.*]] = tensor.insert_slice %[[CP]] into %[[FILL]][0, 0, 1, 1] [1, 3, 4, 4] [1, 1, 1, 1] : tensor<1x3x4x4xf32> into tensor<1x3x6x6xf32>
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, ((d2 * 2) + d4), ((d3 * 2) + d5))>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[PAD]], %{{.*}} : tensor<1x3x6x6xf32>, tensor<3x3xf32>)
// CHECK:           arith.addf
// CHECK:         %[[N:.*]] = arith.constant dense<{{\[\[}}4.000000e+00, 6.000000e+00], [6.000000e+00, 9.000000e+00]]> : tensor<2x2xf32>
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>]{{.*}} ins(%{{.*}}, %[[N]] :
// CHECK:           arith.divf
func.func @avg_pool_exclude_pad(%x: tensor<1x3x4x4xf32>) -> tensor<1x3x2x2xf32> {
  %0 = nn.avg_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, count_include_pad = false} : tensor<1x3x4x4xf32> -> tensor<1x3x2x2xf32>
  func.return %0 : tensor<1x3x2x2xf32>
}

// max_pool's padding is filled with -inf, so a padded tap never wins.
// CHECK-LABEL: func.func @max_pool_padded(
// CHECK-NEXT:    %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<1x3x6x6xf32>
// CHECK-NEXT:    %[[FILL:.*]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%[[E]] : tensor<1x3x6x6xf32>) -> tensor<1x3x6x6xf32>
// CHECK-NEXT:    %[[WIN:.*]] = tensor.extract_slice %[[FILL]][0, 0, 1, 1] [1, 3, 4, 4] [1, 1, 1, 1] : tensor<1x3x6x6xf32> to tensor<1x3x4x4xf32>
// CHECK-NEXT:    %[[CP:.*]] = linalg.copy ins(%x : tensor<1x3x4x4xf32>) outs(%[[WIN]] : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
// CHECK-NEXT:    %[[PAD:.*]] = tensor.insert_slice %[[CP]] into %[[FILL]][0, 0, 1, 1] [1, 3, 4, 4] [1, 1, 1, 1] : tensor<1x3x4x4xf32> into tensor<1x3x6x6xf32>
// CHECK:         linalg.generic {{.*}} ins(%[[PAD]], %{{.*}} : tensor<1x3x6x6xf32>, tensor<3x3xf32>)
// CHECK:           arith.maximumf
func.func @max_pool_padded(%x: tensor<1x3x4x4xf32>) -> tensor<1x3x2x2xf32> {
  %0 = nn.max_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>} : tensor<1x3x4x4xf32> -> tensor<1x3x2x2xf32>
  func.return %0 : tensor<1x3x2x2xf32>
}

// argsort: element i's rank counts the elements that sort before it (for
// descending, larger; NaN first; equal ones only when earlier, so the sort
// is stable); position r then takes the i whose rank is r.
// CHECK-LABEL: func.func @argsort(
// CHECK:         %[[RANKS:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %x : tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[MINE:.*]]: f32, %[[THEIRS:.*]]: f32, %{{.*}}: i64):
// CHECK-NEXT:      %[[J:.*]] = linalg.index 2 : index
// CHECK-NEXT:      %[[I:.*]] = linalg.index 1 : index
// CHECK-NEXT:      %[[EARLIER:.*]] = arith.cmpi ult, %[[J]], %[[I]] : index
// CHECK-NEXT:      arith.cmpf olt, %[[MINE]], %[[THEIRS]] : f32
// CHECK:           arith.extui %{{.*}} : i1 to i64
// CHECK-NEXT:      arith.addi
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[RANKS]] : tensor<4x8xi64>)
// CHECK-NEXT:    ^{{.*}}(%[[RANK:.*]]: i64, %[[ACC:.*]]: i64):
// CHECK-NEXT:      %[[R:.*]] = linalg.index 1 : index
// CHECK-NEXT:      %[[R64:.*]] = arith.index_cast %[[R]] : index to i64
// CHECK-NEXT:      %[[HERE:.*]] = arith.cmpi eq, %[[RANK]], %[[R64]] : i64
// CHECK-NEXT:      %[[K:.*]] = linalg.index 2 : index
// CHECK-NEXT:      %[[K64:.*]] = arith.index_cast %[[K]] : index to i64
// CHECK-NEXT:      %[[Z:.*]] = arith.constant 0 : i64
// CHECK-NEXT:      %[[PICK:.*]] = arith.select %[[HERE]], %[[K64]], %[[Z]] : i64
// CHECK-NEXT:      arith.addi %[[ACC]], %[[PICK]] : i64
func.func @argsort(%x: tensor<4x8xf32>) -> tensor<4x8xi64> {
  %0 = nn.argsort %x {dim = 1 : i64, descending = true} : tensor<4x8xf32> -> tensor<4x8xi64>
  func.return %0 : tensor<4x8xi64>
}

// index_put with accumulate and no wrap, over a 2-d index: indices checked
// against [0, 4), reported as kind 3 (RuntimeError); one add reduction over
// the index loops into a copy of the input, adding -0.0 where an index names
// another row.
// CHECK-LABEL: func.func @index_put_accumulate(
// CHECK:         %[[SIZE:.*]] = arith.constant 4 : i64
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-NEXT:    arith.cmpi slt, %{{.*}}, %[[ZERO]] : i64
// CHECK:         %[[KIND:.*]] = arith.constant 3 : i64
// CHECK:           func.call @sparcc_rt_index_error(%[[KIND]], %{{.*}}, %{{.*}}, %[[SIZE]])
// CHECK:         %[[COPY:.*]] = linalg.copy ins(%x : tensor<4x8xf32>)
// CHECK-NEXT:    linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%i, %v : tensor<1x3xi64>, tensor<1x3x8xf32>) outs(%[[COPY]] : tensor<4x8xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[IDX:.*]]: i64, %[[V:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK:           %[[ROW:.*]] = linalg.index 0 : index
// CHECK-NEXT:      %[[HIT:.*]] = arith.cmpi eq, %{{.*}}, %[[ROW]] : index
// CHECK-NEXT:      %[[NEG0:.*]] = arith.constant -0.000000e+00 : f32
// CHECK-NEXT:      %[[ADD:.*]] = arith.select %[[HIT]], %[[V]], %[[NEG0]] : f32
// CHECK-NEXT:      arith.addf %[[ACC]], %[[ADD]] : f32
func.func @index_put_accumulate(%x: tensor<4x8xf32>, %i: tensor<1x3xi64>, %v: tensor<1x3x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.index_put %x[%i], %v {indexed = array<i64: 0>, accumulate = true, wrap = false} : (tensor<4x8xf32>, tensor<1x3xi64>, tensor<1x3x8xf32>) -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// index_add (a 1-d index along one dim, values of the indexed shape): after
// the check, a loop over the 3 index values adds slice k of the values into
// the row index[k] names (clamped into [0, 4)), in place of that row: work
// in the size of the values, not of the input. A bad index makes it 0 trips
// (the call raises; the input stays as it was, as in PyTorch).
// CHECK-LABEL: func.func @index_add_rows(
// CHECK:         %[[BAD:.*]] = arith.ori
// CHECK:         func.call @sparcc_rt_index_error
// CHECK:         %[[TRIPS:.*]] = arith.select %[[BAD]], %{{.*}}, %{{.*}} : index
// CHECK:         %[[LOOP:.*]] = scf.for %[[K:.*]] = %{{.*}} to %[[TRIPS]] step %{{.*}} iter_args(%[[ACC:.*]] = %x) -> (tensor<4x8xf32>) {
// CHECK-NEXT:      %[[AT:.*]] = tensor.extract %i[%[[K]]] : tensor<3xi64>
// CHECK:           arith.maxsi
// CHECK-NEXT:      %[[ROW:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK-NEXT:      %[[SRC:.*]] = tensor.extract_slice %v[%[[K]], 0] [1, 8] [1, 1] : tensor<3x8xf32> to tensor<1x8xf32>
// CHECK-NEXT:      %[[WIN:.*]] = tensor.extract_slice %[[ACC]][%[[ROW]], 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
// CHECK-NEXT:      %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[SRC]] : tensor<1x8xf32>) outs(%[[WIN]] : tensor<1x8xf32>)
// CHECK:             arith.addf
// CHECK:           %[[NEW:.*]] = tensor.insert_slice %[[SUM]] into %[[ACC]][%[[ROW]], 0] [1, 8] [1, 1] : tensor<1x8xf32> into tensor<4x8xf32>
// CHECK-NEXT:      scf.yield %[[NEW]] : tensor<4x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[LOOP]]
func.func @index_add_rows(%x: tensor<4x8xf32>, %i: tensor<3xi64>, %v: tensor<3x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.index_put %x[%i], %v {indexed = array<i64: 0>, accumulate = true, wrap = false} : (tensor<4x8xf32>, tensor<3xi64>, tensor<3x8xf32>) -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// A KV cache's update (index_copy_ of one position along dim 2): one row per
// head copied into the slice the position names (negative positions count
// from the end: wrap); nothing else of the cache is touched.
// CHECK-LABEL: func.func @index_copy_one_row(
// CHECK:         scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %cache) -> (tensor<1x4x32x16xf32>) {
// CHECK-NEXT:      %[[AT:.*]] = tensor.extract %pos[%[[K]]] : tensor<1xi64>
// CHECK:           arith.select
// CHECK:           %[[ROW:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK-NEXT:      %[[SRC:.*]] = tensor.extract_slice %new[0, 0, %[[K]], 0] [1, 4, 1, 16] [1, 1, 1, 1] : tensor<1x4x1x16xf32> to tensor<1x4x1x16xf32>
// CHECK-NEXT:      %[[WIN:.*]] = tensor.extract_slice %[[ACC]][0, 0, %[[ROW]], 0] [1, 4, 1, 16] [1, 1, 1, 1] : tensor<1x4x32x16xf32> to tensor<1x4x1x16xf32>
// CHECK-NEXT:      %[[COPY:.*]] = linalg.copy ins(%[[SRC]] : tensor<1x4x1x16xf32>) outs(%[[WIN]] : tensor<1x4x1x16xf32>)
// CHECK-NEXT:      %[[R:.*]] = tensor.insert_slice %[[COPY]] into %[[ACC]][0, 0, %[[ROW]], 0] [1, 4, 1, 16] [1, 1, 1, 1] : tensor<1x4x1x16xf32> into tensor<1x4x32x16xf32>
// CHECK-NEXT:      scf.yield %[[R]]
func.func @index_copy_one_row(%cache: tensor<1x4x32x16xf32>, %pos: tensor<1xi64>, %new: tensor<1x4x1x16xf32>) -> tensor<1x4x32x16xf32> {
  %0 = nn.index_put %cache[%pos], %new {indexed = array<i64: 2>} : (tensor<1x4x32x16xf32>, tensor<1xi64>, tensor<1x4x1x16xf32>) -> tensor<1x4x32x16xf32>
  func.return %0 : tensor<1x4x32x16xf32>
}

// index_put without accumulate: the last index (in index order, here over a
// 2x3 index tensor) naming an element wins: its position is a max reduction
// (-1: none), the value at it a sum, and unnamed elements keep the input's.
// CHECK-LABEL: func.func @index_put_last_wins(
// CHECK:         %[[NONE:.*]] = arith.constant -1 : i64
// CHECK:         %[[INIT:.*]] = linalg.fill ins(%[[NONE]] : i64)
// CHECK-NEXT:    %[[WON:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0)>], iterator_types = ["parallel", "reduction", "reduction"]} ins(%i : tensor<2x3xi64>) outs(%[[INIT]] : tensor<8xi64>)
// CHECK:             %[[STRIDE:.*]] = arith.constant 3 : i64
// CHECK:             arith.maxsi
// CHECK:         %[[PICKED:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d0)>], iterator_types = ["parallel", "reduction", "reduction"]} ins(%i, %[[WON]], %v : tensor<2x3xi64>, tensor<8xi64>, tensor<3xi64>)
// CHECK:             arith.addi
// CHECK:         linalg.generic {{.*}} ins(%[[WON]], %[[PICKED]], %x : tensor<8xi64>, tensor<8xi64>, tensor<8xi64>)
// CHECK:             %[[SOME:.*]] = arith.cmpi sge
// CHECK-NEXT:        arith.select %[[SOME]]
func.func @index_put_last_wins(%x: tensor<8xi64>, %i: tensor<2x3xi64>, %v: tensor<3xi64>) -> tensor<8xi64> {
  %0 = nn.index_put %x[%i], %v {indexed = array<i64: 0>} : (tensor<8xi64>, tensor<2x3xi64>, tensor<3xi64>) -> tensor<8xi64>
  func.return %0 : tensor<8xi64>
}

// scatter_add with an index smaller than src and than the input outside
// dim 1: checked like gather (RuntimeError, kind 3), src read only in the
// index's region, the sum computed over the region [2, 8] of a copy of the
// input (a reduction over the index's dim 1), then written into a copy.
// CHECK-LABEL: func.func @scatter_add_region(
// CHECK:         %[[SIZE:.*]] = arith.constant 8 : i64
// CHECK:         %[[KIND:.*]] = arith.constant 3 : i64
// CHECK:           func.call @sparcc_rt_index_error(%[[KIND]], %{{.*}}, %{{.*}}, %[[SIZE]])
// CHECK:         %[[SRC:.*]] = tensor.extract_slice %s[0, 0] [2, 3] [1, 1] : tensor<3x5xf32> to tensor<2x3xf32>
// CHECK-NEXT:    %[[BASE:.*]] = tensor.extract_slice %x[0, 0] [2, 8] [1, 1] : tensor<4x8xf32> to tensor<2x8xf32>
// CHECK-NEXT:    %[[EMPTY:.*]] = tensor.empty() : tensor<2x8xf32>
// CHECK-NEXT:    %[[INIT:.*]] = linalg.copy ins(%[[BASE]] : tensor<2x8xf32>) outs(%[[EMPTY]] : tensor<2x8xf32>)
// CHECK-NEXT:    %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%i, %[[SRC]] : tensor<2x3xi64>, tensor<2x3xf32>) outs(%[[INIT]] : tensor<2x8xf32>)
// CHECK-NEXT:    ^{{.*}}(%{{.*}}: i64, %[[V:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK:           %[[COL:.*]] = linalg.index 1 : index
// CHECK-NEXT:      %[[HIT:.*]] = arith.cmpi eq, %{{.*}}, %[[COL]] : index
// CHECK-NEXT:      %[[NEG0:.*]] = arith.constant -0.000000e+00 : f32
// CHECK-NEXT:      %[[ADD:.*]] = arith.select %[[HIT]], %[[V]], %[[NEG0]] : f32
// CHECK-NEXT:      arith.addf %[[ACC]], %[[ADD]] : f32
// CHECK:         %[[COPY:.*]] = linalg.copy ins(%x : tensor<4x8xf32>)
// CHECK-NEXT:    %[[WINDOW:.*]] = tensor.extract_slice %[[COPY]][0, 0] [2, 8] [1, 1]
// CHECK-NEXT:    %[[PUT:.*]] = linalg.copy ins(%[[SUM]] : tensor<2x8xf32>) outs(%[[WINDOW]] : tensor<2x8xf32>)
// CHECK-NEXT:    %[[OUT:.*]] = tensor.insert_slice %[[PUT]] into %[[COPY]][0, 0] [2, 8] [1, 1]
// CHECK-NEXT:    func.return %[[OUT]] : tensor<4x8xf32>
func.func @scatter_add_region(%x: tensor<4x8xf32>, %i: tensor<2x3xi64>, %s: tensor<3x5xf32>) -> tensor<4x8xf32> {
  %0 = nn.scatter %x, %i, %s {dim = 1 : i64, reduce = "sum"} : (tensor<4x8xf32>, tensor<2x3xi64>, tensor<3x5xf32>) -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// amax without include_self: index_reduce's check (IndexError, kind 2); the
// maximum starts from -inf, and elements that no index names (a count of
// 0) keep the input's value.
// CHECK-LABEL: func.func @scatter_amax_without_self(
// CHECK:         %[[KIND:.*]] = arith.constant 2 : i64
// CHECK:           func.call @sparcc_rt_index_error(%[[KIND]],
// CHECK:         %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK:         %[[START:.*]] = linalg.fill ins(%[[NEGINF]] : f32)
// CHECK-NEXT:    %[[MAX:.*]] = linalg.generic {{.*}} ins(%i, %s : tensor<2x8xi32>, tensor<2x8xf32>) outs(%[[START]] : tensor<4x8xf32>)
// CHECK:             arith.maximumf
// CHECK:         %[[COUNT:.*]] = linalg.generic {{.*}} ins(%i : tensor<2x8xi32>) outs(%{{.*}} : tensor<4x8xi64>)
// CHECK:             arith.extui %{{.*}} : i1 to i64
// CHECK-NEXT:        arith.addi
// CHECK:         linalg.generic {{.*}} ins(%[[COUNT]], %[[MAX]], %x : tensor<4x8xi64>, tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK-NEXT:    ^{{.*}}(%[[N:.*]]: i64, %[[M:.*]]: f32, %[[OWN:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-NEXT:      %[[NONE:.*]] = arith.cmpi eq, %[[N]], %[[ZERO]] : i64
// CHECK-NEXT:      arith.select %[[NONE]], %[[OWN]], %[[M]] : f32
func.func @scatter_amax_without_self(%x: tensor<4x8xf32>, %i: tensor<2x8xi32>, %s: tensor<2x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.scatter %x, %i, %s {dim = 0 : i64, reduce = "amax", include_self = false, error = "in_self"} : (tensor<4x8xf32>, tensor<2x8xi32>, tensor<2x8xf32>) -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// an integer mean: the sum over the count (1 + the indices that name the
// element), rounded down.
// CHECK-LABEL: func.func @scatter_mean_int(
// CHECK:         %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-NEXT:    %{{.*}} = tensor.empty() : tensor<6xi64>
// CHECK-NEXT:    %[[START:.*]] = linalg.fill ins(%[[ONE]] : i64)
// CHECK-NEXT:    %[[COUNT:.*]] = linalg.generic {{.*}} ins(%i : tensor<4xi64>) outs(%[[START]] : tensor<6xi64>)
// CHECK:         linalg.generic {{.*}} ins(%[[COUNT]], %{{.*}}, %x : tensor<6xi64>, tensor<6xi64>, tensor<6xi64>)
// CHECK:             arith.floordivsi
// CHECK-NOT:       func.return
// CHECK:             arith.select
func.func @scatter_mean_int(%x: tensor<6xi64>, %i: tensor<4xi64>, %s: tensor<4xi64>) -> tensor<6xi64> {
  %0 = nn.scatter %x, %i, %s {dim = 0 : i64, reduce = "mean"} : (tensor<6xi64>, tensor<4xi64>, tensor<4xi64>) -> tensor<6xi64>
  func.return %0 : tensor<6xi64>
}

// bools are scattered as i64 (a sum of bools is their or).
// CHECK-LABEL: func.func @scatter_bool(
// CHECK:         arith.extui %{{.*}} : i1 to i64
// CHECK:         linalg.generic {{.*}} ins(%i, %{{.*}} : tensor<4xi64>, tensor<4xi64>) outs(%{{.*}} : tensor<6xi64>)
// CHECK:             arith.addi
// CHECK:         arith.cmpi ne, %{{.*}}, %{{.*}} : i64
func.func @scatter_bool(%x: tensor<6xi1>, %i: tensor<4xi64>, %s: tensor<4xi1>) -> tensor<6xi1> {
  %0 = nn.scatter %x, %i, %s {dim = 0 : i64, reduce = "sum"} : (tensor<6xi1>, tensor<4xi64>, tensor<4xi1>) -> tensor<6xi1>
  func.return %0 : tensor<6xi1>
}

// nn.random: one call of the runtime for a fresh base (per op and call), then
// each element hashes (base, its row-major index): counter-based, no state
// shared between threads. Uniform f32: the hash's top 24 bits times 2^-24.
// CHECK-LABEL: func.func @random_uniform(
// CHECK:         %[[BASE:.*]] = func.call @sparcc_rt_random_base() : () -> i64
// CHECK-NEXT:    %[[B:.*]] = tensor.from_elements %[[BASE]] : tensor<i64>
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[B]] : tensor<i64>)
// CHECK:           linalg.index 0
// CHECK:           %[[FORTY:.*]] = arith.constant 40 : i64
// CHECK-NEXT:      %[[TOP:.*]] = arith.shrui %{{.*}}, %[[FORTY]] : i64
// CHECK-NEXT:      %[[F:.*]] = arith.sitofp %[[TOP]] : i64 to f32
// CHECK-NEXT:      %[[SCALE:.*]] = arith.constant 5.96046448e-08 : f32
// CHECK-NEXT:      %[[U:.*]] = arith.mulf %[[F]], %[[SCALE]] : f32
// CHECK-NEXT:      linalg.yield %[[U]] : f32
func.func @random_uniform() -> tensor<4x8xf32> {
  %0 = nn.random {kind = "uniform"} : tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// Normal: Box-Muller from two such numbers (a second hash of the key).
// CHECK-LABEL: func.func @random_normal(
// CHECK:         func.call @sparcc_rt_random_base()
// CHECK:         linalg.generic
// CHECK:           math.log
// CHECK:           math.sqrt
// CHECK:           math.cos
// CHECK-NEXT:      %[[N:.*]] = arith.mulf
// CHECK-NEXT:      linalg.yield %[[N]] : f64
func.func @random_normal() -> tensor<16xf64> {
  %0 = nn.random {kind = "normal"} : tensor<16xf64>
  func.return %0 : tensor<16xf64>
}
