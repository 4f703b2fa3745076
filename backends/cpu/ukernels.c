/*
 * sparcc's C micro-kernels, built into libsparcc_rt.so beside runtime.c
 * (gcc -O3 -march=native). AVX-512 F/BW/VL code; where the host lacks them,
 * an AVX2 + FMA version (4-bit codes 32 at a time through byte tables when
 * K and the groups are multiples of 32; else 8 at a time when they are
 * multiples of 8) and a portable scalar version of the same kernels.
 *
 * Fused dequantising linear layers for the quant formats of
 * dialects/quant_formats.py:
 *
 *     y[M, N] = x[M, K] @ W[N, K]^T (+ bias[N]),
 *     W[n, k] = (lut[code[n, k]] - zero[n, k / group]) * scale[n, k / group]
 *
 * The weight matrix is never materialised. Each weight is computed in
 * float32 as the reference decodes it: lut[code] - zero is exact for the
 * integer formats (the only ones with zero points), and the product with the
 * scale is one float32 rounding of an exact product, which is what the
 * reference's float64 product rounded once to float32 gives. So the weights
 * agree with `QuantFormat.dequantize` bit for bit (as long as the FPU does
 * not flush subnormals: MXFP4 scales reach 2^-127). The dot products sum in
 * another order than `x @ w.T` (16-lane partial sums, then a tree), so y
 * agrees with the reference to float32 round-off, not bitwise. Each output
 * is computed the same way whatever the thread count.
 *
 * Kernels (all buffers contiguous and row-major, sizes int64):
 *   sparcc_qlinear_lut4: 4-bit codes, two per byte along each row (element 2i
 *     in the low nibble of byte i; a row has ceil(K/2) bytes), a 16-entry
 *     value table, float32 scales [N, ceil(K/group)], optional zero points.
 *   sparcc_qlinear_mx4: the same with OCP MX E8M0 scale codes, group 32.
 *   sparcc_qlinear_lut8: one code per byte through a 256-entry table. The
 *     kernel recognises tables that are exactly int8 or uint8 (vpmovsx/zx and
 *     cvt) and OCP E5M2 or E4M3FN (the half-precision converter, exact); any
 *     other table takes a two-level vpermt2ps lookup.
 * flags: bit 0 zero points given, bit 1 bias given. `group` < 1 or > K means
 * one group per row (per channel); per-tensor scales are per-channel scales
 * that happen to be equal (qlinear.py broadcasts them).
 *
 * How: codes are unpacked in registers and looked up with vpermps (a
 * 16-entry table fits one zmm). When a chunk of 32 weights lies in one
 * group, the table itself is scaled once per group ((lut - zero) * scale,
 * 16 weights' worth of work), so a weight costs only its lookup and its FMA;
 * groups of 8 or 16 take per-lane scale vectors instead. For 4-bit codes the
 * 16-byte load of a 32-weight chunk widens (vpmovzxbd) into 16 dwords whose
 * low nibble is element 2j and whose bits 4..7 are element 2j+1, so the
 * kernels work in "kernel order": each 32-chunk of k holds its 16 even
 * elements, then its 16 odd ones, and x is permuted the same way once per
 * call instead of the weights once per chunk.
 *
 * M <= 4 (GEMV, memory-bound): per weight row, decode in registers and FMA
 * into M rows of accumulators, up to 4 weight rows at once; M = 1 with 4-bit
 * codes takes the "wide" GEMV below (blocks of 128 weights, no widening
 * shuffle, codes prefetched into L2), unless zero points come with groups
 * under 128 or a group is not a power of two under 128. M > 4 (GEMM): x
 * is packed transposed [Kp][Mp] (16x16 register transposes); for each block
 * of 4 weight rows x 128 k, the weights are dequantised once into a 2 KB
 * stack buffer (codes of the next block prefetched), then a register tile of
 * 4 weights (broadcast) x 64 rows of x (4 zmm) accumulates over every row of
 * x, so each dequantised weight is used M times. Both split the output
 * features N over sparcc's thread pool (sparcc_rt_parallel_for, slices of a
 * multiple of 16 rows).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))
#define INLINE static inline __attribute__((always_inline))

typedef void (*range_fn_t)(void *ctx, int64_t begin, int64_t end);
extern void sparcc_rt_parallel_for(int64_t n, int64_t grain, range_fn_t fn, void *ctx);

enum { F_ZEROS = 1, F_BIAS = 2 };

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
/* how a code becomes its value: a 16-entry table; a 256-entry table that is
 * exactly int8, uint8, OCP E5M2 or E4M3FN (converted), or any other */
enum { V_LUT16, V_INT8, V_UINT8, V_E5M2, V_E4M3, V_LUT256, V_KINDS };

#define CH 32        /* k per chunk: 16 bytes of 4-bit codes, 32 bytes of 8-bit ones */
#define GEMV_MAX_M 4 /* larger M takes the GEMM path */
#define NR 4         /* GEMM: weight rows per register tile */
#define KC 128       /* GEMM: k per dequantised block (multiple of CH) */
#define NS 64        /* GEMM: weight rows per block of output (multiple of NR) */
#define MB 64        /* GEMM: rows of x per register tile (4 zmm) */
#define WB 128       /* wide GEMV: k per block (64 bytes of 4-bit codes) */
#define WR 4         /* wide GEMV: weight rows at once (one load of x feeds them all) */
#define WPF 4096     /* wide GEMV: codes are prefetched (to L2) the next WR rows plus WPF bytes ahead */
/* wide GEMV: one scaled table per group (groups of whole blocks) or per-lane scales */
enum { W_TABLE = 1, W_LANES = 2 };

struct qop {
  int vals;            /* V_*: how codes become values */
  int lanes;           /* 0: every chunk lies in one group; 1: fast per-lane scales; 2: general ones */
  int lg;              /* log2(group) for a power-of-two group, else -1 */
  int wide;            /* GEMV in wide order (W_*), or 0 */
  __m512i lidx;        /* lanes == 1: group of each lane, relative to the chunk's first */
  __m512i sidx;        /* W_LANES: group of each lane, relative to the block's first */
  __mmask16 tmask[8];  /* wide order: lanes of each vector of the last block that lie before K */
  const uint8_t *codes;
  int64_t ldc;         /* bytes per row of codes */
  const float *scales; /* [N, G] float32, or NULL with e8m0 */
  const uint8_t *e8m0; /* [N, G] E8M0 codes (MXFP4) */
  const float *zeros;  /* [N, G] or NULL */
  const float *lut;
  const float *bias;   /* [N] or NULL */
  float *y;
  const float *xp;     /* x in kernel order, zero-padded: [M][Kp] (GEMV) or [Kp][Mp] (GEMM) */
  const float *x;      /* x as given, [M][K] (packing) */
  int64_t M, Mp, N, K, Kp, group, G;
};

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}
static inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/* ---------------------------------------------------------------------------
 * scales and zero points
 * ------------------------------------------------------------------------ */

/* OCP E8M0 scales: 2^(c - 127); 0xFF is NaN; code 0 is the subnormal 2^-127.
 * A table, so a scale is one broadcast load. */
static float e8m0_table[256];

__attribute__((constructor)) static void init_e8m0_table(void) {
  for (int c = 0; c < 256; c++) {
    uint32_t bits = c == 255 ? 0x7FC00000u : c == 0 ? 0x00400000u : (uint32_t)c << 23;
    memcpy(&e8m0_table[c], &bits, sizeof(float));
  }
}

static inline const float *scale_ptr(const struct qop *q, int64_t n, int64_t g) {
  return q->e8m0 ? &e8m0_table[q->e8m0[n * q->G + g]] : &q->scales[n * q->G + g];
}

static inline float scale_at(const struct qop *q, int64_t n, int64_t g) { return *scale_ptr(q, n, g); }

/* the group of element k (a shift unless the group is unusual) */
static inline int64_t group_of(const struct qop *q, int64_t k) {
  return q->G == 1 ? 0 : q->lg >= 0 ? k >> q->lg : k / q->group;
}

static inline float zero_at(const struct qop *q, int64_t n, int64_t g) {
  return q->zeros ? q->zeros[n * q->G + g] : 0.0f;
}

/* any group: lane by lane (out of line; no format makes such groups) */
static __attribute__((noinline)) void lane_params_any(const struct qop *q, int64_t n, int64_t k0, int64_t stride,
                                                      __m512 *sv, __m512 *zv) {
  float s[16], z[16];
  for (int j = 0; j < 16; j++) {
    int64_t k = min64(k0 + stride * j, q->K - 1), g = group_of(q, k);
    s[j] = scale_at(q, n, g);
    z[j] = zero_at(q, n, g);
  }
  *sv = _mm512_loadu_ps(s);
  *zv = _mm512_loadu_ps(z);
}

/* Scale and zero point of lanes k = k0 + stride * j (j < 16) of row n, for
 * chunks that cross groups. Lanes at or past K get the last group's. */
INLINE void lane_params(const struct qop *q, int64_t n, int64_t k0, int64_t stride, __m512 *sv, __m512 *zv) {
  const int64_t G = q->G;
  if (q->lanes == 1) { /* a power-of-two group dividing the chunk: lane groups are fixed */
    const int64_t g0 = k0 >> q->lg, o = n * G + g0;
    if (G - g0 >= 16) { /* plain loads: a masked load waits for earlier stores to retire */
      *sv = _mm512_permutexvar_ps(q->lidx, _mm512_loadu_ps(q->scales + o));
      *zv = q->zeros ? _mm512_permutexvar_ps(q->lidx, _mm512_loadu_ps(q->zeros + o)) : _mm512_setzero_ps();
    } else {
      const __mmask16 m = first_lanes(G - g0);
      *sv = _mm512_permutexvar_ps(q->lidx, _mm512_maskz_loadu_ps(m, q->scales + o));
      *zv = q->zeros ? _mm512_permutexvar_ps(q->lidx, _mm512_maskz_loadu_ps(m, q->zeros + o)) : _mm512_setzero_ps();
    }
    return;
  }
  lane_params_any(q, n, k0, stride, sv, zv);
}

