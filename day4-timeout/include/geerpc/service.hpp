// Services: ordinary C++ objects whose methods become callable as "Service.Method". Go finds the
// methods with reflection at run time; here templates read them from member-function pointers at
// compile time, so a method with the wrong shape does not compile, with a message naming the rule.
#pragma once

#include <asio/awaitable.hpp>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "geerpc/codec.hpp"
#include "geerpc/detail/arg_check.hpp"
#include "geerpc/error.hpp"

namespace geerpc {

// A readable name for a type: "Args", "int", "std::string".
template <class T>
std::string type_name();

// Go's reflect.Value for an argument or a reply: an object of the method's own type, type-erased.
using Value = std::shared_ptr<void>;

class Service;

// Go's methodType: one callable method, its argument and reply types and how often it was called.
class MethodType {
 public:
  std::string name;  // "Sum"
  std::string arg_type;  // "Args"
  std::string reply_type;  // "int"
  bool is_coroutine = false;  // returns asio::awaitable<Error>: may suspend without holding a thread

  Value new_argv() const { return new_argv_(); }
  // A fresh reply: maps and vectors start empty (never "absent", as a nil map is in Go).
  Value new_replyv() const { return new_replyv_(); }
  std::uint64_t num_calls() const { return num_calls_.load(std::memory_order_relaxed); }
  // "Sum(Args, int*) -> error"
  std::string signature() const { return name + "(" + arg_type + ", " + reply_type + "*) -> error"; }

  // Fills argv (from new_argv) from a request body, which it may move from: errc::bad_body when
  // the shape is wrong.
  Error decode_argv(Body&& body, void* argv) const { return decode_argv_(std::move(body), argv); }
  // Encodes the reply, moving out of it: the reply is not needed once it is encoded.
  Body encode_replyv(void* replyv) const { return encode_replyv_(replyv); }

 private:
  friend class Service;
  template <auto Method>
  friend std::unique_ptr<MethodType> make_method_type(std::string name);

  Value (*new_argv_)() = nullptr;
  Value (*new_replyv_)() = nullptr;
  Error (*decode_argv_)(Body&&, void*) = nullptr;
  Body (*encode_replyv_)(void*) = nullptr;
  asio::awaitable<Error> (*invoke_)(void* rcvr, void* argv, void* replyv) = nullptr;  // coroutine methods
  Error (*invoke_plain_)(void* rcvr, void* argv, void* replyv) = nullptr;  // plain methods
  mutable std::atomic<std::uint64_t> num_calls_{0};
};

// Go's service: a name, the receiver object and its methods.
class Service {
 public:
  Service(std::string name, std::shared_ptr<void> rcvr) : name(std::move(name)), rcvr_(std::move(rcvr)) {}

  const std::string name;
  std::map<std::string, std::unique_ptr<MethodType>, std::less<>> method;

  // Runs the method on the receiver. Its own error comes back as is; an exception it throws
  // becomes an errc::method_exception error, so one bad call never takes the server down.
  asio::awaitable<Error> call(const MethodType& m, const Value& argv, const Value& replyv) const;
  // The same for a plain method, on the calling thread, without a coroutine frame.
  Error call_plain(const MethodType& m, const Value& argv, const Value& replyv) const;

