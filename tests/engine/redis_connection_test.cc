// Tests of RedisUrl, the password file and RedisConnection against a real redis-server:
// replies, scripts reloaded after SCRIPT FLUSH, reconnection after a restart (new
// run_id), failing fast while the server is down, timeouts, AUTH and SELECT.
#include "engine/lock/redis_connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/lock/redis_url.h"
#include "tests/engine/redis_test_server.h"
#include "tests/engine/temp_dir.h"

namespace sopfs {
namespace {

using namespace std::chrono_literals;
using Args = std::vector<std::string>;
using testing::RedisTestServer;

TEST(RedisUrlTest, RedisUrlParsesEveryPartAndNeverPrintsThePassword) {
  auto url = RedisUrl::Parse("redis://:top-secret@10.0.0.5:6380/3");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(url->host, "10.0.0.5");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 3);
  EXPECT_EQ(url->user, "");
  EXPECT_EQ(url->password, "top-secret");
  EXPECT_EQ(url->ToString(), "redis://10.0.0.5:6380/3");

  auto defaults = RedisUrl::Parse("redis://redis.example.com");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->port, 6379);
  EXPECT_EQ(defaults->db, 0);
  EXPECT_EQ(defaults->ToString(), "redis://redis.example.com:6379/0");
  EXPECT_EQ(RedisUrl::Parse("redis://h:7/")->db, 0);

  auto ipv6 = RedisUrl::Parse("redis://[::1]:7000/2");
  ASSERT_TRUE(ipv6.ok()) << ipv6.status().ToString();
  EXPECT_EQ(ipv6->host, "::1");
  EXPECT_EQ(ipv6->port, 7000);
  EXPECT_EQ(ipv6->ToString(), "redis://[::1]:7000/2");
  EXPECT_EQ(RedisUrl::Parse("redis://[fe80::1]")->port, 6379);

  // The password runs to the last '@' and may hold ':', '@' and '/'.
  auto odd = RedisUrl::Parse("redis://alice:p@ss:w/rd@h:1/2");
  ASSERT_TRUE(odd.ok()) << odd.status().ToString();
  EXPECT_EQ(odd->user, "alice");
  EXPECT_EQ(odd->password, "p@ss:w/rd");
  EXPECT_EQ(odd->host, "h");
  EXPECT_EQ(odd->ToString(), "redis://alice@h:1/2");
}

TEST(RedisUrlTest, RedisUrlRejectsBadPartsNamingThem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"http://h:6379", "scheme 'http'"},
      {"h:6379", "must start with redis://"},
      {"redis://", "host is empty"},
      {"redis://:6379", "host is empty"},
      {"redis://h:0", "port '0'"},
      {"redis://h:65536", "port '65536'"},
      {"redis://h:abc", "port 'abc'"},
      {"redis://h:", "port ''"},
      {"redis://h/x", "database 'x'"},
      {"redis://h/-1", "database '-1'"},
      {"redis://[::1", "lacks its ']'"},
      {"redis://[zz]:1", "not an IPv6 address"},
      {"redis://[::1]x", "unexpected 'x'"},
      {"redis://ho st", "host 'ho st'"},
      {"redis://secret-pw@h", "credentials"},
      {"redis://:@h", "password before '@' is empty"},
      {"redis://:secret-pw@h:99999", "port '99999'"},
  };
  for (const auto& [text, part] : cases) {
    auto url = RedisUrl::Parse(text);
    ASSERT_FALSE(url.ok()) << text;
    EXPECT_EQ(url.status().code(), EINVAL) << text;
    EXPECT_NE(url.status().message().find(part), std::string::npos)
        << text << ": " << url.status().message();
    EXPECT_EQ(url.status().message().find("secret-pw"), std::string::npos)
        << url.status().message();
  }
}

TEST(RedisUrlTest, RedisPasswordFileGivesItsFirstLineTrimmed) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/redis.pass";
  std::ofstream(path) << "  s3cret\t \nsecond line\n";
  auto password = ReadRedisPasswordFile(path);
  ASSERT_TRUE(password.ok()) << password.status().ToString();
  EXPECT_EQ(*password, "s3cret");

  auto missing = ReadRedisPasswordFile(dir.path() + "/nope");
  EXPECT_EQ(missing.status().code(), ENOENT);
  EXPECT_NE(missing.status().message().find(dir.path() + "/nope"), std::string::npos);

  std::ofstream(dir.path() + "/empty") << "   \n";
  auto empty = ReadRedisPasswordFile(dir.path() + "/empty");
  EXPECT_EQ(empty.status().code(), EINVAL);
  EXPECT_NE(empty.status().message().find("no password"), std::string::npos);
}

class RedisConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartServer({})); }

  void StartServer(RedisTestServer::Options options) {
    auto server = RedisTestServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  std::unique_ptr<RedisConnection> Connect(std::string url_text = "",
                                           RedisConnectionOptions options = {}) {
    auto url = RedisUrl::Parse(url_text.empty() ? server_->url() : url_text);
    EXPECT_TRUE(url.ok()) << url.status().ToString();
    options.url = *url;
    return std::make_unique<RedisConnection>(options);
  }

  // Calls `command` until it succeeds or 10 s have passed.
  static Result<RedisReply> Eventually(RedisConnection& connection, const Args& command) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      Result<RedisReply> reply = connection.Command(command);
      if (reply.ok() || std::chrono::steady_clock::now() > deadline) return reply;
      std::this_thread::sleep_for(10ms);
    }
  }

  std::unique_ptr<RedisTestServer> server_;
};

TEST_F(RedisConnectionTest, RedisConnectionCommandsReturnOwnedReplies) {
  auto connection = Connect();
  const std::string binary("a\0b\r\nc", 6);
  auto set = connection->Command(Args{"SET", "k", binary});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->type, RedisReply::Type::kStatus);
  EXPECT_EQ(set->text, "OK");

  auto get = connection->Command(Args{"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->type, RedisReply::Type::kString);
  EXPECT_EQ(get->text, binary);
  EXPECT_TRUE(connection->Command(Args{"GET", "missing"})->is_nil());
  EXPECT_EQ(connection->Command(Args{"INCR", "n"})->integer, 1);

  ASSERT_TRUE(connection->Command(Args{"RPUSH", "list", "x", "y"}).ok());
  auto range = connection->Command(Args{"LRANGE", "list", "0", "-1"});
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->type, RedisReply::Type::kArray);
  ASSERT_EQ(range->array.size(), 2u);
  EXPECT_EQ(range->array[1].text, "y");

  // An error reply is an error, naming the server.
  auto wrong = connection->Command(Args{"INCR", "list"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), EIO);
  EXPECT_NE(wrong.status().message().find("WRONGTYPE"), std::string::npos);
  EXPECT_NE(wrong.status().message().find(connection->name()), std::string::npos);
  EXPECT_EQ(connection->stats().errors, 1u);
  EXPECT_FALSE(connection->RunId().empty());
}

TEST_F(RedisConnectionTest, RedisConnectionScriptIsLoadedAgainAfterScriptFlush) {
  auto connection = Connect();
  RedisScript script("return {KEYS[1], ARGV[1], #KEYS}");
  auto first = connection->Run(script, Args{"key"}, Args{"arg"});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->array.size(), 3u);
  EXPECT_EQ(first->array[0].text, "key");
  EXPECT_EQ(first->array[1].text, "arg");
  EXPECT_EQ(first->array[2].integer, 1);

  ASSERT_TRUE(server_->Query({"SCRIPT", "FLUSH"}).ok());
  auto again = connection->Run(script, Args{"other"}, Args{});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->array[0].text, "other");
  EXPECT_EQ(connection->stats().errors, 0u);

  auto broken = connection->Run(RedisScript("return redis.call('NOSUCHCOMMAND')"), Args{}, Args{});
  EXPECT_EQ(broken.status().code(), EIO);
}

TEST_F(RedisConnectionTest, RedisConnectionReconnectsAfterRestartAndSeesNewRunId) {
  auto connection = Connect();
  ASSERT_TRUE(connection->Command(Args{"SET", "k", "v"}).ok());
  const std::string first_run_id = connection->RunId();

  ASSERT_TRUE(server_->Restart().ok());
  // The old socket is dead: a retried command reconnects and goes through.
  auto retried = connection->Command(Args{"GET", "k"}, RedisRetry::kOnceIfConnectionLost);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_TRUE(retried->is_nil());  // no persistence: the restart lost the key
  EXPECT_NE(connection->RunId(), first_run_id);
  EXPECT_EQ(connection->stats().reconnects, 1u);
  EXPECT_EQ(connection->stats().restarts_detected, 1u);

  // Without a retry, the call that meets the dead socket fails; the next one reconnects.
  ASSERT_TRUE(server_->Restart().ok());
  auto lost = connection->Command(Args{"PING"});
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), EIO);
  EXPECT_NE(lost.status().message().find("connection lost"), std::string::npos)
      << lost.status().message();
  ASSERT_TRUE(connection->Command(Args{"PING"}).ok());
  EXPECT_EQ(connection->stats().restarts_detected, 2u);
}

