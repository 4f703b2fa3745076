// customize-layout at one row (batch-1 decoding, a classifier head): the
// weight in panels of row_panel columns, N a multiple of 4 a thread, so that
// the CPU schedule reads several panels side by side (one stream each).
// (A file of its own: customize-layout.mlir's weights sit just under
// total_bytes, which these would cross.)
// RUN: sparcc-opt %s -p customize-layout | filecheck %s
// RUN: sparcc-opt %s -p 'customize-layout{row_panel=0}' | filecheck %s --check-prefix=NOROW
// RUN: sparcc-opt %s -p 'customize-layout{row_panel=32}' | filecheck %s --check-prefix=ROW32
// RUN: sparcc-opt %s -p 'customize-layout{threads=3}' | filecheck %s --check-prefix=THREE
// RUN: sparcc-opt %s -p 'customize-layout{threads=2}' | filecheck %s --check-prefix=TWO
// RUN: not sparcc-opt %s -p 'customize-layout{threads=0}' 2>&1 | filecheck %s --check-prefix=BADTEAM
// RUN: sparcc-opt %s -p 'customize-layout{stream_bytes=262144}' | filecheck %s --check-prefix=MEMORY
// BADTEAM: threads must be at least 1, not 0
// RUN: not sparcc-opt %s -p 'customize-layout{row_panel=12}' 2>&1 | filecheck %s --check-prefix=BADROW
// BADROW: row_panel must be 0 or one of 64, 32, 16, 8, not 12

// One row: panels of row_panel (16) columns where N is a multiple of 4 of
// them for each thread, which the schedule reads several side by side (one
// stream each); with row_panel=0, the widest panel as for more rows. For 3
// threads 64 panels of 16 do not divide into whole tiles of 4 a thread:
// the widest panel, as before. The team comes from the compile
// (sparcc.passes.team_size, 1 in sparcc-opt) or the `threads` option.
// THREE-LABEL: @one_row(
// THREE:         nn.weight @fc1.weight {perm = array<i64: 0, 2, 1>} : tensor<16x128x64xf32>
// TWO-LABEL: @one_row(
// TWO:           nn.weight @fc1.weight {perm = array<i64: 0, 2, 1>} : tensor<64x128x16xf32>
// CHECK-LABEL: @one_row(
// CHECK:         nn.weight @fc1.weight {perm = array<i64: 0, 2, 1>} : tensor<64x128x16xf32>
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<64x1x16xf32>) attrs = {sparcc.layout = "panels:16"}
// NOROW-LABEL: @one_row(
// NOROW:         nn.weight @fc1.weight {perm = array<i64: 0, 2, 1>} : tensor<16x128x64xf32>
// NOROW:         sparcc.layout = "panels:64"
// ROW32-LABEL: @one_row(
// ROW32:         nn.weight @fc1.weight {perm = array<i64: 0, 2, 1>} : tensor<32x128x32xf32>
func.func @one_row(%x: tensor<1x128xf32>) -> tensor<1x1024xf32> {
  %w = nn.weight @fc1.weight {perm = array<i64: 1, 0>} : tensor<128x1024xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1x1024xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x1024xf32>) -> tensor<1x1024xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<1x128xf32>, tensor<128x1024xf32>) outs(%f : tensor<1x1024xf32>) -> tensor<1x1024xf32>
  func.return %0 : tensor<1x1024xf32>
}

// One row, N that no panel divides (1004): padded to whole tiles of panels
// of 16 (20 columns, under 1/32 of N); row_panel=0 pads to panels of 64; for
// 3 threads, tiles of 4 panels a thread would need 1152 columns (148 more,
// over N/32): panels of 64 as before.
// CHECK-LABEL: @one_row_padded(
// CHECK:         nn.weight @fc2.weight {perm = array<i64: 0, 2, 1>, pad_rows = 1024 : i64} : tensor<64x128x16xf32>
// CHECK:         sparcc.layout = "panels:16", sparcc.padded_from = 1004 : i64
// NOROW-LABEL: @one_row_padded(
// NOROW:         sparcc.layout = "panels:64", sparcc.padded_from = 1004 : i64
// THREE-LABEL: @one_row_padded(
// THREE:         sparcc.layout = "panels:64", sparcc.padded_from = 1004 : i64
func.func @one_row_padded(%x: tensor<1x128xf32>) -> tensor<1x1004xf32> {
  %w = nn.weight @fc2.weight {perm = array<i64: 1, 0>} : tensor<128x1004xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1x1004xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x1004xf32>) -> tensor<1x1004xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<1x128xf32>, tensor<128x1004xf32>) outs(%f : tensor<1x1004xf32>) -> tensor<1x1004xf32>
  func.return %0 : tensor<1x1004xf32>
}

