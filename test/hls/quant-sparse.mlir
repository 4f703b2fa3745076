// A quantised and 2:4-sparse layer with zero points (hls-lower-quant): the kept values'
// codes [16, 64 / 4 * 2] read through the table, less the zero point and times the scale of
// their group (32 kept values: one a row), then multiplied with x read through their
// positions in each group of 4 (the N:M gather of hls-lower-sparse).
// RUN: sparcc-opt %s -p hls-lower-quant | FileCheck %s

// CHECK-LABEL: @sparse_asym
// CHECK:         %[[CODES:.*]] = nn.weight @"fc.weight#codes" : tensor<16x32xi32>
// CHECK-NEXT:    %[[LUT:.*]] = nn.weight @"fc.weight#lut" : tensor<16x1xf32>
// CHECK-NEXT:    %[[SCALES:.*]] = nn.weight @"fc.weight#scales" : tensor<16x1xf32>
// CHECK-NEXT:    %[[V:.*]] = nn.embedding %[[LUT]], %[[CODES]]
// CHECK-NEXT:    %[[FLAT:.*]] = nn.reshape %[[V]] : tensor<16x32x1xf32> -> tensor<16x32xf32>
// CHECK-NEXT:    %[[ZEROS:.*]] = nn.weight @"fc.weight#zeros" : tensor<16x1xf32>
// CHECK:         %[[ZFULL:.*]] = nn.reshape %{{.*}} : tensor<16x1x32xf32> -> tensor<16x32xf32>
// CHECK-NEXT:    %[[SHIFTED:.*]] = nn.sub %[[FLAT]], %[[ZFULL]]
// CHECK:         %[[W:.*]] = nn.mul %[[SHIFTED]], %{{.*}}
// CHECK-NEXT:    %[[CRD:.*]] = nn.weight @"fc.weight#i0" : tensor<16x16x2xi8>
// CHECK-NEXT:    %[[VALS:.*]] = nn.reshape %[[W]] : tensor<16x32xf32> -> tensor<16x16x2xf32>
// CHECK:         nn.gather %{{.*}}, %{{.*}} {dim = 3 : i64} : (tensor<2x16x16x4xf32>, tensor<2x16x16x2xi64>) -> tensor<2x16x16x2xf32>
// CHECK:         nn.sum %{{.*}} {dims = array<i64: 2, 3>}
// CHECK-NOT:     quant.
func.func @sparse_asym(%x: tensor<2x64xf32>) -> tensor<2x16xf32> {
  %w = quant.weight @"fc.weight" : !quant.tensor<16x64, #quant.format<"int4:g32:asym">, #sparse.format<"2:4">>
  %b = nn.weight @"fc.bias" : tensor<16xf32>
  %y = quant.linear %x, %w, %b : (tensor<2x64xf32>, !quant.tensor<16x64, #quant.format<"int4:g32:asym">, #sparse.format<"2:4">>, tensor<16xf32>) -> tensor<2x16xf32>
  func.return %y : tensor<2x16xf32>
}