/* the 16-entry table of one group: (lut - zero) * scale, exact per entry */
INLINE __m512 scaled_lut(const struct qop *q, __m512 lut, int64_t n, int64_t g) {
  __m512 s = _mm512_set1_ps(*scale_ptr(q, n, g));
  if (!q->zeros) return _mm512_mul_ps(lut, s);
  return _mm512_mul_ps(_mm512_sub_ps(lut, _mm512_set1_ps(q->zeros[n * q->G + g])), s);
}

/* ---------------------------------------------------------------------------
 * decoding codes
 * ------------------------------------------------------------------------ */

/* 32 4-bit codes (16 bytes, the first `nbytes` of them read) as 16 dwords:
 * bits 0..3 element 2j, bits 4..7 element 2j+1 */
INLINE __m512i nibbles(const uint8_t *p, int64_t nbytes) {
  __m128i b = nbytes >= 16 ? _mm_loadu_si128((const __m128i *)p) : _mm_maskz_loadu_epi8(first_lanes(nbytes), p);
  return _mm512_cvtepu8_epi32(b);
}

/* t[i] for 16 indices 0..255: eight 32-entry vpermt2ps lookups, then a blend
 * tree on index bits 5, 6, 7 */
INLINE __m512 lookup256(__m512i i, const float *t) {
  __m512 r[8];
  for (int j = 0; j < 8; j++)
    r[j] = _mm512_permutex2var_ps(_mm512_loadu_ps(t + 32 * j), i, _mm512_loadu_ps(t + 32 * j + 16));
  __mmask16 b5 = _mm512_test_epi32_mask(i, _mm512_set1_epi32(32));
  __mmask16 b6 = _mm512_test_epi32_mask(i, _mm512_set1_epi32(64));
  __mmask16 b7 = _mm512_test_epi32_mask(i, _mm512_set1_epi32(128));
  for (int j = 0; j < 4; j++) r[j] = _mm512_mask_blend_ps(b5, r[2 * j], r[2 * j + 1]);
  for (int j = 0; j < 2; j++) r[j] = _mm512_mask_blend_ps(b6, r[2 * j], r[2 * j + 1]);
  return _mm512_mask_blend_ps(b7, r[0], r[1]);
}

/* fp8 codes through the half-precision converter, exactly: an E5M2 code is
 * the top byte of an IEEE half; an E4M3FN code's bits, put in a half's
 * exponent and mantissa fields, mean its value * 2^-8 (subnormals too), and
 * S.1111.111 is its NaN */
INLINE __m512 fp8_values(__m128i b, const int vals) {
  __m256i h = _mm256_slli_epi16(_mm256_cvtepu8_epi16(b), 8);
  if (vals == V_E5M2) return _mm512_cvtph_ps(h);
  const __m256i mag = _mm256_set1_epi16(0x7F00);
  /* sign stays at bit 15, exponent and mantissa move down one bit */
  __m256i e4 = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16((short)0x8000)),
                       _mm256_and_si256(_mm256_srli_epi16(h, 1), _mm256_set1_epi16(0x3F80)));
  __mmask16 nan = _mm256_cmpeq_epi16_mask(_mm256_and_si256(h, mag), mag);
  __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(e4), _mm512_set1_ps(256.0f));
  return _mm512_mask_mov_ps(v, nan, _mm512_set1_ps(__builtin_nanf("")));
}

/* values of 16 8-bit codes (the first `n` bytes read; the others decode code 0) */
INLINE __m512 values8(const uint8_t *p, int64_t n, const int vals, const float *t) {
  __m128i b = n >= 16 ? _mm_loadu_si128((const __m128i *)p) : _mm_maskz_loadu_epi8(first_lanes(n), p);
  if (vals == V_INT8) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
  if (vals == V_E5M2 || vals == V_E4M3) return fp8_values(b, vals);
  __m512i i = _mm512_cvtepu8_epi32(b);
  if (vals == V_UINT8) return _mm512_cvtepi32_ps(i);
  return lookup256(i, t);
}

/* Chunk c (k = 32c .. 32c+31) of weight row n, dequantised, in kernel order;
 * lanes at or past K are 0. */
INLINE void dequant_chunk(const struct qop *q, int64_t n, int64_t c, const int vals, __m512 lut, __m512 *w0,
                          __m512 *w1) {
  const uint8_t *row = q->codes + n * q->ldc;
  const int64_t k0 = c * CH, rem = min64(CH, q->K - k0);
  if (vals == V_LUT16) {
    __m512i i = nibbles(row + k0 / 2, (rem + 1) / 2), i1 = _mm512_srli_epi32(i, 4);
    __mmask16 me = first_lanes((rem + 1) / 2), mo = first_lanes(rem / 2);
    if (!q->lanes) {
      __m512 t = scaled_lut(q, lut, n, group_of(q, k0));
      *w0 = _mm512_maskz_permutexvar_ps(me, i, t);
      *w1 = _mm512_maskz_permutexvar_ps(mo, i1, t);
    } else {
      __m512 s0, z0, s1, z1;
      lane_params(q, n, k0, 2, &s0, &z0);
      if (q->lanes == 1) s1 = s0, z1 = z0; /* an even group: element 2j+1 shares 2j's */
      else lane_params(q, n, k0 + 1, 2, &s1, &z1);
      *w0 = _mm512_maskz_mul_ps(me, _mm512_sub_ps(_mm512_permutexvar_ps(i, lut), z0), s0);
      *w1 = _mm512_maskz_mul_ps(mo, _mm512_sub_ps(_mm512_permutexvar_ps(i1, lut), z1), s1);
    }
    return;
  }
  __m512 w[2];
  for (int h = 0; h < 2; h++) {
    const int64_t kh = k0 + 16 * h, nh = min64(16, q->K - kh);
    w[h] = _mm512_setzero_ps();
    if (nh > 0) {
      __m512 v = values8(row + kh, nh, vals, q->lut), s, z;
      if (!q->lanes) {
        const int64_t g = group_of(q, kh);
        s = _mm512_set1_ps(scale_at(q, n, g));
        z = _mm512_set1_ps(zero_at(q, n, g));
      } else {
        lane_params(q, n, kh, 1, &s, &z);
      }
      w[h] = _mm512_maskz_mul_ps(first_lanes(nh), _mm512_sub_ps(v, z), s);
    }
  }
  *w0 = w[0];
  *w1 = w[1];
}

/* ---------------------------------------------------------------------------
 * GEMV: M <= 4 rows of x, R weight rows at a time (4, 2, 2, 2 for M = 1, 2,
 * 3, 4), decoded in registers. Weight rows past the slice repeat its last
 * row and are not stored. The per-lane path computes M = 2..4 as 4 rows
 * (x padded with zero rows).
 * ------------------------------------------------------------------------ */

INLINE void gemv_store(const struct qop *q, int64_t n, int64_t nvalid, const int MM, const int R,
                       __m512 acc[4][4][2]) {
  for (int m = 0; m < MM; m++)
    for (int r = 0; r < R; r++) {
      if (m >= q->M || r >= nvalid) continue;
      float v = _mm512_reduce_add_ps(_mm512_add_ps(acc[m][r][0], acc[m][r][1]));
      if (q->bias) v += q->bias[n + r];
      q->y[m * q->N + n + r] = v;
    }
}

/* the R weight rows from n (their indices and codes) and zeroed accumulators */
INLINE void gemv_begin(const struct qop *q, int64_t n, int64_t nvalid, const int MM, const int R, int64_t rn[4],
                       const uint8_t *row[4], __m512 acc[4][4][2]) {
  for (int r = 0; r < R; r++) {
    rn[r] = n + min64(r, nvalid - 1);
    row[r] = q->codes + rn[r] * q->ldc;
  }
  for (int m = 0; m < MM; m++)
    for (int r = 0; r < R; r++) acc[m][r][0] = acc[m][r][1] = _mm512_setzero_ps();
}

/* One cache line per row of the next block of R rows, at byte `at` of the
 * row: a 4-bit row is only 2 KB, too short for the hardware prefetcher to
 * get ahead when weights come from DRAM. */
INLINE void prefetch_next_rows(const struct qop *q, const uint8_t *row[4], const int R, int64_t at) {
  for (int r = 0; r < R; r++) _mm_prefetch((const char *)(row[r] + R * q->ldc + at), _MM_HINT_T0);
}

/* 4-bit codes, chunks within one group */
INLINE void gemv_lut4(const struct qop *q, int64_t n, int64_t nvalid, const int MM, const int R) {
  const int64_t K = q->K, Kp = q->Kp, G = q->G, group = q->group;
  const uint8_t *row[4];
  int64_t rn[4];
  __m512 acc[4][4][2];
  gemv_begin(q, n, nvalid, MM, R, rn, row, acc);
  const __m512 lut = _mm512_loadu_ps(q->lut);
  /* full chunks, group by group (a group is whole chunks, or the whole row) */
  const int64_t nfull = K / CH, cpg = G == 1 ? nfull : group / CH;
  __m512 t[4];
  int64_t c = 0;
  for (int64_t g = 0; c < nfull; g++) {
    for (int r = 0; r < R; r++) t[r] = scaled_lut(q, lut, rn[r], g);
    for (const int64_t cend = min64(nfull, c + cpg); c < cend; c++) {
      __m512 xe[4], xo[4];
      for (int m = 0; m < MM; m++) {
        xe[m] = _mm512_load_ps(q->xp + m * Kp + c * CH);
        xo[m] = _mm512_load_ps(q->xp + m * Kp + c * CH + 16);
      }
      if ((c & 3) == 0) prefetch_next_rows(q, row, R, c * 16); /* 16 bytes per chunk */
      for (int r = 0; r < R; r++) {
        __m512i i = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row[r] + c * 16)));
        __m512 we = _mm512_permutexvar_ps(i, t[r]);
        __m512 wo = _mm512_permutexvar_ps(_mm512_srli_epi32(i, 4), t[r]);
        for (int m = 0; m < MM; m++) {
          acc[m][r][0] = _mm512_fmadd_ps(we, xe[m], acc[m][r][0]);
          acc[m][r][1] = _mm512_fmadd_ps(wo, xo[m], acc[m][r][1]);
        }
      }
    }
  }
  if (K % CH) { /* the short last chunk of the row, in the last group */
    const int64_t rem = K - c * CH;
    const __mmask16 me = first_lanes((rem + 1) / 2), mo = first_lanes(rem / 2);
    for (int r = 0; r < R; r++) {
      __m512 tl = scaled_lut(q, lut, rn[r], G - 1);
      __m512i i = nibbles(row[r] + c * 16, (rem + 1) / 2);
      __m512 we = _mm512_maskz_permutexvar_ps(me, i, tl);
      __m512 wo = _mm512_maskz_permutexvar_ps(mo, _mm512_srli_epi32(i, 4), tl);
      for (int m = 0; m < MM; m++) {
        acc[m][r][0] = _mm512_fmadd_ps(we, _mm512_load_ps(q->xp + m * Kp + c * CH), acc[m][r][0]);
        acc[m][r][1] = _mm512_fmadd_ps(wo, _mm512_load_ps(q->xp + m * Kp + c * CH + 16), acc[m][r][1]);
      }
    }
  }
  gemv_store(q, n, nvalid, MM, R, acc);
}

