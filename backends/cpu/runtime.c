/*
 * sparcc's parallel runtime.
 *
 * MLIR lowers scf.parallel through the OpenMP dialect to calls into the LLVM
 * OpenMP runtime API (__kmpc_fork_call, __kmpc_for_static_init_*, ...).
 * sparcc renames those calls to sparcc_kmpc_* in the LLVM IR it emits, and
 * this file implements that small subset over one persistent pool of
 * pthreads per process. Owning the runtime means no libomp has to be
 * installed, no clash with the libgomp that PyTorch loads, and a wait policy
 * chosen for sparcc: workers spin briefly between parallel regions (a model
 * forks once per large op, microseconds apart), then sleep on a futex
 * (woken by a system call only when one sleeps).
 *
 * Threads: SPARCC_NUM_THREADS, read at the first parallel region, or
 * sparcc_rt_set_num_threads(); default: the CPUs this process may run on.
 * A parallel region entered while another runs (a nested region, or a second
 * caller thread) runs serially on its caller, which is always correct.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_THREADS 255 /* the team size shares a word with the sequence number */
#define MAX_ARGS 16
#define SPIN_ROUNDS 20000 /* pause instructions before sleeping (~0.1-1 ms) */

typedef void (*microtask_t)(int32_t *, int32_t *, ...);

static _Atomic int configured = 0; /* team size; 0 = not read yet */
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_size = 1; /* threads in the pool, the caller included */

/* the region being run */
static microtask_t task;
static void *task_args[MAX_ARGS];
static int task_argc;
/* (sequence << 8) | team size: a worker reads both in one load, so a worker
 * that wakes late can never pair one region's number with another's size */
static _Atomic uint32_t generation = 0;
static _Atomic int remaining = 0;

/* team barrier (sense-reversing) */
static _Atomic int barrier_count = 0;
static _Atomic uint32_t barrier_sense = 0;

static __thread int tl_tid = 0;
static __thread int tl_nth = 1;
static __thread int tl_active = 0;

static void futex_wait(_Atomic uint32_t *addr, uint32_t value) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}
static void futex_wake(_Atomic uint32_t *addr) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
static inline void cpu_relax(void) { __builtin_ia32_pause(); }

/* How many threads may sleep on each futex word. A waker enters the kernel
 * only when one may: FUTEX_WAKE is a system call (0.26 us each on the Zen 3
 * VM, most of them on the critical path of a fork or a join), and
 * efficientnet_b0 made 216 a call at 2 threads while its team spun and
 * nobody slept. The waiter counts itself in,
 * then reads the word; the waker stores the word, then reads the count; all
 * four sequentially consistent, so either the waiter sees the new value or
 * the waker sees the sleeper (and futex_wait itself rechecks the word). */
static _Atomic int generation_sleepers = 0, done_sleepers = 0, barrier_sleepers = 0;

/* spins, then sleeps, until *addr != value */
static void wait_change(_Atomic uint32_t *addr, uint32_t value, _Atomic int *sleepers) {
  for (int i = 0; i < SPIN_ROUNDS; i++) {
    if (atomic_load_explicit(addr, memory_order_acquire) != value) return;
    cpu_relax();
  }
  atomic_fetch_add_explicit(sleepers, 1, memory_order_seq_cst);
  while (atomic_load_explicit(addr, memory_order_seq_cst) == value) futex_wait(addr, value);
  atomic_fetch_sub_explicit(sleepers, 1, memory_order_relaxed);
}

/* after a sequentially consistent store to *addr */
static void wake(_Atomic uint32_t *addr, _Atomic int *sleepers) {
  if (atomic_load_explicit(sleepers, memory_order_seq_cst) > 0) futex_wake(addr);
}

