// The FUSE-over-io_uring protocol (kernel FUSE ABI 7.42, Linux 6.14 and later), for
// kernels whose headers here (linux/fuse.h 7.38) predate it. Layouts are the kernel's.
#pragma once

#include <cstdint>

namespace sopfs::uring_abi {

constexpr uint64_t kOverIoUring = 1ULL << 41;     // FUSE_OVER_IO_URING, an INIT flag (flags2)
constexpr uint32_t kInitExt = 1u << 30;           // FUSE_INIT_EXT: flags2 is read
constexpr uint32_t kHandleKillprivV2 = 1u << 28;  // FUSE_HANDLE_KILLPRIV_V2 (flags)
constexpr uint32_t kInitOpcode = 26;              // FUSE_INIT
constexpr uint32_t kCmdRegister = 1;              // FUSE_IO_URING_CMD_REGISTER
constexpr uint32_t kCmdCommitAndFetch = 2;        // FUSE_IO_URING_CMD_COMMIT_AND_FETCH

struct EntInOut {  // fuse_uring_ent_in_out
  uint64_t flags;
  uint64_t commit_id;   // names the request in the commit of its reply
  uint32_t payload_sz;  // bytes in the payload buffer, either way
  uint32_t padding;
  uint64_t reserved;
};

struct ReqHeader {   // fuse_uring_req_header: iov[0] of a REGISTER
  char in_out[128];  // fuse_in_header of a request, fuse_out_header of its reply
  char op_in[128];   // the request's first argument (its per-opcode struct)
  EntInOut ring_ent_in_out;
};
static_assert(sizeof(ReqHeader) == 288);

struct CmdReq {  // fuse_uring_cmd_req, in the SQE's 80-byte command area
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};
static_assert(sizeof(CmdReq) == 24);

}  // namespace sopfs::uring_abi
