// Log output read back in tests: the JSON lines a service wrote to stdout, or a test's spdlog
// sink received, parsed one by one, and the lines picked out by their fields.
//
//   const testing::JsonLines log = testing::ParseJsonLines(process.Output());
//   EXPECT_THAT(log.not_json, IsEmpty());
//   for (const auto& line : log.Where({{"msg", "rpc finished"}, {"method", path}})) ...
#pragma once

#include <google/protobuf/struct.pb.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace hermes::testing {

struct JsonLines {
  std::vector<google::protobuf::Struct> lines;  // every line that is a JSON object, in order
  std::vector<std::string> not_json;            // every other non-empty line, in order

  // The lines whose string field named by each pair's first has the pair's second as its
  // value (all of the pairs), in order.
  std::vector<google::protobuf::Struct> Where(
      std::initializer_list<std::pair<absl::string_view, absl::string_view>> fields) const;
};

// Splits `output` at '\n' and parses each line (an empty one, such as after the last newline,
// is skipped).
JsonLines ParseJsonLines(absl::string_view output);

// The string value of `line`'s field `key`; "" when it is missing or not a string.
std::string StringField(const google::protobuf::Struct& line, absl::string_view key);

}  // namespace hermes::testing
