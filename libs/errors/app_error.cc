#include "libs/errors/app_error.h"

#include <array>
#include <cstddef>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "google/rpc/status.pb.h"
#include "libs/errors/utf8.h"

namespace hermes::errors {
namespace {

// Where the field rides on an absl::Status. Not a proto type: the payload is the field's path
// as raw bytes. It never leaves the process; ToGrpcStatus moves it into the AppError.
constexpr absl::string_view kFieldPayloadUrl = "hermes.errors/field";

constexpr absl::string_view kInternalMessage = "internal error";

// Codes whose messages tend to carry internals (driver errors, paths, what a panic said).
bool HidesMessage(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
         code == grpc::StatusCode::DATA_LOSS;
}

// absl and gRPC number their codes alike (both follow google.rpc.Code), but absl::Status
// accepts any int; a client could not make sense of a code gRPC does not define.
grpc::StatusCode ToGrpcCode(int code) {
  if (code < grpc::StatusCode::OK || code > grpc::StatusCode::UNAUTHENTICATED) {
    return grpc::StatusCode::UNKNOWN;
  }
  return static_cast<grpc::StatusCode>(code);
}

// ---- GoCodeName's static strings -------------------------------------------------------------

// grpc-go's codes.Code.String() for 0..16.
constexpr std::array<absl::string_view, 17> kGoCodeNames = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

// "Code(N)" for every other value a grpc::StatusCode can hold. Its enumerators span -1..16, so
// by [dcl.enum] its values are those of a 6-bit signed bit-field, -32..31; anything else cannot
// be formed without undefined behaviour (which UBSan's enum check reports). Built at compile
// time so that GoCodeName never allocates.
constexpr int kMinEnumValue = -32;
constexpr int kMaxEnumValue = 31;

struct NumberedName {
  char text[sizeof("Code(-32)")] = {};
  size_t size = 0;
};

constexpr NumberedName MakeNumberedName(int value) {
  NumberedName name;
  for (char c : {'C', 'o', 'd', 'e', '('}) name.text[name.size++] = c;
  if (value < 0) name.text[name.size++] = '-';
  const int magnitude = value < 0 ? -value : value;
  if (magnitude >= 10) name.text[name.size++] = static_cast<char>('0' + magnitude / 10);
  name.text[name.size++] = static_cast<char>('0' + magnitude % 10);
  name.text[name.size++] = ')';
  return name;
}

constexpr auto kNumberedNames = [] {
  std::array<NumberedName, kMaxEnumValue - kMinEnumValue + 1> names;
  for (int value = kMinEnumValue; value <= kMaxEnumValue; ++value) {
    names[static_cast<size_t>(value - kMinEnumValue)] = MakeNumberedName(value);
  }
  return names;
}();

}  // namespace

absl::Status Error(absl::StatusCode code, absl::string_view message, absl::string_view field) {
  absl::Status status(code, message);
  if (!field.empty()) status.SetPayload(kFieldPayloadUrl, absl::Cord(field));
  return status;
}

absl::Status InvalidArgument(absl::string_view field, absl::string_view message) {
  return Error(absl::StatusCode::kInvalidArgument, message, field);
}
absl::Status NotFound(absl::string_view field, absl::string_view message) {
  return Error(absl::StatusCode::kNotFound, message, field);
}
absl::Status AlreadyExists(absl::string_view field, absl::string_view message) {
  return Error(absl::StatusCode::kAlreadyExists, message, field);
}
absl::Status FailedPrecondition(absl::string_view field, absl::string_view message) {
  return Error(absl::StatusCode::kFailedPrecondition, message, field);
}
absl::Status Aborted(absl::string_view field, absl::string_view message) {
  return Error(absl::StatusCode::kAborted, message, field);
}
absl::Status OutOfRange(absl::string_view field, absl::string_view message) {
  return Error(absl::StatusCode::kOutOfRange, message, field);
}

std::string FieldOf(const absl::Status& status) {
  // absl::optional, which on Debian is not std::optional.
  const absl::optional<absl::Cord> field = status.GetPayload(kFieldPayloadUrl);
  return field ? std::string(*field) : std::string();
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok() || context.empty()) return status;
  absl::Status annotated(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload([&annotated](absl::string_view type_url, const absl::Cord& payload) {
    annotated.SetPayload(type_url, payload);
  });
  return annotated;
}

::common::v1::ErrorCode ErrorCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::NOT_FOUND:
      return ::common::v1::ERROR_CODE_NOT_FOUND;
    case grpc::StatusCode::ALREADY_EXISTS:
      return ::common::v1::ERROR_CODE_ALREADY_EXISTS;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return ::common::v1::ERROR_CODE_INVALID_ARGUMENT;
    case grpc::StatusCode::PERMISSION_DENIED:
      return ::common::v1::ERROR_CODE_PERMISSION_DENIED;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
      return ::common::v1::ERROR_CODE_INTERNAL;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return ::common::v1::ERROR_CODE_FAILED_PRECONDITION;
    case grpc::StatusCode::ABORTED:
      return ::common::v1::ERROR_CODE_ABORTED;
    default:
      return ::common::v1::ERROR_CODE_UNSPECIFIED;
  }
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return GrpcError(ToGrpcCode(static_cast<int>(status.code())), status.message(), FieldOf(status));
}

