// JsonLine: builds the one-line JSON object that `sopfs bench ... --json` prints last.
#pragma once

#include <cstdio>
#include <string>

namespace sopfs::tools {

class JsonLine {
 public:
  JsonLine& Add(const std::string& key, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    return Raw(key, buf);
  }
  JsonLine& Add(const std::string& key, long long value) { return Raw(key, std::to_string(value)); }
  JsonLine& Add(const std::string& key, bool value) { return Raw(key, value ? "true" : "false"); }
  // Strings are expected to be plain ASCII without quotes or backslashes.
  JsonLine& Add(const std::string& key, const std::string& value) {
    return Raw(key, "\"" + value + "\"");
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  JsonLine& Raw(const std::string& key, const std::string& value) {
    if (!body_.empty()) body_ += ",";
    body_ += "\"" + key + "\":" + value;
    return *this;
  }
  std::string body_;
};

}  // namespace sopfs::tools
