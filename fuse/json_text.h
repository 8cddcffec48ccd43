// JsonText: builds the JSON objects the control files (.sopfs/txn, stats, health) show.
// Strings are escaped, so names and messages of any bytes give valid JSON.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace sopfs {

class JsonText {
 public:
  JsonText& Add(std::string_view key, uint64_t value) { return Raw(key, std::to_string(value)); }
  JsonText& Add(std::string_view key, int64_t value) { return Raw(key, std::to_string(value)); }
  JsonText& Add(std::string_view key, int value) { return Raw(key, std::to_string(value)); }
  JsonText& Add(std::string_view key, bool value) { return Raw(key, value ? "true" : "false"); }
  JsonText& Add(std::string_view key, std::string_view value) { return Raw(key, Quote(value)); }
  JsonText& Add(std::string_view key, const char* value) {
    return Raw(key, Quote(std::string_view(value)));
  }
  JsonText& AddNull(std::string_view key) { return Raw(key, "null"); }
  // A nested object or array, already JSON.
  JsonText& Raw(std::string_view key, std::string_view json) {
    if (!body_.empty()) body_ += ",";
    body_ += Quote(key);
    body_ += ":";
    body_ += json;
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

  static std::string Quote(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c >= 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"";
  }

 private:
  std::string body_;
};

}  // namespace sopfs
