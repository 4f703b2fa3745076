// sparcc-opt's user errors are one located line on stderr and exit code 1.
// RUN: not sparcc-opt %s -p no-such-pass 2>&1 | filecheck %s --check-prefix=PASS
// PASS: sparcc-opt: error: unknown pass 'no-such-pass'
// PASS-NOT: Traceback
// RUN: not sparcc-opt %s -p lower-entry-abi --split-input-file 2>&1 | filecheck %s --check-prefix=ABI
// ABI: sparcc-opt: error: pass 'lower-entry-abi' failed on {{.*}}sparcc-opt-errors.mlir: expected tensor arguments and results, got i32
// ABI-NOT: Traceback
// RUN: not sparcc-opt %s -p convert-nn-to-linalg --split-input-file 2>&1 | filecheck %s --check-prefix=VERIFY
// VERIFY: sparcc-opt-errors.mlir:[[# @LINE + 10]]:3: error: 'nn.matmul' op expected lhs columns (8) to equal rhs rows (7)
// VERIFY-NOT: Traceback

func.func @scalar(%x: i32) -> i32 {
  func.return %x : i32
}

// -----

func.func @bad(%x: tensor<4x8xf32>, %y: tensor<7x3xf32>) -> tensor<4x3xf32> {
  %0 = nn.matmul %x, %y : tensor<4x8xf32>, tensor<7x3xf32> -> tensor<4x3xf32>
  func.return %0 : tensor<4x3xf32>
}