 private:
  std::shared_ptr<void> rcvr_;
};

namespace detail {

template <class F>
struct method_traits {
  static constexpr bool is_member_function = false;
};
template <class R, class C, class... P>
struct method_traits<R (C::*)(P...)> {
  static constexpr bool is_member_function = true;
  static constexpr std::size_t arity = sizeof...(P);
  using result = R;
  using receiver = C;
  using params = std::tuple<P...>;
};
template <class R, class C, class... P>
struct method_traits<R (C::*)(P...) const> : method_traits<R (C::*)(P...)> {};
template <class R, class C, class... P>
struct method_traits<R (C::*)(P...) noexcept> : method_traits<R (C::*)(P...)> {};
template <class R, class C, class... P>
struct method_traits<R (C::*)(P...) const noexcept> : method_traits<R (C::*)(P...)> {};

template <class T>
concept json_decodable = std::is_default_constructible_v<T> && requires(const Body& body, T& value) {
  body.get_to(value);
};
template <class T>
concept json_encodable = requires(Body& body, const T& value) {
  body = value;
};

template <class T>
constexpr std::string_view raw_type_name() {
  return __PRETTY_FUNCTION__;  // "... [with T = Args; ...]" (GCC) or "... [T = Args]" (Clang)
}
std::string tidy_type_name(std::string_view pretty_function);

// Checks net/rpc's five rules, in their C++ form, for one method, and says whether they hold.
// Each rule is checked only when the ones before it hold: a wrong method gets one message.
template <auto Method>
constexpr bool check_rules() {
  using traits = method_traits<decltype(Method)>;
  static_assert(traits::is_member_function,
                "geerpc rule 1: a method is a member function of the service's class: pass &Type::Method");
  if constexpr (!traits::is_member_function) {
    return false;
  } else {
    static_assert(traits::arity == 2,
                  "geerpc rule 3: a method takes exactly two parameters: (Args args, Reply* reply)");
    if constexpr (traits::arity != 2) {
      return false;
    } else {
      using A = std::tuple_element_t<0, typename traits::params>;
      using P = std::tuple_element_t<1, typename traits::params>;
      using Args = std::remove_cvref_t<A>;
      using Reply = std::remove_pointer_t<P>;
      using R = typename traits::result;
      constexpr bool args_by_value = !std::is_reference_v<A> || std::is_same_v<A, const Args&>;
      constexpr bool reply_by_pointer = std::is_pointer_v<P> && !std::is_const_v<Reply>;
      constexpr bool reply_encodable = json_encodable<Reply> && std::is_default_constructible_v<Reply>;
      constexpr bool returns_error = std::is_same_v<R, Error> || std::is_same_v<R, asio::awaitable<Error>>;
      static_assert(args_by_value, "geerpc rule 3: the arguments are taken by value or by const reference");
      static_assert(json_decodable<Args>, "geerpc rule 3: the argument type needs a default constructor and from_json");
      static_assert(
          reply_by_pointer,
          "geerpc rule 4: the second parameter is a pointer to the reply (Reply*), which the method fills in");
      static_assert(!reply_by_pointer || reply_encodable,
                    "geerpc rule 4: the reply type needs a default constructor and to_json");
      static_assert(returns_error,
                    "geerpc rule 5: a method returns geerpc::Error, or asio::awaitable<geerpc::Error> as a coroutine");
      return args_by_value && json_decodable<Args> && reply_by_pointer && reply_encodable && returns_error;
    }
  }
}

}  // namespace detail

template <class T>
std::string type_name() {
  return detail::tidy_type_name(detail::raw_type_name<T>());
}

// Builds the MethodType for one member function; the rules are checked here, at compile time.
template <auto Method>
std::unique_ptr<MethodType> make_method_type(std::string name) {
  if constexpr (!detail::check_rules<Method>()) {
    return nullptr;  // not reached at run time: the static_assert above already failed the build
  } else {
    using traits = detail::method_traits<decltype(Method)>;
    using C = typename traits::receiver;
    using Args = std::remove_cvref_t<std::tuple_element_t<0, typename traits::params>>;
    using Reply = std::remove_pointer_t<std::tuple_element_t<1, typename traits::params>>;
    constexpr bool is_coroutine = std::is_same_v<typename traits::result, asio::awaitable<Error>>;

    auto m = std::make_unique<MethodType>();
    m->name = std::move(name);
    m->arg_type = type_name<Args>();
    m->reply_type = type_name<Reply>();
    m->is_coroutine = is_coroutine;
    m->new_argv_ = [] { return Value(std::make_shared<Args>()); };
    m->new_replyv_ = [] { return Value(std::make_shared<Reply>()); };
    (void)detail::arg_shape<Args>();  // measured now, not on the first call
    m->decode_argv_ = [](Body&& body, void* argv) -> Error {
      if (auto what = detail::check_numbers(detail::arg_shape<Args>(), body); !what.empty())
        return {errc::bad_body, type_name<Args>() + ": " + what};
      try {
        take_body(std::move(body), *static_cast<Args*>(argv));
      } catch (const nlohmann::json::exception&) {  // the body has the wrong shape: say where
        return {errc::bad_body, type_name<Args>() + ": " + detail::describe_mismatch(detail::arg_shape<Args>(), body)};
      } catch (const std::exception& e) {  // the type's own from_json refused it, in its words
        return {errc::bad_body, type_name<Args>() + ": " + e.what()};
      }
      return {};
    };
    m->encode_replyv_ = [](void* replyv) { return Body(std::move(*static_cast<Reply*>(replyv))); };
    if constexpr (is_coroutine) {
      m->invoke_ = [](void* rcvr, void* argv, void* replyv) -> asio::awaitable<Error> {
        auto& object = *static_cast<C*>(rcvr);
        co_return co_await (object.*Method)(std::move(*static_cast<Args*>(argv)), static_cast<Reply*>(replyv));
      };
    } else {
      m->invoke_plain_ = [](void* rcvr, void* argv, void* replyv) -> Error {
        auto& object = *static_cast<C*>(rcvr);
        return (object.*Method)(std::move(*static_cast<Args*>(argv)), static_cast<Reply*>(replyv));
      };
    }
    return m;
  }
}

namespace detail {

template <auto Method>
struct method_spec {
  const char* name;
  void add_to(Service& service) const { service.method.emplace(name, make_method_type<Method>(name)); }
};

// What GEERPC_SERVICE records for a type: its name and a function that adds its methods.
template <class T, class... Specs>
auto describe(const char* name, Specs... specs) {
  return std::pair{name, [=](Service& service) { (specs.add_to(service), ...); }};
}

}  // namespace detail

// Go's newService(rcvr): a service named after T with the methods GEERPC_SERVICE listed for T.
// The receiver is shared; pass a reference instead to keep ownership (it must outlive the server).
template <class T>
std::shared_ptr<Service> new_service(std::shared_ptr<T> rcvr) {
  auto [name, add_methods] = geerpc_describe(static_cast<const T*>(nullptr));  // found by ADL
  auto service = std::make_shared<Service>(name, std::move(rcvr));
  add_methods(*service);
  return service;
}
template <class T>
std::shared_ptr<Service> new_service(T& rcvr) {
  return new_service(std::shared_ptr<T>(std::shared_ptr<T>(), &rcvr));  // aliasing: not owned
}

}  // namespace geerpc

