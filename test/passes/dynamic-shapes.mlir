// Dynamic shapes through convert-nn-to-linalg and lower-entry-abi: sizes are
// read from the argument that carries each symbol, tensors get dynamic sizes,
// a reshape keeps one symbolic size per reassociation group, and the entry
// function takes each symbol as an index argument after its buffers, which
// arrive as bare pointers viewed through memref.reinterpret_cast.
// RUN: sparcc-opt %s -p convert-nn-to-linalg | filecheck %s --check-prefix=LINALG
// RUN: sparcc-opt %s -p convert-nn-to-linalg,lower-entry-abi | filecheck %s --check-prefix=ABI

// LINALG-LABEL: func.func @block(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) -> tensor<1x?x4xf32>
// LINALG-SAME:    sparcc.sizes = ["s0"], sparcc.arg_dims = ["[s0, 8]", "[4, 8]"], sparcc.result_dims = ["[1, s0, 4]"]
// LINALG:         %[[C0:.*]] = arith.constant 0 : index
// LINALG-NEXT:    %[[S0:.*]] = tensor.dim {sparcc.size = "s0"} %x, %[[C0]] : tensor<?x8xf32>
// LINALG-NEXT:    %[[E:.*]] = tensor.empty(%[[S0]]) : tensor<?x4xf32>
// LINALG:         linalg.matmul ins(%x, %{{.*}} : tensor<?x8xf32>, tensor<8x4xf32>) outs(%{{.*}} : tensor<?x4xf32>)
// LINALG:         tensor.expand_shape %{{.*}} {{\[}}[0 : i64, 1 : i64], [2 : i64]] output_shape [1, %{{.*}}, 4] : tensor<?x4xf32> into tensor<1x?x4xf32>

// ABI-LABEL: func.func @block(%0: memref<1xf32>, %1: memref<4x8xf32>, %2: memref<1xf32>, %3: index)
// ABI:         memref.reinterpret_cast %0 to offset: [0], sizes: [%3, 8], strides: [8, 1] : memref<1xf32> to memref<?x8xf32>
// ABI:         %[[STRIDE:.*]] = arith.muli
// ABI-NEXT:    %[[OUT:.*]] = memref.reinterpret_cast %2 to offset: [0], sizes: [1, %3, 4], strides: [%[[STRIDE]], 4, 1] : memref<1xf32> to memref<1x?x4xf32>
// ABI-NOT:     tensor.dim
// ABI:         bufferization.materialize_in_destination %{{.*}} in restrict writable %[[OUT]]
func.func @block(%x: tensor<?x8xf32, "[s0, 8]">, %w: tensor<4x8xf32>) -> tensor<1x?x4xf32, "[1, s0, 4]"> {
  %0 = nn.linear %x, %w : (tensor<?x8xf32, "[s0, 8]">, tensor<4x8xf32>) -> tensor<?x4xf32, "[s0, 4]">
  %1 = nn.softmax %0 {dim = 0 : i64} : tensor<?x4xf32, "[s0, 4]"> -> tensor<?x4xf32, "[s0, 4]">
  %2 = nn.reshape %1 : tensor<?x4xf32, "[s0, 4]"> -> tensor<1x?x4xf32, "[1, s0, 4]">
  func.return %2 : tensor<1x?x4xf32, "[1, s0, 4]">
}

// Attention with a symbolic length: q @ k^T is one contraction whose innermost
// loop runs over E (dot products, static), probs @ v one whose innermost loop
// runs over Ev (rows of v added per key): no transposed copy of k, and a
// static innermost loop for the CPU schedule to vectorise.
// LINALG-LABEL: func.func @attention(
// LINALG:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
// LINALG:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]}
func.func @attention(%q: tensor<1x2x?x8xf32, "[1, 2, s0, 8]">) -> tensor<1x2x?x8xf32, "[1, 2, s0, 8]"> {
  %0 = nn.sdpa %q, %q, %q {is_causal = true, scale = 0.25 : f64} : (tensor<1x2x?x8xf32, "[1, 2, s0, 8]">, tensor<1x2x?x8xf32, "[1, 2, s0, 8]">, tensor<1x2x?x8xf32, "[1, 2, s0, 8]">) -> tensor<1x2x?x8xf32, "[1, 2, s0, 8]">
  func.return %0 : tensor<1x2x?x8xf32, "[1, 2, s0, 8]">
}
