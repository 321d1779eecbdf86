#include "libs/errors/app_error.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "google/rpc/status.pb.h"
#include "tests/support/network.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::errors {
namespace {

constexpr absl::string_view kAppErrorTypeUrl = "type.googleapis.com/common.v1.AppError";

// Every code a grpc::Status can carry but OK.
std::vector<grpc::StatusCode> ErrorCodes() {
  std::vector<grpc::StatusCode> codes;
  for (int code = grpc::StatusCode::CANCELLED; code <= grpc::StatusCode::UNAUTHENTICATED; ++code) {
    codes.push_back(static_cast<grpc::StatusCode>(code));
  }
  return codes;
}

bool HidesMessage(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
         code == grpc::StatusCode::DATA_LOSS;
}

// The google.rpc.Status in a grpc::Status's details, parsed the way any client would.
google::rpc::Status DetailsOf(const grpc::Status& status) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(status.error_details()));
  return details;
}

// ---- absl::Status with a field -----------------------------------------------------------------

TEST(ErrorTest, Error_WithField_KeepsCodeMessageAndField) {
  const absl::Status status = Error(absl::StatusCode::kNotFound, "user not found", "id");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "user not found");
  EXPECT_EQ(FieldOf(status), "id");
}

TEST(ErrorTest, Error_WithoutField_HasNoField) {
  EXPECT_EQ(FieldOf(Error(absl::StatusCode::kUnavailable, "try again")), "");
  EXPECT_EQ(FieldOf(absl::InternalError("plain absl status")), "");
  EXPECT_EQ(FieldOf(absl::OkStatus()), "");
}

TEST(ErrorTest, Error_OkCode_IsOk) {
  EXPECT_TRUE(Error(absl::StatusCode::kOk, "fine", "email").ok());
}

TEST(ErrorTest, Shorthands_SetTheirCodeFieldAndMessage) {
  struct Case {
    absl::Status status;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {InvalidArgument("email", "m"), absl::StatusCode::kInvalidArgument},
      {NotFound("email", "m"), absl::StatusCode::kNotFound},
      {AlreadyExists("email", "m"), absl::StatusCode::kAlreadyExists},
      {FailedPrecondition("email", "m"), absl::StatusCode::kFailedPrecondition},
      {Aborted("email", "m"), absl::StatusCode::kAborted},
      {OutOfRange("email", "m"), absl::StatusCode::kOutOfRange},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "m");
    EXPECT_EQ(FieldOf(c.status), "email");
  }
}

TEST(ErrorTest, Field_SurvivesCopyMoveAndStatusOr) {
  const absl::Status original = InvalidArgument("items[2].quantity", "must be positive");
  absl::Status copy = original;
  EXPECT_EQ(FieldOf(copy), "items[2].quantity");
  absl::Status moved = std::move(copy);
  EXPECT_EQ(FieldOf(moved), "items[2].quantity");
  absl::StatusOr<int> result = moved;
  EXPECT_EQ(FieldOf(result.status()), "items[2].quantity");
  EXPECT_EQ(original, moved);  // equality compares payloads too
}

TEST(ErrorTest, Field_SurvivesOtherPayloads) {
  absl::Status status = AlreadyExists("email", "email already registered");
  status.SetPayload("example.com/retry-info", absl::Cord("later"));
  EXPECT_EQ(FieldOf(status), "email");
}

