#include "engine/registry/registry_check.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "engine/registry/registry.h"
#include "engine/registry/registry_block.h"
#include "engine/registry/registry_file.h"

namespace sopfs {
namespace {

using BlockState = RegistryFile::BlockState;

// One side's view of one block.
struct SideBlock {
  BlockState state = BlockState::kEmpty;
  RegistryBlock block;
  bool newer_slot_corrupt = false;
  Status error;  // an I/O error reading it (then state is kCorrupt)
};

// A block to rewrite on one side, and the problem that rewrite fixes.
struct Repair {
  RegistryBlock good;
  std::string kind, where, detail;
};

// One side of the registry: its folder and its registry.blocks (null when missing).
struct Side {
  std::string folder;
  std::unique_ptr<RegistryFile> file;
  std::vector<Repair> repairs;
};

std::string Where(const Side& side, uint64_t number) {
  return side.folder + " block " + std::to_string(number);
}

std::string IdRange(uint64_t number) {
  return "logical IDs " + std::to_string(number * RegistryBlock::kEntriesPerBlock) + ".." +
         std::to_string((number + 1) * RegistryBlock::kEntriesPerBlock - 1);
}

SideBlock ReadSide(Side& side, uint64_t number) {
  SideBlock out;
  out.block.number = number;
  if (!side.file) return out;  // no registry.blocks: every block reads as never written
  auto state = side.file->Read(number, &out.block, &out.newer_slot_corrupt);
  if (state.ok()) {
    out.state = *state;
  } else {
    out.state = BlockState::kCorrupt;
    out.error = state.status();
  }
  return out;
}

// Why `bad` has no readable version, for a problem's detail.
std::string Unreadable(const Side& side, const SideBlock& bad) {
  if (!bad.error.ok()) return "cannot be read: " + bad.error.ToString();
  switch (bad.state) {
    case BlockState::kEmpty:
      return side.file ? "was never written on this side (registry.blocks is short)"
                       : "is missing on this side (no registry.blocks)";
    case BlockState::kFirstWriteTorn:
      return "has one unreadable slot and nothing else on this side";
    default:
      return "has both slots unreadable on this side";
  }
}

// How `loser` differs from `winner` (both readable), for a problem's detail.
std::string Difference(const SideBlock& loser, const SideBlock& winner, const Side& winner_side) {
  size_t differ = 0;
  size_t first = 0;
  for (size_t i = 0; i < RegistryBlock::kEntriesPerBlock; ++i) {
    if (loser.block.entries[i] != winner.block.entries[i] && differ++ == 0) first = i;
  }
  std::string d = std::to_string(differ) + " entries differ";
  if (differ > 0) {
    d += " (first: logical ID " +
         std::to_string(loser.block.number * RegistryBlock::kEntriesPerBlock + first) + ")";
  }
  d += ", sequence " + std::to_string(loser.block.sequence) + " here, " +
       std::to_string(winner.block.sequence) + " in " + winner_side.folder;
  if (loser.newer_slot_corrupt) d += "; the newer slot here is unreadable";
  return d;
}

// Which side registry.state makes active, as Registry::Init decides it. Sets *none
// when neither side has a registry at all (nothing to check).
Result<Registry::State> ActiveState(Env* env, const std::string folders[2], bool* none) {
  Registry::State state;
  bool any = false;
  int unreadable = -1;
  Status why;
  for (int side = 0; side < 2; ++side) {
    auto st = Registry::ReadState(env, folders[side]);
    if (st.ok()) {
      if (!any || st->epoch > state.epoch) state = *st;
      any = true;
    } else {
      unreadable = side;
      why = st.status();
    }
  }
  const bool blocks_exist =
      env->Exists(folders[0] + "/registry.blocks") || env->Exists(folders[1] + "/registry.blocks");
  *none = !any && !blocks_exist;
  if (!any && blocks_exist) {
    return Status::Error(EIO, "registry check: no readable registry.state on either side (" +
                                  why.ToString() + "); cannot tell which side is active");
  }
  if (any && unreadable >= 0 && !(state.active != unreadable && state.passive_stale) &&
      blocks_exist) {
    return Status::Error(EIO, "registry check: the state of " + folders[unreadable] +
                                  " cannot be read (" + why.ToString() +
                                  ") and the other side does not say it is current");
  }
  return state;
}

// Opens a side's registry.blocks; a missing one gives null (checked as all empty), or,
// with `create`, is made (folder included) durably.
Status OpenSide(Env* env, Side* side, bool create) {
  if (side->file) return Status::Ok();
  if (create) SOPFS_RETURN_IF_ERROR(env->MkDirsDurably(side->folder));
  auto file = RegistryFile::Open(env, side->folder, create);
  if (file.ok()) {
    side->file = std::move(*file);
    return Status::Ok();
  }
  return file.status().code() == ENOENT && !create ? Status::Ok() : file.status();
}

// Writes every queued repair of `side` into both slots of its block, durably (as
// RegistryFile::Rewrite does, without truncating the rest): either slot alone is then
// a whole copy, whatever the side held before.
Status WriteRepairs(Env* env, Side* side) {
  if (side->repairs.empty()) return Status::Ok();
  SOPFS_RETURN_IF_ERROR(OpenSide(env, side, /*create=*/true));
  std::vector<RegistryBlock> blocks;
  for (const Repair& r : side->repairs) blocks.push_back(r.good);
  for (bool mirror : {false, true}) {
    std::vector<IoOp> ops;
    side->file->PrepareWrite(blocks, &ops, mirror);
    SOPFS_RETURN_IF_ERROR(env->Submit(ops));
    SOPFS_RETURN_IF_ERROR(side->file->FinishWrite(ops));
  }
  return Status::Ok();
}

// Compares one block on both current sides; queues what is wrong on `side[x]` (or
// reports it when it cannot be repaired).
void CompareBlock(Side side[2], int active, uint64_t number, CheckReport* report) {
  const SideBlock b[2] = {ReadSide(side[0], number), ReadSide(side[1], number)};
  const bool valid[2] = {b[0].state == BlockState::kValid, b[1].state == BlockState::kValid};
  if (!valid[0] && !valid[1]) {
    // Nothing to copy from. Empty or a torn first write on both sides means the block
    // was never committed (Registry reads it empty); a side that has written but
    // unreadable slots lost what they held.
    for (int x = 0; x < 2; ++x) {
      if (b[x].state != BlockState::kCorrupt) continue;
      report->Found("registry-block-corrupt", Where(side[x], number),
                    "the block " + Unreadable(side[x], b[x]) +
                        ", and the other side has no readable version: " + IdRange(number) +
                        " cannot be read");
    }
    return;
  }
  if (valid[0] != valid[1]) {
    const int bad = valid[0] ? 1 : 0;
    side[bad].repairs.push_back(
        {b[1 - bad].block, "registry-block-corrupt", Where(side[bad], number),
         "the block " + Unreadable(side[bad], b[bad]) + "; " + side[1 - bad].folder +
             " has sequence " + std::to_string(b[1 - bad].block.sequence)});
    return;
  }
  // Both readable: the version Registry would serve wins (see the header).
  const int passive = 1 - active;
  const int winner =
      b[active].newer_slot_corrupt && b[passive].block.sequence > b[active].block.sequence ? passive
                                                                                           : active;
  const int loser = 1 - winner;
  if (b[loser].block.sequence == b[winner].block.sequence &&
      b[loser].block.entries == b[winner].block.entries) {
    return;
  }
  side[loser].repairs.push_back({b[winner].block, "registry-sides-differ",
                                 Where(side[loser], number),
                                 Difference(b[loser], b[winner], side[winner]) +
                                     (winner == active ? " (active)" : " (passive, newer)")});
}

// Registry.state says the passive side is stale: report it, and check that every
// block of the active side can be read (there is nothing to repair it from).
Status CheckActiveOnly(Side* active, CheckReport* report) {
  if (!active->file) return Status::Ok();
  auto count = active->file->BlockCount();
  if (!count.ok()) return count.status();
  for (uint64_t n = 0; n < *count; ++n) {
    const SideBlock b = ReadSide(*active, n);
    if (b.state == BlockState::kCorrupt) {
      report->Found("registry-block-corrupt", Where(*active, n),
                    "the block " + Unreadable(*active, b) +
                        ", and the passive side is stale: " + IdRange(n) + " cannot be read");
    }
    report->Checked("registry-blocks", 1);
  }
  return Status::Ok();
}

}  // namespace

Status CheckRegistrySides(Env* env, const std::string& side_a, const std::string& side_b,
                          bool repair, CheckReport* report) {
  const std::string folders[2] = {side_a, side_b};
  bool none = false;
  auto state = ActiveState(env, folders, &none);
  if (!state.ok()) return state.status();
  if (none) return Status::Ok();  // never opened: no registry to check
  Side side[2];
  for (int x = 0; x < 2; ++x) side[x].folder = folders[x];
  const int active = state->active;
  const int passive = 1 - active;
  SOPFS_RETURN_IF_ERROR(OpenSide(env, &side[active], /*create=*/false));

  if (state->passive_stale) {
    report->Found("registry-side-stale", folders[passive],
                  "registry.state (epoch " + std::to_string(state->epoch) +
                      ") says this passive side missed writes; reinstating it from " +
                      folders[active] + " brings it up to date");
    return CheckActiveOnly(&side[active], report);
  }
  SOPFS_RETURN_IF_ERROR(OpenSide(env, &side[passive], /*create=*/false));

  uint64_t count = 0;
  for (const Side& s : side) {
    if (!s.file) continue;
    auto n = s.file->BlockCount();
    if (!n.ok()) return n.status();
    count = std::max(count, *n);
  }
  for (uint64_t n = 0; n < count; ++n) {
    CompareBlock(side, active, n, report);
    report->Checked("registry-blocks", 1);
  }

  // Every problem is reported, even when one side's repair fails.
  Status first_error;
  for (Side& s : side) {
    Status written = repair ? WriteRepairs(env, &s) : Status::Ok();
    for (const Repair& r : s.repairs) {
      if (repair && written.ok()) {
        report->Fixed(r.kind, r.where, r.detail + "; rewritten from the other side");
      } else {
        report->Found(r.kind, r.where, r.detail);
      }
    }
    if (!written.ok() && first_error.ok()) {
      first_error = Status::Error(
          written.code(), "repairing registry blocks in " + s.folder + ": " + written.ToString());
    }
  }
  return first_error;
}

}  // namespace sopfs
