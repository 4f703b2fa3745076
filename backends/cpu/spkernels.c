/*
 * sparcc's sparse matrix kernels, built into libsparcc_rt.so beside runtime.c
 * (gcc -O3 -march=native). AVX-512 F/BW/VL code; a portable version
 * of the same kernels is compiled where the host lacks them.
 *
 * A is a sparse matrix [rows x cols] stored in one of the preset formats of
 * dialects/sparse_formats.py, with the buffers its `encode` writes. One entry
 * point per storage kind, all with one signature, so that generated code
 * calls them with bare pointers:
 *
 *   void sparcc_sp_<kind>(int64_t mode, int64_t rows, int64_t cols, int64_t n,
 *                         const void *i0, const void *i1, const void *i2, const void *i3,
 *                         const float *val, const float *b, const float *bias, float *c,
 *                         int64_t p0, int64_t p1, int64_t p2, int64_t flags);
 *
 *   mode 0 (SpMM, SpMV for n = 1): c[rows x n] = A @ b[cols x n]
 *   mode 1 (sparse Linear):        c[n x rows] = b[n x cols] @ A^T (+ bias[rows])
 *   flags: 1 accumulate (c += ...), 2 add bias (mode 1), 4 positions are uint64
 *          (else uint32), 8 coordinates are uint64 (else uint32; nm/vnm: uint8)
 *
 * | kind | levels                              | i0, i1, i2, i3                   | p0, p1, p2 |
 * | ---- | ----------------------------------- | -------------------------------- | ---------- |
 * | csr  | d0 dense, d1 compressed             | pos1, crd1                       |            |
 * | csc  | d1 dense, d0 compressed             | pos1, crd1 (rows)                |            |
 * | coo  | d0 compressed(nu), d1 singleton     | pos0, crd0 (sorted), crd1        |            |
 * | dcsr | d0 compressed, d1 compressed        | pos0, crd0, pos1, crd1           |            |
 * | ell  | d0 dense, d1 compressed(pad)        | pos1 = [width], crd1             |            |
 * | bsr  | d0/R, d1/C compressed, d0%R, d1%C   | pos1, crd1 (block columns)       | R, C       |
 * | nm   | d0, d1/M, d1%M nm(N,M)              | crd2 (uint8)                     | N, M       |
 * | vnm  | d0/V, d1/M, d1%M nm(N,M), d0%V      | crd2 (uint8)                     | V, N, M    |
 *
 * Storage may cover a padded shape (pad=zero: rows and columns rounded up to
 * the block or group size); padded entries hold 0 and may carry coordinates
 * >= cols. The kernels never read b nor write c outside the logical shape:
 * the last, partial group or block column is walked with a bounds check
 * against the rows of b that exist. The buffers are trusted (sparse_kernels.py
 * checks them once): coordinates inside the padded shape, positions
 * ascending, COO rows sorted.
 *
 *   void sparcc_sddmm_csr(int64_t rows, int64_t cols, int64_t k, const void *pos, const void *crd,
 *                         const float *sval, const float *a1, const float *a2, float *out,
 *                         double alpha, double beta, int64_t flags);
 *
 * out[e] = beta * sval[e] + alpha * (a1[rows x k] @ a2[k x cols])[i, j] at each stored
 * entry e = (i, j) of the CSR matrix S (torch.sparse.sampled_addmm); beta = 0
 * ignores sval (it may be NULL). flags 4 and 8 as above.
 *
 * How (AVX-512). Every product is a walk over rows of A: a row of C, up to
 * 64 columns wide (4 zmm, the last one masked), stays in registers while
 * each stored value is broadcast and multiplied with the row of B its
 * column selects (four interleaved accumulator sets hide the FMA latency).
 * n > 64 is done in panels of 64 columns; n = 1 (SpMV) gathers b instead.
 * Mode 1 transposes x into a zero-padded [cols x n] scratch once per call,
 * computes C^T = A @ x^T in a second scratch, and transposes it out with the
 * bias (16x16 register transposes); in mode 0 a b whose rows straddle cache
 * lines is copied into aligned rows first. N:M and V:N:M walk chunks of rows
 * whose C stays in L1, k in blocks of 24 KB of B rows, so that B comes from
 * L1 too; V:N:M and BSR keep up to 4 rows of C in registers, each loaded B
 * row serving all of them. CSC scatters into C. The row kernels are
 * compiled once per panel width and picked from tables. Rows are cut into
 * ranges of about equal stored entries (CSR, COO, DCSR, BSR) or rows (the
 * others), 8 per thread of sparcc's pool, which the threads take one at a
 * time (sparcc_rt_parallel_for), so a thread slowed down by another process
 * takes fewer. A row's sum never depends on the thread count: results are
 * the same bits with 1 thread or many.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))
#define INLINE static inline __attribute__((always_inline))

typedef void (*range_fn_t)(void *ctx, int64_t begin, int64_t end);
extern void sparcc_rt_parallel_for(int64_t n, int64_t grain, range_fn_t fn, void *ctx);
extern int sparcc_rt_get_num_threads(void);

enum { F_ACC = 1, F_BIAS = 2, F_POS64 = 4, F_CRD64 = 8 };
enum { K_CSR, K_CSC, K_COO, K_DCSR, K_ELL, K_BSR, K_NM, K_VNM };

/* A and its buffers, as the entry point received them */
struct sp {
  int kind, pos64, crd64;
  int64_t rows, cols;
  const void *i0, *i1, *i2, *i3;
  const float *val;
  int64_t R, C;       /* bsr block */
  int64_t V, N, M, G; /* nm, vnm; G = ceil(cols / M) groups per row */
};

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

/* element i of an index buffer of uint32 or uint64 */
static inline int64_t ix(const void *p, int64_t i, int wide) {
  return wide ? (int64_t)((const uint64_t *)p)[i] : (int64_t)((const uint32_t *)p)[i];
}

/* c = (accumulate ? c : 0) (+ bias) where A has no columns */
static void no_columns(const struct sp *a, int64_t mode, int64_t n, const float *bias, float *c, int acc) {
  for (int64_t i = 0; i < a->rows; i++)
    for (int64_t m = 0; m < n; m++) {
      float *o = mode == 0 ? &c[i * n + m] : &c[m * a->rows + i];
      *o = (acc ? *o : 0.0f) + (bias ? bias[i] : 0.0f);
    }
}

