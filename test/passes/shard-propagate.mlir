// RUN: sparcc-opt %s -p shard-propagate | filecheck %s

// CHECK: builtin.module attributes {shard.unplaced = ["nn.argsort"]}
shard.grid @mesh(shape = [2])

// Megatron MLP: column-parallel fc1 (its bias follows), row-parallel fc2
// whose bias is split off and added once, after the sum.
// CHECK-LABEL: func.func @mlp
// CHECK-NEXT:    %[[W1:.*]] = nn.weight @fc1.weight {shard.sharding = #shard.sharding<@mesh, [[0]]>}
// CHECK-NEXT:    %[[B1:.*]] = nn.weight @fc1.bias {shard.sharding = #shard.sharding<@mesh, [[0]]>}
// CHECK-NEXT:    %[[W2:.*]] = nn.weight @fc2.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>}
// CHECK-NEXT:    %[[B2:.*]] = nn.weight @fc2.bias {shard.sharding = #shard.sharding<@mesh, []>}
// CHECK-NEXT:    %[[H:.*]] = nn.linear %x, %[[W1]], %[[B1]] {shard.sharding = #shard.sharding<@mesh, [[], [0]]>}
// CHECK-NEXT:    %[[A:.*]] = nn.relu %[[H]] {shard.sharding = #shard.sharding<@mesh, [[], [0]]>}
// CHECK-NEXT:    %[[P:.*]] = nn.linear %[[A]], %[[W2]] {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>}
// CHECK-NEXT:    %[[S:.*]] = shard.reshard %[[P]] from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    %[[Y:.*]] = nn.add %[[S]], %[[B2]] {shard.sharding = #shard.sharding<@mesh, []>}
// CHECK-NEXT:    func.return %[[Y]]
func.func @mlp(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %1 = nn.weight @fc1.weight : tensor<16x8xf32>
  %2 = nn.weight @fc1.bias : tensor<16xf32>
  %3 = nn.weight @fc2.weight : tensor<8x16xf32>
  %4 = nn.weight @fc2.bias : tensor<8xf32>
  %a = shard.shard %1 to #shard.sharding<@mesh, [[0]]> : tensor<16x8xf32>
  %b = shard.shard %3 to #shard.sharding<@mesh, [[], [0]]> : tensor<8x16xf32>
  %5 = nn.linear %x, %a, %2 : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %6 = nn.relu %5 : tensor<4x16xf32>
  %7 = nn.linear %6, %b, %4 : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  func.return %7 : tensor<4x8xf32>
}

