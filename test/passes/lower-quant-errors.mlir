// lower-quant rejects formats its kernels cannot run, with one message.
// RUN: not sparcc-opt %s -p lower-quant 2>&1 | filecheck %s

// Per-tensor scales have no kernel.
// CHECK: error: {{.*}}quant.linear: format 'int8:tensor' has tensor scales; the CPU kernels take per-channel or per-group scales
func.func @tensor_scale(%x: tensor<2x64xf32>) -> tensor<2x16xf32> {
  %w = quant.weight @w : !quant.tensor<16x64, #quant.format<"int8:tensor">>
  %y = quant.linear %x, %w : (tensor<2x64xf32>, !quant.tensor<16x64, #quant.format<"int8:tensor">>) -> tensor<2x16xf32>
  func.return %y : tensor<2x16xf32>
}
