// The real store behind a UserStore that forwards every call to it: a test derives from it and
// overrides the one or two calls it watches or hooks (watch_users_test, user_writes_test).
#pragma once

#include <memory>
#include <utility>

#include "services/user/sqlite_user_store.h"
#include "services/user/user_store.h"

namespace hermes::user {

class ForwardingStore : public UserStore {
 public:
  explicit ForwardingStore(std::unique_ptr<SqliteUserStore> store) : store_(std::move(store)) {}

  void SetEventListener(EventListener listener) override {
    store_->SetEventListener(std::move(listener));
  }
  absl::StatusOr<User> Create(const NewUser& user) override { return store_->Create(user); }
  void CreateThen(const NewUser& user, Abandoned abandoned, UserDone done) override {
    store_->CreateThen(user, std::move(abandoned), std::move(done));
  }
  void UpdateThen(const UserUpdate& update, Abandoned abandoned, UserDone done) override {
    store_->UpdateThen(update, std::move(abandoned), std::move(done));
  }
  void DeleteThen(absl::string_view id, Abandoned abandoned, StatusDone done) override {
    store_->DeleteThen(id, std::move(abandoned), std::move(done));
  }
  absl::StatusOr<User> Get(absl::string_view id) override { return store_->Get(id); }
  absl::StatusOr<UserPage> List(const ListUsersQuery& query) override {
    return store_->List(query);
  }
  absl::StatusOr<User> Update(const UserUpdate& update) override { return store_->Update(update); }
  absl::Status Delete(absl::string_view id) override { return store_->Delete(id); }
  absl::StatusOr<EventPage> ReadEvents(const EventQuery& query) override {
    return store_->ReadEvents(query);
  }
  absl::StatusOr<EventRange> RetainedEvents() override { return store_->RetainedEvents(); }
  absl::StatusOr<storage::EventsPruned> PruneEvents(int64_t keep) override {
    return store_->PruneEvents(keep);
  }

 protected:
  SqliteUserStore& real() { return *store_; }

 private:
  std::unique_ptr<SqliteUserStore> store_;
};

}  // namespace hermes::user