static void invoke(int tid) {
  int32_t gtid = tid, btid = 0;
  void **a = task_args;
  microtask_t f = task;
  switch (task_argc) {
  case 0: f(&gtid, &btid); break;
  case 1: f(&gtid, &btid, a[0]); break;
  case 2: f(&gtid, &btid, a[0], a[1]); break;
  case 3: f(&gtid, &btid, a[0], a[1], a[2]); break;
  case 4: f(&gtid, &btid, a[0], a[1], a[2], a[3]); break;
  case 5: f(&gtid, &btid, a[0], a[1], a[2], a[3], a[4]); break;
  case 6: f(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5]); break;
  case 7: f(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
  case 8: f(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); break;
  default:
    f(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11],
      a[12], a[13], a[14], a[15]);
  }
}

/* the counter the caller waits on; futex words must be 32-bit */
static _Atomic uint32_t done_word = 0;

/* the generation each worker was created in: it waits for the next one */
static uint32_t start_generation[MAX_THREADS];

static void *worker(void *arg) {
  int tid = (int)(intptr_t)arg;
  uint32_t seen = start_generation[tid];
  for (;;) {
    wait_change(&generation, seen, &generation_sleepers);
    seen = atomic_load_explicit(&generation, memory_order_acquire);
    int nth = (int)(seen & 0xff);
    if (tid >= nth) continue;
    tl_tid = tid;
    tl_nth = nth;
    tl_active = 1;
    invoke(tid);
    tl_active = 0;
    if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_acq_rel) == 1) {
      atomic_fetch_add_explicit(&done_word, 1, memory_order_seq_cst);
      wake(&done_word, &done_sleepers);
    }
  }
  return NULL;
}

static int default_threads(void) {
  const char *env = getenv("SPARCC_NUM_THREADS");
  if (env && *env) {
    int n = atoi(env);
    if (n >= 1) return n < MAX_THREADS ? n : MAX_THREADS;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return n < MAX_THREADS ? n : MAX_THREADS;
  }
  return 1;
}

/* grows the pool to n threads (the caller counts as one) */
static void ensure_pool(int n) {
  pthread_mutex_lock(&pool_lock);
  while (pool_size < n) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 16 << 20); /* kernels keep packed panels on the stack */
    /* called under fork_lock, before the region is posted */
    start_generation[pool_size] = atomic_load(&generation);
    if (pthread_create(&t, &attr, worker, (void *)(intptr_t)pool_size) != 0) {
      pthread_attr_destroy(&attr);
      break;
    }
    pthread_attr_destroy(&attr);
    pthread_detach(t);
    pool_size++;
  }
  pthread_mutex_unlock(&pool_lock);
}

EXPORT void sparcc_rt_set_num_threads(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  atomic_store(&configured, n);
}

EXPORT int sparcc_rt_get_num_threads(void) {
  int n = atomic_load(&configured);
  if (n == 0) {
    n = default_threads();
    int expected = 0;
    if (!atomic_compare_exchange_strong(&configured, &expected, n)) n = expected;
  }
  return n;
}

EXPORT int32_t sparcc_kmpc_global_thread_num(void *loc) {
  (void)loc;
  return tl_tid;
}

EXPORT void sparcc_kmpc_push_num_threads(void *loc, int32_t gtid, int32_t n) {
  (void)loc, (void)gtid, (void)n; /* the team size is the runtime's setting */
}

