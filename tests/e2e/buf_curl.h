// BufCurl: `buf curl` as a real outside client of a Hermes service: gRPC over mTLS with one of
// gen-certs.sh's identities, the schema from server reflection, requests and responses as JSON.
//
//   BufCurl admin(HERMES_BUF, certs_dir, "admin");
//   CommandResult created = admin.Call(port, "user.v1.UserService/CreateUser",
//                                      R"({"email": "ada@example.com", "display_name": "Ada"})");
//   absl::StatusOr<user::v1::CreateUserResponse> response =
//       ParseJsonMessage<user::v1::CreateUserResponse>(created.output);
//
// What buf curl does (buf 1.75): each response message is printed as one JSON document on
// stdout; a failed RPC prints {"code": "not_found", "message": ..., "details": [...]} on stderr
// and exits with the gRPC code shifted left by 3 (NOT_FOUND 5 -> 40). For client and bidi
// streams, `-d` takes several JSON documents one after another: each is one message, and the
// client half-closes after the last. Its global `--timeout` bounds the whole command (reflection
// included); a stream still open then ends with DEADLINE_EXCEEDED (exit 32).
#pragma once

#include <google/protobuf/util/json_util.h>
#include <grpcpp/support/status.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/support/subprocess.h"

namespace hermes::testing {

class BufCurl {
 public:
  BufCurl(std::string buf, std::string certs_dir, std::string identity);

  // Calls https://127.0.0.1:<port>/<method> (e.g. "user.v1.UserService/GetUser") with `json`
  // (one JSON document per request message). `deadline`: buf's --timeout for the whole call,
  // for streams the server never ends; zero means none (the command is still bounded).
  CommandResult Call(int port, const std::string& method, const std::string& json,
                     absl::Duration deadline = absl::ZeroDuration()) const;

  const std::string& identity() const { return identity_; }

 private:
  std::string buf_;
  std::string certs_dir_;
  std::string identity_;
};

// The gRPC code of a finished buf curl call (OK for exit 0); nullopt if it timed out or its exit
// status is not one buf gives for an RPC outcome.
std::optional<grpc::StatusCode> BufStatusCode(const CommandResult& result);

// buf curl's output split into its JSON documents (each response, then an error if any).
std::vector<std::string> SplitJsonDocuments(const std::string& output);

// One JSON document into a message (unknown fields are an error: the output must match the
// contract exactly).
template <typename Message>
absl::StatusOr<Message> ParseJsonMessage(const std::string& json) {
  Message message;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a ", Message::descriptor()->full_name(),
                                                   " (", status.ToString(), "): ", json));
  }
  return message;
}

}  // namespace hermes::testing
