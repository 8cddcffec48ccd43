// sopfs status VOLUME [--json]: the volume's health without mounting it. A volume a
// daemon serves is asked through its mount (.sopfs/health, which a check from outside
// could not know better); otherwise the volume is opened read-only (a commit log left
// by a crash is replayed in memory; nothing is written, except that a data folder found
// missing is made again, empty, as a mount would) and the same health is computed.
// Exit 0 when the state is ok, 1 degraded, 4 failed, 8 when it cannot tell.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "engine/io/posix_env.h"
#include "engine/txn/engine.h"
#include "fuse/control/control_files.h"
#include "fuse/volume/volume_config.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/volume_lock.h"

namespace sopfs::tools {
namespace {

namespace po = boost::program_options;
constexpr const char* kCommand = "sopfs status";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// The value of a string field of a one-level JSON object ("" when absent).
std::string Field(const std::string& json, const std::string& key) {
  const std::string tag = "\"" + key + "\":\"";
  const size_t at = json.find(tag);
  if (at == std::string::npos) return "";
  const size_t from = at + tag.size();
  return json.substr(from, json.find('"', from) - from);
}

int ExitFor(const std::string& state) {
  return state == "ok" ? 0 : state == "degraded" ? 1 : state == "failed" ? 4 : 8;
}

}  // namespace

int RunStatus(int argc, char** argv) {
  po::options_description opts(
      "usage: sopfs status VOLUME [--json]\n\n"
      "The volume's health, mounted or not: state (ok, degraded, failed), erasure\n"
      "layouts and the redundancy left, each data folder, the registry sides.\n"
      "Exit 0 ok, 1 degraded, 4 failed, 8 cannot tell.\n\noptions");
  opts.add_options()("help,h", "print this help")("json", "print the health as one JSON object");
  po::variables_map vm;
  if (auto done = ParseVolumeCommandLine(kCommand, opts, argc, argv, vm)) return *done;
  const std::string volume = vm["volume"].as<std::string>();
  Result<VolumeConfig> config = ReadVolumeConfig(volume);
  if (!config.ok()) {
    std::fprintf(stderr, "%s: %s\n", kCommand, config.status().message().c_str());
    return 8;
  }
  std::string health, where;
  Result<int> lock = LockVolume(volume);
  if (!lock.ok() && lock.status().code() != EBUSY) {
    std::fprintf(stderr, "%s: %s\n", kCommand, lock.status().message().c_str());
    return 8;
  }
  if (!lock.ok()) {
    // Served by a daemon: its record names the mountpoint (second line).
    std::istringstream record(ReadAll(volume + "/sopfs.lock"));
    std::string pid, mountpoint;
    std::getline(record, pid);
    std::getline(record, mountpoint);
    if (mountpoint.empty()) {
      std::fprintf(stderr, "%s: %s, and it is not mounted yet\n", kCommand,
                   lock.status().message().c_str());
      return 8;
    }
    health = ReadAll(mountpoint + "/.sopfs/health");
    where = "mounted at " + mountpoint + " (daemon pid " + pid + ")";
  } else {
    PosixEnv env;
    EngineOptions options = EngineOptionsFor(*config);
    options.read_only = true;
    Result<std::unique_ptr<Engine>> engine = Engine::Open(&env, options);
    if (!engine.ok()) {
      ::close(*lock);
      std::fprintf(stderr, "%s: cannot open %s: %s\n", kCommand, volume.c_str(),
                   engine.status().ToString().c_str());
      return 8;
    }
    control::Sources sources;
    sources.engine = engine->get();
    sources.data_folders = config->data_folders;
    health = control::HealthJson(sources);
    where = "not mounted";
    engine->reset();
    ::close(*lock);
  }
  const std::string state = Field(health, "state");
  if (vm.count("json")) {
    std::fputs(health.c_str(), stdout);
  } else {
    std::printf("%s: %s, %s\n", volume.c_str(), state.empty() ? "unknown" : state.c_str(),
                where.c_str());
    std::printf("health: %s", health.c_str());
  }
  return ExitFor(state);
}

}  // namespace sopfs::tools
