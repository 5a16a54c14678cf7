#include "geerpc/debug.hpp"

#include <nlohmann/json.hpp>
#include <string_view>

namespace geerpc {
namespace {

// Names come from C++ type names ("std::map<std::string, int>"): every one is escaped.
std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string debug_html(const std::vector<ServiceInfo>& services) {
  std::string page =
      "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>GeeRPC Services</title>\n"
      "<style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:1em}"
      "th,td{border:1px solid #999;padding:4px 10px;text-align:left}td.calls{text-align:right}</style>\n"
      "</head>\n<body>\n<h1>GeeRPC Services</h1>\n";
  for (const auto& service : services) {
    page += "<h2>Service " + escape(service.name) + "</h2>\n";
    page += "<table class=\"service\" data-service=\"" + escape(service.name) + "\">\n";
    page += "<tr><th>Method</th><th>Calls</th></tr>\n";
    for (const auto& method : service.methods) {
      page += "<tr><td class=\"method\">" + escape(method.signature) + "</td><td class=\"calls\">" +
              std::to_string(method.calls) + "</td></tr>\n";
    }
    page += "</table>\n";
  }
  page += "</body>\n</html>\n";
  return page;
}

std::string debug_json(const std::vector<ServiceInfo>& services) {
  auto list = nlohmann::json::array();
  for (const auto& service : services) {
    auto methods = nlohmann::json::array();
    for (const auto& m : service.methods) {
      methods.push_back({{"name", m.name},
                         {"signature", m.signature},
                         {"arg_type", m.arg_type},
                         {"reply_type", m.reply_type},
                         {"calls", m.calls}});
    }
    list.push_back({{"name", service.name}, {"methods", std::move(methods)}});
  }
  // Names are the user's C++ names; a byte that is not UTF-8 is replaced, not thrown over.
  return nlohmann::json{{"services", std::move(list)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace geerpc