/* 8-bit codes, 16-steps within one group */
INLINE void gemv_lut8(const struct qop *q, int64_t n, int64_t nvalid, const int MM, const int R, const int vals) {
  const int64_t K = q->K, Kp = q->Kp, G = q->G, group = q->group;
  const int zeros = q->zeros != NULL;
  const uint8_t *row[4];
  int64_t rn[4];
  __m512 acc[4][4][2];
  gemv_begin(q, n, nvalid, MM, R, rn, row, acc);
  /* full steps, group by group (a group is whole steps, or the whole row) */
  const int64_t nfull = K / 16, spg = G == 1 ? nfull : group / 16;
  __m512 s[4], z[4];
  int64_t c = 0;
  for (int64_t g = 0; c < nfull; g++) {
    for (int r = 0; r < R; r++) {
      s[r] = _mm512_set1_ps(q->scales[rn[r] * G + g]);
      z[r] = _mm512_set1_ps(zero_at(q, rn[r], g));
    }
    for (const int64_t cend = min64(nfull, c + spg); c < cend; c++) {
      __m512 x[4];
      for (int m = 0; m < MM; m++) x[m] = _mm512_load_ps(q->xp + m * Kp + c * 16);
      if ((c & 3) == 0) prefetch_next_rows(q, row, R, c * 16); /* 16 bytes per step */
      for (int r = 0; r < R; r++) {
        __m512 v = values8(row[r] + c * 16, 16, vals, q->lut);
        __m512 w = _mm512_mul_ps(zeros ? _mm512_sub_ps(v, z[r]) : v, s[r]);
        for (int m = 0; m < MM; m++) acc[m][r][0] = _mm512_fmadd_ps(w, x[m], acc[m][r][0]);
      }
    }
  }
  if (K % 16) { /* the short last step of the row, in the last group */
    const int64_t rem = K - c * 16;
    for (int r = 0; r < R; r++) {
      __m512 v = values8(row[r] + c * 16, rem, vals, q->lut);
      __m512 w = _mm512_maskz_mul_ps(first_lanes(rem), _mm512_sub_ps(v, _mm512_set1_ps(zero_at(q, rn[r], G - 1))),
                                     _mm512_set1_ps(q->scales[rn[r] * G + G - 1]));
      for (int m = 0; m < MM; m++)
        acc[m][r][1] = _mm512_fmadd_ps(w, _mm512_load_ps(q->xp + m * Kp + c * 16), acc[m][r][1]);
    }
  }
  gemv_store(q, n, nvalid, MM, R, acc);
}

/* chunks that cross groups (groups of 8 or 16, or unusual ones): one weight
 * row, dequantised chunk by chunk with per-lane scales */
INLINE void gemv_lanes(const struct qop *q, int64_t n, const int MM, const int vals) {
  const int64_t Kp = q->Kp;
  const __m512 lut = vals == V_LUT16 ? _mm512_loadu_ps(q->lut) : _mm512_setzero_ps();
  __m512 acc[4][4][2];
  for (int m = 0; m < MM; m++) acc[m][0][0] = acc[m][0][1] = _mm512_setzero_ps();
  for (int64_t c = 0; c < Kp / CH; c++) {
    __m512 w0, w1;
    dequant_chunk(q, n, c, vals, lut, &w0, &w1);
    for (int m = 0; m < MM; m++) {
      acc[m][0][0] = _mm512_fmadd_ps(w0, _mm512_load_ps(q->xp + m * Kp + c * CH), acc[m][0][0]);
      acc[m][0][1] = _mm512_fmadd_ps(w1, _mm512_load_ps(q->xp + m * Kp + c * CH + 16), acc[m][0][1]);
    }
  }
  gemv_store(q, n, 1, MM, 1, acc);
}

#define LANES_FNS(V)                                                                                 \
  static __attribute__((noinline)) void gemv_lanes_##V(const struct qop *q, int64_t n, int64_t count) { \
    for (int64_t i = n; i < n + count; i++) {                                                          \
      if (q->M == 1) gemv_lanes(q, i, 1, V);                                                          \
      else gemv_lanes(q, i, 4, V);                                                                     \
    }                                                                                                  \
  }
LANES_FNS(V_LUT16)
LANES_FNS(V_INT8)
LANES_FNS(V_UINT8)
LANES_FNS(V_E5M2)
LANES_FNS(V_E4M3)
LANES_FNS(V_LUT256)
static void (*const gemv_lanes_fns[V_KINDS])(const struct qop *, int64_t, int64_t) = {
    gemv_lanes_V_LUT16, gemv_lanes_V_INT8, gemv_lanes_V_UINT8,
    gemv_lanes_V_E5M2,  gemv_lanes_V_E4M3, gemv_lanes_V_LUT256};

/* ---------------------------------------------------------------------------
 * Wide GEMV: M = 1, 4-bit codes, WR weight rows at a time. A block of 128
 * elements of a row is its 64 bytes of codes, one load: dword lane j holds
 * bytes 4j..4j+3, whose nibble s is element 8j+s. vpermps reads only bits
 * 0..3 of its indices, so shifting the whole load by 4s gives the indices
 * of elements 8j+s and no shuffle widens the codes: a block costs 8 lookups
 * (vpermps, on the one shuffle port), 7 shifts and 8 FMAs per row, and 8
 * loads of x for the WR rows. Vector s of a block holds elements 8j+s,
 * lane j, and x is packed in that order ("wide order"). The codes of the
 * next WR rows are prefetched into L2 (a 4-bit row is too short for the
 * hardware prefetcher to get ahead; prefetches into L1 would hold its few
 * fill buffers for a whole DRAM round trip).
 *
 * Groups of whole blocks (or one per row, W_TABLE) scale the table once per
 * group, as the chunk kernels do: each weight is exact and each product is
 * rounded once. Smaller groups (8..64, W_LANES; not with zero points) span a
 * block's lanes, lane j in group 8j / group: the block sums lut[code] * x
 * per lane, unscaled, and one FMA per block applies each lane's scale. A
 * weight is still exact (for a one-hot x the product lut * 1 * s rounds
 * once, to the reference's weight); sums round in another order.
 * ------------------------------------------------------------------------ */

/* position of element k in wide order */
static inline int64_t wide_pos(int64_t k) {
  const int64_t j = k % WB;
  return k - j + (j % 8) * 16 + j / 8;
}

static inline __mmask64 first_bytes(int64_t n) {
  return n >= 64 ? ~(__mmask64)0 : n <= 0 ? (__mmask64)0 : (((__mmask64)1 << n) - 1);
}

/* the 8 index vectors of the block of codes at p (masked: its first `avail` bytes) */
INLINE void wide_codes(const uint8_t *p, int64_t avail, const int masked, __m512i idx[8]) {
  __m512i v = masked ? _mm512_maskz_loadu_epi8(first_bytes(avail), p) : _mm512_loadu_si512(p);
  __asm__("" : "+v"(v)); /* one load: the compiler would fold one into each shift */
  idx[0] = v;
  for (int s = 1; s < 8; s++) idx[s] = _mm512_srli_epi32(v, 4 * s);
}

/* W_LANES: the scale of each lane of block t of row n (masked: of the last
 * block, whose last groups may not exist; lanes past them: any) */
INLINE __m512 wide_scales(const struct qop *q, int64_t n, int64_t t, const int masked) {
  const int64_t G = q->G, g0 = (t * WB) >> q->lg, o = n * G + g0, gb = WB >> q->lg;
  if (q->e8m0) { /* MXFP4: four groups of 32, each a broadcast from the E8M0 table */
    const uint8_t *e = q->e8m0 + o;
    const int64_t last = masked ? G - 1 - g0 : 3;
    __m512 s = _mm512_set1_ps(e8m0_table[e[0]]);
    s = _mm512_mask_broadcastss_ps(s, 0x00F0, _mm_load_ss(&e8m0_table[e[min64(1, last)]]));
    s = _mm512_mask_broadcastss_ps(s, 0x0F00, _mm_load_ss(&e8m0_table[e[min64(2, last)]]));
    return _mm512_mask_broadcastss_ps(s, 0xF000, _mm_load_ss(&e8m0_table[e[min64(3, last)]]));
  }
  const float *p = q->scales + o;
  if (masked) return _mm512_permutexvar_ps(q->sidx, _mm512_maskz_loadu_ps(first_lanes(min64(gb, G - g0)), p));
  switch (gb) { /* loads of the block's scales only (a wider one would often split a cache line) */
  case 2: return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(p[0]), _mm512_set1_ps(p[1]));
  case 4: return _mm512_permutexvar_ps(q->sidx, _mm512_castps128_ps512(_mm_loadu_ps(p)));
  case 8: return _mm512_permutexvar_ps(q->sidx, _mm512_castps256_ps512(_mm256_loadu_ps(p)));
  default: return _mm512_loadu_ps(p);
  }
}

/* block t of R weight rows from n; masked: the codes are read only up to
 * each row's end and lanes past K (lm) are 0 */
