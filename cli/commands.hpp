// The geerpc command's commands, on day 7's Client, XClient, discovery and HTTP client.
#pragma once

#include "options.hpp"

namespace geerpc::cli {

// Runs the command; returns the exit code, having printed what went wrong as one line on stderr.
int run(const Options& options);

}  // namespace geerpc::cli
