// sopfs format VOLUME: makes a new volume. Checks the command line (exit 2), refuses to
// touch an existing volume or folders holding files (exit 1), formats the file system
// onto the folders, and writes VOLUME/sopfs.conf last.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "fuse/fs/file_system_format.h"
#include "fuse/volume/layout_arg.h"
#include "fuse/volume/size_arg.h"
#include "fuse/volume/volume_config.h"
#include "fuse/volume/volume_privacy.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace sopfs::tools {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

constexpr const char* kCommand = "sopfs format";

// Exit 2 with a one-line message: the command line is wrong.
int BadArgument(const std::string& message) {
  std::fprintf(stderr, "%s: %s (try --help)\n", kCommand, message.c_str());
  return 2;
}

// Ok when `path` is missing or an empty folder: formatting must never mix a new volume
// into files that are already there.
Status CheckEmptyFolder(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Status::Error(ec.value(), "cannot check " + path + ": " + ec.message());
  }
  if (!fs::exists(st)) return Status::Ok();
  if (!fs::is_directory(st)) return Status::Error(ENOTDIR, path + " exists and is not a folder");
  fs::directory_iterator it(path, ec);
  if (ec) return Status::Error(ec.value(), "cannot read " + path + ": " + ec.message());
  if (it != fs::directory_iterator()) {
    return Status::Error(ENOTEMPTY, path + " is not empty (it may hold another volume)");
  }
  return Status::Ok();
}

