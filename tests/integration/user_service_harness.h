// What the user service integration tests (user_service_rules_test.cc,
// user_service_durability_test.cc) share: the real hermes-user binary on a data directory of its
// own, a client with a deadline on every call, a WatchUsers stream, and a check of an error the
// way API.md's "How errors travel" describes it (gRPC code and AppError code and field).
#pragma once

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/v1/common.pb.h"
#include "libs/errors/app_error.h"
#include "tests/support/certs.h"
#include "tests/support/service_process.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing::user_service {

using ::user::v1::User;
using ::user::v1::WatchUsersRequest;
using ::user::v1::WatchUsersResponse;

// Generous for a unary call on a loaded CI machine under ASan, short enough to fail a hung test.
inline constexpr absl::Duration kCallTimeout = absl::Seconds(10);
inline constexpr absl::Duration kStreamTimeout = absl::Seconds(60);
inline constexpr absl::Duration kExitTimeout = absl::Seconds(20);

inline std::chrono::system_clock::time_point DeadlineIn(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

// A fresh directory under the temporary directory, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    std::string path =
        (std::filesystem::temp_directory_path() / "hermes-user-itest-XXXXXX").string();
    if (mkdtemp(path.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << path;
    }
    path_ = path;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline ::testing::AssertionResult IsOk(const grpc::Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << errors::GoCodeName(status.error_code()) << ": " << status.error_message();
}

// `status` has gRPC code `code` and an AppError detail with `app_code` and `field`.
inline ::testing::AssertionResult IsAppError(const grpc::Status& status, grpc::StatusCode code,
                                             ::common::v1::ErrorCode app_code,
                                             const std::string& field) {
  if (status.error_code() != code) {
    return ::testing::AssertionFailure()
           << "gRPC code " << errors::GoCodeName(status.error_code()) << " (\""
           << status.error_message() << "\"), want " << errors::GoCodeName(code);
  }
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(status);
  if (!error.has_value()) {
    return ::testing::AssertionFailure()
           << errors::GoCodeName(code) << " without an AppError detail (\""
           << status.error_message() << "\")";
  }
  if (error->code() != app_code || error->field() != field) {
    return ::testing::AssertionFailure()
           << "AppError {" << error->ShortDebugString() << "}, want code "
           << ::common::v1::ErrorCode_Name(app_code) << " and field \"" << field << "\"";
  }
  return ::testing::AssertionSuccess();
}

// user.v1.UserService's unary calls, each with a deadline.
class UserClient {
 public:
  explicit UserClient(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(::user::v1::UserService::NewStub(channel)) {}

  grpc::Status Create(const std::string& email, const std::string& display_name,
                      User* user = nullptr) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    ::user::v1::CreateUserRequest request;
    request.set_email(email);
    request.set_display_name(display_name);
    ::user::v1::CreateUserResponse response;
    const grpc::Status status = stub_->CreateUser(&context, request, &response);
    if (user != nullptr) *user = response.user();
    return status;
  }

  grpc::Status Get(const std::string& id, User* user = nullptr) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    ::user::v1::GetUserRequest request;
    request.set_id(id);
    ::user::v1::GetUserResponse response;
    const grpc::Status status = stub_->GetUser(&context, request, &response);
    if (user != nullptr) *user = response.user();
    return status;
  }

  grpc::Status Update(const ::user::v1::UpdateUserRequest& request, User* user = nullptr) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    ::user::v1::UpdateUserResponse response;
    const grpc::Status status = stub_->UpdateUser(&context, request, &response);
    if (user != nullptr) *user = response.user();
    return status;
  }

  grpc::Status Delete(const std::string& id) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    ::user::v1::DeleteUserRequest request;
    request.set_id(id);
    ::user::v1::DeleteUserResponse response;
    return stub_->DeleteUser(&context, request, &response);
  }

  grpc::Status List(const ::user::v1::ListUsersRequest& request,
                    ::user::v1::ListUsersResponse* response) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    return stub_->ListUsers(&context, request, response);
  }

 private:
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
};

