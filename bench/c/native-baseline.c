/*
 * C baseline for bench/native.bench.ts: the same kernel work the @virq/native addon does, with no
 * JavaScript in the way, so the bench can report the addon's overhead as a ratio.
 *
 *   native-baseline eventfd <iterations> <samples>          eventfd write(1) + read, per pair
 *   native-baseline drain <eventfds> <rounds> <samples>     epoll_wait + read of every ready eventfd,
 *                                                           per event (the writes are not timed)
 *
 * Prints one JSON object: {"op": ..., "ns": [per-sample ns per op, ...]}.
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
    fprintf(stderr, "usage: %s eventfd <iterations> <samples> | drain <eventfds> <rounds> <samples>\n", argv[0]);
    return 2;
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
