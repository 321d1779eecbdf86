#include "tests/support/network.h"

#include <arpa/inet.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace hermes::testing {
namespace {

// A test's client channels poll their sockets every 100 ms when no thread of the test is in a gRPC
// call, instead of gRPC's default 5 s (before the first grpc_init; not overriding a value the
// environment already gives). A server that shuts down sends its clients a GOAWAY and a PING and
// waits for the PING's answer before it closes their connections: a test blocked elsewhere (waiting
// for the server to exit) answered it only when that backup poller ran, so a stop took ~5 s
// longer than the server needed (UploadOrderEvents_Shutdown: 6.7 s, and 2.6 s with this), and
// shutdown tests measured the test's client rather than the server. The processes a test starts
// inherit it.
const bool kQuickBackupPolling =
    setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", /*overwrite=*/0) == 0;

}  // namespace

PortReservation::PortReservation() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
               0);  // not inherited by the processes a test starts
  if (fd_ < 0) std::abort();
  const int on = 1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::abort();
  }
  port_ = ntohs(address.sin_port);
}

PortReservation::~PortReservation() { close(fd_); }

std::shared_ptr<grpc::Channel> TestChannel(const std::string& target,
                                           std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel(target, credentials, arguments);
}

std::string LoopbackAddress(int port) { return absl::StrCat("127.0.0.1:", port); }

absl::Status WaitForServing(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& service, absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::DeadlineExceededError("no health answer yet");
  while (absl::Now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
    context.set_wait_for_ready(true);  // ride out "connection refused" while the server starts
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = stub->Check(&context, request, &response);
    if (status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    last = status.ok()
               ? absl::UnavailableError(absl::StrCat(
                     "health says ",
                     grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())))
               : absl::UnavailableError(status.error_message());
    // The server is starting: poll again shortly (the wait is bounded by `timeout`).
    absl::SleepFor(absl::Milliseconds(20));
  }
  return last;
}

}  // namespace hermes::testing
