#include "counter-ring.h"

#include <cerrno>
#include <cstring>

#if defined(__linux__) && __has_include(<linux/io_uring.h>)
#define VIRQ_HAVE_IO_URING 1
#include <linux/io_uring.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#endif

namespace virq {

#ifdef VIRQ_HAVE_IO_URING

namespace {

// The raw syscalls (no liburing: it is not in the toolchain, and three calls do not need it).
int SysSetup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}
int SysEnter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0));
}

unsigned LoadAcquire(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void StoreRelease(unsigned* p, unsigned v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

void* Map(int fd, size_t size, off_t offset) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

int CounterRing::Open(unsigned entries, Op op) {
  if (IsOpen()) return 0;
  op_ = op;
  io_uring_params p;
  std::memset(&p, 0, sizeof p);
  // SUBMIT_ALL (5.18): one SQE that fails at submission (a bad fd) must not stop the rest of the
  // batch. Older kernels refuse the flag with EINVAL; they get a plain ring, and a short submission is
  // handled in Chunk.
  p.flags = IORING_SETUP_SUBMIT_ALL;
  int fd = SysSetup(entries, &p);
  if (fd < 0 && errno == EINVAL) {
    std::memset(&p, 0, sizeof p);
    fd = SysSetup(entries, &p);
  }
  if (fd < 0) return errno;
  ring_fd_ = fd;
  entries_ = p.sq_entries;

  sq_ring_size_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cq_ring_size_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && cq_ring_size_ > sq_ring_size_) sq_ring_size_ = cq_ring_size_;
  sq_ring_ = Map(fd, sq_ring_size_, IORING_OFF_SQ_RING);
  if (sq_ring_ == nullptr) {
    int err = errno;
    Close();
    return err;
  }
  if (single) {
    cq_ring_ = sq_ring_;
    cq_ring_size_ = 0;  // one mapping, unmapped once
  } else {
    cq_ring_ = Map(fd, cq_ring_size_, IORING_OFF_CQ_RING);
    if (cq_ring_ == nullptr) {
      int err = errno;
      Close();
      return err;
    }
  }
  sqes_size_ = p.sq_entries * sizeof(io_uring_sqe);
  sqes_ = Map(fd, sqes_size_, IORING_OFF_SQES);
  if (sqes_ == nullptr) {
    int err = errno;
    Close();
    return err;
  }
  auto* sq = static_cast<char*>(sq_ring_);
  auto* cq = static_cast<char*>(cq_ring_);
  sq_head_ = reinterpret_cast<unsigned*>(sq + p.sq_off.head);
  sq_tail_ = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
  sq_mask_ = *reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
  sq_array_ = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
  cq_head_ = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
  cq_tail_ = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
  cq_mask_ = *reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
  cqes_ = cq + p.cq_off.cqes;
  slots_.assign(entries_, op == Op::kWrite ? 1 : 0);

  int err = op == Op::kWrite ? ProbeWrite() : ProbeRead();
  if (err != 0) Close();
  return err;
}

void CounterRing::Close() {
  if (sqes_ != nullptr) munmap(sqes_, sqes_size_);
  if (cq_ring_ != nullptr && cq_ring_ != sq_ring_) munmap(cq_ring_, cq_ring_size_);
  if (sq_ring_ != nullptr) munmap(sq_ring_, sq_ring_size_);
  sqes_ = sq_ring_ = cq_ring_ = nullptr;
  if (ring_fd_ >= 0) close(ring_fd_);
  ring_fd_ = -1;
  entries_ = 0;
  slots_.clear();
  slots_.shrink_to_fit();
}

/**
 * What the drain relies on, checked on this kernel with a blocking eventfd (so O_NONBLOCK cannot be
 * what makes the second read return): a count of 3 is read as 3, and a read of the now-empty counter
 * completes at once with EAGAIN instead of waiting. A kernel that parks the second read (RWF_NOWAIT not
 * honoured for eventfds) is caught without hanging: the read is submitted without waiting, and if no
 * completion is there, a write completes it and the ring is declared unusable.
 */
int CounterRing::ProbeRead() {
  int efd = eventfd(0, EFD_CLOEXEC);
  if (efd < 0) return errno;
  uint64_t three = 3;
  int result = 0;
  uint64_t value = 0;
  int err = 0;
  if (write(efd, &three, sizeof three) != sizeof three) {
    result = errno;
  } else {
    int r = Chunk(&efd, &value, &err, 1);
    if (r != 0) {
      result = r;
    } else if (err != 0 || value != 3) {
      result = err != 0 ? err : EIO;
    }
  }
  if (result == 0) {
    // The empty read must complete at once; a parked one is completed by a write.
    result = MustNotPark(efd);
  }
  close(efd);
  return result;
}

/**
 * Submits one SQE of this ring's op on `efd` that must complete during submission with -EAGAIN (an
 * empty counter's read, a full counter's write). If the kernel parked it instead, it is completed by the
 * opposite operation on `efd` (a write gives the read its count; a read makes room for the write), reaped
 * so nothing stays in flight, and EOPNOTSUPP returned: a ring like that would later take or add a count
 * behind the caller's back.
 */
int CounterRing::MustNotPark(int efd) {
  unsigned tail = *sq_tail_;
  Queue(tail & sq_mask_, efd, 0);
  StoreRelease(sq_tail_, tail + 1);
  int n;
  do {
    n = SysEnter(ring_fd_, 1, 0, 0);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return n < 0 ? errno : EIO;
  int result = 0;
  unsigned head = *cq_head_;
  if (LoadAcquire(cq_tail_) == head) {
    uint64_t v = 1;
    if (op_ == Op::kWrite) {
      (void)!read(efd, &v, sizeof v);
    } else {
      (void)!write(efd, &v, sizeof v);
    }
    do {
      n = SysEnter(ring_fd_, 0, 1, IORING_ENTER_GETEVENTS);
    } while (n < 0 && errno == EINTR);
    result = EOPNOTSUPP;
  } else {
    auto* cqe = static_cast<io_uring_cqe*>(cqes_) + (head & cq_mask_);
    if (cqe->res != -EAGAIN) result = EOPNOTSUPP;
  }
  StoreRelease(cq_head_, LoadAcquire(cq_tail_));
  return result;
}

/**
 * What a batch of signals relies on, checked on a private O_NONBLOCK eventfd: a ring write adds exactly
 * 1, and a write to a counter at its maximum (2^64 - 2) completes at once with EAGAIN, the count
 * unchanged, instead of being parked (a parked write would add its 1 later, behind the caller's back).
 * A parked write is completed by emptying the counter, and the ring refused.
 */
int CounterRing::ProbeWrite() {
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return errno;
  int result = 0;
  int err = 0;
  uint64_t value = 0;
  int r = Chunk(&efd, nullptr, &err, 1);
  if (r != 0) {
    result = r;
  } else if (err != 0) {
    result = err;
  } else if (read(efd, &value, sizeof value) != sizeof value || value != 1) {
    result = EIO;
  }
  uint64_t full = ~uint64_t{0} - 1;
  if (result == 0 && write(efd, &full, sizeof full) != sizeof full) result = errno;
  if (result == 0) result = MustNotPark(efd);
  // refused at once, so the count must still be the full one
  if (result == 0 && (read(efd, &value, sizeof value) != sizeof value || value != full)) result = EIO;
  close(efd);
  return result;
}

void CounterRing::Queue(unsigned idx, int fd, unsigned i) {
  auto* sqe = static_cast<io_uring_sqe*>(sqes_) + idx;
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = op_ == Op::kWrite ? IORING_OP_WRITE : IORING_OP_READ;
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(&slots_[i]);
  sqe->len = sizeof(uint64_t);
  sqe->off = ~uint64_t{0};  // "the file position", as read()/write() do; an eventfd ignores it
  sqe->rw_flags = RWF_NOWAIT;
  sqe->user_data = i;
  sq_array_[idx] = idx;
}

int CounterRing::Chunk(const int* fds, uint64_t* values, int* errs, unsigned n) {
  unsigned tail = *sq_tail_;  // only this thread writes the tail
  for (unsigned i = 0; i < n; i++) {
    Queue((tail + i) & sq_mask_, fds[i], i);
    errs[i] = -1;
  }
  // The SQEs must be visible before the kernel can see the new tail.
  StoreRelease(sq_tail_, tail + n);

  int submitted;
  do {
    submitted = SysEnter(ring_fd_, n, n, IORING_ENTER_GETEVENTS);
  } while (submitted < 0 && errno == EINTR);
  int result = 0;
  if (submitted < 0) {
    result = errno;
    submitted = 0;
  }
  if (static_cast<unsigned>(submitted) < n) {
    // A short submission (an older kernel stopping at a failed SQE, or a refused enter): take back the
    // SQEs the kernel did not consume, so they are not submitted by a later enter; they stay errs = -1
    // and the caller reads them itself.
    StoreRelease(sq_tail_, LoadAcquire(sq_head_));
    if (result == 0) result = EAGAIN;
  }

  // Reap every submitted read. With RWF_NOWAIT an eventfd read completes during submission, so the
  // completions are normally all there already; the wait below is for anything the kernel deferred.
  unsigned reaped = 0;
  while (reaped < static_cast<unsigned>(submitted)) {
    unsigned head = *cq_head_;
    unsigned ctail = LoadAcquire(cq_tail_);
    for (; head != ctail; head++, reaped++) {
      auto* cqe = static_cast<io_uring_cqe*>(cqes_) + (head & cq_mask_);
      auto i = static_cast<unsigned>(cqe->user_data);
      if (i >= n) continue;  // not ours (cannot happen: one issuer, one chunk in flight)
      if (cqe->res == static_cast<int>(sizeof(uint64_t))) {
        if (values != nullptr) values[i] = slots_[i];
        errs[i] = 0;
      } else {
        errs[i] = cqe->res < 0 ? -cqe->res : EIO;
      }
    }
    StoreRelease(cq_head_, head);
    if (reaped >= static_cast<unsigned>(submitted)) break;
    int r;
    do {
      r = SysEnter(ring_fd_, 0, static_cast<unsigned>(submitted) - reaped, IORING_ENTER_GETEVENTS);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return errno;
  }
  return result;
}

int CounterRing::ReadAll(const int* fds, uint64_t* values, int* errs, size_t n) {
  return op_ == Op::kRead ? All(fds, values, errs, n) : EINVAL;
}

int CounterRing::WriteAll(const int* fds, int* errs, size_t n) {
  return op_ == Op::kWrite ? All(fds, nullptr, errs, n) : EINVAL;
}

int CounterRing::All(const int* fds, uint64_t* values, int* errs, size_t n) {
  if (!IsOpen()) {
    for (size_t i = 0; i < n; i++) errs[i] = -1;
    return EBADF;
  }
  for (size_t at = 0; at < n; at += entries_) {
    auto chunk = static_cast<unsigned>(n - at < entries_ ? n - at : entries_);
    int r = Chunk(fds + at, values == nullptr ? nullptr : values + at, errs + at, chunk);
    if (r != 0) {
      for (size_t i = at + chunk; i < n; i++) errs[i] = -1;
      return r;
    }
  }
  return 0;
}

#else  // no io_uring headers at build time: the drain always reads with read()

int CounterRing::Open(unsigned, Op) { return ENOSYS; }
void CounterRing::Close() {}
int CounterRing::ProbeRead() { return ENOSYS; }
int CounterRing::ProbeWrite() { return ENOSYS; }
int CounterRing::MustNotPark(int) { return ENOSYS; }
void CounterRing::Queue(unsigned, int, unsigned) {}
int CounterRing::Chunk(const int*, uint64_t*, int*, unsigned) { return ENOSYS; }
int CounterRing::ReadAll(const int* fds, uint64_t* values, int* errs, size_t n) { return All(fds, values, errs, n); }
int CounterRing::WriteAll(const int* fds, int* errs, size_t n) { return All(fds, nullptr, errs, n); }
int CounterRing::All(const int*, uint64_t*, int* errs, size_t n) {
  for (size_t i = 0; i < n; i++) errs[i] = -1;
  return ENOSYS;
}

#endif

}  // namespace virq
