#include "engine/registry/registry_file.h"

namespace sopfs {
namespace {

constexpr const char* kFileName = "/registry.blocks";

uint64_t SlotOffset(uint64_t block, int slot) {
  return (2 * block + static_cast<uint64_t>(slot)) * RegistryBlock::kSize;
}

}  // namespace

RegistryFile::RegistryFile(Env* env, std::string folder, std::unique_ptr<File> file)
    : env_(env), folder_(std::move(folder)), file_(std::move(file)) {}

Result<std::unique_ptr<RegistryFile>> RegistryFile::Open(Env* env, const std::string& folder,
                                                         bool create) {
  const std::string path = folder + kFileName;
  const bool existed = env->Exists(path);
  if (!existed && !create) return Status::Error(ENOENT, "registry file " + path + " is missing");
  auto file = env->Open(path, {.mode = existed ? OpenMode::kReadWrite : OpenMode::kCreate});
  if (!file.ok()) return file.status();
  if (!existed) SOPFS_RETURN_IF_ERROR(env->SyncDir(folder));
  return std::unique_ptr<RegistryFile>(new RegistryFile(env, folder, std::move(*file)));
}

Result<uint64_t> RegistryFile::BlockCount() {
  auto size = file_->Size();
  if (!size.ok()) return size.status();
  return (*size + 2 * RegistryBlock::kSize - 1) / (2 * RegistryBlock::kSize);
}

Result<RegistryFile::BlockState> RegistryFile::Read(uint64_t number, RegistryBlock* out,
                                                    bool* newer_slot_corrupt) {
  AlignedBuffer buf(2 * RegistryBlock::kSize);
  iovec iov = buf.iov();
  IoOp op{.kind = IoKind::kRead,
          .file = file_.get(),
          .offset = SlotOffset(number, 0),
          .iov = &iov,
          .iovcnt = 1};
  SOPFS_RETURN_IF_ERROR(env_->Submit({&op, 1}));
  if (op.result < 0) {
    return Status::Error(
        static_cast<int>(-op.result),
        "reading registry block " + std::to_string(number) + " in " + file_->path());
  }
  // Bytes past the end of the file read as zeros (never written). AlignedBuffer starts
  // zeroed, so a short read leaves them so.
  RegistryBlock slot[2];
  RegistryBlock::Decoded state[2];
  for (int s = 0; s < 2; ++s) {
    state[s] = slot[s].Decode(std::span<const uint8_t, RegistryBlock::kSize>(
                                  buf.data() + s * RegistryBlock::kSize, RegistryBlock::kSize),
                              number);
  }
  using D = RegistryBlock::Decoded;
  int best = -1;
  for (int s = 0; s < 2; ++s) {
    if (state[s] == D::kValid && (best < 0 || slot[s].sequence > slot[best].sequence)) best = s;
  }
  if (best >= 0) {
    *out = slot[best];
    if (newer_slot_corrupt) *newer_slot_corrupt = state[1 - best] == D::kCorrupt;
    return BlockState::kValid;
  }
  *out = RegistryBlock{};
  out->number = number;
  if (state[0] == D::kEmpty && state[1] == D::kEmpty) return BlockState::kEmpty;
  if (state[0] == D::kEmpty || state[1] == D::kEmpty) return BlockState::kFirstWriteTorn;
  return BlockState::kCorrupt;
}

void RegistryFile::PrepareWrite(const std::vector<RegistryBlock>& blocks, std::vector<IoOp>* ops,
                                bool mirror) {
  pending_ = AlignedBuffer(blocks.size() * RegistryBlock::kSize);
  pending_iovs_.resize(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const RegistryBlock& b = blocks[i];
    // Sequences rise by one per write, the same on both sides, so the parity picks the
    // slot that does not hold the current version, whatever this side has read.
    const int slot = static_cast<int>(b.sequence & 1) ^ (mirror ? 1 : 0);
    uint8_t* p = pending_.data() + i * RegistryBlock::kSize;
    b.Encode(std::span<uint8_t, RegistryBlock::kSize>(p, RegistryBlock::kSize));
    pending_iovs_[i] = {p, RegistryBlock::kSize};
    ops->push_back({.kind = IoKind::kWrite,
                    .file = file_.get(),
                    .offset = SlotOffset(b.number, slot),
                    .iov = &pending_iovs_[i],
                    .iovcnt = 1,
                    .link_next = true});
  }
  ops->push_back({.kind = IoKind::kFdatasync, .file = file_.get()});
}

Status RegistryFile::Preallocate(uint64_t block_count) {
  if (block_count <= allocated_blocks_) return Status::Ok();
  // The first call also fills the holes a file written before holds (one call).
  const uint64_t block_bytes = 2 * RegistryBlock::kSize;
  SOPFS_RETURN_IF_ERROR(file_->Allocate(0, block_count * block_bytes));
  allocated_blocks_ = block_count;
  return Status::Ok();
}

Status RegistryFile::FinishWrite(std::span<const IoOp> ops) {
  for (const IoOp& op : ops) {
    if (!op.Complete()) {
      const int err = op.result < 0 ? static_cast<int>(-op.result) : EIO;
      return Status::Error(err, std::string(op.kind == IoKind::kWrite ? "writing" : "flushing") +
                                    " registry blocks in " + file_->path());
    }
  }
  return Status::Ok();
}

Status RegistryFile::Rewrite(const std::vector<RegistryBlock>& blocks) {
  SOPFS_RETURN_IF_ERROR(file_->Truncate(0));
  // Both slots get the block (the second pass into the slot its parity does not pick),
  // so either slot alone is a whole copy.
  for (bool mirror : {false, true}) {
    std::vector<IoOp> ops;
    PrepareWrite(blocks, &ops, mirror);
    SOPFS_RETURN_IF_ERROR(env_->Submit(ops));
    SOPFS_RETURN_IF_ERROR(FinishWrite(ops));
  }
  return Status::Ok();
}

}  // namespace sopfs
