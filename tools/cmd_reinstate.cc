// sopfs reinstate VOLUME: brings a registry side that missed writes (restored from a
// backup, or back after its drive failed) up to date from the live side, and makes it
// the passive side again (Registry::Reinstate). The volume must not be mounted.
// Exit 0 done (or nothing to do), 1 failed, 2 bad command line.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <string>

#include "engine/io/posix_env.h"
#include "engine/txn/engine.h"
#include "fuse/volume/volume_config.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/volume_lock.h"

namespace sopfs::tools {

int RunReinstate(int argc, char** argv) {
  namespace po = boost::program_options;
  constexpr const char* kCommand = "sopfs reinstate";
  po::options_description opts(
      "usage: sopfs reinstate VOLUME\n\n"
      "Fast-forwards the registry side that missed writes (a restored folder, a\n"
      "replaced drive) from the live side. The volume must not be mounted.\n\noptions");
  opts.add_options()("help,h", "print this help");
  po::variables_map vm;
  if (auto done = ParseVolumeCommandLine(kCommand, opts, argc, argv, vm)) return *done;
  const std::string volume = vm["volume"].as<std::string>();
  Result<VolumeConfig> config = ReadVolumeConfig(volume);
  if (!config.ok()) {
    std::fprintf(stderr, "%s: %s\n", kCommand, config.status().message().c_str());
    return 1;
  }
  Result<int> lock = LockVolume(volume);
  if (!lock.ok()) {
    const bool mounted = lock.status().code() == EBUSY;
    std::fprintf(stderr, "%s: %s%s\n", kCommand, lock.status().message().c_str(),
                 mounted ? "; unmount it first" : "");
    return 1;
  }
  PosixEnv env;
  Result<std::unique_ptr<Engine>> engine = Engine::Open(&env, EngineOptionsFor(*config));
  int code = 0;
  if (!engine.ok()) {
    std::fprintf(stderr, "%s: cannot open %s: %s\n", kCommand, volume.c_str(),
                 engine.status().ToString().c_str());
    code = 1;
  } else {
    const RegistryHealth before = (*engine)->registry_health();
    if (!before.passive_stale) {
      std::printf("%s: both registry sides are up to date (active %s, passive %s)\n", kCommand,
                  before.active_folder.c_str(), before.passive_folder.c_str());
    } else if (Status st = (*engine)->ReinstateRegistry(); !st.ok()) {
      std::fprintf(stderr, "%s: %s\n", kCommand, st.ToString().c_str());
      code = 1;
    } else {
      const RegistryHealth after = (*engine)->registry_health();
      std::printf("%s: %s is up to date again and passive (active %s)\n", kCommand,
                  after.passive_folder.c_str(), after.active_folder.c_str());
    }
    engine->reset();
  }
  ::close(*lock);
  return code;
}

}  // namespace sopfs::tools
