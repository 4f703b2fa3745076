// lower-sparse: sparse.linear and sparse.matmul become calls to the sparse
// kernel of their storage kind, every buffer a bare pointer (memref<1xT>);
// a sparse weight's buffers come from the store as bytes (#i0.., #values)
// sized by its `entries`; a sparse function argument becomes one argument
// per buffer; `acc` copies the accumulator into the result and sets flag 1.
// RUN: sparcc-opt %s -p lower-sparse | filecheck %s

// CHECK:       func.func private @sparcc_sp_nm(i64, i64, i64, i64, memref<1xi8>, memref<1xi8>, memref<1xi8>, memref<1xi8>, memref<1xf32>, memref<1xf32>, memref<1xf32>, memref<1xf32>, i64, i64, i64, i64)
// CHECK:       func.func private @sparcc_sp_csr(

// CSR weight: positions 65 x u32 = 260 bytes, 300 coordinates x u32 = 1200 bytes.
// CHECK-LABEL: func.func @linear(
// CHECK-SAME:      %x: tensor<4x128xf32>, %b: tensor<64xf32>) -> tensor<4x64xf32>
// CHECK:         %[[P:.*]] = nn.weight @"fc.weight#i0" : tensor<260xi8>
// CHECK-NEXT:    %[[C:.*]] = nn.weight @"fc.weight#i1" : tensor<1200xi8>
// CHECK-NEXT:    %[[V:.*]] = nn.weight @"fc.weight#values" : tensor<300xf32>
// CHECK:         %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x64xf32>
// mode 1 (linear), rows 64, cols 128, n 4, no params, flags 2 (bias)
// CHECK:         %[[MODE:.*]] = arith.constant 1 : i64
// CHECK-NEXT:    %[[ROWS:.*]] = arith.constant 64 : i64
// CHECK-NEXT:    %[[COLS:.*]] = arith.constant 128 : i64
// CHECK-NEXT:    %[[N:.*]] = arith.constant 4 : i64
// CHECK:         %[[FLAGS:.*]] = arith.constant 2 : i64
// CHECK-NEXT:    func.call @sparcc_sp_csr(%[[MODE]], %[[ROWS]], %[[COLS]], %[[N]],
// 2:4 part accumulates onto the first: 64 rows x 32 groups x 2 = 4096 u8 coordinates, params 2, 4, flags 1
// CHECK:         nn.weight @"fc.weight#1#i0" : tensor<4096xi8>
// CHECK:         "memref.copy"
// CHECK:         %[[N2:.*]] = arith.constant 2 : i64
// CHECK-NEXT:    %[[M4:.*]] = arith.constant 4 : i64
// CHECK-NEXT:    %[[Z:.*]] = arith.constant 0 : i64
// CHECK-NEXT:    %[[ACC:.*]] = arith.constant 1 : i64
// CHECK-NEXT:    func.call @sparcc_sp_nm({{.*}}, %[[N2]], %[[M4]], %[[Z]], %[[ACC]])
// CHECK-NOT:     sparse.
func.func @linear(%x: tensor<4x128xf32>, %b: tensor<64xf32>) -> tensor<4x64xf32> {
  %w = sparse.weight @"fc.weight" {entries = array<i64: 64, 300>} : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
  %w2 = sparse.weight @"fc.weight#1" : !sparse.tensor<64x128xf32, #sparse.format<"2:4">>
  %y = sparse.linear %x, %w, %b : tensor<4x128xf32>, !sparse.tensor<64x128xf32, #sparse.format<"csr">>, tensor<64xf32> -> tensor<4x64xf32>
  %z = sparse.linear %x, %w2 acc %y : tensor<4x128xf32>, !sparse.tensor<64x128xf32, #sparse.format<"2:4">> acc tensor<4x64xf32> -> tensor<4x64xf32>
  func.return %z : tensor<4x64xf32>
}

// A sparse CSR argument with 64-bit indices: positions (65 x 8 bytes), then
// coordinates and values whose lengths depend on the data (typed 1).
// CHECK-LABEL: func.func @spmm(
// CHECK-SAME:      %{{.*}}: tensor<520xi8>, %{{.*}}: tensor<1xi8>, %{{.*}}: tensor<1xf32>, %d: tensor<128x8xf32>) -> tensor<64x8xf32>
// mode 0 (A @ B), n = 8, flags 12 (64-bit positions and coordinates)
// CHECK:         %[[MODE0:.*]] = arith.constant 0 : i64
// CHECK:         %[[F:.*]] = arith.constant 12 : i64
// CHECK-NEXT:    func.call @sparcc_sp_csr(%[[MODE0]],
func.func @spmm(%a: !sparse.tensor<64x128xf32, #sparse.format<"csr;pos=64;crd=64">>, %d: tensor<128x8xf32>) -> tensor<64x8xf32> {
  %c = sparse.matmul %a, %d : (!sparse.tensor<64x128xf32, #sparse.format<"csr;pos=64;crd=64">>, tensor<128x8xf32>) -> tensor<64x8xf32>
  func.return %c : tensor<64x8xf32>
}

// BSR 4x4 weight of 3 blocks: 2 + 1 positions, 3 block coordinates, 48 values; params R, C.
// CHECK-LABEL: func.func @bsr(
// CHECK:         nn.weight @"b.weight#i0" : tensor<12xi8>
// CHECK-NEXT:    nn.weight @"b.weight#i1" : tensor<12xi8>
// CHECK-NEXT:    nn.weight @"b.weight#values" : tensor<48xf32>
// CHECK:         %[[R:.*]] = arith.constant 4 : i64
// CHECK-NEXT:    %[[C4:.*]] = arith.constant 4 : i64
// CHECK-NEXT:    arith.constant 0 : i64
// CHECK-NEXT:    arith.constant 0 : i64
// CHECK-NEXT:    func.call @sparcc_sp_bsr(
func.func @bsr(%x: tensor<8xf32>) -> tensor<8xf32> {
  %w = sparse.weight @"b.weight" {entries = array<i64: 2, 3, 12, 48>} : !sparse.tensor<8x8xf32, #sparse.format<"bsr:4x4">>
  %y = sparse.linear %x, %w : tensor<8xf32>, !sparse.tensor<8x8xf32, #sparse.format<"bsr:4x4">> -> tensor<8xf32>
  func.return %y : tensor<8xf32>
}
