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
  JsonText& Add(std::string_view key, double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", value);
    return Raw(key, text);
  }
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

  // A JSON string of `text`: valid UTF-8 as it is (a name is shown as the user wrote
  // it), control characters as \u00XX, and each byte that is not part of valid UTF-8
  // as the four characters \xNN (JSON cannot hold raw bytes; this keeps them apart from
  // the characters they would be in Latin-1).
  static std::string Quote(std::string_view text) {
    std::string out = "\"";
    for (size_t i = 0; i < text.size();) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      char buf[8];
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
        ++i;
      } else if (c < 0x20 || c == 0x7f) {
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
        ++i;
      } else if (c < 0x80) {
        out += static_cast<char>(c);
        ++i;
      } else if (const size_t n = Utf8Length(text.substr(i)); n != 0) {
        out.append(text.substr(i, n));
        i += n;
      } else {
        std::snprintf(buf, sizeof buf, "\\\\x%02x", c);
        out += buf;
        ++i;
      }
    }
    return out + "\"";
  }

  // The length of the valid UTF-8 sequence `text` starts with (2..4), or 0 (overlong
  // forms, surrogates and code points past U+10FFFF are not valid).
  static size_t Utf8Length(std::string_view text) {
    auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
    auto cont = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xbf) {
      return i < text.size() && byte(i) >= lo && byte(i) <= hi;
    };
    const unsigned c = byte(0);
    if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
      const unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
      return cont(1, lo, hi) && cont(2) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
      const unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
      return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
  }

 private:
  std::string body_;
};

}  // namespace sopfs