INLINE void wide_block(const struct qop *q, const uint8_t *row, int64_t n, int64_t t, const int R, const int mode,
                       const int masked, const __mmask16 *lm, __m512 lut, const __m512 *tab, __m512 acc[][2]) {
  const float *xp = q->xp + t * WB;
  __m512 x[8];
  for (int v = 0; v < 8; v++) x[v] = _mm512_load_ps(xp + 16 * v);
  for (int r = 0; r < R; r++) {
    const uint8_t *p = row + r * q->ldc + t * (WB / 2);
    _mm_prefetch((const char *)(p + R * q->ldc + WPF), _MM_HINT_T1);
    __m512i idx[8];
    wide_codes(p, q->ldc - t * (WB / 2), masked, idx);
    if (mode == W_TABLE) {
      for (int v = 0; v < 8; v++) {
        __m512 w = masked ? _mm512_maskz_permutexvar_ps(lm[v], idx[v], tab[r]) : _mm512_permutexvar_ps(idx[v], tab[r]);
        acc[r][v & 1] = _mm512_fmadd_ps(w, x[v], acc[r][v & 1]);
      }
    } else {
      __m512 b = _mm512_setzero_ps();
      for (int v = 0; v < 8; v++) {
        __m512 w = masked ? _mm512_maskz_permutexvar_ps(lm[v], idx[v], lut) : _mm512_permutexvar_ps(idx[v], lut);
        b = _mm512_fmadd_ps(w, x[v], b);
      }
      __m512 s = wide_scales(q, n + r, t, masked);
      if (masked) s = _mm512_maskz_mov_ps(lm[0], s); /* lanes past K: no group's */
      acc[r][t & 1] = _mm512_fmadd_ps(b, s, acc[r][t & 1]);
    }
  }
}

/* R rows from n, block by block, x loaded once per block for all of them.
 * zeros, mx: whether the rows have zero points, E8M0 scales */
INLINE void wide_rows(const struct qop *q, int64_t n, const int R, const int mode, const int zeros, const int mx) {
  const int64_t K = q->K, G = q->G, nblk = (K + WB - 1) / WB, nfull = K / WB;
  const uint8_t *row = q->codes + n * q->ldc;
  for (int r = 0; r < R; r++) { /* the scales of the rows whose codes the blocks prefetch */
    const int64_t ahead = min64(q->N - 1, n + r + R + WPF / q->ldc + 1);
    const uint8_t *sc = mx ? q->e8m0 + ahead * G : (const uint8_t *)(q->scales + ahead * G);
    for (int64_t b = 0; b < (mx ? G : 4 * G); b += 64) _mm_prefetch((const char *)sc + b, _MM_HINT_T1);
  }
  const __m512 lut = _mm512_loadu_ps(q->lut);
  __m512 acc[R][2], tab[R];
  for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = tab[r] = _mm512_setzero_ps();
  /* W_TABLE: the table of each group, (lut - zero) * scale (a group is whole blocks, or the row) */
  const int64_t bpg = G > 1 ? q->group / WB : nblk;
#define WIDE_TABLE(r, g)                                                                              \
  _mm512_mul_ps(zeros ? _mm512_sub_ps(lut, _mm512_set1_ps(q->zeros[(n + r) * G + (g)])) : lut,          \
                _mm512_set1_ps(mx ? e8m0_table[q->e8m0[(n + r) * G + (g)]] : q->scales[(n + r) * G + (g)]))
  int64_t t = 0, left = 0, g = 0;
  for (; t < nfull; t++) {
    if (mode == W_TABLE && left-- == 0) {
      for (int r = 0; r < R; r++) tab[r] = WIDE_TABLE(r, g);
      g++;
      left = bpg - 1;
    }
    wide_block(q, row, n, t, R, mode, 0, NULL, lut, tab, acc);
  }
  if (t < nblk) { /* the short last block */
    if (mode == W_TABLE)
      for (int r = 0; r < R; r++) tab[r] = WIDE_TABLE(r, G - 1);
    wide_block(q, row, n, t, R, mode, 1, q->tmask, lut, tab, acc);
  }
#undef WIDE_TABLE
  for (int r = 0; r < R; r++) {
    float v = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
    q->y[n + r] = q->bias ? v + q->bias[n + r] : v;
  }
}

#define WIDE_SLICE(NAME, MODE, ZEROS, MX)                                                           \
  static __attribute__((noinline)) void NAME(const struct qop *q, int64_t begin, int64_t end) {   \
    int64_t n = begin;                                                                              \
    for (; n + WR <= end; n += WR) wide_rows(q, n, WR, MODE, ZEROS, MX);                           \
    for (; n < end; n++) wide_rows(q, n, 1, MODE, ZEROS, MX);                                      \
  }
WIDE_SLICE(wide_table_slice, W_TABLE, 0, 0)
WIDE_SLICE(wide_table_zeros_slice, W_TABLE, 1, 0)
WIDE_SLICE(wide_table_mx_slice, W_TABLE, 0, 1)
WIDE_SLICE(wide_lanes_slice, W_LANES, 0, 0)
WIDE_SLICE(wide_lanes_mx_slice, W_LANES, 0, 1)

INLINE void gemv_rows(const struct qop *q, int64_t n, int64_t nvalid, const int MM, const int R, const int vals) {
  if (vals == V_LUT16) gemv_lut4(q, n, nvalid, MM, R);
  else gemv_lut8(q, n, nvalid, MM, R, vals);
}

/* rows [begin, end): R rows at a time, as many accumulators as fit */
INLINE void gemv_slice(const struct qop *q, int64_t begin, int64_t end, const int vals) {
  if (vals == V_LUT16 && q->wide) {
    if (q->wide == W_LANES) (q->e8m0 ? wide_lanes_mx_slice : wide_lanes_slice)(q, begin, end);
    else (q->e8m0 ? wide_table_mx_slice : q->zeros ? wide_table_zeros_slice : wide_table_slice)(q, begin, end);
    return;
  }
  if (q->lanes) {
    gemv_lanes_fns[vals](q, begin, end - begin);
    return;
  }
  switch (q->M) {
  case 1:
    for (int64_t n = begin; n < end; n += 4) gemv_rows(q, n, min64(4, end - n), 1, 4, vals);
    break;
  case 2:
    for (int64_t n = begin; n < end; n += 2) gemv_rows(q, n, min64(2, end - n), 2, 2, vals);
    break;
  case 3:
    for (int64_t n = begin; n < end; n += 2) gemv_rows(q, n, min64(2, end - n), 3, 2, vals);
    break;
  default:
    for (int64_t n = begin; n < end; n += 2) gemv_rows(q, n, min64(2, end - n), 4, 2, vals);
  }
}

static void gemv_lut16_fn(void *ctx, int64_t b, int64_t e) { gemv_slice(ctx, b, e, V_LUT16); }
static void gemv_int8_fn(void *ctx, int64_t b, int64_t e) { gemv_slice(ctx, b, e, V_INT8); }
static void gemv_uint8_fn(void *ctx, int64_t b, int64_t e) { gemv_slice(ctx, b, e, V_UINT8); }
static void gemv_e5m2_fn(void *ctx, int64_t b, int64_t e) { gemv_slice(ctx, b, e, V_E5M2); }
static void gemv_e4m3_fn(void *ctx, int64_t b, int64_t e) { gemv_slice(ctx, b, e, V_E4M3); }
static void gemv_lut256_fn(void *ctx, int64_t b, int64_t e) { gemv_slice(ctx, b, e, V_LUT256); }

/* ---------------------------------------------------------------------------
 * GEMM: M > 4
 * ------------------------------------------------------------------------ */

/* s[r][0..16*MV) += sum_k w[r][k] * xt[k][0..16*MV) for r < NR: a register
 * tile of NR weight rows by 16*MV rows of x */
INLINE void tile(const float *xt, int64_t ldx, const float *w, int64_t klen, float *s, int64_t lds, int first,
                 const int MV) {
  __m512 c[NR][4];
  for (int r = 0; r < NR; r++)
    for (int v = 0; v < MV; v++) c[r][v] = first ? _mm512_setzero_ps() : _mm512_load_ps(s + r * lds + 16 * v);
  for (int64_t k = 0; k < klen; k++) {
    __m512 x[4];
    for (int v = 0; v < MV; v++) x[v] = _mm512_load_ps(xt + k * ldx + 16 * v);
    for (int r = 0; r < NR; r++) {
      __m512 b = _mm512_set1_ps(w[r * KC + k]);
      for (int v = 0; v < MV; v++) c[r][v] = _mm512_fmadd_ps(b, x[v], c[r][v]);
    }
  }
  for (int r = 0; r < NR; r++)
    for (int v = 0; v < MV; v++) _mm512_store_ps(s + r * lds + 16 * v, c[r][v]);
}

/* Weight rows nb .. nb+nrows-1, k in [kb, kb+klen), dequantised into w[r][0..klen)
 * in kernel order (rows from nrows to NR and k past K: zeros). */
