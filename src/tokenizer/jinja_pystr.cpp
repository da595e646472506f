#include "tokenizer/jinja_pystr.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_unicode.h"

namespace strata::jinja {
namespace {

bool is_cased(char32_t cp) {
  return is_py_upper(cp) || is_py_lower(cp);
}

bool is_line_break(char32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
         cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

}  // namespace

std::string py_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  if (!chars && is_ascii(s)) {
    size_t b = 0;
    size_t e = s.size();
    if (left) {
      while (b < e && is_py_space(static_cast<unsigned char>(s[b]))) ++b;
    }
    if (right) {
      while (e > b && is_py_space(static_cast<unsigned char>(s[e - 1]))) --e;
    }
    return s.substr(b, e - b);
  }
  std::u32string cps = utf8_decode(s);
  std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
  auto strip_it = [&](char32_t cp) { return chars ? set.find(cp) != std::u32string::npos : is_py_space(cp); };
  size_t b = 0;
  size_t e = cps.size();
  if (left) {
    while (b < e && strip_it(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_it(cps[e - 1])) --e;
  }
  return utf8_encode(std::u32string_view(cps).substr(b, e - b));
}

Result<std::vector<std::string>> py_split(const std::string& s, const std::optional<std::string>& sep,
                                          int64_t maxsplit, bool from_right) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) return Error("empty separator");
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
        size_t hit = s.find(*sep, pos);
        if (hit == std::string::npos) break;
        out.push_back(s.substr(pos, hit - pos));
        pos = hit + sep->size();
      }
      out.push_back(s.substr(pos));
      return out;
    }
    size_t end = s.size();
    std::vector<std::string> rev;
    while (maxsplit < 0 || static_cast<int64_t>(rev.size()) < maxsplit) {
      if (end < sep->size()) break;
      size_t hit = s.rfind(*sep, end - sep->size());
      if (hit == std::string::npos) break;
      rev.push_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    rev.push_back(s.substr(0, end));
    return std::vector<std::string>(rev.rbegin(), rev.rend());
  }
  std::u32string cps = utf8_decode(s);
  size_t n = cps.size();
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < n && is_py_space(cps[i])) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        out.push_back(utf8_encode(std::u32string_view(cps).substr(i)));
        break;
      }
      size_t j = i;
      while (j < n && !is_py_space(cps[j])) ++j;
      out.push_back(utf8_encode(std::u32string_view(cps).substr(i, j - i)));
      i = j;
    }
    return out;
  }
  std::vector<std::string> rev;
  size_t j = n;
  while (true) {
    while (j > 0 && is_py_space(cps[j - 1])) --j;
    if (j == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(rev.size()) >= maxsplit) {
      rev.push_back(utf8_encode(std::u32string_view(cps).substr(0, j)));
      break;
    }
    size_t i = j;
    while (i > 0 && !is_py_space(cps[i - 1])) --i;
    rev.push_back(utf8_encode(std::u32string_view(cps).substr(i, j - i)));
    j = i;
  }
  return std::vector<std::string>(rev.rbegin(), rev.rend());
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
  std::u32string cps = utf8_decode(s);
  std::vector<std::string> out;
  size_t start = 0;
  size_t i = 0;
  while (i < cps.size()) {
    if (!is_line_break(cps[i])) {
      ++i;
      continue;
    }
    size_t eol = i + ((cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ? 2 : 1);
    out.push_back(utf8_encode(std::u32string_view(cps).substr(start, (keepends ? eol : i) - start)));
    start = i = eol;
  }
  if (start < cps.size()) out.push_back(utf8_encode(std::u32string_view(cps).substr(start)));
  return out;
}

