// fuse-epilogue: the elementwise op that reads a matmul's result runs on each
// block of its columns right after the block is computed (a loop whose
// iterations the CPU backend shares among its threads), where a second pass
// over the result would cost: it writes the result in another order than the
// matmul (an NCHW output), or the result leaves the last-level cache.
// RUN: sparcc-opt %s -p fuse-epilogue | filecheck %s
// RUN: sparcc-opt %s -p 'fuse-epilogue{threads=2}' | filecheck %s --check-prefix=TWO
// RUN: sparcc-opt %s -p 'fuse-epilogue{l2_bytes=8388608}' | filecheck %s --check-prefix=BIGL2
// RUN: sparcc-opt %s -p 'fuse-epilogue{min_share=0.0}' | filecheck %s --check-prefix=SHARE0
// RUN: sparcc-opt %s -p 'fuse-epilogue{llc_bytes=1048576}' | filecheck %s --check-prefix=SMALLLLC

// The report: one line per fused matmul, one count of the others by reason.
// CHECK:       builtin.module attributes {sparcc.fusions = [
// CHECK-SAME:    "epilogue: matmul [1024, 512, 128] + addf, maximumf, written transposed fused in 4 blocks of 128 columns, 2.0 MiB result not read back, predicted {{[0-9.]+}} us saved ({{[0-9]+}} % of the matmul)"
// CHECK-SAME:    "epilogue: matmul [4096, 256, 64] + mulf, addf, maximumf, written transposed fused in 8 blocks of 32 columns, 4.0 MiB result not read back
// CHECK-SAME:    "epilogue: matmul [8192, 48, 64] + maximumf, written transposed fused in 3 blocks of 16 columns, 1.5 MiB result not read back
// CHECK-SAME:    "epilogue: 6 matmuls not fused (init not a fill: 1, no elementwise epilogue: 2, the result stays in L2: 1, the result stays in the last-level cache, in order: 1, too little to save: 1)"]
// TWO:         builtin.module attributes {sparcc.fusions = [
// TWO-SAME:      "epilogue: matmul [1024, 512, 128] + addf, maximumf, written transposed fused in 4 blocks of 128 columns
// TWO-SAME:      "epilogue: matmul [4096, 256, 64] + mulf, addf, maximumf, written transposed fused in 8 blocks of 32 columns
// TWO-SAME:      "epilogue: 7 matmuls not fused (init not a fill: 1, no block of columns fits L2 and the threads: 1, no elementwise epilogue: 2, the result stays in L2: 1, the result stays in the last-level cache, in order: 1, too little to save: 1)"]
// BIGL2:       sparcc.fusions = ["epilogue: 9 matmuls not fused (init not a fill: 1, no elementwise epilogue: 2, the result stays in L2: 6)"]