static struct sp make_sp(int kind, int64_t rows, int64_t cols, const void *i0, const void *i1, const void *i2,
                         const void *i3, const float *val, int64_t p0, int64_t p1, int64_t p2, int64_t flags) {
  struct sp a = {.kind = kind, .pos64 = (flags & F_POS64) != 0, .crd64 = (flags & F_CRD64) != 0, .rows = rows,
                 .cols = cols, .i0 = i0, .i1 = i1, .i2 = i2, .i3 = i3, .val = val, .R = 1, .C = 1, .V = 1,
                 .N = 1, .M = 1, .G = cols};
  if (kind == K_BSR) a.R = max64(1, p0), a.C = max64(1, p1);
  if (kind == K_NM) a.N = p0, a.M = max64(1, p1);
  if (kind == K_VNM) a.V = max64(1, p0), a.N = p1, a.M = max64(1, p2);
  if (kind == K_NM || kind == K_VNM) a.crd64 = 0, a.G = cdiv(cols, a.M);
  return a;
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

/* the loops over a kernel's vectors and rows, unrolled before gcc decides where arrays of them live:
 * otherwise it stores the accumulators to the stack on every iteration */
#define UNROLL _Pragma("GCC unroll 16")

/* first e in [lo, hi) with p[e] >= key (p ascending there), else hi */
static int64_t lower_bound(const void *p, int wide, int64_t lo, int64_t hi, int64_t key) {
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (ix(p, mid, wide) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* the entries A stores (padding included) */
static int64_t stored(const struct sp *a) {
  switch (a->kind) {
  case K_CSR: return ix(a->i0, a->rows, a->pos64);
  case K_CSC: return ix(a->i0, a->cols, a->pos64);
  case K_COO: return ix(a->i0, 1, a->pos64) - ix(a->i0, 0, a->pos64);
  case K_DCSR: return ix(a->i2, ix(a->i0, 1, a->pos64), a->pos64);
  case K_ELL: return ix(a->i0, 0, a->pos64) * a->rows;
  case K_BSR: return ix(a->i0, cdiv(a->rows, a->R), a->pos64) * a->R * a->C;
  case K_NM: return a->rows * a->G * a->N;
  default: return cdiv(a->rows, a->V) * a->V * a->G * a->N;
  }
}

/* Row-wise work split: the units are rows (block rows for bsr and vnm), and
 * cost(u) is monotone, the work of units [0, u). */
static int64_t part_units(const struct sp *a) {
  return a->kind == K_BSR ? cdiv(a->rows, a->R) : a->kind == K_VNM ? cdiv(a->rows, a->V) : a->rows;
}

static int64_t part_cost(const struct sp *a, int64_t u) {
  switch (a->kind) {
  case K_CSR: return ix(a->i0, u, a->pos64) + u;
  case K_COO: {
    const int64_t e0 = ix(a->i0, 0, a->pos64);
    return lower_bound(a->i1, a->crd64, e0, ix(a->i0, 1, a->pos64), u) - e0 + u;
  }
  case K_DCSR: {
    const int64_t k = lower_bound(a->i1, a->crd64, ix(a->i0, 0, a->pos64), ix(a->i0, 1, a->pos64), u);
    return ix(a->i2, k, a->pos64) + u;
  }
  case K_BSR: return ix(a->i0, u, a->pos64) * a->R * a->C + u * a->R;
  default: return u;
  }
}

#define MAXP 256               /* parts at most */
#define PARTS_PER_THREAD 8      /* so that a thread slowed down (by another process) takes fewer parts */
#define MIN_PART_WORK (1 << 15) /* multiply-adds per part, at least: a fork costs a few us */

/* The row split of one call: parts of about equal cost, which the threads take one at a time. */
struct split {
  int parts;
  _Atomic int64_t next;
  int64_t bnd[MAXP + 1]; /* part p: units [bnd[p], bnd[p + 1]) */
};

static void split_rows(const struct sp *a, int64_t work, struct split *s) {
  const int64_t units = part_units(a);
  int64_t parts = min64(min64((int64_t)sparcc_rt_get_num_threads() * PARTS_PER_THREAD, MAXP),
                        max64(1, work / MIN_PART_WORK));
  parts = max64(1, min64(parts, units));
  const int64_t total = part_cost(a, units);
  s->bnd[0] = 0;
  for (int64_t p = 1; p < parts; p++) {
    const int64_t share = (int64_t)((double)total * (double)p / (double)parts);
    int64_t lo = s->bnd[p - 1], hi = units;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (part_cost(a, mid) < share) lo = mid + 1;
      else hi = mid;
    }
    s->bnd[p] = lo;
  }
  s->bnd[parts] = units;
  s->parts = (int)parts;
  atomic_store_explicit(&s->next, 0, memory_order_relaxed);
}

/* the next part not yet taken: units [*u0, *u1); 0 when none is left */
static int take_part(struct split *s, int64_t *u0, int64_t *u1) {
  for (;;) {
    const int64_t p = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
    if (p >= s->parts) return 0;
    *u0 = s->bnd[p], *u1 = s->bnd[p + 1];
    if (*u0 < *u1) return 1;
  }
}

/* fn(ctx, ., .) on as many threads as there are parts (up to the team size); each takes parts
 * until none is left */
static void run_split(const struct split *s, range_fn_t fn, void *ctx) {
  sparcc_rt_parallel_for(min64(s->parts, sparcc_rt_get_num_threads()), 1, fn, ctx);
}

/* rows of padded storage: the rows of b a kernel may read in mode 1 */
static int64_t padded_cols(const struct sp *a) {
  if (a->kind == K_NM || a->kind == K_VNM) return a->G * a->M;
  if (a->kind == K_BSR) return round_up(a->cols, a->C);
  return a->cols;
}


#define PANEL 64                /* columns of C in registers: 4 zmm */
#define KBLOCK_BYTES (24 << 10) /* N:M, V:N:M: B rows per k block, kept in L1 */
#define CHUNK_BYTES (4 << 10)   /* N:M, V:N:M: rows of C per chunk, kept in L1 across k blocks */
#define MAX_OFF (KBLOCK_BYTES / 64) /* entries of a k block, at most: KBLOCK_BYTES / 64 * N / M, N <= M */

/* C[rows x w] (+)= A @ B[. x w]: one product, and how it is split */
struct prod {
  const struct sp *a;
  const float *B; /* row k at B + k * ldb */
  int64_t ldb;
  float *C; /* row i at C + i * ldc */
  int64_t ldc, w;
  int64_t kvalid;    /* rows of B that exist: coordinates past it (padding) are skipped */
  int load;          /* accumulate into C */
  const float *bias; /* SpMV only: added to c */
  /* N:M, V:N:M: k blocks of kbg groups; entry t of a run that starts at a group, with in-group
   * index x, reads B row (t / N) * M + x, at offset off[t] + ctab[x] (in floats) */
  int64_t kbg;
  int64_t off[MAX_OFF], ctab[256];
  struct split split;
};

static inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* vector v of a panel row of NV vectors; the last one masked unless the panel is FULL */
INLINE __m512 ldv(const float *p, int v, const int NV, const int FULL, __mmask16 ml) {
  return v == NV - 1 && !FULL ? _mm512_maskz_loadu_ps(ml, p + 16 * v) : _mm512_loadu_ps(p + 16 * v);
}
INLINE void stv(float *p, int v, const int NV, const int FULL, __mmask16 ml, __m512 x) {
  if (v == NV - 1 && !FULL) _mm512_mask_storeu_ps(p + 16 * v, ml, x);
  else _mm512_storeu_ps(p + 16 * v, x);
}

/* coordinates: uint32 or uint64 */
enum { CK_U32, CK_U64 };

INLINE int64_t col_at(const void *crd, int64_t e, const int ck) {
  return ck == CK_U64 ? (int64_t)((const uint64_t *)crd)[e] : (int64_t)((const uint32_t *)crd)[e];
}

/* ---------------------------------------------------------------------------
 * C (+)= A @ B, one panel of C's columns at a time. The row kernels are
 * compiled once per panel width (NV vectors; FULL: the last one unmasked)
 * and coordinate width, out of line, and picked from tables: inlined into
 * the walks over rows, they would share registers with them.
 * ------------------------------------------------------------------------ */

#define NOINLINE static __attribute__((noinline))
/* the (NV, FULL) and (NV, VR) instances */
#define NV_FULL(X) X(1, 0) X(1, 1) X(2, 0) X(2, 1) X(3, 0) X(3, 1) X(4, 0) X(4, 1)
#define NV_VR(X) \
  X(1, 1) X(1, 2) X(1, 3) X(1, 4) X(2, 1) X(2, 2) X(2, 3) X(2, 4) X(3, 1) X(3, 2) X(3, 3) X(3, 4) X(4, 1) X(4, 2) X(4, 3) X(4, 4)

/* the accumulators of one row of C: four sets, so that four FMA chains hide the FMA latency */
#define ROW_BEGIN(c, load)                                                                 \
  __m512 acc[4][4];                                                                        \
  const __mmask16 lm_ = (load) ? 0xFFFF : 0; /* c is read or not, without a branch */      \
  UNROLL for (int v = 0; v < NV; v++) {                                                           \
    acc[0][v] = _mm512_maskz_loadu_ps(v == NV - 1 && !FULL ? lm_ & ml : lm_, (c) + 16 * v); \
    acc[1][v] = acc[2][v] = acc[3][v] = _mm512_setzero_ps();                               \
  }
/* the row pointer is laundered through an empty asm into one register: with a base + index memory
 * operand an FMA is two uops on Intel cores, with a base alone one */
#define ROW_FMA(set, s, row)                                                                        \
  do {                                                                                              \
    const float *row_ = (row);                                                                      \
    __asm__("" : "+r"(row_));                                                                       \
    UNROLL for (int v = 0; v < NV; v++) acc[set][v] = _mm512_fmadd_ps(s, ldv(row_, v, NV, FULL, ml), acc[set][v]); \
  } while (0)
#define ROW_END(c)                                                                                         \
  UNROLL for (int v = 0; v < NV; v++)                                                                             \
    stv(c, v, NV, FULL, ml, _mm512_add_ps(_mm512_add_ps(acc[0][v], acc[1][v]), _mm512_add_ps(acc[2][v], acc[3][v])))

/* one row, one panel: c (+)= sum over e in [e0, e1) of val[e] * B[crd[e]] */
typedef void (*seg_fn)(const float *B, int64_t ldb, const float *val, const void *crd, int64_t e0, int64_t e1,
                       float *c, int load, __mmask16 ml);

INLINE void seg_row(const float *B, int64_t ldb, const float *val, const void *crd, int64_t e0, int64_t e1, float *c,
                    int load, __mmask16 ml, const int NV, const int FULL, const int ck) {
  ROW_BEGIN(c, load);
  int64_t e = e0;
  for (; e + 4 <= e1; e += 4)
    UNROLL for (int u = 0; u < 4; u++) ROW_FMA(u, _mm512_set1_ps(val[e + u]), B + col_at(crd, e + u, ck) * ldb);
  for (; e < e1; e++) ROW_FMA(0, _mm512_set1_ps(val[e]), B + col_at(crd, e, ck) * ldb);
  ROW_END(c);
}

#define SEG_FNS(NV, FULL)                                                                                      \
  NOINLINE void seg32_##NV##_##FULL(const float *B, int64_t ldb, const float *val, const void *crd, int64_t e0, \
                                    int64_t e1, float *c, int load, __mmask16 ml) {                           \
    seg_row(B, ldb, val, crd, e0, e1, c, load, ml, NV, FULL, CK_U32);                                          \
  }                                                                                                            \
  NOINLINE void seg64_##NV##_##FULL(const float *B, int64_t ldb, const float *val, const void *crd, int64_t e0, \
                                    int64_t e1, float *c, int load, __mmask16 ml) {                           \
    seg_row(B, ldb, val, crd, e0, e1, c, load, ml, NV, FULL, CK_U64);                                          \
  }
