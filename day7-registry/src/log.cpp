#include "geerpc/log.hpp"

#include <cstdio>
#include <mutex>
#include <string>

namespace geerpc {
namespace {

std::mutex log_mutex;
LogSink current_sink = [](std::string_view line) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
};

}  // namespace

void log(std::string_view line) {
  std::lock_guard lock(log_mutex);
  if (current_sink) current_sink(line);
}

LogSink set_log_sink(LogSink sink) {
  std::lock_guard lock(log_mutex);
  std::swap(sink, current_sink);
  return sink;
}

}  // namespace geerpc
