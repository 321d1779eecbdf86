#include "libs/authz/policy.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/config/read_small_file.h"

namespace hermes::authz {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr absl::string_view kSpiffePrefix = "spiffe://hermes/";
constexpr absl::string_view kAnyVerifiedPeer = "*";
constexpr absl::string_view kEveryMethod = "*";

// A policy is a few kilobytes; the cap only stops a mistaken path (a log file, /dev/zero) from
// being read into memory whole.
constexpr size_t kMaxPolicyBytes = 1 << 20;

// A value quoted for an error message, escaped so that control characters stay visible.
std::string Quoted(absl::string_view value) {
  return absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

absl::Status ErrorAt(absl::string_view where, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", problem));
}

absl::string_view KindName(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return "a number";
    case Value::kStringValue:
      return "a string";
    case Value::kBoolValue:
      return "a boolean";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "a list";
    case Value::KIND_NOT_SET:
      break;
  }
  return "nothing";
}

absl::Status ExpectKind(const Value& value, Value::KindCase kind, absl::string_view expected,
                        absl::string_view where) {
  if (value.kind_case() == kind) return absl::OkStatus();
  return ErrorAt(where, absl::StrCat("expected ", expected, ", got ", KindName(value)));
}

// Rejects keys outside `allowed`. A misspelt key ("method") would otherwise be ignored and the
// rule would silently mean something else.
absl::Status CheckKeys(const Struct& object, std::initializer_list<absl::string_view> allowed,
                       absl::string_view where) {
  std::vector<std::string> unknown;
  for (const auto& [key, value] : object.fields()) {
    if (std::find(allowed.begin(), allowed.end(), absl::string_view(key)) == allowed.end()) {
      unknown.push_back(key);
    }
  }
  if (unknown.empty()) return absl::OkStatus();
  std::sort(unknown.begin(), unknown.end());  // the map's order is unspecified: be reproducible
  return ErrorAt(where, absl::StrCat("unknown key ", Quoted(unknown.front()), " (allowed: ",
                                     absl::StrJoin(allowed, ", ",
                                                   [](std::string* out, absl::string_view key) {
                                                     absl::StrAppend(out, Quoted(key));
                                                   }),
                                     ")"));
}

absl::StatusOr<const Value*> RequiredKey(const Struct& object, absl::string_view key,
                                         absl::string_view where) {
  auto it = object.fields().find(std::string(key));
  if (it == object.fields().end()) {
    return ErrorAt(where, absl::StrCat("missing key ", Quoted(key)));
  }
  return &it->second;
}

bool IsIdentifier(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// "pkg.v1.Service": dot-separated identifiers.
bool IsServiceName(absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(name, '.')) {
    if (!IsIdentifier(part)) return false;
  }
  return true;
}

// The <name> of spiffe://hermes/<name>: path segments of the characters SPIFFE allows.
bool IsSpiffeName(absl::string_view name) {
  for (absl::string_view segment : absl::StrSplit(name, '/')) {
    if (segment.empty()) return false;
    for (char c : segment) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return false;
      }
    }
  }
  return true;
}

absl::Status ValidateIdentity(absl::string_view identity, absl::string_view where) {
  if (identity == kAnyVerifiedPeer) return absl::OkStatus();
  if (absl::StartsWith(identity, kSpiffePrefix) &&
      IsSpiffeName(identity.substr(kSpiffePrefix.size()))) {
    return absl::OkStatus();
  }
  return ErrorAt(where, absl::StrCat(Quoted(identity), " is neither \"*\" nor a ", kSpiffePrefix,
                                     "<name> URI"));
}

enum class PatternKind { kEverything, kService, kMethod };

struct MethodPattern {
  PatternKind kind;
  absl::string_view key;  // kService: "/pkg.Service"; kMethod: the whole ":path"
};

absl::StatusOr<MethodPattern> ParseMethodPattern(absl::string_view pattern,
                                                 absl::string_view where) {
  if (pattern.empty()) return ErrorAt(where, "empty method pattern");
  if (pattern == kEveryMethod) return MethodPattern{PatternKind::kEverything, pattern};
  constexpr absl::string_view kForms =
      "expected \"*\", \"/pkg.Service/*\" or \"/pkg.Service/Method\"";
  if (pattern.front() != '/') {
    return ErrorAt(where, absl::StrCat(Quoted(pattern), " does not start with '/'; ", kForms));
  }
  const size_t slash = pattern.find('/', 1);
  if (slash == absl::string_view::npos) {
    return ErrorAt(where, absl::StrCat(Quoted(pattern), " has no method part; ", kForms));
  }
  const absl::string_view service = pattern.substr(1, slash - 1);
  const absl::string_view method = pattern.substr(slash + 1);
  // A '*' that is not the whole method part would be a glob this format does not have; saying
  // so beats a confusing "not a service name".
  if (absl::StrContains(service, '*') || (method != "*" && absl::StrContains(method, '*'))) {
    return ErrorAt(where, absl::StrCat(Quoted(pattern), ": '*' may only be the whole method part ",
                                       "or the whole pattern; ", kForms));
  }
  if (!IsServiceName(service)) {
    return ErrorAt(where, absl::StrCat(Quoted(pattern), ": ", Quoted(service),
                                       " is not a service name like pkg.v1.Service"));
  }
  if (method == "*") return MethodPattern{PatternKind::kService, pattern.substr(0, slash)};
  if (!IsIdentifier(method)) {
    return ErrorAt(where, absl::StrCat(Quoted(pattern), ": ", Quoted(method),
                                       " is not a method name; ", kForms));
  }
  return MethodPattern{PatternKind::kMethod, pattern};
}

}  // namespace

