// ParseCommandLine: the option parsing every sopfs subcommand shares. The value syntaxes
// that sopfs.conf accepts too (sizes, K+M) are in fuse/volume/.
#pragma once

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

namespace sopfs::tools {

// Parses argv into `vm`. Returns the exit code when the command is done already: 0
// after printing the options for --help, 2 after a one-line error for a bad command
// line; nullopt when the command should go on.
inline std::optional<int> ParseCommandLine(
    const char* command, const boost::program_options::options_description& opts, int argc,
    char** argv, boost::program_options::variables_map& vm,
    const boost::program_options::positional_options_description& positional = {}) {
  namespace po = boost::program_options;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "%s: %s (try --help)\n", command, e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  return std::nullopt;
}

// ParseCommandLine for a command on one volume (`sopfs fsck VOLUME ...`): adds the
// positional VOLUME, which is required. On nullopt, vm["volume"] holds it.
inline std::optional<int> ParseVolumeCommandLine(const char* command,
                                                 boost::program_options::options_description& opts,
                                                 int argc, char** argv,
                                                 boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  opts.add_options()("volume", po::value<std::string>()->value_name("VOLUME"),
                     "the volume's folder");
  po::positional_options_description positional;
  positional.add("volume", 1);
  if (auto done = ParseCommandLine(command, opts, argc, argv, vm, positional)) return done;
  if (!vm.count("volume")) {
    std::fprintf(stderr, "%s: which volume? (try --help)\n", command);
    return 2;
  }
  return std::nullopt;
}

}  // namespace sopfs::tools