// Attention: heads split by the reshape, moved by permute, kept by sdpa.
// Only the row-parallel output projection sums.
// CHECK-LABEL: func.func @attention
// CHECK:         nn.linear {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [], [0]]>} : (tensor<2x8x32xf32>, tensor<32x32xf32>) -> tensor<2x8x32xf32>
// CHECK-NEXT:    nn.reshape {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [], [0]]>} : tensor<2x8x32xf32> -> tensor<2x8x4x8xf32>
// CHECK-NEXT:    nn.permute {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [0]]>, perm = array<i64: 0, 2, 1, 3>}
// CHECK:         nn.sdpa {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [0]]>, is_causal = true
// CHECK-NEXT:    nn.softmax {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [0]]>, dim = 3 : i64}
// CHECK-NEXT:    nn.permute {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [], [0]]>
// CHECK-NEXT:    nn.reshape {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [], [0]]>} : tensor<2x8x4x8xf32> -> tensor<2x8x32xf32>
// CHECK-NEXT:    nn.linear {{.*}} {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>}
// CHECK-NEXT:    shard.reshard {{.*}} from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    func.return
func.func @attention(%x: tensor<2x8x32xf32>) -> tensor<2x8x32xf32> {
  %wq = nn.weight @q.weight : tensor<32x32xf32>
  %wk = nn.weight @k.weight : tensor<32x32xf32>
  %wv = nn.weight @v.weight : tensor<32x32xf32>
  %wo = nn.weight @o.weight : tensor<32x32xf32>
  %q0 = shard.shard %wq to #shard.sharding<@mesh, [[0]]> : tensor<32x32xf32>
  %k0 = shard.shard %wk to #shard.sharding<@mesh, [[0]]> : tensor<32x32xf32>
  %v0 = shard.shard %wv to #shard.sharding<@mesh, [[0]]> : tensor<32x32xf32>
  %o0 = shard.shard %wo to #shard.sharding<@mesh, [[], [0]]> : tensor<32x32xf32>
  %0 = nn.linear %x, %q0 : (tensor<2x8x32xf32>, tensor<32x32xf32>) -> tensor<2x8x32xf32>
  %1 = nn.reshape %0 : tensor<2x8x32xf32> -> tensor<2x8x4x8xf32>
  %2 = nn.permute %1 {perm = array<i64: 0, 2, 1, 3>} : tensor<2x8x4x8xf32> -> tensor<2x4x8x8xf32>
  %3 = nn.linear %x, %k0 : (tensor<2x8x32xf32>, tensor<32x32xf32>) -> tensor<2x8x32xf32>
  %4 = nn.reshape %3 : tensor<2x8x32xf32> -> tensor<2x8x4x8xf32>
  %5 = nn.permute %4 {perm = array<i64: 0, 2, 1, 3>} : tensor<2x8x4x8xf32> -> tensor<2x4x8x8xf32>
  %6 = nn.linear %x, %v0 : (tensor<2x8x32xf32>, tensor<32x32xf32>) -> tensor<2x8x32xf32>
  %7 = nn.reshape %6 : tensor<2x8x32xf32> -> tensor<2x8x4x8xf32>
  %8 = nn.permute %7 {perm = array<i64: 0, 2, 1, 3>} : tensor<2x8x4x8xf32> -> tensor<2x4x8x8xf32>
  %9 = nn.sdpa %2, %5, %8 {is_causal = true, scale = 0.35355339059327373 : f64} : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %10 = nn.softmax %9 {dim = 3 : i64} : tensor<2x4x8x8xf32> -> tensor<2x4x8x8xf32>
  %11 = nn.permute %10 {perm = array<i64: 0, 2, 1, 3>} : tensor<2x4x8x8xf32> -> tensor<2x8x4x8xf32>
  %12 = nn.reshape %11 : tensor<2x8x4x8xf32> -> tensor<2x8x32xf32>
  %13 = nn.linear %12, %o0 : (tensor<2x8x32xf32>, tensor<32x32xf32>) -> tensor<2x8x32xf32>
  func.return %13 : tensor<2x8x32xf32>
}

// An unannotated weight takes the placement its consumer wants: here the
// row-parallel one that the split input asks for.
// CHECK-LABEL: func.func @free_weight
// CHECK-NEXT:    %[[W2:.*]] = nn.weight @w2 {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : tensor<4x16xf32>
// CHECK:         nn.linear %{{.*}}, %[[W2]] {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>}
func.func @free_weight(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
  %w2 = nn.weight @w2 : tensor<4x16xf32>
  %w1 = nn.weight @w1 : tensor<16x8xf32>
  %a = shard.shard %w1 to #shard.sharding<@mesh, [[0]]> : tensor<16x8xf32>
  %0 = nn.linear %x, %a : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  %1 = nn.linear %0, %w2 : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x4xf32>
  func.return %1 : tensor<4x4xf32>
}

