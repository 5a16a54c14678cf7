// A throwaway etcd on loopback, for the demo and the tests: Debian's etcd started on ports the
// system picks, with a temporary data dir, stopped by its pid. Not for production.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "geerpc/error.hpp"

namespace geerpc {

class LocalEtcd {
 public:
  // Starts `etcd` (from PATH) and returns once it answers /health, at most 10 s.
  [[nodiscard]] static Result<std::unique_ptr<LocalEtcd>> start();
  ~LocalEtcd();  // stops it and removes its data dir

  LocalEtcd(const LocalEtcd&) = delete;
  LocalEtcd& operator=(const LocalEtcd&) = delete;

  const std::string& endpoint() const { return endpoint_; }  // "http://127.0.0.1:PORT"
  pid_t pid() const { return pid_; }

  void stop();  // SIGTERM, and waits (SIGKILL after 5 s)
  void pause();  // SIGSTOP: etcd is there and answers nothing
  void resume();  // SIGCONT
  // Starts it again on the same ports and data dir, once it is stopped.
  [[nodiscard]] Error restart();

 private:
  LocalEtcd() = default;
  Error launch();

  std::string dir_, endpoint_, peer_;
  pid_t pid_ = -1;
};

}  // namespace geerpc
