/*
 * sparcc's sparse x quantised linear kernel, built into libsparcc_rt.so beside
 * runtime.c, ukernels.c and spkernels.c (gcc -O3 -march=native): AVX-512
 * F/BW/VL code; where the host lacks it, an AVX2 + FMA version (see its
 * section) and a portable scalar one.
 *
 *     y[M, N] = x[M, K] @ W[N, K]^T (+ bias[N])
 *
 * for a 2:4 weight W whose kept values are 4-bit codes (every 4-bit format of
 * dialects/quant_formats.py: int4 sym/asym, nf4, sf4, apot4, e2m1, e2m1s, lp
 * n <= 4, mxfp4 with its E8M0 scales given as float32) with scales (and zero
 * points) per group of `group` kept values of a row (dialects/sparse_quant.py):
 *
 *     W[n, 64b + 4(j/2) + p(n, b, j)] = (lut[code(n, b, j)] - zero[n, g]) * scale[n, g],
 *     g = min(32b / group, G - 1), j = 0..31 the kept values of block b
 *
 * Packed layout (backends/cpu/sqlinear.py:pack packs it once, at load): rows
 * in quads (N padded to a multiple of 4 with zero rows), K in blocks of 64
 * columns = 32 kept values (K padded to Kb = ceil(K/64) blocks with zeros).
 * Quad q, block b is 96 contiguous bytes at (q * Kb + b) * 96:
 *     bytes 16r .. 16r+15 (r < 4): row 4q+r's codes, byte j = code of kept j
 *                                  | code of kept 16+j << 4
 *     bytes 64+8r .. 64+8r+7:      row 4q+r's positions, two little-endian
 *                                  u32: bits 2j..2j+1 of word h = the column
 *                                  of kept 16h+j inside its group of 4
 * so a GEMV streams one sequential buffer: 3 bits per weight (1 byte of codes
 * and 4 bits of positions per 4 weights), plus the scales [N, G] float32.
 *
 * How (AVX-512): one 16-byte load widens (vpmovzxbd) into 16 dwords; their
 * low and high nibbles index (vpermps) the group's 16-entry table, already
 * scaled ((lut - zero) * scale, exact: the reference's weights bit for bit).
 * The 2-bit positions are broadcast, shifted per lane (vpsrlvd) and merged
 * with the group bases 4(j/2) (vpternlogd) into indices that gather the
 * matching x values from two registers (vpermt2ps): each kept weight costs a
 * lookup and one FMA, and no zero is ever multiplied.
 *
 * M <= 4 (GEMV, memory-bound): per quad of rows and per 64-column block, x
 * is loaded once (4 zmm per row of x) and each row's codes and positions are
 * decoded in registers. M > 4 (GEMM): x is transposed to [Kp][Mp]; per quad
 * and per 2 blocks, each row's 64 kept weights and their x offsets are
 * decoded once into a small buffer, then a register tile of 64 rows of x
 * (4 zmm) accumulates w * xt[k] over them. Both split the row quads over
 * sparcc's thread pool (sparcc_rt_parallel_for). Sums run in another order
 * than `x @ W.T`: y agrees with the reference to float32 round-off.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SQ_EXPORT __attribute__((visibility("default")))
#define SQ_INLINE static inline __attribute__((always_inline))

typedef void (*sq_range_fn_t)(void *ctx, int64_t begin, int64_t end);
extern void sparcc_rt_parallel_for(int64_t n, int64_t grain, sq_range_fn_t fn, void *ctx);

enum { SQ_ZEROS = 1, SQ_BIAS = 2 };
#define SQ_BLOCK 96 /* bytes per quad and block */
#define SQ_KB 64    /* columns per block */

struct sqop {
  const float *x;     /* [M][K] as given */
  const float *xp;    /* GEMV: [M][Kp] zero-padded; GEMM: [Kp][Mp] transposed */
  const uint8_t *packed;
  const float *scales, *zeros, *lut, *bias;
  float *y;
  int64_t M, Mp, N, K, Kp, Kb, group, G;
};