NV_FULL(SEG_FNS)
#define SEG32(NV, FULL) seg32_##NV##_##FULL,
#define SEG64(NV, FULL) seg64_##NV##_##FULL,
static const seg_fn seg_fns[2][8] = {{NV_FULL(SEG32)}, {NV_FULL(SEG64)}}; /* [ck][2 * (NV - 1) + FULL] */

/* one N:M row, one panel: the entries of groups [0, ng) of a k block whose first B row is Bk.
 * N = 2 (2:M): four groups at a time, whose 8 coordinates are one 64-bit load (loads are the
 * bottleneck); any N: through the off table */
typedef void (*nm_fn)(const struct prod *p, const float *Bk, const float *val, const uint8_t *crd, int64_t ng,
                      float *c, int load, __mmask16 ml);

INLINE void nm_row(const struct prod *p, const float *Bk, const float *val, const uint8_t *crd, int64_t ng, float *c,
                   int load, __mmask16 ml, const int NV, const int FULL, const int N2) {
  const int64_t *ctab = p->ctab;
  ROW_BEGIN(c, load);
  if (N2) {
    const int64_t gstride = p->a->M * p->ldb, ldb = p->ldb;
    int64_t g = 0;
    for (; g + 4 <= ng; g += 4, Bk += 4 * gstride, crd += 8, val += 8) {
      uint64_t x;
      memcpy(&x, crd, sizeof x);
      UNROLL for (int u = 0; u < 8; u++)
        ROW_FMA(u % 4, _mm512_set1_ps(val[u]), Bk + (u / 2) * gstride + (int64_t)((x >> (8 * u)) & 0xFF) * ldb);
    }
    for (; g < ng; g++, Bk += gstride, crd += 2, val += 2) {
      ROW_FMA(0, _mm512_set1_ps(val[0]), Bk + ctab[crd[0]]);
      ROW_FMA(1, _mm512_set1_ps(val[1]), Bk + ctab[crd[1]]);
    }
  } else {
    const int64_t *off = p->off, ne = ng * p->a->N;
    int64_t t = 0;
    for (; t + 4 <= ne; t += 4)
      UNROLL for (int u = 0; u < 4; u++) ROW_FMA(u, _mm512_set1_ps(val[t + u]), Bk + off[t + u] + ctab[crd[t + u]]);
    for (; t < ne; t++) ROW_FMA(0, _mm512_set1_ps(val[t]), Bk + off[t] + ctab[crd[t]]);
  }
  ROW_END(c);
}

#define NM_FNS(NV, FULL)                                                                                         \
  NOINLINE void nm2_##NV##_##FULL(const struct prod *p, const float *Bk, const float *val, const uint8_t *crd,   \
                                  int64_t ng, float *c, int load, __mmask16 ml) {                               \
    nm_row(p, Bk, val, crd, ng, c, load, ml, NV, FULL, 1);                                                       \
  }                                                                                                              \
  NOINLINE void nmx_##NV##_##FULL(const struct prod *p, const float *Bk, const float *val, const uint8_t *crd,   \
                                  int64_t ng, float *c, int load, __mmask16 ml) {                               \
    nm_row(p, Bk, val, crd, ng, c, load, ml, NV, FULL, 0);                                                       \
  }
NV_FULL(NM_FNS)
#define NM2(NV, FULL) nm2_##NV##_##FULL,
#define NMX(NV, FULL) nmx_##NV##_##FULL,
static const nm_fn nm_fns[2][8] = {{NV_FULL(NMX)}, {NV_FULL(NM2)}}; /* [N == 2][2 * (NV - 1) + FULL] */

/* vector v of nv of a panel row, the last one masked (for the rare paths: nv at run time) */
static inline __mmask16 lane_mask(int v, int nv, __mmask16 ml) { return v == nv - 1 ? ml : (__mmask16)0xFFFF; }

/* the last, partial group of an N:M row: entries [0, N) at columns kbase + crd, those < kvalid */
static void nm_tail_row(const float *B, int64_t ldb, const float *val, const uint8_t *crd, int64_t N, int64_t kbase,
                        int64_t kvalid, float *c, __mmask16 ml, int nv) {
  for (int v = 0; v < nv; v++) {
    const __mmask16 m = lane_mask(v, nv, ml);
    __m512 s = _mm512_maskz_loadu_ps(m, c + 16 * v);
    for (int64_t t = 0; t < N; t++) {
      const int64_t col = kbase + crd[t];
      if (col < kvalid) s = _mm512_fmadd_ps(_mm512_set1_ps(val[t]), _mm512_maskz_loadu_ps(m, B + col * ldb + 16 * v), s);
    }
    _mm512_mask_storeu_ps(c + 16 * v, m, s);
  }
}

/* VR rows of C (VR <= 4), one panel: the V:N:M entries of groups [0, ng) of a k block whose first B
 * row is Bk (entry t, values val[t * V + r]) */
typedef void (*vnm_fn)(const struct prod *p, const float *Bk, const float *val, const uint8_t *crd, int64_t ng,
                       float *c, int load, __mmask16 ml);

/* the accumulators of VR rows of C: loaded or zeroed without a branch (a branch here, or one in the
 * loop, makes gcc keep them in memory) */
#define ROWS_BEGIN(c, ldc, load)                                                                      \
  __m512 acc[4][4];                                                                                   \
  const __mmask16 lm_ = (load) ? 0xFFFF : 0;                                                          \
  UNROLL for (int r = 0; r < VR; r++)                                                                        \
    UNROLL for (int v = 0; v < NV; v++) acc[r][v] = _mm512_maskz_loadu_ps(v == NV - 1 ? lm_ & ml : lm_, (c) + r * (ldc) + 16 * v)
#define ROWS_FMA(vp, rs, br)                                                                          \
  do {                                                                                                \
    __m512 bv[4];                                                                                     \
    UNROLL for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(v == NV - 1 ? ml : 0xFFFF, (br) + 16 * v); \
    UNROLL for (int r = 0; r < VR; r++) {                                                                    \
      const __m512 s = _mm512_set1_ps((vp)[r * (rs)]);                                                \
      UNROLL for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(s, bv[v], acc[r][v]);                  \
    }                                                                                                 \
  } while (0)
#define ROWS_END(c, ldc) \
  UNROLL for (int r = 0; r < VR; r++)                                                                        \
    UNROLL for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps((c) + r * (ldc) + 16 * v, v == NV - 1 ? ml : 0xFFFF, acc[r][v])

INLINE void vnm_block(const struct prod *p, const float *Bk, const float *val, const uint8_t *crd, int64_t ng,
                      float *c, int load, __mmask16 ml, const int NV, const int VR) {
  const int64_t V = p->a->V, ne = ng * p->a->N, ldc = p->ldc;
  const int64_t *off = p->off, *ctab = p->ctab;
  ROWS_BEGIN(c, ldc, load);
  for (int64_t t = 0; t < ne; t++) ROWS_FMA(val + t * V, 1, Bk + off[t] + ctab[crd[t]]);
  ROWS_END(c, ldc);
}

/* the last, partial group of vr rows of a V:N:M block: entries [0, N) at columns kbase + crd, those < kvalid */
static void vnm_tail(const struct prod *p, const float *B, const float *val, const uint8_t *crd, int64_t kbase,
                     float *c, int vr, __mmask16 ml, int nv) {
  const int64_t V = p->a->V;
  for (int r = 0; r < vr; r++)
    for (int v = 0; v < nv; v++) {
      const __mmask16 m = lane_mask(v, nv, ml);
      float *o = c + r * p->ldc + 16 * v;
      __m512 s = _mm512_maskz_loadu_ps(m, o);
      for (int64_t t = 0; t < p->a->N; t++) {
        const int64_t col = kbase + crd[t];
        if (col < p->kvalid)
          s = _mm512_fmadd_ps(_mm512_set1_ps(val[t * V + r]), _mm512_maskz_loadu_ps(m, B + col * p->ldb + 16 * v), s);
      }
      _mm512_mask_storeu_ps(o, m, s);
    }
}

#define VNM_FNS(NV, VR)                                                                                      \
  NOINLINE void vnm_##NV##_##VR(const struct prod *p, const float *Bk, const float *val, const uint8_t *crd, \
                                int64_t ng, float *c, int load, __mmask16 ml) {                             \
    vnm_block(p, Bk, val, crd, ng, c, load, ml, NV, VR);                                                     \
  }
NV_VR(VNM_FNS)
#define VNM(NV, VR) vnm_##NV##_##VR,
static const vnm_fn vnm_fns[16] = {NV_VR(VNM)}; /* [4 * (NV - 1) + VR - 1] */

/* BSR: VR rows (VR <= 4) of block row br from row r0 of its blocks, one panel */
typedef void (*bsr_fn)(const struct prod *p, int64_t br, int64_t r0, int64_t j0, __mmask16 ml);

INLINE void bsr_block(const struct prod *p, int64_t br, int64_t r0, int64_t j0, __mmask16 ml, const int NV,
                      const int VR) {
  const struct sp *a = p->a;
  const int64_t R = a->R, C = a->C, ldb = p->ldb, ldc = p->ldc;
  const float *B = p->B + j0;
  float *c = p->C + (br * R + r0) * ldc + j0;
  ROWS_BEGIN(c, ldc, p->load);
  const int64_t k1 = ix(a->i0, br + 1, a->pos64);
  for (int64_t k = ix(a->i0, br, a->pos64); k < k1; k++) {
    const int64_t col0 = ix(a->i1, k, a->crd64) * C, ccn = min64(C, p->kvalid - col0);
    const float *vb = a->val + (k * R + r0) * C;
    for (int64_t cc = 0; cc < ccn; cc++) ROWS_FMA(vb + cc, C, B + (col0 + cc) * ldb);
  }
  ROWS_END(c, ldc);
}

