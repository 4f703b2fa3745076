// One invalid case per chunk, one for each rule of the quant dialect.
// Every chunk must fail with exactly the message checked, in order.
// Spec strings and quant.tensor parameters are checked while parsing (a
// located parse error, the spec's ValueError message verbatim); op rules
// when the IR verifies.
// RUN: sparcc-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s
// Without the diagnostics flags a bad spec is one located error line, exit 1.
// RUN: not sparcc-opt %s 2>&1 | filecheck %s --check-prefix=USER
// USER: quant_invalid.mlir:[[# @LINE + 8]]:60: error: quant spec 'nf5': unknown format 'nf5'; expected one of int8, int4, nf4, sf4, apot4, e2m1, e2m1s, mxfp4, fp8_e4m3, fp8_e5m2, lp
// USER-NOT: Traceback

// CHECK:      quant_invalid.mlir:[[# @LINE + 5]]:60
// CHECK-NEXT:   %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"nf5">>
// CHECK-NEXT:                                                            ^^^^^
// CHECK-NEXT:                                                            quant spec 'nf5': unknown format 'nf5'; expected one of int8, int4, nf4, sf4, apot4, e2m1, e2m1s, mxfp4, fp8_e4m3, fp8_e5m2, lp
func.func @unknown_format() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"nf5">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:60
// CHECK:      quant spec 'nf4:g63': group size in 'g63' must be a power of two from 8 to 4096 (g32, g64, g128, ...)
func.func @group_size() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"nf4:g63">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:60
// CHECK:      quant spec 'mxfp4:g64': MXFP4 blocks are 32 elements (OCP MX v1.0), got g64
func.func @mx_block() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"mxfp4:g64">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:60
// CHECK:      quant spec 'nf4:asym': 'asym' applies to integer formats only; nf4 is symmetric by construction
func.func @asym_float() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"nf4:asym">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:60
// CHECK:      quant spec 'int4:none': int4 does not take granularity 'none'; expected channel, tensor, gN
func.func @granularity() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"int4:none">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:60
// CHECK:      quant spec 'lp:n=9': LP n=9: expected 2 <= n <= 8 (codes are stored in bytes)
func.func @lp_bits() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"lp:n=9">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:60
// CHECK:      quant spec 'sf4:mu=5': unknown parameter 'mu' in 'mu=5'; sf4 takes: nu
func.func @sf4_param() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"sf4:mu=5">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:60
// CHECK:      quant spec '': expected a string like 'nf4:g64'
func.func @empty_spec() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:60
// CHECK:      string literal expected (a quant spec such as "nf4:g64")
func.func @spec_not_string() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<nf4>>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:46
// CHECK:      expected a #quant.format<...>, got "nf4:g64"
func.func @format_not_attr() {
  %w = quant.weight @w : !quant.tensor<16x8, "nf4:g64">
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:40
// CHECK:      expected static dims >= 1, got 16x?
func.func @dynamic_dim() {
  %w = quant.weight @w : !quant.tensor<16x?, #quant.format<"nf4">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:40
// CHECK:      expected static dims >= 1, got 0x8
func.func @zero_dim() {
  %w = quant.weight @w : !quant.tensor<0x8, #quant.format<"nf4">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:40
// CHECK:      expected a shape of rank >= 1
func.func @rank0() {
  %w = quant.weight @w : !quant.tensor<, #quant.format<"nf4">>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 3]]:68
// CHECK:      expected a sparsity encoding in the third parameter, got unit
func.func @sparsity_slot() {
  %w = quant.weight @w : !quant.tensor<16x8, #quant.format<"nf4">, unit>
  func.return
}

// -----

// CHECK:      {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.weight' op result 'result' at position 0 does not verify: tensor<16x8xf32> should be of base attribute quant.tensor
func.func @weight_not_quant() {
  %w = "quant.weight"() <{sym_name = @w}> : () -> tensor<16x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.dequantize' op expected result type tensor<16x8xf32>, got tensor<8x16xf32>
func.func @dequantize_shape(%q: !quant.tensor<16x8, #quant.format<"int8">>) {
  %0 = quant.dequantize %q : !quant.tensor<16x8, #quant.format<"int8">> -> tensor<8x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.dequantize' op expected result type tensor<16x8xf32>, got tensor<16x8xf16>
func.func @dequantize_f16(%q: !quant.tensor<16x8, #quant.format<"int8">>) {
  %0 = quant.dequantize %q : !quant.tensor<16x8, #quant.format<"int8">> -> tensor<16x8xf16>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.dequantize' op operand 'input' at position 0 does not verify: tensor<16x8xf32> should be of base attribute quant.tensor
func.func @dequantize_dense(%w: tensor<16x8xf32>) {
  %0 = "quant.dequantize"(%w) : (tensor<16x8xf32>) -> tensor<16x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.quantize' op expected an f32 input, got tensor<16x8xf16>
func.func @quantize_f16(%w: tensor<16x8xf16>) {
  %0 = quant.quantize %w : tensor<16x8xf16> -> !quant.tensor<16x8, #quant.format<"nf4">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.quantize' op expected result type !quant.tensor<16x8, #quant.format<"nf4:g64">>, got !quant.tensor<16x4, #quant.format<"nf4:g64">>
func.func @quantize_shape(%w: tensor<16x8xf32>) {
  %0 = quant.quantize %w : tensor<16x8xf32> -> !quant.tensor<16x4, #quant.format<"nf4">>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.linear' op expected weight of shape [out, 9], got [16, 8]
func.func @linear_k(%x: tensor<4x9xf32>, %w: !quant.tensor<16x8, #quant.format<"nf4">>) {
  %0 = quant.linear %x, %w : (tensor<4x9xf32>, !quant.tensor<16x8, #quant.format<"nf4">>) -> tensor<4x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.linear' op expected a rank-2 quantised weight [out, in], got [2, 16, 8]
func.func @linear_rank(%x: tensor<4x8xf32>, %w: !quant.tensor<2x16x8, #quant.format<"nf4">>) {
  %0 = quant.linear %x, %w : (tensor<4x8xf32>, !quant.tensor<2x16x8, #quant.format<"nf4">>) -> tensor<4x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.linear' op expected an input of rank >= 1, got tensor<f32>
func.func @linear_scalar(%x: tensor<f32>, %w: !quant.tensor<16x8, #quant.format<"nf4">>) {
  %0 = quant.linear %x, %w : (tensor<f32>, !quant.tensor<16x8, #quant.format<"nf4">>) -> tensor<16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.linear' op expected bias of shape [16], got [8]
func.func @linear_bias(%x: tensor<4x8xf32>, %w: !quant.tensor<16x8, #quant.format<"nf4">>, %b: tensor<8xf32>) {
  %0 = quant.linear %x, %w, %b : (tensor<4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4">>, tensor<8xf32>) -> tensor<4x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.linear' op expected an f32 bias, got tensor<16xf16>
func.func @linear_bias_f16(%x: tensor<4x8xf32>, %w: !quant.tensor<16x8, #quant.format<"nf4">>, %b: tensor<16xf16>) {
  %0 = quant.linear %x, %w, %b : (tensor<4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4">>, tensor<16xf16>) -> tensor<4x16xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.linear' op expected an f32 input, got tensor<4x8xbf16>
func.func @linear_bf16(%x: tensor<4x8xbf16>, %w: !quant.tensor<16x8, #quant.format<"nf4">>) {
  %0 = quant.linear %x, %w : (tensor<4x8xbf16>, !quant.tensor<16x8, #quant.format<"nf4">>) -> tensor<4x16xbf16>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.linear' op expected result type tensor<4x16xf32>, got tensor<4x8xf32>
func.func @linear_result(%x: tensor<4x8xf32>, %w: !quant.tensor<16x8, #quant.format<"nf4">>) {
  %0 = quant.linear %x, %w : (tensor<4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4">>) -> tensor<4x8xf32>
  func.return
}

// -----

// CHECK-NEXT: {{^//}} -----
// CHECK-NEXT: quant_invalid.mlir:[[# @LINE + 2]]:3: error: 'quant.linear' op operand 'weight' at position 1 does not verify: tensor<16x8xf32> should be of base attribute quant.tensor
func.func @linear_dense(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>) {
  %0 = "quant.linear"(%x, %w) : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  func.return
}
