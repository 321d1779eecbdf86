// The user store's SQLite schema: the migrations that build it, oldest first. Kept apart from
// sqlite_user_store.cc: the schema's history is read (and reviewed) on its own, and shipped
// migrations are never edited.
#pragma once

#include <span>

#include "libs/storage/migrations.h"

namespace hermes::user {

// Every migration, in version order; storage::OpenStoreFile applies those a file lacks.
std::span<const storage::Migration> UserStoreMigrations();

}  // namespace hermes::user