#define BSR_FNS(NV, VR)                                                                     \
  NOINLINE void bsr_##NV##_##VR(const struct prod *p, int64_t br, int64_t r0, int64_t j0, __mmask16 ml) { \
    bsr_block(p, br, r0, j0, ml, NV, VR);                                                   \
  }
NV_VR(BSR_FNS)
#define BSR(NV, VR) bsr_##NV##_##VR,
static const bsr_fn bsr_fns[16] = {NV_VR(BSR)}; /* [4 * (NV - 1) + VR - 1] */

/* CSC: C rows [r0, r1) of one panel, scattered column by column */
INLINE void csc_rows(const struct prod *p, int64_t r0, int64_t r1, int64_t j0, __mmask16 ml, const int NV,
                     const int ck) {
  const struct sp *a = p->a;
  const int whole = r0 == 0 && r1 == a->rows, FULL = 0;
  if (!p->load)
    for (int64_t i = r0; i < r1; i++)
      UNROLL for (int v = 0; v < NV; v++) stv(p->C + i * p->ldc + j0, v, NV, FULL, ml, _mm512_setzero_ps());
  const int64_t cols = min64(a->cols, p->kvalid);
  for (int64_t jc = 0; jc < cols; jc++) {
    int64_t e0 = ix(a->i0, jc, a->pos64), e1 = ix(a->i0, jc + 1, a->pos64);
    if (!whole && e0 < e1) {
      e0 = lower_bound(a->i1, a->crd64, e0, e1, r0);
      e1 = lower_bound(a->i1, a->crd64, e0, e1, r1);
    }
    if (e0 == e1) continue;
    __m512 bv[4];
    UNROLL for (int v = 0; v < NV; v++) bv[v] = ldv(p->B + jc * p->ldb + j0, v, NV, FULL, ml);
    for (int64_t e = e0; e < e1; e++) {
      float *c = p->C + col_at(a->i1, e, ck) * p->ldc + j0;
      const __m512 s = _mm512_set1_ps(a->val[e]);
      UNROLL for (int v = 0; v < NV; v++) stv(c, v, NV, FULL, ml, _mm512_fmadd_ps(s, bv[v], ldv(c, v, NV, FULL, ml)));
    }
  }
}

#define CSC_FNS(NV, FULL)                                                                              \
  NOINLINE void csc32_##NV##_##FULL(const struct prod *p, int64_t r0, int64_t r1, int64_t j0, __mmask16 ml) { \
    csc_rows(p, r0, r1, j0, ml, NV, CK_U32);                                                          \
  }                                                                                                   \
  NOINLINE void csc64_##NV##_##FULL(const struct prod *p, int64_t r0, int64_t r1, int64_t j0, __mmask16 ml) { \
    csc_rows(p, r0, r1, j0, ml, NV, CK_U64);                                                          \
  }
NV_FULL(CSC_FNS)
#define CSC32(NV, FULL) csc32_##NV##_##FULL,
#define CSC64(NV, FULL) csc64_##NV##_##FULL,
typedef void (*csc_fn)(const struct prod *p, int64_t r0, int64_t r1, int64_t j0, __mmask16 ml);
static const csc_fn csc_fns[2][8] = {{NV_FULL(CSC32)}, {NV_FULL(CSC64)}};

/* the walks over rows (units) [u0, u1) of one panel */

/* a walk over the rows of a row-major kind (csr, coo, dcsr, ell) from row r0: where each row's
 * entries are and the coordinate buffer */
struct row_walk {
  int64_t k, kend, width;
  const void *crd;
};

INLINE struct row_walk row_walk_at(const struct sp *a, int64_t r0) {
  struct row_walk w = {0, 0, 0, a->i1};
  if (a->kind == K_COO || a->kind == K_DCSR) {
    w.kend = ix(a->i0, 1, a->pos64);
    w.k = lower_bound(a->i1, a->crd64, ix(a->i0, 0, a->pos64), w.kend, r0);
    w.crd = a->kind == K_COO ? a->i2 : a->i3;
  }
  if (a->kind == K_ELL) w.width = ix(a->i0, 0, a->pos64);
  return w;
}

/* the entries [*e0, *e1) of row i (rows visited in increasing order) */
INLINE void row_entries(const struct sp *a, struct row_walk *w, int64_t i, int64_t *e0, int64_t *e1) {
  *e0 = *e1 = 0;
  switch (a->kind) {
  case K_CSR:
    *e0 = ix(a->i0, i, a->pos64);
    *e1 = ix(a->i0, i + 1, a->pos64);
    break;
  case K_ELL:
    *e0 = i * w->width;
    *e1 = *e0 + w->width;
    break;
  case K_COO:
    *e0 = w->k;
    while (w->k < w->kend && ix(a->i1, w->k, a->crd64) == i) w->k++;
    *e1 = w->k;
    break;
  default: /* K_DCSR */
    if (w->k < w->kend && ix(a->i1, w->k, a->crd64) == i) {
      *e0 = ix(a->i2, w->k, a->pos64);
      *e1 = ix(a->i2, w->k + 1, a->pos64);
      w->k++;
    }
  }
}

/* csr, coo, dcsr, ell */
static void walk_rows(const struct prod *p, int64_t r0, int64_t r1, int64_t j0, __mmask16 ml, seg_fn row) {
  const struct sp *a = p->a;
  const float *B = p->B + j0;
  struct row_walk w = row_walk_at(a, r0);
  for (int64_t i = r0; i < r1; i++) {
    int64_t e0, e1;
    row_entries(a, &w, i, &e0, &e1);
    row(B, p->ldb, a->val, w.crd, e0, e1, p->C + i * p->ldc + j0, p->load, ml);
  }
}

/* N:M: in chunks of rows whose C stays in L1, k in blocks of B rows, so that each B row loaded
 * into L1 serves the whole chunk and the values stream in order */
static void nm_rows(const struct prod *p, int64_t r0, int64_t r1, int64_t j0, __mmask16 ml, int nv, nm_fn row) {
  const struct sp *a = p->a;
  const int64_t G = a->G, N = a->N, M = a->M, ldb = p->ldb, gfull = min64(G, p->kvalid / M);
  const int64_t chunk = max64(16, CHUNK_BYTES / (64 * nv));
  const uint8_t *crd = a->i0;
  const float *B = p->B + j0;
  for (int64_t rc = r0; rc < r1; rc += chunk) {
    const int64_t rc1 = min64(r1, rc + chunk);
    for (int64_t g0 = 0; g0 < G; g0 += p->kbg) {
      const int64_t g1 = min64(G, g0 + p->kbg), gf = max64(g0, min64(g1, gfull));
      const int load = p->load || g0 > 0;
      for (int64_t i = rc; i < rc1; i++) {
        float *c = p->C + i * p->ldc + j0;
        const int64_t e0 = (i * G + g0) * N;
        row(p, B + g0 * M * ldb, a->val + e0, crd + e0, gf - g0, c, load, ml);
        for (int64_t g = gf; g < g1; g++) {
          const int64_t e = (i * G + g) * N;
          nm_tail_row(B, ldb, a->val + e, crd + e, N, g * M, p->kvalid, c, ml, nv);
        }
      }
    }
  }
}

/* V:N:M: row blocks, 4 rows of C at a time */
static void vnm_rows(const struct prod *p, int64_t b0, int64_t b1, int64_t j0, __mmask16 ml, int nv) {
  const struct sp *a = p->a;
  const int64_t G = a->G, N = a->N, M = a->M, V = a->V, ldb = p->ldb, gfull = min64(G, p->kvalid / M);
  const int64_t chunk = max64(1, CHUNK_BYTES / (64 * nv) / V);
  const uint8_t *crd = a->i0;
  const float *B = p->B + j0;
  for (int64_t bc = b0; bc < b1; bc += chunk) {
    const int64_t bc1 = min64(b1, bc + chunk);
    for (int64_t g0 = 0; g0 < G; g0 += p->kbg) {
      const int64_t g1 = min64(G, g0 + p->kbg), gf = max64(g0, min64(g1, gfull));
      const int load = p->load || g0 > 0;
      for (int64_t rb = bc; rb < bc1; rb++) {
        const int64_t nr = min64(V, a->rows - rb * V), e0 = (rb * G + g0) * N;
        for (int64_t v0 = 0; v0 < nr; v0 += 4) {
          const vnm_fn block = vnm_fns[4 * (nv - 1) + min64(4, nr - v0) - 1];
          float *c = p->C + (rb * V + v0) * p->ldc + j0;
          const float *vals = a->val + v0;
          block(p, B + g0 * M * ldb, vals + e0 * V, crd + e0, gf - g0, c, load, ml);
          for (int64_t g = gf; g < g1; g++) {
            const int64_t e = (rb * G + g) * N;
            vnm_tail(p, B, vals + e * V, crd + e, g * M, c, (int)min64(4, nr - v0), ml, nv);
          }
        }
      }
    }
  }
}

