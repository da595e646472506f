// Prometheus metric primitives and the text exposition format (version 0.0.4).
//
// A MetricsRegistry owns metric families in registration order; each family (one name, one HELP,
// one TYPE) holds one or more children that differ in their extra labels (e.g. finished_reason).
// Every child also carries the registry's constant labels (model_name, engine). Counter, Gauge and
// Histogram are updated from any thread (atomics; a histogram takes a short mutex so its buckets,
// sum and count always agree); render() walks the families and writes the text the Python
// prometheus_client writes for the same values: labels sorted by name, values and `le` bounds
// formatted like its floatToGoString ("1.0", "0.005", "1e+06", "+Inf"), counters named `<name>_total`.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace strata {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Python's repr(float): shortest round-trip digits, ".0" on integral values, exponent form below
// 1e-4 and from 1e16 up ("1e-05", "1e+16").
std::string python_float_repr(double value);
// prometheus_client's floatToGoString: repr, but "+Inf"/"-Inf"/"NaN", and values >= 1e6 in
// exponent form ("1e+06", "1.5e+07").
std::string prometheus_float(double value);
// Label value escaping of the text format: backslash, double quote and newline.
std::string escape_label_value(const std::string& value);

// A monotonically increasing value.
class Counter {
 public:
  void inc(double amount = 1.0);  // negative or NaN amounts are ignored
  // Raises the value to `cumulative` if it is larger (for sources that report running totals).
  void set_at_least(double cumulative);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void inc(double amount = 1.0) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(double amount = 1.0) { value_.fetch_sub(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Fixed upper bounds (ascending, finite); an implicit +Inf bucket follows the last one. An
// observation lands in the first bucket whose bound is >= the value, as prometheus_client does.
class Histogram {
 public:
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // [bounds.size() + 1], the last is the +Inf bucket
    double sum = 0.0;
    uint64_t count = 0;
  };

  explicit Histogram(std::vector<double> bounds);
  void observe(double value);                         // NaN is ignored
  void observe_many(std::span<const double> values);  // one lock for all of them
  const std::vector<double>& bounds() const { return bounds_; }
  Snapshot snapshot() const;

 private:
  size_t bucket_index(double value) const;

  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), [bounds_.size() + 1]
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

enum class MetricType { kCounter, kGauge, kHistogram };

class MetricsRegistry {
 public:
  // `constant_labels` go on every sample (e.g. {{"model_name", "m"}, {"engine", "0"}}).
  explicit MetricsRegistry(MetricLabels constant_labels = {});
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  ~MetricsRegistry();

  // Each call adds one child to the family `name` (created on first use; later calls must agree
  // on the type). A counter's name is given without "_total" (a trailing "_total" is dropped, as
  // prometheus_client does). The returned reference lives as long as the registry.
  Counter& counter(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                       const MetricLabels& labels = {});

  // The whole exposition text, families in registration order.
  std::string render() const;

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Child;
  struct Family;
  Child& add_child(const std::string& name, const std::string& help, MetricType type,
                   const MetricLabels& labels);

  MetricLabels constant_labels_;
  mutable std::mutex mutex_;  // guards families_ (the list, not the values)
  std::vector<std::unique_ptr<Family>> families_;
};

}  // namespace strata
