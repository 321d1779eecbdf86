// TlsMaterial: the key, certificate chain and CA bundle a process uses for mTLS, checked before
// gRPC uses them, and rotated while it runs.
//
// gRPC's FileWatcherCertificateProvider (1.51) installs whatever the files hold at its next
// refresh, and reads the key and the certificate as two files: a key written before its
// certificate, a file caught half-way through a certificate or a key of another certificate
// makes every new handshake fail (and the server unreachable for new clients) until the files
// agree again. TlsMaterial watches the operator's files (config::WatchedFiles) and checks each
// change as start-up does (ReadTlsFiles: every certificate parses, the key is unencrypted and
// matches the certificate); only a change that passes is handed to gRPC, written out again from
// what was parsed. A change that fails is reported, and the last good files stay in force; the
// next change is checked again, so a key and then its certificate written one after the other
// are taken together as soon as both are there.
//
// gRPC watches copies held in memory, not on disk (memfd, read at /proc/self/fd/N, so a private
// key is never copied to disk): the key and the certificate chain in one file, which gRPC is
// given as both its key file and its certificate file, and the CA bundle in another. A change
// writes both new copies first, so that running out of memory or descriptors leaves all of the
// previous material in force, then replaces each in one step (dup3 onto the same descriptor
// number), with a modification time a whole second past the one before: gRPC reads the key and
// the certificate with two opens and compares the files' modification times (in seconds)
// before and after, so a replacement between the two reads makes it read again rather than
// pair a key with the wrong certificate.
//
//   absl::StatusOr<std::unique_ptr<TlsMaterial>> tls = TlsMaterial::Start(config.tls,
//       config.reload_interval, [](const absl::Status& outcome, absl::Time) { ...log... });
//   auto creds = MutualTlsServerCredentials((*tls)->in_force(), TlsMaterial::kGrpcRefresh);
//
// The TlsMaterial must outlive every credentials built from in_force(): keep it for the life of
// main(). (gRPC may release a provider after its server or channel is gone; one that reads after
// the TlsMaterial closed its copies only logs a failed read.)
#pragma once

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/config/watched_files.h"
#include "libs/runtime/server_config.h"

namespace hermes::runtime {

class TlsMaterial {
 public:
  // Called on the watcher's thread with the outcome of each reload (see WatchedFiles for when):
  // OK when the files are in force, else why they are not (the error names the flag); and when
  // the certificate in force (the new one or the one kept) expires.
  using ReloadCallback = std::function<void(const absl::Status& outcome, absl::Time not_after)>;

  // Reads and checks `files` (an error names the flag), puts them in force and watches them
  // every `poll_interval`.
  static absl::StatusOr<std::unique_ptr<TlsMaterial>> Start(const TlsFiles& files,
                                                            absl::Duration poll_interval,
                                                            ReloadCallback on_reload);
  ~TlsMaterial();
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;

  // The files in force, for gRPC (MutualTlsServerCredentials, MutualTlsChannelCredentials):
  // /proc/self/fd paths, `key` and `cert` the same one. Fixed for the life of the object.
  const TlsFiles& in_force() const { return in_force_; }

  // How often gRPC should re-read the copies in force (the `reload_interval` of the credentials
  // built from in_force()): they are in memory, so every second costs nothing, and a change on
  // disk is in force for new handshakes within the poll interval and a second.
  static constexpr absl::Duration kGrpcRefresh = absl::Seconds(1);

  // When the certificate in force expires.
  absl::Time certificate_not_after() const;

 private:
  // A file in memory at a fixed /proc/self/fd path, whose contents are replaced in one step.
  class MemoryFile {
   public:
    static absl::StatusOr<MemoryFile> Create(const char* name);
    MemoryFile(MemoryFile&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    MemoryFile& operator=(MemoryFile&&) = delete;
    ~MemoryFile();

    // A new file holding `contents`, with the modification time `modified` (whole seconds).
    static absl::StatusOr<MemoryFile> Written(absl::string_view contents, absl::Time modified);

    std::string path() const;
    // Puts what `next` holds at path().
    absl::Status Take(const MemoryFile& next);

   private:
    explicit MemoryFile(int fd) : fd_(fd) {}
    int fd_;
  };

  TlsMaterial(TlsFiles files, MemoryFile identity, MemoryFile ca);

  // The reload WatchedFiles runs: ReadTlsFiles' outcome, with the files put in force when OK.
  absl::Status Load();

  const TlsFiles files_;  // the operator's
  MemoryFile identity_;   // the key, then the certificate chain
  MemoryFile ca_;
  const TlsFiles in_force_;
  absl::Time last_modified_ = absl::InfinitePast();  // of the copies (the watcher's thread)

  mutable absl::Mutex mu_;
  absl::Time not_after_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<config::WatchedFiles> watched_;  // last: its thread stops before the rest goes
};

}  // namespace hermes::runtime
