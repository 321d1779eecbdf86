// Application errors: how a request's failure travels from the domain to the client.
//
// Below the handlers, errors are plain absl::Status values. Those about one request field carry
// the field's path (API.md's AppError.field: "email", "items[2].quantity") as a status payload,
// so it survives being returned, copied and wrapped through the layers:
//
//   if (!valid) return hermes::errors::InvalidArgument("email", "not an email address");
//   if (taken) return hermes::errors::AlreadyExists("email", "email already registered");
//
// Only the handler turns a status into a gRPC status, with the code, the message and the
// binary trailer grpc-status-details-bin (a google.rpc.Status whose details hold one
// common.v1.AppError) that grpcurl, grpc-go, grpc-js and grpcio clients read:
//
//   absl::StatusOr<User> user = store.Create(...);
//   if (!user.ok()) {
//     LogError(user.status());                                // the original, internals and all
//     return hermes::errors::ToGrpcStatus(user.status());     // what the client may see
//   }
//
// Messages are for the client's humans: INTERNAL, UNKNOWN and DATA_LOSS messages are replaced
// by "internal error" at the edge, so nothing of the internals (SQL, paths, stack traces)
// leaves the process; log the original before converting.
#pragma once

#include <grpcpp/support/status.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/v1/common.pb.h"

namespace hermes::errors {

// A status with `code` and `message`, naming the offending request `field` when it is not
// empty. An OK `code` gives OK (absl::Status drops message and payloads of OK statuses).
absl::Status Error(absl::StatusCode code, absl::string_view message, absl::string_view field = "");

// Shorthands for the codes the domain uses, field first because it is what the caller knows
// first. `field` may be empty when the error is not about one field.
absl::Status InvalidArgument(absl::string_view field, absl::string_view message);
absl::Status NotFound(absl::string_view field, absl::string_view message);
absl::Status AlreadyExists(absl::string_view field, absl::string_view message);
absl::Status FailedPrecondition(absl::string_view field, absl::string_view message);
absl::Status Aborted(absl::string_view field, absl::string_view message);
absl::Status OutOfRange(absl::string_view field, absl::string_view message);

// The field `status` names, or "" when it names none (and for OK).
std::string FieldOf(const absl::Status& status);

// `status` with its message prefixed by "`context`: ", keeping the code, the field and every
// other payload. Building a new absl::Status from code and message would silently drop the
// field; this is the way to add context on the way up. OK stays OK; empty context changes
// nothing.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// API.md's ErrorCode for a gRPC code: NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT,
// PERMISSION_DENIED, FAILED_PRECONDITION and ABORTED map to their namesakes; INTERNAL, UNKNOWN
// and DATA_LOSS to ERROR_CODE_INTERNAL; every other code (OUT_OF_RANGE, RESOURCE_EXHAUSTED,
// UNAVAILABLE, DEADLINE_EXCEEDED, ...) to ERROR_CODE_UNSPECIFIED, as the enum has no value
// for it and clients then go by the gRPC code.
::common::v1::ErrorCode ErrorCodeFor(grpc::StatusCode code);

// The handler edge. A non-OK `status` becomes a grpc::Status with the same code and message
// whose error_details() (sent as grpc-status-details-bin) is a serialized google.rpc.Status
// {code, message, details = [Any(common.v1.AppError{ErrorCodeFor(code), message, field})]},
// type URL "type.googleapis.com/common.v1.AppError". OK stays OK, without details.
//
// INTERNAL, UNKNOWN and DATA_LOSS messages become "internal error". Codes outside gRPC's
// 0..16 become UNKNOWN. Invalid UTF-8 in message or field is replaced by U+FFFD, because the
// proto3 parser of every client rejects a detail with invalid UTF-8 strings.
grpc::Status ToGrpcStatus(const absl::Status& status);

// A gRPC error built directly, for code that never had an absl::Status (recovery,
// authorization, streams); identical to ToGrpcStatus(Error(code, message, field)), including
// the message replacement. OK gives grpc::Status::OK.
grpc::Status GrpcError(grpc::StatusCode code, absl::string_view message,
                       absl::string_view field = "");

// The AppError in `status`'s details, or nullopt when it has none (OK, no or unparsable
// details, no AppError among them).
std::optional<::common::v1::AppError> AppErrorOf(const grpc::Status& status);

// The AppError that ToGrpcStatus(status) would carry, for errors reported inside a message
// rather than as the call's status (UploadOrderEvents rejections, StreamOrderUpdates replies).
::common::v1::AppError ToAppError(const absl::Status& status);

// `code` as grpc-go spells it ("OK", "Canceled", "InvalidArgument", ..., "Unauthenticated"),
// or "Code(N)" for any other value: the grpc_code label of go-grpc-prometheus metrics and of
// log lines, so dashboards built for the Go services keep working. Points into static storage;
// no allocation, safe on every call.
absl::string_view GoCodeName(grpc::StatusCode code);

// What gRPC's sync handler wrapper (CatchingFunctionHandler) answers, with UNKNOWN, when a
// handler throws. Code that runs a handler's work itself (the unary methods on the async API,
// libs/interceptor/unary_methods.h; the streaming reactors) answers an escaping exception the same
// way, with HandlerThrew(), and the recovery stage (libs/interceptor/recovery.h) turns it into
// INTERNAL, logged and counted.
inline constexpr char kHandlerThrew[] = "Unexpected error in RPC handling";
inline grpc::Status HandlerThrew() {
  return grpc::Status(grpc::StatusCode::UNKNOWN, kHandlerThrew);
}

}  // namespace hermes::errors
