// ReleaseRequest: gives back what the request of a server-streaming call on gRPC's callback API
// holds, once its handler has read what it needs.
//
// gRPC hands such a handler its one request as `const Message*` (or `const grpc::ByteBuffer*`,
// registered raw: the same holds, Swap and all) and keeps it until the stream
// ends: a stream open for hours keeps a request of up to the server's message limit (4 MiB,
// unknown fields included) for hours. The object is not const itself — gRPC constructs it in
// the call's arena as a plain `Message` and only destroys it when the call is done
// (CallbackServerStreamingHandler; no interceptor hook reads it after the handler ran) — so
// emptying it is defined, and the destructor gRPC runs at the end then frees nothing.
//
//   ServerWriteReactor<Response>* Watch(CallbackServerContext*, const Request* request) {
//     const bool known = names_.contains(request->service());   // read what is needed
//     api::ReleaseRequest(request);                               // then give the rest back
//     ...
//   }
#pragma once

namespace hermes::api {

template <typename Message>
void ReleaseRequest(const Message* request) {
  Message empty;
  // Swap, not Clear: Clear keeps a string field's capacity and the unknown fields' buffer.
  empty.Swap(const_cast<Message*>(request));
}

}  // namespace hermes::api
