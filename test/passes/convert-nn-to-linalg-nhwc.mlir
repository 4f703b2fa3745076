// convert-nn-to-linalg of channels-last (NHWC) convolutions and poolings
// (the channels-last pass sets `channels_last`).
// RUN: sparcc-opt %s -p convert-nn-to-linalg | filecheck %s

// A 1x1 convolution multiplies the input, as [H*W, C] rows, by the weight
// laid out [C, F] at load time. A depthwise one is a nest n oh ow | kh kw | c
// over the padded input, the weight laid out [KH, KW, C]: the channels
// innermost. A pooling likewise. A 3x3 convolution gathers [OH*OW, KH*KW*C]
// rows (runs of C values) and multiplies them by the weight laid out
// [KH, KW, C, F] and collapsed to [KH*KW*C, F] in one step.
// CHECK-LABEL: @nhwc(
// CHECK:         %[[W1:.*]] = nn.weight @pw.weight {perm = array<i64: 1, 0>} : tensor<4x6xf32>
// CHECK:         linalg.matmul ins(%{{.*}}, %[[W1]] : tensor<64x4xf32>, tensor<4x6xf32>)
// CHECK:         tensor.insert_slice %{{.*}} into %{{.*}}[0, 1, 1, 0] [1, 8, 8, 4] [1, 1, 1, 1] : tensor<1x8x8x4xf32> into tensor<1x10x10x4xf32>
// CHECK:         %[[WD:.*]] = nn.weight @dw.weight {perm = array<i64: 1, 2, 0>} : tensor<3x3x4xf32>
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, (d1 + d3), (d2 + d4), d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d3, d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d5)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "parallel"]} ins(%{{.*}}, %[[WD]] : tensor<1x10x10x4xf32>, tensor<3x3x4xf32>)
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, ((d1 * 2) + d3), ((d2 * 2) + d4), d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d3, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d5)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "parallel"]} ins(%x, %{{.*}} : tensor<1x8x8x4xf32>, tensor<2x2xf32>)
// CHECK:         %[[P:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, (d1 + d3), (d2 + d4), d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4, d5)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%{{.*}} : tensor<1x10x10x4xf32>) outs(%{{.*}} : tensor<1x8x8x3x3x4xf32>)
// CHECK:         %[[W3:.*]] = nn.weight @c3.weight {perm = array<i64: 2, 3, 1, 0>} : tensor<3x3x4x8xf32>
// CHECK-NEXT:    %[[B3:.*]] = tensor.collapse_shape %[[W3]] {{\[\[}}0 : i64, 1 : i64, 2 : i64], [3 : i64]] : tensor<3x3x4x8xf32> into tensor<36x8xf32>
// CHECK:         linalg.matmul ins(%{{.*}}, %[[B3]] : tensor<64x36xf32>, tensor<36x8xf32>)
// CHECK-NOT:     nn.conv2d
// CHECK-NOT:     nn.max_pool2d
func.func @nhwc(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x6xf32>, tensor<1x8x8x4xf32>, tensor<1x4x4x4xf32>, tensor<1x8x8x8xf32>) {
  %w1 = nn.weight @pw.weight : tensor<6x4x1x1xf32>
  %wd = nn.weight @dw.weight : tensor<4x1x3x3xf32>
  %w3 = nn.weight @c3.weight : tensor<8x4x3x3xf32>
  %0 = nn.conv2d %x, %w1 {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, channels_last = true} : (tensor<1x8x8x4xf32>, tensor<6x4x1x1xf32>) -> tensor<1x8x8x6xf32>
  %1 = nn.conv2d %x, %wd {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 4 : i64, channels_last = true} : (tensor<1x8x8x4xf32>, tensor<4x1x3x3xf32>) -> tensor<1x8x8x4xf32>
  %2 = nn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, channels_last = true} : tensor<1x8x8x4xf32> -> tensor<1x4x4x4xf32>
  %3 = nn.conv2d %x, %w3 {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, channels_last = true} : (tensor<1x8x8x4xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x8x8xf32>
  func.return %0, %1, %2, %3 : tensor<1x8x8x6xf32>, tensor<1x8x8x4xf32>, tensor<1x4x4x4xf32>, tensor<1x8x8x8xf32>
}
