#include "store/open_store.h"

#include <cctype>
#include <filesystem>

#include "store/sqlite/sqlite_store.h"

namespace jobwarden {

namespace {

// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":". A single
// letter is not taken for a scheme, so "C:..."-like names stay paths.
std::optional<std::string_view> Scheme(std::string_view url) {
  const std::size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon < 2) return std::nullopt;
  if (!std::isalpha(static_cast<unsigned char>(url[0]))) return std::nullopt;
  for (std::size_t i = 1; i < colon; ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  return url.substr(0, colon);
}

}  // namespace

Result<StoreLocation> ParseStoreUrl(std::string_view url) {
  if (url.empty())
    return Status::InvalidArgument("the database URL is empty (expected sqlite:PATH, a path, or postgresql://...)");
  const auto scheme = Scheme(url);
  if (!scheme) return StoreLocation{StoreDriver::kSqlite, std::string(url)};
  if (*scheme == "sqlite") {
    std::string_view path = url.substr(scheme->size() + 1);
    if (path.substr(0, 2) == "//") path.remove_prefix(2);
    if (path.empty()) return Status::InvalidArgument("'" + std::string(url) + "': no file after sqlite:");
    return StoreLocation{StoreDriver::kSqlite, std::string(path)};
  }
  if (*scheme == "postgresql" || *scheme == "postgres") return StoreLocation{StoreDriver::kPostgres, std::string(url)};
  return Status::InvalidArgument("'" + std::string(url) + "': unknown database scheme '" + std::string(*scheme) +
                                 "' (expected sqlite:PATH, a path, or postgresql://...)");
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view url, const OpenStoreOptions& options) {
  JW_ASSIGN_OR_RETURN(const StoreLocation where, ParseStoreUrl(url));
  switch (where.driver) {
    case StoreDriver::kPostgres:
      return Status::InvalidArgument("'" + std::string(url) + "': this build has no PostgreSQL driver");
    case StoreDriver::kSqlite: {
      const std::filesystem::path path(where.target);
      if (options.create_directories && path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec) {
          return Status::Unavailable("'" + std::string(url) + "': cannot create directory '" +
                                     path.parent_path().string() + "': " + ec.message());
        }
      }
      auto store = OpenSqliteStore({.path = where.target, .durability = options.durability});
      if (!store.ok()) {
        // Whatever the driver's code, a database that cannot be opened is infrastructure.
        return Status::Unavailable("'" + std::string(url) + "': cannot open the database: " + store.status().message());
      }
      return std::move(store).value();
    }
  }
  return Status::Internal("unknown store driver");
}

}  // namespace jobwarden
