// The SQLite store's schedules (core/schedule.h, DESIGN.md "Schedules"):
// their specs, and the guarded fire that moves a schedule's next fire and
// enqueues its job in one transaction.
#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace jobwarden::sqlite {

Status SqliteStore::ScheduleUpsert(const std::vector<ScheduleUpsertItem>& items, Timestamp now) {
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    for (const ScheduleUpsertItem& item : items) {
      const ScheduleSpec& sp = item.spec;
      Query q(conn, "ScheduleUpsert");
      q.Bind(1, sp.name).Bind(2, sp.cron).Bind(3, sp.timezone).Bind(4, sp.kind).Bind(5, sp.args);
      q.Bind(6, sp.queue).Bind(7, std::string(ToString(sp.catch_up))).Bind(8, item.next_fire_at).Bind(9, now);
      JW_RETURN_IF_ERROR(q.Run());
    }
    return Status::Ok();
  });
  return s.WithContext("store schedules");
}

Result<std::vector<ScheduleInfo>> SqliteStore::ScheduleList() {
  auto conn = readers_.Acquire();
  std::vector<ScheduleInfo> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "ScheduleAll");
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ScheduleInfo info;
      info.spec.name = q.Text(0);
      info.spec.cron = q.Text(1);
      info.spec.timezone = q.Text(2);
      info.spec.kind = q.Text(3);
      info.spec.args = q.Text(4);
      info.spec.queue = q.Text(5);
      info.spec.catch_up = ParseCatchUp(q.Text(6)).value_or(CatchUp::kOne);
      info.next_fire_at = q.Time(7);
      info.last_fire_at = q.OptTime(8);
      info.last_job_id = q.OptInt(9);
      info.updated_at = q.Time(10);
      out.push_back(std::move(info));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("list schedules");
  return out;
}

Result<ScheduleFireResult> SqliteStore::ScheduleFire(const ScheduleFireParams& p) {
  ScheduleFireResult out;
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    out = {};
    Query advance(conn, "ScheduleAdvance");
    advance.Bind(1, p.name).Bind(2, p.next_fire_at).Bind(3, p.job ? p.fire : std::nullopt).Bind(4, p.now);
    advance.Bind(5, p.expected_next_fire_at);
    JW_RETURN_IF_ERROR(advance.Run());
    if (conn.Changes() != 1) return Status::Ok();  // another process fired it (or it is gone)
    out.won = true;
    if (!p.job) return Status::Ok();
    JW_ASSIGN_OR_RETURN(InsertedJob inserted, InsertIn(conn, *p.job, p.now));
    out.job = inserted;
    Query last(conn, "ScheduleSetLastJob");
    last.Bind(1, p.name).Bind(2, inserted.id);
    return last.Run();
  });
  if (!s.ok()) return s.WithContext("fire schedule '" + p.name + "'");
  return out;
}

}  // namespace jobwarden::sqlite