// One WatchUsers call, bounded by its deadline; cancelled when destroyed unless finished.
class WatchStream {
 public:
  WatchStream(const std::shared_ptr<grpc::Channel>& channel, const WatchUsersRequest& request,
              absl::Duration timeout = kStreamTimeout)
      : stub_(::user::v1::UserService::NewStub(channel)) {
    context_.set_deadline(DeadlineIn(timeout));
    reader_ = stub_->WatchUsers(&context_, request);
  }
  ~WatchStream() {
    if (!finished_) Cancel();
  }
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Returns once the response headers arrived, i.e. the subscription is live (or the call
  // ended, which the next Next() and Finish() tell).
  void WaitForHeaders() { reader_->WaitForInitialMetadata(); }

  // The next event, or nullopt once the stream has ended (Finish() then says how).
  std::optional<WatchUsersResponse> Next() {
    WatchUsersResponse event;
    if (reader_->Read(&event)) return event;
    return std::nullopt;
  }

  // Reads up to `count` events; fewer only if the stream ended.
  std::vector<WatchUsersResponse> Take(size_t count) {
    std::vector<WatchUsersResponse> events;
    while (events.size() < count) {
      std::optional<WatchUsersResponse> event = Next();
      if (!event.has_value()) break;
      events.push_back(*std::move(event));
    }
    return events;
  }

  // The final status; call once Next() returned nullopt (or after Cancel()).
  grpc::Status Finish() {
    finished_ = true;
    return reader_->Finish();
  }

  // Ends the call from the client side (a disconnect, as far as the server can tell).
  void Cancel() {
    context_.TryCancel();
    while (Next().has_value()) {
    }
    (void)Finish();
  }

 private:
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<WatchUsersResponse>> reader_;
  bool finished_ = false;
};

inline WatchUsersRequest WatchAfter(
    int64_t after_sequence,
    ::user::v1::UserStatus status_filter = ::user::v1::USER_STATUS_UNSPECIFIED) {
  WatchUsersRequest request;
  request.set_after_sequence(after_sequence);
  request.set_status_filter(status_filter);
  return request;
}

// Fixture: each test owns a data directory and starts (and may restart) hermes-user on it.
class UserServiceTest : public ::testing::Test {
 protected:
  // Starts hermes-user on this test's data directory, over mTLS with the shared test CA.
  //   ASSERT_TRUE(Start());
  ::testing::AssertionResult Start(std::vector<std::string> extra_args = {}) {
    extra_args.push_back("--data_dir=" + data_dir_.path());
    // Tracing is not under test here: without it nothing is exported to a collector that is
    // not there, and a stop does not wait for span export to give up.
    server_ =
        std::make_unique<ServiceProcess>(ServiceOptions{.binary = HERMES_USER_BIN,
                                                        .ca = &SharedTestCa(),
                                                        .extra_args = extra_args,
                                                        .extra_env = {"OTEL_SDK_DISABLED=true"}});
    return server_->WaitUntilServing();
  }

  // SIGTERM, and a clean exit (code 0) within a bounded time.
  ::testing::AssertionResult Stop() {
    server_->process().Signal(SIGTERM);
    return ExitsCleanly();
  }

  // The server exits with code 0 within `timeout` (after a SIGTERM sent by the test).
  ::testing::AssertionResult ExitsCleanly(absl::Duration timeout = kExitTimeout) {
    const std::optional<int> status = server_->process().WaitForExit(timeout);
    if (!status.has_value()) {
      return ::testing::AssertionFailure()
             << "still running " << timeout << " after SIGTERM\n--- service output ---\n"
             << server_->Output();
    }
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      return ::testing::AssertionFailure()
             << "wait status " << *status << " after SIGTERM, want exit code 0\n"
             << "--- service output ---\n"
             << server_->Output();
    }
    return ::testing::AssertionSuccess();
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& identity = "admin") const {
    return server_->Channel(identity);
  }

  TempDir data_dir_;
  std::unique_ptr<ServiceProcess> server_;
};

}  // namespace hermes::testing::user_service
