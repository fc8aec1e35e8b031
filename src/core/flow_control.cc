#include "core/flow_control.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>

namespace jobwarden {

namespace {

// Above this a rate is a typo, not a limit; it also keeps every bucket
// computation far from overflow.
constexpr double kMaxPerSecond = 1e9;

constexpr std::string_view kRateForms = "expected N/s, N/min or N/h with N a positive number";

struct RateParts {
  double n = 0;
  std::string_view unit;
  double unit_seconds = 0;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "N/unit" with N = digits[.digits]: no sign, exponent, spaces, "nan" or "inf",
// so what is accepted is exactly what the error message describes.
std::optional<RateParts> SplitRate(std::string_view s) {
  const std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view number = s.substr(0, slash);
  const std::string_view unit = s.substr(slash + 1);
  const std::size_t dot = number.find('.');
  if (!IsDigits(number.substr(0, dot))) return std::nullopt;
  if (dot != std::string_view::npos && !IsDigits(number.substr(dot + 1))) return std::nullopt;
  RateParts parts;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), parts.n);
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  parts.unit = unit;
  if (unit == "s") {
    parts.unit_seconds = 1;
  } else if (unit == "min") {
    parts.unit_seconds = 60;
  } else if (unit == "h") {
    parts.unit_seconds = 3600;
  } else {
    return std::nullopt;
  }
  return parts;
}

// The shortest decimal that reads back as `v`, never in exponent form, so a
// normalized rate parses again ("10", "0.5", "1000000000").
std::string FormatNumber(double v) {
  char buf[512];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  if (ec != std::errc()) return "?";
  return std::string(buf, end);
}

std::string AtLeast(std::string_view field, std::string_view min, std::string_view got) {
  return std::string(field) + ": must be at least " + std::string(min) + " (got " + std::string(got) + ")";
}

Status ValidateConcurrency(const std::optional<int>& concurrency) {
  if (concurrency && *concurrency < 1) {
    return Status::InvalidArgument(AtLeast("concurrency", "1", std::to_string(*concurrency)) +
                                   "; omit it for unlimited");
  }
  return Status::Ok();
}

}  // namespace

// --- rates -------------------------------------------------------------------

Result<Rate> ParseRate(std::string_view text) {
  const std::string quoted = "rate \"" + std::string(text) + "\": ";
  const std::optional<RateParts> parts = SplitRate(Trim(text));
  if (!parts || !(parts->n > 0) || !std::isfinite(parts->n)) {
    return Status::InvalidArgument(quoted + std::string(kRateForms));
  }
  const double per_second = parts->n / parts->unit_seconds;
  if (per_second > kMaxPerSecond) {
    return Status::InvalidArgument(quoted + "more than " + FormatNumber(kMaxPerSecond) + " per second; " +
                                   std::string(kRateForms));
  }
  return Rate{per_second, FormatNumber(parts->n) + "/" + std::string(parts->unit)};
}

// --- token bucket ------------------------------------------------------------

TokenBucket FullBucket(double burst, Timestamp now) { return TokenBucket{burst, now}; }

void Refill(TokenBucket& b, double rate_per_s, double burst, Timestamp now) {
  // Backwards (or no) time: keep updated_at, so the earnings resume from the
  // latest time seen once the clock is past it again.
  if (now <= b.updated_at) return;
  const double earned = rate_per_s > 0 ? rate_per_s * ToSeconds(now - b.updated_at) : 0;
  b.tokens = std::min(burst, b.tokens + earned);
  b.updated_at = now;
}

bool TryTake(TokenBucket& b, double rate_per_s, double burst, double cost, Timestamp now) {
  Refill(b, rate_per_s, burst, now);
  // A cost above the burst could never be held: a full bucket pays for it.
  const double need = std::min(cost, burst);
  if (!(b.tokens >= need)) return false;
  b.tokens -= cost;
  return true;
}

Timestamp WhenAvailable(const TokenBucket& b, double rate_per_s, double burst, double cost, Timestamp now) {
  auto takeable_at = [&](Timestamp t) {
    TokenBucket copy = b;
    return TryTake(copy, rate_per_s, burst, cost, t);
  };
  if (takeable_at(now)) return now;
  constexpr Timestamp kNever = Timestamp::max();
  if (!(rate_per_s > 0)) return kNever;
  // The estimate from the formula can be a millisecond off either way after
  // rounding; TryTake is what must succeed, so settle on the first millisecond
  // at which it does (refills are monotonic in time, so the search is short).
  const double wait_ms = std::ceil((std::min(cost, burst) - b.tokens) / rate_per_s * 1000.0);
  if (!(wait_ms < 1e15)) return kNever;  // ~30,000 years: never, and no overflow
  constexpr Duration kMs(1);
  Timestamp t = std::max(now + kMs, b.updated_at + Duration(static_cast<std::int64_t>(wait_ms)));
  for (int i = 0; !takeable_at(t); ++i) {
    if (i == 1000) return kNever;  // only if the inputs are not numbers
    t += kMs;
  }
  while (t - kMs > now && takeable_at(t - kMs)) t -= kMs;
  return t;
}

// --- circuit breaker ---------------------------------------------------------

std::string_view ToString(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "closed";
}

