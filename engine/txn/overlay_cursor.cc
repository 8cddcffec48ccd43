#include "engine/txn/overlay_cursor.h"

#include <iterator>
#include <utility>

namespace sopfs {

OverlayCursor::OverlayCursor(const Btree* base, const Overlay* overlay)
    : base_(base), overlay_(overlay), base_cursor_(base), entry_(overlay->end()) {}

void OverlayCursor::EntryFirst() {
  entry_ = overlay_->begin();
  entry_valid_ = entry_ != overlay_->end();
}

void OverlayCursor::EntryLast() {
  entry_valid_ = !overlay_->empty();
  entry_ = entry_valid_ ? std::prev(overlay_->end()) : overlay_->end();
}

void OverlayCursor::EntrySeek(std::string_view key) {
  entry_ = overlay_->lower_bound(key);
  entry_valid_ = entry_ != overlay_->end();
}

void OverlayCursor::EntrySeekForPrev(std::string_view key) {
  entry_ = overlay_->upper_bound(key);
  entry_valid_ = entry_ != overlay_->begin();
  if (entry_valid_) --entry_;
}

void OverlayCursor::EntryStep() {
  if (forward_) {
    entry_valid_ = ++entry_ != overlay_->end();
  } else if (entry_ == overlay_->begin()) {
    entry_valid_ = false;
  } else {
    --entry_;
  }
}

Status OverlayCursor::BaseStep() { return forward_ ? base_cursor_.Next() : base_cursor_.Prev(); }

int OverlayCursor::Order(std::string_view a, std::string_view b) const {
  int c = base_->Compare(a, b);
  int sign = (c > 0) - (c < 0);
  return forward_ ? sign : -sign;
}

Status OverlayCursor::Fail(Status status) {
  current_ = Source::kNone;
  return status;
}

Status OverlayCursor::Start(bool forward, Status base_status) {
  forward_ = forward;
  if (!base_status.ok()) return Fail(std::move(base_status));
  return Settle();
}

Status OverlayCursor::Settle() {
  while (true) {
    if (!entry_valid_) {
      current_ = base_cursor_.Valid() ? Source::kBase : Source::kNone;
      return Status::Ok();
    }
    int order = base_cursor_.Valid() ? Order(entry_->first, base_cursor_.key()) : -1;
    if (order > 0) {
      current_ = Source::kBase;
      return Status::Ok();
    }
    if (entry_->second.present) {
      current_ = Source::kOverlay;
      return Status::Ok();
    }
    // A removal: hides the base item with its key, and is no item itself.
    if (order == 0) {
      Status st = BaseStep();
      if (!st.ok()) return Fail(std::move(st));
    }
    EntryStep();
  }
}

Status OverlayCursor::First() {
  EntryFirst();
  return Start(/*forward=*/true, base_cursor_.First());
}

Status OverlayCursor::Last() {
  EntryLast();
  return Start(/*forward=*/false, base_cursor_.Last());
}

Status OverlayCursor::Seek(std::string_view key) {
  EntrySeek(key);
  return Start(/*forward=*/true, base_cursor_.Seek(key));
}

Status OverlayCursor::SeekForPrev(std::string_view key) {
  EntrySeekForPrev(key);
  return Start(/*forward=*/false, base_cursor_.SeekForPrev(key));
}

Status OverlayCursor::TurnAround() {
  forward_ = !forward_;
  if (current_ == Source::kBase) {
    // The overlay holds no entry at the current key (it would have won or hidden it).
    std::string_view at = base_cursor_.key();
    forward_ ? EntrySeek(at) : EntrySeekForPrev(at);
    return Status::Ok();
  }
  std::string_view at = entry_->first;
  Status st = forward_ ? base_cursor_.Seek(at) : base_cursor_.SeekForPrev(at);
  if (!st.ok()) return Fail(std::move(st));
  return Status::Ok();
}

Status OverlayCursor::Move(bool forward) {
  if (forward != forward_) SOPFS_RETURN_IF_ERROR(TurnAround());
  if (current_ == Source::kOverlay) {
    // A base item with the same key was shadowed by the entry: leave it behind too.
    if (base_cursor_.Valid() && base_->Compare(base_cursor_.key(), entry_->first) == 0) {
      Status st = BaseStep();
      if (!st.ok()) return Fail(std::move(st));
    }
    EntryStep();
  } else {
    Status st = BaseStep();
    if (!st.ok()) return Fail(std::move(st));
  }
  return Settle();
}

Status OverlayCursor::Next() {
  if (!Valid()) return Status::Error(EINVAL, "Next on an overlay cursor that is not positioned");
  return Move(/*forward=*/true);
}

Status OverlayCursor::Prev() {
  if (!Valid()) return Status::Error(EINVAL, "Prev on an overlay cursor that is not positioned");
  return Move(/*forward=*/false);
}

std::string_view OverlayCursor::key() const {
  return current_ == Source::kOverlay ? std::string_view(entry_->first) : base_cursor_.key();
}

Result<std::string> OverlayCursor::value() const {
  if (!Valid()) {
    return Status::Error(EINVAL, "value of an overlay cursor that is not positioned");
  }
  if (current_ == Source::kBase) return base_cursor_.value();
  const OverlayEntry& entry = entry_->second;
  if (entry.value_blob == 0) return entry.value;
  return base_->store()->LoadValue(entry.value_blob);
}

}  // namespace sopfs
