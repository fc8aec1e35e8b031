#include "client/discovery.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <system_error>

#include "os/process_identity.h"

namespace jobwarden {

namespace fs = std::filesystem;

fs::path DiscoveryFile(const fs::path& state_dir) { return state_dir / "server.json"; }

Status WriteDiscovery(const fs::path& file, const ServerDiscovery& d) {
  nlohmann::json j = {
      {"url", d.url}, {"pid", d.pid}, {"db", d.db}, {"session_epoch", d.session_epoch}, {"started_at", d.started_at}};
  if (d.pid_start_time) j["pid_start_time"] = *d.pid_start_time;
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) return Status::Unavailable("write " + file.string() + ": " + ec.message());
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << '\n';
    if (!out) return Status::Unavailable("write " + tmp.string() + ": failed");
  }
  fs::rename(tmp, file, ec);
  if (ec) return Status::Unavailable("write " + file.string() + ": " + ec.message());
  return Status::Ok();
}

Result<ServerDiscovery> ReadDiscovery(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return Status::NotFound(file.string() + ": no discovery file");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](const std::string& why) { return Status::InvalidArgument(file.string() + ": " + why); };
  if (!j.is_object()) return bad("not a JSON object");
  if (!j.contains("url") || !j["url"].is_string()) return bad("no \"url\" string");
  if (!j.contains("pid") || !j["pid"].is_number_integer()) return bad("no \"pid\" integer");
  ServerDiscovery d;
  d.url = j["url"].get<std::string>();
  d.pid = j["pid"].get<std::int64_t>();
  if (j.contains("pid_start_time") && j["pid_start_time"].is_number_integer()) {
    d.pid_start_time = j["pid_start_time"].get<std::int64_t>();
  }
  if (j.contains("db") && j["db"].is_string()) d.db = j["db"].get<std::string>();
  if (j.contains("session_epoch") && j["session_epoch"].is_number_integer()) {
    d.session_epoch = j["session_epoch"].get<std::int64_t>();
  }
  if (j.contains("started_at") && j["started_at"].is_string()) d.started_at = j["started_at"].get<std::string>();
  return d;
}

namespace {

// Two spellings of one file ("var/x.db", "/srv/app/var/x.db") are equal.
bool SameFile(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  const bool same = fs::equivalent(a, b, ec);
  if (!ec) return same;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

}  // namespace

Result<std::optional<ServerDiscovery>> FindServerFor(const fs::path& db) {
  const fs::path file = DiscoveryFile(db.has_parent_path() ? db.parent_path() : fs::path("."));
  Result<ServerDiscovery> d = ReadDiscovery(file);
  if (!d.ok()) {
    if (d.status().code() == StatusCode::kNotFound) return std::optional<ServerDiscovery>();
    return d.status();
  }
  // A server that died without removing its file: the pid is gone or reused.
  const std::optional<std::int64_t> started = ProcessStartTime(static_cast<pid_t>(d->pid));
  if (!started || (d->pid_start_time && *d->pid_start_time != *started)) {
    spdlog::debug("{}: server pid {} is gone; using the database file", file.string(), d->pid);
    return std::optional<ServerDiscovery>();
  }
  if (!d->db.empty() && !SameFile(d->db, db)) {
    spdlog::debug("{}: the server serves {}, not {}", file.string(), d->db, db.string());
    return std::optional<ServerDiscovery>();
  }
  return std::optional<ServerDiscovery>(std::move(d).value());
}

}  // namespace jobwarden