static void bsr_rows(const struct prod *p, int64_t b0, int64_t b1, int64_t j0, __mmask16 ml, int nv) {
  const int64_t R = p->a->R;
  for (int64_t br = b0; br < b1; br++) {
    const int64_t nr = min64(R, p->a->rows - br * R);
    for (int64_t r0 = 0; r0 < nr; r0 += 4) bsr_fns[4 * (nv - 1) + min64(4, nr - r0) - 1](p, br, r0, j0, ml);
  }
}

static void product_fn(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end;
  struct prod *p = ctx;
  const struct sp *a = p->a;
  int64_t u0, u1;
  while (take_part(&p->split, &u0, &u1)) {
    for (int64_t j0 = 0; j0 < p->w; j0 += PANEL) {
      const int64_t wv = min64(PANEL, p->w - j0);
      const int nv = (int)cdiv(wv, 16), inst = 2 * (nv - 1) + (wv % 16 == 0);
      const __mmask16 ml = first_lanes(wv - 16 * (nv - 1));
      switch (a->kind) {
      case K_NM: nm_rows(p, u0, u1, j0, ml, nv, nm_fns[a->N == 2][inst]); break;
      case K_VNM: vnm_rows(p, u0, u1, j0, ml, nv); break;
      case K_BSR: bsr_rows(p, u0, u1, j0, ml, nv); break;
      case K_CSC: csc_fns[a->crd64][inst](p, u0, u1, j0, ml); break;
      default: walk_rows(p, u0, u1, j0, ml, seg_fns[a->crd64][inst]);
      }
    }
  }
}

static void product(struct prod *p) {
  const struct sp *a = p->a;
  if (a->kind == K_NM || a->kind == K_VNM) {
    const int64_t NV = cdiv(min64(p->w, PANEL), 16), M = a->M, N = max64(1, a->N);
    p->kbg = max64(1, min64(KBLOCK_BYTES / (64 * NV) / M, MAX_OFF / N));
    for (int64_t t = 0; t < p->kbg * N; t++) p->off[t] = t / N * M * p->ldb;
    for (int64_t x = 0; x < 256; x++) p->ctab[x] = x * p->ldb;
  }
  split_rows(a, (stored(a) + a->rows) * p->w, &p->split);
  run_split(&p->split, product_fn, p);
}

/* ---------------------------------------------------------------------------
 * SpMV (n = 1, either mode): c[i] = (load ? c[i] : 0) + bias[i] + A[i, :] . b
 * ------------------------------------------------------------------------ */

INLINE float out_base(const struct prod *p, int64_t i) {
  return (p->load ? p->C[i] : 0.0f) + (p->bias ? p->bias[i] : 0.0f);
}

/* val[e0:e1] . b[crd[e0:e1]] (vgatherdps; uint64 coordinates: vgatherqps) */
INLINE float dot_seg(const float *val, const void *crd, const int ck, const float *b, int64_t e0, int64_t e1) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t e = e0;
  if (ck == CK_U32) {
    const uint32_t *ci = crd;
    for (; e + 32 <= e1; e += 32) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(val + e),
                           _mm512_i32gather_ps(_mm512_loadu_si512(ci + e), b, 4), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(val + e + 16),
                           _mm512_i32gather_ps(_mm512_loadu_si512(ci + e + 16), b, 4), a1);
    }
    for (; e < e1; e += 16) {
      const __mmask16 m = first_lanes(e1 - e);
      const __m512 g = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_maskz_loadu_epi32(m, ci + e), b, 4);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, val + e), g, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  }
  const uint64_t *ci = crd;
  __m256 h0 = _mm256_setzero_ps(), h1 = _mm256_setzero_ps();
  for (; e + 16 <= e1; e += 16) {
    h0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + e), _mm512_i64gather_ps(_mm512_loadu_si512(ci + e), b, 4), h0);
    h1 = _mm256_fmadd_ps(_mm256_loadu_ps(val + e + 8), _mm512_i64gather_ps(_mm512_loadu_si512(ci + e + 8), b, 4), h1);
  }
  for (; e < e1; e += 8) {
    const __mmask8 m = (__mmask8)first_lanes(e1 - e);
    const __m256 g = _mm512_mask_i64gather_ps(_mm256_setzero_ps(), m, _mm512_maskz_loadu_epi64(m, ci + e), b, 4);
    h0 = _mm256_fmadd_ps(_mm256_maskz_loadu_ps(m, val + e), g, h0);
  }
  __m256 h = _mm256_add_ps(h0, h1);
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

INLINE void spmv_walk(const struct prod *p, int64_t r0, int64_t r1, const int ck) {
  const struct sp *a = p->a;
  struct row_walk w = row_walk_at(a, r0);
  for (int64_t i = r0; i < r1; i++) {
    int64_t e0, e1;
    row_entries(a, &w, i, &e0, &e1);
    p->C[i] = out_base(p, i) + dot_seg(a->val, w.crd, ck, p->B, e0, e1);
  }
}

/* 16 entries of an N:M row from entry t (a multiple of 16; 16 % N == 0) with in-group indices cr,
 * times the b values they select: b[t / N * M + pattern + cr] for the lanes of m. The 16 entries
 * span W = 16 / N * M values of b: for W <= 64 they are picked from registers (vpermt2ps), else
 * gathered. Lanes of b at or past kvalid are never selected (the caller stops at the full groups). */
INLINE __m512 nm_dot16(const float *v, const uint8_t *cr, const float *b, int64_t t, int64_t N, int64_t M,
                       int64_t kvalid, __m512i pattern, __mmask16 m, const int W) {
  const __m512i ii = _mm512_add_epi32(pattern, _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, cr + t)));
  const int64_t base = t / N * M;
  __m512 xs;
  if (W <= 64) {
    const float *x = b + base;
    const int64_t left = kvalid - base;
    xs = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(first_lanes(left), x), ii,
                                _mm512_maskz_loadu_ps(first_lanes(left - 16), x + 16));
    if (W > 32) {
      const __m512 hi = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(first_lanes(left - 32), x + 32), ii,
                                               _mm512_maskz_loadu_ps(first_lanes(left - 48), x + 48));
      xs = _mm512_mask_blend_ps(_mm512_test_epi32_mask(ii, _mm512_set1_epi32(32)), xs, hi);
    }
  } else {
    xs = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, ii, b + base, 4);
  }
  return _mm512_mul_ps(_mm512_maskz_loadu_ps(m, v + t), xs);
}

INLINE float nm_dot_row(const float *v, const uint8_t *cr, const float *b, int64_t T, int64_t N, int64_t M,
                        int64_t kvalid, __m512i pattern, const int W) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t t = 0;
  for (; t + 32 <= T; t += 32) {
    a0 = _mm512_add_ps(a0, nm_dot16(v, cr, b, t, N, M, kvalid, pattern, 0xFFFF, W));
    a1 = _mm512_add_ps(a1, nm_dot16(v, cr, b, t + 16, N, M, kvalid, pattern, 0xFFFF, W));
  }
  for (; t < T; t += 16) a0 = _mm512_add_ps(a0, nm_dot16(v, cr, b, t, N, M, kvalid, pattern, first_lanes(T - t), W));
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static void spmv_nm(const struct prod *p, int64_t r0, int64_t r1) {
  const struct sp *a = p->a;
  const int64_t G = a->G, N = a->N, M = a->M, gfull = min64(G, p->kvalid / M), T = gfull * N;
  const uint8_t *crd = a->i0;
  const float *b = p->B;
  const int vec = N > 0 && 16 % N == 0;
  const int64_t W = vec ? 16 / N * M : 0;
  int32_t pat[16];
  UNROLL for (int l = 0; l < 16; l++) pat[l] = vec ? (int32_t)(l / N * M) : 0;
  const __m512i pattern = _mm512_loadu_si512(pat);
  for (int64_t i = r0; i < r1; i++) {
    const int64_t base = i * G * N;
    const float *v = a->val + base;
    const uint8_t *cr = crd + base;
    float s = 0.0f;
    if (vec && W <= 32) s = nm_dot_row(v, cr, b, T, N, M, p->kvalid, pattern, 32);
    else if (vec && W <= 64) s = nm_dot_row(v, cr, b, T, N, M, p->kvalid, pattern, 64);
    else if (vec) s = nm_dot_row(v, cr, b, T, N, M, p->kvalid, pattern, 0x7FFFFFFF);
    else {
      float s4[4] = {0, 0, 0, 0};
      for (int64_t g = 0; g < gfull; g++)
        for (int64_t t = 0; t < N; t++) s4[t & 3] += v[g * N + t] * b[g * M + cr[g * N + t]];
      s = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    }
    for (int64_t g = gfull; g < G; g++)
      for (int64_t t = 0; t < N; t++) {
        const int64_t col = g * M + cr[g * N + t];
        if (col < p->kvalid) s += v[g * N + t] * b[col];
      }
    p->C[i] = out_base(p, i) + s;
  }
}