namespace {

// The AppError the client sees for a (normalised, non-OK) code: the one place that decides
// which message may leave the process.
::common::v1::AppError PublicAppError(grpc::StatusCode code, absl::string_view message,
                                      absl::string_view field) {
  ::common::v1::AppError app_error;
  app_error.set_code(ErrorCodeFor(code));
  app_error.set_message(HidesMessage(code) ? std::string(kInternalMessage) : ToValidUtf8(message));
  app_error.set_field(ToValidUtf8(field));
  return app_error;
}

}  // namespace

::common::v1::AppError ToAppError(const absl::Status& status) {
  return PublicAppError(ToGrpcCode(static_cast<int>(status.code())), status.message(),
                        FieldOf(status));
}

grpc::Status GrpcError(grpc::StatusCode code, absl::string_view message, absl::string_view field) {
  if (code == grpc::StatusCode::OK) return grpc::Status::OK;
  code = ToGrpcCode(code);  // DO_NOT_USE (-1) and friends
  const ::common::v1::AppError app_error = PublicAppError(code, message, field);

  google::rpc::Status details;
  details.set_code(code);
  details.set_message(app_error.message());
  details.add_details()->PackFrom(app_error);  // type.googleapis.com/common.v1.AppError
  return grpc::Status(code, app_error.message(), details.SerializeAsString());
}

std::optional<::common::v1::AppError> AppErrorOf(const grpc::Status& status) {
  if (status.ok() || status.error_details().empty()) return std::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return std::nullopt;
  for (const google::protobuf::Any& detail : details.details()) {
    ::common::v1::AppError app_error;
    if (detail.UnpackTo(&app_error)) return app_error;  // false for other types, bad bytes
  }
  return std::nullopt;
}

absl::string_view GoCodeName(grpc::StatusCode code) {
  const int value = static_cast<int>(code);
  if (value >= 0 && static_cast<size_t>(value) < kGoCodeNames.size()) return kGoCodeNames[value];
  if (value >= kMinEnumValue && value <= kMaxEnumValue) {
    const NumberedName& name = kNumberedNames[static_cast<size_t>(value - kMinEnumValue)];
    return absl::string_view(name.text, name.size);
  }
  // Only reachable through an out-of-range cast, which gRPC itself does with a peer's
  // grpc-status (e.g. 99). A fixed label keeps metric cardinality bounded all the same.
  return "Code(?)";
}

}  // namespace hermes::errors
