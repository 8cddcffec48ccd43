#include "tests/engine/redis_test_server.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace sopfs::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kStartDeadline = 20s;  // a loaded 2-core machine can be slow to fork
constexpr int kPortAttempts = 5;

bool RedisServerInPath() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path == nullptr ? "/usr/bin:/bin" : path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/redis-server").c_str(), X_OK) == 0) return true;
  }
  return false;
}

Result<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::Error(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return Status::Error(err, "cannot find a free port");
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

struct ContextCloser {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextCloser>;

std::string ReplyText(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      return std::to_string(reply.integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < reply.elements; ++i) {
        if (i > 0) out += "\n";
        out += ReplyText(*reply.element[i]);
      }
      return out;
    }
    default:
      return std::string(reply.str, reply.len);
  }
}

// Sends one command on `context`; `error_reply` tells whether Redis answered an error.
Result<std::string> SendCommand(redisContext* context, const std::vector<std::string>& args,
                                bool* error_reply) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(args.size()), argv.data(), lengths.data()));
  if (reply == nullptr) return Status::Error(EIO, std::string("redis: ") + context->errstr);
  *error_reply = reply->type == REDIS_REPLY_ERROR;
  std::string text = ReplyText(*reply);
  freeReplyObject(reply);
  return text;
}

}  // namespace

Result<std::unique_ptr<RedisTestServer>> RedisTestServer::Start(Options options) {
  if (!RedisServerInPath()) {
    return Status::Error(ENOENT,
                         "redis-server is not installed (not found in PATH): the Redis tests "
                         "need a real server; install it (tools/install-deps.sh, package "
                         "redis-server)");
  }
  std::unique_ptr<RedisTestServer> server(new RedisTestServer(std::move(options)));
  Status last;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    Result<int> port = FreePort();
    if (!port.ok()) return port.status();
    last = server->Spawn(*port);
    if (last.ok()) return server;
  }
  return last;
}

RedisTestServer::RedisTestServer(Options options) : options_(std::move(options)) {}

RedisTestServer::~RedisTestServer() {
  if (pid_ <= 0) return;
  if (paused_) kill(pid_, SIGCONT);
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(2ms);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string RedisTestServer::url() const {
  const std::string auth = options_.password.empty() ? "" : ":" + options_.password + "@";
  return "redis://" + auth + "127.0.0.1:" + std::to_string(port_) + "/0";
}

Status RedisTestServer::Spawn(int port) {
  const std::string log = dir_.path() + "/redis.log";
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   std::to_string(port),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_.path(),
                                   "--logfile",
                                   log,
                                   "--daemonize",
                                   "no"};
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return Status::Error(errno, "fork for redis-server");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  pid_ = pid;
  port_ = port;
  paused_ = false;

  const auto deadline = std::chrono::steady_clock::now() + kStartDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Error(EIO, "redis-server on port " + std::to_string(port) +
                                    " exited at once (status " + std::to_string(wstatus) +
                                    "): " + LogTail());
    }
    if (AnswersAsOurs(port)) return Status::Ok();
    std::this_thread::sleep_for(5ms);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return Status::Error(ETIMEDOUT, "redis-server on port " + std::to_string(port) +
                                      " did not answer PING in time: " + LogTail());
}

bool RedisTestServer::AnswersAsOurs(int port) const {
  Context context(redisConnectWithTimeout("127.0.0.1", port, timeval{0, 200000}));
  if (context == nullptr || context->err != 0) return false;
  redisSetTimeout(context.get(), timeval{1, 0});
  bool error_reply = false;
  if (!options_.password.empty()) {
    auto auth = SendCommand(context.get(), {"AUTH", options_.password}, &error_reply);
    if (!auth.ok() || error_reply) return false;
  }
  // Tests running in parallel may race for a port: make sure it is our process answering.
  auto info = SendCommand(context.get(), {"INFO", "server"}, &error_reply);
  return info.ok() && !error_reply &&
         info->find("process_id:" + std::to_string(pid_) + "\r\n") != std::string::npos;
}

std::string RedisTestServer::LogTail() const {
  std::ifstream in(dir_.path() + "/redis.log");
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > 600 ? all.substr(all.size() - 600) : all;
}

Status RedisTestServer::Kill() {
  if (pid_ <= 0) return Status::Error(ESRCH, "redis-server is not running");
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  paused_ = false;
  return Status::Ok();
}

Status RedisTestServer::StartAgain() {
  if (pid_ > 0) return Status::Error(EEXIST, "redis-server is running already");
  return Spawn(port_);
}

Status RedisTestServer::Restart() {
  SOPFS_RETURN_IF_ERROR(Kill());
  return StartAgain();
}

void RedisTestServer::Pause() {
  if (pid_ > 0 && kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void RedisTestServer::Resume() {
  if (pid_ > 0 && kill(pid_, SIGCONT) == 0) paused_ = false;
}

Result<std::string> RedisTestServer::Query(const std::vector<std::string>& args) const {
  Context context(redisConnectWithTimeout("127.0.0.1", port_, timeval{5, 0}));
  if (context == nullptr || context->err != 0) {
    return Status::Error(EIO, "cannot connect to redis-server on port " + std::to_string(port_));
  }
  redisSetTimeout(context.get(), timeval{5, 0});
  bool error_reply = false;
  if (!options_.password.empty()) {
    Result<std::string> auth =
        SendCommand(context.get(), {"AUTH", options_.password}, &error_reply);
    if (!auth.ok()) return auth;
    if (error_reply) return Status::Error(EACCES, "AUTH: " + *auth);
  }
  Result<std::string> reply = SendCommand(context.get(), args, &error_reply);
  if (reply.ok() && error_reply) return Status::Error(EIO, *reply);
  return reply;
}

Status RedisTestServer::FlushAll() const {
  Result<std::string> reply = Query({"FLUSHALL"});
  return reply.ok() ? Status::Ok() : reply.status();
}

}  // namespace sopfs::testing
