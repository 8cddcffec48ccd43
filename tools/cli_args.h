// Command-line helpers shared by the sopfs subcommands.
#pragma once

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "engine/blob/erasure_layout.h"

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

// "K+M" as an erasure layout (not yet validated against a folder count).
inline std::optional<ErasureLayout> ParseLayout(const std::string& s) {
  int k = 0, m = 0;
  char plus = 0, extra = 0;
  if (std::sscanf(s.c_str(), "%d%c%d%c", &k, &plus, &m, &extra) != 3 || plus != '+') {
    return std::nullopt;
  }
  return ErasureLayout{k, m};
}

}  // namespace sopfs::tools
