// ParseCommandLine: the option parsing every sopfs subcommand shares. The value syntaxes
// that sopfs.conf accepts too (sizes, K+M) are in fuse/volume/.
#pragma once

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <optional>

namespace sopfs::tools {

// Parses argv into `vm`. Returns the exit code when the command is done already: 0
// after printing the options for --help, 2 after a one-line error for a bad command
// line; nullopt when the command should go on.
inline std::optional<int> ParseCommandLine(const char* command,
                                           const boost::program_options::options_description& opts,
                                           int argc, char** argv,
                                           boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
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

}  // namespace sopfs::tools