std::string py_replace(const std::string& s, const std::string& old_sub, const std::string& new_sub,
                       int64_t count) {
  std::string out;
  if (old_sub.empty()) {
    std::u32string cps = utf8_decode(s);
    int64_t done = 0;
    for (char32_t cp : cps) {
      if (count < 0 || done < count) {
        out += new_sub;
        ++done;
      }
      utf8_append(out, cp);
    }
    if (count < 0 || done < count) out += new_sub;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(old_sub, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += new_sub;
    pos = hit + old_sub.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string py_upper(const std::string& s) {
  std::u32string out;
  for (char32_t cp : utf8_decode(s)) append_upper(out, cp);
  return utf8_encode(out);
}

std::string py_lower(const std::string& s) {
  std::u32string out;
  for (char32_t cp : utf8_decode(s)) append_lower(out, cp);
  return utf8_encode(out);
}

std::string py_swapcase(const std::string& s) {
  std::u32string out;
  for (char32_t cp : utf8_decode(s)) {
    if (is_py_upper(cp)) {
      append_lower(out, cp);
    } else if (is_py_lower(cp)) {
      append_upper(out, cp);
    } else {
      out.push_back(cp);
    }
  }
  return utf8_encode(out);
}

std::string py_title(const std::string& s) {
  std::u32string out;
  bool previous_cased = false;
  for (char32_t cp : utf8_decode(s)) {
    if (previous_cased) {
      append_lower(out, cp);
    } else {
      append_title(out, cp);
    }
    previous_cased = is_cased(cp);
  }
  return utf8_encode(out);
}

std::string py_capitalize(const std::string& s) {
  std::u32string out;
  bool first = true;
  for (char32_t cp : utf8_decode(s)) {
    if (first) {
      append_title(out, cp);
      first = false;
    } else {
      append_lower(out, cp);
    }
  }
  return utf8_encode(out);
}

std::string jinja_title(const std::string& s) {
  std::u32string out;
  bool word_start = true;
  for (char32_t cp : utf8_decode(s)) {
    bool separator = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || is_py_space(cp);
    if (separator) {
      out.push_back(cp);
      word_start = true;
    } else if (word_start) {
      append_upper(out, cp);
      word_start = false;
    } else {
      append_lower(out, cp);
    }
  }
  return utf8_encode(out);
}

std::string py_pad(const std::string& s, int64_t width, const std::string& fill, char align) {
  int64_t len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return s;
  width = std::min<int64_t>(width, int64_t{1} << 26);  // bounded: Python would exhaust memory instead
  int64_t total = width - len;
  int64_t left = align == '<' ? 0 : align == '>' ? total : total / 2 + (total & width & 1);
  int64_t right = total - left;
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < right; ++i) out += fill;
  return out;
}

int64_t py_find(const std::string& s, const std::string& sub, bool from_right) {
  size_t hit = from_right ? s.rfind(sub) : s.find(sub);
  if (hit == std::string::npos) return -1;
  return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, hit)));
}