// Linear + bias + ReLU, its result read transposed (as the next op wants
// it), 2 MiB: blocks of 128 columns keep 1024 x 128 in a 512 KiB L2. Each
// block slices the weight and the bias by its columns, fills and multiplies
// its own [1024, 128], and writes its rows of the transposed output.
// CHECK-LABEL: @linear_relu_transposed(
// CHECK-DAG:     %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG:     %[[O:.*]] = tensor.empty() : tensor<512x1024xf32>
// CHECK-DAG:     %[[LO:.*]] = arith.constant 0 : index
// CHECK-DAG:     %[[HI:.*]] = arith.constant 4 : index
// CHECK:         %[[R:.*]] = scf.for %[[J:.*]] = %[[LO]] to %[[HI]] step %{{.*}} iter_args(%[[ACC:.*]] = %[[O]]) -> (tensor<512x1024xf32>) {
// CHECK:           %[[NB:.*]] = arith.constant 128 : index
// CHECK-NEXT:      %[[OFF:.*]] = arith.muli %[[J]], %[[NB]] : index
// CHECK-NEXT:      %[[WJ:.*]] = tensor.extract_slice %w[0, %[[OFF]]] [128, 128] [1, 1] : tensor<128x512xf32> to tensor<128x128xf32>
// CHECK-NEXT:      %[[E:.*]] = tensor.empty() : tensor<1024x128xf32>
// CHECK-NEXT:      %[[F:.*]] = linalg.fill ins(%[[Z]] : f32) outs(%[[E]] : tensor<1024x128xf32>)
// CHECK-NEXT:      %[[C:.*]] = linalg.matmul ins(%x, %[[WJ]] : tensor<1024x128xf32>, tensor<128x128xf32>) outs(%[[F]] : tensor<1024x128xf32>)
// CHECK-NEXT:      %[[BJ:.*]] = tensor.extract_slice %b[%[[OFF]]] [128] [1] : tensor<512xf32> to tensor<128xf32>
// CHECK-NEXT:      %[[OJ:.*]] = tensor.extract_slice %[[ACC]][%[[OFF]], 0] [128, 1024] [1, 1] : tensor<512x1024xf32> to tensor<128x1024xf32>
// CHECK-NEXT:      %[[G:.*]] = linalg.generic {{.*}} ins(%[[C]], %[[BJ]] : tensor<1024x128xf32>, tensor<128xf32>) outs(%[[OJ]] : tensor<128x1024xf32>)
// CHECK:             arith.addf
// CHECK-NEXT:        arith.maximumf
// CHECK:           %[[W:.*]] = tensor.insert_slice %[[G]] into %[[ACC]][%[[OFF]], 0] [128, 1024] [1, 1] : tensor<128x1024xf32> into tensor<512x1024xf32>
// CHECK-NEXT:      scf.yield %[[W]]
// CHECK-NEXT:    } {sparcc.independent_iterations, sparcc.epilogue = "epilogue: matmul [1024, 512, 128]
// CHECK-NEXT:    func.return %[[R]]
// CHECK-NOT:     linalg.matmul
// Two threads: 4 blocks, 2 each (the same blocks).
// TWO-LABEL:   @linear_relu_transposed(
// TWO:           scf.for
// TWO:           tensor.extract_slice %w[0, %{{.*}}] [128, 128]
// A larger L2 holds the whole result: nothing changes.
// BIGL2-LABEL: @linear_relu_transposed(
// BIGL2-NOT:     scf.for
// BIGL2:         linalg.matmul ins(%x, %w : tensor<1024x128xf32>, tensor<128x512xf32>)
func.func @linear_relu_transposed(%x: tensor<1024x128xf32>, %w: tensor<128x512xf32>, %b: tensor<512xf32>) -> tensor<512x1024xf32> {
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1024x512xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1024x512xf32>) -> tensor<1024x512xf32>
  %c = linalg.matmul ins(%x, %w : tensor<1024x128xf32>, tensor<128x512xf32>) outs(%f : tensor<1024x512xf32>) -> tensor<1024x512xf32>
  %o = tensor.empty() : tensor<512x1024xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d1, d0)>], iterator_types = ["parallel", "parallel"]} ins(%c, %b : tensor<1024x512xf32>, tensor<512xf32>) outs(%o : tensor<512x1024xf32>) {
  ^bb0(%a0: f32, %a1: f32, %a2: f32):
    %s = arith.addf %a0, %a1 : f32
    %m = arith.maximumf %s, %z : f32
    linalg.yield %m : f32
  } -> tensor<512x1024xf32>
  func.return %r : tensor<512x1024xf32>
}

