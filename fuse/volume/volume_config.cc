// sopfs.conf: reading (Boost.Program_options' INI parser, then validation with messages
// that name the key and value), durable writing, and the default volume's layout.
//
// The file is read and written with plain POSIX calls, not through the engine's Env: it
// is read before any engine exists, and written once, by `sopfs format`.
#include "fuse/volume/volume_config.h"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

// sopfs.conf accepts exactly the values `sopfs format` does: the same parsers.
#include "fuse/volume/layout_arg.h"
#include "fuse/volume/size_arg.h"

namespace sopfs {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

constexpr const char* kConfName = "sopfs.conf";

// `path` made absolute against `base` (itself against the working directory) and
// normalized, without a trailing slash.
std::string Resolve(const std::string& base, const std::string& path) {
  fs::path p = fs::path(path).is_absolute() ? fs::path(path) : fs::path(base) / path;
  std::error_code ec;
  if (!p.is_absolute()) p = fs::absolute(p, ec);
  p = p.lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// How a folder is written into sopfs.conf: relative when inside the volume directory.
std::string Relative(const std::string& dir, const std::string& path) {
  fs::path rel = fs::path(path).lexically_relative(dir);
  const std::string s = rel.string();
  if (s.empty() || s == "." || s.rfind("..", 0) == 0) return path;
  return s;
}

// A value as it may be quoted in a one-line message: control bytes (a corrupt file) as
// '?', and cut when very long.
std::string Printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) out += std::isprint(c) ? static_cast<char>(c) : '?';
  if (out.size() > 80) out = out.substr(0, 77) + "...";
  return out;
}

// "1M" for sopfs.conf.
std::string ChunkSizeText(uint32_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

po::options_description ConfOptions() {
  po::options_description opts;
  opts.add_options()("data", po::value<std::vector<std::string>>())(
      "registry", po::value<std::vector<std::string>>())("log", po::value<std::string>())(
      "ec", po::value<std::string>())("metadata-ec", po::value<std::string>())(
      "chunk-size", po::value<std::string>())("mount.options", po::value<std::string>())(
      "mount.commit-interval", po::value<std::string>())("mount.attr-timeout",
                                                         po::value<std::string>());
  return opts;
}

// Parses DIR/sopfs.conf into `vm`; `path` gets the file's path for messages.
Status ParseConf(const std::string& dir, po::variables_map& vm, std::string& path) {
  path = Resolve(dir, kConfName);
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) {
      return Status::Error(ENOENT, "no sopfs volume at " + Resolve(dir, ".") +
                                       " (no sopfs.conf; run 'sopfs format " + dir + "')");
    }
    return Status::Error(err ? err : EIO, "cannot read " + path + ": " + std::strerror(err));
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return Status::Error(EINVAL, path + " is not a file");
  try {
    po::store(po::parse_config_file(in, ConfOptions(), /*allow_unregistered=*/false), vm);
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    std::string key = e.get_option_name();
    const size_t dot = key.find('.');
    if (dot != std::string::npos) {
      return Status::Error(EINVAL, path + ": unknown key '" + Printable(key.substr(dot + 1)) +
                                       "' in section [" + Printable(key.substr(0, dot)) + "]");
    }
    return Status::Error(EINVAL, path + ": unknown key '" + Printable(key) + "'");
  } catch (const po::multiple_occurrences& e) {
    return Status::Error(
        EINVAL, path + ": key '" + Printable(e.get_option_name()) + "' is given more than once");
  } catch (const po::invalid_config_file_syntax& e) {
    // Boost's text is "the options configuration file contains an invalid line 'x'".
    std::string what = e.what();
    const size_t quote = what.find('\'');
    what = quote == std::string::npos ? what : "invalid line " + what.substr(quote);
    return Status::Error(EINVAL, path + ": " + Printable(what) + " (expected KEY = VALUE)");
  } catch (const po::error& e) {
    return Status::Error(EINVAL, path + ": " + Printable(e.what()));
  } catch (const std::exception& e) {  // nothing may throw across the layer
    return Status::Error(EIO, "cannot read " + path + ": " + Printable(e.what()));
  }
  if (in.bad()) return Status::Error(EIO, "cannot read " + path);
  return Status::Ok();
}

std::string Get(const po::variables_map& vm, const char* key) {
  return vm.count(key) ? vm[key].as<std::string>() : std::string();
}

}  // namespace