absl::StatusOr<Policy> Policy::Parse(absl::string_view json) {
  Struct document;
  if (auto status = google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(json.data(), json.size()), &document);
      !status.ok()) {
    // protobuf prefixes its messages with the (empty) field path: ": Root element must be...".
    std::string message = status.message().ToString();
    absl::string_view problem = absl::StripTrailingAsciiWhitespace(message);
    absl::ConsumePrefix(&problem, ": ");
    if (problem == "Root element must be a message.") {
      problem = "expected a JSON object with a \"rules\" list";
    }
    return absl::InvalidArgumentError(absl::StrCat("not a valid policy document: ", problem));
  }

  if (absl::Status status = CheckKeys(document, {"rules"}, "top level"); !status.ok()) {
    return status;
  }
  absl::StatusOr<const Value*> rules = RequiredKey(document, "rules", "top level");
  if (!rules.ok()) return rules.status();
  if (absl::Status status = ExpectKind(**rules, Value::kListValue, "a list of rules", "rules");
      !status.ok()) {
    return status;
  }
  if ((*rules)->list_value().values().empty()) {
    return ErrorAt("rules", "is empty; a policy that allows nothing is a mistake, not a policy");
  }

  Policy policy;
  int index = 0;
  for (const Value& rule : (*rules)->list_value().values()) {
    const std::string where = absl::StrCat("rules[", index++, "]");
    if (absl::Status status = ExpectKind(rule, Value::kStructValue, "an object", where);
        !status.ok()) {
      return status;
    }
    const Struct& fields = rule.struct_value();
    if (absl::Status status = CheckKeys(fields, {"identity", "methods"}, where); !status.ok()) {
      return status;
    }

    const std::string identity_where = absl::StrCat(where, ".identity");
    absl::StatusOr<const Value*> identity = RequiredKey(fields, "identity", where);
    if (!identity.ok()) return identity.status();
    if (absl::Status status =
            ExpectKind(**identity, Value::kStringValue, "a string", identity_where);
        !status.ok()) {
      return status;
    }
    const std::string& identity_value = (*identity)->string_value();
    if (absl::Status status = ValidateIdentity(identity_value, identity_where); !status.ok()) {
      return status;
    }

    const std::string methods_where = absl::StrCat(where, ".methods");
    absl::StatusOr<const Value*> methods = RequiredKey(fields, "methods", where);
    if (!methods.ok()) return methods.status();
    if (absl::Status status =
            ExpectKind(**methods, Value::kListValue, "a list of method patterns", methods_where);
        !status.ok()) {
      return status;
    }
    if ((*methods)->list_value().values().empty()) {
      return ErrorAt(methods_where, "is empty; a rule must allow at least one method");
    }

    Grants& grants = identity_value == kAnyVerifiedPeer ? policy.any_verified_peer_
                                                        : policy.by_identity_[identity_value];
    int method_index = 0;
    for (const Value& method : (*methods)->list_value().values()) {
      const std::string method_where = absl::StrCat(methods_where, "[", method_index++, "]");
      if (absl::Status status = ExpectKind(method, Value::kStringValue, "a string", method_where);
          !status.ok()) {
        return status;
      }
      absl::StatusOr<MethodPattern> pattern =
          ParseMethodPattern(method.string_value(), method_where);
      if (!pattern.ok()) return pattern.status();
      switch (pattern->kind) {
        case PatternKind::kEverything:
          grants.every_method = true;
          break;
        case PatternKind::kService:
          grants.services.emplace(pattern->key);
          break;
        case PatternKind::kMethod:
          grants.methods.emplace(pattern->key);
          break;
      }
    }
  }
  return policy;
}

absl::StatusOr<Policy> Policy::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> contents =
      config::ReadSmallFile(path, kMaxPolicyBytes, "a policy file");
  if (!contents.ok()) return contents.status();
  absl::StatusOr<Policy> policy = Parse(*contents);
  if (!policy.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", policy.status().message()));
  }
  return policy;
}

bool Policy::Allows(absl::string_view identity, absl::string_view method) const {
  // No identity means the peer proved nothing about itself: not even "*" rules apply.
  if (identity.empty()) return false;
  if (any_verified_peer_.Allows(method)) return true;
  auto it = by_identity_.find(identity);
  return it != by_identity_.end() && it->second.Allows(method);
}

bool Policy::Grants::Allows(absl::string_view method) const {
  if (every_method) return true;
  if (methods.contains(method)) return true;
  // rfind, not find: "/pkg.Service/Method/extra" is no method of "/pkg.Service" and must not
  // match its wildcard.
  const size_t slash = method.rfind('/');
  return slash != absl::string_view::npos && slash > 0 &&
         services.contains(method.substr(0, slash));
}

}  // namespace hermes::authz
