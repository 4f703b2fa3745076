// sparcc's hand-written GPU kernels (CUDA C, compiled to PTX by nvcc for the
// target architecture, then to a cubin by ptxas; kernels.py builds, loads and
// launches them). No CUDA runtime calls: only device code, launched through
// the driver API like the MLIR-generated kernels.
//
//   sparcc_gemm_bf16 / sparcc_gemm_f16
//     C[M,N] = A[M,K] @ B[K,N], all row-major, 16-bit inputs and output,
//     f32 accumulation on tensor cores (WMMA 16x16x16). Block tile 128x128x32,
//     8 warps of 64x32; tiles of A and B stream through shared memory with
//     cp.async, double-buffered (sm_80+). Any M; K and N multiples of 8 (16-byte
//     rows for cp.async), which kernels.py checks. Out-of-range rows/columns
//     are loaded as zeros and never stored.
//
//   sparcc_gemv_w4a16_bf16 / sparcc_gemv_w4a16_f16
//     y[N] = W[N,K] x[K] with 4-bit weights dequantised in registers:
//     w = levels[code] * scale[row, k / group] (f32 scales, as sparcc's quant
//     formats store them; MXFP4's E8M0 decoded to f32). `levels` is the format's 16
//     values (int4: code - 8; NF4: QLoRA's levels), passed in by the caller.
//     W is packed row-major, two codes a byte, the even k in the low nibble
//     (K/2 bytes a row). One warp a row: each lane reads 16 bytes (32 weights)
//     per step, the warp's 512 bytes contiguous; lanes sum with shuffles.
//     K a multiple of 32, group a multiple of 32 dividing K (kernels.py).
//
//   sparcc_spmm_csr_f32
//     C[M,N] = A[M,K] @ B[K,N] with A in CSR (int64 row offsets and column
//     indices, f32 values), B and C dense row-major f32. One warp a row of A;
//     each lane owns columns lane, lane + 32, ... of C's row, in registers
//     for 4 columns at a time; the row's nonzeros are read once per 128
//     columns and broadcast through the warp with shuffles.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>
#include <stdint.h>

using namespace nvcuda;

namespace {

constexpr int BM = 128, BN = 128, BK = 32;
constexpr int WARPS = 8, THREADS = WARPS * 32;
constexpr int LDA = BK + 8, LDB = BN + 8;  // padded rows: fewer bank conflicts, 32-byte fragment alignment

__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool in_range) {
  unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  int bytes = in_range ? 16 : 0;  // 0: fill the 16 bytes with zeros
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(bytes));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

template <typename T>
__device__ __forceinline__ void load_tiles(T *sa, T *sb, const T *A, const T *B, int M, int N, int K,
                                           int row0, int col0, int k0) {
  // A tile BM x BK: 512 chunks of 8 elements; B tile BK x BN: 512 chunks
  for (int c = threadIdx.x; c < BM * BK / 8; c += THREADS) {
    int r = c / (BK / 8), kc = (c % (BK / 8)) * 8;
    int gr = row0 + r, gk = k0 + kc;
    bool ok = gr < M && gk < K;
    cp_async16(sa + r * LDA + kc, ok ? A + (size_t)gr * K + gk : A, ok);
  }
  for (int c = threadIdx.x; c < BK * BN / 8; c += THREADS) {
    int r = c / (BN / 8), nc = (c % (BN / 8)) * 8;
    int gk = k0 + r, gn = col0 + nc;
    bool ok = gk < K && gn < N;
    cp_async16(sb + r * LDB + nc, ok ? B + (size_t)gk * N + gn : B, ok);
  }
}

template <typename T>
__device__ void gemm(const T *__restrict__ A, const T *__restrict__ B, T *__restrict__ C, int M, int N, int K) {
  __shared__ __align__(128) T sa[2][BM * LDA];
  __shared__ __align__(128) T sb[2][BK * LDB];
  __shared__ __align__(128) float stage[WARPS][16 * 16];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int wr = (warp / 2) * 32, wc = (warp % 2) * 64;  // the warp's 32x64 sub-tile: 4 warp rows x 2 warp cols
  int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][4];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  int tiles = (K + BK - 1) / BK;
  load_tiles(sa[0], sb[0], A, B, M, N, K, row0, col0, 0);
  cp_async_commit();
  for (int t = 0; t < tiles; ++t) {
    int cur = t & 1;
    cp_async_wait_all();
    __syncthreads();
    if (t + 1 < tiles) {  // the next tile streams in while this one is multiplied
      load_tiles(sa[cur ^ 1], sb[cur ^ 1], A, B, M, N, K, row0, col0, (t + 1) * BK);
      cp_async_commit();
    }
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb[4];
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], sa[cur] + (wr + i * 16) * LDA + kk, LDA);
      for (int j = 0; j < 4; ++j) wmma::load_matrix_sync(fb[j], sb[cur] + kk * LDB + wc + j * 16, LDB);
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();  // everyone is done with `cur` before it is loaded again
  }
  // epilogue: each 16x16 accumulator through the warp's staging tile, stored where in range
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      wmma::store_matrix_sync(stage[warp], acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        int r = row0 + wr + i * 16 + e / 16, c = col0 + wc + j * 16 + e % 16;
        if (r < M && c < N) C[(size_t)r * N + c] = T(stage[warp][e]);
      }
      __syncwarp();
    }
}