Result<VolumeConfig> ReadVolumeConfig(const std::string& dir) {
  po::variables_map vm;
  std::string path;
  SOPFS_RETURN_IF_ERROR(ParseConf(dir, vm, path));
  auto bad = [&](const std::string& what) { return Status::Error(EINVAL, path + ": " + what); };

  VolumeConfig config;
  config.dir = Resolve(dir, ".");
  // Folders have no default: a config that lost them must not make the engine start an
  // empty store somewhere else.
  if (!vm.count("data")) return bad("no 'data' key (one per data folder)");
  for (const std::string& d : vm["data"].as<std::vector<std::string>>()) {
    if (d.empty()) return bad("data = '': empty folder name");
    config.data_folders.push_back(Resolve(config.dir, d));
  }
  if (!vm.count("registry")) return bad("no 'registry' key (two are needed)");
  const auto& registry = vm["registry"].as<std::vector<std::string>>();
  if (registry.size() != 2) {
    return bad("'registry' must name exactly two folders (the active and passive side), " +
               std::to_string(registry.size()) + " given");
  }
  for (const std::string& r : registry) {
    if (r.empty()) return bad("registry = '': empty folder name");
  }
  config.registry_a = Resolve(config.dir, registry[0]);
  config.registry_b = Resolve(config.dir, registry[1]);
  const std::string log = vm.count("log") ? Get(vm, "log") : "log";
  if (log.empty()) return bad("log = '': empty folder name");
  config.log_folder = Resolve(config.dir, log);

  if (vm.count("ec")) {
    const std::string ec = Get(vm, "ec");
    auto layout = ParseLayout(ec);
    if (!layout) return bad("ec = '" + Printable(ec) + "': expected K+M, such as 4+2");
    config.layout = *layout;
  }
  if (vm.count("metadata-ec")) {
    const std::string ec = Get(vm, "metadata-ec");
    auto layout = ParseLayout(ec);
    if (!layout) return bad("metadata-ec = '" + Printable(ec) + "': expected K+M, such as 2+4");
    config.metadata_layout = *layout;
  }
  if (vm.count("chunk-size")) {
    const std::string text = Get(vm, "chunk-size");
    auto size = ParseSize(text);
    if (!size) {
      return bad("chunk-size = '" + Printable(text) + "': expected a size such as 1M or 4MiB");
    }
    if (*size < kMinChunkSize || *size > kMaxChunkSize || (*size & (*size - 1)) != 0) {
      return bad("chunk-size = '" + Printable(text) + "': must be a power of two from 64K to 64M");
    }
    config.chunk_size = static_cast<uint32_t>(*size);
  }
  Status valid = ValidateVolumeConfig(config);
  if (!valid.ok()) return bad(valid.message());
  return config;
}

Status ValidateVolumeConfig(const VolumeConfig& config) {
  auto bad = [](const std::string& what) { return Status::Error(EINVAL, what); };
  const ErasureLayout& l = config.layout;
  if (l.k < 1 || l.k > ErasureLayout::kMaxData || l.m < 0 || l.m > ErasureLayout::kMaxParity) {
    return bad("ec = " + l.ToString() + ": need 1 <= K <= 32 and 0 <= M <= 16");
  }
  const size_t folders = config.data_folders.size();
  if (static_cast<size_t>(l.total()) > folders) {
    return bad("ec = " + l.ToString() + " needs at least " + std::to_string(l.total()) +
               " data folders (one per shard; more spread the shards), 'data' names " +
               std::to_string(folders));
  }
  const ErasureLayout& meta = config.metadata_layout;
  if (meta.k != 0) {
    Status fits = meta.Validate(static_cast<int>(folders));
    if (!fits.ok()) return bad("metadata-ec = " + meta.ToString() + ": " + fits.message());
    if (meta.m < l.m) {
      return bad("metadata-ec = " + meta.ToString() + ": metadata needs at least ec's " +
                 std::to_string(l.m) + " parity shards");
    }
  }
  const uint32_t c = config.chunk_size;
  if (c < kMinChunkSize || c > kMaxChunkSize || (c & (c - 1)) != 0) {
    return bad("chunk-size = " + std::to_string(c) + ": must be a power of two from 64K to 64M");
  }
  // Each folder is a separate store (a drive, a registry side, the log): two names for
  // the same folder would make shards or registry sides overwrite each other.
  std::map<std::string, std::string> seen;  // folder -> the key naming it
  auto unique = [&](const std::string& key, const std::string& folder) {
    if (folder.empty() || folder[0] != '/') {
      return bad(key + " = '" + folder + "': not an absolute path");
    }
    auto [it, added] = seen.emplace(folder, key);
    if (!added) {
      return bad("folder " + folder + " is named twice (as '" + it->second + "' and as '" + key +
                 "'); each needs its own folder");
    }
    return Status::Ok();
  };
  for (const std::string& d : config.data_folders) SOPFS_RETURN_IF_ERROR(unique("data", d));
  SOPFS_RETURN_IF_ERROR(unique("registry", config.registry_a));
  SOPFS_RETURN_IF_ERROR(unique("registry", config.registry_b));
  SOPFS_RETURN_IF_ERROR(unique("log", config.log_folder));
  return Status::Ok();
}