static inline int64_t sq_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t sq_max(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t sq_round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/* the scale group of block b */
static inline int64_t sq_group(const struct sqop *q, int64_t b) { return sq_min(32 * b / q->group, q->G - 1); }

static inline uint32_t sq_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

#define SQ_PF 8 /* blocks ahead to prefetch (768 bytes) */

/* the 16-entry table of row n, group g: (lut - zero) * scale */
SQ_INLINE __m512 sq_table(const struct sqop *q, __m512 lut, int64_t n, int64_t g) {
  const int64_t n1 = sq_min(n, q->N - 1); /* padding rows read the last row's */
  __m512 s = _mm512_set1_ps(q->scales[n1 * q->G + g]);
  if (!q->zeros) return _mm512_mul_ps(lut, s);
  return _mm512_mul_ps(_mm512_sub_ps(lut, _mm512_set1_ps(q->zeros[n1 * q->G + g])), s);
}

/* x indices of 16 kept values from their 2-bit positions: 4(j/2) + p_j */
SQ_INLINE __m512i sq_index(uint32_t word, __m512i shifts, __m512i base) {
  __m512i p = _mm512_srlv_epi32(_mm512_set1_epi32((int)word), shifts);
  return _mm512_ternarylogic_epi32(p, _mm512_set1_epi32(3), base, 0xEA); /* (p & 3) | base */
}

/* ---------------------------------------------------------------------------
 * GEMV: MM = M rows of x (1..4), the 4 rows of a quad at once
 * ------------------------------------------------------------------------ */
SQ_INLINE void sq_gemv_quad(const struct sqop *q, int64_t quad, const int MM) {
  const int64_t Kb = q->Kb, Kp = q->Kp, n0 = 4 * quad;
  const uint8_t *p = q->packed + quad * Kb * SQ_BLOCK;
  const __m512 lut = _mm512_loadu_ps(q->lut);
  const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
  __m512 acc[4][4][2], t[4];
  for (int m = 0; m < MM; m++)
    for (int r = 0; r < 4; r++) acc[m][r][0] = acc[m][r][1] = _mm512_setzero_ps();
  int64_t g = -1;
  for (int64_t b = 0; b < Kb; b++, p += SQ_BLOCK) {
    const int64_t gb = sq_group(q, b);
    if (gb != g) {
      g = gb;
      for (int r = 0; r < 4; r++) t[r] = sq_table(q, lut, n0 + r, g);
    }
    _mm_prefetch((const char *)(p + SQ_PF * SQ_BLOCK), _MM_HINT_T0);
    _mm_prefetch((const char *)(p + SQ_PF * SQ_BLOCK + 64), _MM_HINT_T0);
    __m512 x[4][4];
    for (int m = 0; m < MM; m++)
      for (int v = 0; v < 4; v++) x[m][v] = _mm512_load_ps(q->xp + m * Kp + b * SQ_KB + 16 * v);
    for (int r = 0; r < 4; r++) {
      __m512i i = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 16 * r)));
      __m512 wl = _mm512_permutexvar_ps(i, t[r]);
      __m512 wh = _mm512_permutexvar_ps(_mm512_srli_epi32(i, 4), t[r]);
      __m512i il = sq_index(sq_u32(p + 64 + 8 * r), shifts, base);
      __m512i ih = sq_index(sq_u32(p + 68 + 8 * r), shifts, base);
      for (int m = 0; m < MM; m++) {
        acc[m][r][0] = _mm512_fmadd_ps(wl, _mm512_permutex2var_ps(x[m][0], il, x[m][1]), acc[m][r][0]);
        acc[m][r][1] = _mm512_fmadd_ps(wh, _mm512_permutex2var_ps(x[m][2], ih, x[m][3]), acc[m][r][1]);
      }
    }
  }
  for (int r = 0; r < 4; r++) {
    const int64_t n = n0 + r;
    if (n >= q->N) break;
    const float b = q->bias ? q->bias[n] : 0.0f;
    for (int m = 0; m < MM; m++) q->y[m * q->N + n] = _mm512_reduce_add_ps(_mm512_add_ps(acc[m][r][0], acc[m][r][1])) + b;
  }
}

static void sq_gemv_fn(void *ctx, int64_t begin, int64_t end) {
  const struct sqop *q = ctx;
  for (int64_t quad = begin; quad < end; quad++) switch (q->M) {
    case 1: sq_gemv_quad(q, quad, 1); break;
    case 2: sq_gemv_quad(q, quad, 2); break;
    case 3: sq_gemv_quad(q, quad, 3); break;
    default: sq_gemv_quad(q, quad, 4);
    }
}

/* ---------------------------------------------------------------------------
 * GEMM: M > 4
 * ------------------------------------------------------------------------ */
