// Sparse x quant: a !quant.tensor whose third parameter is a #sparse.format.
// The sparse format decides which weights are stored, the quant format how
// the stored values are kept (dialects/sparse_quant.py). Round trip of the
// custom and the generic form; specs print in canonical form.
// RUN: sparcc-opt %s | sparcc-opt | filecheck %s
// RUN: sparcc-opt %s --print-op-generic | sparcc-opt | filecheck %s

// CHECK-LABEL: func.func @ops(
// CHECK-NEXT:    %w = quant.weight @fc1.weight : !quant.tensor<16x128, #quant.format<"nf4:g64">, #sparse.format<"2:4">>
// CHECK-NEXT:    %y = quant.linear %x, %w, %b : (tensor<3x128xf32>, !quant.tensor<16x128, #quant.format<"nf4:g64">, #sparse.format<"2:4">>, tensor<16xf32>) -> tensor<3x16xf32>
// CHECK-NEXT:    %d = quant.dequantize %w : !quant.tensor<16x128, #quant.format<"nf4:g64">, #sparse.format<"2:4">> -> tensor<16x128xf32>
// CHECK-NEXT:    func.return %y, %d : tensor<3x16xf32>, tensor<16x128xf32>
func.func @ops(%x: tensor<3x128xf32>, %b: tensor<16xf32>) -> (tensor<3x16xf32>, tensor<16x128xf32>) {
  %w = quant.weight @"fc1.weight" : !quant.tensor<16x128, #quant.format<"nf4">, #sparse.format<"nm:2:4">>
  %y = quant.linear %x, %w, %b : (tensor<3x128xf32>, !quant.tensor<16x128, #quant.format<"nf4:g64">, #sparse.format<"2:4">>, tensor<16xf32>) -> tensor<3x16xf32>
  %d = quant.dequantize %w : !quant.tensor<16x128, #quant.format<"nf4:g64">, #sparse.format<"2:4">> -> tensor<16x128xf32>
  func.return %y, %d : tensor<3x16xf32>, tensor<16x128xf32>
}

// Every 4-bit family with 2:4, V:N:M, an odd K (2:4 pads it with zeros) and a
// group that does not divide the kept values of a row.
// CHECK-LABEL: func.func @families(
// CHECK-SAME:    %a: !quant.tensor<8x64, #quant.format<"int4:g128">, #sparse.format<"2:4">>
// CHECK-SAME:    %b: !quant.tensor<8x64, #quant.format<"int4:g32:asym">, #sparse.format<"2:4">>
// CHECK-SAME:    %c: !quant.tensor<8x64, #quant.format<"mxfp4">, #sparse.format<"2:4">>
// CHECK-SAME:    %d: !quant.tensor<8x64, #quant.format<"e2m1:g32">, #sparse.format<"vnm:4:2:4">>
// CHECK-SAME:    %e: !quant.tensor<5x99, #quant.format<"sf4:nu=5:g64">, #sparse.format<"2:4">>
// CHECK-SAME:    %f: !quant.tensor<8x64, #quant.format<"int8:channel">, #sparse.format<"1:4">>
func.func @families(
    %a: !quant.tensor<8x64, #quant.format<"int4">, #sparse.format<"2:4">>,
    %b: !quant.tensor<8x64, #quant.format<"int4:asym:g32">, #sparse.format<"2:4">>,
    %c: !quant.tensor<8x64, #quant.format<"mxfp4">, #sparse.format<"2:4">>,
    %d: !quant.tensor<8x64, #quant.format<"e2m1">, #sparse.format<"vnm:4:2:4">>,
    %e: !quant.tensor<5x99, #quant.format<"sf4">, #sparse.format<"2:4">>,
    %f: !quant.tensor<8x64, #quant.format<"int8">, #sparse.format<"1:4">>) {
  func.return
}