int64_t py_count(const std::string& s, const std::string& sub) {
  if (sub.empty()) return static_cast<int64_t>(utf8_length(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return n;
}

bool py_is_all(const std::string& s, bool (*pred)(char32_t)) {
  if (s.empty()) return false;
  for (char32_t cp : utf8_decode(s)) {
    if (!pred(cp)) return false;
  }
  return true;
}

bool py_islower(const std::string& s) {
  bool cased = false;
  for (char32_t cp : utf8_decode(s)) {
    if (is_py_upper(cp)) return false;
    if (is_py_lower(cp)) cased = true;
  }
  return cased;
}

bool py_isupper(const std::string& s) {
  bool cased = false;
  for (char32_t cp : utf8_decode(s)) {
    if (is_py_lower(cp)) return false;
    if (is_py_upper(cp)) cased = true;
  }
  return cased;
}

bool py_istitle(const std::string& s) {
  bool cased = false;
  bool previous_cased = false;
  for (char32_t cp : utf8_decode(s)) {
    if (is_py_upper(cp)) {
      if (previous_cased) return false;
      previous_cased = cased = true;
    } else if (is_py_lower(cp)) {
      if (!previous_cased) return false;
      previous_cased = cased = true;
    } else {
      previous_cased = false;
    }
  }
  return cased;
}

// ---- format() ---------------------------------------------------------------------------------

Result<std::string> py_format_value(const Value& v, const std::string& spec) {
  if (spec.empty()) return to_str(v);
  // [[fill]align][sign][#][0][width][,|_][.precision][type]
  size_t i = 0;
  std::u32string cps = utf8_decode(spec);
  std::string fill = " ";
  char align = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    fill.clear();
    utf8_append(fill, cps[0]);
    align = static_cast<char>(cps[1]);
    i = 2;
  } else if (!cps.empty() && is_align(cps[0])) {
    align = static_cast<char>(cps[0]);
    i = 1;
  }
  char sign = 0;
  if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' ')) sign = static_cast<char>(cps[i++]);
  bool alt = false;
  if (i < cps.size() && cps[i] == '#') {
    alt = true;
    ++i;
  }
  if (i < cps.size() && cps[i] == '0') {
    if (align == 0) {
      fill = "0";
      align = '=';
    }
    ++i;
  }
  int64_t width = 0;
  while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9') {
    width = width * 10 + (cps[i++] - '0');
    if (width > (1 << 20)) return Error("Too many decimal digits in format string");
  }
  char grouping = 0;
  if (i < cps.size() && (cps[i] == ',' || cps[i] == '_')) grouping = static_cast<char>(cps[i++]);
  int precision = -1;
  if (i < cps.size() && cps[i] == '.') {
    ++i;
    precision = 0;
    while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9') {
      precision = precision * 10 + static_cast<int>(cps[i++] - '0');
      if (precision > 4096) return Error("Too many decimal digits in format string");
    }
  }
  char type = 0;
  if (i < cps.size()) type = static_cast<char>(cps[i++]);
  if (i != cps.size()) return Error("Invalid format specifier");

  std::string body;
  bool numeric = false;
  if (v.is_string()) {
    if (type != 0 && type != 's')
      return make_error("Unknown format code '{}' for object of type 'str'", type);
    body = v.as_string();
    if (precision >= 0) body = utf8_encode(utf8_decode(body).substr(0, static_cast<size_t>(precision)));
    if (align == 0) align = '<';
  } else if (v.is_number() && (v.is_float() || (type != 0 && std::string_view("eEfFgG%").find(type) !=
                                                                 std::string_view::npos))) {
    numeric = true;
    double d = v.as_double();
    char buf[512];
    if (type == '%') {
      std::snprintf(buf, sizeof(buf), "%.*f", precision < 0 ? 6 : precision, d * 100);
      body = std::string(buf) + "%";
    } else if (type == 0) {
      if (precision < 0) {
        body = float_repr(d);
      } else {
        std::snprintf(buf, sizeof(buf), "%.*g", precision == 0 ? 1 : precision, d);
        body = buf;
        if (body.find_first_of(".einn") == std::string::npos) body += ".0";
      }
    } else {
      std::string f = std::string("%") + (alt ? "#" : "") + ".*" + type;
      std::snprintf(buf, sizeof(buf), f.c_str(), precision < 0 ? 6 : precision, d);
      body = buf;
    }
    if (!body.empty() && body[0] == '-') body.erase(0, 1);
    if (std::signbit(d) && !std::isnan(d)) {
      body = "-" + body;
    } else if (sign == '+' || sign == ' ') {
      body = std::string(1, sign) + body;
    }
    if (align == 0) align = '>';
  } else if (v.is_number()) {
    numeric = true;
    int64_t n = v.as_int();
    uint64_t mag = n < 0 ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
    std::string digits;
    if (type == 'x' || type == 'X' || type == 'o' || type == 'b') {
      int base = type == 'o' ? 8 : type == 'b' ? 2 : 16;
      const char* chars = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
      do {
        digits.insert(digits.begin(), chars[mag % base]);
        mag /= base;
      } while (mag != 0);
      if (alt)
        digits = std::string("0") +
                 (type == 'o'   ? "o"
                  : type == 'b' ? "b"
                  : type == 'X' ? "X"
                                : "x") +
                 digits;
    } else if (type == 'c') {
      utf8_append(digits, static_cast<char32_t>(n));
    } else if (type == 0 || type == 'd' || type == 'n') {
      digits = std::to_string(mag);
      if (grouping != 0) {
        std::string grouped;
        for (size_t k = 0; k < digits.size(); ++k) {
          if (k > 0 && (digits.size() - k) % 3 == 0) grouped += grouping;
          grouped += digits[k];
        }
        digits = grouped;
      }
    } else {
      return make_error("Unknown format code '{}' for object of type '{}'", type, type_name(v));
    }
    body = (n < 0 ? "-" : (sign == '+' || sign == ' ') ? std::string(1, sign) : "") + digits;
    if (align == 0) align = '>';
  } else {
    return make_error("unsupported format string passed to {}.__format__", type_name(v));
  }
  if (align == '=' && numeric) {
    size_t sign_len = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
    int64_t len = static_cast<int64_t>(utf8_length(body));
    std::string pad;
    for (int64_t k = len; k < width; ++k) pad += fill;
    return body.substr(0, sign_len) + pad + body.substr(sign_len);
  }
  return py_pad(body, width, fill, align == '=' ? '>' : align);
}

