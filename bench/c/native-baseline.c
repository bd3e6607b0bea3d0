/*
 * C baseline for bench/native.bench.ts: the same kernel work the @virq/native addon does, with no
 * JavaScript in the way, so the bench can report the addon's overhead as a ratio.
 *
 *   native-baseline eventfd <iterations> <samples>          eventfd write(1) + read, per pair
 *   native-baseline drain <eventfds> <rounds> <samples>     epoll_wait + read of every ready eventfd,
 *                                                           per event (the writes are not timed)
 *   native-baseline drain-uring <eventfds> <rounds> <samples>
 *                                                           the drain with every ready counter read
 *                                                           by one io_uring_enter (IORING_OP_READ,
 *                                                           RWF_NOWAIT), as the addon's drain does
 *                                                           (packages/native/cpp/counter-ring.h)
 *   native-baseline drain-fds <first-fd> <n> <warmup-ms> <ms>
 *                                                           the same drain, of n eventfds another
 *                                                           process writes while we read (inherited
 *                                                           as fds first..first+n-1): this thread's
 *                                                           CPU per read over the last <ms>
 *
 * Prints one JSON object: {"op": ..., "ns": [per-sample ns per op, ...]}; drain-fds prints
 * {"op":"drain-fds","cpuNsPerRead":…,"readsPerWait":…,"reads":…,"events":…,"totalEvents":…}
 * after "ready" on a line of its own once its epoll set holds every fd.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#if __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#define HAVE_IO_URING 1
#endif

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static double bench_eventfd(long iterations) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) die("eventfd");
  uint64_t one = 1, v;
  uint64_t t0 = now_ns();
  for (long i = 0; i < iterations; i++) {
    if (write(fd, &one, 8) != 8) die("write");
    if (read(fd, &v, 8) != 8) die("read");
  }
  uint64_t t1 = now_ns();
  close(fd);
  return (double)(t1 - t0) / (double)iterations;
}

/*
 * drain-fds: the consumer of bench_drain, but racing a writer, as a service worker does. The epoll
 * set, the reads and the per-read bookkeeping are bench_drain's; what differs is the regime: with the
 * writer on the other CPU, each epoll_wait finds only what was written since the last one, each
 * read may wait on the cache lines the writer just dirtied, and an empty set means a sleep and a
 * wake-up. So this is the C floor in the conditions the dispatcher's eventfd phase runs in.
 */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int drain_fds(int first, int n, long warmup_ms, long ms) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event *events = calloc(n, sizeof *events);
  int32_t *tags = calloc(n, sizeof *tags);
  uint64_t *counts = calloc(n, sizeof *counts);
  for (int i = 0; i < n; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)(first + i) << 32) | (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, first + i, &ev) < 0) die("epoll_ctl");
  }
  printf("ready\n");
  fflush(stdout);
  /* The clocks start at the first event: the writer is a thread the parent starts after "ready",
   * which on a loaded machine can take longer than the whole window. */
  uint64_t start = now_ns(), from = UINT64_MAX, until = UINT64_MAX;
  uint64_t cpu0 = 0, reads = 0, waits = 0, events_in = 0, total = 0;
  int measuring = 0;
  for (;;) {
    uint64_t t = now_ns();
    if (total == 0 && t - start > 30000000000u) {
      fprintf(stderr, "drain-fds: no event in 30 s\n");
      return 1;
    }
    if (total > 0 && from == UINT64_MAX) {
      from = t + (uint64_t)warmup_ms * 1000000u;
      until = from + (uint64_t)ms * 1000000u;
    }
    if (!measuring && t >= from) {
      measuring = 1;
      cpu0 = thread_cpu_ns();
    }
    /* Not before one measured read: a drain preempted across the whole window (a loaded 2-vCPU guest
     * has stalled a thread for longer than 150 ms) would otherwise report 0 reads and 0 ns per read. */
    if (t >= until && (reads > 0 || t - until > 30000000000u)) break;
    int got = epoll_wait(ep, events, n, 10);
    if (got < 0) die("epoll_wait");
    if (measuring && got > 0) waits++;
    for (int i = 0; i < got; i++) {
      int fd = (int)(events[i].data.u64 >> 32);
      tags[i] = (int32_t)(uint32_t)events[i].data.u64;
      if (read(fd, &counts[i], 8) != 8) continue; /* emptied meanwhile: nothing to count */
      total += counts[i];
      if (measuring) {
        reads++;
        events_in += counts[i];
      }
    }
  }
  uint64_t cpu = thread_cpu_ns() - cpu0;
  printf("{\"op\":\"drain-fds\",\"cpuNsPerRead\":%.2f,\"readsPerWait\":%.2f,\"reads\":%llu,\"events\":%llu,"
         "\"totalEvents\":%llu}\n",
         reads ? (double)cpu / (double)reads : 0.0, waits ? (double)reads / (double)waits : 0.0,
         (unsigned long long)reads, (unsigned long long)events_in, (unsigned long long)total);
  close(ep);
  free(events);
  free(tags);
  free(counts);
  return 0;
}

