// The bytes `sopfs bench fs` writes, so that every read can be checked.
//
// One 1 MiB block of random bytes repeats through the file, and the first 8 bytes of
// each 4 KiB block hold that block's number in the file. So file offset o holds
// Unit()[o % kUnit], except for the stamps; a block read from the wrong place, or
// stale, or zeroed, fails Check.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

namespace sopfs::tools {

class FilePattern {
 public:
  static constexpr size_t kBlock = 4096;
  static constexpr size_t kUnit = 1 << 20;

  FilePattern() : unit_(kUnit), buffer_(kUnit) {
    std::mt19937_64 gen(20240601);
    for (size_t i = 0; i < kUnit; i += 8) {
      const uint64_t v = gen();
      std::memcpy(&unit_[i], &v, 8);
    }
  }

  // The bytes of [offset, offset + length): offset is a multiple of kBlock, length at
  // most kUnit. Valid until the next call.
  std::span<const uint8_t> Bytes(uint64_t offset, size_t length) {
    for (size_t done = 0; done < length; done += kBlock) {
      const uint64_t at = offset + done;
      const size_t n = std::min(kBlock, length - done);
      std::memcpy(&buffer_[done], &unit_[at % kUnit], n);
      const uint64_t block = at / kBlock;
      std::memcpy(&buffer_[done], &block, std::min<size_t>(8, n));
    }
    return {buffer_.data(), length};
  }

  // Whether `data`, read from `offset` (a multiple of kBlock), holds the right bytes.
  bool Check(std::span<const uint8_t> data, uint64_t offset) const {
    for (size_t done = 0; done < data.size(); done += kBlock) {
      const uint64_t at = offset + done;
      const size_t n = std::min(kBlock, data.size() - done);
      const uint64_t block = at / kBlock;
      if (std::memcmp(&data[done], &block, std::min<size_t>(8, n)) != 0) return false;
      if (n > 8 && std::memcmp(&data[done + 8], &unit_[at % kUnit + 8], n - 8) != 0) return false;
    }
    return true;
  }

 private:
  std::vector<uint8_t> unit_;
  std::vector<uint8_t> buffer_;
};

}  // namespace sopfs::tools
