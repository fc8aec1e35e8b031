// `jobwarden server [--db PATH] [--config FILE] [--listen HOST:PORT] [--state-dir DIR]`
#include <memory>
#include <optional>

#include "app/server_app.h"
#include "cli/cli.h"

namespace jobwarden::cli {

namespace {

struct ServerFlags {
  std::string config;
  std::string listen;
  std::string state_dir;
  std::string durability = "process";
};

}  // namespace

void AddServerCommands(CLI::App& app, GlobalOptions& global, Action& action) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* cmd =
      app.add_subcommand("server", "Run the HTTP/JSON API (and the reaper) on the database; stops cleanly on SIGTERM");
  cmd->add_option("--config", flags->config, "TOML config file: [server] settings and tokens, [kinds.*] defaults")
      ->envname("JOBWARDEN_CONFIG");
  cmd->add_option("--listen", flags->listen,
                  "HOST:PORT to listen on (default 127.0.0.1:7070; port 0 picks a free port and prints it)");
  cmd->add_option("--state-dir", flags->state_dir,
                  "Where server.json (the discovery file) is written (default: the database's directory)");
  cmd->add_option("--durability", flags->durability, "process (survives crashes) or power (survives power loss)")
      ->check(CLI::IsMember({"process", "power"}))
      ->capture_default_str();
  cmd->callback([&global, &action, flags] {
    action = [&global, flags] {
      ServerRunOptions o;
      o.db_path = global.db;
      o.config_path = flags->config;
      if (!flags->listen.empty()) o.listen = flags->listen;
      if (!flags->state_dir.empty()) o.state_dir = flags->state_dir;
      o.durability = *ParseDurability(flags->durability);
      o.log_format = global.log_format;
      const Status s = RunServer(o);
      return s.ok() ? kExitOk : Fail(s);
    };
  });
}

}  // namespace jobwarden::cli