EXPORT void sparcc_kmpc_fork_call(void *loc, int32_t argc, microtask_t fn, ...) {
  (void)loc;
  void *args[MAX_ARGS];
  va_list ap;
  va_start(ap, fn);
  for (int i = 0; i < argc && i < MAX_ARGS; i++) args[i] = va_arg(ap, void *);
  va_end(ap);

  int nth = sparcc_rt_get_num_threads();
  if (argc > MAX_ARGS || nth == 1 || tl_active || pthread_mutex_trylock(&fork_lock) != 0) {
    /* serial: a team of one */
    int saved_tid = tl_tid, saved_nth = tl_nth, saved_active = tl_active;
    int32_t gtid = 0, btid = 0;
    tl_tid = 0;
    tl_nth = 1;
    tl_active = 1;
    switch (argc) { /* argc > MAX_ARGS cannot be forwarded: MLIR passes one struct */
    case 0: fn(&gtid, &btid); break;
    case 1: fn(&gtid, &btid, args[0]); break;
    case 2: fn(&gtid, &btid, args[0], args[1]); break;
    case 3: fn(&gtid, &btid, args[0], args[1], args[2]); break;
    default: fn(&gtid, &btid, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
                args[7], args[8], args[9], args[10], args[11], args[12], args[13], args[14],
                args[15]);
    }
    tl_tid = saved_tid;
    tl_nth = saved_nth;
    tl_active = saved_active;
    return;
  }
  ensure_pool(nth);
  if (nth > pool_size) nth = pool_size;
  task = fn;
  task_argc = argc;
  for (int i = 0; i < argc; i++) task_args[i] = args[i];
  atomic_store_explicit(&remaining, nth - 1, memory_order_relaxed);
  uint32_t done = atomic_load_explicit(&done_word, memory_order_relaxed);
  uint32_t seq = (atomic_load_explicit(&generation, memory_order_relaxed) >> 8) + 1;
  atomic_store_explicit(&generation, (seq << 8) | (uint32_t)nth, memory_order_seq_cst);
  wake(&generation, &generation_sleepers);

  tl_tid = 0;
  tl_nth = nth;
  tl_active = 1;
  invoke(0);
  tl_active = 0;
  tl_nth = 1;
  if (nth > 1) {
    while (atomic_load_explicit(&remaining, memory_order_acquire) != 0) {
      wait_change(&done_word, done, &done_sleepers);
      done = atomic_load_explicit(&done_word, memory_order_acquire);
    }
  }
  pthread_mutex_unlock(&fork_lock);
}

EXPORT void sparcc_kmpc_barrier(void *loc, int32_t gtid) {
  (void)loc, (void)gtid;
  int nth = tl_nth;
  if (nth <= 1) return;
  uint32_t sense = atomic_load_explicit(&barrier_sense, memory_order_acquire);
  if (atomic_fetch_add_explicit(&barrier_count, 1, memory_order_acq_rel) == nth - 1) {
    atomic_store_explicit(&barrier_count, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&barrier_sense, 1, memory_order_seq_cst);
    wake(&barrier_sense, &barrier_sleepers);
  } else {
    wait_change(&barrier_sense, sense, &barrier_sleepers);
  }
}

/* Static worksharing. schedtype 34: contiguous, balanced blocks; 33: chunks
 * of `chunk` dealt round-robin (the caller strides by *pstride). */
#define STATIC_INIT(NAME, T, ST)                                                               \
  EXPORT void NAME(void *loc, int32_t gtid, int32_t schedtype, int32_t *plast, T *plower,       \
                   T *pupper, ST *pstride, ST incr, ST chunk) {                                 \
    (void)loc, (void)gtid;                                                                      \
    int nth = tl_nth, tid = tl_tid;                                                             \
    T lower = *plower, upper = *pupper;                                                         \
    if (incr == 0) incr = 1;                                                                    \
    if ((incr > 0 && lower > upper) || (incr < 0 && lower < upper)) {                           \
      *plast = 0;                                                                               \
      *pstride = incr;                                                                          \
      return;                                                                                   \
    }                                                                                           \
    uint64_t trip = incr > 0 ? (uint64_t)(upper - lower) / (uint64_t)incr + 1                   \
                             : (uint64_t)(lower - upper) / (uint64_t)(-incr) + 1;               \
    if (nth <= 1) {                                                                             \
      *plast = 1;                                                                               \
      *pstride = (ST)trip * incr;                                                               \
      return;                                                                                   \
    }                                                                                           \
    if (schedtype == 33 && chunk > 0) {                                                         \
      *plower = lower + (T)((ST)tid * chunk * incr);                                            \
      *pupper = *plower + (T)((chunk - 1) * incr);                                              \
      *pstride = (ST)nth * chunk * incr;                                                        \
      uint64_t chunks = (trip + (uint64_t)chunk - 1) / (uint64_t)chunk;                         \
      *plast = (uint64_t)tid == (chunks - 1) % (uint64_t)nth;                                   \
      return;                                                                                   \
    }                                                                                           \
    uint64_t small = trip / (uint64_t)nth, extra = trip % (uint64_t)nth;                        \
    uint64_t first = (uint64_t)tid * small + ((uint64_t)tid < extra ? (uint64_t)tid : extra);   \
    uint64_t count = small + ((uint64_t)tid < extra ? 1 : 0);                                   \
    *pstride = (ST)trip * incr;                                                                 \
    if (count == 0) {                                                                           \
      *plast = 0;                                                                               \
      /* an empty range: lower one step past upper */                                           \
      *plower = upper + (T)incr;                                                                \
      *pupper = upper;                                                                          \
      return;                                                                                   \
    }                                                                                           \
    *plower = lower + (T)((ST)first * incr);                                                    \
    *pupper = *plower + (T)((ST)(count - 1) * incr);                                            \
    *plast = first + count == trip;                                                             \
  }

