// lower-quant rejects what its kernels cannot run, with one message each.
// RUN: sparcc-opt %s -p lower-quant --split-input-file --verify-diagnostics 2>&1 | filecheck %s

// The kernels read codes and scales from the weight store, not from values
// quantised at run time.
// CHECK: error: {{.*}}quant.linear: the CPU kernels take a quant.weight from the weight store
func.func @computed(%x: tensor<2x64xf32>, %w: tensor<16x64xf32>) -> tensor<2x16xf32> {
  %q = quant.quantize %w : tensor<16x64xf32> -> !quant.tensor<16x64, #quant.format<"int8:channel">>
  %y = quant.linear %x, %q : (tensor<2x64xf32>, !quant.tensor<16x64, #quant.format<"int8:channel">>) -> tensor<2x16xf32>
  func.return %y : tensor<2x16xf32>
}

// -----

// CHECK: error: {{.*}}lower-quant: 'quant.dequantize' has no CPU lowering yet
func.func @dequantize() -> tensor<16x64xf32> {
  %w = quant.weight @w : !quant.tensor<16x64, #quant.format<"nf4:g64">>
  %d = quant.dequantize %w : !quant.tensor<16x64, #quant.format<"nf4:g64">> -> tensor<16x64xf32>
  func.return %d : tensor<16x64xf32>
}
