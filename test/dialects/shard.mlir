// RUN: sparcc-opt %s | sparcc-opt | FileCheck %s

// CHECK: shard.grid @mesh(shape = [2])
shard.grid @mesh(shape = [2])
// CHECK-NEXT: shard.grid @grid2d(shape = [2, 4])
shard.grid @grid2d(shape = [2, 4])

// CHECK-LABEL: func.func @annotate
func.func @annotate(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>) -> tensor<4x8xf32> {
  // CHECK-NEXT: %{{.*}} = shard.shard %{{.*}} to #shard.sharding<@mesh, [[0], []]> : tensor<16x8xf32>
  %0 = shard.shard %w to #shard.sharding<@mesh, [[0], []]> : tensor<16x8xf32>
  // CHECK-NEXT: shard.shard %{{.*}} to #shard.sharding<@mesh, []> : tensor<4x8xf32>
  %1 = shard.shard %x to #shard.sharding<@mesh, []> : tensor<4x8xf32>
  // CHECK-NEXT: shard.shard %{{.*}} to #shard.sharding<@grid2d, [[1, 0]]> : tensor<4x8xf32>
  %2 = shard.shard %x to #shard.sharding<@grid2d, [[1, 0]]> : tensor<4x8xf32>
  // CHECK-NEXT: shard.reshard %{{.*}} from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, [[], [0]]> : tensor<4x8xf32>
  %3 = shard.reshard %1 from #shard.sharding<@mesh, [], partial = [0]> to #shard.sharding<@mesh, [[], [0]]> : tensor<4x8xf32>
  // a fused q|k|v: dim 0 is 3 blocks, each split; a compressed weight
  // CHECK-NEXT: shard.shard %{{.*}} to #shard.sharding<@mesh, [[0]], blocks = 3> : tensor<16x8xf32>
  %4 = shard.shard %w to #shard.sharding<@mesh, [[0]], blocks = 3> : tensor<16x8xf32>
  // CHECK-NEXT: quant.weight
  // CHECK-NEXT: shard.shard %{{.*}} to #shard.sharding<@mesh, [[0]]> : !quant.tensor<16x8, #quant.format<"nf4:g8">>
  %q = quant.weight @fc.weight : !quant.tensor<16x8, #quant.format<"nf4:g8">>
  %5 = shard.shard %q to #shard.sharding<@mesh, [[0]]> : !quant.tensor<16x8, #quant.format<"nf4:g8">>
  func.return %3 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @collectives
func.func @collectives(%x: tensor<4x4xf32>, %p: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // CHECK-NEXT: shard.all_reduce %{{.*}} on @mesh grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
  %0 = shard.all_reduce %p on @mesh grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
  // CHECK-NEXT: shard.all_gather %{{.*}} on @mesh grid_axes = [0] gather_axis = 1 : tensor<4x4xf32> -> tensor<4x8xf32>
  %1 = shard.all_gather %x on @mesh grid_axes = [0] gather_axis = 1 : tensor<4x4xf32> -> tensor<4x8xf32>
  // CHECK-NEXT: shard.reduce_scatter %{{.*}} on @mesh grid_axes = [0] scatter_axis = 0 : tensor<4x8xf32> -> tensor<2x8xf32>
  %2 = shard.reduce_scatter %p on @mesh grid_axes = [0] scatter_axis = 0 : tensor<4x8xf32> -> tensor<2x8xf32>
  // CHECK-NEXT: shard.all_slice %{{.*}} on @grid2d grid_axes = [0, 1] slice_axis = 1 : tensor<4x8xf32> -> tensor<4x1xf32>
  %3 = shard.all_slice %p on @grid2d grid_axes = [0, 1] slice_axis = 1 : tensor<4x8xf32> -> tensor<4x1xf32>
  func.return %1 : tensor<4x8xf32>
}