Result<std::string> py_str_format(Interpreter& in, const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  bool manual = false;
  bool automatic = false;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      return Error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    // Find the matching '}' (format specs may nest one level of {}).
    size_t depth = 1;
    size_t j = i + 1;
    for (; j < format.size() && depth > 0; ++j) {
      if (format[j] == '{') ++depth;
      if (format[j] == '}') --depth;
    }
    if (depth != 0) {
      return Error(j - i <= 1 || format.find('}', i) == std::string::npos
                       ? "Single '{' encountered in format string"
                       : "expected '}' before end of string");
    }
    std::string field = format.substr(i + 1, j - i - 2);
    i = j - 1;
    std::string spec;
    char conversion = 0;
    size_t colon = field.find(':');
    size_t bang = field.find('!');
    if (bang != std::string::npos && (colon == std::string::npos || bang < colon)) {
      if (bang + 1 >= field.size()) return Error("end of string while looking for conversion specifier");
      conversion = field[bang + 1];
      if (colon != std::string::npos) spec = field.substr(colon + 1);
      field = field.substr(0, bang);
    } else if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (spec.find('{') != std::string::npos) {
      STRATA_TRY(spec, py_str_format(in, spec, args));
    }
    size_t name_end = field.find_first_of(".[");
    std::string first = field.substr(0, name_end);
    Value value;
    if (first.empty() || std::isdigit(static_cast<unsigned char>(first[0]))) {
      size_t index = 0;
      if (first.empty()) {
        if (manual)
          return Error("cannot switch from manual field specification to automatic field numbering");
        automatic = true;
        index = auto_index++;
      } else {
        if (automatic)
          return Error("cannot switch from automatic field numbering to manual field specification");
        manual = true;
        auto parsed = parse_digits(first);
        if (!parsed) return make_error("Too many decimal digits in format string");
        index = static_cast<size_t>(*parsed);
      }
      if (index >= args.positional.size()) {
        return make_error("Replacement index {} out of range for positional args tuple", index);
      }
      value = args.positional[index];
    } else {
      bool found = false;
      for (const auto& [k, v] : args.keyword) {
        if (k == first) {
          value = v;
          found = true;
        }
      }
      if (!found) return make_error("'{}'", first);
    }
    size_t p = name_end;
    while (p != std::string::npos && p < field.size()) {
      if (field[p] == '.') {
        size_t e = field.find_first_of(".[", p + 1);
        STRATA_TRY(value, in.getattr(value, field.substr(p + 1, e == std::string::npos ? std::string::npos
                                                                                       : e - p - 1)));
        p = e;
      } else {
        size_t e = field.find(']', p);
        if (e == std::string::npos) return Error("Missing ']' in format string");
        std::string key = field.substr(p + 1, e - p - 1);
        auto index = parse_digits(key);
        STRATA_TRY(value, in.getitem(value, index ? Value::integer(*index) : Value::string(key)));
        p = e + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a') {
      value = Value::string(repr(value));
    } else if (conversion == 's') {
      value = Value::string(to_str(value));
    } else if (conversion != 0) {
      return make_error("Unknown conversion specifier {}", conversion);
    }
    if (value.is_undefined() && spec.empty()) continue;
    STRATA_TRY(std::string text, py_format_value(value, spec));
    out += text;
  }
  return out;
}

}  // namespace strata::jinja
