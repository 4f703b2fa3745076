// Round trip of the sparse dialect: custom form -> print -> parse again, and
// the generic form parsed back to the same custom form. Spec strings are
// printed in canonical form: the preset when the levels are one, options
// only when they differ from the default.
// RUN: sparcc-opt %s | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// GENERIC-LABEL: sym_name = "ops"
// GENERIC:         %w = "sparse.weight"() <{sym_name = @fc1.weight}> : () -> !sparse.tensor<64x128xf32, #sparse.format<"csr">>
// GENERIC-NEXT:    %n = "sparse.nnz"(%w) : (!sparse.tensor<64x128xf32, #sparse.format<"csr">>) -> index
// GENERIC-NEXT:    %c = "sparse.convert"(%w) : (!sparse.tensor<64x128xf32, #sparse.format<"csr">>) -> !sparse.tensor<64x128xf32, #sparse.format<"bsr:4x4">>
// GENERIC-NEXT:    %t = "sparse.convert"(%c) : (!sparse.tensor<64x128xf32, #sparse.format<"bsr:4x4">>) -> tensor<64x128xf32>
// GENERIC-NEXT:    %p = "sparse.prune"(%d) <{spec = "2:4"}> : (tensor<64x128xf32>) -> !sparse.tensor<64x128xf32, #sparse.format<"2:4">>
// GENERIC-NEXT:    %v = "sparse.prune"(%d) <{spec = "vnm:64:2:4"}> : (tensor<64x128xf32>) -> !sparse.tensor<64x128xf32, #sparse.format<"vnm:64:2:4">>
// GENERIC-NEXT:    %u = "sparse.prune"(%d) <{spec = "unstructured:0.9"}> : (tensor<64x128xf32>) -> !sparse.tensor<64x128xf32, #sparse.format<"csr">>

// CHECK-LABEL: func.func @ops(
// CHECK-NEXT:    %w = sparse.weight @fc1.weight : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
// CHECK-NEXT:    %n = sparse.nnz %w : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
// CHECK-NEXT:    %c = sparse.convert %w : !sparse.tensor<64x128xf32, #sparse.format<"csr">> -> !sparse.tensor<64x128xf32, #sparse.format<"bsr:4x4">>
// CHECK-NEXT:    %t = sparse.convert %c : !sparse.tensor<64x128xf32, #sparse.format<"bsr:4x4">> -> tensor<64x128xf32>
// CHECK-NEXT:    %p = sparse.prune %d {spec = "2:4"} : tensor<64x128xf32> -> !sparse.tensor<64x128xf32, #sparse.format<"2:4">>
// CHECK-NEXT:    %v = sparse.prune %d {spec = "vnm:64:2:4"} : tensor<64x128xf32> -> !sparse.tensor<64x128xf32, #sparse.format<"vnm:64:2:4">>
// CHECK-NEXT:    %u = sparse.prune %d {spec = "unstructured:0.9"} : tensor<64x128xf32> -> !sparse.tensor<64x128xf32, #sparse.format<"csr">>
// CHECK-NEXT:    func.return %n, %t : index, tensor<64x128xf32>
func.func @ops(%d: tensor<64x128xf32>) -> (index, tensor<64x128xf32>) {
  %w = sparse.weight @"fc1.weight" : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
  %n = sparse.nnz %w : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
  %c = sparse.convert %w : !sparse.tensor<64x128xf32, #sparse.format<"csr">> -> !sparse.tensor<64x128xf32, #sparse.format<"bsr:4x4">>
  %t = sparse.convert %c : !sparse.tensor<64x128xf32, #sparse.format<"bsr:4x4">> -> tensor<64x128xf32>
  %p = sparse.prune %d {spec = "2:4"} : tensor<64x128xf32> -> !sparse.tensor<64x128xf32, #sparse.format<"2:4">>
  %v = sparse.prune %d {spec = "vnm:64:2:4"} : tensor<64x128xf32> -> !sparse.tensor<64x128xf32, #sparse.format<"vnm:64:2:4">>
  %u = sparse.prune %d {spec = "unstructured:0.9"} : tensor<64x128xf32> -> !sparse.tensor<64x128xf32, #sparse.format<"csr">>
  func.return %n, %t : index, tensor<64x128xf32>
}

