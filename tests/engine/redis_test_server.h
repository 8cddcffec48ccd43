// RedisTestServer: a real redis-server for one test, on 127.0.0.1 and a free port, with
// no persistence (`--save "" --appendonly no`, its files in a fresh temporary folder).
//
// Start() finds a port by binding port 0, starts redis-server there (another port if it
// exits at once, e.g. because someone took the port meanwhile) and waits, polling with a
// deadline, until it answers and is the process it started (tests running in parallel
// may race for a port). Kill() is kill -9; StartAgain() starts it on the same port (with
// empty data and a new run_id); Pause()/Resume() are SIGSTOP/SIGCONT. The destructor
// stops it (SIGTERM, then SIGKILL) and reaps it; the server also dies with the test
// process (PR_SET_PDEATHSIG). A missing redis-server is an error, so tests fail, with a
// message saying what to install, instead of being skipped.
//
// Threads: one thread drives a server; Query() may run from any thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/status.h"
#include "tests/engine/temp_dir.h"

namespace sopfs::testing {

class RedisTestServer {
 public:
  struct Options {
    std::string password;  // --requirepass when not empty
  };

  static Result<std::unique_ptr<RedisTestServer>> Start(Options options = {});
  ~RedisTestServer();
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  int port() const { return port_; }
  // "redis://127.0.0.1:PORT/0", with ":PASSWORD@" when the server has one.
  std::string url() const;

  Status Kill();
  Status StartAgain();
  Status Restart();  // Kill() then StartAgain()
  void Pause();
  void Resume();

  // One command on a fresh connection of its own: the reply as text (integers in
  // decimal, "(nil)" for nil, array elements joined by '\n'); an error reply is EIO.
  Result<std::string> Query(const std::vector<std::string>& args) const;
  Status FlushAll() const;

 private:
  explicit RedisTestServer(Options options);
  // Starts redis-server on `port` and waits for PING; on failure nothing runs.
  Status Spawn(int port);
  // Whether the redis-server we started (pid_) answers on `port`.
  bool AnswersAsOurs(int port) const;
  std::string LogTail() const;

  const Options options_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace sopfs::testing
