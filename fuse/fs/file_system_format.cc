#include "fuse/fs/file_system_format.h"

#include "engine/io/posix_env.h"
#include "engine/txn/engine.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs {

Status FormatFileSystem(const VolumeConfig& volume, uint32_t uid, uint32_t gid) {
  PosixEnv env;
  Result<std::unique_ptr<Engine>> engine = Engine::Open(&env, EngineOptionsFor(volume));
  if (!engine.ok()) return engine.status();
  return CreateVolumeLayout(**engine, volume.chunk_size, uid, gid);
}

}  // namespace sopfs
