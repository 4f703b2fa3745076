// RUN: sparcc-opt %s -p hls-lower-quant | FileCheck %s

// CHECK-LABEL: @grouped
// CHECK-NEXT:    %{{.*}} = nn.weight @fc.bias : tensor<16xf32>
// CHECK-NEXT:    %[[CODES:.*]] = nn.weight @"fc.weight#codes" : tensor<16x64xi32>
// CHECK-NEXT:    %[[LUT:.*]] = nn.weight @"fc.weight#lut" : tensor<16x1xf32>
// CHECK-NEXT:    %[[SCALES:.*]] = nn.weight @"fc.weight#scales" : tensor<16x2xf32>
// CHECK-NEXT:    %[[V:.*]] = nn.embedding %[[LUT]], %[[CODES]] : (tensor<16x1xf32>, tensor<16x64xi32>) -> tensor<16x64x1xf32>
// CHECK-NEXT:    %[[FLAT:.*]] = nn.reshape %[[V]] : tensor<16x64x1xf32> -> tensor<16x64xf32>
// CHECK-NEXT:    %[[S3:.*]] = nn.reshape %[[SCALES]] : tensor<16x2xf32> -> tensor<16x2x1xf32>
// CHECK-NEXT:    %[[WIDE:.*]] = nn.expand %[[S3]] : tensor<16x2x1xf32> -> tensor<16x2x32xf32>
// CHECK-NEXT:    %[[SFULL:.*]] = nn.reshape %[[WIDE]] : tensor<16x2x32xf32> -> tensor<16x64xf32>
// CHECK-NEXT:    %[[W:.*]] = nn.mul %[[FLAT]], %[[SFULL]]
// CHECK-NEXT:    %{{.*}} = nn.linear %{{.*}}, %[[W]], %{{.*}}
// CHECK-NOT:     quant.
func.func @grouped(%x: tensor<2x64xf32>) -> tensor<2x16xf32> {
  %w = quant.weight @"fc.weight" : !quant.tensor<16x64, #quant.format<"nf4:g32">>
  %b = nn.weight @"fc.bias" : tensor<16xf32>
  %y = quant.linear %x, %w, %b : (tensor<2x64xf32>, !quant.tensor<16x64, #quant.format<"nf4:g32">>, tensor<16xf32>) -> tensor<2x16xf32>
  func.return %y : tensor<2x16xf32>
}

// CHECK-LABEL: @per_channel
// CHECK:         nn.weight @"g.weight#lut" : tensor<256x1xf32>
// CHECK:         nn.weight @"g.weight#scales" : tensor<8x1xf32>
// CHECK:         nn.expand %{{.*}} : tensor<8x1x1xf32> -> tensor<8x1x32xf32>
func.func @per_channel(%x: tensor<1x32xf32>) -> tensor<1x8xf32> {
  %w = quant.weight @"g.weight" : !quant.tensor<8x32, #quant.format<"int8:channel">>
  %y = quant.linear %x, %w : (tensor<1x32xf32>, !quant.tensor<8x32, #quant.format<"int8:channel">>) -> tensor<1x8xf32>
  func.return %y : tensor<1x8xf32>
}
