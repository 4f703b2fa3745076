// quantize-weights: linear layers whose name matches a glob get a quantised
// weight; the first matching glob wins; unmatched layers stay float32.
// RUN: sparcc-opt %s -p 'quantize-weights{spec="fc1=nf4:g64;*.proj=int4:g32:asym;*=int8:channel"}' | filecheck %s
// A bad format is one message naming the pattern and the format:
// RUN: not sparcc-opt %s -p 'quantize-weights{spec="fc1=nf5"}' 2>&1 | filecheck %s --check-prefix=BAD
// An empty spec changes nothing:
// RUN: sparcc-opt %s -p quantize-weights | filecheck %s --check-prefix=NONE

// CHECK-LABEL: func.func @mlp(
// CHECK:         %[[W1:.*]] = quant.weight @fc1.weight : !quant.tensor<16x8, #quant.format<"nf4:g64">>
// CHECK:         %[[B1:.*]] = nn.weight @fc1.bias : tensor<16xf32>
// CHECK:         %[[W2:.*]] = quant.weight @attn.proj.weight : !quant.tensor<8x16, #quant.format<"int4:g32:asym">>
// CHECK:         %[[W3:.*]] = quant.weight @head.weight : !quant.tensor<4x8, #quant.format<"int8:channel">>
// A weight with a layout change (perm) is not a Linear's own weight: it stays.
// CHECK:         %[[E:.*]] = nn.weight @emb.weight {perm = array<i64: 1, 0>}
// CHECK:         %[[H:.*]] = quant.linear %{{.*}}, %[[W1]], %[[B1]] : (tensor<3x4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4:g64">>, tensor<16xf32>) -> tensor<3x4x16xf32>
// CHECK:         %[[P:.*]] = quant.linear %[[H]], %[[W2]]
// CHECK:         quant.linear %[[P]], %[[W3]]
// CHECK:         nn.linear %[[P]], %[[E]]
// NONE-NOT:      quant.
// BAD: sparcc-opt: error: pass 'quantize-weights' failed on {{.*}}: quantize-weights{spec}: layer pattern 'fc1': quant spec 'nf5': unknown format 'nf5'
func.func @mlp(%x: tensor<3x4x8xf32>) -> tensor<3x4x4xf32> {
  %w1 = nn.weight @"fc1.weight" : tensor<16x8xf32>
  %b1 = nn.weight @"fc1.bias" : tensor<16xf32>
  %w2 = nn.weight @"attn.proj.weight" : tensor<8x16xf32>
  %w3 = nn.weight @"head.weight" : tensor<4x8xf32>
  %e = nn.weight @"emb.weight" {perm = array<i64: 1, 0>} : tensor<4x8xf32>
  %h = nn.linear %x, %w1, %b1 : (tensor<3x4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<3x4x16xf32>
  %p = nn.linear %h, %w2 : (tensor<3x4x16xf32>, tensor<8x16xf32>) -> tensor<3x4x8xf32>
  %y = nn.linear %p, %w3 : (tensor<3x4x8xf32>, tensor<4x8xf32>) -> tensor<3x4x4xf32>
  %z = nn.linear %p, %e : (tensor<3x4x8xf32>, tensor<4x8xf32>) -> tensor<3x4x4xf32>
  %s = nn.add %y, %z : tensor<3x4x4xf32>, tensor<3x4x4xf32> -> tensor<3x4x4xf32>
  func.return %s : tensor<3x4x4xf32>
}