STATIC_INIT(sparcc_kmpc_for_static_init_4, int32_t, int32_t)
STATIC_INIT(sparcc_kmpc_for_static_init_4u, uint32_t, int32_t)
STATIC_INIT(sparcc_kmpc_for_static_init_8, int64_t, int64_t)
STATIC_INIT(sparcc_kmpc_for_static_init_8u, uint64_t, int64_t)

EXPORT void sparcc_kmpc_for_static_fini(void *loc, int32_t gtid) { (void)loc, (void)gtid; }

/* ---------------------------------------------------------------------------
 * Parallel loops for C kernels (ukernels.c): fn(ctx, begin, end) on disjoint,
 * balanced slices of [0, n) over the team, through the same fork as the
 * generated code.
 * ------------------------------------------------------------------------ */
typedef void (*range_fn_t)(void *ctx, int64_t begin, int64_t end);

struct range_task {
  range_fn_t fn;
  void *ctx;
  int64_t n;
  int64_t grain;
};

static void range_microtask(int32_t *gtid, int32_t *btid, struct range_task *t) {
  (void)gtid, (void)btid;
  int64_t nth = tl_nth, tid = tl_tid;
  int64_t blocks = (t->n + t->grain - 1) / t->grain;
  int64_t per = blocks / nth, extra = blocks % nth;
  int64_t first = tid * per + (tid < extra ? tid : extra);
  int64_t count = per + (tid < extra ? 1 : 0);
  int64_t begin = first * t->grain, end = (first + count) * t->grain;
  if (end > t->n) end = t->n;
  if (begin < end) t->fn(t->ctx, begin, end);
}

/* slices are multiples of `grain` (but the last); n < 2 * grain runs inline */
EXPORT void sparcc_rt_parallel_for(int64_t n, int64_t grain, range_fn_t fn, void *ctx) {
  if (grain < 1) grain = 1;
  if (n <= 0) return;
  if (n < 2 * grain || sparcc_rt_get_num_threads() == 1) {
    fn(ctx, 0, n);
    return;
  }
  struct range_task t = {fn, ctx, n, grain};
  sparcc_kmpc_fork_call(NULL, 1, (microtask_t)range_microtask, &t);
}

/* ---- run-time errors of compiled code ------------------------------------
 * Compiled code that checks a value from a user tensor (an index) calls
 * sparcc_rt_index_error when it is out of range and carries on with a clamped,
 * in-bounds value; the first report of a call wins. The Python caller takes it
 * with sparcc_rt_take_error after the call returns and raises, as PyTorch
 * would. Checks run on the calling thread (outside parallel regions), so the
 * record is thread-local: concurrent callers never see each other's. */

static _Thread_local int64_t error_record[4]; /* kind (0: none), dim, value, size */

void sparcc_rt_index_error(int64_t kind, int64_t dim, int64_t value, int64_t size) {
    if (error_record[0] != 0)
        return;
    error_record[0] = kind;
    error_record[1] = dim;
    error_record[2] = value;
    error_record[3] = size;
}

