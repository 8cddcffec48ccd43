// HeldBlobs: small blobs the engine keeps in memory instead of the data folders, for a
// while. Two kinds:
// - staged: a small value a transaction staged (StageValue) and has not committed yet.
//   Not durable anywhere; a crash loses it with its transaction. Its commit carries it.
// - logged: a blob (a staged value or a new node segment) that a commit record carried
//   in the commit log, so that a small commit costs one log flush instead of a prepare
//   record, an erasure-coded write and then the record. It is durable (in the log) but
//   not erasure coded yet: the engine's spiller writes it to the data folders soon
//   after, and every checkpoint writes what is left before it resets the log; recovery
//   writes the ones of the records it replays.
// Readers look here before the data folders. The holding is bounded (capacity): past
// it, values are staged and commits are written the usual way.
//
// Threads: every method may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/blob/blob_id.h"
#include "engine/blob/erasure_layout.h"

namespace sopfs {

class HeldBlobs {
 public:
  struct Blob {
    BlobId id;
    ErasureLayout layout;
    std::shared_ptr<const std::string> bytes;
    bool new_data = false;  // staged as new data: refused at a full disk (Room::kNewData)
  };

  explicit HeldBlobs(size_t capacity) : capacity_(capacity) {}

  // Holds `bytes` as staged when they fit in what is left; false if not (or if held
  // already). Logged blobs (a commit record carries them already) are always held.
  bool Hold(const BlobId& id, ErasureLayout layout, std::string bytes, bool logged = false,
            bool new_data = false);
  // The bytes of a held blob, or nullptr.
  std::shared_ptr<const std::string> Find(const BlobId& id) const;
  // A staged blob, or nullopt if `id` is not held staged.
  std::optional<Blob> FindStaged(const BlobId& id) const;
  bool Contains(const BlobId& id) const;
  // Would `bytes` more fit?
  bool HasRoom(size_t bytes) const;
  // Staged blobs a commit record now carries (held again, as logged, if something
  // dropped them meanwhile: the record is durable, so they must be written).
  void MarkLogged(const std::vector<Blob>& blobs);
  // Forgets a blob (staged and discarded, or written to the data folders). True if it
  // was held.
  bool Drop(const BlobId& id);
  // Drops `id` only if it is held staged (a logged blob is durable data).
  bool DropStaged(const BlobId& id);
  // Up to `max_bytes` (at least one blob) of logged blobs, for the spiller.
  std::vector<Blob> Logged(size_t max_bytes) const;
  size_t logged_count() const;
  size_t bytes() const;

 private:
  struct Held {
    ErasureLayout layout;
    std::shared_ptr<const std::string> bytes;
    bool logged = false;
    bool new_data = false;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<BlobId, Held> held_;
  size_t bytes_ = 0;
  size_t logged_ = 0;
};

}  // namespace sopfs