/* V:N:M: the V rows of a block are the lanes of a vector (16 at a time) */
static void spmv_vnm(const struct prod *p, int64_t b0, int64_t b1) {
  const struct sp *a = p->a;
  const int64_t G = a->G, N = a->N, M = a->M, V = a->V, E = G * N, gfull = min64(G, p->kvalid / M);
  const uint8_t *crd = a->i0;
  const float *b = p->B;
  for (int64_t rb = b0; rb < b1; rb++) {
    const int64_t nr = min64(V, a->rows - rb * V), base = rb * E;
    for (int64_t v0 = 0; v0 < nr; v0 += 16) {
      const __mmask16 m = first_lanes(nr - v0);
      __m512 acc[4];
      UNROLL for (int u = 0; u < 4; u++) acc[u] = _mm512_setzero_ps();
      const float *vals = a->val + base * V + v0;
      const uint8_t *cr = crd + base;
      /* entry e = g * N + t, at column g * M + cr[e]; the full groups first, four entries at a time */
      int64_t e = 0, g = 0, t = 0;
      for (; e + 4 <= gfull * N; e += 4)
        UNROLL for (int u = 0; u < 4; u++) {
          acc[u] = _mm512_fmadd_ps(_mm512_set1_ps(b[g * M + cr[e + u]]), _mm512_maskz_loadu_ps(m, vals + (e + u) * V),
                                   acc[u]);
          if (++t == N) t = 0, g++;
        }
      for (; e < E; e++) {
        const int64_t col = g * M + cr[e];
        if (col < p->kvalid)
          acc[0] = _mm512_fmadd_ps(_mm512_set1_ps(b[col]), _mm512_maskz_loadu_ps(m, vals + e * V), acc[0]);
        if (++t == N) t = 0, g++;
      }
      const int64_t i0 = rb * V + v0;
      __m512 o = _mm512_maskz_loadu_ps(m, p->C + i0);
      if (!p->load) o = _mm512_setzero_ps();
      if (p->bias) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(m, p->bias + i0));
      o = _mm512_add_ps(o, _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
      _mm512_mask_storeu_ps(p->C + i0, m, o);
    }
  }
}

/* BSR: a block of R * C <= 16 values is one vector, times b's C values repeated R times */
INLINE void spmv_bsr(const struct prod *p, int64_t b0, int64_t b1, const int ck) {
  const struct sp *a = p->a;
  const int64_t R = a->R, C = a->C;
  const float *b = p->B;
  if (R * C <= 16) {
    int32_t rep[16];
    UNROLL for (int l = 0; l < 16; l++) rep[l] = (int32_t)(l % C);
    const __m512i ri = _mm512_loadu_si512(rep);
    const __mmask16 vm = first_lanes(R * C);
    for (int64_t br = b0; br < b1; br++) {
      __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
      const int64_t k0 = ix(a->i0, br, a->pos64), k1 = ix(a->i0, br + 1, a->pos64);
      for (int64_t k = k0; k < k1; k++) {
        const int64_t col0 = col_at(a->i1, k, ck) * C;
        const __m512 xs = _mm512_maskz_loadu_ps(first_lanes(min64(C, p->kvalid - col0)), b + col0);
        const __m512 prod = _mm512_mul_ps(_mm512_maskz_loadu_ps(vm, a->val + k * R * C), _mm512_permutexvar_ps(ri, xs));
        if ((k - k0) & 1) a1 = _mm512_add_ps(a1, prod);
        else a0 = _mm512_add_ps(a0, prod);
      }
      float t[16];
      _mm512_storeu_ps(t, _mm512_add_ps(a0, a1));
      const int64_t nr = min64(R, a->rows - br * R);
      for (int64_t r = 0; r < nr; r++) {
        float s = 0.0f;
        for (int64_t cc = 0; cc < C; cc++) s += t[r * C + cc];
        p->C[br * R + r] = out_base(p, br * R + r) + s;
      }
    }
    return;
  }
  for (int64_t br = b0; br < b1; br++) {
    const int64_t nr = min64(R, a->rows - br * R);
    const int64_t k0 = ix(a->i0, br, a->pos64), k1 = ix(a->i0, br + 1, a->pos64);
    for (int64_t r0 = 0; r0 < nr; r0 += 8) {
      const int64_t rr = min64(8, nr - r0);
      __m512 acc[8];
      UNROLL for (int r = 0; r < 8; r++) acc[r] = _mm512_setzero_ps();
      for (int64_t k = k0; k < k1; k++) {
        const int64_t col0 = col_at(a->i1, k, ck) * C;
        for (int64_t cv = 0; cv < C; cv += 16) {
          const __mmask16 m = first_lanes(min64(C - cv, p->kvalid - col0 - cv));
          if (!m) break;
          const __m512 xs = _mm512_maskz_loadu_ps(m, b + col0 + cv);
          const float *vb = a->val + (k * R + r0) * C + cv;
          UNROLL for (int r = 0; r < 8; r++)
            if (r < rr) acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, vb + r * C), xs, acc[r]);
        }
      }
      UNROLL for (int r = 0; r < 8; r++) {
        if (r >= rr) continue;
        const int64_t i = br * R + r0 + r;
        p->C[i] = out_base(p, i) + _mm512_reduce_add_ps(acc[r]);
      }
    }
  }
}

INLINE void spmv_csc(const struct prod *p, int64_t r0, int64_t r1, const int ck) {
  const struct sp *a = p->a;
  const int whole = r0 == 0 && r1 == a->rows;
  for (int64_t i = r0; i < r1; i++) p->C[i] = out_base(p, i);
  for (int64_t jc = 0; jc < a->cols; jc++) {
    int64_t e0 = ix(a->i0, jc, a->pos64), e1 = ix(a->i0, jc + 1, a->pos64);
    if (!whole && e0 < e1) {
      e0 = lower_bound(a->i1, a->crd64, e0, e1, r0);
      e1 = lower_bound(a->i1, a->crd64, e0, e1, r1);
    }
    const float x = p->B[jc];
    for (int64_t e = e0; e < e1; e++) p->C[col_at(a->i1, e, ck)] += a->val[e] * x;
  }
}

static void spmv_fn(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end;
  struct prod *p = ctx;
  const int crd64 = p->a->crd64;
  int64_t u0, u1;
  while (take_part(&p->split, &u0, &u1)) {
    switch (p->a->kind) {
    case K_NM: spmv_nm(p, u0, u1); break;
    case K_VNM: spmv_vnm(p, u0, u1); break;
    case K_BSR: crd64 ? spmv_bsr(p, u0, u1, CK_U64) : spmv_bsr(p, u0, u1, CK_U32); break;
    case K_CSC: crd64 ? spmv_csc(p, u0, u1, CK_U64) : spmv_csc(p, u0, u1, CK_U32); break;
    default: crd64 ? spmv_walk(p, u0, u1, CK_U64) : spmv_walk(p, u0, u1, CK_U32);
    }
  }
}

/* ---------------------------------------------------------------------------
 * transposes (mode 1, SDDMM): 16x16 blocks in registers
 * ------------------------------------------------------------------------ */

/* r[i][j] -> r[j][i]: four rounds that swap the off-diagonal b x b blocks of
 * each 2b x 2b block, b = 8, 4, 2, 1 */
INLINE void transpose16(__m512 r[16]) {
  UNROLL for (int s = 0; s < 4; s++) {
    const int b = 8 >> s;
    int32_t lo[16], hi[16];
    UNROLL for (int j = 0; j < 16; j++) {
      lo[j] = (j & b) ? 16 + j - b : j;
      hi[j] = (j & b) ? 16 + j : j + b;
    }
    const __m512i li = _mm512_loadu_si512(lo), hv = _mm512_loadu_si512(hi);
    UNROLL for (int i = 0; i < 16; i++) {
      if (i & b) continue;
      const __m512 x = r[i], y = r[i + b];
      r[i] = _mm512_permutex2var_ps(x, li, y);
      r[i + b] = _mm512_permutex2var_ps(x, hv, y);
    }
  }
}

/* dst[j][i] = src[i][j] (+ bias[i]) (+ dst[j][i]) for i < nr, j < nc; dst rows j in [nc, ncz) and lanes
 * i in [nr, nrz) are written as zeros. Work: blocks of 16 rows of dst. */
struct transpose {
  const float *src;
  int64_t lds, nr, nc;
  float *dst;
  int64_t ldd, nrz, ncz;
  const float *bias;
  int acc;
};

static void transpose_fn(void *ctx, int64_t begin, int64_t end) {
  const struct transpose *t = ctx;
  for (int64_t jb = begin; jb < end; jb++) {
    const int64_t j0 = jb * 16;
    const __mmask16 mj = first_lanes(t->nc - j0);
    for (int64_t i0 = 0; i0 < t->nrz; i0 += 16) {
      __m512 r[16];
      UNROLL for (int i = 0; i < 16; i++)
        r[i] = i0 + i < t->nr ? _mm512_maskz_loadu_ps(mj, t->src + (i0 + i) * t->lds + j0) : _mm512_setzero_ps();
      transpose16(r);
      const __mmask16 mi = first_lanes(t->nrz - i0), mv = first_lanes(t->nr - i0);
      const __m512 bv = t->bias ? _mm512_maskz_loadu_ps(mv, t->bias + i0) : _mm512_setzero_ps();
      UNROLL for (int j = 0; j < 16; j++) {
        if (j0 + j >= t->ncz) continue;
        float *d = t->dst + (j0 + j) * t->ldd + i0;
        __m512 x = r[j];
        if (j0 + j < t->nc) {
          if (t->bias) x = _mm512_add_ps(x, bv);
          if (t->acc) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mv, d));
        }
        _mm512_mask_storeu_ps(d, mi, x);
      }
    }
  }
}