#define SQ_GB 2 /* blocks per decoded step: 64 kept values, 128 columns of xt */

/* row r of a quad, blocks [b0, b0 + nb): kept weights into w[], their rows of xt
 * (column * Mp) into off[] */
SQ_INLINE void sq_decode(const struct sqop *q, const uint8_t *quadp, int r, int64_t n, int64_t b0, int64_t nb,
                         __m512 lut, float *w, int32_t *off) {
  const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
  const __m512i mp = _mm512_set1_epi32((int)q->Mp);
  for (int64_t b = b0; b < b0 + nb; b++) {
    const uint8_t *p = quadp + b * SQ_BLOCK;
    const __m512 t = sq_table(q, lut, n, sq_group(q, b));
    __m512i i = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 16 * r)));
    const int64_t j = (b - b0) * 32;
    _mm512_store_ps(w + j, _mm512_permutexvar_ps(i, t));
    _mm512_store_ps(w + j + 16, _mm512_permutexvar_ps(_mm512_srli_epi32(i, 4), t));
    __m512i col = _mm512_set1_epi32((int)(b * SQ_KB));
    __m512i il = _mm512_add_epi32(sq_index(sq_u32(p + 64 + 8 * r), shifts, base), col);
    __m512i ih = _mm512_add_epi32(sq_index(sq_u32(p + 68 + 8 * r), shifts, base), _mm512_add_epi32(col, _mm512_set1_epi32(32)));
    _mm512_store_si512((__m512i *)(off + j), _mm512_mullo_epi32(il, mp));
    _mm512_store_si512((__m512i *)(off + j + 16), _mm512_mullo_epi32(ih, mp));
  }
}

/* s[0..16 MV) += sum_j w[j] * xt[off[j] + 0..16 MV) */
SQ_INLINE void sq_tile(const float *xt, const float *w, const int32_t *off, int64_t nk, float *s, int first,
                       const int MV) {
  __m512 c[4];
  for (int v = 0; v < MV; v++) c[v] = first ? _mm512_setzero_ps() : _mm512_load_ps(s + 16 * v);
  for (int64_t j = 0; j < nk; j++) {
    const __m512 b = _mm512_set1_ps(w[j]);
    const float *px = xt + off[j];
    for (int v = 0; v < MV; v++) c[v] = _mm512_fmadd_ps(b, _mm512_load_ps(px + 16 * v), c[v]);
  }
  for (int v = 0; v < MV; v++) _mm512_store_ps(s + 16 * v, c[v]);
}

static __attribute__((noinline)) void sq_tiles(const float *xt, const float *w, const int32_t *off, int64_t nk,
                                               float *s, int first, int64_t mv) {
  switch (mv) {
  case 4: sq_tile(xt, w, off, nk, s, first, 4); break;
  case 3: sq_tile(xt, w, off, nk, s, first, 3); break;
  case 2: sq_tile(xt, w, off, nk, s, first, 2); break;
  default: sq_tile(xt, w, off, nk, s, first, 1);
  }
}

static void sq_gemm_fn(void *ctx, int64_t begin, int64_t end) {
  const struct sqop *q = ctx;
  const int64_t Mp = q->Mp, Kb = q->Kb;
  float *acc = aligned_alloc(64, (size_t)(4 * Mp) * sizeof(float));
  float w[SQ_GB * 32] __attribute__((aligned(64)));
  int32_t off[SQ_GB * 32] __attribute__((aligned(64)));
  if (!acc) abort();
  const __m512 lut = _mm512_loadu_ps(q->lut);
  for (int64_t quad = begin; quad < end; quad++) {
    const uint8_t *quadp = q->packed + quad * Kb * SQ_BLOCK;
    for (int64_t b0 = 0; b0 < Kb; b0 += SQ_GB) {
      const int64_t nb = sq_min(SQ_GB, Kb - b0);
      for (int r = 0; r < 4; r++) {
        const int64_t n = 4 * quad + r;
        if (n >= q->N) break;
        sq_decode(q, quadp, r, n, b0, nb, lut, w, off);
        for (int64_t m = 0; m < Mp; m += 64)
          sq_tiles(q->xp + m, w, off, nb * 32, acc + r * Mp + m, b0 == 0, sq_min(64, Mp - m) / 16);
      }
    }
    for (int r = 0; r < 4; r++) {
      const int64_t n = 4 * quad + r;
      if (n >= q->N) break;
      const float b = q->bias ? q->bias[n] : 0.0f;
      for (int64_t m = 0; m < q->M; m++) q->y[m * q->N + n] = acc[r * Mp + m] + b;
    }
  }
  free(acc);
}

