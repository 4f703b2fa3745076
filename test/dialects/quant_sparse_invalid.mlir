// One invalid case per chunk for the sparsity slot of !quant.tensor: the
// encoding must have a static storage for the tensor's shape.
// RUN: sparcc-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s
// RUN: not sparcc-opt %s 2>&1 | filecheck %s --check-prefix=USER
// USER: quant_sparse_invalid.mlir:[[# @LINE + 7]]:{{[0-9]+}}: error: sparsity #sparse.format<"csr"> cannot hold quantised values: sparse format 'csr' stores a data-dependent number of entries; a static storage layout needs dense and nm levels only (e.g. 2:4, vnm)
// USER-NOT: Traceback

// A layout that depends on the data has no values array of known shape.
// CHECK:      quant_sparse_invalid.mlir:[[# @LINE + 3]]
// CHECK:      sparsity #sparse.format<"csr"> cannot hold quantised values: sparse format 'csr' stores a data-dependent number of entries; a static storage layout needs dense and nm levels only (e.g. 2:4, vnm)
func.func @csr() {
  %w = quant.weight @w : !quant.tensor<16x128, #quant.format<"nf4:g64">, #sparse.format<"csr">>
  func.return
}

// -----

// pad=none rejects a K that the group of 4 does not divide.
// CHECK:      {{^//}} -----
// CHECK:      quant_sparse_invalid.mlir:[[# @LINE + 3]]
// CHECK:      sparsity #sparse.format<"2:4;pad=none"> cannot hold quantised values: sparse format '2:4;pad=none': dimension 1 of shape [16, 130] is not a multiple of 4 (pad=none)
func.func @pad_none() {
  %w = quant.weight @w : !quant.tensor<16x130, #quant.format<"nf4:g64">, #sparse.format<"2:4;pad=none">>
  func.return
}

// -----

// Not an encoding at all.
// CHECK:      {{^//}} -----
// CHECK:      quant_sparse_invalid.mlir:[[# @LINE + 3]]
// CHECK:      expected a sparsity encoding in the third parameter, got #quant.format<"nf4:g64">
func.func @not_an_encoding() {
  %w = quant.weight @w : !quant.tensor<16x128, #quant.format<"nf4:g64">, #quant.format<"nf4">>
  func.return
}

// -----

// quantize makes dense tensors only; sparsify separately.
// CHECK:      {{^//}} -----
// CHECK:      quant_sparse_invalid.mlir:[[# @LINE + 3]]
// CHECK:      expected a dense result; sparsify the quantised tensor separately
func.func @quantize_sparse(%x: tensor<16x128xf32>) {
  %q = quant.quantize %x : tensor<16x128xf32> -> !quant.tensor<16x128, #quant.format<"nf4:g64">, #sparse.format<"2:4">>
  func.return
}