// GEERPC_SERVICE(Type, Method...) names the methods of Type that are callable, next to the type and
// in its namespace: the one place where C++, without reflection, lists what Go would discover.
//   struct Foo { geerpc::Error Sum(Args args, int* reply); };
//   GEERPC_SERVICE(Foo, Sum)
//   server.register_service(foo);   // "Foo.Sum"
#define GEERPC_SERVICE(Type, ...)                                                             \
  [[maybe_unused]] inline auto geerpc_describe(const Type*) {                                 \
    return ::geerpc::detail::describe<Type>(#Type GEERPC_DETAIL_FOR_EACH(Type, __VA_ARGS__)); \
  }

#define GEERPC_DETAIL_METHOD(Type, Name)         \
  , ::geerpc::detail::method_spec<&Type::Name> { \
#Name                                        \
  }

// Applies GEERPC_DETAIL_METHOD to each name (up to 64), with C++20's __VA_OPT__.
#define GEERPC_DETAIL_FOR_EACH(Type, ...) \
  __VA_OPT__(GEERPC_DETAIL_EXPAND(GEERPC_DETAIL_FOR_EACH_STEP(Type, __VA_ARGS__)))
#define GEERPC_DETAIL_FOR_EACH_STEP(Type, Name, ...) \
  GEERPC_DETAIL_METHOD(Type, Name) __VA_OPT__(GEERPC_DETAIL_FOR_EACH_AGAIN GEERPC_DETAIL_PARENS(Type, __VA_ARGS__))
#define GEERPC_DETAIL_FOR_EACH_AGAIN() GEERPC_DETAIL_FOR_EACH_STEP
#define GEERPC_DETAIL_PARENS ()
#define GEERPC_DETAIL_EXPAND(...) GEERPC_DETAIL_EXPAND3(GEERPC_DETAIL_EXPAND3(GEERPC_DETAIL_EXPAND3(__VA_ARGS__)))
#define GEERPC_DETAIL_EXPAND3(...) GEERPC_DETAIL_EXPAND2(GEERPC_DETAIL_EXPAND2(GEERPC_DETAIL_EXPAND2(__VA_ARGS__)))
#define GEERPC_DETAIL_EXPAND2(...) GEERPC_DETAIL_EXPAND1(GEERPC_DETAIL_EXPAND1(GEERPC_DETAIL_EXPAND1(__VA_ARGS__)))
#define GEERPC_DETAIL_EXPAND1(...) __VA_ARGS__
