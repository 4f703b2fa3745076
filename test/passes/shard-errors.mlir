// shard-propagate and shard-partition reject what they cannot split, with one message each.
// RUN: sparcc-opt %s -p shard-propagate,shard-partition --split-input-file --verify-diagnostics 2>&1 | filecheck %s

// A weight whose split dim the grid does not divide: named, with its sizes.
// CHECK: error: {{.*}}shard: weight 'fc1.weight' dim 0 has size 15, which 2 ranks do not divide (shape [15, 8]); choose another dim or replicate it
shard.grid @mesh(shape = [2])
func.func @odd_weight(%x: tensor<4x8xf32>) -> tensor<4x15xf32> {
  %w = nn.weight @fc1.weight : tensor<15x8xf32>
  %a = shard.shard %w to #shard.sharding<@mesh, [[0]]> : tensor<15x8xf32>
  %0 = nn.linear %x, %a : (tensor<4x8xf32>, tensor<15x8xf32>) -> tensor<4x15xf32>
  func.return %0 : tensor<4x15xf32>
}

// -----

// An activation split where the grid does not divide it.
// CHECK: error: {{.*}}shard: a value of shape [3, 8] cannot be split over 2 ranks along dim 0 (size 3)
shard.grid @mesh(shape = [2])
func.func @odd_value(%x: tensor<3x8xf32>) -> tensor<3x8xf32> {
  %0 = shard.shard %x to #shard.sharding<@mesh, [[0]]> : tensor<3x8xf32>
  %1 = nn.relu %0 : tensor<3x8xf32>
  func.return %1 : tensor<3x8xf32>
}

// -----

// Only 1-D grids.
// CHECK: error: {{.*}}shard: grid @g has shape [2, 2]; only 1-D grids are supported
shard.grid @g(shape = [2, 2])
func.func @grid2d(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  func.return %x : tensor<4x8xf32>
}

// -----

// No grid at all.
// CHECK: error: {{.*}}shard: expected one shard.grid in the module, found 0
func.func @nogrid(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  func.return %x : tensor<4x8xf32>
}

// -----

// A quantised weight placed so that its groups straddle two ranks: named,
// with the format and why (each rank keeps whole groups of codes and scales).
// CHECK: error: {{.*}}shard: weight 'fc2.weight' (!quant.tensor<8x16, #quant.format<"nf4:g16">>) cannot be split along dim 1: 2 ranks would split its groups of 16 (16 columns, 8 per rank); replicate it or choose another placement
shard.grid @mesh(shape = [2])
func.func @straddled_groups(%x: tensor<4x16xf32>) -> tensor<4x8xf32> {
  %w = quant.weight @fc2.weight : !quant.tensor<8x16, #quant.format<"nf4:g16">>
  %a = shard.shard %w to #shard.sharding<@mesh, [[], [0]]> : !quant.tensor<8x16, #quant.format<"nf4:g16">>
  %0 = quant.linear %x, %a : (tensor<4x16xf32>, !quant.tensor<8x16, #quant.format<"nf4:g16">>) -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}

// -----

// A sparse weight whose stored entries depend on its values (CSR): a rank's
// part would differ from the others' in size, so it is not split.
// CHECK: error: {{.*}}shard: weight 'fc1.weight' (!sparse.tensor<16x8xf32, #sparse.format<"csr">>) cannot be split along dim 0: format 'csr' stores a number of entries that depends on the data
shard.grid @mesh(shape = [2])
func.func @csr_pinned(%x: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %w = sparse.weight @fc1.weight {entries = array<i64: 16, 40>} : !sparse.tensor<16x8xf32, #sparse.format<"csr">>
  %a = shard.shard %w to #shard.sharding<@mesh, [[0]]> : !sparse.tensor<16x8xf32, #sparse.format<"csr">>
  %0 = sparse.linear %x, %a : tensor<4x8xf32>, !sparse.tensor<16x8xf32, #sparse.format<"csr">> -> tensor<4x16xf32>
  func.return %0 : tensor<4x16xf32>
}

// -----

// The blocks of a fused projection are only sliced apart, never gathered
// whole: named with both placements.
// CHECK: error: {{.*}}shard: cannot reshard the result of nn.matmul from S(1) in 3 blocks to R: the blocks of a fused projection are only sliced apart, one whole block at a time
shard.grid @mesh(shape = [2])
func.func @gather_blocks(%x: tensor<4x8xf32>) -> tensor<4x24xf32> {
  %w = nn.weight @c_attn.weight : tensor<8x24xf32>
  %a = shard.shard %w to #shard.sharding<@mesh, [[], [0]], blocks = 3> : tensor<8x24xf32>
  %0 = nn.matmul %x, %a : tensor<4x8xf32>, tensor<8x24xf32> -> tensor<4x24xf32>
  func.return %0 : tensor<4x24xf32>
}

// -----

// 2:4 with NF4 kept values: a split whose ranks would share a quant group of
// kept values (16 columns keep 8 values a row; 4 per rank; groups of 8).
// CHECK: error: {{.*}}shard: weight 'fc.weight' ({{.*}}) cannot be split along dim 1: 2 ranks would split its groups of 8 (8 columns, 4 per rank)
shard.grid @mesh(shape = [2])
func.func @sparse_quant_groups(%x: tensor<4x16xf32>) -> tensor<4x8xf32> {
  %w = quant.weight @fc.weight : !quant.tensor<8x16, #quant.format<"nf4:g8">, #sparse.format<"2:4">>
  %a = shard.shard %w to #shard.sharding<@mesh, [[], [0]]> : !quant.tensor<8x16, #quant.format<"nf4:g8">, #sparse.format<"2:4">>
  %0 = quant.linear %x, %a : (tensor<4x16xf32>, !quant.tensor<8x16, #quant.format<"nf4:g8">, #sparse.format<"2:4">>) -> tensor<4x8xf32>
  func.return %0 : tensor<4x8xf32>
}