TEST_F(RedisConnectionTest, RedisConnectionFailsFastWhileServerIsDownThenReconnects) {
  // A backoff long enough that a loaded machine still makes its next call within it.
  auto connection = Connect("", {.url = {}, .first_backoff = 2s, .max_backoff = 2s});
  ASSERT_TRUE(connection->Command(Args{"PING"}).ok());
  ASSERT_TRUE(server_->Kill().ok());

  // The dead socket, then a connect attempt that is refused.
  EXPECT_FALSE(connection->Command(Args{"PING"}).ok());
  auto refused = connection->Command(Args{"PING"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ECONNREFUSED) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find(connection->name()), std::string::npos);
  EXPECT_NE(refused.status().message().find("127.0.0.1:" + std::to_string(server_->port())),
            std::string::npos);

  // Within the backoff, calls fail at once with the same error (no connect attempt).
  auto fast = connection->Command(Args{"PING"});
  EXPECT_EQ(fast.status().code(), ECONNREFUSED);
  EXPECT_NE(fast.status().message().find("failing fast"), std::string::npos)
      << fast.status().message();
  EXPECT_FALSE(connection->connected());

  ASSERT_TRUE(server_->StartAgain().ok());
  auto back = Eventually(*connection, Args{"PING"});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(connection->connected());
  EXPECT_GE(connection->stats().errors, 3u);
}

TEST_F(RedisConnectionTest, RedisConnectionTimesOutWhenServerHangs) {
  auto connection = Connect("", {.url = {}, .command_timeout = 200ms});
  ASSERT_TRUE(connection->Command(Args{"PING"}).ok());
  server_->Pause();
  const auto start = std::chrono::steady_clock::now();
  auto hung = connection->Command(Args{"PING"}, RedisRetry::kOnceIfConnectionLost);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  server_->Resume();
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status().code(), ETIMEDOUT) << hung.status().ToString();
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 5s);
  auto back = Eventually(*connection, Args{"PING"});
  EXPECT_TRUE(back.ok()) << back.status().ToString();
}

TEST_F(RedisConnectionTest, RedisConnectionAuthenticatesAndSelectsItsDatabase) {
  ASSERT_NO_FATAL_FAILURE(StartServer({.password = "pw-s3cret"}));
  const std::string url = server_->url();  // redis://:pw-s3cret@127.0.0.1:PORT/0
  auto connection = Connect(url.substr(0, url.size() - 1) + "3");
  EXPECT_EQ(connection->name().find("pw-s3cret"), std::string::npos);
  ASSERT_TRUE(connection->Command(Args{"SET", "k", "in-db-3"}).ok());
  auto client = connection->Command(Args{"CLIENT", "INFO"});
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_NE(client->text.find(" db=3 "), std::string::npos) << client->text;
  EXPECT_EQ(*server_->Query({"GET", "k"}), "(nil)");  // db 0

  auto wrong = Connect("redis://:wrong-pw@127.0.0.1:" + std::to_string(server_->port()));
  auto refused = wrong->Command(Args{"PING"});
  EXPECT_EQ(refused.status().code(), EACCES) << refused.status().ToString();
  EXPECT_EQ(refused.status().message().find("wrong-pw"), std::string::npos);

  auto none = Connect("redis://127.0.0.1:" + std::to_string(server_->port()));
  auto noauth = none->Command(Args{"GET", "k"});
  EXPECT_EQ(noauth.status().code(), EIO);
  EXPECT_NE(noauth.status().message().find("NOAUTH"), std::string::npos)
      << noauth.status().message();
}

TEST_F(RedisConnectionTest, RedisConnectionServesManyThreadsAtOnce) {
  auto connection = Connect();
  constexpr int kThreads = 4;
  constexpr int kIncrements = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        if (!connection->Command(Args{"INCR", "counter"}).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*server_->Query({"GET", "counter"}), std::to_string(kThreads * kIncrements));
}

}  // namespace
}  // namespace sopfs