TEST(ErrorTest, Annotate_PrefixesMessageAndKeepsCodeFieldAndPayloads) {
  absl::Status status = NotFound("user_id", "user not found");
  status.SetPayload("example.com/other", absl::Cord("kept"));
  const absl::Status annotated = Annotate(Annotate(status, "loading user"), "creating order");
  EXPECT_EQ(annotated.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(annotated.message(), "creating order: loading user: user not found");
  EXPECT_EQ(FieldOf(annotated), "user_id");
  EXPECT_EQ(annotated.GetPayload("example.com/other"), absl::Cord("kept"));
  EXPECT_EQ(AppErrorOf(ToGrpcStatus(annotated))->field(), "user_id");
}

TEST(ErrorTest, Annotate_OkOrEmptyContext_ChangesNothing) {
  EXPECT_TRUE(Annotate(absl::OkStatus(), "context").ok());
  const absl::Status status = Aborted("etag", "stale etag");
  EXPECT_EQ(Annotate(status, ""), status);
}

// ---- ErrorCodeFor ------------------------------------------------------------------------------

TEST(ErrorCodeForTest, MapsEveryCodeAsApiMdSays) {
  using grpc::StatusCode;
  EXPECT_EQ(ErrorCodeFor(StatusCode::NOT_FOUND), common::v1::ERROR_CODE_NOT_FOUND);
  EXPECT_EQ(ErrorCodeFor(StatusCode::ALREADY_EXISTS), common::v1::ERROR_CODE_ALREADY_EXISTS);
  EXPECT_EQ(ErrorCodeFor(StatusCode::INVALID_ARGUMENT), common::v1::ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(ErrorCodeFor(StatusCode::PERMISSION_DENIED), common::v1::ERROR_CODE_PERMISSION_DENIED);
  EXPECT_EQ(ErrorCodeFor(StatusCode::INTERNAL), common::v1::ERROR_CODE_INTERNAL);
  EXPECT_EQ(ErrorCodeFor(StatusCode::UNKNOWN), common::v1::ERROR_CODE_INTERNAL);
  EXPECT_EQ(ErrorCodeFor(StatusCode::DATA_LOSS), common::v1::ERROR_CODE_INTERNAL);
  EXPECT_EQ(ErrorCodeFor(StatusCode::FAILED_PRECONDITION),
            common::v1::ERROR_CODE_FAILED_PRECONDITION);
  EXPECT_EQ(ErrorCodeFor(StatusCode::ABORTED), common::v1::ERROR_CODE_ABORTED);
  for (StatusCode code :
       {StatusCode::OK, StatusCode::CANCELLED, StatusCode::DEADLINE_EXCEEDED,
        StatusCode::RESOURCE_EXHAUSTED, StatusCode::OUT_OF_RANGE, StatusCode::UNIMPLEMENTED,
        StatusCode::UNAVAILABLE, StatusCode::UNAUTHENTICATED}) {
    EXPECT_EQ(ErrorCodeFor(code), common::v1::ERROR_CODE_UNSPECIFIED) << GoCodeName(code);
  }
}

// ---- ToGrpcStatus: every code ------------------------------------------------------------------

class ToGrpcStatusEveryCodeTest : public ::testing::TestWithParam<grpc::StatusCode> {};

TEST_P(ToGrpcStatusEveryCodeTest, RoundTripsCodeMessageAndField) {
  const grpc::StatusCode code = GetParam();
  const std::string expected_message = HidesMessage(code) ? "internal error" : "it went wrong";

  const grpc::Status status = ToGrpcStatus(
      Error(static_cast<absl::StatusCode>(code), "it went wrong", "items[2].quantity"));

  EXPECT_EQ(status.error_code(), code);
  EXPECT_EQ(status.error_message(), expected_message);
  const google::rpc::Status details = DetailsOf(status);
  EXPECT_EQ(details.code(), code);
  EXPECT_EQ(details.message(), expected_message);
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), kAppErrorTypeUrl);

  const std::optional<common::v1::AppError> app_error = AppErrorOf(status);
  ASSERT_TRUE(app_error.has_value());
  EXPECT_EQ(app_error->code(), ErrorCodeFor(code));
  EXPECT_EQ(app_error->message(), expected_message);
  EXPECT_EQ(app_error->field(), "items[2].quantity");
}

