// RegistryFile: the registry blocks of one side (one folder), in "<folder>/registry.blocks".
//
// Every block has two 4096-byte slots (block b at slots 2b and 2b+1). Version s of a
// block goes to slot s mod 2, so a write never touches the slot holding the current
// version (s - 1) and a torn write leaves it whole; a read takes the valid slot with
// the higher sequence. A checksum failure is never used: the block reads as corrupt.
//
// Threads: not thread-safe; the Registry serializes calls.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/aligned_buffer.h"
#include "engine/io/env.h"
#include "engine/registry/registry_block.h"

namespace sopfs {

class RegistryFile {
 public:
  // Opens the side's file, creating it (durably) if it is missing and `create` is set.
  static Result<std::unique_ptr<RegistryFile>> Open(Env* env, const std::string& folder,
                                                    bool create);

  enum class BlockState {
    kValid,           // *out holds the current version
    kEmpty,           // never written
    kFirstWriteTorn,  // one slot unreadable, the other never written: the only write may
                      // have been torn by a crash, or that version rotted
    kCorrupt,         // written, and no readable version
  };
  // Reads a block; an I/O error is a Status, a bad block a BlockState. With kValid,
  // `*newer_slot_corrupt` tells whether the other slot is unreadable although written:
  // either a newer write was torn, or a newer committed version rotted; only the other
  // side can tell which.
  Result<BlockState> Read(uint64_t number, RegistryBlock* out, bool* newer_slot_corrupt = nullptr);

  // The writes of `blocks` (sequence already bumped by the caller) into their free
  // slots, as a chain of ops ending in fdatasync, appended to `ops`. The buffers live in
  // this object until Finish.
  // `mirror` writes into the other slot instead (Rewrite's second copy).
  void PrepareWrite(const std::vector<RegistryBlock>& blocks, std::vector<IoOp>* ops,
                    bool mirror = false);
  // Allocates both slots of every block up to `block_count` (a no-op for those done
  // already), so that writing them later needs no new room: a registry write at a full
  // disk fails here with ENOSPC, before anything is written, or not at all.
  Status Preallocate(uint64_t block_count);
  // Checks the ops PrepareWrite added.
  Status FinishWrite(std::span<const IoOp> ops);

  // Rewrites the whole file from `blocks` (both slots of each), durably: reinstating a
  // side from the live one.
  Status Rewrite(const std::vector<RegistryBlock>& blocks);

  // Highest block number that has ever been written plus one (from the file size).
  Result<uint64_t> BlockCount();

  const std::string& folder() const { return folder_; }

 private:
  RegistryFile(Env* env, std::string folder, std::unique_ptr<File> file);

  Env* env_;
  std::string folder_;
  std::unique_ptr<File> file_;
  uint64_t allocated_blocks_ = 0;  // Preallocate'd in this process
  // In flight between PrepareWrite and FinishWrite.
  AlignedBuffer pending_;
  std::vector<iovec> pending_iovs_;
};

}  // namespace sopfs
