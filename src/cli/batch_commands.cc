// The batch subcommands (DESIGN.md "Batches", docs/cli.md):
//   jobwarden batch submit FILE.json     (FILE or - for stdin; the body of POST /v1/batches)
//   jobwarden batch status ID [--json] [--watch]
//   jobwarden batch ls [--state S] [--limit N] [--json]
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "cli/command_support.h"
#include "cli/job_target.h"
#include "cli/output.h"
#include "protocol/batch_json.h"

namespace jobwarden::cli {

namespace {

// The file's JSON (or stdin's, for "-"), parsed as POST /v1/batches' body.
Result<BatchRequest> ReadBatchFile(const std::string& path) {
  std::string text;
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::InvalidArgument(path + ": cannot be read");
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  const nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Status::InvalidArgument(path + ": not valid JSON");
  auto request = ParseBatchRequest(body);
  if (!request.ok()) return request.status().WithContext(path);
  return request;
}

std::string Counts(const BatchInfo& b) {
  std::string out;
  for (JobState s : kAllJobStates) {
    const auto n = b.counts[static_cast<std::size_t>(s)];
    if (n == 0) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + std::string(ToString(s));
  }
  return out.empty() ? "no members" : out;
}

void PrintBatch(std::ostream& out, const BatchInfo& b, Timestamp now) {
  out << "batch " << b.id << (b.name ? " (" + *b.name + ")" : std::string()) << ": " << ToString(b.state) << "\n";
  out << "  members   " << b.total << " (" << Counts(b) << "); succeeds with " << b.min_succeeded << "\n";
  if (b.deadline_at) {
    out << "  deadline  " << FormatRfc3339(*b.deadline_at);
    if (b.state == BatchState::kRunning) {
      out << (*b.deadline_at > now ? " (in " + FormatDurationShort(*b.deadline_at - now) + ")" : " (passed)");
    }
    out << "\n";
  }
  out << "  created   " << FormatRfc3339(b.created_at) << "\n";
  if (b.finished_at) out << "  finished  " << FormatRfc3339(*b.finished_at) << "\n";
  if (b.parent_id) out << "  parent    job " << FormatJobId(*b.parent_id) << "\n";
  if (b.callback_job_id) out << "  callback  job " << FormatJobId(*b.callback_job_id) << "\n";
  if (b.members.empty()) return;
  out << std::left << std::setw(10) << "  ID" << std::setw(16) << "KIND" << std::setw(11) << "STATE" << std::setw(9)
      << "ATTEMPTS" << std::setw(10) << "TOOK"
      << "ERROR\n";
  for (const BatchMember& m : b.members) {
    std::string error = "-";
    if (m.error_class) {
      error = std::string(ToString(*m.error_class)) + (m.error_limit ? " (" + *m.error_limit + ")" : "") + ": " +
              m.error_message;
    }
    out << "  " << std::left << std::setw(8) << FormatJobId(m.id) << std::setw(16) << m.kind << std::setw(11)
        << ToString(m.state) << std::setw(9) << m.attempts << std::setw(10)
        << (m.duration ? FormatDurationShort(*m.duration) : std::string("-")) << error << "\n";
  }
}

// --- batch submit -------------------------------------------------------------

struct SubmitOptions {
  std::string file;
  bool json = false;
};

void AddSubmit(CLI::App& batch, GlobalOptions& global, Action& action) {
  AddCommand<SubmitOptions>(
      batch, action, "submit", "Submit a batch: FILE.json (or - for stdin) is POST /v1/batches' body",
      [&global](const SubmitOptions& o) {
        // Checked before the target is opened: bad input is exit 2 and touches nothing.
        auto request = ReadBatchFile(o.file);
        if (!request.ok()) return Fail(request.status());
        return WithTarget(global, [&](JobTarget& t) -> Status {
          JW_ASSIGN_OR_RETURN(BatchInfo b, t.SubmitBatch(*request));
          if (o.json) {
            PrintJson(std::cout, nlohmann::json::parse(EncodeBatchJson(b)));
          } else {
            std::cout << b.id << "\n";
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, SubmitOptions& o) {
        cmd.add_option("FILE", o.file, "The batch as JSON: {\"jobs\": [...], \"deadline_s\", \"callback\", ...}")
            ->required();
        cmd.add_flag("--json", o.json, "Print the batch JSON instead of its id");
      });
}

// --- batch status -------------------------------------------------------------

struct StatusOptions {
  std::string id;
  bool json = false;
  bool watch = false;
};

// --watch: on a terminal the view is redrawn every second; otherwise each
// member's change of state is one line, so a log keeps the history.
Status Watch(JobTarget& t, const std::string& id) {
  const bool tty = isatty(STDOUT_FILENO) != 0;
  std::map<JobId, JobState> seen;
  bool first = true;
  while (true) {
    JW_ASSIGN_OR_RETURN(BatchInfo b, t.Batch(id));
    if (tty) {
      std::cout << "\033[H\033[J";
      PrintBatch(std::cout, b, t.Now());
    } else {
      if (first) std::cout << "batch " << b.id << ": " << ToString(b.state) << ", " << Counts(b) << "\n";
      for (const BatchMember& m : b.members) {
        auto [it, fresh] = seen.try_emplace(m.id, m.state);
        if (!fresh && it->second == m.state) continue;
        it->second = m.state;
        if (first && !IsTerminal(m.state)) continue;
        std::cout << "member " << FormatJobId(m.id) << " [" << m.kind << "] " << ToString(m.state);
        if (m.error_class) std::cout << ": " << ToString(*m.error_class) << ": " << m.error_message;
        std::cout << "\n";
      }
      if (b.state != BatchState::kRunning) {
        std::cout << "batch " << b.id << ": " << ToString(b.state) << ", " << Counts(b)
                  << (b.callback_job_id ? "; callback job " + FormatJobId(*b.callback_job_id) : std::string()) << "\n";
      }
    }
    std::cout.flush();
    first = false;
    if (b.state != BatchState::kRunning) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void AddStatus(CLI::App& batch, GlobalOptions& global, Action& action) {
  AddCommand<StatusOptions>(
      batch, action, "status", "A batch: state, counts and every member's outcome",
      [&global](const StatusOptions& o) {
        return WithTarget(global, [&](JobTarget& t) -> Status {
          Refresh(t);
          if (o.watch) return Watch(t, o.id);
          JW_ASSIGN_OR_RETURN(BatchInfo b, t.Batch(o.id));
          if (o.json) {
            PrintJson(std::cout, nlohmann::json::parse(EncodeBatchJson(b)));
          } else {
            PrintBatch(std::cout, b, t.Now());
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, StatusOptions& o) {
        cmd.add_option("ID", o.id, "The batch id")->required();
        cmd.add_flag("--json", o.json, "Print the batch JSON");
        cmd.add_flag("--watch", o.watch, "Show members finishing until the batch is finished")->excludes("--json");
      });
}

// --- batch ls -------------------------------------------------------------------

struct ListOptions {
  std::string state;
  int limit = 20;
  bool json = false;
};

void AddList(CLI::App& batch, GlobalOptions& global, Action& action) {
  AddCommand<ListOptions>(
      batch, action, "ls", "Batches, newest first",
      [&global](const ListOptions& o) {
        BatchListParams p;
        p.limit = o.limit;
        if (!o.state.empty()) {
          p.state = ParseBatchState(o.state);
          if (!p.state) {
            return Fail(Status::InvalidArgument("--state: '" + o.state + "' is not one of running, succeeded, failed"));
          }
        }
        return WithTarget(global, [&](JobTarget& t) -> Status {
          Refresh(t);
          JW_ASSIGN_OR_RETURN(std::vector<BatchInfo> batches, t.Batches(p));
          if (o.json) {
            nlohmann::json list = nlohmann::json::array();
            for (const BatchInfo& b : batches) list.push_back(nlohmann::json::parse(EncodeBatchJson(b, false)));
            PrintJson(std::cout, list);
            return Status::Ok();
          }
          if (batches.empty()) {
            std::cout << "no batches\n";
            return Status::Ok();
          }
          std::cout << std::left << std::setw(8) << "ID" << std::setw(20) << "NAME" << std::setw(11) << "STATE"
                    << std::setw(26) << "CREATED"
                    << "MEMBERS\n";
          for (const BatchInfo& b : batches) {
            std::cout << std::left << std::setw(8) << b.id << std::setw(20) << b.name.value_or("-") << std::setw(11)
                      << ToString(b.state) << std::setw(26) << FormatRfc3339(b.created_at) << b.total << " ("
                      << Counts(b) << ")\n";
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, ListOptions& o) {
        cmd.add_option("--state", o.state, "Only batches in this state (running, succeeded, failed)");
        cmd.add_option("--limit", o.limit, "At most this many (1-1000)")->check(CLI::Range(1, 1000));
        cmd.add_flag("--json", o.json, "Print a JSON array of batches (without members)");
      });
}

}  // namespace

void AddBatchCommands(CLI::App& app, GlobalOptions& global, Action& action) {
  CLI::App* batch = app.add_subcommand("batch", "Batches: fan-out with a deadline and one callback");
  batch->require_subcommand(1);
  AddSubmit(*batch, global, action);
  AddStatus(*batch, global, action);
  AddList(*batch, global, action);
}

}  // namespace jobwarden::cli