static void sq_pack_xt_fn(void *ctx, int64_t begin, int64_t end) {
  const struct sqop *q = ctx;
  float *xt = (float *)q->xp;
  for (int64_t k = begin; k < end; k++) {
    float *row = xt + k * q->Mp;
    if (k >= q->K) {
      memset(row, 0, (size_t)q->Mp * sizeof(float));
      continue;
    }
    for (int64_t m = 0; m < q->M; m++) row[m] = q->x[m * q->K + k];
    for (int64_t m = q->M; m < q->Mp; m++) row[m] = 0.0f;
  }
}

static void sq_run(struct sqop *q) {
  const int64_t M = q->M, K = q->K, quads = (q->N + 3) / 4;
  if (M <= 4) {
    float *xp = aligned_alloc(64, (size_t)(M * q->Kp) * sizeof(float));
    if (!xp) abort();
    for (int64_t m = 0; m < M; m++) {
      memcpy(xp + m * q->Kp, q->x + m * K, (size_t)K * sizeof(float));
      memset(xp + m * q->Kp + K, 0, (size_t)(q->Kp - K) * sizeof(float));
    }
    q->xp = xp;
    /* at least ~64K weights per slice, so small layers do not pay for a fork */
    sparcc_rt_parallel_for(quads, sq_max(4, (1 << 14) / K + 1), sq_gemv_fn, q);
    free(xp);
  } else {
    q->Mp = sq_round_up(M, 16);
    float *xt = aligned_alloc(64, (size_t)(q->Kp * q->Mp) * sizeof(float));
    if (!xt) abort();
    q->xp = xt;
    sparcc_rt_parallel_for(q->Kp, sq_max(64, 4096 / q->Mp), sq_pack_xt_fn, q);
    sparcc_rt_parallel_for(quads, sq_max(1, (1 << 16) / (K * M) + 1), sq_gemm_fn, q);
    free(xt);
  }
}

#else /* no AVX-512: 8 kept weights at a time with AVX2 + FMA, else one at a time */

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* AVX2 + FMA (16 registers of 8 floats). The group's 16-entry table, scaled
 * ((lut - zero) * scale: the reference's weights bit for bit), is two
 * 8-entry halves looked up with vpermps and blended on bit 3 of the code;
 * the x values of 8 kept weights, at 4(j/2) + p_j inside a 16-wide window
 * of x, come the same way from two registers of x (positions shifted out of
 * their word with vpsrlvd, masked, merged with the bases 4(j/2)). M <= 4: x
 * is gathered and multiplied in registers, so no zero is multiplied; M > 4:
 * each row of 4 weights is scattered, zeros included, into a dense row
 * buffer, and every row of x is dotted with it (ukernels.c's
 * sparcc_avx2_decoded_rows), so the decode is paid once for all of M. */
typedef void (*sq_avx2_decode_fn)(const void *ctx, int64_t n, float *row);
extern void sparcc_avx2_decoded_rows(const void *ctx, sq_avx2_decode_fn decode, const float *x, int64_t M, int64_t K,
                                     const float *bias, float *y, int64_t N, int64_t begin, int64_t end);

/* 8 entries of a 16-entry table (two registers) at idx's low 4 bits */
SQ_INLINE __m256 sq_lookup16(__m256 lo, __m256 hi, __m256i idx) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx),
                          _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/* x offsets (0..15) of 8 kept values from their 2-bit positions: 4(j/2) + p_j */
SQ_INLINE __m256i sq_offsets(const uint8_t *word, int half) {
  const __m256i shifts = half ? _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30)
                              : _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i p = _mm256_srlv_epi32(_mm256_set1_epi32((int)sq_u32(word)), shifts);
  return _mm256_or_si256(_mm256_and_si256(p, _mm256_set1_epi32(3)), _mm256_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12));
}

/* row r of the quad at block p: its 32 kept weights, scaled (w[v], v = kept
 * 8v..8v+7), and their x offsets inside the block (0..63) */
