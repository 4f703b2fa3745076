// Round trip of the quant dialect: custom form -> print -> parse again, and
// the generic form parsed back to the same custom form. Spec strings are
// printed in canonical form (defaults spelled out, parts in a fixed order).
// RUN: sparcc-opt %s | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// GENERIC-LABEL: sym_name = "ops"
// GENERIC:         %w = "quant.weight"() <{sym_name = @fc1.weight}> : () -> !quant.tensor<16x8, #quant.format<"nf4:g64">>
// GENERIC-NEXT:    %d = "quant.dequantize"(%w) : (!quant.tensor<16x8, #quant.format<"nf4:g64">>) -> tensor<16x8xf32>
// GENERIC-NEXT:    %q = "quant.quantize"(%d) : (tensor<16x8xf32>) -> !quant.tensor<16x8, #quant.format<"int8:channel">>
// GENERIC-NEXT:    %y = "quant.linear"(%x, %w, %b) : (tensor<3x4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4:g64">>, tensor<16xf32>) -> tensor<3x4x16xf32>
// GENERIC-NEXT:    %z = "quant.linear"(%v, %q) : (tensor<8xf32>, !quant.tensor<16x8, #quant.format<"int8:channel">>) -> tensor<16xf32>

// CHECK-LABEL: func.func @ops(
// CHECK-NEXT:    %w = quant.weight @fc1.weight : !quant.tensor<16x8, #quant.format<"nf4:g64">>
// CHECK-NEXT:    %d = quant.dequantize %w : !quant.tensor<16x8, #quant.format<"nf4:g64">> -> tensor<16x8xf32>
// CHECK-NEXT:    %q = quant.quantize %d : tensor<16x8xf32> -> !quant.tensor<16x8, #quant.format<"int8:channel">>
// CHECK-NEXT:    %y = quant.linear %x, %w, %b : (tensor<3x4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4:g64">>, tensor<16xf32>) -> tensor<3x4x16xf32>
// CHECK-NEXT:    %z = quant.linear %v, %q : (tensor<8xf32>, !quant.tensor<16x8, #quant.format<"int8:channel">>) -> tensor<16xf32>
// CHECK-NEXT:    func.return %y, %z : tensor<3x4x16xf32>, tensor<16xf32>
func.func @ops(%x: tensor<3x4x8xf32>, %v: tensor<8xf32>, %b: tensor<16xf32>) -> (tensor<3x4x16xf32>, tensor<16xf32>) {
  %w = quant.weight @"fc1.weight" : !quant.tensor<16x8, #quant.format<"nf4:g64">>
  %d = quant.dequantize %w : !quant.tensor<16x8, #quant.format<"nf4:g64">> -> tensor<16x8xf32>
  %q = quant.quantize %d : tensor<16x8xf32> -> !quant.tensor<16x8, #quant.format<"int8:channel">>
  %y = quant.linear %x, %w, %b : (tensor<3x4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4:g64">>, tensor<16xf32>) -> tensor<3x4x16xf32>
  %z = quant.linear %v, %q : (tensor<8xf32>, !quant.tensor<16x8, #quant.format<"int8:channel">>) -> tensor<16xf32>
  func.return %y, %z : tensor<3x4x16xf32>, tensor<16xf32>
}

// The generic form of every op parses to the same custom form.
// CHECK-LABEL: func.func @generic(
// CHECK-NEXT:    %w = quant.weight @"0.weight" : !quant.tensor<4x6, #quant.format<"int4:g128:asym">>
// CHECK-NEXT:    %0 = quant.dequantize %w : !quant.tensor<4x6, #quant.format<"int4:g128:asym">> -> tensor<4x6xf32>
// CHECK-NEXT:    %1 = quant.quantize %0 : tensor<4x6xf32> -> !quant.tensor<4x6, #quant.format<"mxfp4">>
// CHECK-NEXT:    %2 = quant.linear %x, %1 : (tensor<2x6xf32>, !quant.tensor<4x6, #quant.format<"mxfp4">>) -> tensor<2x4xf32>
// CHECK-NEXT:    func.return %2 : tensor<2x4xf32>
func.func @generic(%x: tensor<2x6xf32>) -> tensor<2x4xf32> {
  %w = "quant.weight"() <{sym_name = @"0.weight"}> : () -> !quant.tensor<4x6, #quant.format<"int4:asym">>
  %0 = "quant.dequantize"(%w) : (!quant.tensor<4x6, #quant.format<"int4:g128:asym">>) -> tensor<4x6xf32>
  %1 = "quant.quantize"(%0) : (tensor<4x6xf32>) -> !quant.tensor<4x6, #quant.format<"mxfp4:g32">>
  %2 = "quant.linear"(%x, %1) : (tensor<2x6xf32>, !quant.tensor<4x6, #quant.format<"mxfp4">>) -> tensor<2x4xf32>
  func.return %2 : tensor<2x4xf32>
}

// Groups that do not divide K (the last group is short), odd K for 4-bit
// codes (the last byte of a row has a zero high nibble), 1-d and 3-d tensors
// (seen as [1, n] and [out, in * ...]).
// CHECK-LABEL: func.func @shapes(
// CHECK-NEXT:    %a = quant.weight @a : !quant.tensor<5x100, #quant.format<"nf4:g64">>
// CHECK-NEXT:    %b = quant.weight @b : !quant.tensor<3x7, #quant.format<"mxfp4">>
// CHECK-NEXT:    %c = quant.weight @c : !quant.tensor<33, #quant.format<"int8:g32">>
// CHECK-NEXT:    %d = quant.weight @d : !quant.tensor<4x3x3x3, #quant.format<"e2m1:g32">>
// CHECK-NEXT:    %0 = quant.dequantize %d : !quant.tensor<4x3x3x3, #quant.format<"e2m1:g32">> -> tensor<4x3x3x3xf32>
// CHECK-NEXT:    %1 = quant.linear %x, %a : (tensor<2x100xf32>, !quant.tensor<5x100, #quant.format<"nf4:g64">>) -> tensor<2x5xf32>
func.func @shapes(%x: tensor<2x100xf32>) {
  %a = quant.weight @a : !quant.tensor<5x100, #quant.format<"nf4:g64">>
  %b = quant.weight @b : !quant.tensor<3x7, #quant.format<"mxfp4">>
  %c = quant.weight @c : !quant.tensor<33, #quant.format<"int8:g32">>
  %d = quant.weight @d : !quant.tensor<4x3x3x3, #quant.format<"e2m1:g32">>
  %0 = quant.dequantize %d : !quant.tensor<4x3x3x3, #quant.format<"e2m1:g32">> -> tensor<4x3x3x3xf32>
  %1 = quant.linear %x, %a : (tensor<2x100xf32>, !quant.tensor<5x100, #quant.format<"nf4:g64">>) -> tensor<2x5xf32>
  func.return
}

// Every format family as a type: written loosely, printed in canonical form.
// CHECK-LABEL: func.func @families(
// CHECK-SAME:    %int8: !quant.tensor<8x64, #quant.format<"int8:channel">>
// CHECK-SAME:    %int8_t: !quant.tensor<8x64, #quant.format<"int8:tensor">>
// CHECK-SAME:    %int8_asym: !quant.tensor<8x64, #quant.format<"int8:g32:asym">>
// CHECK-SAME:    %int4: !quant.tensor<8x64, #quant.format<"int4:g128">>
// CHECK-SAME:    %int4_asym: !quant.tensor<8x64, #quant.format<"int4:channel:asym">>
// CHECK-SAME:    %nf4: !quant.tensor<8x64, #quant.format<"nf4:g64">>
// CHECK-SAME:    %sf4: !quant.tensor<8x64, #quant.format<"sf4:nu=5:g128">>
// CHECK-SAME:    %sf4_nu: !quant.tensor<8x64, #quant.format<"sf4:nu=3.5:g64">>
// CHECK-SAME:    %apot4: !quant.tensor<8x64, #quant.format<"apot4:g128">>
// CHECK-SAME:    %e2m1: !quant.tensor<8x64, #quant.format<"e2m1:g32">>
// CHECK-SAME:    %e2m1_none: !quant.tensor<8x64, #quant.format<"e2m1:none">>
// CHECK-SAME:    %e2m1s: !quant.tensor<8x64, #quant.format<"e2m1s:g32">>
// CHECK-SAME:    %mxfp4: !quant.tensor<8x64, #quant.format<"mxfp4">>
// CHECK-SAME:    %e4m3: !quant.tensor<8x64, #quant.format<"fp8_e4m3:channel">>
// CHECK-SAME:    %e5m2: !quant.tensor<8x64, #quant.format<"fp8_e5m2:tensor">>
// CHECK-SAME:    %lp: !quant.tensor<8x64, #quant.format<"lp:n=4,es=1,rs=2,sf=0:g128">>
// CHECK-SAME:    %lp_default: !quant.tensor<8x64, #quant.format<"lp:n=4,es=1,rs=3,sf=0:g64">>
// CHECK-SAME:    %lp8: !quant.tensor<8x64, #quant.format<"lp:n=8,es=2,rs=7,sf=-1.5:channel">>
func.func @families(
    %int8: !quant.tensor<8x64, #quant.format<"int8">>,
    %int8_t: !quant.tensor<8x64, #quant.format<"int8:tensor:sym">>,
    %int8_asym: !quant.tensor<8x64, #quant.format<"int8:asym:g32">>,
    %int4: !quant.tensor<8x64, #quant.format<"INT4">>,
    %int4_asym: !quant.tensor<8x64, #quant.format<"int4:channel:asym">>,
    %nf4: !quant.tensor<8x64, #quant.format<"nf4">>,
    %sf4: !quant.tensor<8x64, #quant.format<"sf4:nu=5:g128">>,
    %sf4_nu: !quant.tensor<8x64, #quant.format<"sf4:nu=3.50">>,
    %apot4: !quant.tensor<8x64, #quant.format<"apot4:g128">>,
    %e2m1: !quant.tensor<8x64, #quant.format<"e2m1">>,
    %e2m1_none: !quant.tensor<8x64, #quant.format<"e2m1:none">>,
    %e2m1s: !quant.tensor<8x64, #quant.format<"e2m1s:g32">>,
    %mxfp4: !quant.tensor<8x64, #quant.format<"mxfp4">>,
    %e4m3: !quant.tensor<8x64, #quant.format<"fp8_e4m3:channel">>,
    %e5m2: !quant.tensor<8x64, #quant.format<"fp8_e5m2">>,
    %lp: !quant.tensor<8x64, #quant.format<"lp:n=4,es=1,rs=2,sf=0:g128">>,
    %lp_default: !quant.tensor<8x64, #quant.format<"lp">>,
    %lp8: !quant.tensor<8x64, #quant.format<"lp:sf=-1.5,es=2,n=8:channel">>) {
  func.return
}

// The attribute on its own, e.g. as a discardable attribute.
// CHECK-LABEL: func.func @attrs()
// CHECK-SAME:    attributes {a = #quant.format<"nf4:g64">, b = [#quant.format<"int8:channel">, #quant.format<"mxfp4">]}
func.func @attrs() attributes {a = #quant.format<"nf4">, b = [#quant.format<"int8:channel">, #quant.format<"mxfp4">]} {
  func.return
}
