#include "tests/e2e/prometheus_api.h"

#include <google/protobuf/util/json_util.h>

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "tests/support/http.h"
#include "tests/support/subprocess.h"

namespace hermes::testing {

std::string UrlEncode(std::string_view text) {
  std::string encoded;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded += absl::StrFormat("%%%02X", c);
    }
  }
  return encoded;
}

absl::StatusOr<google::protobuf::Struct> ParseJsonObject(const std::string& json) {
  google::protobuf::Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &parsed);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object (", status.ToString(), "): ", json.substr(0, 2000)));
  }
  return parsed;
}

std::string StringField(const google::protobuf::Struct& object, const std::string& key) {
  const auto it = object.fields().find(key);
  if (it == object.fields().end()) return "";
  if (it->second.has_number_value()) return absl::StrCat(it->second.number_value());
  return it->second.string_value();
}

const google::protobuf::Struct& StructField(const google::protobuf::Struct& object,
                                            const std::string& key) {
  const auto it = object.fields().find(key);
  return it == object.fields().end() ? google::protobuf::Struct::default_instance()
                                     : it->second.struct_value();
}

const google::protobuf::ListValue& ListField(const google::protobuf::Struct& object,
                                             const std::string& key) {
  const auto it = object.fields().find(key);
  return it == object.fields().end() ? google::protobuf::ListValue::default_instance()
                                     : it->second.list_value();
}

absl::StatusOr<google::protobuf::Value> PrometheusApi::Get(const std::string& path) const {
  absl::StatusOr<std::string> body =
      HttpGet(port_, absl::StrCat("/api/v1/", path), absl::Seconds(10));
  if (!body.ok()) {
    // Prometheus answers a bad query with 400/422 and its error in a JSON body, which HttpGet
    // (200 only) drops: fetch it again with curl (up.sh needs it too) to say what was wrong.
    const CommandResult again =
        RunCommand({"/usr/bin/env", "curl", "-sS", "--max-time", "10",
                    absl::StrCat("http://127.0.0.1:", port_, "/api/v1/", path)},
                   absl::Seconds(20));
    const absl::string_view failure = body.status().message();  // "bad HTTP response: <head>"
    return absl::Status(
        body.status().code(),
        absl::StrCat("GET /api/v1/", path, ": ", failure.substr(0, failure.find_first_of("\r\n")),
                     "; Prometheus says: ", again.output.substr(0, 2000)));
  }
  absl::StatusOr<google::protobuf::Struct> answer = ParseJsonObject(*body);
  if (!answer.ok()) return answer.status();
  if (StringField(*answer, "status") != "success") {
    return absl::FailedPreconditionError(absl::StrCat("GET /api/v1/", path, ": ",
                                                      StringField(*answer, "errorType"), ": ",
                                                      StringField(*answer, "error")));
  }
  return answer->fields().at("data");
}

absl::StatusOr<google::protobuf::ListValue> PrometheusApi::Query(const std::string& promql) const {
  absl::StatusOr<google::protobuf::Value> data =
      Get(absl::StrCat("query?query=", UrlEncode(promql)));
  if (!data.ok()) return data.status();
  return ListField(data->struct_value(), "result");
}

}  // namespace hermes::testing
