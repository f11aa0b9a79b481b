//! Reading call records for the API and the CLI: a page of calls (newest
//! first, filtered) and one call with its turns. Read-only connections, so a
//! reader never blocks the writer thread (WAL).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::{call_row, turns, CallRecord, TurnRecord, CALL_COLUMNS};

/// Most calls one page returns.
pub const MAX_LIMIT: usize = 500;

/// Which calls to list. All filters are optional and combine with AND.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub limit: usize,
    pub offset: usize,
    /// Only calls started after the call with this id (older ones), for
    /// paging that does not shift when new calls arrive.
    pub before: Option<String>,
    pub outcome: Option<String>,
    /// Only calls to this hotline (`server::hotline`).
    pub hotline: Option<String>,
    /// Started at or after this Unix time in ms.
    pub since_ms: Option<i64>,
    /// Started before this Unix time in ms.
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallPage {
    pub calls: Vec<CallRecord>,
    /// Calls matching the filters (without paging).
    pub total: u64,
}

/// One call and what was said on it.
#[derive(Debug, Clone, Serialize)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: CallRecord,
    pub turns: Vec<TurnRecord>,
}

fn open_read(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// A page of calls, newest first.
pub fn list(path: &Path, q: &CallQuery) -> rusqlite::Result<CallPage> {
    let conn = open_read(path)?;
    let mut filters: Vec<&str> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(o) = &q.outcome {
        filters.push("outcome = ?");
        args.push(o.clone().into());
    }
    if let Some(h) = &q.hotline {
        filters.push("hotline = ?");
        args.push(h.clone().into());
    }
    if let Some(t) = q.since_ms {
        filters.push("started_ms >= ?");
        args.push(t.into());
    }
    if let Some(t) = q.until_ms {
        filters.push("started_ms < ?");
        args.push(t.into());
    }
    let filtered = |extra: Option<&str>| {
        let mut all = filters.clone();
        all.extend(extra);
        if all.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", all.join(" AND "))
        }
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM calls {}", filtered(None)),
        rusqlite::params_from_iter(&args),
        |r| r.get(0),
    )?;
    let mut page_args = args.clone();
    let cursor = q.before.as_ref().map(|id| {
        page_args.push(id.clone().into());
        "(started_ms, call_id) < (SELECT started_ms, call_id FROM calls WHERE call_id = ?)"
    });
    page_args.push((q.limit.clamp(1, MAX_LIMIT) as i64).into());
    page_args.push((q.offset as i64).into());
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM calls {} ORDER BY started_ms DESC, call_id DESC LIMIT ? OFFSET ?",
        filtered(cursor)
    );
    let mut st = conn.prepare(&sql)?;
    let calls = st.query_map(rusqlite::params_from_iter(&page_args), call_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(CallPage { calls, total: total as u64 })
}

/// One call with its turns; None when no call has this id.
pub fn call(path: &Path, call_id: &str) -> rusqlite::Result<Option<CallDetail>> {
    let conn = open_read(path)?;
    let mut st = conn.prepare(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?1"))?;
    let mut rows = st.query_map([call_id], call_row)?;
    let Some(call) = rows.next().transpose()? else { return Ok(None) };
    Ok(Some(CallDetail { call, turns: turns(path, call_id)? }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn pages_filters_and_one_call_with_turns() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("calls.sqlite");
        let (store, writer) = Store::start(&db).expect("start");
        for i in 0..5i64 {
            let outcome = if i % 2 == 0 { "completed" } else { "transferred" };
            store.call_finished(CallRecord {
                call_id: format!("c{i}"),
                started_ms: 1000 + i,
                ended_ms: Some(2000 + i),
                outcome: Some(outcome.into()),
                hotline: Some(if i < 3 { "1339" } else { "city-120" }.into()),
                ..Default::default()
            });
        }
        store.turn(TurnRecord {
            call_id: "c3".into(), idx: 0, transcript: "홍역 증상".into(), ..Default::default()
        });
        store.flush();
        let q = |f: &dyn Fn(&mut CallQuery)| {
            let mut q = CallQuery { limit: 2, ..Default::default() };
            f(&mut q);
            list(&db, &q).expect("list")
        };
        let p = q(&|_| {});
        assert_eq!((p.total, p.calls.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>()), (5, vec!["c4", "c3"]));
        let p = q(&|q| q.offset = 2);
        assert_eq!(p.calls[0].call_id, "c2");
        let p = q(&|q| q.before = Some("c3".into()));
        assert_eq!(p.calls.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), vec!["c2", "c1"]);
        let p = q(&|q| q.outcome = Some("transferred".into()));
        assert_eq!((p.total, p.calls[0].call_id.as_str()), (2, "c3"));
        let p = q(&|q| {
            q.since_ms = Some(1002);
            q.until_ms = Some(1004);
        });
        assert_eq!(p.total, 2);
        let p = q(&|q| q.hotline = Some("city-120".into()));
        assert_eq!(p.calls.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), vec!["c4", "c3"]);
        let d = call(&db, "c3").expect("read").expect("c3 exists");
        assert_eq!((d.call.outcome.as_deref(), d.turns.len()), (Some("transferred"), 1));
        assert_eq!(d.call.hotline.as_deref(), Some("city-120"));
        assert_eq!(d.turns[0].transcript, "홍역 증상");
        assert!(call(&db, "nope").expect("read").is_none());
        drop(store);
        writer.join();
    }
}