// The generic form of every op parses to the same custom form.
// CHECK-LABEL: func.func @generic(
// CHECK-NEXT:    %w = sparse.weight @"0.weight" : !sparse.tensor<6x10xf16, #sparse.format<"coo">>
// CHECK-NEXT:    %0 = sparse.nnz %w : !sparse.tensor<6x10xf16, #sparse.format<"coo">>
// CHECK-NEXT:    %1 = sparse.convert %w : !sparse.tensor<6x10xf16, #sparse.format<"coo">> -> !sparse.tensor<6x10xf16, #sparse.format<"csc">>
// CHECK-NEXT:    %2 = sparse.prune %x {spec = "block:2x2:0.5"} : tensor<6x10xf16> -> !sparse.tensor<6x10xf16, #sparse.format<"bsr:2x2">>
// CHECK-NEXT:    func.return %0 : index
func.func @generic(%x: tensor<6x10xf16>) -> index {
  %w = "sparse.weight"() <{sym_name = @"0.weight"}> : () -> !sparse.tensor<6x10xf16, #sparse.format<"levels=(d0:compressed(nu),d1:singleton)">>
  %0 = "sparse.nnz"(%w) : (!sparse.tensor<6x10xf16, #sparse.format<"coo">>) -> index
  %1 = "sparse.convert"(%w) : (!sparse.tensor<6x10xf16, #sparse.format<"coo">>) -> !sparse.tensor<6x10xf16, #sparse.format<"levels=(dense,compressed);order=(1,0)">>
  %2 = "sparse.prune"(%x) <{spec = "block:2x2:0.5"}> : (tensor<6x10xf16>) -> !sparse.tensor<6x10xf16, #sparse.format<"bsr:2">>
  func.return %0 : index
}

// Every preset, and explicit forms: written loosely, printed in canonical form.
// Shapes that a block or group does not divide are padded (pad=zero).
// CHECK-LABEL: func.func @formats(
// CHECK-SAME:    %dense: !sparse.tensor<8x64xf32, #sparse.format<"dense">>
// CHECK-SAME:    %csr: !sparse.tensor<8x64xf32, #sparse.format<"csr">>
// CHECK-SAME:    %csc: !sparse.tensor<8x64xf32, #sparse.format<"csc">>
// CHECK-SAME:    %coo: !sparse.tensor<8x64xf32, #sparse.format<"coo">>
// CHECK-SAME:    %dcsr: !sparse.tensor<8x64xf32, #sparse.format<"dcsr">>
// CHECK-SAME:    %ell: !sparse.tensor<8x64xf32, #sparse.format<"ell">>
// CHECK-SAME:    %bsr: !sparse.tensor<8x64xf32, #sparse.format<"bsr:4x4">>
// CHECK-SAME:    %bcsr: !sparse.tensor<8x64xf32, #sparse.format<"bsr:2x8">>
// CHECK-SAME:    %bsr_odd: !sparse.tensor<7x61xf32, #sparse.format<"bsr:4x4">>
// CHECK-SAME:    %nm24: !sparse.tensor<8x64xf32, #sparse.format<"2:4">>
// CHECK-SAME:    %nm18: !sparse.tensor<8x64xf32, #sparse.format<"1:8">>
// CHECK-SAME:    %nm_odd: !sparse.tensor<8x63xf32, #sparse.format<"2:4">>
// CHECK-SAME:    %vnm: !sparse.tensor<128x64xf32, #sparse.format<"vnm:64:2:4">>
// CHECK-SAME:    %csr_w: !sparse.tensor<8x64xf32, #sparse.format<"csr;pos=64;crd=16">>
// CHECK-SAME:    %nm_w: !sparse.tensor<8x64xf32, #sparse.format<"2:4;crd=32">>
// CHECK-SAME:    %nopad: !sparse.tensor<8x64xf32, #sparse.format<"bsr:4x4;pad=none">>
// CHECK-SAME:    %x_csr: !sparse.tensor<8x64xf32, #sparse.format<"csr">>
// CHECK-SAME:    %x_csc: !sparse.tensor<8x64xf32, #sparse.format<"csc">>
// CHECK-SAME:    %x_bsr: !sparse.tensor<8x64xf32, #sparse.format<"bsr:4x4">>
// CHECK-SAME:    %x_nm: !sparse.tensor<8x64xf32, #sparse.format<"2:4">>
// CHECK-SAME:    %x_csr_t: !sparse.tensor<8x64xf32, #sparse.format<"levels=(compressed,dense)">>
// CHECK-SAME:    %x_dcsc: !sparse.tensor<8x64xf32, #sparse.format<"levels=(compressed,compressed);order=(1,0)">>
// CHECK-SAME:    %x_bcoo: !sparse.tensor<8x64xf32, #sparse.format<"levels=(d0/2:compressed(nu),d1/2:singleton,d0%2:dense,d1%2:dense)">>
// CHECK-SAME:    %x_blk_nm: !sparse.tensor<8x64xf32, #sparse.format<"levels=(d1:dense,d0/4:dense,d0%4:nm(1,4))">>
func.func @formats(
    %dense: !sparse.tensor<8x64xf32, #sparse.format<"dense">>,
    %csr: !sparse.tensor<8x64xf32, #sparse.format<"CSR">>,
    %csc: !sparse.tensor<8x64xf32, #sparse.format<"csc">>,
    %coo: !sparse.tensor<8x64xf32, #sparse.format<"coo">>,
    %dcsr: !sparse.tensor<8x64xf32, #sparse.format<"dcsr">>,
    %ell: !sparse.tensor<8x64xf32, #sparse.format<"ell">>,
    %bsr: !sparse.tensor<8x64xf32, #sparse.format<"bsr:4">>,
    %bcsr: !sparse.tensor<8x64xf32, #sparse.format<"bcsr:2x8">>,
    %bsr_odd: !sparse.tensor<7x61xf32, #sparse.format<"bsr:4x4">>,
    %nm24: !sparse.tensor<8x64xf32, #sparse.format<"nm:2:4">>,
    %nm18: !sparse.tensor<8x64xf32, #sparse.format<"nm:1:8">>,
    %nm_odd: !sparse.tensor<8x63xf32, #sparse.format<"2:4">>,
    %vnm: !sparse.tensor<128x64xf32, #sparse.format<"vnm:64:2:4">>,
    %csr_w: !sparse.tensor<8x64xf32, #sparse.format<"csr;crd=16;pos=64">>,
    %nm_w: !sparse.tensor<8x64xf32, #sparse.format<"2:4;crd=32">>,
    %nopad: !sparse.tensor<8x64xf32, #sparse.format<"bsr:4x4;pad=none">>,
    %x_csr: !sparse.tensor<8x64xf32, #sparse.format<"levels=(dense,compressed);order=(0,1);pos=32;crd=32">>,
    %x_csc: !sparse.tensor<8x64xf32, #sparse.format<"levels=(dense,compressed);order=(1,0);pos=32;crd=32">>,
    %x_bsr: !sparse.tensor<8x64xf32, #sparse.format<"levels=(dense,compressed);block=(4,4)">>,
    %x_nm: !sparse.tensor<8x64xf32, #sparse.format<"levels=(dense,nm(2,4))">>,
    %x_csr_t: !sparse.tensor<8x64xf32, #sparse.format<"levels=(compressed,dense)">>,
    %x_dcsc: !sparse.tensor<8x64xf32, #sparse.format<"levels=(compressed,compressed);order=(1,0)">>,
    %x_bcoo: !sparse.tensor<8x64xf32, #sparse.format<"levels=(d0/2:compressed(nu),d1/2:singleton,d0%2:dense,d1%2:dense)">>,
    %x_blk_nm: !sparse.tensor<8x64xf32, #sparse.format<"levels=(d1:dense, d0/4:dense, d0%4:nm(1,4))">>) {
  func.return
}

// The attribute on its own, e.g. as a discardable attribute.
// CHECK-LABEL: func.func @attrs()
// CHECK-SAME:    attributes {a = #sparse.format<"csr">, b = [#sparse.format<"2:4">, #sparse.format<"vnm:32:1:4">]}
func.func @attrs() attributes {a = #sparse.format<"levels=(dense,compressed)">, b = [#sparse.format<"2:4">, #sparse.format<"vnm:32:1:4">]} {
  func.return
}

// A quantised tensor with a sparse slot: 2:4 picks the stored weights (its
// coordinates buffer), int4:g32 stores their values.
// CHECK-LABEL: func.func @quant_sparse(
// CHECK-NEXT:    %q = quant.weight @q : !quant.tensor<64x128, #quant.format<"int4:g32">, #sparse.format<"2:4">>
// CHECK-NEXT:    %v = quant.weight @v : !quant.tensor<128x64, #quant.format<"nf4:g64">, #sparse.format<"vnm:64:2:4">>
// CHECK-NEXT:    %0 = quant.linear %x, %q : (tensor<2x128xf32>, !quant.tensor<64x128, #quant.format<"int4:g32">, #sparse.format<"2:4">>) -> tensor<2x64xf32>
func.func @quant_sparse(%x: tensor<2x128xf32>) -> tensor<2x64xf32> {
  %q = quant.weight @q : !quant.tensor<64x128, #quant.format<"int4:g32">, #sparse.format<"2:4">>
  %v = quant.weight @v : !quant.tensor<128x64, #quant.format<"nf4">, #sparse.format<"vnm:64:2:4">>
  %0 = quant.linear %x, %q : (tensor<2x128xf32>, !quant.tensor<64x128, #quant.format<"int4:g32">, #sparse.format<"2:4">>) -> tensor<2x64xf32>
  func.return %0 : tensor<2x64xf32>
}

// Sparse products: SpMM (a sparse lhs), sparse Linear layers with and without
// bias, and `acc` (the sum of parts of a TASD decomposition); sparse.weight's
// `entries` (stored entries per level) round-trips.
// CHECK-LABEL: func.func @products(
// CHECK-NEXT:    %w = sparse.weight @fc.weight {entries = array<i64: 64, 300>} : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
// CHECK-NEXT:    %w2 = sparse.weight @"fc.weight#1" : !sparse.tensor<64x128xf32, #sparse.format<"2:4">>
// CHECK-NEXT:    %y = sparse.linear %x, %w, %b : tensor<4x128xf32>, !sparse.tensor<64x128xf32, #sparse.format<"csr">>, tensor<64xf32> -> tensor<4x64xf32>
// CHECK-NEXT:    %z = sparse.linear %x, %w2 acc %y : tensor<4x128xf32>, !sparse.tensor<64x128xf32, #sparse.format<"2:4">> acc tensor<4x64xf32> -> tensor<4x64xf32>
// CHECK-NEXT:    %c = sparse.matmul %w, %d : (!sparse.tensor<64x128xf32, #sparse.format<"csr">>, tensor<128x8xf32>) -> tensor<64x8xf32>
// CHECK-NEXT:    %c2 = sparse.matmul %w2, %d acc %c : (!sparse.tensor<64x128xf32, #sparse.format<"2:4">>, tensor<128x8xf32>, tensor<64x8xf32>) -> tensor<64x8xf32>
func.func @products(%x: tensor<4x128xf32>, %b: tensor<64xf32>, %d: tensor<128x8xf32>) -> (tensor<4x64xf32>, tensor<64x8xf32>) {
  %w = sparse.weight @"fc.weight" {entries = array<i64: 64, 300>} : !sparse.tensor<64x128xf32, #sparse.format<"csr">>
  %w2 = sparse.weight @"fc.weight#1" : !sparse.tensor<64x128xf32, #sparse.format<"2:4">>
  %y = sparse.linear %x, %w, %b : tensor<4x128xf32>, !sparse.tensor<64x128xf32, #sparse.format<"csr">>, tensor<64xf32> -> tensor<4x64xf32>
  %z = sparse.linear %x, %w2 acc %y : tensor<4x128xf32>, !sparse.tensor<64x128xf32, #sparse.format<"2:4">> acc tensor<4x64xf32> -> tensor<4x64xf32>
  %c = sparse.matmul %w, %d : (!sparse.tensor<64x128xf32, #sparse.format<"csr">>, tensor<128x8xf32>) -> tensor<64x8xf32>
  %c2 = sparse.matmul %w2, %d acc %c : (!sparse.tensor<64x128xf32, #sparse.format<"2:4">>, tensor<128x8xf32>, tensor<64x8xf32>) -> tensor<64x8xf32>
  func.return %z, %c2 : tensor<4x64xf32>, tensor<64x8xf32>
}
