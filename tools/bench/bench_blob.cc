// sopfs bench blob: the erasure-coded blob store against plain files on the same disk.
//
// In one run it writes and reads the same number of bytes as 1 MiB blobs (4+2 by
// default) and as plain files, with the same flush rules (each blob or file durable,
// data and directory entry, before the next starts), alternating the two in rounds so
// that both see the same disk conditions. Page caches are dropped (fadvise DONTNEED)
// before reading. Ratios compare disk bytes per second: for blobs every shard byte
// written (parity and headers included) and every shard byte read.
#include <sys/resource.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "engine/blob/blob_store.h"
#include "engine/blob/erasure_codec.h"
#include "engine/io/aligned_buffer.h"
#include "engine/io/posix_env.h"
#include "fuse/volume/layout_arg.h"
#include "fuse/volume/size_arg.h"
#include "tools/bench/json_line.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace sopfs::tools {
namespace {

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double MiB(double bytes) { return bytes / (1024.0 * 1024.0); }

// Raw ISA-L encode speed on this CPU: data bytes encoded per second, in GB/s.
double MeasureEncodeGBs(ErasureLayout layout, size_t blob_size) {
  ErasureCodec codec(layout);
  const size_t s = (blob_size + layout.k - 1) / layout.k;
  std::vector<uint8_t> data(s * layout.k, 0x5a), parity(s * layout.m);
  std::vector<const uint8_t*> d;
  std::vector<uint8_t*> p;
  for (int i = 0; i < layout.k; ++i) d.push_back(data.data() + i * s);
  for (int i = 0; i < layout.m; ++i) p.push_back(parity.data() + i * s);
  uint64_t bytes = 0;
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::milliseconds(300)) {
    for (int i = 0; i < 16; ++i) codec.Encode(s, d.data(), p.data());
    bytes += 16 * data.size();
  }
  return static_cast<double>(bytes) / Seconds(Clock::now() - start) / 1e9;
}

// Drops every file below `dir` from the page cache, so reads come from the disk.
void DropCaches(Env& env, const std::string& dir) {
  auto entries = env.List(dir);
  if (!entries.ok()) return;
  for (const DirEntry& e : *entries) {
    const std::string path = dir + "/" + e.name;
    if (e.is_dir) {
      DropCaches(env, path);
    } else if (auto f = env.Open(path, {.mode = OpenMode::kRead}); f.ok()) {
      (void)(*f)->Advise(Advice::kDontNeed, 0, 0);
    }
  }
}

struct Totals {
  double seconds = 0;
  double disk_bytes = 0;
  double MiBs() const { return seconds > 0 ? MiB(disk_bytes) / seconds : 0; }
};

Status WritePlain(Env& env, const std::string& path, std::span<const uint8_t> data, bool direct) {
  auto file = env.Open(path, {.mode = OpenMode::kCreateTruncate, .direct = direct});
  if (!file.ok()) return file.status();
  auto dir = env.Open(DirName(path), {.mode = OpenMode::kDirectory});
  if (!dir.ok()) return dir.status();
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  IoOp ops[3] = {
      {.kind = IoKind::kWrite, .file = file->get(), .iov = &iov, .iovcnt = 1, .link_next = true},
      {.kind = IoKind::kFdatasync, .file = file->get()},
      {.kind = IoKind::kFsync, .file = dir->get()},
  };
  SOPFS_RETURN_IF_ERROR(env.Submit(ops));
  for (const IoOp& op : ops) {
    if (!op.Complete()) {
      return Status::Error(op.result < 0 ? static_cast<int>(-op.result) : EIO,
                           "plain write of " + path);
    }
  }
  return Status::Ok();
}