static void transpose(struct transpose *t) {
  const int64_t blocks = cdiv(t->ncz, 16);
  sparcc_rt_parallel_for(blocks, max64(1, (1 << 14) / max64(1, t->nrz * 16)), transpose_fn, t);
}

/* ---------------------------------------------------------------------------
 * entry points
 * ------------------------------------------------------------------------ */

struct copy_rows {
  const float *src;
  int64_t lds;
  float *dst;
  int64_t ldd, w;
};

static void copy_rows_fn(void *ctx, int64_t begin, int64_t end) {
  const struct copy_rows *t = ctx;
  for (int64_t r = begin; r < end; r++) memcpy(t->dst + r * t->ldd, t->src + r * t->lds, (size_t)t->w * sizeof(float));
}

static void *scratch(int64_t floats) {
  void *p = aligned_alloc(64, (size_t)round_up(max64(floats, 16) * (int64_t)sizeof(float), 64));
  if (!p) abort();
  return p;
}

static void sp_run(const struct sp *a, int64_t mode, int64_t n, const float *b, const float *bias, float *c,
                   int64_t flags) {
  const int acc = (flags & F_ACC) != 0;
  bias = mode == 1 && (flags & F_BIAS) ? bias : NULL;
  if (a->rows <= 0 || n <= 0) return;
  if (a->cols <= 0) {
    no_columns(a, mode, n, bias, c, acc);
    return;
  }
  struct prod *p = scratch((int64_t)(sizeof(struct prod) + 3) / 4);
  memset(p, 0, sizeof *p);
  p->a = a;
  if (n == 1) { /* both modes: c[i] = A[i, :] . b */
    p->B = b, p->C = c, p->w = 1, p->kvalid = a->cols, p->load = acc, p->bias = bias;
    split_rows(a, stored(a) + a->rows, &p->split);
    run_split(&p->split, spmv_fn, p);
  } else if (mode == 0) {
    p->B = b, p->ldb = n, p->C = c, p->ldc = n, p->w = n, p->kvalid = a->cols, p->load = acc;
    float *bp = NULL;
    if ((((uintptr_t)b & 63) || n % 16) && a->kind != K_CSC && stored(a) >= a->cols) {
      /* rows of b that straddle cache lines cost two loads per vector (up to 2x for SpMM): copied
       * once into 64-byte aligned rows, when b's rows are read more than once on average */
      const int64_t np = round_up(n, 16);
      bp = scratch(a->cols * np);
      struct copy_rows cp = {.src = b, .lds = n, .dst = bp, .ldd = np, .w = n};
      sparcc_rt_parallel_for(a->cols, max64(1, (1 << 14) / n), copy_rows_fn, &cp);
      p->B = bp, p->ldb = np;
    }
    product(p);
    free(bp);
  } else { /* C^T = A @ x^T in scratch, then transposed into c */
    const int64_t np = round_up(n, 16), kp = padded_cols(a);
    float *xt = scratch(kp * np), *ct = scratch(a->rows * np);
    struct transpose in = {.src = b, .lds = a->cols, .nr = n, .nc = a->cols, .dst = xt, .ldd = np, .nrz = np, .ncz = kp};
    transpose(&in);
    p->B = xt, p->ldb = np, p->C = ct, p->ldc = np, p->w = n, p->kvalid = kp, p->load = 0;
    product(p);
    struct transpose out = {.src = ct, .lds = np, .nr = a->rows, .nc = n, .dst = c, .ldd = a->rows,
                            .nrz = a->rows, .ncz = n, .bias = bias, .acc = acc};
    transpose(&out);
    free(xt);
    free(ct);
  }
  free(p);
}

/* SDDMM */
struct sddmm {
  const struct sp *a;
  int64_t k;
  const float *sval, *a1, *a2, *a2t; /* a2t [cols x k] (or NULL: a2 read with stride cols) */
  float *out;
  float alpha, beta;
  struct split split;
};

INLINE void sddmm_rows(const struct sddmm *s, int64_t r0, int64_t r1, const int ck) {
  const struct sp *a = s->a;
  const int64_t k = s->k;
  for (int64_t i = r0; i < r1; i++) {
    const float *x = s->a1 + i * k;
    const int64_t e1 = ix(a->i0, i + 1, a->pos64);
    for (int64_t e = ix(a->i0, i, a->pos64); e < e1; e++) {
      const int64_t j = col_at(a->i1, e, ck);
      float d;
      if (s->a2t) {
        const float *y = s->a2t + j * k;
        __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
        int64_t t = 0;
        for (; t + 32 <= k; t += 32) {
          d0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + t), _mm512_loadu_ps(y + t), d0);
          d1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + t + 16), _mm512_loadu_ps(y + t + 16), d1);
        }
        for (; t < k; t += 16) {
          const __mmask16 m = first_lanes(k - t);
          d0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + t), _mm512_maskz_loadu_ps(m, y + t), d0);
        }
        d = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
      } else {
        d = 0.0f;
        for (int64_t t = 0; t < k; t++) d += x[t] * s->a2[t * a->cols + j];
      }
      s->out[e] = s->beta != 0.0f ? s->alpha * d + s->beta * s->sval[e] : s->alpha * d;
    }
  }
}

static void sddmm_fn(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end;
  struct sddmm *s = ctx;
  int64_t r0, r1;
  while (take_part(&s->split, &r0, &r1)) {
    if (s->a->crd64) sddmm_rows(s, r0, r1, CK_U64);
    else sddmm_rows(s, r0, r1, CK_U32);
  }
}

EXPORT void sparcc_sddmm_csr(int64_t rows, int64_t cols, int64_t k, const void *pos, const void *crd,
                             const float *sval, const float *a1, const float *a2, float *out, double alpha,
                             double beta, int64_t flags) {
  if (rows <= 0) return;
  const struct sp a = make_sp(K_CSR, rows, cols, pos, crd, NULL, NULL, NULL, 0, 0, 0, flags);
  struct sddmm *s = scratch((int64_t)(sizeof(struct sddmm) + 3) / 4);
  memset(s, 0, sizeof *s);
  s->a = &a, s->k = max64(k, 0), s->sval = sval, s->a1 = a1, s->a2 = a2, s->out = out;
  s->alpha = (float)alpha, s->beta = (float)beta;
  const int64_t nnz = stored(&a);
  float *a2t = NULL;
  if (k > 0 && nnz >= cols / 4) { /* transposing a2 pays when most of its columns are read */
    a2t = scratch(cols * k);
    struct transpose t = {.src = a2, .lds = cols, .nr = k, .nc = cols, .dst = a2t, .ldd = k, .nrz = k, .ncz = cols};
    transpose(&t);
    s->a2t = a2t;
  }
  split_rows(&a, (nnz + rows) * max64(k, 1), &s->split);
  run_split(&s->split, sddmm_fn, s);
  free(a2t);
  free(s);
}

#else /* no AVX-512: the same kernels; row-major kinds row by row on the threads, CSC and COO one entry at a time */

/* out (+)= A @ b (mode 0) or b @ A^T (mode 1), visiting every stored entry in bounds */
struct sop {
  int64_t mode, n, rows, cols;
  const float *b;
  float *c;
};

static inline void add_entry(const struct sop *o, int64_t i, int64_t j, float v) {
  if (i >= o->rows || j >= o->cols) return;
  if (o->mode == 0)
    for (int64_t m = 0; m < o->n; m++) o->c[i * o->n + m] += v * o->b[j * o->n + m];
  else
    for (int64_t m = 0; m < o->n; m++) o->c[m * o->rows + i] += v * o->b[m * o->cols + j];
}