// The same in order: read back from L3 it costs nothing measurable, so it
// stays unfused unless the last-level cache is smaller than the result.
// CHECK-LABEL: @linear_relu_in_order(
// CHECK-NOT:     scf.for
// CHECK:         func.return
// SMALLLLC:    "epilogue: matmul [1024, 512, 128] + addf, maximumf fused in 4 blocks of 128 columns
// SMALLLLC-LABEL: @linear_relu_in_order(
// SMALLLLC:      scf.for
func.func @linear_relu_in_order(%x: tensor<1024x128xf32>, %w: tensor<128x512xf32>, %b: tensor<512xf32>) -> tensor<1024x512xf32> {
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1024x512xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1024x512xf32>) -> tensor<1024x512xf32>
  %c = linalg.matmul ins(%x, %w : tensor<1024x128xf32>, tensor<128x512xf32>) outs(%f : tensor<1024x512xf32>) -> tensor<1024x512xf32>
  %o = tensor.empty() : tensor<1024x512xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%c, %b : tensor<1024x512xf32>, tensor<512xf32>) outs(%o : tensor<1024x512xf32>) {
  ^bb0(%a0: f32, %a1: f32, %a2: f32):
    %s = arith.addf %a0, %a1 : f32
    %m = arith.maximumf %s, %z : f32
    linalg.yield %m : f32
  } -> tensor<1024x512xf32>
  func.return %r : tensor<1024x512xf32>
}

// A channels-last 1x1 convolution whose result leaves as NCHW: the matmul's
// [4096, 256] read as [1, 64, 64, 256] (collapse, expand), then scale, shift
// (per channel), a residual and ReLU, written [1, 256, 64, 64]. Each block's
// [4096, 32] is viewed as [1, 64, 64, 32]; the per-channel operands and the
// residual are sliced along the channels, the output along its dim 1.
// CHECK-LABEL: @nhwc_conv_bn_residual_to_nchw(
// CHECK:         scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<1x256x64x64xf32>) {
// CHECK:           %[[OFF:.*]] = arith.muli %[[J]], %{{.*}} : index
// CHECK-NEXT:      %[[WJ:.*]] = tensor.extract_slice %w[0, %[[OFF]]] [64, 32] [1, 1] : tensor<64x256xf32> to tensor<64x32xf32>
// CHECK:           %[[C:.*]] = linalg.matmul ins(%x, %[[WJ]] : tensor<4096x64xf32>, tensor<64x32xf32>) outs(%{{.*}} : tensor<4096x32xf32>)
// CHECK-NEXT:      %[[FLAT:.*]] = tensor.collapse_shape %[[C]] {{\[\[}}0 : i64, 1 : i64]] : tensor<4096x32xf32> into tensor<131072xf32>
// CHECK-NEXT:      %[[CJ:.*]] = tensor.expand_shape %[[FLAT]] {{\[\[}}0 : i64, 1 : i64, 2 : i64, 3 : i64]] output_shape [1, 64, 64, 32] : tensor<131072xf32> into tensor<1x64x64x32xf32>
// CHECK-NEXT:      %[[SJ:.*]] = tensor.extract_slice %scale[%[[OFF]]] [32] [1] : tensor<256xf32> to tensor<32xf32>
// CHECK-NEXT:      %[[HJ:.*]] = tensor.extract_slice %shift[%[[OFF]]] [32] [1] : tensor<256xf32> to tensor<32xf32>
// CHECK-NEXT:      %[[RJ:.*]] = tensor.extract_slice %res[0, 0, 0, %[[OFF]]] [1, 64, 64, 32] [1, 1, 1, 1] : tensor<1x64x64x256xf32> to tensor<1x64x64x32xf32>
// CHECK-NEXT:      %[[OJ:.*]] = tensor.extract_slice %[[ACC]][0, %[[OFF]], 0, 0] [1, 32, 64, 64] [1, 1, 1, 1]
// CHECK-NEXT:      linalg.generic {{.*}} ins(%[[CJ]], %[[SJ]], %[[HJ]], %[[RJ]] : tensor<1x64x64x32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<1x64x64x32xf32>) outs(%[[OJ]] : tensor<1x32x64x64xf32>)
// CHECK:           tensor.insert_slice %{{.*}} into %[[ACC]][0, %[[OFF]], 0, 0] [1, 32, 64, 64] [1, 1, 1, 1]
// CHECK:         } {sparcc.independent_iterations
func.func @nhwc_conv_bn_residual_to_nchw(%x: tensor<4096x64xf32>, %w: tensor<64x256xf32>, %scale: tensor<256xf32>, %shift: tensor<256xf32>, %res: tensor<1x64x64x256xf32>) -> tensor<1x256x64x64xf32> {
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4096x256xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4096x256xf32>) -> tensor<4096x256xf32>
  %c = linalg.matmul ins(%x, %w : tensor<4096x64xf32>, tensor<64x256xf32>) outs(%f : tensor<4096x256xf32>) -> tensor<4096x256xf32>
  %flat = tensor.collapse_shape %c [[0, 1]] : tensor<4096x256xf32> into tensor<1048576xf32>
  %c4 = tensor.expand_shape %flat [[0, 1, 2, 3]] output_shape [1, 64, 64, 256] : tensor<1048576xf32> into tensor<1x64x64x256xf32>
  %o = tensor.empty() : tensor<1x256x64x64xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d3)>, affine_map<(d0, d1, d2, d3) -> (d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c4, %scale, %shift, %res : tensor<1x64x64x256xf32>, tensor<256xf32>, tensor<256xf32>, tensor<1x64x64x256xf32>) outs(%o : tensor<1x256x64x64xf32>) {
  ^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32, %a4: f32):
    %m = arith.mulf %a0, %a1 : f32
    %s = arith.addf %m, %a2 : f32
    %t = arith.addf %s, %a3 : f32
    %y = arith.maximumf %t, %z : f32
    linalg.yield %y : f32
  } -> tensor<1x256x64x64xf32>
  func.return %r : tensor<1x256x64x64xf32>
}

