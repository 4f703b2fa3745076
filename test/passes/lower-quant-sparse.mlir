// lower-quant of a sparse quantised weight (2:4 of 4-bit codes): one call to
// sparcc_sqlinear_24x4 (sqkernels.c) with the packed stream of codes and
// 2-bit positions (ceil(N/4) quads x ceil(K/64) blocks x 96 bytes), float32
// scales per group of kept values, the value table; group counts kept values.
// Combinations without a kernel are one error naming the reason.
// RUN: sparcc-opt %s -p lower-quant --split-input-file --verify-diagnostics | filecheck %s

// CHECK-LABEL: builtin.module {
// CHECK-NEXT:    func.func private @sparcc_sqlinear_24x4(memref<1xf32>, memref<1xi8>, memref<1xf32>, memref<1xf32>, memref<1xf32>, memref<1xf32>, memref<1xf32>, i64, i64, i64, i64, i64) -> ()
// CHECK-LABEL:   func.func @sparse_nf4(
// CHECK:           nn.weight @"fc1.weight#cpu.packed" : tensor<10x384xi8>
// CHECK:           nn.weight @"fc1.weight#cpu.scales" : tensor<37x2xf32>
// CHECK:           nn.weight @"fc1.weight#cpu.lut" : tensor<16xf32>
// CHECK:           %[[M:.*]] = arith.constant 3 : i64
// CHECK-NEXT:      %[[N:.*]] = arith.constant 37 : i64
// CHECK-NEXT:      %[[K:.*]] = arith.constant 200 : i64
// CHECK-NEXT:      %[[G:.*]] = arith.constant 64 : i64
// CHECK-NEXT:      %[[F:.*]] = arith.constant 2 : i64
// CHECK-NEXT:      func.call @sparcc_sqlinear_24x4({{.*}}, %[[M]], %[[N]], %[[K]], %[[G]], %[[F]])
func.func @sparse_nf4(%x: tensor<3x200xf32>, %b: tensor<37xf32>) -> tensor<3x37xf32> {
  %w = quant.weight @"fc1.weight" : !quant.tensor<37x200, #quant.format<"nf4:g64">, #sparse.format<"2:4">>
  %y = quant.linear %x, %w, %b : (tensor<3x200xf32>, !quant.tensor<37x200, #quant.format<"nf4:g64">, #sparse.format<"2:4">>, tensor<37xf32>) -> tensor<3x37xf32>
  func.return %y : tensor<3x37xf32>
}

// -----

// Zero points and one scale per row (channel: the group is every kept value).
// CHECK-LABEL:   func.func @sparse_int4_asym_channel(
// CHECK:           nn.weight @"w#cpu.packed" : tensor<2x96xi8>
// CHECK:           nn.weight @"w#cpu.scales" : tensor<8x1xf32>
// CHECK:           nn.weight @"w#cpu.zeros" : tensor<8x1xf32>
// CHECK:           %[[G:.*]] = arith.constant 32 : i64
// CHECK-NEXT:      %[[F:.*]] = arith.constant 1 : i64
// CHECK-NEXT:      func.call @sparcc_sqlinear_24x4({{.*}}, %[[G]], %[[F]])
func.func @sparse_int4_asym_channel(%x: tensor<1x64xf32>) -> tensor<1x8xf32> {
  %w = quant.weight @w : !quant.tensor<8x64, #quant.format<"int4:channel:asym">, #sparse.format<"2:4">>
  %y = quant.linear %x, %w : (tensor<1x64xf32>, !quant.tensor<8x64, #quant.format<"int4:channel:asym">, #sparse.format<"2:4">>) -> tensor<1x8xf32>
  func.return %y : tensor<1x8xf32>
}
