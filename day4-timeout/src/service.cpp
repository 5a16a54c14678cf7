#include "geerpc/service.hpp"

namespace geerpc {

asio::awaitable<Error> Service::call(const MethodType& m, const Value& argv, const Value& replyv) const {
  m.num_calls_.fetch_add(1, std::memory_order_relaxed);
  try {
    co_return co_await m.invoke_(rcvr_.get(), argv.get(), replyv.get());
  } catch (const std::exception& e) {
    co_return Error(errc::method_exception, "rpc server: " + name + "." + m.name + " threw: " + e.what());
  } catch (...) {
    co_return Error(errc::method_exception, "rpc server: " + name + "." + m.name + " threw a non-standard exception");
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
  return name;
}

}  // namespace detail
}  // namespace geerpc
