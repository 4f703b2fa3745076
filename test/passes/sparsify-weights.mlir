// sparsify-weights: linear layers whose name matches a glob get a sparse
// weight in the value's storage format; the first matching glob wins; "dense"
// and unmatched layers stay dense; TASD becomes a chain of sparse.linear ops
// that accumulate (`acc`), the bias on the first part only.
// RUN: sparcc-opt %s -p 'sparsify-weights{spec="fc1=2:4;*.proj=tasd:2:4+1:8;head=dense;*=unstructured:0.9"}' | filecheck %s
// A value with a storage format that cannot hold its pruning is one message:
// RUN: not sparcc-opt %s -p 'sparsify-weights{spec="fc1=unstructured:0.5@2:4"}' 2>&1 | filecheck %s --check-prefix=BAD
// A bad prune spec names the pattern and the reason:
// RUN: not sparcc-opt %s -p 'sparsify-weights{spec="fc1=3:2"}' 2>&1 | filecheck %s --check-prefix=BAD2
// An empty spec changes nothing:
// RUN: sparcc-opt %s -p sparsify-weights | filecheck %s --check-prefix=NONE

// CHECK-LABEL: func.func @mlp(
// CHECK:         %[[W1:.*]] = sparse.weight @fc1.weight : !sparse.tensor<16x8xf32, #sparse.format<"2:4">>
// CHECK:         %[[B1:.*]] = nn.weight @fc1.bias : tensor<16xf32>
// CHECK:         %[[T0:.*]] = sparse.weight @"attn.proj.weight#tasd0" : !sparse.tensor<8x16xf32, #sparse.format<"2:4">>
// CHECK-NEXT:    %[[T1:.*]] = sparse.weight @"attn.proj.weight#tasd1" : !sparse.tensor<8x16xf32, #sparse.format<"1:8">>
// CHECK:         %[[W3:.*]] = nn.weight @head.weight : tensor<4x8xf32>
// CHECK:         %[[W4:.*]] = sparse.weight @out.weight : !sparse.tensor<4x8xf32, #sparse.format<"csr">>
// A weight with a layout change (perm) is not a Linear's own weight: it stays.
// CHECK:         %[[E:.*]] = nn.weight @emb.weight {perm = array<i64: 1, 0>}
// CHECK:         %[[H:.*]] = sparse.linear %{{.*}}, %[[W1]], %[[B1]] : tensor<3x4x8xf32>, !sparse.tensor<16x8xf32, #sparse.format<"2:4">>, tensor<16xf32> -> tensor<3x4x16xf32>
// CHECK:         %[[P0:.*]] = sparse.linear %[[H]], %[[T0]] : tensor<3x4x16xf32>, !sparse.tensor<8x16xf32, #sparse.format<"2:4">> -> tensor<3x4x8xf32>
// CHECK:         %[[P:.*]] = sparse.linear %[[H]], %[[T1]] acc %[[P0]] : tensor<3x4x16xf32>, !sparse.tensor<8x16xf32, #sparse.format<"1:8">> acc tensor<3x4x8xf32> -> tensor<3x4x8xf32>
// CHECK:         nn.linear %[[P]], %[[W3]]
// CHECK:         sparse.linear %[[P]], %[[W4]]
// CHECK:         nn.linear %[[P]], %[[E]]
// NONE-NOT:      sparse.
// BAD: sparcc-opt: error: pass 'sparsify-weights' failed on {{.*}}: sparsify-weights{spec}: layer pattern 'fc1': 'unstructured:0.5@2:4': pruning 'unstructured:0.5' does not give the pattern that format '2:4' stores
// BAD2: sparcc-opt: error: pass 'sparsify-weights' failed on {{.*}}: sparsify-weights{spec}: layer pattern 'fc1': prune spec '3:2': expected 1 <= N <= M, got 3:2
func.func @mlp(%x: tensor<3x4x8xf32>) -> tensor<3x4x4xf32> {
  %w1 = nn.weight @"fc1.weight" : tensor<16x8xf32>
  %b1 = nn.weight @"fc1.bias" : tensor<16xf32>
  %w2 = nn.weight @"attn.proj.weight" : tensor<8x16xf32>
  %w3 = nn.weight @"head.weight" : tensor<4x8xf32>
  %w4 = nn.weight @"out.weight" : tensor<4x8xf32>
  %e = nn.weight @"emb.weight" {perm = array<i64: 1, 0>} : tensor<4x8xf32>
  %h = nn.linear %x, %w1, %b1 : (tensor<3x4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<3x4x16xf32>
  %p = nn.linear %h, %w2 : (tensor<3x4x16xf32>, tensor<8x16xf32>) -> tensor<3x4x8xf32>
  %y = nn.linear %p, %w3 : (tensor<3x4x8xf32>, tensor<4x8xf32>) -> tensor<3x4x4xf32>
  %o = nn.linear %p, %w4 : (tensor<3x4x8xf32>, tensor<4x8xf32>) -> tensor<3x4x4xf32>
  %z = nn.linear %p, %e : (tensor<3x4x8xf32>, tensor<4x8xf32>) -> tensor<3x4x4xf32>
  %s = nn.add %y, %z : tensor<3x4x4xf32>, tensor<3x4x4xf32> -> tensor<3x4x4xf32>
  %t = nn.add %s, %o : tensor<3x4x4xf32>, tensor<3x4x4xf32> -> tensor<3x4x4xf32>
  func.return %t : tensor<3x4x4xf32>
}
