// CheckRegistrySides: compares the two sides of a registry block by block (sopfs fsck)
// and, on request, rewrites the bad side of each block from the good one.
//
// What the two sides have in common after a clean close (from registry.cc): Apply
// writes every changed block to both current sides in one batch, with the same
// sequence, and a side that misses a write is recorded stale (registry.state) before
// Apply returns. Reinstate and the read repair copy blocks with their sequence. So, while
// registry.state says the passive side is current, every block reads on both sides with
// the same entries and the same sequence. The sequence matters as much as the entries:
// RegistryFile::PrepareWrite picks the slot of the next write by its parity, trusting
// it to be the same on both sides; a side whose sequence drifted would have its next
// write land on its only current slot, or be shadowed by an older slot with a higher
// sequence. A slot that is unreadable beside a readable one (a write torn by a crash,
// never committed) is no difference: the next write of the block goes to it.
//
// Which side is active: registry.state of both sides, read as Registry::Open reads it
// (the readable one with the higher epoch). When both sides read valid and differ, the
// block Registry would serve wins: the active side's, unless its newer slot is
// unreadable and the passive side holds a higher sequence (then that newer version is
// the passive one's). When one side has no readable version of a block the other has,
// the readable one wins wherever it is.
//
// Kinds reported, where = "<side folder> block <n>" (the bad side):
//  "registry-block-corrupt": no readable version on this side (both slots unreadable,
//    a torn first write, or never written: a short or missing registry.blocks) while the
//    other side has one; or unreadable on both sides, which nothing can repair (listed
//    once per unreadable side).
//  "registry-sides-differ": both readable, different entries or sequence.
//  "registry-side-stale" (where = the passive folder): registry.state says the passive
//    side missed writes. Only reported, never fixed here (Registry::Reinstate does it);
//    its blocks are then not compared, and only the active side's are checked.
// Progress: report->Checked("registry-blocks", 1) per block number compared.
//
// Run it on a volume no daemon has open (the caller's duty), after the engine's
// recovery: an Apply interrupted by a crash can leave the sides different, which the
// replay of the commit log on the next open settles. Checking before that is still
// safe: repair settles each block the way Registry would read it, and the replay
// starts from that.
#pragma once

#include <string>

#include "engine/check/check_report.h"
#include "engine/io/env.h"

namespace sopfs {

// Checks the registry kept in `side_a` and `side_b` (the folders given to
// Registry::Open). With `repair`, each bad block of a block-corrupt or sides-differ
// problem is rewritten from the good side into both slots of the bad one, durably
// (fdatasync; a missing registry.blocks is created and its folder flushed), and reported
// Fixed instead of Found. Errors: EIO when registry.state cannot tell which side is
// active (as Registry::Open refuses), an I/O error of a read or a repair write. A block
// that cannot be read for an I/O error is reported corrupt on that side.
Status CheckRegistrySides(Env* env, const std::string& side_a, const std::string& side_b,
                          bool repair, CheckReport* report);

}  // namespace sopfs
