// OverlayCursor: ordered iteration over "overlay over snapshot tree" — the items of a
// base Btree with a transaction's Overlay applied on top. An overlay entry with
// present=true replaces or adds its key; present=false hides the base item with that
// key (and is not an item itself). The API mirrors BtreeCursor.
//
// It is a two-way merge: a BtreeCursor on the base and an iterator into the overlay,
// keys compared with base->Compare() (the overlay must be ordered the same way, see
// MakeOverlay). When both hold a key the overlay wins and the base item is skipped.
// Moving forward, both sources stand on their first key >= the current key; moving
// backward, on their last key <= it. Turning around (Next after Prev or the other way)
// re-positions the source that is not current relative to the current key first.
//
// Contract: neither the base tree nor the overlay changes while the cursor is in use.
// A transaction that writes re-creates its cursors afterwards, or re-seeks them (every
// First/Last/Seek/SeekForPrev starts afresh). Errors of the base cursor (EIO for a
// missing or malformed node, or the store's error) are returned and leave the cursor
// not Valid(); so does a failed LoadValue in value(), without moving the cursor.
//
// Threads: one thread at a time, like the transaction that owns it; the base Btree and
// the overlay must outlive the cursor.
#pragma once

#include <string>
#include <string_view>

#include "engine/btree/btree.h"
#include "engine/btree/btree_cursor.h"
#include "engine/status.h"
#include "engine/txn/overlay.h"

namespace sopfs {

class OverlayCursor {
 public:
  OverlayCursor(const Btree* base, const Overlay* overlay);

  // Position on the first / last item of the merged view; not Valid() if it is empty.
  Status First();
  Status Last();
  // Position on the first item >= key; not Valid() if there is none.
  Status Seek(std::string_view key);
  // Position on the last item <= key; not Valid() if there is none.
  Status SeekForPrev(std::string_view key);
  // Move to the next / previous item; not Valid() past either end. EINVAL if not Valid().
  Status Next();
  Status Prev();

  bool Valid() const { return current_ != Source::kNone; }
  // Require Valid().
  std::string_view key() const;
  // The overlay's value (inline, or loaded from its value blob) or the base item's value.
  Result<std::string> value() const;

 private:
  enum class Source { kNone, kBase, kOverlay };

  // Overlay positioning; entry_valid_ false means past either end.
  void EntryFirst();
  void EntryLast();
  void EntrySeek(std::string_view key);
  void EntrySeekForPrev(std::string_view key);
  void EntryStep();   // one entry in the current direction
  Status BaseStep();  // one base item in the current direction

  // Sign of the order of overlay key a and base key b in the current direction:
  // negative when a comes first.
  int Order(std::string_view a, std::string_view b) const;
  // Starts iterating in `forward` direction once both sources are positioned.
  Status Start(bool forward, Status base_status);
  // Skips removals (and the base items they hide) and picks the current source.
  Status Settle();
  // Re-positions the source that is not current for moving in the other direction.
  Status TurnAround();
  Status Move(bool forward);
  // Not Valid() any more; returns `status`.
  Status Fail(Status status);

  const Btree* base_;
  const Overlay* overlay_;
  BtreeCursor base_cursor_;
  Overlay::const_iterator entry_;
  bool entry_valid_ = false;
  bool forward_ = true;
  Source current_ = Source::kNone;
};

}  // namespace sopfs