TEST_P(ToGrpcStatusEveryCodeTest, GrpcError_BuildsTheSameStatus) {
  const grpc::StatusCode code = GetParam();
  const grpc::Status built = GrpcError(code, "it went wrong", "reason");
  const grpc::Status converted =
      ToGrpcStatus(Error(static_cast<absl::StatusCode>(code), "it went wrong", "reason"));
  EXPECT_EQ(built.error_code(), converted.error_code());
  EXPECT_EQ(built.error_message(), converted.error_message());
  EXPECT_EQ(built.error_details(), converted.error_details());
}

// Names like AllErrorCodes/ToGrpcStatusEveryCodeTest.RoundTripsCodeMessageAndField/NotFound.
std::string CodeName(const ::testing::TestParamInfo<grpc::StatusCode>& param) {
  return std::string(GoCodeName(param.param));
}

INSTANTIATE_TEST_SUITE_P(AllErrorCodes, ToGrpcStatusEveryCodeTest,
                         ::testing::ValuesIn(ErrorCodes()), CodeName);

// ---- ToGrpcStatus and GrpcError: particular cases ----------------------------------------------

TEST(ToGrpcStatusTest, ToGrpcStatus_NotFoundWithField_CarriesAppErrorDetail) {
  const grpc::Status status = ToGrpcStatus(NotFound("id", "user not found"));

  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "user not found");
  const google::rpc::Status details = DetailsOf(status);
  EXPECT_EQ(details.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(details.message(), "user not found");
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), kAppErrorTypeUrl);
  common::v1::AppError app_error;
  ASSERT_TRUE(app_error.ParseFromString(details.details(0).value()));
  EXPECT_EQ(app_error.code(), common::v1::ERROR_CODE_NOT_FOUND);
  EXPECT_EQ(app_error.message(), "user not found");
  EXPECT_EQ(app_error.field(), "id");
}

TEST(ToGrpcStatusTest, ToGrpcStatus_Ok_IsOkWithoutDetails) {
  const grpc::Status status = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_message(), "");
  EXPECT_EQ(status.error_details(), "");
  EXPECT_EQ(AppErrorOf(status), std::nullopt);
}

TEST(ToGrpcStatusTest, ToGrpcStatus_NoField_CarriesAppErrorWithEmptyField) {
  const std::optional<common::v1::AppError> app_error =
      AppErrorOf(ToGrpcStatus(absl::PermissionDeniedError("not allowed")));
  ASSERT_TRUE(app_error.has_value());
  EXPECT_EQ(app_error->code(), common::v1::ERROR_CODE_PERMISSION_DENIED);
  EXPECT_EQ(app_error->field(), "");
}

TEST(ToGrpcStatusTest, ToGrpcStatus_InternalMessages_AreReplacedButFieldIsKept) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInternal, absl::StatusCode::kUnknown, absl::StatusCode::kDataLoss}) {
    const grpc::Status status =
        ToGrpcStatus(Error(code, "SELECT * FROM users: /var/lib/hermes/db locked", "email"));
    SCOPED_TRACE(GoCodeName(status.error_code()));
    EXPECT_EQ(status.error_message(), "internal error");
    EXPECT_EQ(status.error_details().find("SELECT"), std::string::npos);
    EXPECT_EQ(status.error_details().find("/var/lib"), std::string::npos);
    EXPECT_EQ(AppErrorOf(status)->message(), "internal error");
    EXPECT_EQ(AppErrorOf(status)->field(), "email");
  }
}

TEST(ToGrpcStatusTest, ToGrpcStatus_CodeUnknownToGrpc_BecomesUnknown) {
  const grpc::Status status = ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(42), "?"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "internal error");
}

TEST(ToGrpcStatusTest, ToGrpcStatus_InvalidUtf8_IsReplacedSoClientsCanParseTheDetail) {
  const grpc::Status status =
      ToGrpcStatus(InvalidArgument("na\xFFme", "display_name \xC3 is not UTF-8"));
  const std::optional<common::v1::AppError> app_error = AppErrorOf(status);
  ASSERT_TRUE(app_error.has_value());
  EXPECT_EQ(app_error->message(), "display_name \xEF\xBF\xBD is not UTF-8");
  EXPECT_EQ(app_error->field(), "na\xEF\xBF\xBDme");
  EXPECT_EQ(status.error_message(), app_error->message());
}