#ifdef HAVE_IO_URING
/*
 * The smallest io_uring that reads counters in batches: one SQ/CQ pair (IORING_FEAT_SINGLE_MMAP, 5.4+),
 * `entries` SQEs, raw syscalls. Written for this baseline only; the addon's own is counter-ring.cc.
 */
struct ring {
  int fd;
  unsigned entries, *sq_tail, sq_mask, *sq_array, *cq_head, *cq_tail, cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
};

static void ring_open(struct ring *r, unsigned entries) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
  if (r->fd < 0) die("io_uring_setup");
  if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
    fprintf(stderr, "io_uring without IORING_FEAT_SINGLE_MMAP\n");
    exit(1);
  }
  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  size_t size = sq_size > cq_size ? sq_size : cq_size;
  char *q = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (q == MAP_FAILED) die("mmap(sq/cq)");
  r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) die("mmap(sqes)");
  r->entries = p.sq_entries;
  r->sq_tail = (unsigned *)(q + p.sq_off.tail);
  r->sq_mask = *(unsigned *)(q + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(q + p.sq_off.array);
  r->cq_head = (unsigned *)(q + p.cq_off.head);
  r->cq_tail = (unsigned *)(q + p.cq_off.tail);
  r->cq_mask = *(unsigned *)(q + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(q + p.cq_off.cqes);
}

/* Reads the counters of fds[0..n) into counts[] with one enter per `entries`; dies on a failed read. */
static void ring_read_all(struct ring *r, const int *fds, uint64_t *counts, int n) {
  for (int at = 0; at < n; at += (int)r->entries) {
    unsigned k = (unsigned)(n - at) < r->entries ? (unsigned)(n - at) : r->entries;
    unsigned tail = *r->sq_tail;
    for (unsigned i = 0; i < k; i++) {
      unsigned idx = (tail + i) & r->sq_mask;
      struct io_uring_sqe *sqe = &r->sqes[idx];
      memset(sqe, 0, sizeof *sqe);
      sqe->opcode = IORING_OP_READ;
      sqe->fd = fds[at + (int)i];
      sqe->addr = (uint64_t)(uintptr_t)&counts[at + (int)i];
      sqe->len = 8;
      sqe->off = ~(uint64_t)0;
      sqe->rw_flags = RWF_NOWAIT;
      sqe->user_data = i;
      r->sq_array[idx] = idx;
    }
    __atomic_store_n(r->sq_tail, tail + k, __ATOMIC_RELEASE);
    int done = (int)syscall(__NR_io_uring_enter, r->fd, k, k, IORING_ENTER_GETEVENTS, NULL, 0);
    if (done != (int)k) die("io_uring_enter");
    unsigned head = *r->cq_head, ctail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
    if (ctail - head != k) {
      fprintf(stderr, "io_uring: %u completions for %u reads\n", ctail - head, k);
      exit(1);
    }
    for (; head != ctail; head++)
      if (r->cqes[head & r->cq_mask].res != 8) die("io_uring read");
    __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
  }
}
#endif

static double bench_drain(int n, long rounds, int uring) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  int *fds = calloc(n, sizeof *fds);
  struct epoll_event *events = calloc(n, sizeof *events);
  int32_t *tags = calloc(n, sizeof *tags);
  uint64_t *counts = calloc(n, sizeof *counts);
  for (int i = 0; i < n; i++) {
    fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fds[i] < 0) die("eventfd");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)fds[i] << 32) | (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) die("epoll_ctl");
  }
  int *ready = calloc(n, sizeof *ready);
