// Flow control (DESIGN.md "Flow control"): the limits a queue and a resource
// can carry, and the two pieces of pure logic that enforce rates and stop
// calling a service that does not work: the token bucket and the circuit
// breaker. Pure code with the time passed in: the store persists the state
// these functions change, inside the transaction that leases or settles the
// job, so every server and worker on one database obeys the same numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error_class.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden {

// --- rates -------------------------------------------------------------------

// A rate: "N/s", "N/min" or "N/h" with N a positive number (fractions allowed:
// "0.5/s"). `text` keeps the user's unit, normalized ("10/s", "600/min").
struct Rate {
  double per_second = 0;
  std::string text;
  friend bool operator==(const Rate&, const Rate&) = default;
};
// Errors name the value and the accepted forms.
Result<Rate> ParseRate(std::string_view text);

// --- token bucket ------------------------------------------------------------

// A bucket that fills at `rate` tokens per second up to `burst`. A job spends
// its `cost` in tokens when it is leased. A cost larger than the burst is taken
// from a full bucket (the bucket goes into debt), so such a job is slowed, not
// held forever.
struct TokenBucket {
  double tokens = 0;
  Timestamp updated_at{};
  friend bool operator==(const TokenBucket&, const TokenBucket&) = default;
};

// A full bucket at `now` (a new resource, or one whose rate was just set).
TokenBucket FullBucket(double burst, Timestamp now);
// Adds what `rate_per_s` earned since updated_at, capped at `burst`.
// A clock that went backwards earns nothing (and does not take tokens away).
void Refill(TokenBucket& b, double rate_per_s, double burst, Timestamp now);
// Refills, then takes `cost` tokens if the bucket holds them (or is full, for a
// cost above the burst). True when taken.
bool TryTake(TokenBucket& b, double rate_per_s, double burst, double cost, Timestamp now);
// The earliest time at which TryTake(cost) would succeed: `now` if it would now,
// Timestamp::max() if never (no positive rate).
Timestamp WhenAvailable(const TokenBucket& b, double rate_per_s, double burst, double cost, Timestamp now);

// --- circuit breaker ---------------------------------------------------------

enum class BreakerState : std::uint8_t { kClosed, kOpen, kHalfOpen };
std::string_view ToString(BreakerState s);  // "closed", "open", "half_open"
std::optional<BreakerState> ParseBreakerState(std::string_view s);
// For metrics: closed 0, half_open 1, open 2.
int BreakerStateNumber(BreakerState s);

struct BreakerConfig {
  int failures = 0;  // consecutive failures that open it; 0 = no breaker
  Duration cooldown = std::chrono::seconds(30);
  friend bool operator==(const BreakerConfig&, const BreakerConfig&) = default;
};

struct Breaker {
  BreakerState state = BreakerState::kClosed;
  int failures = 0;                     // consecutive counted failures
  std::optional<Timestamp> open_until;  // set while open
  // The half-open probe: the job leased to test the service, while it runs.
  std::optional<std::int64_t> probe_job;
  friend bool operator==(const Breaker&, const Breaker&) = default;
};

// How one ended run of a job of the resource counts for its breaker.
enum class BreakerOutcome : std::uint8_t {
  kSuccess,  // resets the count; the probe's success closes the breaker
  kFailure,  // transient, timeout, stalled, crashed, rate_limited
  kNeutral,  // permanent, interrupted, cancelled, worker_lost, lease_expired
};
BreakerOutcome BreakerOutcomeFor(ErrorClass c);

// open -> half_open once the cooldown has ended. True when the state changed.
bool AdvanceBreaker(Breaker& b, Timestamp now);
// Whether a job of the resource may be leased now (call AdvanceBreaker first):
// closed yes, open no, half_open only while no probe runs. `probe_running`
// says whether b.probe_job is still running under the lease it got as the
// probe (the store checks), so a probe lost without an outcome frees the slot.
bool BreakerAllowsLease(const Breaker& b, bool probe_running);
// Records a lease: in half_open the leased job becomes the probe.
void OnBreakerLease(Breaker& b, std::int64_t job_id);
// Records the outcome of a run of `job_id`. True when the state changed (the
// `state` field: `failures` and `probe_job` can change without it, so a caller
// persists whenever the Breaker differs from before).
// closed: success resets the count; a failure counts, and the threshold-th
// opens the breaker until now + cooldown. open: nothing changes (runs leased
// before it opened are ignored). half_open: only the probe's outcome counts —
// success closes, failure opens for another cooldown, neutral frees the probe
// slot so another probe can be leased.
bool OnBreakerOutcome(Breaker& b, const BreakerConfig& config, BreakerOutcome outcome, std::int64_t job_id,
                      Timestamp now);

// --- limits ------------------------------------------------------------------

// A queue's flow-control settings (persisted in the store).
struct QueueLimits {
  std::optional<int> concurrency;          // unset = unlimited; 1 = sequential mode
  std::optional<std::int64_t> warn_depth;  // available jobs over this: a warning
  std::optional<Duration> warn_age;        // oldest available older than this: a warning
  bool empty() const { return !concurrency && !warn_depth && !warn_age; }
  friend bool operator==(const QueueLimits&, const QueueLimits&) = default;
};

// A resource's flow-control settings (persisted in the store).
struct ResourceLimits {
  std::optional<int> concurrency;  // unset = unlimited
  std::optional<Rate> rate;        // unset = unlimited
  std::optional<double> burst;     // only with rate; default: the rate's N
  BreakerConfig breaker;           // failures 0 = no breaker
  bool empty() const { return !concurrency && !rate && breaker.failures == 0; }
  // The bucket size in force: burst, else the N of "N/unit".
  double EffectiveBurst() const;
  friend bool operator==(const ResourceLimits&, const ResourceLimits&) = default;
};

// Checks limits as the API and the TOML file give them; the message names the
// field with its API spelling ("concurrency: must be at least 1").
Status ValidateQueueLimits(const QueueLimits& l);
Status ValidateResourceLimits(const ResourceLimits& l);

// A queue warning's reason, as in the gauge's `reason` label and the event.
inline constexpr std::string_view kWarnDepth = "depth";
inline constexpr std::string_view kWarnAge = "age";

}  // namespace jobwarden