// Left as they are: a result that stays in L2; a result with no epilogue
// (returned); a matmul accumulating into an argument. N = 48 only blocks of
// 16 divide: 3 of them at one thread, but they do not divide between 2.
// CHECK-LABEL: @left_alone(
// CHECK-NOT:     scf.for
// CHECK:         linalg.matmul ins(%x, %w : tensor<64x64xf32>, tensor<64x64xf32>)
// CHECK-NOT:     scf.for
// CHECK:         linalg.matmul ins(%x, %w : tensor<64x64xf32>, tensor<64x64xf32>) outs(%acc
// CHECK:         scf.for
// CHECK:           tensor.extract_slice %w48[0, %{{.*}}] [64, 16] [1, 1] : tensor<64x48xf32> to tensor<64x16xf32>
// CHECK:         func.return
// TWO-LABEL:   @left_alone(
// TWO-NOT:       scf.for
// TWO:           func.return
func.func @left_alone(%x: tensor<64x64xf32>, %w: tensor<64x64xf32>, %acc: tensor<64x64xf32>, %big: tensor<8192x64xf32>, %w48: tensor<64x48xf32>) -> (tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<48x8192xf32>) {
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<64x64xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<64x64xf32>) -> tensor<64x64xf32>
  %small = linalg.matmul ins(%x, %w : tensor<64x64xf32>, tensor<64x64xf32>) outs(%f : tensor<64x64xf32>) -> tensor<64x64xf32>
  %o = tensor.empty() : tensor<64x64xf32>
  %relu = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1, d0)>], iterator_types = ["parallel", "parallel"]} ins(%small : tensor<64x64xf32>) outs(%o : tensor<64x64xf32>) {
  ^bb0(%a0: f32, %a1: f32):
    %m = arith.maximumf %a0, %z : f32
    linalg.yield %m : f32
  } -> tensor<64x64xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e : tensor<64x64xf32>) -> tensor<64x64xf32>
  %twice = linalg.matmul ins(%x, %w : tensor<64x64xf32>, tensor<64x64xf32>) outs(%f2 : tensor<64x64xf32>) -> tensor<64x64xf32>
  %into = linalg.matmul ins(%x, %w : tensor<64x64xf32>, tensor<64x64xf32>) outs(%acc : tensor<64x64xf32>) -> tensor<64x64xf32>
  %e48 = tensor.empty() : tensor<8192x48xf32>
  %f48 = linalg.fill ins(%z : f32) outs(%e48 : tensor<8192x48xf32>) -> tensor<8192x48xf32>
  %c48 = linalg.matmul ins(%big, %w48 : tensor<8192x64xf32>, tensor<64x48xf32>) outs(%f48 : tensor<8192x48xf32>) -> tensor<8192x48xf32>
  %o48 = tensor.empty() : tensor<48x8192xf32>
  %r48 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1, d0)>], iterator_types = ["parallel", "parallel"]} ins(%c48 : tensor<8192x48xf32>) outs(%o48 : tensor<48x8192xf32>) {
  ^bb0(%a0: f32, %a1: f32):
    %m = arith.maximumf %a0, %z : f32
    linalg.yield %m : f32
  } -> tensor<48x8192xf32>
  func.return %relu, %twice, %into, %r48 : tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<48x8192xf32>
}

