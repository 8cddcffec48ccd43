// MountDevice: which backing device's read-ahead the daemon sets for its mount.
#include "fuse/kernel/kernel_read_ahead.h"

#include <gtest/gtest.h>

namespace sopfs {
namespace {

constexpr const char* kMountinfo =
    "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    "40 22 0:55 / /mnt/a\\040b rw,nosuid,nodev shared:20 - fuse.sopfs /v rw,user_id=0\n"
    "41 22 0:56 / /mnt/a rw shared:21 - fuse.sopfs /w rw,user_id=0\n"
    "42 40 0:57 / /mnt/a\\040b rw shared:22 - fuse.sopfs /v rw,user_id=0\n";

TEST(KernelReadAhead, MountDeviceIsThatOfTheNewestMountAtThePathWithEscapesUndone) {
  EXPECT_EQ(MountDevice(kMountinfo, "/"), "254:1");
  EXPECT_EQ(MountDevice(kMountinfo, "/mnt/a"), "0:56");
  // "\040" is a space; a later mount on the same path hides the earlier one.
  EXPECT_EQ(MountDevice(kMountinfo, "/mnt/a b"), "0:57");
  EXPECT_EQ(MountDevice(kMountinfo, "/mnt/a\\040b"), std::nullopt);
  EXPECT_EQ(MountDevice(kMountinfo, "/mnt"), std::nullopt);
  EXPECT_EQ(MountDevice("", "/"), std::nullopt);
  EXPECT_EQ(MountDevice("garbage\n\n1 2\n", "/"), std::nullopt);
}

}  // namespace
}  // namespace sopfs
