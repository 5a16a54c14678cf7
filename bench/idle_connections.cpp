// geerpc_idle_conns: what 10,000 idle connections cost a geerpc server. It starts
// `geerpc_bench server` as a child, opens the connections with plain blocking sockets (each sends
// the Option line and reads the server's answer, so the server holds a live, handshaken Conn for
// every one), then reads the server's VmRSS from /proc/<pid>/status.
//
//   geerpc_idle_conns --server PATH/geerpc_bench [--connections 10000] [--codec json|msgpack]
//
// Prints: RESULT impl=geerpc scenario=idle10k server_rss_kb=<x> connections=10000 ...
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "geerpc/server.hpp"

extern char** environ;

namespace {

constexpr std::size_t kBatch = 500;  // handshakes in flight at once: stays below the listen backlog
pid_t server_pid = -1;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "geerpc_idle_conns: %s\n", msg.c_str());
  if (server_pid > 0) kill(server_pid, SIGTERM);
  std::exit(1);
}

void raise_fd_limit(rlim_t want) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_max < want) {
    rlimit raised{want, want};  // root may raise the hard limit too; otherwise keep what we have
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return;
  }
  limit.rlim_cur = std::min(want, limit.rlim_max);
  setrlimit(RLIMIT_NOFILE, &limit);
}

// Starts `bin server --addr 127.0.0.1:0 --codec C` and returns the port it reports.
unsigned short start_server(const std::string& bin, const std::string& codec) {
  int out[2];
  if (pipe(out) != 0) die("pipe: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<std::string> args{bin, "server", "--addr", "127.0.0.1:0", "--codec", codec};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (int rc = posix_spawn(&server_pid, bin.c_str(), &actions, nullptr, argv.data(), environ); rc != 0)
    die("spawn " + bin + ": " + std::strerror(rc));
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);  // the server prints nothing else
  if (line.rfind("LISTENING ", 0) != 0) die("server did not report LISTENING");
  return static_cast<unsigned short>(std::stoul(line.substr(10)));
}

long rss_kb(pid_t pid, const char* field = "VmRSS:") {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = -1;
  while (status >> key) {
    if (key == field) {
      status >> value;
      break;
    }
    status.ignore(1 << 12, '\n');
  }
  return value;
}

int connect_to(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: " + std::string(std::strerror(errno)) + " (raise the descriptor limit)");
  timeval timeout{10, 0};  // a server that never answers fails the run instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    die("connect: " + std::string(std::strerror(errno)));
  return fd;
}

// Reads the server's answer to the Option: one line, which must name our codec.
void read_answer(int fd, const geerpc::Type& codec) {
  std::string line;
  char buf[256];
  while (line.find('\n') == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) die("no answer to the Option: " + std::string(n == 0 ? "closed" : std::strerror(errno)));
    line.append(buf, static_cast<std::size_t>(n));
  }
  auto answer = geerpc::parse_option(line.substr(0, line.find('\n')));
  if (!answer || answer->codec_type != codec) die("bad answer to the Option: " + line);
}

}  // namespace

int main(int argc, char** argv) {
  std::string server_bin, codec = "msgpack";
  std::size_t connections = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--server") server_bin = value;
    else if (flag == "--connections") connections = std::stoul(value);
    else if (flag == "--codec") codec = value;
    else die("unknown flag " + flag);
  }
  if (server_bin.empty() || argc % 2 == 0)
    die("usage: geerpc_idle_conns --server PATH/geerpc_bench [--connections N] [--codec json|msgpack]");
  const geerpc::Option option{.codec_type = codec == "json" ? geerpc::json_type : geerpc::msgpack_type};
  const std::string line = geerpc::option_line(option);

  raise_fd_limit(30000);  // the child inherits it: the server needs one descriptor per connection too
  const unsigned short port = start_server(server_bin, codec);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const long before_kb = rss_kb(server_pid);

  std::vector<int> fds;
  fds.reserve(connections);
  auto last_report = std::chrono::steady_clock::now();
  while (fds.size() < connections) {
    const std::size_t first = fds.size(), n = std::min(kBatch, connections - first);
    for (std::size_t i = 0; i < n; ++i) {
      fds.push_back(connect_to(port));
      if (send(fds.back(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
        die("sending the Option: " + std::string(std::strerror(errno)));
    }
    for (std::size_t i = first; i < fds.size(); ++i) read_answer(fds[i], option.codec_type);
    if (auto now = std::chrono::steady_clock::now(); now - last_report >= std::chrono::seconds(1)) {
      std::fprintf(stderr, "geerpc idle: %zu connections, server rss %ld kB\n", fds.size(), rss_kb(server_pid));
      last_report = now;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the server settle into its reads
  const long rss = rss_kb(server_pid), hwm = rss_kb(server_pid, "VmHWM:");
  if (waitpid(server_pid, nullptr, WNOHANG) != 0) die("the server died");

  std::printf("RESULT impl=geerpc scenario=idle%s server_rss_kb=%ld connections=%zu codec=%s server_hwm_kb=%ld "
              "server_rss_before_kb=%ld kb_per_conn=%.2f\n",
              connections % 1000 == 0 ? (std::to_string(connections / 1000) + "k").c_str()
                                      : std::to_string(connections).c_str(),
              rss, connections, codec.c_str(), hwm, before_kb,
              static_cast<double>(rss - before_kb) / static_cast<double>(connections));
  std::fflush(stdout);
  for (int fd : fds) close(fd);
  kill(server_pid, SIGTERM);
  waitpid(server_pid, nullptr, 0);
  return 0;
}
