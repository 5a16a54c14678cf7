#include "geerpc/registry/etcd_local.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "geerpc/net.hpp"
#include "geerpc/registry/http_client.hpp"

extern char** environ;

namespace geerpc {
namespace {

// A port nobody listens on right now (another process may still take it before etcd does: the
// start is then retried with new ones).
std::string free_port() {
  asio::io_context io;
  auto listener = listen(io.get_executor(), "tcp", "127.0.0.1:0");
  return listener ? to_string(listener->local_endpoint()).substr(10) : "0";  // after "127.0.0.1:"
}

bool healthy(const std::string& endpoint) {
  auto url = parse_http_url(endpoint + "/health");
  if (!url) return false;
  asio::io_context io;
  const HttpHeaders none;  // http_call reads its arguments until it is done: named, not temporaries
  auto answer = asio::co_spawn(io, http_call(*url, "GET", none, "", std::chrono::milliseconds(500)), asio::use_future);
  io.run();
  auto response = answer.get();
  return response && response->body.find("\"health\":\"true\"") != std::string::npos;
}

}  // namespace

Result<std::unique_ptr<LocalEtcd>> LocalEtcd::start() {
  std::unique_ptr<LocalEtcd> etcd(new LocalEtcd);
  char dir[] = "/tmp/geerpc-etcd.XXXXXX";
  if (!::mkdtemp(dir)) return Error(std::error_code(errno, std::generic_category()));
  etcd->dir_ = dir;
  Error error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    etcd->endpoint_ = "http://127.0.0.1:" + free_port();
    etcd->peer_ = "http://127.0.0.1:" + free_port();
    if (!(error = etcd->launch())) return etcd;
    etcd->stop();
  }
  return error;
}

Error LocalEtcd::launch() {
  const std::string log = dir_ + "/etcd.log";
  std::vector<std::string> args = {"etcd",
                                   "--name=geerpc",
                                   "--data-dir=" + dir_ + "/data",
                                   "--listen-client-urls=" + endpoint_,
                                   "--advertise-client-urls=" + endpoint_,
                                   "--listen-peer-urls=" + peer_,
                                   "--initial-advertise-peer-urls=" + peer_,
                                   "--initial-cluster=geerpc=" + peer_,
                                   "--logger=zap",
                                   "--log-outputs=" + log};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int spawned = ::posix_spawnp(&pid_, "etcd", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    pid_ = -1;
    return Error(errc::etcd_error, "rpc etcd: cannot start etcd (is etcd-server installed?)");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (healthy(endpoint_)) return {};
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // it exited: a port was taken, say
      pid_ = -1;
      return Error(errc::etcd_error, "rpc etcd: etcd exited at start; see " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // etcd has no other way to say it is up
  }
  return Error(errc::etcd_error, "rpc etcd: etcd did not come up within 10 s; see " + log);
}

void LocalEtcd::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);  // a paused etcd cannot act on SIGTERM
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void LocalEtcd::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void LocalEtcd::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

Error LocalEtcd::restart() {
  stop();
  return launch();
}

LocalEtcd::~LocalEtcd() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace geerpc