int Fail(const Status& st) {
  std::fprintf(stderr, "sopfs bench blob: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int RunBenchBlob(int argc, char** argv) {
  po::options_description opts("usage: sopfs bench blob [OPTIONS]\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "json", "print the figures as one JSON object on the last line")(
      "dir", po::value<std::string>(),
      "work in a fresh folder inside DIR (default: the current directory); removed afterwards")(
      "total", po::value<std::string>()->default_value("4G"),
      "bytes to write and read each way (K, M, G suffixes)")(
      "blob-size", po::value<std::string>()->default_value("1M"), "size of each blob and file")(
      "ec", po::value<std::string>()->default_value("4+2"), "erasure layout K+M")(
      "rounds", po::value<int>()->default_value(16),
      "alternate blob and plain work in this many rounds");
  po::variables_map vm;
  if (auto done = ParseCommandLine("sopfs bench blob", opts, argc, argv, vm)) return *done;
  const bool json = vm.count("json") > 0;
  auto total = ParseSize(vm["total"].as<std::string>());
  auto blob_size = ParseSize(vm["blob-size"].as<std::string>());
  auto layout = ParseLayout(vm["ec"].as<std::string>());
  const int rounds = vm["rounds"].as<int>();
  if (!total || !blob_size || *blob_size == 0 || *total < *blob_size) {
    std::fprintf(stderr, "sopfs bench blob: --total and --blob-size need sizes, total >= blob\n");
    return 2;
  }
  if (!layout || !layout->Validate(ErasureLayout::kMaxData + ErasureLayout::kMaxParity).ok()) {
    std::fprintf(stderr, "sopfs bench blob: --ec needs K+M with 1<=K<=32, 0<=M<=16\n");
    return 2;
  }
  if (rounds < 1) {
    std::fprintf(stderr, "sopfs bench blob: --rounds must be at least 1\n");
    return 2;
  }
  PosixEnv env;
  const std::string parent = vm.count("dir") ? vm["dir"].as<std::string>() : ".";
  // Blob shards (k+m)/k times the bytes, plain files twice (buffered and O_DIRECT).
  const double need = static_cast<double>(*total) *
                      (2.0 + static_cast<double>(layout->total()) / static_cast<double>(layout->k));
  if (auto fs = env.StatFs(parent); !fs.ok()) {
    std::fprintf(stderr, "sopfs bench blob: %s\n", fs.status().ToString().c_str());
    return 2;
  } else if (static_cast<double>(fs->free_bytes) < need * 1.05) {
    std::fprintf(stderr, "sopfs bench blob: %s has %.1f GiB free, the run needs %.1f GiB\n",
                 parent.c_str(), fs->free_bytes / 1073741824.0, need * 1.05 / 1073741824.0);
    return 1;
  }
  const std::string work = parent + "/sopfs-bench-" + BlobId::Random().ToHex().substr(0, 12);
  if (Status st = env.MkDir(work); !st.ok()) {
    std::fprintf(stderr, "sopfs bench blob: cannot make a work folder: %s\n",
                 st.ToString().c_str());
    return 2;
  }
  struct Cleanup {
    Env& env;
    std::string dir;
    ~Cleanup() { (void)env.RemoveAll(dir); }
  } cleanup{env, work};

  std::vector<std::string> folders;
  for (int i = 0; i < layout->total(); ++i) {
    folders.push_back(work + "/blob/data" + std::to_string(i));
    if (Status st = env.MkDirs(folders.back()); !st.ok()) return Fail(st);
  }
  auto opened = BlobStore::Open(&env, folders);
  if (!opened.ok()) return Fail(opened.status());
  BlobStore& store = **opened;

  const size_t count = *total / *blob_size;
  const size_t per_dir = 256;
  for (size_t d = 0; d * per_dir < count; ++d) {
    if (Status st = env.MkDirs(work + "/plain/" + std::to_string(d)); !st.ok()) return Fail(st);
  }
  auto plain_path = [&](size_t i) {
    return work + "/plain/" + std::to_string(i / per_dir) + "/" + std::to_string(i);
  };

  // Aligned, so that the O_DIRECT baseline can write it as it is.
  AlignedBuffer buffer(*blob_size);
  std::span<uint8_t> data = buffer.span().first(*blob_size);
  std::mt19937_64 gen(42);
  for (auto& b : data) b = static_cast<uint8_t>(gen());
  std::vector<BlobId> ids(count);
  for (auto& id : ids) id = BlobId::Random();

  const double encode_gbs = MeasureEncodeGBs(*layout, *blob_size);
  if (!json)
    std::printf("ISA-L encode %s: %.1f GB/s on one core\n", layout->ToString().c_str(), encode_gbs);

  Totals blob_write, plain_write, direct_write, blob_read, plain_read;
  auto timed = [](Totals& t, const std::function<Status()>& work) {
    const auto start = Clock::now();
    Status st = work();
    t.seconds += Seconds(Clock::now() - start);
    return st;
  };
  const size_t per_round = (count + rounds - 1) / rounds;
  for (size_t begin = 0; begin < count; begin += per_round) {
    const size_t end = std::min(count, begin + per_round);
    const uint64_t written_before = store.counters().bytes_written;
    Status st = timed(blob_write, [&] {
      for (size_t i = begin; i < end; ++i) {
        data[0] = static_cast<uint8_t>(i);
        SOPFS_RETURN_IF_ERROR(store.Put(ids[i], *layout, data));
      }
      return Status::Ok();
    });
    if (!st.ok()) return Fail(st);
    blob_write.disk_bytes += static_cast<double>(store.counters().bytes_written - written_before);
    st = timed(plain_write, [&] {
      for (size_t i = begin; i < end; ++i) {
        SOPFS_RETURN_IF_ERROR(WritePlain(env, plain_path(i), data, false));
      }
      return Status::Ok();
    });
    if (!st.ok()) return Fail(st);
    plain_write.disk_bytes += static_cast<double>((end - begin) * *blob_size);
    // A second baseline, for reference: the same files written with O_DIRECT (padded
    // to a multiple of 4096 bytes, as O_DIRECT requires).
    st = timed(direct_write, [&] {
      for (size_t i = begin; i < end; ++i) {
        SOPFS_RETURN_IF_ERROR(WritePlain(env, plain_path(i) + ".direct", buffer.span(), true));
      }
      return Status::Ok();
    });
    if (!st.ok()) return Fail(st);
    direct_write.disk_bytes += static_cast<double>((end - begin) * buffer.size());
    std::fprintf(stderr, "\rwriting: %zu of %zu blobs and files", end, count);
  }
  std::fprintf(stderr, "\n");
  DropCaches(env, work);
  for (size_t begin = 0; begin < count; begin += per_round) {
    const size_t end = std::min(count, begin + per_round);
    const uint64_t read_before = store.counters().bytes_read;
    Status st = timed(blob_read, [&] {
      for (size_t i = begin; i < end; ++i) {
        auto blob = store.Get(ids[i], *layout);
        if (!blob.ok()) return blob.status();
        if (blob->size() != *blob_size || (*blob)[0] != static_cast<uint8_t>(i)) {
          return Status::Error(EIO, "blob " + ids[i].ToHex() + " read back wrong");
        }
      }
      return Status::Ok();
    });
    if (!st.ok()) return Fail(st);
    blob_read.disk_bytes += static_cast<double>(store.counters().bytes_read - read_before);
    st = timed(plain_read, [&] {
      for (size_t i = begin; i < end; ++i) {
        auto bytes = env.ReadFile(plain_path(i));
        if (!bytes.ok()) return bytes.status();
        if (bytes->size() != *blob_size) return Status::Error(EIO, "short plain read");
      }
      return Status::Ok();
    });
    if (!st.ok()) return Fail(st);
    plain_read.disk_bytes += static_cast<double>((end - begin) * *blob_size);
    std::fprintf(stderr, "\rreading: %zu of %zu blobs and files", end, count);
  }
  std::fprintf(stderr, "\n");

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  const double write_ratio = blob_write.MiBs() / plain_write.MiBs();
  const double read_ratio = blob_read.MiBs() / plain_read.MiBs();
  const double logical = MiB(static_cast<double>(count * *blob_size));
  std::printf("%zu blobs of %s, %s, io_uring %s\n", count,
              vm["blob-size"].as<std::string>().c_str(), layout->ToString().c_str(),
              env.uring_active() ? "on" : "off");
  std::printf("write: blob %.0f MiB/s on disk (%.0f MiB/s of data), plain %.0f MiB/s, ratio %.2f\n",
              blob_write.MiBs(), logical / blob_write.seconds, plain_write.MiBs(), write_ratio);
  std::printf("       plain with O_DIRECT %.0f MiB/s, blob ratio to it %.2f\n", direct_write.MiBs(),
              blob_write.MiBs() / direct_write.MiBs());
  std::printf("read:  blob %.0f MiB/s on disk (%.0f MiB/s of data), plain %.0f MiB/s, ratio %.2f\n",
              blob_read.MiBs(), logical / blob_read.seconds, plain_read.MiBs(), read_ratio);
  std::printf("peak RSS %.0f MiB\n", rss_mib);
  if (json) {
    JsonLine j;
    j.Add("layout", layout->ToString())
        .Add("blobs", static_cast<long long>(count))
        .Add("blob_bytes", static_cast<long long>(*blob_size))
        .Add("io_uring", env.uring_active())
        .Add("blob_write_disk_mibs", blob_write.MiBs())
        .Add("blob_write_data_mibs", logical / blob_write.seconds)
        .Add("plain_write_mibs", plain_write.MiBs())
        .Add("plain_direct_write_mibs", direct_write.MiBs())
        .Add("blob_read_disk_mibs", blob_read.MiBs())
        .Add("blob_read_data_mibs", logical / blob_read.seconds)
        .Add("plain_read_mibs", plain_read.MiBs())
        .Add("write_ratio", write_ratio)
        .Add("write_ratio_vs_direct", blob_write.MiBs() / direct_write.MiBs())
        .Add("read_ratio", read_ratio)
        .Add("isal_encode_gbs", encode_gbs)
        .Add("peak_rss_mib", rss_mib);
    std::printf("%s\n", j.str().c_str());
  }
  return 0;
}

}  // namespace sopfs::tools
