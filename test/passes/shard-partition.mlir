// RUN: sparcc-opt %s -p shard-partition | filecheck %s
// RUN: sparcc-opt %s -p shard-propagate,shard-partition | filecheck %s --check-prefix=BOTH

shard.grid @mesh(shape = [2])

// Local types (a split dim is halved), weights keep their sharding for the
// loader, every other op loses its attribute.
// CHECK-LABEL: func.func @mlp
// CHECK-NEXT:    %[[W1:.*]] = nn.weight @fc1.weight {shard.sharding = #shard.sharding<@mesh, [[0]]>} : tensor<8x8xf32>
// CHECK-NEXT:    %[[B1:.*]] = nn.weight @fc1.bias {shard.sharding = #shard.sharding<@mesh, [[0]]>} : tensor<8xf32>
// CHECK-NEXT:    %[[W2:.*]] = nn.weight @fc2.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : tensor<8x8xf32>
// CHECK-NEXT:    %[[B2:.*]] = nn.weight @fc2.bias {shard.sharding = #shard.sharding<@mesh, []>} : tensor<8xf32>
// CHECK-NEXT:    %[[H:.*]] = nn.linear %x, %[[W1]], %[[B1]] : (tensor<4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %[[A:.*]] = nn.relu %[[H]] : tensor<4x8xf32>
// CHECK-NEXT:    %[[P:.*]] = nn.linear %[[A]], %[[W2]] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %[[S:.*]] = shard.all_reduce %[[P]] on @mesh grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %[[Y:.*]] = nn.add %[[S]], %[[B2]] : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %[[Y]] : tensor<4x8xf32>
func.func @mlp(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.weight @fc1.weight {shard.sharding = #shard.sharding<@mesh, [[0]]>} : tensor<16x8xf32>
  %1 = nn.weight @fc1.bias {shard.sharding = #shard.sharding<@mesh, [[0]]>} : tensor<16xf32>
  %2 = nn.weight @fc2.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : tensor<8x16xf32>
  %3 = nn.weight @fc2.bias {shard.sharding = #shard.sharding<@mesh, []>} : tensor<8xf32>
  %4 = nn.linear %x, %0, %1 {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %5 = nn.relu %4 {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : tensor<4x16xf32>
  %6 = nn.linear %5, %2 {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>} : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  %7 = shard.reshard %6 from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, []> : tensor<4x8xf32>
  %8 = nn.add %7, %3 {shard.sharding = #shard.sharding<@mesh, []>} : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  func.return %8 : tensor<4x8xf32>
}

// One collective per kind of reshard.
// CHECK-LABEL: func.func @reshards
// CHECK-NEXT:    %[[S1:.*]] = shard.all_slice %x on @mesh grid_axes = [0] slice_axis = 1 : tensor<4x8xf32> -> tensor<4x4xf32>
// CHECK-NEXT:    %[[G0:.*]] = shard.all_gather %[[S1]] on @mesh grid_axes = [0] gather_axis = 1 : tensor<4x4xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %[[S0:.*]] = shard.all_slice %[[G0]] on @mesh grid_axes = [0] slice_axis = 0 : tensor<4x8xf32> -> tensor<2x8xf32>
// CHECK-NEXT:    %[[R:.*]] = shard.all_gather %[[S0]] on @mesh grid_axes = [0] gather_axis = 0 : tensor<2x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %[[P:.*]] = nn.relu %[[R]] : tensor<4x8xf32>
// CHECK-NEXT:    %[[RS:.*]] = shard.reduce_scatter %[[P]] on @mesh grid_axes = [0] scatter_axis = 0 : tensor<4x8xf32> -> tensor<2x8xf32>
// CHECK-NEXT:    %[[Z:.*]] = shard.all_gather %[[RS]] on @mesh grid_axes = [0] gather_axis = 0 : tensor<2x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %[[Z]]
func.func @reshards(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = shard.reshard %x from #shard.sharding<@mesh, []> to #shard.sharding<@mesh, [[], [0]]> : tensor<4x8xf32>
  %1 = shard.reshard %0 from #shard.sharding<@mesh, [[], [0]]> to #shard.sharding<@mesh, [[0]]> : tensor<4x8xf32>
  %2 = shard.reshard %1 from #shard.sharding<@mesh, [[0]]> to #shard.sharding<@mesh, []> : tensor<4x8xf32>
  %3 = nn.relu %2 {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>} : tensor<4x8xf32>
  %4 = shard.reshard %3 from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, [[0]]> : tensor<4x8xf32>
  %5 = shard.reshard %4 from #shard.sharding<@mesh, [[0]]> to #shard.sharding<@mesh, []> : tensor<4x8xf32>
  func.return %5 : tensor<4x8xf32>
}

// Both passes on annotated IR: heads halved through reshape and permute.
// BOTH-LABEL: func.func @heads
// BOTH:         nn.linear %x, %{{.*}} : (tensor<2x8x32xf32>, tensor<16x32xf32>) -> tensor<2x8x16xf32>
// BOTH-NEXT:    nn.reshape %{{.*}} : tensor<2x8x16xf32> -> tensor<2x8x2x8xf32>
// BOTH-NEXT:    nn.permute %{{.*}} {perm = array<i64: 0, 2, 1, 3>} : tensor<2x8x2x8xf32> -> tensor<2x2x8x8xf32>
// BOTH-NEXT:    shard.all_gather %{{.*}} on @mesh grid_axes = [0] gather_axis = 1 : tensor<2x2x8x8xf32> -> tensor<2x4x8x8xf32>
// BOTH-NEXT:    func.return
func.func @heads(%x: tensor<2x8x32xf32>) -> tensor<2x4x8x8xf32> {
  %w = nn.weight @q.weight : tensor<32x32xf32>
  %a = shard.shard %w to #shard.sharding<@mesh, [[0]]> : tensor<32x32xf32>
  %0 = nn.linear %x, %a : (tensor<2x8x32xf32>, tensor<32x32xf32>) -> tensor<2x8x32xf32>
  %1 = nn.reshape %0 : tensor<2x8x32xf32> -> tensor<2x8x4x8xf32>
  %2 = nn.permute %1 {perm = array<i64: 0, 2, 1, 3>} : tensor<2x8x4x8xf32> -> tensor<2x4x8x8xf32>
  func.return %2 : tensor<2x4x8x8xf32>
}


// Compressed weights get the type of their part, in the same format; a
// static sparse format's entries are those of the part.
// CHECK-LABEL: func.func @compressed
// CHECK-NEXT:    %[[W1:.*]] = quant.weight @fc1.weight {shard.sharding = #shard.sharding<@mesh, [[0]]>} : !quant.tensor<8x8, #quant.format<"nf4:g8">>
// CHECK-NEXT:    %[[W2:.*]] = sparse.weight @fc2.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>, entries = array<i64: 8, 16, 32>} : !sparse.tensor<8x8xf32, #sparse.format<"2:4">>
// CHECK-NEXT:    %[[H:.*]] = quant.linear %x, %[[W1]] : (tensor<4x8xf32>, !quant.tensor<8x8, #quant.format<"nf4:g8">>) -> tensor<4x8xf32>
// CHECK-NEXT:    %[[P:.*]] = sparse.linear %[[H]], %[[W2]] : tensor<4x8xf32>, !sparse.tensor<8x8xf32, #sparse.format<"2:4">> -> tensor<4x8xf32>
// CHECK-NEXT:    shard.all_reduce %[[P]] on @mesh grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
func.func @compressed(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %1 = quant.weight @fc1.weight {shard.sharding = #shard.sharding<@mesh, [[0]]>} : !quant.tensor<16x8, #quant.format<"nf4:g8">>
  %3 = sparse.weight @fc2.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>, entries = array<i64: 8, 32, 64>} : !sparse.tensor<8x16xf32, #sparse.format<"2:4">>
  %5 = quant.linear %x, %1 {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : (tensor<4x8xf32>, !quant.tensor<16x8, #quant.format<"nf4:g8">>) -> tensor<4x16xf32>
  %7 = sparse.linear %5, %3 {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>} : tensor<4x16xf32>, !sparse.tensor<8x16xf32, #sparse.format<"2:4">> -> tensor<4x8xf32>
  %8 = shard.reshard %7 from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, []> : tensor<4x8xf32>
  func.return %8 : tensor<4x8xf32>
}

// A fused q|k|v split per block: a process holds [q part | k part | v part],
// so the slice of a whole block takes 1/N of its bounds.
// BOTH-LABEL: func.func @fused_qkv
// BOTH-NEXT:    %[[W:.*]] = nn.weight @c_attn.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]], blocks = 3>} : tensor<8x12xf32>
// BOTH-NEXT:    %[[M:.*]] = nn.matmul %x, %[[W]] : tensor<4x8xf32>, tensor<8x12xf32> -> tensor<4x12xf32>
// BOTH-NEXT:    %[[K:.*]] = nn.slice %[[M]] {dim = 1 : i64, start = 4 : i64, end = 8 : i64, step = 1 : i64} : tensor<4x12xf32> -> tensor<4x4xf32>
// BOTH-NEXT:    shard.all_gather %[[K]] on @mesh grid_axes = [0] gather_axis = 1 : tensor<4x4xf32> -> tensor<4x8xf32>
func.func @fused_qkv(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = nn.weight @c_attn.weight : tensor<8x24xf32>
  %a = shard.shard %w to #shard.sharding<@mesh, [[], [0]], blocks = 3> : tensor<8x24xf32>
  %0 = nn.matmul %x, %a : tensor<4x8xf32>, tensor<8x24xf32> -> tensor<4x24xf32>
  %k = nn.slice %0 {dim = 1 : i64, start = 8 : i64, end = 16 : i64, step = 1 : i64} : tensor<4x24xf32> -> tensor<4x8xf32>
  func.return %k : tensor<4x8xf32>
}

// A 2:4 weight with NF4 kept values split along its input features: the
// part keeps whole N:M groups and whole quant groups of kept values (32
// columns keep 16 values a row, 8 per rank: one group of 8 each).
// CHECK-LABEL: func.func @sparse_quant
// CHECK-NEXT:    quant.weight @fc.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : !quant.tensor<8x16, #quant.format<"nf4:g8">, #sparse.format<"2:4">>
// CHECK-NEXT:    shard.all_slice %x on @mesh grid_axes = [0] slice_axis = 1 : tensor<4x32xf32> -> tensor<4x16xf32>
func.func @sparse_quant(%x: tensor<4x32xf32>) -> tensor<4x8xf32> {
  %1 = quant.weight @fc.weight {shard.sharding = #shard.sharding<@mesh, [[], [0]]>} : !quant.tensor<8x32, #quant.format<"nf4:g8">, #sparse.format<"2:4">>
  %xs = shard.reshard %x from #shard.sharding<@mesh, []> to #shard.sharding<@mesh, [[], [0]]> : tensor<4x32xf32>
  %0 = quant.linear %xs, %1 {shard.sharding = #shard.sharding<@mesh, [], partial = [0]>} : (tensor<4x32xf32>, !quant.tensor<8x32, #quant.format<"nf4:g8">, #sparse.format<"2:4">>) -> tensor<4x8xf32>
  %2 = shard.reshard %0 from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, []> : tensor<4x8xf32>
  func.return %2 : tensor<4x8xf32>
}