std::string SizeText(uint32_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

Status CreateVolume(const VolumeConfig& config, std::span<const NamedStore> stores) {
  SOPFS_RETURN_IF_ERROR(ValidateVolumeConfig(config));
  std::error_code ec;
  if (fs::exists(config.dir, ec) && !fs::is_directory(config.dir, ec)) {
    return Status::Error(ENOTDIR, config.dir + " exists and is not a folder");
  }
  if (fs::exists(config.dir + "/sopfs.conf", ec)) {
    return Status::Error(EEXIST, config.dir + " is already a sopfs volume (sopfs.conf exists)");
  }
  for (const std::string& folder : config.data_folders) {
    SOPFS_RETURN_IF_ERROR(CheckEmptyFolder(folder));
  }
  SOPFS_RETURN_IF_ERROR(CheckEmptyFolder(config.registry_a));
  SOPFS_RETURN_IF_ERROR(CheckEmptyFolder(config.registry_b));
  SOPFS_RETURN_IF_ERROR(CheckEmptyFolder(config.log_folder));
  const bool dir_existed = fs::exists(config.dir, ec);
  fs::create_directories(config.dir, ec);
  if (ec) return Status::Error(ec.value(), "cannot create " + config.dir + ": " + ec.message());
  if (!dir_existed) fs::permissions(config.dir, fs::perms::owner_all, ec);
  // Private to the caller (volume_privacy.h): folders that exist already are made 0700,
  // saying so; those the engine makes are 0700 from the start.
  std::vector<std::string> existing = {config.dir, config.registry_a, config.registry_b,
                                       config.log_folder};
  existing.insert(existing.end(), config.data_folders.begin(), config.data_folders.end());
  for (const std::string& folder : existing) {
    if (!fs::exists(folder, ec)) continue;
    Result<unsigned> was = MakeFolderPrivate(folder);
    if (!was.ok()) return was.status();
    if (*was != 0) {
      std::fprintf(stderr, "sopfs format: %s was open to other users (mode %04o); made it 0700\n",
                   folder.c_str(), *was);
    }
  }
  Status formatted = FormatFileSystem(config, getuid(), getgid(), stores);
  if (!formatted.ok()) {
    // ToString: the engine's messages name the object, not always the errno.
    return Status::Error(formatted.code(),
                         "cannot format the file system: " + formatted.ToString());
  }
  Status written = WriteVolumeConfig(config);
  if (!written.ok()) {
    // The folders now hold a file system without a sopfs.conf naming them; say so, since
    // a second format refuses non-empty folders.
    return Status::Error(written.code(), written.message() +
                                             " (the folders were formatted; empty them "
                                             "before formatting again)");
  }
  return Status::Ok();
}

int RunFormat(int argc, char** argv) {
  po::options_description visible(
      "usage: sopfs format VOLUME [--data DIR]... [--registry DIR --registry DIR] "
      "[--ec K+M] [--metadata-ec K+M] [--chunk-size SIZE] [--store "
      "NAME=K+M[:SIZE][@FIRST-LAST]]...\n\n"
      "Makes a new sopfs volume: VOLUME/sopfs.conf, the data, registry and log folders,\n"
      "and an empty file system owned by the caller. Refuses an existing volume and\n"
      "folders that are not empty. Without --data, VOLUME holds K+M data folders\n"
      "data-0, data-1, ... (one per shard; give one --data per drive instead).\n\n"
      "options");
  visible.add_options()("help,h", "show this help")(
      "data", po::value<std::vector<std::string>>()->value_name("DIR"),
      "a data folder, one per drive; repeat K+M times (default: VOLUME/data-N)")(
      "registry", po::value<std::vector<std::string>>()->value_name("DIR"),
      "a registry side; give exactly two, ideally on different drives "
      "(default: VOLUME/registry-a and VOLUME/registry-b)")(
      "ec", po::value<std::string>()->value_name("K+M"),
      "erasure layout: K data + M parity shards per blob; any K shards rebuild it (default 4+2)")(
      "metadata-ec", po::value<std::string>()->value_name("K+M"),
      "layout of metadata (names, inodes, files of up to 2 KiB): at least --ec's M parity "
      "shards (default M+2, at most folders-1: 2+4 for 4+2)")(
      "chunk-size", po::value<std::string>()->value_name("SIZE")->default_value("1M"),
      "file chunk size, a power of two from 64K to 64M")(
      "store", po::value<std::vector<std::string>>()->value_name("NAME=K+M[:SIZE][@FIRST-LAST]"),
      "a directory NAME under the root whose files use layout K+M (chunk size SIZE, data "
      "folders FIRST to LAST only); repeatable. setfattr -n user.sopfs.store -v K+M DIR "
      "makes one later");
  po::options_description all;
  all.add(visible).add_options()("volume", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("volume", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return BadArgument(e.what());
  }
  if (vm.count("help")) {
    std::cout << visible << "\n";
    return 0;
  }
  if (!vm.count("volume")) return BadArgument("missing VOLUME");
  const auto& volumes = vm["volume"].as<std::vector<std::string>>();
  if (volumes.size() > 1) return BadArgument("unexpected argument '" + volumes[1] + "'");
  if (volumes[0].empty()) return BadArgument("VOLUME is empty");

  ErasureLayout layout{.k = 4, .m = 2};
  if (vm.count("ec")) {
    const std::string text = vm["ec"].as<std::string>();
    auto parsed = ParseLayout(text);
    if (!parsed) return BadArgument("--ec '" + text + "': expected K+M, such as 4+2");
    layout = *parsed;
    Status valid = layout.Validate(ErasureLayout::kMaxData + ErasureLayout::kMaxParity);
    if (!valid.ok()) return BadArgument("--ec " + valid.message());
  }
  const std::string chunk_text = vm["chunk-size"].as<std::string>();
  auto chunk = ParseSize(chunk_text);
  if (!chunk) {
    return BadArgument("--chunk-size '" + chunk_text + "': expected a size such as 1M or 256K");
  }
  if (*chunk < kMinChunkSize || *chunk > kMaxChunkSize || (*chunk & (*chunk - 1)) != 0) {
    return BadArgument("--chunk-size " + chunk_text + ": must be a power of two from 64K to 64M");
  }

  // Stores: their layouts need folders too (the volume gets as many as the widest).
  std::vector<std::string> store_args;
  if (vm.count("store")) store_args = vm["store"].as<std::vector<std::string>>();
  int folders_needed = layout.total();
  std::vector<std::pair<std::string, std::string>> store_texts;
  for (const std::string& arg : store_args) {
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (eq == std::string::npos || name.empty() || name == "." || name == ".." ||
        name.find('/') != std::string::npos || name.size() > 255) {
      return BadArgument("--store '" + arg + "': expected NAME=K+M[:SIZE], NAME a file name");
    }
    const std::string spec = arg.substr(eq + 1);
    auto store_layout = ParseLayout(spec.substr(0, spec.find_first_of(":@")));
    if (store_layout) folders_needed = std::max(folders_needed, store_layout->total());
    store_texts.emplace_back(name, arg.substr(eq + 1));
  }

  // Folders on the command line are relative to the working directory; the defaults
  // live inside VOLUME (DefaultVolumeConfig).
  VolumeConfig config = DefaultVolumeConfig(volumes[0], layout);
  for (int i = layout.total(); i < folders_needed && !vm.count("data"); ++i) {
    config.data_folders.push_back(config.dir + "/data-" + std::to_string(i));
  }
  if (vm.count("metadata-ec")) {
    const std::string text = vm["metadata-ec"].as<std::string>();
    auto parsed = ParseLayout(text);
    if (!parsed) return BadArgument("--metadata-ec '" + text + "': expected K+M, such as 2+4");
    config.metadata_layout = *parsed;
  }
  config.chunk_size = static_cast<uint32_t>(*chunk);
  auto absolute = [](const std::string& p) {
    std::error_code ec;
    return fs::absolute(p, ec).lexically_normal().string();
  };
  if (vm.count("data")) {
    const auto& data = vm["data"].as<std::vector<std::string>>();
    if (data.size() < static_cast<size_t>(layout.total())) {
      return BadArgument(std::to_string(data.size()) + " data folders given, but --ec " +
                         layout.ToString() + (vm.count("ec") ? "" : " (the default)") +
                         " needs at least " + std::to_string(layout.total()) + " (one per shard)");
    }
    config.data_folders.clear();
    for (const std::string& d : data) {
      if (d.empty()) return BadArgument("--data: empty folder name");
      config.data_folders.push_back(absolute(d));
    }
  }
  if (vm.count("registry")) {
    const auto& registry = vm["registry"].as<std::vector<std::string>>();
    if (registry.size() != 2) {
      return BadArgument(
          "--registry: exactly two folders are needed (the registry's two "
          "sides), " +
          std::to_string(registry.size()) + " given");
    }
    if (registry[0].empty() || registry[1].empty()) {
      return BadArgument("--registry: empty folder name");
    }
    config.registry_a = absolute(registry[0]);
    config.registry_b = absolute(registry[1]);
  }
  for (std::string* p : {&config.registry_a, &config.registry_b, &config.log_folder}) {
    while (p->size() > 1 && p->back() == '/') p->pop_back();
  }
  for (std::string& p : config.data_folders) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
  }
  Status valid = ValidateVolumeConfig(config);
  if (!valid.ok()) return BadArgument(valid.message());
  std::vector<NamedStore> stores;
  for (const auto& [name, text] : store_texts) {
    Result<StoreSpec> spec =
        ParseStoreSpec(text, config.chunk_size, static_cast<int>(config.data_folders.size()));
    if (!spec.ok()) return BadArgument("--store " + name + ": " + spec.status().message());
    for (const NamedStore& other : stores) {
      if (other.name == name) return BadArgument("--store " + name + " is given twice");
    }
    stores.push_back({name, *spec});
  }

  Status created = CreateVolume(config, stores);
  if (!created.ok()) {
    std::fprintf(stderr, "%s: %s\n", kCommand, created.message().c_str());
    return 1;
  }
  std::printf("formatted %s: %zu data folders, %s, %s chunks\n", config.dir.c_str(),
              config.data_folders.size(), config.layout.ToString().c_str(),
              SizeText(config.chunk_size).c_str());
  for (const NamedStore& store : stores) {
    std::printf("store %s: %s, %s chunks\n", store.name.c_str(),
                store.spec.layout.ToString().c_str(), SizeText(store.spec.chunk_size).c_str());
  }
  return 0;
}

}  // namespace sopfs::tools