// Two rows: panels as before (the widest that divides N), unless the weight
// comes from memory (stream_bytes; here lowered to 256 KiB): then up to 4
// rows take the panels of 16 too.
// CHECK-LABEL: @two_rows(
// CHECK:         nn.weight @fc3.weight {perm = array<i64: 0, 2, 1>} : tensor<16x128x64xf32>
// CHECK:         sparcc.layout = "panels:64"
// MEMORY-LABEL: @two_rows(
// MEMORY:        nn.weight @fc3.weight {perm = array<i64: 0, 2, 1>} : tensor<64x128x16xf32>
// MEMORY:        sparcc.layout = "panels:16"
// MEMORY-LABEL: @five_rows(
// MEMORY:        sparcc.layout = "panels:64"
func.func @two_rows(%x: tensor<2x128xf32>) -> tensor<2x1024xf32> {
  %w = nn.weight @fc3.weight {perm = array<i64: 1, 0>} : tensor<128x1024xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<2x1024xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x1024xf32>) -> tensor<2x1024xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<2x128xf32>, tensor<128x1024xf32>) outs(%f : tensor<2x1024xf32>) -> tensor<2x1024xf32>
  func.return %0 : tensor<2x1024xf32>
}

// One row, N = 1040 = 16 x 65: a multiple of 16 but not of 4 panels of 16,
// and a panel divides it: the widest such panel, unpadded.
// CHECK-LABEL: @one_row_odd_panels(
// CHECK:         nn.weight @fc4.weight {perm = array<i64: 0, 2, 1>} : tensor<65x128x16xf32>
// CHECK-NOT:     padded_from
// CHECK:         func.return
func.func @one_row_odd_panels(%x: tensor<1x128xf32>) -> tensor<1x1040xf32> {
  %w = nn.weight @fc4.weight {perm = array<i64: 1, 0>} : tensor<128x1040xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1x1040xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x1040xf32>) -> tensor<1x1040xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<1x128xf32>, tensor<128x1040xf32>) outs(%f : tensor<1x1040xf32>) -> tensor<1x1040xf32>
  func.return %0 : tensor<1x1040xf32>
}

// Five rows: more than ROW_PANEL_MAX_ROWS (4), the widest panel even from memory.
// CHECK-LABEL: @five_rows(
// CHECK:         sparcc.layout = "panels:64"
func.func @five_rows(%x: tensor<5x128xf32>) -> tensor<5x1024xf32> {
  %w = nn.weight @fc5.weight {perm = array<i64: 1, 0>} : tensor<128x1024xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<5x1024xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<5x1024xf32>) -> tensor<5x1024xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<5x128xf32>, tensor<128x1024xf32>) outs(%f : tensor<5x1024xf32>) -> tensor<5x1024xf32>
  func.return %0 : tensor<5x1024xf32>
}

// One row, N that only panels of 8 divide (an ImageNet head's 1000 classes):
// padded to whole tiles of panels of 16 too (24 columns, under 1/32 of N);
// panels of 8 went several to a tile on one thread. row_panel=0 keeps the
// panels of 8; for 3 threads the padding would pass N/32: panels of 8.
// CHECK-LABEL: @one_row_thousand(
// CHECK:         nn.weight @fc3.weight {perm = array<i64: 0, 2, 1>, pad_rows = 1024 : i64} : tensor<64x128x16xf32>
// CHECK:         sparcc.layout = "panels:16", sparcc.padded_from = 1000 : i64
// TWO-LABEL: @one_row_thousand(
// TWO:           sparcc.layout = "panels:16", sparcc.padded_from = 1000 : i64
// NOROW-LABEL: @one_row_thousand(
// NOROW:         nn.weight @fc3.weight {perm = array<i64: 0, 2, 1>} : tensor<125x128x8xf32>
// NOROW:         sparcc.layout = "panels:8"
// THREE-LABEL: @one_row_thousand(
// THREE:         nn.weight @fc3.weight {perm = array<i64: 0, 2, 1>} : tensor<125x128x8xf32>
func.func @one_row_thousand(%x: tensor<1x128xf32>) -> tensor<1x1000xf32> {
  %w = nn.weight @fc3.weight {perm = array<i64: 1, 0>} : tensor<128x1000xf32>
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1x1000xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x1000xf32>) -> tensor<1x1000xf32>
  %0 = linalg.matmul ins(%x, %w : tensor<1x128xf32>, tensor<128x1000xf32>) outs(%f : tensor<1x1000xf32>) -> tensor<1x1000xf32>
  func.return %0 : tensor<1x1000xf32>
}
