// Batched eventfd counter reads through one io_uring: a drain that found N ready eventfds reads all N
// counters with one io_uring_enter instead of N read() syscalls.
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
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace virq {

class ReadRing {
 public:
  ReadRing() = default;
  ReadRing(const ReadRing&) = delete;
  ReadRing& operator=(const ReadRing&) = delete;
  ~ReadRing() { Close(); }

  /** Sets up a ring of `entries` slots and probes it; returns 0, or the errno that makes it unusable. */
  int Open(unsigned entries);
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

 private:
  int ReadChunk(const int* fds, uint64_t* values, int* errs, unsigned n);
  int Probe();

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
  // The kernel writes each counter here (it must stay put until the completion is reaped); copied out
  // to the caller's array afterwards, so the caller's buffer needs no lifetime guarantees.
  std::vector<uint64_t> slots_;
};

}  // namespace virq