std::optional<BreakerState> ParseBreakerState(std::string_view s) {
  for (BreakerState st : {BreakerState::kClosed, BreakerState::kOpen, BreakerState::kHalfOpen}) {
    if (ToString(st) == s) return st;
  }
  return std::nullopt;
}

int BreakerStateNumber(BreakerState s) {
  // Ordered by how much is let through, so a graph reads as "higher is worse".
  switch (s) {
    case BreakerState::kClosed: return 0;
    case BreakerState::kHalfOpen: return 1;
    case BreakerState::kOpen: return 2;
  }
  return 0;
}

BreakerOutcome BreakerOutcomeFor(ErrorClass c) {
  switch (c) {
    case ErrorClass::kTransient:
    case ErrorClass::kTimeout:
    case ErrorClass::kStalled:
    case ErrorClass::kCrashed:
    case ErrorClass::kRateLimited: return BreakerOutcome::kFailure;
    // Not the service's fault: bad input, shutdown, a person, or the worker.
    case ErrorClass::kPermanent:
    case ErrorClass::kInterrupted:
    case ErrorClass::kCancelled:
    case ErrorClass::kWorkerLost:
    case ErrorClass::kLeaseExpired: return BreakerOutcome::kNeutral;
  }
  return BreakerOutcome::kNeutral;
}

bool AdvanceBreaker(Breaker& b, Timestamp now) {
  if (b.state != BreakerState::kOpen) return false;
  // An open breaker without an end (never written that way) must not stay open forever.
  if (b.open_until && *b.open_until > now) return false;
  b.state = BreakerState::kHalfOpen;
  b.open_until.reset();
  b.probe_job.reset();
  return true;
}

bool BreakerAllowsLease(const Breaker& b, bool probe_running) {
  switch (b.state) {
    case BreakerState::kClosed: return true;
    case BreakerState::kOpen: return false;
    case BreakerState::kHalfOpen: return !b.probe_job || !probe_running;
  }
  return false;
}

void OnBreakerLease(Breaker& b, std::int64_t job_id) {
  if (b.state == BreakerState::kHalfOpen) b.probe_job = job_id;
}

bool OnBreakerOutcome(Breaker& b, const BreakerConfig& config, BreakerOutcome outcome, std::int64_t job_id,
                      Timestamp now) {
  if (config.failures <= 0) return false;  // no breaker: not even the count moves
  auto open = [&] {
    b.state = BreakerState::kOpen;
    b.open_until = now + config.cooldown;
    b.probe_job.reset();
  };
  switch (b.state) {
    case BreakerState::kClosed:
      if (outcome == BreakerOutcome::kSuccess) {
        b.failures = 0;
      } else if (outcome == BreakerOutcome::kFailure && ++b.failures >= config.failures) {
        open();
        return true;
      }
      return false;
    case BreakerState::kOpen: return false;
    case BreakerState::kHalfOpen:
      if (b.probe_job != job_id) return false;  // leased before the breaker opened
      switch (outcome) {
        case BreakerOutcome::kSuccess: b = Breaker{}; return true;
        case BreakerOutcome::kFailure:
          ++b.failures;
          open();
          return true;
        case BreakerOutcome::kNeutral:
          b.probe_job.reset();  // the probe proved nothing: let another one run
          return false;
      }
      return false;
  }
  return false;
}

// --- limits ------------------------------------------------------------------

double ResourceLimits::EffectiveBurst() const {
  if (burst) return *burst;
  if (!rate) return 0;
  // N from the text, exactly as written: per_second * 60 need not give 0.1 back for "0.1/min".
  if (const std::optional<RateParts> parts = SplitRate(rate->text)) return parts->n;
  return rate->per_second;
}

Status ValidateQueueLimits(const QueueLimits& l) {
  JW_RETURN_IF_ERROR(ValidateConcurrency(l.concurrency));
  if (l.warn_depth && *l.warn_depth < 1) {
    return Status::InvalidArgument(AtLeast("warn_depth", "1", std::to_string(*l.warn_depth)));
  }
  if (l.warn_age && *l.warn_age < Duration(1)) {
    return Status::InvalidArgument(AtLeast("warn_age", "1ms", FormatDurationShort(*l.warn_age)));
  }
  return Status::Ok();
}

Status ValidateResourceLimits(const ResourceLimits& l) {
  JW_RETURN_IF_ERROR(ValidateConcurrency(l.concurrency));
  if (l.rate) {
    // A Rate not made by ParseRate (a hand-built or stored one) gets the same check.
    const Result<Rate> parsed = ParseRate(l.rate->text);
    if (!parsed.ok()) return parsed.status();
  }
  if (l.burst) {
    if (!l.rate) return Status::InvalidArgument("burst: needs a rate");
    if (!std::isfinite(*l.burst)) return Status::InvalidArgument("burst: must be a finite number");
    if (*l.burst < 1) return Status::InvalidArgument(AtLeast("burst", "1", FormatNumber(*l.burst)));
  }
  if (l.breaker.failures < 0) {
    return Status::InvalidArgument(AtLeast("breaker_failures", "0", std::to_string(l.breaker.failures)) +
                                   "; 0 turns the breaker off");
  }
  if (l.breaker.cooldown < std::chrono::seconds(1)) {
    return Status::InvalidArgument(AtLeast("breaker_cooldown", "1s", FormatDurationShort(l.breaker.cooldown)));
  }
  return Status::Ok();
}

}  // namespace jobwarden
