// Batched eventfd counter reads and writes through one io_uring: a drain that found N ready eventfds
// reads all N counters with one io_uring_enter instead of N read() syscalls, and a batch of raises
// (VectorTable.raiseMany over kernel eventfds) signals all of them with one enter instead of N write()s.
//
// Why: on the machines we measure, a read() of an eventfd costs ~1.1 us (syscall entry and exit with
// the kernel's mitigations), which is most of the kernel-eventfd path's cost per event. One enter that
// reads 64 counters costs ~120 ns per counter (docs/decisions.md, "Batched counter reads through
// io_uring", and bench/c/native-baseline.c's `uring` drain).
//
// Every read is IORING_OP_READ with RWF_NOWAIT: an eventfd emptied by another reader since epoll_wait
// completes at once with -EAGAIN (it must never park a request that would later consume a count behind
// our back). Open() checks that on this kernel before the ring is used; where it fails (no io_uring,
// io_uring_disabled, a seccomp filter, a kernel that would arm a poll instead), the caller keeps reading
// with read() and nothing else changes.
//
// Writes (eventfd_signal: add 1) are IORING_OP_WRITE with RWF_NOWAIT too, and serve O_NONBLOCK eventfds
// only: eventfd's write is a plain ->write, which io_uring runs inline only for an O_NONBLOCK file; on a
// blocking one every write completes -EAGAIN at once (measured on 6.18: even at count 0), so the caller
// writes those with write() and passes only non-blocking ones here. A -EAGAIN completion is handed back
// to the caller (a counter at its maximum, or a file made blocking since), who retries it with write().
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace virq {

class CounterRing {
 public:
  /** What a ring does: read counters (a drain) or add 1 to them (a batch of signals). */
  enum class Op { kRead, kWrite };

  CounterRing() = default;
  CounterRing(const CounterRing&) = delete;
  CounterRing& operator=(const CounterRing&) = delete;
  ~CounterRing() { Close(); }

  /** Sets up a ring of `entries` slots for `op` and probes it; returns 0, or the errno that makes it unusable. */
  int Open(unsigned entries, Op op = Op::kRead);
  /** Unmaps the rings and closes the ring's fd; a no-op when not open. */
  void Close();
  bool IsOpen() const { return ring_fd_ >= 0; }
  /** The ring's fd (-1 when closed), for tests that look for it in /proc/self/fd. */
  int fd() const { return ring_fd_; }

  /**
   * Reads the 8-byte counter of each fds[i] into values[i], `entries` at a time. errs[i] is 0 when read,
   * a positive errno when that read failed (EAGAIN: emptied in between), or -1 when it was not attempted
   * because the ring itself failed. Returns 0, or the errno of the failing io_uring_enter (the caller
   * should then Close() and read the -1 entries itself).
   */
  int ReadAll(const int* fds, uint64_t* values, int* errs, size_t n);
  /** Adds 1 to each fds[i]'s counter (a ring opened for Op::kWrite); errs[i] as for ReadAll. */
  int WriteAll(const int* fds, int* errs, size_t n);

 private:
  int All(const int* fds, uint64_t* values, int* errs, size_t n);
  int Chunk(const int* fds, uint64_t* values, int* errs, unsigned n);
  int ProbeRead();
  int ProbeWrite();
  int MustNotPark(int efd);
  /** Queues one SQE of this ring's op on `fd` against slots_[i] (the caller publishes the tail). */
  void Queue(unsigned idx, int fd, unsigned i);

  Op op_ = Op::kRead;
  int ring_fd_ = -1;
  unsigned entries_ = 0;
  void* sq_ring_ = nullptr;
  size_t sq_ring_size_ = 0;
  void* cq_ring_ = nullptr;  // == sq_ring_ with IORING_FEAT_SINGLE_MMAP
  size_t cq_ring_size_ = 0;
  void* sqes_ = nullptr;
  size_t sqes_size_ = 0;

  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  void* cqes_ = nullptr;
  // The kernel reads (kWrite: each holds 1) or writes (kRead) each counter here (it must stay put until the completion is reaped); copied out
  // to the caller's array afterwards, so the caller's buffer needs no lifetime guarantees.
  std::vector<uint64_t> slots_;
};

}  // namespace virq
