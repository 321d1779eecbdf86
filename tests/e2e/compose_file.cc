#include "tests/e2e/compose_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hermes::testing {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// A command given as a list, or as one string (split on spaces, as compose does without a shell).
std::vector<std::string> Words(const Value& value) {
  std::vector<std::string> words;
  if (value.has_list_value()) {
    for (const Value& word : value.list_value().values()) words.push_back(word.string_value());
  } else if (value.has_string_value()) {
    words = absl::StrSplit(value.string_value(), ' ', absl::SkipEmpty());
  }
  return words;
}

// `environment` as a map, or as a list of NAME=value.
std::vector<std::string> VariableNames(const Struct& service) {
  std::vector<std::string> names;
  const auto it = service.fields().find("environment");
  if (it == service.fields().end()) return names;
  if (it->second.has_struct_value()) {
    for (const auto& [name, value] : it->second.struct_value().fields()) names.push_back(name);
  } else {
    for (const std::string& entry : Words(it->second)) {
      names.push_back(entry.substr(0, entry.find('=')));
    }
  }
  return names;
}

// absl's --help lists a flag as "--name (what it does); default: ...;".
bool Documents(const std::string& help, const std::string& flag) {
  return absl::StrContains(help, absl::StrCat(flag, " ("));
}

}  // namespace

std::vector<ComposeInvocation> FindInvocations(const Struct& compose,
                                               const std::set<std::string>& programs) {
  std::vector<ComposeInvocation> found;
  const auto services = compose.fields().find("services");
  if (services == compose.fields().end()) return found;
  for (const auto& [name, value] : services->second.struct_value().fields()) {
    const Struct& service = value.struct_value();
    if (const auto command = service.fields().find("command"); command != service.fields().end()) {
      std::vector<std::string> words = Words(command->second);
      if (!words.empty() && programs.contains(words[0])) {
        found.push_back({.where = absl::StrCat("services.", name, ".command"),
                         .program = words[0],
                         .args = {words.begin() + 1, words.end()},
                         .environment = VariableNames(service)});
      }
    }
    const auto healthcheck = service.fields().find("healthcheck");
    if (healthcheck == service.fields().end()) continue;
    const auto& check = healthcheck->second.struct_value().fields();
    if (const auto test = check.find("test"); test != check.end()) {
      std::vector<std::string> words = Words(test->second);
      if (!words.empty() && (words[0] == "CMD" || words[0] == "CMD-SHELL")) {
        words.erase(words.begin());
      }
      if (!words.empty() && programs.contains(words[0])) {
        found.push_back({.where = absl::StrCat("services.", name, ".healthcheck.test"),
                         .program = words[0],
                         .args = {words.begin() + 1, words.end()},
                         .environment = {}});
      }
    }
  }
  return found;
}

std::vector<std::string> UndocumentedSettings(const ComposeInvocation& invocation,
                                              const std::string& help) {
  std::vector<std::string> missing;
  for (const std::string& arg : invocation.args) {
    if (!absl::StartsWith(arg, "--")) continue;
    const std::string flag = arg.substr(0, arg.find('='));
    if (!Documents(help, flag)) {
      missing.push_back(absl::StrCat(invocation.where, " passes ", flag, ", which ",
                                     invocation.program, " --help does not document"));
    }
  }
  for (const std::string& variable : invocation.environment) {
    if (absl::string_view name = variable; absl::ConsumePrefix(&name, "HERMES_")) {
      const std::string flag = absl::StrCat("--", absl::AsciiStrToLower(name));
      if (!Documents(help, flag)) {
        missing.push_back(absl::StrCat(invocation.where, " sets ", variable, ", but ",
                                       invocation.program, " --help has no flag ", flag));
      }
    } else if (!absl::StrContains(help, variable)) {
      missing.push_back(absl::StrCat(invocation.where, " sets ", variable, ", which ",
                                     invocation.program, " --help does not mention"));
    }
  }
  return missing;
}

}  // namespace hermes::testing