TEST(ToGrpcStatusTest, GrpcError_Ok_IsOkWithoutDetails) {
  const grpc::Status status = GrpcError(grpc::StatusCode::OK, "fine", "email");
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_details(), "");
}

TEST(ToGrpcStatusTest, GrpcError_PermissionDenied_SaysErrorCodePermissionDenied) {
  const grpc::Status status =
      GrpcError(grpc::StatusCode::PERMISSION_DENIED, "peer may not call this method");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "peer may not call this method");
  EXPECT_EQ(AppErrorOf(status)->code(), common::v1::ERROR_CODE_PERMISSION_DENIED);
}

// ---- AppErrorOf --------------------------------------------------------------------------------

TEST(AppErrorOfTest, StatusWithoutDetails_HasNone) {
  EXPECT_EQ(AppErrorOf(grpc::Status::OK), std::nullopt);
  EXPECT_EQ(AppErrorOf(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no detail")), std::nullopt);
}

TEST(AppErrorOfTest, UnparsableDetails_HaveNone) {
  EXPECT_EQ(AppErrorOf(grpc::Status(grpc::StatusCode::INTERNAL, "x", "\xFF\xFF not a proto")),
            std::nullopt);
}

TEST(AppErrorOfTest, OtherDetailsFirst_FindsTheAppError) {
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::ABORTED);
  details.add_details()->PackFrom(google::rpc::Status());  // some other detail type
  common::v1::AppError app_error;
  app_error.set_code(common::v1::ERROR_CODE_ABORTED);
  app_error.set_field("etag");
  details.add_details()->PackFrom(app_error);

  const std::optional<common::v1::AppError> found =
      AppErrorOf(grpc::Status(grpc::StatusCode::ABORTED, "stale", details.SerializeAsString()));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->field(), "etag");
}

TEST(AppErrorOfTest, OnlyOtherDetails_HaveNone) {
  google::rpc::Status details;
  details.add_details()->PackFrom(google::rpc::Status());
  EXPECT_EQ(AppErrorOf(grpc::Status(grpc::StatusCode::ABORTED, "x", details.SerializeAsString())),
            std::nullopt);
}

// ---- GoCodeName --------------------------------------------------------------------------------

TEST(GoCodeNameTest, NamesAllSeventeenCodesAsGrpcGoDoes) {
  using grpc::StatusCode;
  EXPECT_EQ(GoCodeName(StatusCode::OK), "OK");
  EXPECT_EQ(GoCodeName(StatusCode::CANCELLED), "Canceled");  // one L, as in Go
  EXPECT_EQ(GoCodeName(StatusCode::UNKNOWN), "Unknown");
  EXPECT_EQ(GoCodeName(StatusCode::INVALID_ARGUMENT), "InvalidArgument");
  EXPECT_EQ(GoCodeName(StatusCode::DEADLINE_EXCEEDED), "DeadlineExceeded");
  EXPECT_EQ(GoCodeName(StatusCode::NOT_FOUND), "NotFound");
  EXPECT_EQ(GoCodeName(StatusCode::ALREADY_EXISTS), "AlreadyExists");
  EXPECT_EQ(GoCodeName(StatusCode::PERMISSION_DENIED), "PermissionDenied");
  EXPECT_EQ(GoCodeName(StatusCode::RESOURCE_EXHAUSTED), "ResourceExhausted");
  EXPECT_EQ(GoCodeName(StatusCode::FAILED_PRECONDITION), "FailedPrecondition");
  EXPECT_EQ(GoCodeName(StatusCode::ABORTED), "Aborted");
  EXPECT_EQ(GoCodeName(StatusCode::OUT_OF_RANGE), "OutOfRange");
  EXPECT_EQ(GoCodeName(StatusCode::UNIMPLEMENTED), "Unimplemented");
  EXPECT_EQ(GoCodeName(StatusCode::INTERNAL), "Internal");
  EXPECT_EQ(GoCodeName(StatusCode::UNAVAILABLE), "Unavailable");
  EXPECT_EQ(GoCodeName(StatusCode::DATA_LOSS), "DataLoss");
  EXPECT_EQ(GoCodeName(StatusCode::UNAUTHENTICATED), "Unauthenticated");
}