INLINE void dequant_block(const struct qop *q, int64_t nb, int64_t nrows, int64_t kb, int64_t klen, const int vals,
                          __m512 lut, float *w) {
  const int64_t K = q->K, G = q->G, step = vals == V_LUT16 ? CH : 16;
  const int64_t s1 = (kb + klen) / step, sf = min64(s1, K / step);
  for (int r = 0; r < NR; r++) {
    float *wr = w + r * KC - kb; /* wr[k] for k in the block */
    if (r >= nrows) {
      memset(w + r * KC, 0, (size_t)klen * sizeof(float));
      continue;
    }
    const int64_t n = nb + r;
    const uint8_t *row = q->codes + n * q->ldc;
    if (kb + KC < K) { /* this row's next block is read NS / NR blocks from now: fetch it */
      const int64_t kn = kb + KC;
      const uint8_t *next = row + (vals == V_LUT16 ? kn / 2 : kn);
      for (int64_t b = 0; b < (vals == V_LUT16 ? KC / 2 : KC); b += 64) _mm_prefetch((const char *)next + b, _MM_HINT_T0);
      _mm_prefetch((const char *)scale_ptr(q, n, group_of(q, kn)), _MM_HINT_T0);
      if (q->zeros) _mm_prefetch((const char *)&q->zeros[n * G + group_of(q, kn)], _MM_HINT_T0);
    }
    if (q->lanes) {
      for (int64_t k = kb; k < kb + klen; k += CH) {
        __m512 w0, w1;
        dequant_chunk(q, n, k / CH, vals, lut, &w0, &w1);
        _mm512_store_ps(wr + k, w0);
        _mm512_store_ps(wr + k + 16, w1);
      }
      continue;
    }
    /* full steps, group by group: the scale is a broadcast (or folded into the table) */
    int64_t s = kb / step;
    while (s < sf) {
      const int64_t g = group_of(q, s * step), send = G == 1 ? sf : min64(sf, (g + 1) * q->group / step);
      if (vals == V_LUT16) {
        const __m512 t = scaled_lut(q, lut, n, g);
        for (; s < send; s++) {
          __m512i i = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + s * 16)));
          _mm512_store_ps(wr + s * CH, _mm512_permutexvar_ps(i, t));
          _mm512_store_ps(wr + s * CH + 16, _mm512_permutexvar_ps(_mm512_srli_epi32(i, 4), t));
        }
      } else {
        const __m512 sv = _mm512_set1_ps(q->scales[n * G + g]);
        const __m512 zv = _mm512_set1_ps(zero_at(q, n, g));
        for (; s < send; s++) {
          __m512 v = values8(row + s * 16, 16, vals, q->lut);
          _mm512_store_ps(wr + s * 16, _mm512_mul_ps(q->zeros ? _mm512_sub_ps(v, zv) : v, sv));
        }
      }
    }
    /* the short last step of the row, and steps past K (zeros) */
    for (; s < s1; s++) {
      if (vals == V_LUT16) {
        __m512 w0, w1;
        dequant_chunk(q, n, s, vals, lut, &w0, &w1);
        _mm512_store_ps(wr + s * CH, w0);
        _mm512_store_ps(wr + s * CH + 16, w1);
      } else {
        const int64_t nh = K - s * 16;
        __m512 v = _mm512_setzero_ps();
        if (nh > 0)
          v = _mm512_maskz_mul_ps(first_lanes(nh),
                                  _mm512_sub_ps(values8(row + s * 16, nh, vals, q->lut),
                                                _mm512_set1_ps(zero_at(q, n, G - 1))),
                                  _mm512_set1_ps(q->scales[n * G + G - 1]));
        _mm512_store_ps(wr + s * 16, v);
      }
    }
  }
}

/* the register tile for 16 * mv rows of x (mv = 1..4), out of line: one copy for every kind of code */
static __attribute__((noinline)) void tiles(const float *xt, int64_t ldx, const float *w, int64_t klen, float *s,
                                            int first, int64_t mv) {
  switch (mv) {
  case 4: tile(xt, ldx, w, klen, s, ldx, first, 4); break;
  case 3: tile(xt, ldx, w, klen, s, ldx, first, 3); break;
  case 2: tile(xt, ldx, w, klen, s, ldx, first, 2); break;
  default: tile(xt, ldx, w, klen, s, ldx, first, 1);
  }
}

INLINE void gemm_slice(const struct qop *q, int64_t begin, int64_t end, const int vals) {
  const int64_t Mp = q->Mp, Kp = q->Kp;
  float *acc = aligned_alloc(64, (size_t)(NS * Mp) * sizeof(float)); /* [NS][Mp], y transposed */
  float w[NR * KC] __attribute__((aligned(64)));
  if (!acc) abort();
  const __m512 lut = vals == V_LUT16 ? _mm512_loadu_ps(q->lut) : _mm512_setzero_ps();
  for (int64_t n0 = begin; n0 < end; n0 += NS) {
    const int64_t n1 = min64(end, n0 + NS);
    for (int64_t kb = 0; kb < Kp; kb += KC) {
      const int64_t klen = min64(KC, Kp - kb);
      for (int64_t nb = n0; nb < n1; nb += NR) {
        dequant_block(q, nb, n1 - nb, kb, klen, vals, lut, w);
        for (int64_t m = 0; m < Mp; m += MB)
          tiles(q->xp + kb * Mp + m, Mp, w, klen, acc + (nb - n0) * Mp + m, kb == 0, min64(MB, Mp - m) / 16);
      }
    }
    for (int64_t n = n0; n < n1; n++) {
      const float *s = acc + (n - n0) * Mp;
      const float b = q->bias ? q->bias[n] : 0.0f;
      if (q->bias)
        for (int64_t m = 0; m < q->M; m++) q->y[m * q->N + n] = s[m] + b;
      else
        for (int64_t m = 0; m < q->M; m++) q->y[m * q->N + n] = s[m];
    }
  }
  free(acc);
}

static void gemm_lut16_fn(void *ctx, int64_t b, int64_t e) { gemm_slice(ctx, b, e, V_LUT16); }
static void gemm_int8_fn(void *ctx, int64_t b, int64_t e) { gemm_slice(ctx, b, e, V_INT8); }
static void gemm_uint8_fn(void *ctx, int64_t b, int64_t e) { gemm_slice(ctx, b, e, V_UINT8); }
static void gemm_e5m2_fn(void *ctx, int64_t b, int64_t e) { gemm_slice(ctx, b, e, V_E5M2); }
static void gemm_e4m3_fn(void *ctx, int64_t b, int64_t e) { gemm_slice(ctx, b, e, V_E4M3); }
static void gemm_lut256_fn(void *ctx, int64_t b, int64_t e) { gemm_slice(ctx, b, e, V_LUT256); }

/* ---------------------------------------------------------------------------
 * packing x into kernel order
 * ------------------------------------------------------------------------ */

/* position of element k in kernel order */
static inline int64_t kernel_pos(int64_t k, int nibble_order) {
  if (!nibble_order) return k;
  int64_t j = k % CH;
  return k - j + (j & 1) * 16 + j / 2;
}

/* GEMV, wide order: xp[wide_pos(k)] = x[k], zeros up to the next block */
static void pack_wide(float *xp, const float *x, int64_t K) {
  const __m512i j8 = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120);
  for (int64_t k0 = 0; k0 < K; k0 += WB)
    for (int v = 0; v < 8; v++) {
      const __mmask16 m = k0 + WB <= K ? (__mmask16)0xFFFF : first_lanes((K - k0 - v + 7) / 8);
      __m512 r = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_add_epi32(j8, _mm512_set1_epi32(v)), x + k0, 4);
      _mm512_store_ps(xp + k0 + 16 * v, r);
    }
}

/* r[i][j] -> r[j][i]: four rounds that swap the off-diagonal b x b blocks of
 * each 2b x 2b block, b = 8, 4, 2, 1 (vpermt2ps; index tables built once) */
static __m512i transpose_idx[4][2];

__attribute__((constructor)) static void init_transpose_idx(void) {
  for (int s = 0; s < 4; s++) {
    int b = 8 >> s;
    int32_t lo[16], hi[16];
    for (int j = 0; j < 16; j++) {
      lo[j] = (j & b) ? 16 + j - b : j; /* row i (bit b clear): r_i[j], or r_{i+b}[j-b] */
      hi[j] = (j & b) ? 16 + j : j + b; /* row i+b: r_i[j+b], or r_{i+b}[j] */
    }
    memcpy(&transpose_idx[s][0], lo, sizeof lo);
    memcpy(&transpose_idx[s][1], hi, sizeof hi);
  }
}

INLINE void transpose16(__m512 r[16]) {
  for (int s = 0; s < 4; s++) {
    const int b = 8 >> s;
    const __m512i lo = _mm512_load_si512(&transpose_idx[s][0]), hi = _mm512_load_si512(&transpose_idx[s][1]);
    for (int i = 0; i < 16; i++) {
      if (i & b) continue;
      __m512 a = r[i], c = r[i + b];
      r[i] = _mm512_permutex2var_ps(a, lo, c);
      r[i + b] = _mm512_permutex2var_ps(a, hi, c);
    }
  }
}

/* GEMM: xt[kernel_pos(k)][m] = x[m][k] for the 32-chunks of k in [begin, end);
 * zeros past M and past K */
static void pack_xt_fn(void *ctx, int64_t begin, int64_t end) {
  const struct qop *q = ctx;
  float *xt = (float *)q->xp;
  const int64_t M = q->M, K = q->K, Mp = q->Mp;
  const int nib = q->vals == V_LUT16;
  for (int64_t c = begin; c < end; c++)
    for (int64_t h = 0; h < 2; h++) {
      const int64_t k0 = c * CH + 16 * h;
      const __mmask16 mk = first_lanes(K - k0);
      for (int64_t m0 = 0; m0 < Mp; m0 += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++)
          r[i] = m0 + i < M ? _mm512_maskz_loadu_ps(mk, q->x + (m0 + i) * K + k0) : _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < 16; j++) _mm512_store_ps(xt + kernel_pos(k0 + j, nib) * Mp + m0, r[j]);
      }
    }
}

/* ---------------------------------------------------------------------------
 * entry points
 * ------------------------------------------------------------------------ */

/* equal as float32 bit patterns, any NaN equal to any NaN */
static int same_table(const float *a, const float *b, int n) {
  for (int i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(a[i] != a[i] && b[i] != b[i])) return 0;
  return 1;
}

/* the fast path a 256-entry table allows: exactly int8, uint8, E5M2 or E4M3FN */
static int table256(const float *t) {
  float cand[256];
  for (int c = 0; c < 256; c++) cand[c] = (float)(int8_t)c;
  if (same_table(t, cand, 256)) return V_INT8;
  for (int c = 0; c < 256; c++) cand[c] = (float)c;
  if (same_table(t, cand, 256)) return V_UINT8;
  uint8_t codes[256];
  for (int c = 0; c < 256; c++) codes[c] = (uint8_t)c;
  for (int c = 0; c < 256; c += 16) _mm512_storeu_ps(cand + c, fp8_values(_mm_loadu_si128((const __m128i *)(codes + c)), V_E5M2));
  if (same_table(t, cand, 256)) return V_E5M2;
  for (int c = 0; c < 256; c += 16) _mm512_storeu_ps(cand + c, fp8_values(_mm_loadu_si128((const __m128i *)(codes + c)), V_E4M3));
  if (same_table(t, cand, 256)) return V_E4M3;
  return V_LUT256;
}