/* 0 when nothing was reported since the last take; else the kind, with the
 * dim, value and size written to out[0..2]. Clears the record. */
int64_t sparcc_rt_take_error(int64_t *out) {
    int64_t kind = error_record[0];
    if (kind == 0)
        return 0;
    out[0] = error_record[1];
    out[1] = error_record[2];
    out[2] = error_record[3];
    error_record[0] = 0;
    return kind;
}

/* ---- random numbers of compiled code -------------------------------------
 * Each random op of a compiled call (nn.random: rand, randn, randint, ...)
 * asks for a base once, on the calling thread, and hashes (base, element
 * index) into its numbers: counter-based, so threads need no shared state.
 * The Python caller sets the seed before each call of a program with random
 * ops (drawn from torch's generator: torch.manual_seed makes it repeat);
 * without that, successive calls still differ (the counter goes on), from a
 * fixed seed (a C caller of an artifact: sparcc_rt_set_random_seed). */

static _Thread_local uint64_t random_seed = 0x853c49e6748fea9bULL, random_count;

void sparcc_rt_set_random_seed(uint64_t seed) {
    random_seed = seed;
    random_count = 0;
}

static uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t sparcc_rt_random_base(void) {
    return (int64_t)mix64(random_seed + 0x9e3779b97f4a7c15ULL * ++random_count);
}

/* ---- memory of compiled code ---------------------------------------------
 * Compiled code allocates its intermediate buffers with memref.alloc, which
 * finalize-memref-to-llvm{use-generic-functions} lowers to the two functions
 * below. glibc serves a large malloc with a fresh mmap and gives it back on
 * free, so every call of a model would touch its activations' pages for the
 * first time again: page faults, zeroing and the kernel's memcg accounting
 * were ~40 % of densenet121's time at batch 1. Large blocks are therefore
 * kept on free lists, one per size class (four per power of two: at most
 * 25 % rounding), and reused by later calls. The lists hold at most
 * SPARCC_ALLOC_CACHE_MB MiB (default 1024); a block freed past that goes
 * back to the system. sparcc_rt_alloc_release() empties them.
 *
 * Each block starts with a 64-byte header holding its class (-1: a small
 * block from plain malloc); the caller gets the memory after it, and
 * aligns within it itself (the lowering over-allocates for alignment). */

#define ALLOC_HEADER 64
#define ALLOC_MIN_CACHED (64 << 10) /* smaller blocks: glibc's own bins serve them without faults */
#define ALLOC_CLASSES 256

struct alloc_block {
    int64_t size_class;
    struct alloc_block *next;
};

static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct alloc_block *alloc_free[ALLOC_CLASSES];
static int64_t alloc_cached_bytes, alloc_cache_limit = -1;

/* class c holds blocks of alloc_class_bytes(c): 4 classes per power of two */
static inline uint64_t alloc_class_bytes(int64_t c) {
    int64_t power = c / 4, quarter = c % 4;
    return ((uint64_t)(4 + quarter)) << (power - 2 > 0 ? power - 2 : 0) >> (power - 2 < 0 ? 2 - power : 0);
}

static int64_t alloc_class(uint64_t bytes) {
    int power = 63 - __builtin_clzll(bytes); /* 2^power <= bytes */
    int64_t c = (int64_t)power * 4;
    while (alloc_class_bytes(c) < bytes)
        c++;
    return c;
}

static int64_t alloc_limit(void) {
    if (alloc_cache_limit < 0) {
        const char *env = getenv("SPARCC_ALLOC_CACHE_MB");
        long mb = env && *env ? strtol(env, NULL, 10) : 1024;
        alloc_cache_limit = (mb > 0 ? (int64_t)mb : 0) << 20;
    }
    return alloc_cache_limit;
}

