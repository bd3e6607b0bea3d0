/*
 * C baseline for bench/native.bench.ts: the same kernel work the @virq/native addon does, with no
 * JavaScript in the way, so the bench can report the addon's overhead as a ratio.
 *
 *   native-baseline eventfd <iterations> <samples>          eventfd write(1) + read, per pair
 *   native-baseline drain <eventfds> <rounds> <samples>     epoll_wait + read of every ready eventfd,
 *                                                           per event (the writes are not timed)
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
#include <time.h>
#include <unistd.h>

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
    if (t >= until) break;
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

static double bench_drain(int n, long rounds) {
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
  uint64_t one = 1, timed = 0, drained = 0;
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < n; i++)
      if (write(fds[i], &one, 8) != 8) die("write");
    uint64_t t0 = now_ns();
    int got = epoll_wait(ep, events, n, 0);
    if (got < 0) die("epoll_wait");
    for (int i = 0; i < got; i++) {
      int fd = (int)(events[i].data.u64 >> 32);
      tags[i] = (int32_t)(uint32_t)events[i].data.u64;
      if (read(fd, &counts[i], 8) != 8) die("read");
    }
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
  free(fds);
  free(events);
  free(tags);
  free(counts);
  return (double)timed / (double)drained;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr,
            "usage: %s eventfd <iterations> <samples> | drain <eventfds> <rounds> <samples> |"
            " drain-fds <first-fd> <n> <warmup-ms> <ms>\n",
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
  int drain = strcmp(argv[1], "drain") == 0;
  int samples = atoi(argv[drain ? 4 : 3]);
  printf("{\"op\":\"%s\",\"ns\":[", argv[1]);
  for (int s = 0; s < samples; s++) {
    double ns = drain ? bench_drain(atoi(argv[2]), atol(argv[3])) : bench_eventfd(atol(argv[2]));
    printf("%s%.2f", s == 0 ? "" : ",", ns);
  }
  printf("]}\n");
  return 0;
}
