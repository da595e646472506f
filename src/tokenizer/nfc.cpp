#include "tokenizer/nfc.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "tokenizer/unicode.h"
#include "tokenizer/unicode_tables.h"

namespace strata::unicode {
namespace {

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

struct Tables {
  std::unordered_map<char32_t, const CanonicalDecomposition*> decomposition;
  std::unordered_map<uint64_t, char32_t> composition;  // (first << 32 | second) -> composite

  Tables() {
    decomposition.reserve(kNumCanonicalDecompositions);
    for (size_t i = 0; i < kNumCanonicalDecompositions; ++i) {
      const auto& d = kCanonicalDecompositions[i];
      decomposition[d.code_point] = &d;
      if (d.composes) composition[(static_cast<uint64_t>(d.first) << 32) | d.second] = d.code_point;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

uint32_t combining_class(char32_t c) {
  if (c < 0x300) return 0;
  const CombiningClassRange* begin = kCombiningClasses;
  const CombiningClassRange* end = kCombiningClasses + kNumCombiningClasses;
  auto it =
      std::upper_bound(begin, end, c, [](char32_t v, const CombiningClassRange& r) { return v < r.first; });
  if (it == begin) return 0;
  --it;
  return c <= it->last ? it->combining_class : 0;
}

void decompose(char32_t c, std::vector<char32_t>& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const char32_t s = c - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (c < 0xC0) {
    out.push_back(c);
    return;
  }
  const auto& map = tables().decomposition;
  auto it = map.find(c);
  if (it == map.end()) {
    out.push_back(c);
    return;
  }
  decompose(it->second->first, out);
  if (it->second->second != 0) decompose(it->second->second, out);
}

// Canonical ordering: a stable sort of each run of non-starters by combining class.
void reorder(std::vector<char32_t>& cps) {
  size_t i = 0;
  while (i < cps.size()) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
    if (j - i > 1) {
      std::stable_sort(cps.begin() + i, cps.begin() + j,
                       [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    }
    i = j;
  }
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto& map = tables().composition;
  auto it = map.find((static_cast<uint64_t>(a) << 32) | b);
  return it == map.end() ? 0 : it->second;
}

void compose(std::vector<char32_t>& cps) {
  if (cps.empty()) return;
  size_t out = 0;
  long starter = -1;
  uint32_t last_class = 256;
  for (size_t i = 0; i < cps.size(); ++i) {
    const char32_t c = cps[i];
    const uint32_t cc = combining_class(c);
    if (starter >= 0 && (last_class < cc || (last_class == 0 && static_cast<size_t>(starter) == out - 1))) {
      if (char32_t composite = compose_pair(cps[starter], c)) {
        cps[starter] = composite;
        continue;
      }
    }
    if (cc == 0) {
      starter = static_cast<long>(out);
      last_class = 0;
    } else {
      last_class = cc;
    }
    cps[out++] = c;
  }
  cps.resize(out);
}

// Text made only of code points below U+0300 is unchanged by NFC and NFD of the Latin-1 subset;
// lead bytes below 0xCC encode exactly those.
bool below_combining_marks(std::string_view text) {
  for (char ch : text) {
    if (static_cast<uint8_t>(ch) >= 0xCC) return false;
  }
  return true;
}

std::vector<char32_t> decomposed(std::string_view text) {
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) decompose(next_code_point(text, i), cps);
  reorder(cps);
  return cps;
}

std::string encode(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size() * 2);
  for (char32_t c : cps) append_utf8(out, c);
  return out;
}

}  // namespace

std::string nfc(std::string_view text) {
  if (below_combining_marks(text)) return std::string(text);
  std::vector<char32_t> cps = decomposed(text);
  compose(cps);
  return encode(cps);
}

std::string nfd(std::string_view text) {
  bool ascii = true;
  for (char ch : text) ascii = ascii && static_cast<uint8_t>(ch) < 0x80;
  if (ascii) return std::string(text);
  return encode(decomposed(text));
}

}  // namespace strata::unicode
