// AlignedBuffer: an owned, zero-filled byte buffer whose address and size are
// multiples of an alignment (kDirectIoAlignment by default), as O_DIRECT requires
// of buffers, offsets and lengths.
//
// Threads: a buffer is plain memory; callers synchronise access to its bytes.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <utility>

#include "engine/io/env.h"

namespace sopfs {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // Holds at least `size` bytes; size() is `size` rounded up to `alignment` (a power
  // of two), so the whole buffer can be handed to an O_DIRECT read or write.
  explicit AlignedBuffer(size_t size, size_t alignment = kDirectIoAlignment)
      : size_(RoundUp(size, alignment)) {
    if (size_ == 0) return;
    void* p = std::aligned_alloc(alignment, size_);
    if (p == nullptr) throw std::bad_alloc();
    // Zeroed so that the tail past a short read never exposes stale heap bytes.
    std::memset(p, 0, size_);
    data_.reset(static_cast<uint8_t*>(p));
  }

  // The same without the zero fill, for a caller that writes or zeroes every byte
  // itself (a zero fill of large buffers made fresh for each chunk costs real time).
  struct NoZeroFill {};
  AlignedBuffer(size_t size, NoZeroFill, size_t alignment = kDirectIoAlignment)
      : size_(RoundUp(size, alignment)) {
    if (size_ == 0) return;
    void* p = std::aligned_alloc(alignment, size_);
    if (p == nullptr) throw std::bad_alloc();
    data_.reset(static_cast<uint8_t*>(p));
  }

  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  std::span<uint8_t> span() { return {data_.get(), size_}; }
  std::span<const uint8_t> span() const { return {data_.get(), size_}; }
  // The whole buffer as one iovec, for an IoOp.
  iovec iov() { return {data_.get(), size_}; }

  static constexpr size_t RoundUp(size_t n, size_t alignment) {
    return (n + alignment - 1) & ~(alignment - 1);
  }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

}  // namespace sopfs
