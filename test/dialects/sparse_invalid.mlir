// One invalid case per chunk, one for each rule of the sparse dialect.
// Every chunk must fail with exactly the message checked, in order.
// Spec strings and sparse.tensor parameters are checked while parsing (a
// located parse error, parse_format's ValueError message verbatim); op rules
// when the IR verifies.
// RUN: sparcc-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s
// Without the diagnostics flags a bad spec is one located error line, exit 1.
// RUN: not sparcc-opt %s 2>&1 | filecheck %s --check-prefix=USER
// USER: sparse_invalid.mlir:[[# @LINE + 8]]:67: error: sparse spec 'cssr': unknown format 'cssr'; expected one of dense, csr, csc, coo, dcsr, ell, bsr:RxC, N:M, nm:N:M, vnm:V:N:M, levels=(...)
// USER-NOT: Traceback

// CHECK:      sparse_invalid.mlir:[[# @LINE + 5]]:67
// CHECK-NEXT:   %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"cssr">>
// CHECK-NEXT:                                                                   ^^^^^^
// CHECK-NEXT:                                                                   sparse spec 'cssr': unknown format 'cssr'; expected one of dense, csr, csc, coo, dcsr, ell, bsr:RxC, N:M, nm:N:M, vnm:V:N:M, levels=(...)
func.func @unknown_format() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"cssr">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec 'bsr:0x4': expected a positive integer for the block rows, got '0'
func.func @block_zero() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"bsr:0x4">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec 'nm:5:4': nm(5,4): expected 1 <= n <= m
func.func @nm_n_gt_m() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"nm:5:4">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec 'csr;pos=12': pos must be 8, 16, 32 or 64 bits, got '12'
func.func @bit_width() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"csr;pos=12">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec 'csr;order=(1,0)': option 'order' does not apply to the preset 'csr'
func.func @unknown_option() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"csr;order=(1,0)">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec 'levels=(dense,sparse)': unknown level type 'sparse'; expected dense, compressed, compressed(nu), compressed(pad), singleton, nm(n,m)
func.func @level_type() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"levels=(dense,sparse)">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec 'levels=(d0:dense,d1:singleton)': a singleton level must follow a compressed(nu) or singleton level
func.func @singleton_alone() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"levels=(d0:dense,d1:singleton)">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec 'levels=(d0:dense,d1/4:compressed,d1%2:dense)': levels of dimension 1 must split it exactly: d1/4 then d1%2; expected d1/B then d1%B
func.func @split_inexact() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"levels=(d0:dense,d1/4:compressed,d1%2:dense)">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec 'levels=(d0:dense,d1/8:dense,d1%8:nm(2,4))': an nm(2,4) level must walk d1%4, got d1%8
func.func @nm_not_mod() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"levels=(d0:dense,d1/8:dense,d1%8:nm(2,4))">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:70
// CHECK:      sparse spec 'nm:2:512;crd=8': crd=8 cannot hold coordinates up to 511
func.func @crd_too_narrow() {
  %w = sparse.weight @w : !sparse.tensor<16x1024xf32, #sparse.format<"nm:2:512;crd=8">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      sparse spec '': expected a string like 'csr', 'bsr:4x4', '2:4' or 'levels=(dense,compressed)'
func.func @empty_spec() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:67
// CHECK:      string literal expected (a sparse spec such as "csr")
func.func @spec_not_string() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<csr>>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:52
// CHECK:      expected a #sparse.format<...>, got "csr"
func.func @format_not_attr() {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, "csr">
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:42
// CHECK:      expected a matrix (rank 2), got rank 3
func.func @rank3() {
  %w = sparse.weight @w : !sparse.tensor<2x16x8xf32, #sparse.format<"csr">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:42
// CHECK:      expected static dims >= 1, got 16x?
func.func @dynamic_dim() {
  %w = sparse.weight @w : !sparse.tensor<16x?xf32, #sparse.format<"csr">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:42
// CHECK:      expected a float element type, got i32
func.func @int_element() {
  %w = sparse.weight @w : !sparse.tensor<16x8xi32, #sparse.format<"csr">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:42
// CHECK:      sparse format '2:4;pad=none': dimension 1 of shape [16, 10] is not a multiple of 4 (pad=none)
func.func @nm_not_dividing() {
  %w = sparse.weight @w : !sparse.tensor<16x10xf32, #sparse.format<"2:4;pad=none">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:42
// CHECK:      sparse format 'bsr:4x4;pad=none': dimension 0 of shape [6, 8] is not a multiple of 4 (pad=none)
func.func @block_not_dividing() {
  %w = sparse.weight @w : !sparse.tensor<6x8xf32, #sparse.format<"bsr:4x4;pad=none">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.weight' op result 'result' at position 0 does not verify: tensor<16x8xf32> should be of base attribute sparse.tensor
func.func @weight_not_sparse() {
  %w = "sparse.weight"() <{sym_name = @w}> : () -> tensor<16x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.convert' op expected the same shape and element type, got !sparse.tensor<16x8xf32, #sparse.format<"csr">> -> !sparse.tensor<8x16xf32, #sparse.format<"csc">>
func.func @convert_shape(%w: !sparse.tensor<16x8xf32, #sparse.format<"csr">>) {
  %0 = sparse.convert %w : !sparse.tensor<16x8xf32, #sparse.format<"csr">> -> !sparse.tensor<8x16xf32, #sparse.format<"csc">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.convert' op expected the same shape and element type, got !sparse.tensor<16x8xf32, #sparse.format<"csr">> -> tensor<16x8xf16>
func.func @convert_element(%w: !sparse.tensor<16x8xf32, #sparse.format<"csr">>) {
  %0 = sparse.convert %w : !sparse.tensor<16x8xf32, #sparse.format<"csr">> -> tensor<16x8xf16>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.convert' op expected a sparse operand or result, got tensor<16x8xf32> -> tensor<16x8xf32>
func.func @convert_dense(%w: tensor<16x8xf32>) {
  %0 = sparse.convert %w : tensor<16x8xf32> -> tensor<16x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.nnz' op operand 'input' at position 0 does not verify: tensor<16x8xf32> should be of base attribute sparse.tensor
func.func @nnz_dense(%w: tensor<16x8xf32>) {
  %0 = "sparse.nnz"(%w) : (tensor<16x8xf32>) -> index
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.nnz' op result 'result' at position 0 does not verify: Expected attribute index but got i64
func.func @nnz_i64(%w: !sparse.tensor<16x8xf32, #sparse.format<"csr">>) {
  %0 = "sparse.nnz"(%w) : (!sparse.tensor<16x8xf32, #sparse.format<"csr">>) -> i64
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.prune' op prune spec 'unstructured:1.5': expected a sparsity in [0, 1], got '1.5'
func.func @prune_spec(%w: tensor<16x8xf32>) {
  %0 = sparse.prune %w {spec = "unstructured:1.5"} : tensor<16x8xf32> -> !sparse.tensor<16x8xf32, #sparse.format<"csr">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.prune' op prune spec 'random:0.5': expected unstructured:S, N:M, nm:N:M, vnm:V:N:M or block:RxC:S
func.func @prune_unknown(%w: tensor<16x8xf32>) {
  %0 = sparse.prune %w {spec = "random:0.5"} : tensor<16x8xf32> -> !sparse.tensor<16x8xf32, #sparse.format<"csr">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.prune' op prune spec "unstructured:0.5" does not give the pattern of format "2:4"; expected "2:4"
func.func @prune_not_nm(%w: tensor<16x8xf32>) {
  %0 = sparse.prune %w {spec = "unstructured:0.5"} : tensor<16x8xf32> -> !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.prune' op prune spec "1:8" does not give the pattern of format "2:4"; expected "2:4"
func.func @prune_m(%w: tensor<16x8xf32>) {
  %0 = sparse.prune %w {spec = "1:8"} : tensor<16x8xf32> -> !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.prune' op prune spec "3:4" does not give the pattern of format "2:4"; expected "2:4"
func.func @prune_n(%w: tensor<16x8xf32>) {
  %0 = sparse.prune %w {spec = "3:4"} : tensor<16x8xf32> -> !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.prune' op prune spec "2:4" does not give the pattern of format "vnm:64:2:4"; expected "vnm:64:2:4"
func.func @prune_vnm(%w: tensor<128x8xf32>) {
  %0 = sparse.prune %w {spec = "2:4"} : tensor<128x8xf32> -> !sparse.tensor<128x8xf32, #sparse.format<"vnm:64:2:4">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.prune' op expected a result of shape and element type tensor<16x8xf32>, got !sparse.tensor<16x4xf32, #sparse.format<"2:4">>
func.func @prune_shape(%w: tensor<16x8xf32>) {
  %0 = sparse.prune %w {spec = "2:4"} : tensor<16x8xf32> -> !sparse.tensor<16x4xf32, #sparse.format<"2:4">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.prune' op property 'spec' expected in operation 'sparse.prune'
func.func @prune_no_spec(%w: tensor<16x8xf32>) {
  %0 = "sparse.prune"(%w) : (tensor<16x8xf32>) -> !sparse.tensor<16x8xf32, #sparse.format<"csr">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.weight' op expected 2 level entry counts for format "csr", got 3
func.func @entries_count() {
  %w = sparse.weight @w {entries = array<i64: 16, 3, 3>} : !sparse.tensor<16x8xf32, #sparse.format<"csr">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 2]]:3: error: 'sparse.weight' op format "2:4" stores [16, 32, 64] entries per level for shape [16, 8], got [16, 32, 60]
func.func @entries_static() {
  %w = sparse.weight @w {entries = array<i64: 16, 32, 60>} : !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:3: error: 'sparse.matmul' op expected a rhs of shape [8, N], got [4, 2]
func.func @matmul_shape(%b: tensor<4x2xf32>) {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  %c = sparse.matmul %w, %b : (!sparse.tensor<16x8xf32, #sparse.format<"2:4">>, tensor<4x2xf32>) -> tensor<16x2xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:3: error: 'sparse.matmul' op expected acc of type tensor<16x2xf32>, got tensor<16x3xf32>
func.func @matmul_acc(%b: tensor<8x2xf32>, %a: tensor<16x3xf32>) {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  %c = sparse.matmul %w, %b acc %a : (!sparse.tensor<16x8xf32, #sparse.format<"2:4">>, tensor<8x2xf32>, tensor<16x3xf32>) -> tensor<16x2xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:3: error: 'sparse.linear' op expected an input of shape [..., 8], got [2, 6]
func.func @linear_input(%x: tensor<2x6xf32>) {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  %y = sparse.linear %x, %w : tensor<2x6xf32>, !sparse.tensor<16x8xf32, #sparse.format<"2:4">> -> tensor<2x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:3: error: 'sparse.linear' op expected a bias of shape [16], got tensor<8xf32>
func.func @linear_bias(%x: tensor<2x8xf32>, %b: tensor<8xf32>) {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  %y = sparse.linear %x, %w, %b : tensor<2x8xf32>, !sparse.tensor<16x8xf32, #sparse.format<"2:4">>, tensor<8xf32> -> tensor<2x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: sparse_invalid.mlir:[[# @LINE + 3]]:3: error: 'sparse.linear' op expected result type tensor<2x16xf32>, got tensor<2x8xf32>
func.func @linear_result(%x: tensor<2x8xf32>) {
  %w = sparse.weight @w : !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
  %y = sparse.linear %x, %w : tensor<2x8xf32>, !sparse.tensor<16x8xf32, #sparse.format<"2:4">> -> tensor<2x8xf32>
  func.return
}