// K = 2048: writing the 2 MiB result transposed costs under 5 % of the
// matmul's time (counted as "too little to save"); `min_share=0.0` fuses it.
// CHECK-LABEL: @deep(
// CHECK-NOT:     scf.for
// CHECK:         linalg.matmul ins(%x, %w : tensor<1024x2048xf32>, tensor<2048x512xf32>)
// SHARE0:      "epilogue: matmul [1024, 512, 2048] + maximumf, written transposed fused in 4 blocks of 128 columns
func.func @deep(%x: tensor<1024x2048xf32>, %w: tensor<2048x512xf32>) -> tensor<512x1024xf32> {
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1024x512xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1024x512xf32>) -> tensor<1024x512xf32>
  %c = linalg.matmul ins(%x, %w : tensor<1024x2048xf32>, tensor<2048x512xf32>) outs(%f : tensor<1024x512xf32>) -> tensor<1024x512xf32>
  %o = tensor.empty() : tensor<512x1024xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1, d0)>], iterator_types = ["parallel", "parallel"]} ins(%c : tensor<1024x512xf32>) outs(%o : tensor<512x1024xf32>) {
  ^bb0(%a0: f32, %a1: f32):
    %m = arith.maximumf %a0, %z : f32
    linalg.yield %m : f32
  } -> tensor<512x1024xf32>
  func.return %r : tensor<512x1024xf32>
}

// A generic that overwrites C in place (C is its output operand, not an
// input) is no epilogue to fuse; the pass leaves it and says so.
// CHECK-LABEL: @overwritten(
// CHECK-NOT:     scf.for
// CHECK:         linalg.generic
func.func @overwritten(%x: tensor<1024x128xf32>, %w: tensor<128x512xf32>, %b: tensor<512xf32>) -> tensor<512x1024xf32> {
  %z = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<1024x512xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1024x512xf32>) -> tensor<1024x512xf32>
  %c = linalg.matmul ins(%x, %w : tensor<1024x128xf32>, tensor<128x512xf32>) outs(%f : tensor<1024x512xf32>) -> tensor<1024x512xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%b : tensor<512xf32>) outs(%c : tensor<1024x512xf32>) {
  ^bb0(%a0: f32, %a1: f32):
    linalg.yield %a0 : f32
  } -> tensor<1024x512xf32>
  %o = tensor.empty() : tensor<512x1024xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1, d0)>], iterator_types = ["parallel", "parallel"]} ins(%r : tensor<1024x512xf32>) outs(%o : tensor<512x1024xf32>) {
  ^bb0(%a0: f32, %a1: f32):
    linalg.yield %a0 : f32
  } -> tensor<512x1024xf32>
  func.return %t : tensor<512x1024xf32>
}
