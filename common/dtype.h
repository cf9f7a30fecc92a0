// Storage dtypes and host-side conversions. Accumulation is always fp32 (or
// fp64 in the reference); bf16/fp16 exist only as storage, so host code converts
// on load and rounds-to-nearest-even on store.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/errors.h"

namespace cpb {

enum class DType { kF32, kBF16, kF16 };
enum class Device { kCpu, kCuda };

inline std::size_t dtype_size(DType t) { return t == DType::kF32 ? 4 : 2; }

inline std::string_view to_string(DType t) {
  switch (t) {
    case DType::kF32:
      return "fp32";
    case DType::kBF16:
      return "bf16";
    case DType::kF16:
      return "fp16";
  }
  return "?";
}

inline DType parse_dtype(std::string_view s) {
  if (s == "fp32" || s == "float32") return DType::kF32;
  if (s == "bf16" || s == "bfloat16") return DType::kBF16;
  if (s == "fp16" || s == "float16") return DType::kF16;
  CPB_INPUT_ERROR("unknown dtype '{}'; allowed: fp32, bf16, fp16", s);
}

inline std::string_view to_string(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }

inline float bf16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

float fp16_to_float(uint16_t h);
uint16_t float_to_fp16(float f);

// Element `i` of a buffer of dtype `t`, as float.
inline float load_as_float(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::kF32:
      return static_cast<const float*>(base)[i];
    case DType::kBF16:
      return bf16_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::kF16:
      return fp16_to_float(static_cast<const uint16_t*>(base)[i]);
  }
  return 0.f;
}

inline void store_from_float(void* base, DType t, int64_t i, float v) {
  switch (t) {
    case DType::kF32:
      static_cast<float*>(base)[i] = v;
      break;
    case DType::kBF16:
      static_cast<uint16_t*>(base)[i] = float_to_bf16(v);
      break;
    case DType::kF16:
      static_cast<uint16_t*>(base)[i] = float_to_fp16(v);
      break;
  }
}

}  // namespace cpb