#ifdef HAVE_IO_URING
  struct ring ring = {.fd = -1};
  if (uring) ring_open(&ring, 256);
#else
  if (uring) {
    fprintf(stderr, "drain-uring: built without <linux/io_uring.h>\n");
    exit(1);
  }
#endif
  uint64_t one = 1, timed = 0, drained = 0;
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < n; i++)
      if (write(fds[i], &one, 8) != 8) die("write");
    uint64_t t0 = now_ns();
    int got = epoll_wait(ep, events, n, 0);
    if (got < 0) die("epoll_wait");
    for (int i = 0; i < got; i++) {
      ready[i] = (int)(events[i].data.u64 >> 32);
      tags[i] = (int32_t)(uint32_t)events[i].data.u64;
      if (!uring && read(ready[i], &counts[i], 8) != 8) die("read");
    }
#ifdef HAVE_IO_URING
    if (uring) ring_read_all(&ring, ready, counts, got);
#endif
    timed += now_ns() - t0;
    drained += (uint64_t)got;
  }
  if (drained != (uint64_t)n * (uint64_t)rounds) {
    fprintf(stderr, "drained %llu of %llu events\n", (unsigned long long)drained,
            (unsigned long long)n * (unsigned long long)rounds);
    exit(1);
  }
  for (int i = 0; i < n; i++) close(fds[i]);
  close(ep);
#ifdef HAVE_IO_URING
  if (uring) close(ring.fd);
#endif
  free(ready);
  free(fds);
  free(events);
  free(tags);
  free(counts);
  return (double)timed / (double)drained;
}

/*
 * `spin <ms>`: passes of a fixed integer loop (10^7 dependent additions) for `ms` of wall time; prints
 * the median pass time in ms. The bench runs it pinned to each CPU, alone and all at once, to record
 * what the machine's CPUs deliver during a run (packages/bench-harness/src/cpu-speed.ts).
 */
static int spin(long ms) {
  static double passes[100000];
  int n = 0;
  double end = (double)now_ns() + (double)ms * 1e6;
  volatile uint64_t x = 0;
  while ((double)now_ns() < end && n < 100000) {
    double t = (double)now_ns();
    for (uint64_t i = 0; i < 10000000ULL; i++) x += i;
    passes[n++] = ((double)now_ns() - t) / 1e6;
  }
  for (int i = 1; i < n; i++) {  // insertion sort: a few hundred passes at most
    double v = passes[i];
    int j = i - 1;
    while (j >= 0 && passes[j] > v) {
      passes[j + 1] = passes[j];
      j--;
    }
    passes[j + 1] = v;
  }
  printf("%.4f\n", n > 0 ? passes[n / 2] : -1.0);
  return n > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "spin") == 0) return spin(atol(argv[2]));
  if (argc < 4) {
    fprintf(stderr,
            "usage: %s eventfd <iterations> <samples> | drain|drain-uring <eventfds> <rounds> <samples> |"
            " drain-fds <first-fd> <n> <warmup-ms> <ms> | spin <ms>\n",
            argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "drain-fds") == 0) {
    if (argc < 6) {
      fprintf(stderr, "usage: %s drain-fds <first-fd> <n> <warmup-ms> <ms>\n", argv[0]);
      return 2;
    }
    return drain_fds(atoi(argv[2]), atoi(argv[3]), atol(argv[4]), atol(argv[5]));
  }
  int uring = strcmp(argv[1], "drain-uring") == 0;
  int drain = uring || strcmp(argv[1], "drain") == 0;
  int samples = atoi(argv[drain ? 4 : 3]);
  printf("{\"op\":\"%s\",\"ns\":[", argv[1]);
  for (int s = 0; s < samples; s++) {
    double ns = drain ? bench_drain(atoi(argv[2]), atol(argv[3]), uring) : bench_eventfd(atol(argv[2]));
    printf("%s%.2f", s == 0 ? "" : ",", ns);
  }
  printf("]}\n");
  return 0;
}
