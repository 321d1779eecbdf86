#include "tests/support/json_lines.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_split.h"

namespace hermes::testing {

JsonLines ParseJsonLines(absl::string_view output) {
  JsonLines parsed;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct object;
    if (google::protobuf::util::JsonStringToMessage(std::string(line), &object).ok()) {
      parsed.lines.push_back(std::move(object));
    } else {
      parsed.not_json.emplace_back(line);
    }
  }
  return parsed;
}

std::string StringField(const google::protobuf::Struct& line, absl::string_view key) {
  const auto it = line.fields().find(std::string(key));
  if (it == line.fields().end() || !it->second.has_string_value()) return "";
  return it->second.string_value();
}

std::vector<google::protobuf::Struct> JsonLines::Where(
    std::initializer_list<std::pair<absl::string_view, absl::string_view>> fields) const {
  std::vector<google::protobuf::Struct> found;
  for (const google::protobuf::Struct& line : lines) {
    bool all = true;
    for (const auto& [key, value] : fields) all = all && StringField(line, key) == value;
    if (all) found.push_back(line);
  }
  return found;
}

}  // namespace hermes::testing
