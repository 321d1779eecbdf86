// HealthService: grpc.health.v1.Health as every Hermes server runs it (API.md: SERVING for ""
// and for each service name, NOT_FOUND for unknown names), in place of gRPC's default health
// service (grpc::EnableDefaultHealthCheckService), for what that one does not do:
//
//  - Watch streams are counted: at most `max_watchers` are open at once (the services'
//    --max_streams); one more is refused RESOURCE_EXHAUSTED. gRPC's allowed any verified peer
//    1,000 a connection, with no limit across connections.
//  - A Watch keeps only what it needs (whether its name is known and what it last sent), not
//    its request: gRPC keeps a stream's request until the stream ends, and a request can be
//    up to the server's message limit (4 MiB), unknown fields included.
//  - Shutdown ends every Watch at once, with UNAVAILABLE after NOT_SERVING, like the services'
//    own streams; gRPC's held the server's shutdown for its whole grace period.
//
// Every name has the same status (a server serves all its services or none), so SetServing
// takes no name. The set of names is fixed at construction: a Watch of an unknown name gets
// SERVICE_UNKNOWN once and nothing more until the server shuts down.
//
//   HealthService health({"user.v1.UserService"}, /*max_watchers=*/256);
//   builder.RegisterService(&health);   // outlives the server
//   ... BuildAndStart ...
//   health.SetServing(true);            // "" and every name; Watch streams are told
//   health.SetServing(false);           // draining: NOT_SERVING
//   health.Shutdown();                  // every Watch ends UNAVAILABLE; new ones are refused
#pragma once

#include <grpcpp/support/server_callback.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/streams/stream_slots.h"

namespace hermes::runtime {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  // `names`: the services reported besides "". NOT_SERVING until SetServing(true).
  HealthService(const std::vector<std::string>& names, int max_watchers);
  // The server must have shut down (no Watch is left).
  ~HealthService() override;
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // The status of "" and every name; each open Watch is sent it (unless it was the last sent).
  // Ignored after Shutdown: the server is going, and stays NOT_SERVING.
  void SetServing(bool serving);

  // NOT_SERVING for good; every open Watch ends with UNAVAILABLE once its last status was
  // written (NOT_SERVING, or SERVICE_UNKNOWN for an unknown name), and a new one is refused
  // UNAVAILABLE. Idempotent.
  void Shutdown();

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class Watcher;
  using Status = grpc::health::v1::HealthCheckResponse::ServingStatus;
  // What a Watcher does next, decided under mutex_ and done outside it.
  enum class Step { kNone, kWrite, kFinish };

  // Every registered watcher's next step, for those that have one.
  std::vector<std::pair<Watcher*, Step>> Decide() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Whether `name` is "" or one of this server's.
  bool Knows(absl::string_view name) const;
  // What `known` (a name of this server, or "") reports now.
  Status StatusOf(bool known) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // SetServing and Shutdown: the new state, then every watcher told; nothing once shut down.
  void Change(bool serving, bool shut_down);

  const absl::flat_hash_set<std::string> names_;
  streams::StreamSlots slots_;
  mutable absl::Mutex mutex_;
  bool serving_ ABSL_GUARDED_BY(mutex_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mutex_) = false;
  absl::flat_hash_set<Watcher*> watchers_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace hermes::runtime
