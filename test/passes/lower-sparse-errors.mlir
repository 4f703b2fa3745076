// lower-sparse rejects what its kernels cannot run, with one message each.
// RUN: sparcc-opt %s -p lower-sparse --split-input-file --verify-diagnostics 2>&1 | filecheck %s

// The sizes of a CSR weight's buffers depend on its data: without `entries`
// there is nothing to size them by.
// CHECK: error: {{.*}}lower-sparse: sparse.weight @w has no `entries`: the sizes of its buffers are unknown (the compiler sets them when it encodes the weight)
func.func @no_entries(%x: tensor<2x64xf32>) -> tensor<2x16xf32> {
  %w = sparse.weight @w : !sparse.tensor<16x64xf32, #sparse.format<"csr">>
  %y = sparse.linear %x, %w : tensor<2x64xf32>, !sparse.tensor<16x64xf32, #sparse.format<"csr">> -> tensor<2x16xf32>
  func.return %y : tensor<2x16xf32>
}

// -----

// A custom level list that is none of the kernels' storage kinds.
// CHECK: error: {{.*}}lower-sparse: sparse.linear: sparse format 'levels=(compressed,dense)' has no CPU sparse kernel; the kernels take the presets csr, csc, coo, dcsr, ell, bsr:RxC, N:M (nm:N:M) and vnm:V:N:M (re-encode it in one of them)
func.func @custom(%x: tensor<2x64xf32>) -> tensor<2x16xf32> {
  %w = sparse.weight @w {entries = array<i64: 3, 192>} : !sparse.tensor<16x64xf32, #sparse.format<"levels=(compressed,dense)">>
  %y = sparse.linear %x, %w : tensor<2x64xf32>, !sparse.tensor<16x64xf32, #sparse.format<"levels=(compressed,dense)">> -> tensor<2x16xf32>
  func.return %y : tensor<2x16xf32>
}

// -----

// 16-bit indices: the kernels read 32- or 64-bit ones.
// CHECK: error: {{.*}}lower-sparse: argument 0 of @narrow: sparse format 'csr;pos=16;crd=16': the csr kernel takes 32- or 64-bit positions and coordinates, got pos=16, crd=16 (re-encode with pos=32 or 64, crd=32 or 64)
func.func @narrow(%a: !sparse.tensor<16x64xf32, #sparse.format<"csr;pos=16;crd=16">>, %b: tensor<64x2xf32>) -> tensor<16x2xf32> {
  %y = sparse.matmul %a, %b : (!sparse.tensor<16x64xf32, #sparse.format<"csr;pos=16;crd=16">>, tensor<64x2xf32>) -> tensor<16x2xf32>
  func.return %y : tensor<16x2xf32>
}

// -----

// Converting at run time has no lowering.
// CHECK: error: {{.*}}lower-sparse: 'sparse.convert' has no CPU lowering yet
func.func @convert() -> tensor<16x64xf32> {
  %w = sparse.weight @w {entries = array<i64: 16, 30>} : !sparse.tensor<16x64xf32, #sparse.format<"csr">>
  %d = sparse.convert %w : !sparse.tensor<16x64xf32, #sparse.format<"csr">> -> tensor<16x64xf32>
  func.return %d : tensor<16x64xf32>
}