static void qlinear(struct qop *q, const float *x) {
  const int64_t M = q->M, N = q->N, K = q->K;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) q->y[m * N + n] = q->bias ? q->bias[n] : 0.0f;
    return;
  }
  if (q->group < 1 || q->group > K) q->group = K;
  q->G = (K + q->group - 1) / q->group;
  /* chunks: 32 weights of 4-bit codes (even/odd lanes), 16 of 8-bit ones */
  const int nib = q->vals == V_LUT16;
  const int64_t chunk = nib ? CH : 16, g = q->group;
  q->lg = (g & (g - 1)) == 0 ? __builtin_ctzll((uint64_t)g) : -1;
  q->lanes = 0;
  if (q->G > 1 && g % chunk != 0) {
    q->lanes = 2;
    if (q->lg >= 0 && g < chunk && (g >= 2 || !nib)) { /* lane j holds element (2)j of the chunk */
      q->lanes = 1;
      __m512i j = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      q->lidx = _mm512_srl_epi32(nib ? _mm512_add_epi32(j, j) : j, _mm_cvtsi32_si128(q->lg));
    }
  }
  q->wide = 0;
  if (nib && M == 1) {
    if (q->G == 1 || g % WB == 0) q->wide = W_TABLE;
    else if (q->lg >= 3 && g < WB && !q->zeros) q->wide = W_LANES;
  }
  if (q->wide) {
    const __m512i j = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    q->sidx = q->wide == W_LANES ? _mm512_srl_epi32(_mm512_slli_epi32(j, 3), _mm_cvtsi32_si128(q->lg)) : j;
    const int64_t k0 = K / WB * WB;
    for (int v = 0; v < 8; v++) /* lane j of vector v of the last block: element k0 + 8j + v */
      q->tmask[v] = first_lanes((K - k0 - v + 7) / 8);
  }
  q->Kp = round_up(K, q->wide ? WB : CH);
  q->x = x;
  static const range_fn_t gemv_fns[V_KINDS] = {gemv_lut16_fn, gemv_int8_fn, gemv_uint8_fn,
                                               gemv_e5m2_fn,  gemv_e4m3_fn, gemv_lut256_fn};
  static const range_fn_t gemm_fns[V_KINDS] = {gemm_lut16_fn, gemm_int8_fn, gemm_uint8_fn,
                                               gemm_e5m2_fn,  gemm_e4m3_fn, gemm_lut256_fn};
  if (M <= GEMV_MAX_M) {
    const int64_t MM = q->lanes && M > 1 ? 4 : M; /* x rows the GEMV reads (zero rows past M) */
    float *xp = aligned_alloc(64, (size_t)(MM * q->Kp) * sizeof(float));
    if (!xp) abort();
    if (q->wide) {
      pack_wide(xp, x, K);
    } else {
      memset(xp, 0, (size_t)(MM * q->Kp) * sizeof(float));
      for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) xp[m * q->Kp + kernel_pos(k, nib)] = x[m * K + k];
    }
    q->xp = xp;
    /* at least ~64K weights per slice, so small layers do not pay for a fork */
    int64_t grain = max64(16, round_up((1 << 16) / K, 16));
    sparcc_rt_parallel_for(N, grain, gemv_fns[q->vals], q);
    free(xp);
  } else {
    q->Mp = round_up(M, 16);
    float *xt = aligned_alloc(64, (size_t)(q->Kp * q->Mp) * sizeof(float));
    if (!xt) abort();
    q->xp = xt;
    sparcc_rt_parallel_for(q->Kp / CH, max64(1, 4096 / q->Mp), pack_xt_fn, q);
    int64_t grain = max64(16, round_up((1 << 18) / (K * M) + 1, 16));
    sparcc_rt_parallel_for(N, grain, gemm_fns[q->vals], q);
    free(xt);
  }
}

EXPORT void sparcc_qlinear_lut4(const float *x, const uint8_t *codes, const float *scales, const float *zeros,
                                const float *lut16, const float *bias, float *y, int64_t M, int64_t N, int64_t K,
                                int64_t group, int64_t flags) {
  struct qop q = {.vals = V_LUT16, .codes = codes, .ldc = (K + 1) / 2, .scales = scales,
                  .zeros = (flags & F_ZEROS) ? zeros : NULL, .lut = lut16,
                  .bias = (flags & F_BIAS) ? bias : NULL, .y = y, .M = M, .N = N, .K = K, .group = group};
  qlinear(&q, x);
}

EXPORT void sparcc_qlinear_mx4(const float *x, const uint8_t *codes, const uint8_t *e8m0, const float *lut16,
                               const float *bias, float *y, int64_t M, int64_t N, int64_t K, int64_t flags) {
  struct qop q = {.vals = V_LUT16, .codes = codes, .ldc = (K + 1) / 2, .e8m0 = e8m0, .lut = lut16,
                  .bias = (flags & F_BIAS) ? bias : NULL, .y = y, .M = M, .N = N, .K = K, .group = 32};
  qlinear(&q, x);
}

EXPORT void sparcc_qlinear_lut8(const float *x, const uint8_t *codes, const float *scales, const float *zeros,
                                const float *lut256, const float *bias, float *y, int64_t M, int64_t N, int64_t K,
                                int64_t group, int64_t flags) {
  struct qop q = {.vals = table256(lut256), .codes = codes, .ldc = K, .scales = scales,
                  .zeros = (flags & F_ZEROS) ? zeros : NULL, .lut = lut256,
                  .bias = (flags & F_BIAS) ? bias : NULL, .y = y, .M = M, .N = N, .K = K, .group = group};
  qlinear(&q, x);
}

#else /* no AVX-512: the same kernels, 8 weights at a time with AVX2, else one at a time */

/* E8M0 code -> 2^(c - 127) (0xFF: NaN; 0: the subnormal 2^-127) */
static float e8m0_scalar(uint8_t c) {
  uint32_t bits = c == 255 ? 0x7FC00000u : c == 0 ? 0x00400000u : (uint32_t)c << 23;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

struct sop {
  const float *x;
  const uint8_t *codes, *e8m0;
  const float *scales, *zeros, *lut, *bias;
  float *y;
  int64_t M, N, K, group, G, bits;
};

static void scalar_rows(void *ctx, int64_t begin, int64_t end) {
  const struct sop *q = ctx;
  const int64_t ldc = q->bits == 4 ? (q->K + 1) / 2 : q->K;
  for (int64_t n = begin; n < end; n++)
    for (int64_t m = 0; m < q->M; m++) {
      float acc = 0.0f;
      for (int64_t k = 0; k < q->K; k++) {
        const uint8_t *row = q->codes + n * ldc;
        int c = q->bits == 4 ? (row[k / 2] >> (4 * (k & 1))) & 0xF : row[k];
        int64_t g = n * q->G + k / q->group;
        float s = q->e8m0 ? e8m0_scalar(q->e8m0[g]) : q->scales[g];
        float v = q->zeros ? q->lut[c] - q->zeros[g] : q->lut[c];
        acc += q->x[m * q->K + k] * (v * s);
      }
      q->y[m * q->N + n] = q->bias ? acc + q->bias[n] : acc;
    }
}

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
/* AVX2 + FMA (16 registers of 8 floats): 8 weights at a time, each decoded
 * as the scalar code does, (lut[c] - zero) * scale in float32, so the
 * weights are the reference's bit for bit; only the order of the sums
 * differs. 4-bit codes: the 32-bit word of 8 nibbles is shifted per lane
 * (vpsrlvd) and looked up in the 16-entry table as two 8-entry halves
 * (vpermps) blended on bit 3; 8-bit codes: widened and converted when the
 * table is exactly int8 or uint8, else gathered. Needs K and the group a
 * multiple of 8 (else the scalar kernel); 4-bit codes with K and groups
 * multiples of 32 take the byte-table kernel further down instead. M <= 4:
 * up to 4 rows of x accumulate against each decoded vector; larger M: four
 * weight rows are decoded into a buffer, then dotted with every row of x. */
enum { A_LUT16, A_INT8, A_UINT8, A_GATHER };

static int avx2_kind(const struct sop *q) {
  if (q->bits == 4) return A_LUT16;
  int s8 = 1, u8 = 1;
  for (int c = 0; c < 256; c++) {
    s8 &= q->lut[c] == (float)(int8_t)c;
    u8 &= q->lut[c] == (float)c;
  }
  return s8 ? A_INT8 : u8 ? A_UINT8 : A_GATHER;
}

static inline __m256 avx2_values(const struct sop *q, int kind, const uint8_t *row, int64_t k, __m256 lo,
                                 __m256 hi) {
  if (kind == A_LUT16) {
    uint32_t word;
    memcpy(&word, row + k / 2, 4);
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts), _mm256_set1_epi32(15));
    __m256 low = _mm256_permutevar8x32_ps(lo, idx), high = _mm256_permutevar8x32_ps(hi, idx);
    return _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
  }
  __m128i bytes = _mm_loadl_epi64((const __m128i *)(row + k));
  if (kind == A_INT8) return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
  __m256i idx = _mm256_cvtepu8_epi32(bytes);
  if (kind == A_UINT8) return _mm256_cvtepi32_ps(idx);
  return _mm256_i32gather_ps(q->lut, idx, 4);
}

static inline float avx2_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct avx2_op {
  const struct sop *q;
  int kind;
};

/* E8M0 codes as float32, from memory: a broadcast from memory is a load,
 * one from a register a shuffle (the port the decode is bound on) */
static float e8m0_floats[256];
__attribute__((constructor)) static void e8m0_floats_init(void) {
  for (int c = 0; c < 256; c++) e8m0_floats[c] = e8m0_scalar((uint8_t)c);
}

static inline __m256 avx2_scale(const struct sop *q, int64_t g0) {
  return _mm256_broadcast_ss(q->e8m0 ? &e8m0_floats[q->e8m0[g0]] : &q->scales[g0]);
}

/* one past the last k of group g (the last group may be short) */
static inline int64_t group_end(const struct sop *q, int64_t g) {
  return (g + 1) * q->group < q->K ? (g + 1) * q->group : q->K;
}

