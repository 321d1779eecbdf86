// ServerCall and ServerStage: the one small interface every server interceptor implements.
//
// gRPC C++'s interceptor API is hook-based (one object per call per interceptor, a switch
// over hook points). Hermes keeps that plumbing in one place (chain.cc's ChainedCall, driven by
// the interceptor or by the handlers that see their calls' events: chain.h) and gives each
// concern — recovery, auth, logging, metrics, tracing — a ServerStage with four hooks over a
// shared per-call ServerCall. So a call costs one allocation whatever the chain length, the
// stages share what they learn (the identity auth finds is what logging prints), and the
// order of the chain is visible in one place (chain.cc).
//
// Hooks run in chain order. OnFinish runs in chain order too, on purpose: recovery comes
// first so that the status every later stage reports is the one the client will see.
#pragma once

#include <grpcpp/support/status.h>
#include <grpcpp/support/string_ref.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "libs/interceptor/method_table.h"
#include "libs/tracing/span.h"
#include "libs/tracing/span_context.h"

namespace grpc {
class ServerContextBase;
}

namespace hermes::interceptor {

struct ServerCall {
  const MethodInfo* method = nullptr;  // never null: unknown methods map to MethodTable's
  const char* path = "";               // the :path as called (differs from method->path if unknown)
  grpc::ServerContextBase* context = nullptr;
  // The request metadata as the handler will see it; valid during OnStart only. A stage may
  // rewrite entries there (the chain sets x-request-id, tracing sets traceparent to the
  // server span) provided the strings it points to live in this ServerCall.
  std::multimap<grpc::string_ref, grpc::string_ref>* recv_metadata = nullptr;
  std::chrono::steady_clock::time_point start;
  std::string request_id;  // the caller's x-request-id, or one generated for this call
  std::string identity;    // the peer's spiffe://hermes/<name>; "" without mTLS
  // Tracing's per-call state (tracing.h): the SERVER span, ended in OnFinish, and the
  // traceparent/tracestate values that recv_metadata's rewritten entries point to.
  tracing::Span span;
  std::string traceparent;  // the server span's, once tracing is installed; "" otherwise
  std::string tracestate;
  // Atomic: on a bidirectional stream a request can arrive (its hook runs on a gRPC thread)
  // while the server finishes the call on another thread, whose log line reads these.
  std::atomic<int64_t> messages_received{0};
  std::atomic<int64_t> messages_sent{0};
  bool recovered_panic = false;  // recovery turned a handler's exception into INTERNAL

  // Whether the :path is a method of this server; if not, `path` is the caller's bytes.
  bool IsKnownMethod() const { return method->path == path; }

  std::chrono::nanoseconds Elapsed() const { return std::chrono::steady_clock::now() - start; }
  double ElapsedSeconds() const { return std::chrono::duration<double>(Elapsed()).count(); }

  // The server span's W3C trace id and span id (hex), read out of traceparent rather than kept
  // as two more strings; "" without tracing.
  absl::string_view TraceId() const {
    return TraceparentPart(tracing::kTraceparentTraceIdOffset, 32);
  }
  absl::string_view SpanId() const {
    return TraceparentPart(tracing::kTraceparentSpanIdOffset, 16);
  }

  // The peer's address as gRPC reports it ("ipv4:127.0.0.1:50312"); "" without a context.
  // Fetched once for every stage that wants it: each ServerContext::peer() locks the call and
  // copies the address into a new string.
  const std::string& PeerAddress();

 private:
  absl::string_view TraceparentPart(size_t offset, size_t length) const {
    if (traceparent.size() != tracing::kTraceparentLength) return {};
    return absl::string_view(traceparent).substr(offset, length);
  }

  std::string peer_address_;
  bool peer_address_fetched_ = false;
};

class ServerStage {
 public:
  virtual ~ServerStage() = default;
  // After the request headers arrived, before the handler runs.
  virtual void OnStart(ServerCall& /*call*/) {}
  // After each request message was received.
  virtual void OnMessageReceived(ServerCall& /*call*/) {}
  // Before each response message is sent.
  virtual void OnMessageSent(ServerCall& /*call*/) {}
  // Before the final status is sent; a stage may rewrite `status`'s code and message, but must
  // not make an error OK (there is no response to send).
  virtual void OnFinish(ServerCall& /*call*/, grpc::Status& /*status*/) {}
};

}  // namespace hermes::interceptor
