// lower-quant: quant.linear becomes a call to the fused dequantising kernel
// of its format; the storage becomes named weights; every buffer crosses
// as a memref<1xT> view (a bare pointer).
// RUN: sparcc-opt %s -p lower-quant --split-input-file | filecheck %s

// CHECK-LABEL: builtin.module {
// CHECK-NEXT:    func.func private @sparcc_qlinear_lut4(memref<1xf32>, memref<1xi8>, memref<1xf32>, memref<1xf32>, memref<1xf32>, memref<1xf32>, memref<1xf32>, i64, i64, i64, i64, i64) -> ()
// CHECK-LABEL:   func.func @nf4(
// x is read as [12, 64] and y written as [12, 16] through their own
// row-major buffers: no reshapes (after the call one would stall the schedule).
// CHECK:           %[[XB:.*]] = bufferization.to_buffer %x read_only : tensor<3x4x64xf32> to memref<3x4x64xf32>
// CHECK:           %[[XP:.*]] = memref.reinterpret_cast %[[XB]] to offset: [0], sizes: [1], strides: [1] : memref<3x4x64xf32> to memref<1xf32>
// CHECK:           %[[NONE:.*]] = memref.alloca() : memref<1xf32>
// CHECK:           nn.weight @"w#codes" : tensor<16x32xi8>
// CHECK:           nn.weight @"w#scales" : tensor<16x2xf32>
// CHECK:           nn.weight @"w#lut" : tensor<16xf32>
// CHECK:           %[[Y:.*]] = memref.alloc() {alignment = 64 : i64} : memref<3x4x16xf32>
// M, N, K, group, flags (no zero points, no bias)
// CHECK:           %[[M:.*]] = arith.constant 12 : i64
// CHECK-NEXT:      %[[N:.*]] = arith.constant 16 : i64
// CHECK-NEXT:      %[[K:.*]] = arith.constant 64 : i64
// CHECK-NEXT:      %[[G:.*]] = arith.constant 32 : i64
// CHECK-NEXT:      %[[F:.*]] = arith.constant 0 : i64
// CHECK-NEXT:      func.call @sparcc_qlinear_lut4(%[[XP]], %{{.*}}, %{{.*}}, %[[NONE]], %{{.*}}, %[[NONE]], %{{.*}}, %[[M]], %[[N]], %[[K]], %[[G]], %[[F]])
// CHECK-NEXT:      %[[T:.*]] = bufferization.to_tensor %[[Y]] restrict writable : memref<3x4x16xf32> to tensor<3x4x16xf32>
// CHECK-NEXT:      func.return %[[T]]
// CHECK-NOT:       quant.
func.func @nf4(%x: tensor<3x4x64xf32>) -> tensor<3x4x16xf32> {
  %w = quant.weight @w : !quant.tensor<16x64, #quant.format<"nf4:g32">>
  %y = quant.linear %x, %w : (tensor<3x4x64xf32>, !quant.tensor<16x64, #quant.format<"nf4:g32">>) -> tensor<3x4x16xf32>
  func.return %y : tensor<3x4x16xf32>
}

// -----

// Asymmetric int8 with a bias: the 8-bit kernel, zero points and bias flagged (1 + 2).
// CHECK-LABEL: func.func private @sparcc_qlinear_lut8(
// CHECK-LABEL: func.func @int8(
// CHECK:         nn.weight @"w#codes" : tensor<16x64xi8>
// CHECK:         nn.weight @"w#scales" : tensor<16x1xf32>
// CHECK:         nn.weight @"w#zeros" : tensor<16x1xf32>
// CHECK:         nn.weight @"w#lut" : tensor<256xf32>
// CHECK:         bufferization.to_buffer %{{.*}} read_only : tensor<16xf32> to memref<16xf32>
// CHECK:         arith.constant 2 : i64
// CHECK-NEXT:    arith.constant 16 : i64
// CHECK-NEXT:    arith.constant 64 : i64
// CHECK-NEXT:    arith.constant 64 : i64
// CHECK-NEXT:    arith.constant 3 : i64
// CHECK-NEXT:    func.call @sparcc_qlinear_lut8(
func.func @int8(%x: tensor<2x64xf32>, %b: tensor<16xf32>) -> tensor<2x16xf32> {
  %w = quant.weight @w : !quant.tensor<16x64, #quant.format<"int8:channel:asym">>
  %y = quant.linear %x, %w, %b : (tensor<2x64xf32>, !quant.tensor<16x64, #quant.format<"int8:channel:asym">>, tensor<16xf32>) -> tensor<2x16xf32>
  func.return %y : tensor<2x16xf32>
}

// -----

// MXFP4: E8M0 scale codes (i8) and no group operand.
// CHECK-LABEL: func.func private @sparcc_qlinear_mx4(memref<1xf32>, memref<1xi8>, memref<1xi8>, memref<1xf32>, memref<1xf32>, memref<1xf32>, i64, i64, i64, i64) -> ()
// CHECK-LABEL: func.func @mx(
// CHECK:         nn.weight @"w#scales" : tensor<8x2xi8>
// CHECK:         func.call @sparcc_qlinear_mx4(
func.func @mx(%x: tensor<64xf32>) -> tensor<8xf32> {
  %w = quant.weight @w : !quant.tensor<8x64, #quant.format<"mxfp4">>
  %y = quant.linear %x, %w : (tensor<64xf32>, !quant.tensor<8x64, #quant.format<"mxfp4">>) -> tensor<8xf32>
  func.return %y : tensor<8xf32>
}


// -----

// A dynamic batch (size symbol s0): M is read from x at run time (rows of
// [s0, 4, 64] read as [M, 64]: s0 * 4), the result is allocated with s0 and
// keeps its symbolic shape for the ops that read it.
// CHECK-LABEL: func.func @dynamic_rows(
// CHECK:         %[[D:.*]] = tensor.dim %x, %{{.*}} : tensor<?x4x64xf32, "[s0, 4, 64]">
// CHECK:         %[[FOUR:.*]] = arith.constant 4 : index
// CHECK-NEXT:    %[[ROWS:.*]] = arith.muli %[[D]], %[[FOUR]] : index
// CHECK:         %[[Y:.*]] = memref.alloc(%[[D]]) {alignment = 64 : i64} : memref<?x4x16xf32>
// CHECK:         %[[M:.*]] = arith.index_cast %[[ROWS]] : index to i64
// CHECK:         func.call @sparcc_qlinear_lut4(%{{.*}}, %[[M]],
// CHECK:         bufferization.to_tensor %[[Y]] restrict writable : memref<?x4x16xf32> to tensor<?x4x16xf32, "[s0, 4, 16]">
func.func @dynamic_rows(%x: tensor<?x4x64xf32, "[s0, 4, 64]">) -> tensor<?x4x16xf32, "[s0, 4, 16]"> {
  %w = quant.weight @w : !quant.tensor<16x64, #quant.format<"nf4:g32">>
  %y = quant.linear %x, %w : (tensor<?x4x64xf32, "[s0, 4, 64]">, !quant.tensor<16x64, #quant.format<"nf4:g32">>) -> tensor<?x4x16xf32, "[s0, 4, 16]">
  func.return %y : tensor<?x4x16xf32, "[s0, 4, 16]">
}
