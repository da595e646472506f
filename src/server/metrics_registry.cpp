#include "server/metrics_registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace strata {

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";

  // Shortest round-trip digits in scientific form, e.g. "-1.2345e+02".
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  if (ec != std::errc()) {
    std::fprintf(stderr, "%s:%d: to_chars failed\n", __FILE__, __LINE__);
    std::abort();
  }
  std::string_view sci(buf, static_cast<size_t>(end - buf));
  bool negative = false;
  if (sci.front() == '-') {
    negative = true;
    sci.remove_prefix(1);
  }
  size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = std::atoi(std::string(sci.substr(e_pos + 1)).c_str());
  int decpt = exponent + 1;  // value = 0.<digits> * 10^decpt
  int num_digits = static_cast<int>(digits.size());

  std::string out = negative ? "-" : "";
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (num_digits > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    int e = decpt - 1;
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", e < 0 ? '-' : '+', std::abs(e));
    out += exp_buf;
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-decpt), '0');
    out += digits;
  } else if (decpt < num_digits) {
    out.append(digits, 0, static_cast<size_t>(decpt));
    out += '.';
    out.append(digits, static_cast<size_t>(decpt), std::string::npos);
  } else {
    out += digits;
    out.append(static_cast<size_t>(decpt - num_digits), '0');
    out += ".0";
  }
  return out;
}

std::string prometheus_float(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::string s = python_float_repr(value);
  size_t dot = s.find('.');
  if (value > 0 && dot != std::string::npos && dot > 6) {
    std::string mantissa = s.substr(0, 1) + "." + s.substr(1, dot - 1) + s.substr(dot + 1);
    while (!mantissa.empty() && (mantissa.back() == '0' || mantissa.back() == '.')) mantissa.pop_back();
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof(exp_buf), "e+%02d", static_cast<int>(dot - 1));
    return mantissa + exp_buf;
  }
  return s;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::string escape_help(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `name="value"` pairs joined by commas, in the given order.
std::string join_labels(const MetricLabels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    out += escape_label_value(value);
    out += '"';
  }
  return out;
}

void append_sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += prometheus_float(value);
  out += '\n';
}

}  // namespace

// ---- Counter ----

void Counter::inc(double amount) {
  if (!(amount >= 0.0)) return;
  value_.fetch_add(amount, std::memory_order_relaxed);
}

void Counter::set_at_least(double cumulative) {
  double current = value_.load(std::memory_order_relaxed);
  while (cumulative > current &&
         !value_.compare_exchange_weak(current, cumulative, std::memory_order_relaxed)) {
  }
}

// ---- Histogram ----

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    std::fprintf(stderr, "%s:%d: histogram bounds must be strictly ascending\n", __FILE__, __LINE__);
    std::abort();
  }
}

size_t Histogram::bucket_index(double value) const {
  return static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  size_t index = bucket_index(value);
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[index];
  sum_ += value;
  ++count_;
}

void Histogram::observe_many(std::span<const double> values) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (double value : values) {
    if (std::isnan(value)) continue;
    ++counts_[bucket_index(value)];
    sum_ += value;
    ++count_;
  }
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  std::lock_guard<std::mutex> lock(mutex_);
  snap.cumulative.resize(counts_.size());
  uint64_t running = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    running += counts_[i];
    snap.cumulative[i] = running;
  }
  snap.sum = sum_;
  snap.count = count_;
  return snap;
}

// ---- MetricsRegistry ----

struct MetricsRegistry::Child {
  MetricLabels labels;     // constant + extra labels, sorted by name
  std::string label_text;  // all labels joined
  std::string before_le;   // for histogram buckets: labels that sort before "le" (joined)
  std::string after_le;    // ... and after it
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
};

struct MetricsRegistry::Family {
  std::string name;  // counters: without "_total"
  std::string help;
  MetricType type;
  std::vector<std::unique_ptr<Child>> children;
};

MetricsRegistry::MetricsRegistry(MetricLabels constant_labels)
    : constant_labels_(std::move(constant_labels)) {}

MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Child& MetricsRegistry::add_child(const std::string& name, const std::string& help,
                                                   MetricType type, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  Family* family = nullptr;
  for (auto& f : families_) {
    if (f->name == name) family = f.get();
  }
  if (family == nullptr) {
    families_.push_back(std::make_unique<Family>(Family{name, help, type, {}}));
    family = families_.back().get();
  } else if (family->type != type) {
    std::fprintf(stderr, "%s:%d: metric %s registered with two types\n", __FILE__, __LINE__, name.c_str());
    std::abort();
  }

  auto child = std::make_unique<Child>();
  std::map<std::string, std::string> merged(constant_labels_.begin(), constant_labels_.end());
  for (const auto& [label, value] : labels) merged[label] = value;
  child->labels.assign(merged.begin(), merged.end());
  child->label_text = join_labels(child->labels);
  MetricLabels before, after;
  for (const auto& entry : child->labels) (entry.first < "le" ? before : after).push_back(entry);
  child->before_le = join_labels(before);
  child->after_le = join_labels(after);
  family->children.push_back(std::move(child));
  return *family->children.back();
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const MetricLabels& labels) {
  std::string base = name;
  const std::string suffix = "_total";
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
    base.resize(base.size() - suffix.size());
  }
  Child& child = add_child(base, help, MetricType::kCounter, labels);
  child.counter = std::make_unique<Counter>();
  return *child.counter;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, const MetricLabels& labels) {
  Child& child = add_child(name, help, MetricType::kGauge, labels);
  child.gauge = std::make_unique<Gauge>();
  return *child.gauge;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      std::vector<double> bounds, const MetricLabels& labels) {
  Child& child = add_child(name, help, MetricType::kHistogram, labels);
  child.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *child.histogram;
}

std::string MetricsRegistry::render() const {
  std::string out;
  out.reserve(16384);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& family : families_) {
    std::string exposed = family->name;
    const char* type_name = "gauge";
    if (family->type == MetricType::kCounter) {
      exposed += "_total";
      type_name = "counter";
    } else if (family->type == MetricType::kHistogram) {
      type_name = "histogram";
    }
    out += "# HELP " + exposed + " " + escape_help(family->help) + "\n";
    out += "# TYPE " + exposed + " " + type_name + "\n";

    for (const auto& child : family->children) {
      switch (family->type) {
        case MetricType::kCounter:
          append_sample(out, exposed, child->label_text, child->counter->value());
          break;
        case MetricType::kGauge:
          append_sample(out, exposed, child->label_text, child->gauge->value());
          break;
        case MetricType::kHistogram: {
          Histogram::Snapshot snap = child->histogram->snapshot();
          const std::vector<double>& bounds = child->histogram->bounds();
          const std::string bucket_name = family->name + "_bucket";
          for (size_t i = 0; i <= bounds.size(); ++i) {
            std::string labels = child->before_le;
            if (!labels.empty()) labels += ',';
            labels += "le=\"";
            labels += i < bounds.size() ? prometheus_float(bounds[i]) : "+Inf";
            labels += '"';
            if (!child->after_le.empty()) labels += ',' + child->after_le;
            append_sample(out, bucket_name, labels, static_cast<double>(snap.cumulative[i]));
          }
          append_sample(out, family->name + "_count", child->label_text, static_cast<double>(snap.count));
          // prometheus_client leaves _sum out when the first bound is negative.
          if (bounds.empty() || bounds.front() >= 0) {
            append_sample(out, family->name + "_sum", child->label_text, snap.sum);
          }
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace strata