static void visit(const struct sp *a, const struct sop *o) {
  const int p64 = a->pos64, c64 = a->crd64;
  switch (a->kind) {
  case K_CSR:
    for (int64_t i = 0; i < a->rows; i++)
      for (int64_t e = ix(a->i0, i, p64); e < ix(a->i0, i + 1, p64); e++)
        add_entry(o, i, ix(a->i1, e, c64), a->val[e]);
    break;
  case K_CSC:
    for (int64_t j = 0; j < a->cols; j++)
      for (int64_t e = ix(a->i0, j, p64); e < ix(a->i0, j + 1, p64); e++)
        add_entry(o, ix(a->i1, e, c64), j, a->val[e]);
    break;
  case K_COO:
    for (int64_t e = ix(a->i0, 0, p64); e < ix(a->i0, 1, p64); e++)
      add_entry(o, ix(a->i1, e, c64), ix(a->i2, e, c64), a->val[e]);
    break;
  case K_DCSR:
    for (int64_t k = ix(a->i0, 0, p64); k < ix(a->i0, 1, p64); k++)
      for (int64_t e = ix(a->i2, k, p64); e < ix(a->i2, k + 1, p64); e++)
        add_entry(o, ix(a->i1, k, c64), ix(a->i3, e, c64), a->val[e]);
    break;
  case K_ELL: {
    const int64_t w = ix(a->i0, 0, p64);
    for (int64_t i = 0; i < a->rows; i++)
      for (int64_t e = i * w; e < (i + 1) * w; e++) add_entry(o, i, ix(a->i1, e, c64), a->val[e]);
    break;
  }
  case K_BSR:
    for (int64_t br = 0; br < cdiv(a->rows, a->R); br++)
      for (int64_t k = ix(a->i0, br, p64); k < ix(a->i0, br + 1, p64); k++)
        for (int64_t r = 0; r < a->R; r++)
          for (int64_t cc = 0; cc < a->C; cc++)
            add_entry(o, br * a->R + r, ix(a->i1, k, c64) * a->C + cc, a->val[(k * a->R + r) * a->C + cc]);
    break;
  case K_NM: {
    const uint8_t *crd = a->i0;
    for (int64_t i = 0; i < a->rows; i++)
      for (int64_t g = 0; g < a->G; g++)
        for (int64_t t = 0; t < a->N; t++) {
          const int64_t e = (i * a->G + g) * a->N + t;
          add_entry(o, i, g * a->M + crd[e], a->val[e]);
        }
    break;
  }
  default: { /* K_VNM */
    const uint8_t *crd = a->i0;
    for (int64_t rb = 0; rb < cdiv(a->rows, a->V); rb++)
      for (int64_t g = 0; g < a->G; g++)
        for (int64_t t = 0; t < a->N; t++) {
          const int64_t e = (rb * a->G + g) * a->N + t;
          for (int64_t v = 0; v < a->V; v++) add_entry(o, rb * a->V + v, g * a->M + crd[e], a->val[e * a->V + v]);
        }
  }
  }
}

/* The row-major kinds, one output row (or stored row, DCSR) at a time, rows
 * split among the threads: out_row[0..n) += v * src[j * n ..] for each of
 * the row's entries in bounds, where out_row is c's row i (mode 0) or a
 * per-thread accumulator written to c's column i at the end (mode 1), and
 * src is b (mode 0) or b transposed once per call (mode 1), so that every
 * entry costs one contiguous multiply-add over n (vectorised by the
 * compiler) instead of n strided ones. The same sums in the same order
 * whatever the thread count. */
struct rows_op {
  const struct sp *a;
  int64_t mode, n;
  const float *src; /* [cols][n] */
  float *c;
  int64_t first; /* DCSR: the first stored row */
};

static inline void axpy(float *restrict dst, const float *restrict src, float v, int64_t n) {
  for (int64_t m = 0; m < n; m++) dst[m] += v * src[m];
}

static void row_entries(const struct sp *a, int64_t i, int64_t unit, const float *src, int64_t n, float *dst) {
  const int p64 = a->pos64, c64 = a->crd64;
  const int64_t cols = a->cols;
  float one = 0.0f; /* n = 1: a dot product, summed in a register */
#define ENTRY(J, V)                        \
  do {                                     \
    const int64_t j_ = (J);                \
    if (j_ < cols) {                       \
      if (n == 1)                          \
        one += (V) * src[j_];              \
      else                                 \
        axpy(dst, src + j_ * n, (V), n);   \
    }                                      \
  } while (0)
  switch (a->kind) {
  case K_CSR:
    for (int64_t e = ix(a->i0, i, p64); e < ix(a->i0, i + 1, p64); e++) ENTRY(ix(a->i1, e, c64), a->val[e]);
    break;
  case K_DCSR:
    for (int64_t e = ix(a->i2, unit, p64); e < ix(a->i2, unit + 1, p64); e++) ENTRY(ix(a->i3, e, c64), a->val[e]);
    break;
  case K_ELL: {
    const int64_t w = ix(a->i0, 0, p64);
    for (int64_t e = i * w; e < (i + 1) * w; e++) ENTRY(ix(a->i1, e, c64), a->val[e]);
    break;
  }
  case K_BSR: {
    const int64_t br = i / a->R, r = i % a->R;
    for (int64_t k = ix(a->i0, br, p64); k < ix(a->i0, br + 1, p64); k++)
      for (int64_t cc = 0; cc < a->C; cc++) ENTRY(ix(a->i1, k, c64) * a->C + cc, a->val[(k * a->R + r) * a->C + cc]);
    break;
  }
  case K_NM: {
    const uint8_t *crd = a->i0;
    for (int64_t g = 0; g < a->G; g++)
      for (int64_t t = 0; t < a->N; t++) {
        const int64_t e = (i * a->G + g) * a->N + t;
        ENTRY(g * a->M + crd[e], a->val[e]);
      }
    break;
  }
  default: { /* K_VNM */
    const uint8_t *crd = a->i0;
    const int64_t rb = i / a->V, v = i % a->V;
    for (int64_t g = 0; g < a->G; g++)
      for (int64_t t = 0; t < a->N; t++) {
        const int64_t e = (rb * a->G + g) * a->N + t;
        ENTRY(g * a->M + crd[e], a->val[e * a->V + v]);
      }
  }
  }
#undef ENTRY
  if (n == 1) dst[0] += one;
}

static void rows_fn(void *ctx, int64_t begin, int64_t end) {
  const struct rows_op *o = ctx;
  const struct sp *a = o->a;
  float *acc = o->mode == 1 ? calloc((size_t)o->n, sizeof(float)) : NULL;
  if (o->mode == 1 && !acc) abort();
  for (int64_t u = begin + o->first; u < end + o->first; u++) {
    const int64_t i = a->kind == K_DCSR ? ix(a->i1, u, a->crd64) : u;
    if (i >= a->rows) continue;
    if (o->mode == 0) {
      row_entries(a, i, u, o->src, o->n, o->c + i * o->n);
      continue;
    }
    memset(acc, 0, (size_t)o->n * sizeof(float));
    row_entries(a, i, u, o->src, o->n, acc);
    for (int64_t m = 0; m < o->n; m++) o->c[m * a->rows + i] += acc[m];
  }
  free(acc);
}

static void sp_run(const struct sp *a, int64_t mode, int64_t n, const float *b, const float *bias, float *c,
                   int64_t flags) {
  const int acc = (flags & F_ACC) != 0;
  bias = mode == 1 && (flags & F_BIAS) ? bias : NULL;
  if (a->rows <= 0 || n <= 0) return;
  if (!acc) memset(c, 0, (size_t)(a->rows * n) * sizeof(float));
  if (a->cols > 0 && a->kind != K_CSC && a->kind != K_COO) {
    float *bt = NULL;
    if (mode == 1 && n > 1) { /* b [n][cols] -> [cols][n] */
      bt = malloc((size_t)(a->cols * n) * sizeof(float));
      if (!bt) abort();
      for (int64_t m = 0; m < n; m++)
        for (int64_t j = 0; j < a->cols; j++) bt[j * n + m] = b[m * a->cols + j];
    }
    const int64_t first = a->kind == K_DCSR ? ix(a->i0, 0, a->pos64) : 0;
    const int64_t units = a->kind == K_DCSR ? ix(a->i0, 1, a->pos64) - first : a->rows;
    struct rows_op o = {.a = a, .mode = mode, .n = n, .src = bt ? bt : b, .c = c, .first = first};
    sparcc_rt_parallel_for(units, max64(1, (1 << 12) / max64(1, n)), rows_fn, &o);
    free(bt);
  } else if (a->cols > 0) {
    struct sop o = {.mode = mode, .n = n, .rows = a->rows, .cols = a->cols, .b = b, .c = c};
    visit(a, &o);
  }
  if (bias) no_columns(a, 1, n, bias, c, 1);
}

EXPORT void sparcc_sddmm_csr(int64_t rows, int64_t cols, int64_t k, const void *pos, const void *crd,
                             const float *sval, const float *a1, const float *a2, float *out, double alpha,
                             double beta, int64_t flags) {
  const int p64 = (flags & F_POS64) != 0, c64 = (flags & F_CRD64) != 0;
  for (int64_t i = 0; i < rows; i++)
    for (int64_t e = ix(pos, i, p64); e < ix(pos, i + 1, p64); e++) {
      const int64_t j = ix(crd, e, c64);
      float d = 0.0f;
      for (int64_t t = 0; t < k; t++) d += a1[i * k + t] * a2[t * cols + j];
      out[e] = beta != 0.0 ? (float)alpha * d + (float)beta * sval[e] : (float)alpha * d;
    }
}

#endif

#define SP_ENTRY(NAME, KIND)                                                                                     \
  EXPORT void sparcc_sp_##NAME(int64_t mode, int64_t rows, int64_t cols, int64_t n, const void *i0,             \
                               const void *i1, const void *i2, const void *i3, const float *val, const float *b, \
                               const float *bias, float *c, int64_t p0, int64_t p1, int64_t p2, int64_t flags) { \
    const struct sp a = make_sp(KIND, rows, cols, i0, i1, i2, i3, val, p0, p1, p2, flags);                       \
    sp_run(&a, mode, n, b, bias, c, flags);                                                                      \
  }

SP_ENTRY(csr, K_CSR)
SP_ENTRY(csc, K_CSC)
SP_ENTRY(coo, K_COO)
SP_ENTRY(dcsr, K_DCSR)
SP_ENTRY(ell, K_ELL)
SP_ENTRY(bsr, K_BSR)
SP_ENTRY(nm, K_NM)
SP_ENTRY(vnm, K_VNM)