// Conflicting splits: the add keeps its first operand's split, the second
// operand is resharded; the mul's row vector is sliced to match (no data
// moves); the layer norm over the split dim gathers it.
// CHECK-LABEL: func.func @conflict
// CHECK:         %[[R:.*]] = shard.reshard %{{.*}} from #shard.sharding<@mesh, [[0]]> to #shard.sharding<@mesh, [[], [0]]> : tensor<8x8xf32>
// CHECK-NEXT:    %[[S:.*]] = nn.add %{{.*}}, %[[R]] {shard.sharding = #shard.sharding<@mesh, [[], [0]]>}
// CHECK-NEXT:    %[[B:.*]] = shard.reshard %b from #shard.sharding<@mesh, []> to #shard.sharding<@mesh, [[], [0]]> : tensor<1x8xf32>
// CHECK-NEXT:    nn.mul %[[S]], %[[B]] {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : tensor<8x8xf32>, tensor<1x8xf32>
// CHECK-NEXT:    %[[G:.*]] = shard.reshard %{{.*}} from #shard.sharding<@mesh, [[], [0]]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    nn.layer_norm %[[G]] {shard.sharding = #shard.sharding<@mesh, []>
func.func @conflict(%x: tensor<8x8xf32>, %b: tensor<1x8xf32>) -> tensor<8x8xf32> {
  %0 = shard.shard %x to #shard.sharding<@mesh, [[], [0]]> : tensor<8x8xf32>
  %1 = shard.shard %x to #shard.sharding<@mesh, [[0]]> : tensor<8x8xf32>
  %2 = nn.add %0, %1 : tensor<8x8xf32>, tensor<8x8xf32> -> tensor<8x8xf32>
  %3 = nn.mul %2, %b : tensor<8x8xf32>, tensor<1x8xf32> -> tensor<8x8xf32>
  %4 = nn.layer_norm %3 {normalized_ndim = 1 : i64, eps = 1.000000e-05 : f64} : tensor<8x8xf32>
  func.return %4 : tensor<8x8xf32>
}

// A row vector broadcast along the split dim stays whole.
// CHECK-LABEL: func.func @broadcast
// CHECK-NEXT:    %[[X:.*]] = shard.reshard %x from #shard.sharding<@mesh, []> to #shard.sharding<@mesh, [[0]]>
// CHECK-NEXT:    nn.add %[[X]], %b {shard.sharding = #shard.sharding<@mesh, [[0]]>} : tensor<8x8xf32>, tensor<1x8xf32>
func.func @broadcast(%x: tensor<8x8xf32>, %b: tensor<1x8xf32>) -> tensor<8x8xf32> {
  %0 = shard.shard %x to #shard.sharding<@mesh, [[0]]> : tensor<8x8xf32>
  %1 = nn.add %0, %b : tensor<8x8xf32>, tensor<1x8xf32> -> tensor<8x8xf32>
  func.return %1 : tensor<8x8xf32>
}

// Embedding split along its features; a reshape that keeps the split
// leading its group keeps it, one that merges it into an outer dim gathers.
// CHECK-LABEL: func.func @embedding_reshape
// CHECK:         nn.embedding {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [], [0]]>}
// CHECK-NEXT:    nn.reshape {{.*}} {shard.sharding = #shard.sharding<@mesh, [[], [], [0]]>} : tensor<2x4x16xf32> -> tensor<2x4x4x4xf32>
// CHECK-NEXT:    shard.reshard {{.*}} from #shard.sharding<@mesh, [[], [], [0]]> to #shard.sharding<@mesh, []> : tensor<2x4x16xf32>
// CHECK-NEXT:    nn.reshape {{.*}} {shard.sharding = #shard.sharding<@mesh, []>} : tensor<2x4x16xf32> -> tensor<2x64xf32>
func.func @embedding_reshape(%i: tensor<2x4xi64>) -> (tensor<2x4x4x4xf32>, tensor<2x64xf32>) {
  %w = nn.weight @emb.weight : tensor<100x16xf32>
  %a = shard.shard %w to #shard.sharding<@mesh, [[], [0]]> : tensor<100x16xf32>
  %0 = nn.embedding %a, %i : (tensor<100x16xf32>, tensor<2x4xi64>) -> tensor<2x4x16xf32>
  %1 = nn.reshape %0 : tensor<2x4x16xf32> -> tensor<2x4x4x4xf32>
  %2 = nn.reshape %0 : tensor<2x4x16xf32> -> tensor<2x64xf32>
  func.return %1, %2 : tensor<2x4x4x4xf32>, tensor<2x64xf32>
}