/* one weight row n against M <= 4 rows of x (rows past M repeat row 0 and
 * are not stored), or decoded into buf; `kind` is a constant in each
 * instance below, so the lookups are specialised and the accumulators stay
 * in registers. A 16-entry table is scaled once per group, (lut - zero) *
 * scale, which gives each weight the same float32 value as decoding it
 * alone. */
static inline __attribute__((always_inline)) void avx2_row(const struct sop *q, const int kind, int64_t n,
                                                            const float *const xs[4], float *buf, float out[4]) {
  const int64_t K = q->K, group = q->group;
  const uint8_t *row = q->codes + n * (q->bits == 4 ? K / 2 : K);
  const __m256 lo = _mm256_loadu_ps(q->lut), hi = _mm256_loadu_ps(q->lut + (q->bits == 4 ? 8 : 0));
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t g = 0; g < q->G; g++) {
    const int64_t g0 = n * q->G + g, k1 = group_end(q, g);
    const __m256 scale = avx2_scale(q, g0);
    const __m256 zero = _mm256_set1_ps(q->zeros ? q->zeros[g0] : 0.0f);
    const __m256 slo = _mm256_mul_ps(_mm256_sub_ps(lo, zero), scale), shi = _mm256_mul_ps(_mm256_sub_ps(hi, zero), scale);
    for (int64_t k = g * group; k < k1; k += 8) {
      __m256 w = kind == A_LUT16 ? avx2_values(q, kind, row, k, slo, shi)
                                 : _mm256_mul_ps(_mm256_sub_ps(avx2_values(q, kind, row, k, lo, hi), zero), scale);
      if (buf) {
        _mm256_store_ps(buf + k, w);
      } else {
        if (q->M > 1) {
          a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xs[0] + k), w, a0);
          a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xs[1] + k), w, a1);
          a2 = _mm256_fmadd_ps(_mm256_loadu_ps(xs[2] + k), w, a2);
          a3 = _mm256_fmadd_ps(_mm256_loadu_ps(xs[3] + k), w, a3);
        } else { /* one row of x: four accumulators in turn, four independent FMA chains */
          __m256 t = _mm256_fmadd_ps(_mm256_loadu_ps(xs[0] + k), w, a3);
          a3 = a2, a2 = a1, a1 = a0, a0 = t;
        }
      }
    }
  }
  if (q->M > 1)
    out[0] = avx2_sum(a0), out[1] = avx2_sum(a1), out[2] = avx2_sum(a2), out[3] = avx2_sum(a3);
  else
    out[0] = avx2_sum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

typedef void (*sparcc_avx2_decode_fn)(const void *ctx, int64_t n, float *row);

/* M > 4: y[m, n0 + r] (+ bias) = x[m, :] . buf[r, :] for r < rows (K a
 * multiple of 8; buf holds 4 rows of K, aligned, rows past `rows` zeros):
 * each weight, decoded once into buf, serves every row of x, two rows of x
 * by four weight rows in registers (eight FMA chains, a load of x shared by
 * four weight rows). */
static void avx2_dots(const float *x, int64_t M, int64_t K, const float *buf, int rows, const float *bias, float *y,
                      int64_t N, int64_t n0) {
  const float *w0 = buf, *w1 = buf + K, *w2 = buf + 2 * K, *w3 = buf + 3 * K;
  for (int64_t m = 0; m < M; m += 2) {
    const float *xa = x + m * K, *xb = x + (m + 1 < M ? m + 1 : m) * K;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    for (int64_t k = 0; k < K; k += 8) {
      const __m256 a = _mm256_loadu_ps(xa + k), b = _mm256_loadu_ps(xb + k);
      __m256 w = _mm256_load_ps(w0 + k);
      c00 = _mm256_fmadd_ps(a, w, c00), c10 = _mm256_fmadd_ps(b, w, c10);
      w = _mm256_load_ps(w1 + k);
      c01 = _mm256_fmadd_ps(a, w, c01), c11 = _mm256_fmadd_ps(b, w, c11);
      w = _mm256_load_ps(w2 + k);
      c02 = _mm256_fmadd_ps(a, w, c02), c12 = _mm256_fmadd_ps(b, w, c12);
      w = _mm256_load_ps(w3 + k);
      c03 = _mm256_fmadd_ps(a, w, c03), c13 = _mm256_fmadd_ps(b, w, c13);
    }
    const float out[2][4] = {{avx2_sum(c00), avx2_sum(c01), avx2_sum(c02), avx2_sum(c03)},
                             {avx2_sum(c10), avx2_sum(c11), avx2_sum(c12), avx2_sum(c13)}};
    for (int i = 0; i < 2 && m + i < M; i++)
      for (int r = 0; r < rows; r++) y[(m + i) * N + n0 + r] = out[i][r] + (bias ? bias[n0 + r] : 0.0f);
  }
}

/* M > 4, output features [begin, end): four rows at a time, `decode(ctx, n,
 * row)` writes weight row n (K floats, into zeros) and avx2_dots multiplies
 * them with every row of x. The AVX2 paths of this file and sqkernels.c's
 * share it. */
__attribute__((visibility("hidden"))) void sparcc_avx2_decoded_rows(const void *ctx, sparcc_avx2_decode_fn decode,
                                                                 const float *x, int64_t M, int64_t K,
                                                                 const float *bias, float *y, int64_t N,
                                                                 int64_t begin, int64_t end) {
  float *buf = aligned_alloc(32, (size_t)(4 * K) * sizeof(float));
  if (!buf) abort();
  for (int64_t n0 = begin; n0 < end; n0 += 4) {
    const int rows = end - n0 < 4 ? (int)(end - n0) : 4;
    memset(buf, 0, (size_t)(4 * K) * sizeof(float));
    for (int r = 0; r < rows; r++) decode(ctx, n0 + r, buf + r * K);
    avx2_dots(x, M, K, buf, rows, bias, y, N, n0);
  }
  free(buf);
}

static inline __attribute__((always_inline)) void avx2_rows_of(const struct sop *q, const int kind, int64_t begin,
                                                                int64_t end) {
  const int64_t K = q->K, M = q->M;
  const float *xs[4];
  for (int m = 0; m < 4; m++) xs[m] = q->x + (m < M ? m : 0) * K; /* M <= 4 here */
  float out[4];
  for (int64_t n = begin; n < end; n++) {
    avx2_row(q, kind, n, xs, NULL, out);
    for (int64_t m = 0; m < M; m++) q->y[m * q->N + n] = out[m] + (q->bias ? q->bias[n] : 0.0f);
  }
}

/* 4-bit codes, K and the group multiples of 32: 32 weights a step through
 * byte tables. The 16-entry value table is split into its four byte planes
 * (vpshufb tables); a 16-byte load of codes gives the even elements' nibbles
 * in the low lane and the odd elements' in the high lane; four vpshufb and
 * two rounds of unpacks rebuild the 32 float32 values (about half the work
 * of two vpermps and a blend per 8 weights). The unpacks leave each 8 of k
 * in the order 0, 2, 4, 6, 1, 3, 5, 7 ("kernel order"), so x is permuted
 * that way once per call. The values are the table's, unscaled: a group's
 * dot products sum x * lut[c] lane by lane, then zero points come off as
 * zero * (the group's sum of x in that lane, computed once per call), and
 * the group's partial sums are multiplied by its scale. One-hot x still
 * gives each weight as the reference decodes it, (lut[c] - zero) * scale
 * rounded once (lut - zero is exact for the integer formats, the only ones
 * with zero points); other sums differ from the reference by round-off (the
 * zero's term can cancel, so an asymmetric format's error bound doubles).
 * M > 4 stores the weights, (v - zero) * scale, in the buffer instead. */
static void avx2_planes(const float *lut, __m256i t[4]) {
  uint8_t planes[4][16];
  for (int v = 0; v < 16; v++) {
    uint32_t bits;
    memcpy(&bits, lut + v, 4);
    for (int j = 0; j < 4; j++) planes[j][v] = (uint8_t)(bits >> (8 * j));
  }
  for (int j = 0; j < 4; j++) t[j] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[j]));
}

static inline __attribute__((always_inline)) void avx2_decode32(const __m256i t[4], const uint8_t *codes,
                                                                 __m256 f[4]) {
  const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)codes));
  const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                                       _mm256_set1_epi8(15));
  const __m256i p0 = _mm256_shuffle_epi8(t[0], idx), p1 = _mm256_shuffle_epi8(t[1], idx);
  const __m256i p2 = _mm256_shuffle_epi8(t[2], idx), p3 = _mm256_shuffle_epi8(t[3], idx);
  const __m256i l01 = _mm256_unpacklo_epi8(p0, p1), h01 = _mm256_unpackhi_epi8(p0, p1);
  const __m256i l23 = _mm256_unpacklo_epi8(p2, p3), h23 = _mm256_unpackhi_epi8(p2, p3);
  f[0] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(l01, l23));
  f[1] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(l01, l23));
  f[2] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(h01, h23));
  f[3] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(h01, h23));
}

struct nib_op {
  const struct sop *q;
  __m256i planes[4]; /* the value table's byte planes (avx2_planes) */
  float *xp;         /* x [M, K] in kernel order */
  float *xsum; /* with zero points: [M, G, 8] the group's sum of x per lane of the accumulators */
};

/* x into kernel order (each 8 of k: 0, 2, 4, 6, 1, 3, 5, 7), and with zero
 * points its per-group, per-lane sums (in the order the kernel adds
 * products: one 8-lane vector a step) */
static void nib_prepare(struct nib_op *a) {
  const struct sop *q = a->q;
  const int64_t M = q->M, K = q->K;
  avx2_planes(q->lut, a->planes);
  a->xp = aligned_alloc(32, (size_t)(M * K) * sizeof(float));
  a->xsum = q->zeros ? aligned_alloc(32, (size_t)(M * q->G * 8) * sizeof(float)) : NULL;
  if (!a->xp || (q->zeros && !a->xsum)) abort();
  const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  for (int64_t i = 0; i < M * K; i += 8)
    _mm256_store_ps(a->xp + i, _mm256_permutevar8x32_ps(_mm256_loadu_ps(q->x + i), order));
  if (!a->xsum) return;
  for (int64_t m = 0; m < M; m++)
    for (int64_t g = 0; g < q->G; g++) {
      __m256 s = _mm256_setzero_ps();
      for (int64_t k = g * q->group, k1 = group_end(q, g); k < k1; k += 8) s = _mm256_add_ps(s, _mm256_load_ps(a->xp + m * K + k));
      _mm256_store_ps(a->xsum + (m * q->G + g) * 8, s);
    }
}


