// One invalid case per chunk, one for each rule of the shard dialect.
// RUN: sparcc-opt %s --split-input-file --verify-diagnostics | filecheck %s

shard.grid @mesh(shape = [2])
func.func @no_grid(%x: tensor<4x8xf32>) {
  // CHECK: expected @nowhere to name a shard.grid
  %0 = shard.shard %x to #shard.sharding<@nowhere, [[0]]> : tensor<4x8xf32>
  func.return
}

// -----

shard.grid @mesh(shape = [2])
func.func @axis_out_of_grid(%x: tensor<4x8xf32>) {
  // CHECK: expected grid axes < 1 of @mesh, got 1
  %0 = shard.shard %x to #shard.sharding<@mesh, [[1]]> : tensor<4x8xf32>
  func.return
}

// -----

shard.grid @mesh(shape = [2])
func.func @too_many_dims(%x: tensor<8xf32>) {
  // CHECK: expected at most 1 split dims for tensor<8xf32>, got 2
  %0 = shard.shard %x to #shard.sharding<@mesh, [[], [0]]> : tensor<8xf32>
  func.return
}

// -----

shard.grid @mesh(shape = [2])
func.func @axis_twice(%x: tensor<4x8xf32>) {
  // CHECK: expected each grid axis at most once, got [0, 0]
  %0 = shard.shard %x to #shard.sharding<@mesh, [[0], [0]]> : tensor<4x8xf32>
  func.return
}

// -----

// CHECK: expected a grid of one or more axes of size >= 1, got [0]
shard.grid @mesh(shape = [0])

// -----

shard.grid @mesh(shape = [2])
func.func @gather_shape(%x: tensor<4x4xf32>) {
  // CHECK: expected result shape [4, 8], got [4, 4]
  %0 = shard.all_gather %x on @mesh grid_axes = [0] gather_axis = 1 : tensor<4x4xf32> -> tensor<4x4xf32>
  func.return
}

// -----

shard.grid @mesh(shape = [2])
func.func @scatter_uneven(%x: tensor<4x3xf32>) {
  // CHECK: expected dim 1 (size 3) to divide by the group
  %0 = shard.reduce_scatter %x on @mesh grid_axes = [0] scatter_axis = 1 : tensor<4x3xf32> -> tensor<4x1xf32>
  func.return
}

// -----

shard.grid @mesh(shape = [2])
func.func @slice_axis(%x: tensor<4x4xf32>) {
  // CHECK: expected slice_axis in [0, 2), got 2
  %0 = shard.all_slice %x on @mesh grid_axes = [0] slice_axis = 2 : tensor<4x4xf32> -> tensor<4x4xf32>
  func.return
}

// -----

shard.grid @mesh(shape = [2])
func.func @reduce_axes(%x: tensor<4x4xf32>) {
  // CHECK: expected grid axes < 1, got 3
  %0 = shard.all_reduce %x on @mesh grid_axes = [3] : tensor<4x4xf32> -> tensor<4x4xf32>
  func.return
}

// -----

shard.grid @mesh(shape = [2])
func.func @blocks_without_split(%x: tensor<4x4xf32>) {
  // CHECK: expected blocks >= 1, and blocks > 1 only with one split dim, got 3
  %0 = shard.shard %x to #shard.sharding<@mesh, [], blocks = 3> : tensor<4x4xf32>
  func.return
}
