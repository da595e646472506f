#include "model/layers/rope.h"

#include <algorithm>
#include <cmath>

namespace strata {

namespace {
constexpr double kPi = 3.14159265358979323846;

double yarn_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// Dimension index at which `num_rotations` full turns fit in `max_pos` positions.
double yarn_correction_dim(double num_rotations, int64_t dim, double base, double max_pos) {
  return (static_cast<double>(dim) * std::log(max_pos / (num_rotations * 2 * kPi))) / (2 * std::log(base));
}
}  // namespace

RopeFrequencies compute_rope_frequencies(double theta, int64_t head_dim, const RopeScaling& s,
                                         int64_t max_position_embeddings) {
  RopeFrequencies out;
  const int64_t half = head_dim / 2;
  double base = theta;
  using T = RopeScaling::Type;
  const double orig = s.original_max_position_embeddings > 0 ? static_cast<double>(s.original_max_position_embeddings)
                                                             : static_cast<double>(max_position_embeddings);
  if (s.type == T::kDynamic) {
    // Static NTK scaling sized for the longest context (as vLLM does): base grows with the factor.
    double max_len = orig * s.factor;
    base = theta * std::pow(s.factor * max_len / orig - (s.factor - 1.0),
                            static_cast<double>(head_dim) / static_cast<double>(head_dim - 2));
  }
  out.inv_freq.resize(half);
  for (int64_t i = 0; i < half; ++i) {
    // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32
    float expo = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    out.inv_freq[i] = static_cast<float>(1.0 / std::pow(base, static_cast<double>(expo)));
  }
  switch (s.type) {
    case T::kNone:
    case T::kDynamic:
      break;
    case T::kLinear:
      for (auto& f : out.inv_freq) f /= s.factor;
      break;
    case T::kLlama3: {
      const double low_wavelen = orig / s.low_freq_factor, high_wavelen = orig / s.high_freq_factor;
      for (auto& f : out.inv_freq) {
        double wavelen = 2 * kPi / f;
        if (wavelen > low_wavelen) {
          f = f / s.factor;
        } else if (wavelen >= high_wavelen) {
          double smooth = (orig / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          f = (1 - smooth) * f / s.factor + smooth * f;
        }
      }
      break;
    }
    case T::kYarn: {
      double low = yarn_correction_dim(s.beta_fast, head_dim, base, orig);
      double high = yarn_correction_dim(s.beta_slow, head_dim, base, orig);
      if (s.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(head_dim - 1));
      if (low == high) high += 0.001;
      for (int64_t i = 0; i < half; ++i) {
        double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
        double extrapolation_weight = 1.0 - ramp;
        double extra = out.inv_freq[i], inter = out.inv_freq[i] / s.factor;
        out.inv_freq[i] = inter * (1 - extrapolation_weight) + extra * extrapolation_weight;
      }
      if (s.attention_factor) out.attention_factor = *s.attention_factor;
      else if (s.mscale != 0 && s.mscale_all_dim != 0)
        out.attention_factor = yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim);
      else out.attention_factor = yarn_mscale(s.factor, 1.0);
      break;
    }
  }
  return out;
}

Tensor build_cos_sin_table(const RopeFrequencies& f, int64_t max_positions) {
  const int64_t half = static_cast<int64_t>(f.inv_freq.size()), d = 2 * half;
  Tensor t = Tensor::host(DType::kF32, {max_positions, d});
  float* p = t.data<float>();
  for (int64_t pos = 0; pos < max_positions; ++pos)
    for (int64_t i = 0; i < half; ++i) {
      // transformers multiplies float32 inv_freq by float32 positions
      float angle = static_cast<float>(f.inv_freq[i]) * static_cast<float>(pos);
      p[pos * d + i] = static_cast<float>(std::cos(angle) * f.attention_factor);
      p[pos * d + half + i] = static_cast<float>(std::sin(angle) * f.attention_factor);
    }
  return t;
}

}  // namespace strata