SQ_INLINE void sq_avx2_decode(const uint8_t *p, int r, __m256 tlo, __m256 thi, __m256 w[4], __m256i off[4]) {
  const __m128i bytes = _mm_loadu_si128((const __m128i *)(p + 16 * r));
  const __m256i d0 = _mm256_cvtepu8_epi32(bytes), d1 = _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(bytes, bytes));
  w[0] = sq_lookup16(tlo, thi, d0);                        /* kept 0..7: low nibbles of bytes 0..7 */
  w[1] = sq_lookup16(tlo, thi, d1);                        /* kept 8..15 */
  w[2] = sq_lookup16(tlo, thi, _mm256_srli_epi32(d0, 4)); /* kept 16..23: high nibbles */
  w[3] = sq_lookup16(tlo, thi, _mm256_srli_epi32(d1, 4));
  for (int v = 0; v < 4; v++) off[v] = sq_offsets(p + 64 + 8 * r + 4 * (v / 2), v & 1);
}

/* the scaled table of row n (padding rows: the last row's), group g */
SQ_INLINE void sq_avx2_table(const struct sqop *q, int64_t n, int64_t g, __m256 *tlo, __m256 *thi) {
  const int64_t n1 = sq_min(n, q->N - 1), i = n1 * q->G + g;
  const __m256 s = _mm256_set1_ps(q->scales[i]), z = _mm256_set1_ps(q->zeros ? q->zeros[i] : 0.0f);
  *tlo = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(q->lut), z), s);
  *thi = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(q->lut + 8), z), s);
}

/* M <= 4, one row n: x (zero-padded [M][Kp]) gathered by the offsets */
SQ_INLINE void sq_avx2_gemv_row(const struct sqop *q, int64_t n, const int MM) {
  const uint8_t *quadp = q->packed + (n / 4) * q->Kb * SQ_BLOCK;
  const int r = (int)(n % 4);
  __m256 acc[4][2], tlo = _mm256_setzero_ps(), thi = tlo, w[4];
  __m256i off[4];
  for (int m = 0; m < MM; m++) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
  int64_t g = -1;
  for (int64_t b = 0; b < q->Kb; b++) {
    const int64_t gb = sq_group(q, b);
    if (gb != g) g = gb, sq_avx2_table(q, n, g, &tlo, &thi);
    sq_avx2_decode(quadp + b * SQ_BLOCK, r, tlo, thi, w, off);
    for (int m = 0; m < MM; m++) {
      const float *x = q->xp + m * q->Kp + b * SQ_KB;
      for (int v = 0; v < 4; v++) { /* kept 8v..8v+7 lie in x[16v .. 16v + 15] */
        const __m256 xv = sq_lookup16(_mm256_load_ps(x + 16 * v), _mm256_load_ps(x + 16 * v + 8), off[v]);
        acc[m][v & 1] = _mm256_fmadd_ps(w[v], xv, acc[m][v & 1]);
      }
    }
  }
  const float bias = q->bias ? q->bias[n] : 0.0f;
  for (int m = 0; m < MM; m++) {
    const __m256 a = _mm256_add_ps(acc[m][0], acc[m][1]);
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    t = _mm_add_ss(t, _mm_movehdup_ps(t));
    q->y[m * q->N + n] = _mm_cvtss_f32(t) + bias;
  }
}

static void sq_avx2_gemv_fn(void *ctx, int64_t begin, int64_t end) {
  const struct sqop *q = ctx;
  for (int64_t n = begin; n < end; n++) switch (q->M) {
    case 1: sq_avx2_gemv_row(q, n, 1); break;
    case 2: sq_avx2_gemv_row(q, n, 2); break;
    case 3: sq_avx2_gemv_row(q, n, 3); break;
    default: sq_avx2_gemv_row(q, n, 4);
    }
}

/* M > 4: row n scattered into a dense row of Kp floats (zeros where pruned,
 * given), for sparcc_avx2_decoded_rows */
static void sq_avx2_dense_row(const void *ctx, int64_t n, float *dense) {
  const struct sqop *q = ctx;
  float wv[32] __attribute__((aligned(32)));
  int32_t ov[32] __attribute__((aligned(32)));
  const uint8_t *quadp = q->packed + (n / 4) * q->Kb * SQ_BLOCK;
  __m256 tlo = _mm256_setzero_ps(), thi = tlo, w[4];
  __m256i off[4];
  int64_t g = -1;
  for (int64_t b = 0; b < q->Kb; b++) {
    const int64_t gb = sq_group(q, b);
    if (gb != g) g = gb, sq_avx2_table(q, n, g, &tlo, &thi);
    sq_avx2_decode(quadp + b * SQ_BLOCK, (int)(n % 4), tlo, thi, w, off);
    for (int v = 0; v < 4; v++) {
      _mm256_store_ps(wv + 8 * v, w[v]);
      _mm256_store_si256((__m256i *)(ov + 8 * v), _mm256_add_epi32(off[v], _mm256_set1_epi32(16 * v)));
    }
    float *block = dense + b * SQ_KB;
    for (int j = 0; j < 32; j++) block[ov[j]] += wv[j]; /* += : a stored duplicate position adds, as in the reference */
  }
}

