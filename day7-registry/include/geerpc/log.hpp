// Where the framework reports what it drops (bad peers, failed writes). Tests and
// applications can redirect it; by default it goes to stderr, one line per event.
#pragma once

#include <functional>
#include <string_view>

namespace geerpc {

using LogSink = std::function<void(std::string_view line)>;

void log(std::string_view line);

// Replaces the sink; returns the previous one. An empty sink silences the log.
LogSink set_log_sink(LogSink sink);

}  // namespace geerpc
