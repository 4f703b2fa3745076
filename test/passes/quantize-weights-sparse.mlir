// quantize-weights with `sparsity`: a layer that both specs match gets a
// sparse quantised weight (the stored values of the sparse format are
// quantised); a layer only `spec` matches stays dense-quantised, one only
// `sparsity` matches is left to sparsify-weights.
// RUN: sparcc-opt %s -p 'quantize-weights{spec="fc1=nf4:g64;fc2=mxfp4" sparsity="fc1=2:4;head=2:4"}' | filecheck %s
// A sparsity that cannot hold quantised values is one message naming the layer and both specs:
// RUN: not sparcc-opt %s -p 'quantize-weights{spec="fc1=nf4" sparsity="fc1=unstructured:0.5"}' 2>&1 | filecheck %s --check-prefix=BAD
// RUN: not sparcc-opt %s -p 'quantize-weights{spec="fc1=nf4" sparsity="fc1=tasd:2:4+1:8"}' 2>&1 | filecheck %s --check-prefix=TASD

// CHECK-LABEL: func.func @mlp(
// CHECK:         %[[W1:.*]] = quant.weight @fc1.weight : !quant.tensor<16x8, #quant.format<"nf4:g64">, #sparse.format<"2:4">>
// CHECK:         %[[W2:.*]] = quant.weight @fc2.weight : !quant.tensor<8x16, #quant.format<"mxfp4">>
// CHECK:         %[[H:.*]] = quant.linear %{{.*}}, %[[W1]], %{{.*}} : (tensor<3x8xf32>, !quant.tensor<16x8, #quant.format<"nf4:g64">, #sparse.format<"2:4">>, tensor<16xf32>) -> tensor<3x16xf32>
// CHECK:         quant.linear %[[H]], %[[W2]]
// CHECK:         nn.linear
// BAD: error: {{.*}}layer 'fc1' matches quant 'nf4:g64' and sparsity 'unstructured:0.5': sparse format 'csr' stores a data-dependent number of entries
// TASD: error: {{.*}}layer 'fc1' matches quant 'nf4:g64' and sparsity 'tasd:2:4+1:8': a sparse and quantised layer takes one N:M pattern
func.func @mlp(%x: tensor<3x8xf32>) -> tensor<3x4xf32> {
  %w1 = nn.weight @"fc1.weight" : tensor<16x8xf32>
  %b1 = nn.weight @"fc1.bias" : tensor<16xf32>
  %w2 = nn.weight @"fc2.weight" : tensor<8x16xf32>
  %w3 = nn.weight @"head.weight" : tensor<4x8xf32>
  %h = nn.linear %x, %w1, %b1 : (tensor<3x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<3x16xf32>
  %p = nn.linear %h, %w2 : (tensor<3x16xf32>, tensor<8x16xf32>) -> tensor<3x8xf32>
  %y = nn.linear %p, %w3 : (tensor<3x8xf32>, tensor<4x8xf32>) -> tensor<3x4xf32>
  func.return %y : tensor<3x4xf32>
}
