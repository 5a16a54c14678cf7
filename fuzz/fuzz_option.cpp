// The Option line is the first thing a server reads from any peer, before it knows who is talking:
// parse_option must turn every byte string into an Option or bad_option/bad_magic, and never throw.
#include "fuzz_util.hpp"
#include "geerpc/protocol.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  geerpc::fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace geerpc;
  const std::string line = fuzz::as_string(data, size);
  auto option = parse_option(line);
  if (!option) {
    const auto error = option.error();
    if (error != errc::bad_option && error != errc::bad_magic) fuzz::fail("parse_option", error);
    return 0;
  }
  if (option->magic_number != magic_number) fuzz::fail("accepted a wrong magic number");
  // What was accepted must survive the trip back to the wire (option_line is what clients send).
  const auto again_line = option_line(*option);
  auto again = parse_option(std::string_view(again_line).substr(0, again_line.size() - 1));
  if (!again || again->codec_type != option->codec_type) fuzz::fail("option_line does not round-trip");
  return 0;
}