/* a group's lane sums of x * lut[c] -> of x * (lut[c] - zero) */
static inline __m256 nib_less_zero(const struct nib_op *a, __m256 acc, int64_t m, int64_t n, int64_t g) {
  const struct sop *q = a->q;
  if (!q->zeros) return acc;
  return _mm256_fnmadd_ps(_mm256_set1_ps(q->zeros[n * q->G + g]), _mm256_load_ps(a->xsum + (m * q->G + g) * 8), acc);
}

/* weight row n, (v - zero) * scale in kernel order, for sparcc_avx2_decoded_rows */
static void nib_decode_row(const void *ctx, int64_t n, float *out) {
  const struct nib_op *a = ctx;
  const struct sop *q = a->q;
  const uint8_t *row = q->codes + n * (q->K / 2);
  __m256 f[4];
  for (int64_t g = 0; g < q->G; g++) {
    const __m256 s = avx2_scale(q, n * q->G + g);
    const __m256 z = _mm256_set1_ps(q->zeros ? q->zeros[n * q->G + g] : 0.0f);
    for (int64_t k = g * q->group, k1 = group_end(q, g); k < k1; k += 32) {
      avx2_decode32(a->planes, row + k / 2, f);
      for (int j = 0; j < 4; j++) _mm256_store_ps(out + k + 8 * j, _mm256_mul_ps(q->zeros ? _mm256_sub_ps(f[j], z) : f[j], s));
    }
  }
}

static void nib_rows(void *ctx, int64_t begin, int64_t end) {
  const struct nib_op *a = ctx;
  const struct sop *q = a->q;
  const int64_t K = q->K, M = q->M, group = q->group;
  const __m256i *t = a->planes;
  if (M > 4) {
    sparcc_avx2_decoded_rows(a, nib_decode_row, a->xp, M, K, q->bias, q->y, q->N, begin, end);
    return;
  }
  for (int64_t n = begin; n < end; n++) {
    const uint8_t *row = q->codes + n * (K / 2);
    const float b = q->bias ? q->bias[n] : 0.0f;
    __m256 f[4];
    if (M == 1) {
      const float *x = a->xp;
      __m256 tot = _mm256_setzero_ps();
      for (int64_t g = 0; g < q->G; g++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t k = g * group, k1 = group_end(q, g); k < k1; k += 32) {
          avx2_decode32(t, row + k / 2, f);
          a0 = _mm256_fmadd_ps(_mm256_load_ps(x + k), f[0], a0);
          a1 = _mm256_fmadd_ps(_mm256_load_ps(x + k + 8), f[1], a1);
          a2 = _mm256_fmadd_ps(_mm256_load_ps(x + k + 16), f[2], a2);
          a3 = _mm256_fmadd_ps(_mm256_load_ps(x + k + 24), f[3], a3);
        }
        const __m256 s = nib_less_zero(a, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), 0, n, g);
        tot = _mm256_fmadd_ps(s, avx2_scale(q, n * q->G + g), tot);
      }
      q->y[n] = avx2_sum(tot) + b;
    } else if (M <= 4) { /* rows past M repeat row 0 and are not stored */
      const int64_t r1 = M > 1 ? 1 : 0, r2 = M > 2 ? 2 : 0, r3 = M > 3 ? 3 : 0;
      const float *x0 = a->xp, *x1 = a->xp + r1 * K, *x2 = a->xp + r2 * K, *x3 = a->xp + r3 * K;
      __m256 t0 = _mm256_setzero_ps(), t1 = t0, t2 = t0, t3 = t0;
      for (int64_t g = 0; g < q->G; g++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t k = g * group, k1 = group_end(q, g); k < k1; k += 32) {
          avx2_decode32(t, row + k / 2, f);
#define ROW4(A, X)                                                                                   \
  A = _mm256_add_ps(A, _mm256_add_ps(_mm256_fmadd_ps(_mm256_load_ps(X + k + 8), f[1],                  \
                                                     _mm256_mul_ps(_mm256_load_ps(X + k), f[0])),      \
                                     _mm256_fmadd_ps(_mm256_load_ps(X + k + 24), f[3],                 \
                                                     _mm256_mul_ps(_mm256_load_ps(X + k + 16), f[2]))))
          ROW4(a0, x0);
          ROW4(a1, x1);
          ROW4(a2, x2);
          ROW4(a3, x3);
#undef ROW4
        }
        const __m256 s = avx2_scale(q, n * q->G + g);
        t0 = _mm256_fmadd_ps(nib_less_zero(a, a0, 0, n, g), s, t0);
        t1 = _mm256_fmadd_ps(nib_less_zero(a, a1, r1, n, g), s, t1);
        t2 = _mm256_fmadd_ps(nib_less_zero(a, a2, r2, n, g), s, t2);
        t3 = _mm256_fmadd_ps(nib_less_zero(a, a3, r3, n, g), s, t3);
      }
      const float out[4] = {avx2_sum(t0), avx2_sum(t1), avx2_sum(t2), avx2_sum(t3)};
      for (int64_t m = 0; m < M; m++) q->y[m * q->N + n] = out[m] + b;
    }
  }
}

/* weight row n into `row`, for sparcc_avx2_decoded_rows */
static void avx2_decode_row(const void *ctx, int64_t n, float *row) {
  const struct avx2_op *a = ctx;
  const float *xs[4] = {a->q->x, a->q->x, a->q->x, a->q->x}; /* not read when decoding */
  float out[4];
  switch (a->kind) {
  case A_LUT16: avx2_row(a->q, A_LUT16, n, xs, row, out); break;
  case A_INT8: avx2_row(a->q, A_INT8, n, xs, row, out); break;
  case A_UINT8: avx2_row(a->q, A_UINT8, n, xs, row, out); break;
  default: avx2_row(a->q, A_GATHER, n, xs, row, out); break;
  }
}

static void avx2_rows(void *ctx, int64_t begin, int64_t end) {
  const struct avx2_op *a = ctx;
  const struct sop *q = a->q;
  if (q->M > 4) {
    sparcc_avx2_decoded_rows(a, avx2_decode_row, q->x, q->M, q->K, q->bias, q->y, q->N, begin, end);
    return;
  }
  switch (a->kind) {
  case A_LUT16: avx2_rows_of(a->q, A_LUT16, begin, end); break;
  case A_INT8: avx2_rows_of(a->q, A_INT8, begin, end); break;
  case A_UINT8: avx2_rows_of(a->q, A_UINT8, begin, end); break;
  default: avx2_rows_of(a->q, A_GATHER, begin, end); break;
  }
}
#endif

static void scalar_qlinear(struct sop *q) {
  if (q->M <= 0 || q->N <= 0) return;
  if (q->K <= 0) {
    for (int64_t m = 0; m < q->M; m++)
      for (int64_t n = 0; n < q->N; n++) q->y[m * q->N + n] = q->bias ? q->bias[n] : 0.0f;
    return;
  }
  if (q->group < 1 || q->group > q->K) q->group = q->K;
  q->G = (q->K + q->group - 1) / q->group;
#if defined(__AVX2__) && defined(__FMA__)
  if (q->bits == 4 && q->K % 32 == 0 && q->group % 32 == 0) {
    struct nib_op a = {.q = q};
    nib_prepare(&a);
    int64_t grain = (1 << 16) / (q->K * q->M) + 1;
    sparcc_rt_parallel_for(q->N, grain < 16 ? 16 : grain, nib_rows, &a);
    free(a.xp);
    free(a.xsum);
    return;
  }
  if (q->K % 8 == 0 && q->group % 8 == 0) {
    struct avx2_op a = {.q = q, .kind = avx2_kind(q)};
    /* at least ~64K weights per slice, so small layers do not pay for a fork */
    int64_t grain = (1 << 16) / (q->K * q->M) + 1;
    sparcc_rt_parallel_for(q->N, grain < 16 ? 16 : grain, avx2_rows, &a);
    return;
  }
#endif
  sparcc_rt_parallel_for(q->N, 16, scalar_rows, q);
}

EXPORT void sparcc_qlinear_lut4(const float *x, const uint8_t *codes, const float *scales, const float *zeros,
                                const float *lut16, const float *bias, float *y, int64_t M, int64_t N, int64_t K,
                                int64_t group, int64_t flags) {
  struct sop q = {.x = x, .codes = codes, .scales = scales, .zeros = (flags & F_ZEROS) ? zeros : NULL,
                  .lut = lut16, .bias = (flags & F_BIAS) ? bias : NULL, .y = y, .M = M, .N = N, .K = K,
                  .group = group, .bits = 4};
  scalar_qlinear(&q);
}

EXPORT void sparcc_qlinear_mx4(const float *x, const uint8_t *codes, const uint8_t *e8m0, const float *lut16,
                               const float *bias, float *y, int64_t M, int64_t N, int64_t K, int64_t flags) {
  struct sop q = {.x = x, .codes = codes, .e8m0 = e8m0, .lut = lut16, .bias = (flags & F_BIAS) ? bias : NULL,
                  .y = y, .M = M, .N = N, .K = K, .group = 32, .bits = 4};
  scalar_qlinear(&q);
}

EXPORT void sparcc_qlinear_lut8(const float *x, const uint8_t *codes, const float *scales, const float *zeros,
                                const float *lut256, const float *bias, float *y, int64_t M, int64_t N, int64_t K,
                                int64_t group, int64_t flags) {
  struct sop q = {.x = x, .codes = codes, .scales = scales, .zeros = (flags & F_ZEROS) ? zeros : NULL,
                  .lut = lut256, .bias = (flags & F_BIAS) ? bias : NULL, .y = y, .M = M, .N = N, .K = K,
                  .group = group, .bits = 8};
  scalar_qlinear(&q);
}

#endif
