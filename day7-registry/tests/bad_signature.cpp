// Built only by the CompileFail tests, once per BROKEN_RULE: a service whose method breaks that
// rule of net/rpc. The build must fail, and the compiler's message must name the rule.
#include "geerpc/service.hpp"

struct Args {
  int num1 = 0, num2 = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Args, num1, num2)

struct Bad {
#if BROKEN_RULE == 3
  geerpc::Error Sum(Args args, int* reply, int extra);  // three parameters
#elif BROKEN_RULE == 4
  geerpc::Error Sum(Args args, int reply);  // reply by value: Go registers this and panics later
#elif BROKEN_RULE == 5
  int Sum(Args args, int* reply);  // returns no error
#endif
};
GEERPC_SERVICE(Bad, Sum)

int main() {
  Bad bad;
  return static_cast<int>(geerpc::new_service(bad)->method.size());
}
