#include "geerpc/service.hpp"

namespace geerpc {

namespace {

// An exception a method threw, as the error its caller gets.
Error method_exception(const Service& service, const MethodType& m) {
  const std::string prefix = "rpc server: " + service.name + "." + m.name + " threw";
  try {
    throw;
  } catch (const nlohmann::json::exception& e) {  // in the project's words, not the library's
    return {errc::method_exception, prefix + " a JSON error (nlohmann/json " + std::to_string(e.id) + ")"};
  } catch (const std::exception& e) {
    return {errc::method_exception, prefix + ": " + e.what()};
  } catch (...) {
    return {errc::method_exception, prefix + " a non-standard exception"};
  }
}

}  // namespace

asio::awaitable<Error> Service::call(const MethodType& m, const Value& argv, const Value& replyv) const {
  if (!m.is_coroutine) co_return call_plain(m, argv, replyv);
  m.num_calls_.fetch_add(1, std::memory_order_relaxed);
  try {
    co_return co_await m.invoke_(rcvr_.get(), argv.get(), replyv.get());
  } catch (...) {
    co_return method_exception(*this, m);
  }
}

Error Service::call_plain(const MethodType& m, const Value& argv, const Value& replyv) const {
  m.num_calls_.fetch_add(1, std::memory_order_relaxed);
  try {
    return m.invoke_plain_(rcvr_.get(), argv.get(), replyv.get());
  } catch (...) {
    return method_exception(*this, m);
  }
}

namespace detail {

std::string tidy_type_name(std::string_view pretty) {
  // Cut "T = <type>" out of the function signature the compiler wrote.
  auto start = pretty.find("T = ");
  if (start == std::string_view::npos) return std::string(pretty);
  start += 4;
  auto end = pretty.find_first_of(";]", start);
  std::string name(pretty.substr(start, end - start));
  // The standard library's spelling of common types is not what anyone typed.
  for (auto [from, to] :
       {std::pair<std::string_view, std::string_view>{"std::__cxx11::basic_string<char>", "std::string"},
        {"std::basic_string<char>", "std::string"},
        {"std::__cxx11::", "std::"},
        {"std::__1::", "std::"}}) {
    for (auto at = name.find(from); at != std::string::npos; at = name.find(from, at))
      name.replace(at, from.size(), to);
  }
  // Nor is nlohmann's: its inline ABI namespace (json_abi_v3_11_2) and basic_json<> are nlohmann::json.
  for (auto at = name.find("nlohmann::json_abi"); at != std::string::npos; at = name.find("nlohmann::json_abi", at)) {
    const auto end = name.find("::", at + 10);
    if (end == std::string::npos) break;
    name.erase(at + 10, end + 2 - (at + 10));
  }
  for (auto at = name.find("nlohmann::basic_json<>"); at != std::string::npos;
       at = name.find("nlohmann::basic_json<>", at))
    name.replace(at, 22, "nlohmann::json");
  // GCC writes "basic_json<> >": the space only kept two '>' apart.
  for (auto at = name.find(" >"); at != std::string::npos; at = name.find(" >", at)) name.erase(at, 1);
  return name;
}

}  // namespace detail
}  // namespace geerpc