static void sq_avx2_gemm_fn(void *ctx, int64_t begin, int64_t end) {
  const struct sqop *q = ctx;
  sparcc_avx2_decoded_rows(q, sq_avx2_dense_row, q->xp, q->M, q->Kp, q->bias, q->y, q->N, begin, end);
}

static void sq_run(struct sqop *q) {
  const int64_t M = q->M, K = q->K, Kp = q->Kp;
  /* x zero-padded to Kp columns: the gathers read whole blocks, and the
   * dense rows' padding columns multiply zeros */
  float *xp = aligned_alloc(32, (size_t)(M * Kp) * sizeof(float));
  if (!xp) abort();
  for (int64_t m = 0; m < M; m++) {
    memcpy(xp + m * Kp, q->x + m * K, (size_t)K * sizeof(float));
    memset(xp + m * Kp + K, 0, (size_t)(Kp - K) * sizeof(float));
  }
  q->xp = xp;
  if (M <= 4)
    sparcc_rt_parallel_for(q->N, sq_max(16, (1 << 16) / (K * M) + 1), sq_avx2_gemv_fn, q);
  else
    sparcc_rt_parallel_for(q->N, sq_max(16, (1 << 16) / (K * M) + 1), sq_avx2_gemm_fn, q);
  free(xp);
}

#else /* one weight at a time */

static void sq_scalar_fn(void *ctx, int64_t begin, int64_t end) {
  const struct sqop *q = ctx;
  for (int64_t n = begin; n < end; n++) {
    const uint8_t *quadp = q->packed + (n / 4) * q->Kb * SQ_BLOCK;
    const int r = (int)(n % 4);
    for (int64_t m = 0; m < q->M; m++) {
      float acc = 0.0f;
      for (int64_t b = 0; b < q->Kb; b++) {
        const uint8_t *p = quadp + b * SQ_BLOCK;
        const int64_t g = n * q->G + sq_group(q, b);
        for (int j = 0; j < 32; j++) {
          const int code = (p[16 * r + (j & 15)] >> (j < 16 ? 0 : 4)) & 15;
          const int pos = (sq_u32(p + 64 + 8 * r + 4 * (j / 16)) >> (2 * (j & 15))) & 3;
          const int64_t k = b * SQ_KB + 4 * (j / 2) + pos;
          if (k >= q->K) continue;
          const float v = q->zeros ? q->lut[code] - q->zeros[g] : q->lut[code];
          acc += q->x[m * q->K + k] * (v * q->scales[g]);
        }
      }
      q->y[m * q->N + n] = q->bias ? acc + q->bias[n] : acc;
    }
  }
}

static void sq_run(struct sqop *q) { sparcc_rt_parallel_for(q->N, 16, sq_scalar_fn, q); }

#endif
#endif

SQ_EXPORT void sparcc_sqlinear_24x4(const float *x, const uint8_t *packed, const float *scales, const float *zeros,
                                    const float *lut16, const float *bias, float *y, int64_t M, int64_t N, int64_t K,
                                    int64_t group, int64_t flags) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) y[m * N + n] = (flags & SQ_BIAS) ? bias[n] : 0.0f;
    return;
  }
  const int64_t kept = (K + 3) / 4 * 2;
  struct sqop q = {.x = x, .packed = packed, .scales = scales, .zeros = (flags & SQ_ZEROS) ? zeros : NULL,
                   .lut = lut16, .bias = (flags & SQ_BIAS) ? bias : NULL, .y = y, .M = M, .N = N, .K = K,
                   .group = (group < 1 || group > kept) ? kept : group};
  q.G = (kept + q.group - 1) / q.group;
  q.Kb = (K + SQ_KB - 1) / SQ_KB;
  q.Kp = q.Kb * SQ_KB;
  sq_run(&q);
}
