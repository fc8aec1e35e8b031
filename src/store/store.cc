#include "store/store.h"

#include <spdlog/spdlog.h>

namespace jobwarden {

std::string_view ToString(Durability d) { return d == Durability::kPower ? "power" : "process"; }

std::optional<Durability> ParseDurability(std::string_view s) {
  if (s == "process") return Durability::kProcess;
  if (s == "power") return Durability::kPower;
  return std::nullopt;
}

Result<WorkerRecord> WorkerStore::WorkerGet(const std::string& id) {
  JW_ASSIGN_OR_RETURN(std::vector<WorkerRecord> workers, WorkerList(true));
  for (WorkerRecord& w : workers) {
    if (w.id == id) return std::move(w);
  }
  return Status::NotFound("worker " + id + " is not registered");
}

Result<CompleteAndFetchResult> JobStore::JobCompleteManyAndFetch(const JobCompleteParams& complete,
                                                                 const JobFetchParams& fetch) {
  CompleteAndFetchResult out;
  JW_ASSIGN_OR_RETURN(out.completed, JobCompleteMany(complete));
  // The completes are written: their answers must reach the caller even if
  // the fetch fails (it leases nothing then, and the worker fetches again).
  auto fetched = JobFetch(fetch);
  if (fetched.ok()) {
    out.fetched = std::move(fetched).value();
  } else {
    spdlog::warn("complete-and-fetch: the completes were written, the fetch failed: {}", fetched.status().ToString());
  }
  return out;
}

}  // namespace jobwarden
