#include "fuse/fs/set_id_bits.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace sopfs {

uint32_t ModeAfterOwnerChange(uint32_t mode) {
  if (S_ISDIR(mode)) return mode;
  mode &= ~static_cast<uint32_t>(S_ISUID);
  if (mode & S_IXGRP) mode &= ~static_cast<uint32_t>(S_ISGID);
  return mode;
}

uint32_t ModeAfterContentChange(uint32_t mode) {
  return S_ISREG(mode) ? ModeAfterOwnerChange(mode) : mode;
}

bool HoldsCapFsetid(pid_t pid) {
  constexpr int kCapFsetid = 4;  // linux/capability.h
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    unsigned long long caps = 0;
    if (std::sscanf(line.c_str(), "CapEff: %llx", &caps) == 1) return (caps >> kCapFsetid) & 1;
  }
  return false;
}

}  // namespace sopfs
