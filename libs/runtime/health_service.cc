#include "libs/runtime/health_service.h"

#include <optional>
#include <utility>

#include "libs/api/release_request.h"
#include "libs/errors/app_error.h"

namespace hermes::runtime {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream. Its state is guarded by the service's mutex (status changes are rare, so
// one lock for all is no contention); what to do next is decided under it (Next) and done
// outside it (Take), so that no gRPC operation starts under the lock. A step decided is owned
// by whoever decided it: a write marks the stream writing, a finish marks it finished, so no one
// else starts an operation meanwhile, and the reactor cannot be done (and deleted) before its
// owner took the step. Without a step of one's own (kNone), the reactor may be gone as soon as
// the lock is released.
class HealthService::Watcher final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  // A stream that follows `known`'s status; registered with the service by the caller.
  Watcher(HealthService& service, bool known, streams::StreamSlots::Slot slot)
      : service_(service), known_(known), slot_(std::move(slot)) {}
  // A stream refused with `status`: finished at once, never registered. Marked finished like
  // any other, so that an OnCancel after it (the client resets the stream, its deadline
  // passes) does not finish it again: gRPC aborts the process on a second Finish.
  Watcher(HealthService& service, const grpc::Status& status) : service_(service), known_(false) {
    finished_ = true;
    Finish(status);
  }

  // Ends the stream with `status` instead (the server shut down before it was registered).
  Step Refuse(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_.mutex_) {
    return FinishWith(std::move(status));
  }

  Step Next() ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_.mutex_) {
    if (finished_ || writing_) return Step::kNone;
    if (cancelled_) return FinishWith(grpc::Status::CANCELLED);
    const Status now = service_.StatusOf(known_);
    if (!sent_.has_value() || *sent_ != now) {
      response_.set_status(now);
      sent_ = now;
      writing_ = true;
      return Step::kWrite;
    }
    if (service_.shut_down_) {
      return FinishWith(
          errors::GrpcError(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    }
    return Step::kNone;
  }

  // Asserts that the caller holds the lock guarding this stream: its service's. The analysis
  // cannot see that the service calling Next or Refuse is service_, so the service says so.
  void AssertLocked() const ABSL_ASSERT_EXCLUSIVE_LOCK(service_.mutex_) {
    service_.mutex_.AssertHeld();
  }

  // What Next decided, outside the lock.
  void Take(Step step) {
    if (step == Step::kWrite) StartWrite(&response_);
    if (step == Step::kFinish) Finish(finish_status_);
  }

  void OnWriteDone(bool ok) override {
    Step step;
    {
      absl::MutexLock lock(&service_.mutex_);
      writing_ = false;
      if (!ok) cancelled_ = true;  // the client is gone
      step = Next();
    }
    Take(step);
  }

  void OnCancel() override {
    Step step;
    {
      absl::MutexLock lock(&service_.mutex_);
      cancelled_ = true;  // a write in flight completes first; its OnWriteDone finishes
      step = Next();
    }
    Take(step);
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&service_.mutex_);
      service_.watchers_.erase(this);
    }
    delete this;  // gRPC's callback API: the reactor is ours to delete once done
  }

 private:
  Step FinishWith(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_.mutex_) {
    finish_status_ = std::move(status);
    finished_ = true;
    return Step::kFinish;
  }

  HealthService& service_;
  const bool known_;
  std::optional<streams::StreamSlots::Slot> slot_;  // given back when the reactor goes
  HealthCheckResponse response_;                    // the write in flight, or the last one
  std::optional<Status> sent_ ABSL_GUARDED_BY(service_.mutex_);
  bool writing_ ABSL_GUARDED_BY(service_.mutex_) = false;
  bool cancelled_ ABSL_GUARDED_BY(service_.mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(service_.mutex_) = false;
  grpc::Status finish_status_;
};

HealthService::HealthService(const std::vector<std::string>& names, int max_watchers)
    : names_(names.begin(), names.end()), slots_(max_watchers) {}

HealthService::~HealthService() = default;

HealthService::Status HealthService::StatusOf(bool known) const {
  if (!known) return HealthCheckResponse::SERVICE_UNKNOWN;
  return serving_ ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

std::vector<std::pair<HealthService::Watcher*, HealthService::Step>> HealthService::Decide() {
  std::vector<std::pair<Watcher*, Step>> steps;
  for (Watcher* watcher : watchers_) {
    // Only a watcher with a step of its own to take is sure to be there when it takes it: one
    // with a write in flight may be finished and deleted by its OnWriteDone at any moment.
    watcher->AssertLocked();
    if (const Step step = watcher->Next(); step != Step::kNone) steps.emplace_back(watcher, step);
  }
  return steps;
}

bool HealthService::Knows(absl::string_view name) const {
  return name.empty() || names_.contains(name);
}

void HealthService::SetServing(bool serving) { Change(serving, /*shut_down=*/false); }

void HealthService::Shutdown() { Change(/*serving=*/false, /*shut_down=*/true); }

void HealthService::Change(bool serving, bool shut_down) {
  std::vector<std::pair<Watcher*, Step>> steps;
  {
    absl::MutexLock lock(&mutex_);
    if (shut_down_ || (serving_ == serving && shut_down_ == shut_down)) return;
    serving_ = serving;
    shut_down_ = shut_down;
    steps = Decide();
  }
  for (const auto& [watcher, step] : steps) watcher->Take(step);
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Knows(request->service())) {
    // The name is not repeated back: it is the caller's, of any length.
    reactor->Finish(errors::GrpcError(grpc::StatusCode::NOT_FOUND,
                                      "no service of that name on this server", "service"));
    return reactor;
  }
  {
    absl::MutexLock lock(&mutex_);
    response->set_status(StatusOf(/*known=*/true));
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* /*context*/, const HealthCheckRequest* request) {
  const bool known = Knows(request->service());
  api::ReleaseRequest(request);
  std::optional<streams::StreamSlots::Slot> slot = slots_.TryTake();
  if (!slot.has_value()) {
    return new Watcher(*this, errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                                "too many concurrent health watchers on this "
                                                "instance; retry later"));
  }
  auto* watcher = new Watcher(*this, known, *std::move(slot));
  Step step;
  {
    absl::MutexLock lock(&mutex_);
    watcher->AssertLocked();
    if (shut_down_) {  // never registered: nothing else will finish it
      step = watcher->Refuse(
          errors::GrpcError(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    } else {
      watchers_.insert(watcher);
      step = watcher->Next();  // its first status: always a write
    }
  }
  watcher->Take(step);
  return watcher;
}

}  // namespace hermes::runtime