// An op without a rule runs replicated, and is listed in shard.unplaced.
// CHECK-LABEL: func.func @unplaced
// CHECK:         shard.reshard {{.*}} from #shard.sharding<@mesh, [[0]]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    nn.argsort {{.*}}shard.sharding = #shard.sharding<@mesh, []>
func.func @unplaced(%x: tensor<8x4xf32>) -> tensor<8x4xi64> {
  %0 = shard.shard %x to #shard.sharding<@mesh, [[0]]> : tensor<8x4xf32>
  %1 = nn.argsort %0 {dim = 1 : i64, descending = false} : tensor<8x4xf32> -> tensor<8x4xi64>
  func.return %1 : tensor<8x4xi64>
}

// A matmul by [in, out] weights (GPT-2's Conv1D): split columns, then rows;
// the column split carries through the bias add (the bias follows), the row
// split leaves a partial sum that is summed before its bias is added.
// CHECK-LABEL: func.func @conv1d
// CHECK-NEXT:    %[[W1:.*]] = nn.weight @fc.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : tensor<8x32xf32>
// CHECK-NEXT:    %[[B1:.*]] = nn.weight @fc.bias {shard.sharding = #shard.sharding<@mesh, [[0]]>} : tensor<32xf32>
// CHECK-NEXT:    %[[W2:.*]] = nn.weight @proj.weight {shard.sharding = #shard.sharding<@mesh, [[0]]>} : tensor<32x8xf32>
// CHECK-NEXT:    %[[B2:.*]] = nn.weight @proj.bias {shard.sharding = #shard.sharding<@mesh, []>} : tensor<8xf32>
// CHECK-NEXT:    %[[H:.*]] = nn.matmul %x, %[[W1]] {shard.sharding = #shard.sharding<@mesh, [[], [0]]>}
// CHECK-NEXT:    %[[HB:.*]] = nn.add %[[H]], %[[B1]] {shard.sharding = #shard.sharding<@mesh, [[], [0]]>}
// CHECK-NEXT:    %[[P:.*]] = nn.matmul %[[HB]], %[[W2]] {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>}
// CHECK-NEXT:    %[[S:.*]] = shard.reshard %[[P]] from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    nn.add %[[S]], %[[B2]] {shard.sharding = #shard.sharding<@mesh, []>}
func.func @conv1d(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w1 = nn.weight @fc.weight : tensor<8x32xf32>
  %b1 = nn.weight @fc.bias : tensor<32xf32>
  %w2 = nn.weight @proj.weight : tensor<32x8xf32>
  %b2 = nn.weight @proj.bias : tensor<8xf32>
  %a = shard.shard %w1 to #shard.sharding<@mesh, [[], [0]]> : tensor<8x32xf32>
  %0 = nn.matmul %x, %a : tensor<4x8xf32>, tensor<8x32xf32> -> tensor<4x32xf32>
  %1 = nn.add %0, %b1 : tensor<4x32xf32>, tensor<32xf32> -> tensor<4x32xf32>
  %2 = nn.matmul %1, %w2 : tensor<4x32xf32>, tensor<32x8xf32> -> tensor<4x8xf32>
  %3 = nn.add %2, %b2 : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  func.return %3 : tensor<4x8xf32>
}

