// Helpers for the validation tests of both services: lengths at their edge and the refusal a
// client sees (INVALID_ARGUMENT naming the field from the request's root).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"
#include "libs/errors/app_error.h"

namespace hermes::testing {

// `text` `times` times over: a length in code points, whatever its bytes.
inline std::string Repeat(const std::string& text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

inline void ExpectInvalid(const absl::Status& status, const std::string& field) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(errors::FieldOf(status), field) << status;
}

}  // namespace hermes::testing