Status WriteVolumeConfig(const VolumeConfig& config) {
  SOPFS_RETURN_IF_ERROR(ValidateVolumeConfig(config));
  const std::string& dir = config.dir;
  const std::string path = Resolve(dir, kConfName);
  const std::string temp = path + ".tmp";
  auto exists = [&] {
    return Status::Error(EEXIST, dir + " is already a sopfs volume (sopfs.conf exists)");
  };
  if (access(path.c_str(), F_OK) == 0) return exists();

  std::ostringstream text;
  text << "# sopfs volume, written by 'sopfs format'. Relative paths are relative to this\n"
          "# folder. The folders, ec, metadata-ec and chunk-size must not change once files\n"
          "# are stored.\n";
  for (const std::string& d : config.data_folders) text << "data = " << Relative(dir, d) << "\n";
  text << "registry = " << Relative(dir, config.registry_a) << "\n"
       << "registry = " << Relative(dir, config.registry_b) << "\n"
       << "log = " << Relative(dir, config.log_folder) << "\n"
       << "ec = " << config.layout.ToString() << "\n"
       << "metadata-ec = "
       << (config.metadata_layout.k != 0
               ? config.metadata_layout
               : DefaultMetadataLayout(config.layout, static_cast<int>(config.data_folders.size())))
              .ToString()
       << "\n"
       << "chunk-size = " << ChunkSizeText(config.chunk_size) << "\n";
  const std::string body = text.str();

  auto fail = [&](const std::string& what) {
    const int err = errno ? errno : EIO;
    unlink(temp.c_str());
    return Status::Error(err, what + ": " + std::strerror(err));
  };
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail("cannot create " + temp);
  size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = write(fd, body.data() + done, body.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return fail("cannot write " + temp);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    close(fd);
    return fail("cannot fsync " + temp);
  }
  close(fd);
  // No-replace rename: two formats racing on one directory cannot both succeed. Some
  // file systems lack RENAME_NOREPLACE; link() has the same semantics there.
  if (renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) {
      unlink(temp.c_str());
      return exists();
    }
    if (errno != EINVAL && errno != ENOSYS) return fail("cannot rename " + temp);
    if (link(temp.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) {
        unlink(temp.c_str());
        return exists();
      }
      return fail("cannot link " + path);
    }
    unlink(temp.c_str());
  }
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) {
    const int err = errno ? errno : EIO;
    if (dfd >= 0) close(dfd);
    return Status::Error(err, "cannot fsync " + dir + ": " + std::strerror(err));
  }
  close(dfd);
  return Status::Ok();
}

std::string DefaultVolumeDir() {
  // XDG: a relative $XDG_DATA_HOME is invalid and must be ignored.
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg && xdg[0] == '/') return Resolve(xdg, "sopfs/default");
  const char* home = std::getenv("HOME");
  std::string base = home && home[0] == '/' ? home : "";
  if (base.empty()) {
    const passwd* pw = getpwuid(getuid());
    base = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/";
  }
  return Resolve(base, ".local/share/sopfs/default");
}

VolumeConfig DefaultVolumeConfig(const std::string& dir, ErasureLayout layout) {
  VolumeConfig config;
  config.dir = Resolve(dir, ".");
  for (int i = 0; i < layout.total(); ++i) {
    config.data_folders.push_back(Resolve(config.dir, "data-" + std::to_string(i)));
  }
  config.registry_a = Resolve(config.dir, "registry-a");
  config.registry_b = Resolve(config.dir, "registry-b");
  config.log_folder = Resolve(config.dir, "log");
  config.layout = layout;
  return config;
}

EngineOptions EngineOptionsFor(const VolumeConfig& config) {
  EngineOptions options;
  options.data_folders = config.data_folders;
  options.registry_a = config.registry_a;
  options.registry_b = config.registry_b;
  options.log_folder = config.log_folder;
  options.layout = config.layout;
  options.metadata_layout = config.metadata_layout;
  options.background_checkpoint = true;
  return options;
}

Result<MountDefaults> ReadMountDefaults(const std::string& dir) {
  po::variables_map vm;
  std::string path;
  SOPFS_RETURN_IF_ERROR(ParseConf(dir, vm, path));
  return MountDefaults{.options = Get(vm, "mount.options"),
                       .commit_interval = Get(vm, "mount.commit-interval"),
                       .attr_timeout = Get(vm, "mount.attr-timeout")};
}

}  // namespace sopfs