template <typename T>
__device__ __forceinline__ float to_f32(T v);
template <>
__device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <>
__device__ __forceinline__ float to_f32<__half>(__half v) { return __half2float(v); }

template <typename T>
__device__ void gemv_w4(const T *__restrict__ x, const uint8_t *__restrict__ W, const float *__restrict__ scales,
                        const float *__restrict__ levels_in, T *__restrict__ y, int N, int K, int group) {
  __shared__ float levels[16];
  if (threadIdx.x < 16) levels[threadIdx.x] = levels_in[threadIdx.x];
  __syncthreads();
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int row = blockIdx.x * (blockDim.x / 32) + warp;
  if (row >= N) return;
  const uint8_t *w = W + (size_t)row * (K / 2);
  const float *s = scales + (size_t)row * (K / group);
  float sum = 0.0f;
  for (int byte0 = lane * 16; byte0 < K / 2; byte0 += 32 * 16) {
    uint4 packed = *reinterpret_cast<const uint4 *>(w + byte0);  // 32 codes
    int k0 = byte0 * 2;
    float scale = s[k0 / group];
    const uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
    const uint4 *xv = reinterpret_cast<const uint4 *>(x + k0);  // 8 activations a load
    float part = 0.0f;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      union {
        uint4 v;
        T h[8];
      } xs;
      xs.v = xv[q];
#pragma unroll
      for (int b = 0; b < 8; ++b) {
        int code = (words[q] >> (4 * b)) & 0xF;  // byte q*4 + b/2, low nibble first: k = k0 + 8q + b
        part += levels[code] * to_f32(xs.h[b]);
      }
    }
    sum += part * scale;
  }
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (lane == 0) y[row] = T(sum);
}

constexpr int SPMM_COLS = 4;  // columns of C a lane keeps per pass (128 a warp)

__device__ void spmm_csr(const int64_t *__restrict__ crow, const int64_t *__restrict__ col,
                         const float *__restrict__ val, const float *__restrict__ B, float *__restrict__ C,
                         int M, int N) {
  int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
  if (warp >= M) return;
  int64_t start = crow[warp], end = crow[warp + 1];
  for (int n0 = 0; n0 < N; n0 += 32 * SPMM_COLS) {
    float acc[SPMM_COLS] = {};
    for (int64_t base = start; base < end; base += 32) {
      int64_t mine = base + lane;
      int64_t c = mine < end ? col[mine] : 0;  // each lane fetches one nonzero, then all share it
      float v = mine < end ? val[mine] : 0.0f;
      int count = (int)min((int64_t)32, end - base);
      for (int j = 0; j < count; ++j) {
        int64_t cj = __shfl_sync(0xffffffffu, c, j);
        float vj = __shfl_sync(0xffffffffu, v, j);
        const float *brow = B + cj * (int64_t)N;
#pragma unroll
        for (int q = 0; q < SPMM_COLS; ++q) {
          int n = n0 + q * 32 + lane;
          if (n < N) acc[q] += vj * brow[n];
        }
      }
    }
#pragma unroll
    for (int q = 0; q < SPMM_COLS; ++q) {
      int n = n0 + q * 32 + lane;
      if (n < N) C[(int64_t)warp * N + n] = acc[q];
    }
  }
}

}  // namespace

extern "C" {

__global__ void sparcc_spmm_csr_f32(const int64_t *crow, const int64_t *col, const float *val, const float *B,
                                    float *C, int M, int N) {
  spmm_csr(crow, col, val, B, C, M, N);
}


__global__ void __launch_bounds__(THREADS) sparcc_gemm_bf16(const __nv_bfloat16 *A, const __nv_bfloat16 *B,
                                                            __nv_bfloat16 *C, int M, int N, int K) {
  gemm(A, B, C, M, N, K);
}

__global__ void __launch_bounds__(THREADS) sparcc_gemm_f16(const __half *A, const __half *B, __half *C, int M,
                                                           int N, int K) {
  gemm(A, B, C, M, N, K);
}

__global__ void sparcc_gemv_w4a16_bf16(const __nv_bfloat16 *x, const uint8_t *W, const float *scales,
                                       const float *levels, __nv_bfloat16 *y, int N, int K, int group) {
  gemv_w4(x, W, scales, levels, y, N, K, group);
}

__global__ void sparcc_gemv_w4a16_f16(const __half *x, const uint8_t *W, const float *scales, const float *levels,
                                      __half *y, int N, int K, int group) {
  gemv_w4(x, W, scales, levels, y, N, K, group);
}

}  // extern "C"