// A sum over the split dim is a partial sum; a mean over it gathers first.
// CHECK-LABEL: func.func @reductions
// CHECK:         nn.sum %{{.*}} {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>
// CHECK:         %[[G:.*]] = shard.reshard %{{.*}} from #shard.sharding<@mesh, [[], [0]]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    nn.mean %[[G]] {shard.sharding = #shard.sharding<@mesh, []>
func.func @reductions(%x: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = shard.shard %x to #shard.sharding<@mesh, [[], [0]]> : tensor<4x8xf32>
  %1 = nn.sum %0 {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  %2 = nn.mean %0 {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  func.return %1, %2 : tensor<4xf32>, tensor<4xf32>
}

// Two consumers that need the same reshard share one.
// CHECK-LABEL: func.func @shared_reshard
// CHECK:         %[[G:.*]] = shard.reshard %{{.*}} from #shard.sharding<@mesh, [[], [0]]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    nn.softmax %[[G]]
// CHECK-NEXT:    nn.log_softmax %[[G]]
// CHECK-NOT:     shard.reshard
func.func @shared_reshard(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = shard.shard %x to #shard.sharding<@mesh, [[], [0]]> : tensor<4x8xf32>
  %1 = nn.relu %0 : tensor<4x8xf32>
  %2 = nn.softmax %1 {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  %3 = nn.log_softmax %1 {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32>
  func.return %2, %3 : tensor<4x8xf32>, tensor<4x8xf32>
}

// Compressed layers: an NF4 (quant.linear) column-parallel layer and a 2:4
// sparse (sparse.linear) row-parallel one, placed like nn.linear (shard.shard
// takes a quant.tensor and a sparse.tensor); the row-parallel bias is split
// off as for nn.linear.
// CHECK-LABEL: func.func @compressed_mlp
// CHECK-NEXT:    %[[W1:.*]] = quant.weight @fc1.weight {shard.sharding = #shard.sharding<@mesh, [[0]]>} : !quant.tensor<16x8, #quant.format<"nf4:g8">>
// CHECK-NEXT:    %[[W2:.*]] = sparse.weight @fc2.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>, entries = array<i64: 8, 32, 64>}
// CHECK-NEXT:    %[[B2:.*]] = nn.weight @fc2.bias {shard.sharding = #shard.sharding<@mesh, []>}
// CHECK-NEXT:    %[[H:.*]] = quant.linear %x, %[[W1]] {shard.sharding = #shard.sharding<@mesh, [[], [0]]>}
// CHECK-NEXT:    %[[A:.*]] = nn.relu %[[H]] {shard.sharding = #shard.sharding<@mesh, [[], [0]]>}
// CHECK-NEXT:    %[[P:.*]] = sparse.linear %[[A]], %[[W2]] {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>}
// CHECK-NEXT:    %[[S:.*]] = shard.reshard %[[P]] from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    %[[Y:.*]] = nn.add %[[S]], %[[B2]] {shard.sharding = #shard.sharding<@mesh, []>}
// CHECK-NEXT:    func.return %[[Y]]
func.func @compressed_mlp(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %1 = quant.weight @fc1.weight : !quant.tensor<16x8, #quant.format<"nf4:g8">>
  %3 = sparse.weight @fc2.weight {entries = array<i64: 8, 32, 64>} : !sparse.tensor<8x16xf32, #sparse.format<"2:4">>
  %4 = nn.weight @fc2.bias : tensor<8xf32>
  %a = shard.shard %1 to #shard.sharding<@mesh, [[0]]> : !quant.tensor<16x8, #quant.format<"nf4:g8">>
  %b = shard.shard %3 to #shard.sharding<@mesh, [[], [0]]> : !sparse.tensor<8x16xf32, #sparse.format<"2:4">>
  %5 = quant.linear %x, %a : (tensor<4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4:g8">>) -> tensor<4x16xf32>
  %6 = nn.relu %5 : tensor<4x16xf32>
  %7 = sparse.linear %6, %b, %4 : tensor<4x16xf32>, !sparse.tensor<8x16xf32, #sparse.format<"2:4">>, tensor<8xf32> -> tensor<4x8xf32>
  func.return %7 : tensor<4x8xf32>
}

// A free weight whose format cannot be split (CSR: the entries depend on the
// data) stays whole; the layer runs on the gathered input.
// CHECK-LABEL: func.func @csr_stays_whole
// CHECK:         %[[W:.*]] = sparse.weight @fc2.weight {shard.sharding = #shard.sharding<@mesh, []>, entries = array<i64: 8, 20>}
// CHECK:         %[[G:.*]] = shard.reshard %{{.*}} from #shard.sharding<@mesh, [[], [0]]> to #shard.sharding<@mesh, []>
// CHECK-NEXT:    sparse.linear %[[G]], %[[W]] {shard.sharding = #shard.sharding<@mesh, []>}
func.func @csr_stays_whole(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %1 = nn.weight @fc1.weight : tensor<16x8xf32>
  %3 = sparse.weight @fc2.weight {entries = array<i64: 8, 20>} : !sparse.tensor<8x16xf32, #sparse.format<"csr">>
  %a = shard.shard %1 to #shard.sharding<@mesh, [[0]]> : tensor<16x8xf32>
  %5 = nn.linear %x, %a : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  %7 = sparse.linear %5, %3 : tensor<4x16xf32>, !sparse.tensor<8x16xf32, #sparse.format<"csr">> -> tensor<4x8xf32>
  func.return %7 : tensor<4x8xf32>
}

// A fused q|k|v projection (GPT-2's c_attn: a matmul by a [in, 3d] weight
// and a bias add) split per block: its output keeps the 3 blocks through the
// add and the reshape, and each slice of one whole block (q, k, v) is an
// ordinary split of its own; nothing moves.
// CHECK-LABEL: func.func @fused_qkv
// CHECK-NEXT:    %[[W:.*]] = nn.weight @c_attn.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]], blocks = 3>}
// CHECK-NEXT:    %[[B:.*]] = nn.weight @c_attn.bias {shard.sharding = #shard.sharding<@mesh, [[0]], blocks = 3>}
// CHECK-NEXT:    %[[M:.*]] = nn.matmul %x, %[[W]] {shard.sharding = #shard.sharding<@mesh, [[], [0]], blocks = 3>}
// CHECK-NEXT:    %[[A:.*]] = nn.add %[[M]], %[[B]] {shard.sharding = #shard.sharding<@mesh, [[], [0]], blocks = 3>}
// CHECK-NEXT:    %[[R:.*]] = nn.reshape %[[A]] {shard.sharding = #shard.sharding<@mesh, [[], [], [0]], blocks = 3>}
// CHECK-NEXT:    nn.slice %[[R]] {shard.sharding = #shard.sharding<@mesh, [[], [], [0]]>, dim = 2 : i64, start = 0 : i64, end = 8 : i64
// CHECK-NEXT:    nn.slice %[[R]] {shard.sharding = #shard.sharding<@mesh, [[], [], [0]]>, dim = 2 : i64, start = 8 : i64, end = 16 : i64
// CHECK-NEXT:    nn.add
// CHECK-NEXT:    shard.reshard %{{.*}} from #shard.sharding<@mesh, [[], [], [0]]> to #shard.sharding<@mesh, []>
func.func @fused_qkv(%x: tensor<4x8xf32>) -> tensor<1x4x8xf32> {
  %w = nn.weight @c_attn.weight : tensor<8x24xf32>
  %b = nn.weight @c_attn.bias : tensor<24xf32>
  %a = shard.shard %w to #shard.sharding<@mesh, [[], [0]], blocks = 3> : tensor<8x24xf32>
  %0 = nn.matmul %x, %a : tensor<4x8xf32>, tensor<8x24xf32> -> tensor<4x24xf32>
  %1 = nn.add %0, %b : tensor<4x24xf32>, tensor<24xf32> -> tensor<4x24xf32>
  %2 = nn.reshape %1 : tensor<4x24xf32> -> tensor<1x4x24xf32>
  %q = nn.slice %2 {dim = 2 : i64, start = 0 : i64, end = 8 : i64, step = 1 : i64} : tensor<1x4x24xf32> -> tensor<1x4x8xf32>
  %k = nn.slice %2 {dim = 2 : i64, start = 8 : i64, end = 16 : i64, step = 1 : i64} : tensor<1x4x24xf32> -> tensor<1x4x8xf32>
  %3 = nn.add %q, %k : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x4x8xf32>
  func.return %3 : tensor<1x4x8xf32>
}