EXPORT void *_mlir_memref_to_llvm_alloc(uint64_t size) {
    uint64_t total = size + ALLOC_HEADER;
    struct alloc_block *b = NULL;
    int64_t c = -1;
    if (total >= ALLOC_MIN_CACHED && total < ((uint64_t)1 << 62)) {
        c = alloc_class(total);
        if (c < ALLOC_CLASSES) {
            total = alloc_class_bytes(c);
            pthread_mutex_lock(&alloc_lock);
            b = alloc_free[c];
            if (b) {
                alloc_free[c] = b->next;
                alloc_cached_bytes -= (int64_t)total;
            }
            pthread_mutex_unlock(&alloc_lock);
        } else {
            c = -1;
        }
    }
    if (!b) {
        b = malloc(total);
        if (!b)
            return NULL;
    }
    b->size_class = c;
    return (char *)b + ALLOC_HEADER;
}

EXPORT void _mlir_memref_to_llvm_free(void *ptr) {
    if (!ptr)
        return;
    struct alloc_block *b = (struct alloc_block *)((char *)ptr - ALLOC_HEADER);
    int64_t c = b->size_class;
    if (c >= 0) {
        int64_t bytes = (int64_t)alloc_class_bytes(c);
        pthread_mutex_lock(&alloc_lock);
        if (alloc_cached_bytes + bytes <= alloc_limit()) {
            b->next = alloc_free[c];
            alloc_free[c] = b;
            alloc_cached_bytes += bytes;
            b = NULL;
        }
        pthread_mutex_unlock(&alloc_lock);
    }
    free(b);
}

/* Gives every cached block back to the system; returns the bytes released. */
EXPORT int64_t sparcc_rt_alloc_release(void) {
    pthread_mutex_lock(&alloc_lock);
    int64_t released = alloc_cached_bytes;
    for (int c = 0; c < ALLOC_CLASSES; c++) {
        while (alloc_free[c]) {
            struct alloc_block *b = alloc_free[c];
            alloc_free[c] = b->next;
            free(b);
        }
    }
    alloc_cached_bytes = 0;
    pthread_mutex_unlock(&alloc_lock);
    return released;
}

/* Sets the most the free lists hold (bytes; 0: none, every block goes back
 * to the system when freed) and empties them. */
EXPORT void sparcc_rt_alloc_set_limit(int64_t bytes) {
    sparcc_rt_alloc_release();
    pthread_mutex_lock(&alloc_lock);
    alloc_cache_limit = bytes > 0 ? bytes : 0;
    pthread_mutex_unlock(&alloc_lock);
}

/* Bytes now held on the free lists. */
EXPORT int64_t sparcc_rt_alloc_cached(void) {
    pthread_mutex_lock(&alloc_lock);
    int64_t bytes = alloc_cached_bytes;
    pthread_mutex_unlock(&alloc_lock);
    return bytes;
}

/* float32/float64 -> bfloat16 as compiler-rt defines them: LLVM calls these
 * for a bf16 truncation on a CPU without AVX512-BF16, and GCC 12's libgcc
 * has neither, so every bf16 model failed to link there (a Zen 3 host,
 * 2026-12-07). Round to nearest even; a NaN stays a quiet NaN. The bf16
 * result goes back in the low 16 bits of xmm0, where a float return puts
 * them (GCC 12 has no __bf16 type to declare it with). */
static float sparcc_bf16_bits(uint32_t h) {
  float out;
  __builtin_memcpy(&out, &h, 4);
  return out;
}

EXPORT float __truncsfbf2(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return sparcc_bf16_bits((u >> 16) | 0x40u);
  return sparcc_bf16_bits((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* through float32 rounded to odd (truncated, the last bit set when
 * inexact), which makes the second rounding to bf16's 8 bits exact */
EXPORT float __truncdfbf2(double x) {
  if (x != x) return __truncsfbf2((float)x);
  float f = (float)x;
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((double)f != x) {
    if (__builtin_fabs((double)f) > __builtin_fabs(x)) u -= 1; /* toward zero: one float closer */
    u |= 1u;
  }
  float odd;
  __builtin_memcpy(&odd, &u, 4);
  return __truncsfbf2(odd);
}
