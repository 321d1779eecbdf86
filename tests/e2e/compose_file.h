// What deploy/docker-compose.yml passes to Hermes's own binaries, so the end-to-end test can
// hold it against each binary's --help: a flag or variable the binary does not know would stop
// (or silently mis-configure) a container that no test here can start (there is no Docker on
// the build machines).
#pragma once

#include <google/protobuf/struct.pb.h>

#include <set>
#include <string>
#include <vector>

namespace hermes::testing {

struct ComposeInvocation {
  std::string where;    // e.g. "services.user.command", "services.user.healthcheck.test"
  std::string program;  // e.g. "hermes-user"
  std::vector<std::string> args;
  std::vector<std::string> environment;  // variable names (the service's, for its command)
};

// Every `command` and `healthcheck.test` of the compose file (as JSON, anchors merged) whose
// program is one of `programs`.
std::vector<ComposeInvocation> FindInvocations(const google::protobuf::Struct& compose,
                                               const std::set<std::string>& programs);

// What `help` (the program's --help) does not document, one message per flag or variable:
//   --name[=value]  needs "--name " or "--name (" in the help
//   HERMES_<NAME>   needs the flag --<name in lower case>
//   anything else   (OTEL_*) needs its name literally
std::vector<std::string> UndocumentedSettings(const ComposeInvocation& invocation,
                                              const std::string& help);

}  // namespace hermes::testing
