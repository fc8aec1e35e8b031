// Opening a store by URL: the one place that knows which drivers exist.
//
//   sqlite:PATH, sqlite://PATH   the SQLite driver on the file PATH
//   PATH                         (no scheme) the same
//   postgresql://…, postgres://… the PostgreSQL driver (not in this build yet)
//
// Every process that opens a store (server, `up`, embedded worker, the CLI on
// a local file) goes through OpenStore, so a new driver is one branch here.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/store.h"

namespace jobwarden {

enum class StoreDriver { kSqlite, kPostgres };

struct StoreLocation {
  StoreDriver driver = StoreDriver::kSqlite;
  std::string target;  // SQLite: the file path as given; PostgreSQL: the libpq URI
};

// Parses a --db value. kInvalidArgument naming the value for an empty one or
// an unknown scheme.
Result<StoreLocation> ParseStoreUrl(std::string_view url);

struct OpenStoreOptions {
  Durability durability = Durability::kProcess;  // Default: process
  // SQLite: create the file's directory when missing.
  bool create_directories = true;
};

// Opens (creating and migrating if needed) the store `url` names. Errors name
// the value: kInvalidArgument for a URL that names no driver of this build,
// kUnavailable for a database that cannot be opened.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url, const OpenStoreOptions& options = {});

}  // namespace jobwarden
