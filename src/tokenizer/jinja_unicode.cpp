#include "tokenizer/jinja_unicode.h"

#include <locale.h>
#include <wctype.h>

#include "tokenizer/unicode.h"

namespace strata::jinja {
namespace {

// glibc's C.UTF-8 locale carries Unicode's simple case mappings and character classes; where it
// is missing, only ASCII is mapped.
locale_t unicode_locale() {
  static locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return locale;
}

}  // namespace

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(c);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(c);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void utf8_append(std::string& out, char32_t cp) { unicode::append_utf8(out, cp); }

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) utf8_append(out, cp);
  return out;
}

size_t utf8_length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return utf8_decode(s).size();
}

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

bool is_py_space(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_py_printable(char32_t cp) {
  if (cp < 0x20 || cp == 0x7F) return false;
  if (cp < 0x7F) return true;
  if (cp <= 0xA0) return false;                    // C1 controls and NO-BREAK SPACE (Zs)
  if (cp == 0xAD) return false;                    // SOFT HYPHEN (Cf)
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogates
  if (cp >= 0xE000 && cp <= 0xF8FF) return false;  // private use
  if (cp >= 0xF0000) return false;                 // private use planes
  if ((cp & 0xFFFE) == 0xFFFE) return false;       // noncharacters
  if (cp >= 0xFDD0 && cp <= 0xFDEF) return false;
  if (is_py_space(cp)) return false;  // Zs, Zl, Zp
  switch (cp) {
    case 0x061C:
    case 0x06DD:
    case 0x070F:
    case 0x180E:
    case 0xFEFF:
    case 0x110BD:
    case 0x110CD:
    case 0xE0001:
      return false;
    default:
      break;
  }
  if (cp >= 0x0600 && cp <= 0x0605) return false;
  if (cp >= 0x200B && cp <= 0x200F) return false;
  if (cp >= 0x202A && cp <= 0x202E) return false;
  if (cp >= 0x2060 && cp <= 0x206F) return false;
  if (cp >= 0xFFF9 && cp <= 0xFFFB) return false;
  if (cp >= 0x1BCA0 && cp <= 0x1BCA3) return false;
  if (cp >= 0x1D173 && cp <= 0x1D17A) return false;
  if (cp >= 0xE0020 && cp <= 0xE007F) return false;
  return cp <= 0x10FFFF;
}

bool is_py_upper(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  locale_t l = unicode_locale();
  return l != nullptr && iswupper_l(static_cast<wint_t>(cp), l);
}

bool is_py_lower(char32_t cp) {
  if (cp < 0x80) return cp >= 'a' && cp <= 'z';
  locale_t l = unicode_locale();
  return l != nullptr && iswlower_l(static_cast<wint_t>(cp), l);
}

bool is_py_alpha(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
  locale_t l = unicode_locale();
  return l != nullptr && iswalpha_l(static_cast<wint_t>(cp), l);
}

bool is_py_digit(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  locale_t l = unicode_locale();
  return l != nullptr && iswdigit_l(static_cast<wint_t>(cp), l);
}

char32_t to_py_upper(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  locale_t l = unicode_locale();
  return l != nullptr ? static_cast<char32_t>(towupper_l(static_cast<wint_t>(cp), l)) : cp;
}

char32_t to_py_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  locale_t l = unicode_locale();
  return l != nullptr ? static_cast<char32_t>(towlower_l(static_cast<wint_t>(cp), l)) : cp;
}

void append_upper(std::u32string& out, char32_t cp) {
  if (cp == 0xDF) {  // ß -> SS (Python's full mapping)
    out += U"SS";
    return;
  }
  out.push_back(to_py_upper(cp));
}

void append_lower(std::u32string& out, char32_t cp) {
  if (cp == 0x130) {  // İ -> i̇
    out += U"i\u0307";
    return;
  }
  out.push_back(to_py_lower(cp));
}

void append_title(std::u32string& out, char32_t cp) {
  if (cp == 0xDF) {
    out += U"Ss";
    return;
  }
  if (cp >= 0x1C4 && cp <= 0x1CC) {
    out.push_back(0x1C5 + 3 * ((cp - 0x1C4) / 3));
    return;
  }
  if (cp >= 0x1F1 && cp <= 0x1F3) {
    out.push_back(0x1F2);
    return;
  }
  append_upper(out, cp);
}

}  // namespace strata::jinja