TEST(GoCodeNameTest, OtherValues_AreNumbered) {
  // Only values grpc::StatusCode can hold (-32..31): others are undefined behaviour to form.
  EXPECT_EQ(GoCodeName(static_cast<grpc::StatusCode>(17)), "Code(17)");
  EXPECT_EQ(GoCodeName(static_cast<grpc::StatusCode>(31)), "Code(31)");
  EXPECT_EQ(GoCodeName(grpc::StatusCode::DO_NOT_USE), "Code(-1)");
  EXPECT_EQ(GoCodeName(static_cast<grpc::StatusCode>(-32)), "Code(-32)");
}

TEST(GoCodeNameTest, ReturnsStaticStorage) {
  EXPECT_EQ(GoCodeName(grpc::StatusCode::NOT_FOUND).data(),
            GoCodeName(grpc::StatusCode::NOT_FOUND).data());
  EXPECT_EQ(GoCodeName(static_cast<grpc::StatusCode>(20)).data(),
            GoCodeName(static_cast<grpc::StatusCode>(20)).data());
}

// ---- Over a real connection --------------------------------------------------------------------

// Answers GetUser with whatever status the test sets.
class FailingUserService final : public user::v1::UserService::Service {
 public:
  explicit FailingUserService(absl::Status status) : status_(std::move(status)) {}
  grpc::Status GetUser(grpc::ServerContext*, const user::v1::GetUserRequest*,
                       user::v1::GetUserResponse*) override {
    return ToGrpcStatus(status_);
  }

 private:
  absl::Status status_;
};

TEST(WireTest, AppError_CrossesHttp2ToTheClient) {
  FailingUserService service(NotFound("id", "user not found"));
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  user::v1::GetUserResponse response;
  const grpc::Status status =
      user::v1::UserService::NewStub(testing::TestChannel(testing::LoopbackAddress(port)))
          ->GetUser(&context, user::v1::GetUserRequest(), &response);
  server->Shutdown();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "user not found");
  EXPECT_EQ(DetailsOf(status).details(0).type_url(), kAppErrorTypeUrl);
  const std::optional<common::v1::AppError> app_error = AppErrorOf(status);
  ASSERT_TRUE(app_error.has_value());
  EXPECT_EQ(app_error->code(), common::v1::ERROR_CODE_NOT_FOUND);
  EXPECT_EQ(app_error->field(), "id");
}

}  // namespace
}  // namespace hermes::errors

namespace hermes::errors {
namespace {

TEST(ToAppErrorTest, SameAppErrorAsTheWireForm) {
  for (const absl::Status& status :
       {NotFound("order_id", "no order has this id"),
        Error(absl::StatusCode::kInternal, "SELECT failed at /var/x.db", "id"),
        Error(absl::StatusCode::kResourceExhausted, "too many", "")}) {
    const std::optional<::common::v1::AppError> wire = AppErrorOf(ToGrpcStatus(status));
    ASSERT_TRUE(wire.has_value());
    EXPECT_EQ(ToAppError(status).SerializeAsString(), wire->SerializeAsString()) << status;
  }
  EXPECT_EQ(ToAppError(Error(absl::StatusCode::kInternal, "SELECT", "")).message(),
            "internal error");
}

}  // namespace
}  // namespace hermes::errors
