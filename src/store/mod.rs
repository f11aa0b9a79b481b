//! Call records in SQLite (WAL mode). A dedicated writer thread owns the
//! connection; calls send it small messages and never block on disk. Each
//! finished call is committed on its own, so killing the process loses no
//! finished call (SQLite WAL with synchronous=NORMAL survives a process
//! crash; only a power loss can drop the last commits). When the database
//! refuses writes (a full disk, a lock held by another program, a read-only
//! file) calls go on: the error is logged once and counted, the writes wait
//! in memory (at most [`MAX_PENDING`]) and are tried again every second until
//! they go in.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

pub mod query;
pub mod show;

use rusqlite::{params, Connection};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CallRecord {
    pub call_id: String,
    pub from_uri: String,
    pub to_uri: String,
    /// The hotline the dialled number reached (`server::hotline`); None for
    /// a number no hotline answers (refused 404) and records from before hotlines.
    pub hotline: Option<String>,
    pub remote_addr: String,
    pub transport: String,
    pub codec: Option<String>,
    /// Unix milliseconds.
    pub started_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub dtmf: String,
    pub menu_path: String,
    /// answered-only, completed, transferred, no-input, invalid-input,
    /// rejected, cancelled, hangup-caller, shutdown, …
    pub outcome: Option<String>,
    /// Who or what ended the call: "caller-bye", "sori-bye", "cancel", "488 …".
    pub hangup_cause: Option<String>,
    /// Times the caller talked over sori and playback stopped.
    pub barge_ins: u32,
    /// The call's stereo recording (`[store] record`), if any.
    pub recording: Option<String>,
    /// Media quality from RTP and RTCP (None for calls without media).
    pub quality: Option<MediaQuality>,
}

/// A call's media quality: what sori measured on the caller's RTP (RFC 3550
/// A.1/A.3/A.8) and what the caller's RTCP receiver reports said about
/// sori's stream.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MediaQuality {
    /// RTP packets received from the caller.
    pub rx_packets: u64,
    /// Packets the caller sent that never arrived (expected − received).
    pub rx_lost: i64,
    pub rx_loss_pct: Option<f64>,
    /// Interarrival jitter of the caller's stream: largest and mean, ms.
    pub rx_jitter_max_ms: f64,
    pub rx_jitter_mean_ms: f64,
    /// Report blocks about sori's stream received from the caller.
    pub peer_reports: u32,
    /// The caller's latest cumulative count of sori's packets lost.
    pub peer_lost: Option<i64>,
    /// The worst loss the caller reported for one interval, %.
    pub peer_loss_max_pct: Option<f64>,
    /// The largest jitter the caller reported, ms.
    pub peer_jitter_max_ms: Option<f64>,
    /// Mean round-trip time from the caller's reports (LSR/DLSR), ms.
    pub rtt_ms: Option<f64>,
    pub rtcp_sent: u32,
    pub rtcp_received: u32,
}

/// The media-quality columns (all NULL for calls without media).
const QUALITY_COLUMNS: [&str; 12] = [
    "rx_packets INTEGER",
    "rx_lost INTEGER",
    "rx_loss_pct REAL",
    "rx_jitter_max_ms REAL",
    "rx_jitter_mean_ms REAL",
    "peer_reports INTEGER",
    "peer_lost INTEGER",
    "peer_loss_max_pct REAL",
    "peer_jitter_max_ms REAL",
    "rtt_ms REAL",
    "rtcp_sent INTEGER",
    "rtcp_received INTEGER",
];

fn write_quality(tx: &rusqlite::Transaction<'_>, call_id: &str, q: &MediaQuality) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE calls SET rx_packets = ?2, rx_lost = ?3, rx_loss_pct = ?4, rx_jitter_max_ms = ?5, rx_jitter_mean_ms = ?6,
            peer_reports = ?7, peer_lost = ?8, peer_loss_max_pct = ?9, peer_jitter_max_ms = ?10, rtt_ms = ?11,
            rtcp_sent = ?12, rtcp_received = ?13 WHERE call_id = ?1",
        params![
            call_id,
            q.rx_packets as i64,
            q.rx_lost,
            q.rx_loss_pct,
            q.rx_jitter_max_ms,
            q.rx_jitter_mean_ms,
            q.peer_reports,
            q.peer_lost,
            q.peer_loss_max_pct,
            q.peer_jitter_max_ms,
            q.rtt_ms,
            q.rtcp_sent,
            q.rtcp_received
        ],
    )
}

/// Read by column name, so the order of [`CALL_COLUMNS`] does not matter.
fn quality_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<MediaQuality>> {
    let Some(rx_packets) = r.get::<_, Option<i64>>("rx_packets")? else { return Ok(None) };
    Ok(Some(MediaQuality {
        rx_packets: rx_packets.max(0) as u64,
        rx_lost: r.get::<_, Option<i64>>("rx_lost")?.unwrap_or(0),
        rx_loss_pct: r.get("rx_loss_pct")?,
        rx_jitter_max_ms: r.get::<_, Option<f64>>("rx_jitter_max_ms")?.unwrap_or(0.0),
        rx_jitter_mean_ms: r.get::<_, Option<f64>>("rx_jitter_mean_ms")?.unwrap_or(0.0),
        peer_reports: r.get::<_, Option<u32>>("peer_reports")?.unwrap_or(0),
        peer_lost: r.get("peer_lost")?,
        peer_loss_max_pct: r.get("peer_loss_max_pct")?,
        peer_jitter_max_ms: r.get("peer_jitter_max_ms")?,
        rtt_ms: r.get("rtt_ms")?,
        rtcp_sent: r.get::<_, Option<u32>>("rtcp_sent")?.unwrap_or(0),
        rtcp_received: r.get::<_, Option<u32>>("rtcp_received")?.unwrap_or(0),
    }))
}

/// One caller turn on a call: what was heard (PII redacted) and answered.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TurnRecord {
    pub call_id: String,
    pub idx: u32,
    /// Utterance start / end, ms since the call was answered (VAD).
    pub speech_start_ms: u64,
    pub speech_end_ms: u64,
    pub transcript: String,
    pub stt_ms: u64,
    /// End of the caller's turn → transcript in hand (0 when a speculative
    /// transcription started at the caller's pause had already finished).
    pub stt_wait_ms: u64,
    /// answer | clarify | transfer | emergency | out-of-scope
    pub action: String,
    pub kb_id: Option<String>,
    pub reply: String,
    /// retrieval | llm | retrieval-after-ungrounded | retrieval-after-deadline
    pub answer_source: String,
    pub llm_ms: u64,
    pub tts_ms: u64,
    /// End of the caller's turn → reply queued for the first RTP packet.
    pub respond_ms: u64,
    /// The caller interrupted this reply.
    pub barged_in: bool,
}

enum Op {
    Start(CallRecord),
    Turn(TurnRecord),
    Answer { call_id: String, at_ms: i64, codec: String },
    Finish(CallRecord),
    Flush(mpsc::Sender<()>),
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Op>,
    stats: Arc<StoreStats>,
}

/// How the writer fares, for `/metrics`.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Writes that failed (each failed attempt of a batch counts once).
    pub errors: AtomicU64,
    /// Writes (a call's start, answer, turns, end) waiting in memory until
    /// the database takes writes again.
    pub pending: AtomicUsize,
    /// Records given up: over [`MAX_PENDING`] while the database was down,
    /// or refused by SQLite for good (not a full, locked or read-only database).
    pub dropped: AtomicU64,
}

/// Records kept in memory while the database refuses writes (a full disk, a
/// lock held elsewhere, a read-only file); the oldest go beyond this. About
/// 1 kB each: 10,000 hold a few hours of a busy hotline's calls.
pub const MAX_PENDING: usize = 10_000;
/// How often records kept in memory are tried again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

pub struct StoreWriter {
    handle: Option<JoinHandle<()>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    call_id      TEXT PRIMARY KEY,
    from_uri     TEXT NOT NULL,
    to_uri       TEXT NOT NULL,
    remote_addr  TEXT NOT NULL,
    transport    TEXT NOT NULL,
    codec        TEXT,
    started_ms   INTEGER NOT NULL,
    answered_ms  INTEGER,
    ended_ms     INTEGER,
    dtmf         TEXT NOT NULL DEFAULT '',
    menu_path    TEXT NOT NULL DEFAULT '',
    outcome      TEXT,
    hangup_cause TEXT,
    barge_ins    INTEGER NOT NULL DEFAULT 0,
    recording    TEXT
);
CREATE INDEX IF NOT EXISTS calls_started ON calls(started_ms);
CREATE TABLE IF NOT EXISTS turns (
    call_id         TEXT NOT NULL,
    idx             INTEGER NOT NULL,
    speech_start_ms INTEGER NOT NULL,
    speech_end_ms   INTEGER NOT NULL,
    transcript      TEXT NOT NULL,
    stt_ms          INTEGER NOT NULL,
    action          TEXT NOT NULL,
    kb_id           TEXT,
    reply           TEXT NOT NULL,
    answer_source   TEXT NOT NULL,
    llm_ms          INTEGER NOT NULL,
    tts_ms          INTEGER NOT NULL,
    respond_ms      INTEGER NOT NULL,
    stt_wait_ms     INTEGER NOT NULL DEFAULT 0,
    barged_in       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (call_id, idx)
);
";

pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    // Databases from before a column existed get it added.
    let _ = conn.execute("ALTER TABLE calls ADD COLUMN barge_ins INTEGER NOT NULL DEFAULT 0", []);
    let _ = conn.execute("ALTER TABLE turns ADD COLUMN stt_wait_ms INTEGER NOT NULL DEFAULT 0", []);
    let _ = conn.execute("ALTER TABLE calls ADD COLUMN recording TEXT", []);
    let _ = conn.execute("ALTER TABLE calls ADD COLUMN hotline TEXT", []);
    if let Err(e) = add_quality_columns(&conn) {
        tracing::warn!(error = %e, db = %path.display(), "adding the media-quality columns failed");
    }
    Ok(conn)
}

/// Adds the media-quality columns a database from before them lacks.
fn add_quality_columns(conn: &Connection) -> rusqlite::Result<()> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info('calls')")?;
    let have = st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    for col in QUALITY_COLUMNS {
        let name = col.split(' ').next().unwrap_or(col);
        if !have.iter().any(|h| h == name) {
            conn.execute(&format!("ALTER TABLE calls ADD COLUMN {col}"), [])?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens (creating) the database and starts the writer thread.
    pub fn start(path: &Path) -> rusqlite::Result<(Store, StoreWriter)> {
        let conn = open(path)?;
        // A record left without an end by a crash is closed as such at start-up.
        conn.execute("UPDATE calls SET outcome = COALESCE(outcome, 'interrupted') WHERE ended_ms IS NULL", [])?;
        let (tx, rx) = mpsc::channel::<Op>();
        let path: PathBuf = path.to_path_buf();
        let stats = Arc::new(StoreStats::default());
        let st = stats.clone();
        let handle = std::thread::Builder::new()
            .name("sori-store".into())
            .spawn(move || writer(conn, rx, path, st))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok((Store { tx, stats }, StoreWriter { handle: Some(handle) }))
    }

    pub fn call_started(&self, rec: CallRecord) {
        let _ = self.tx.send(Op::Start(rec));
    }

    pub fn call_answered(&self, call_id: &str, at_ms: i64, codec: &str) {
        let _ = self.tx.send(Op::Answer { call_id: call_id.to_string(), at_ms, codec: codec.to_string() });
    }

    pub fn turn(&self, t: TurnRecord) {
        let _ = self.tx.send(Op::Turn(t));
    }

    pub fn call_finished(&self, rec: CallRecord) {
        let _ = self.tx.send(Op::Finish(rec));
    }

    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// The writer's figures in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let s = &self.stats;
        format!(
            "# HELP sori_store_errors_total Failed writes of call records (full disk, locked or read-only database, …).\n\
             # TYPE sori_store_errors_total counter\nsori_store_errors_total {}\n\
             # HELP sori_store_pending Call-record writes kept in memory until the database takes writes again.\n\
             # TYPE sori_store_pending gauge\nsori_store_pending {}\n\
             # HELP sori_store_dropped_total Call records given up (memory bound reached, or refused for good).\n\
             # TYPE sori_store_dropped_total counter\nsori_store_dropped_total {}\n",
            s.errors.load(Relaxed),
            s.pending.load(Relaxed),
            s.dropped.load(Relaxed)
        )
    }

    /// Waits until everything sent so far is committed (or, while the
    /// database refuses writes, has been tried and kept for a retry).
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Op::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
        }
    }
}

impl StoreWriter {
    /// Joins the writer after every [`Store`] handle is dropped.
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Op>, path: PathBuf, stats: Arc<StoreStats>) {
    // Records not yet written, oldest first: normally only the batch in
    // hand; while the database refuses writes, everything since.
    let mut pending: Vec<Op> = Vec::new();
    let mut failing = false;
    loop {
        let first = if pending.is_empty() {
            match rx.recv() {
                Ok(op) => Some(op),
                Err(_) => break,
            }
        } else {
            match rx.recv_timeout(RETRY) {
                Ok(op) => Some(op),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Shutting down: one last try.
                    if let Err(e) = write(&mut conn, &pending) {
                        stats.errors.fetch_add(1, Relaxed);
                        stats.dropped.fetch_add(pending.len() as u64, Relaxed);
                        tracing::error!(error = %e, db = %path.display(), lost = pending.len(),
                            "call store still refuses writes at shutdown: records lost");
                    }
                    break;
                }
            }
        };
        // Batch what is queued into one transaction; each batch commits before
        // the next wait, so a finished call is durable within milliseconds.
        let mut acks = Vec::new();
        let queued = first.into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok()).take(511));
        for op in queued {
            match op {
                Op::Flush(ack) => acks.push(ack),
                op => pending.push(op),
            }
        }
        if !pending.is_empty() {
            match write(&mut conn, &pending) {
                Ok(()) => {
                    if failing {
                        tracing::info!(db = %path.display(), written = pending.len(), "call store takes writes again; kept records written");
                        failing = false;
                    }
                    pending.clear();
                }
                Err(e) => {
                    stats.errors.fetch_add(1, Relaxed);
                    if !failing {
                        tracing::error!(error = %e, db = %path.display(), "writing call records failed; keeping them in memory to retry");
                    }
                    failing = true;
                    if !is_transient(&e) {
                        // Refused for good (not the database's state): write the
                        // records one by one and give up only the refused ones.
                        for op in pending.drain(..) {
                            if let Err(e) = write(&mut conn, std::slice::from_ref(&op)) {
                                stats.dropped.fetch_add(1, Relaxed);
                                tracing::error!(error = %e, "call record refused by the database; given up");
                            }
                        }
                    }
                    if pending.len() > MAX_PENDING {
                        let over = pending.len() - MAX_PENDING;
                        pending.drain(..over);
                        stats.dropped.fetch_add(over as u64, Relaxed);
                        tracing::error!(dropped = over, "call store down too long: oldest records given up");
                    }
                }
            }
        }
        stats.pending.store(pending.len(), Relaxed);
        for a in acks {
            let _ = a.send(());
        }
    }
}

/// A full disk, a lock held elsewhere, a read-only or vanished file: the
/// database may take the same records later.
fn is_transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(DatabaseBusy | DatabaseLocked | DiskFull | ReadOnly | SystemIoFailure | CannotOpen | OutOfMemory)
    )
}

/// Writes records in one transaction.
fn write(conn: &mut Connection, ops: &[Op]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for op in ops {
        match op {
            Op::Start(r) => {
                tx.execute(
                    "INSERT OR REPLACE INTO calls (call_id, from_uri, to_uri, remote_addr, transport, started_ms, hotline)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![r.call_id, r.from_uri, r.to_uri, r.remote_addr, r.transport, r.started_ms, r.hotline],
                )?;
            }
            Op::Turn(t) => {
                tx.execute(
                            "INSERT OR REPLACE INTO turns (call_id, idx, speech_start_ms, speech_end_ms, transcript, stt_ms, action,
                                kb_id, reply, answer_source, llm_ms, tts_ms, respond_ms, barged_in, stt_wait_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                            params![
                                t.call_id,
                                t.idx,
                                t.speech_start_ms as i64,
                                t.speech_end_ms as i64,
                                t.transcript,
                                t.stt_ms as i64,
                                t.action,
                                t.kb_id,
                                t.reply,
                                t.answer_source,
                                t.llm_ms as i64,
                                t.tts_ms as i64,
                                t.respond_ms as i64,
                                t.barged_in,
                                t.stt_wait_ms as i64
                            ],
                        )?;
            }
            Op::Answer { call_id, at_ms, codec } => {
                tx.execute(
                    "UPDATE calls SET answered_ms = ?2, codec = ?3 WHERE call_id = ?1",
                    params![call_id, at_ms, codec],
                )?;
            }
            Op::Finish(r) => {
                tx.execute(
                            "INSERT INTO calls (call_id, from_uri, to_uri, remote_addr, transport, codec, started_ms, answered_ms,
                                                ended_ms, dtmf, menu_path, outcome, hangup_cause, barge_ins, recording, hotline)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                             ON CONFLICT(call_id) DO UPDATE SET codec = excluded.codec, answered_ms = excluded.answered_ms,
                                ended_ms = excluded.ended_ms, dtmf = excluded.dtmf, menu_path = excluded.menu_path,
                                outcome = excluded.outcome, hangup_cause = excluded.hangup_cause,
                                barge_ins = excluded.barge_ins, recording = excluded.recording, hotline = excluded.hotline",
                            params![
                                r.call_id,
                                r.from_uri,
                                r.to_uri,
                                r.remote_addr,
                                r.transport,
                                r.codec,
                                r.started_ms,
                                r.answered_ms,
                                r.ended_ms,
                                r.dtmf,
                                r.menu_path,
                                r.outcome,
                                r.hangup_cause,
                                r.barge_ins,
                                r.recording,
                                r.hotline
                            ],
                        )?;
                if let Some(q) = &r.quality {
                    write_quality(&tx, &r.call_id, q)?;
                }
            }
            Op::Flush(_) => {}
        }
    }
    tx.commit()
}

/// Reads the most recent records (newest first).
pub fn recent(path: &Path, limit: usize) -> rusqlite::Result<Vec<CallRecord>> {
    let conn = Connection::open(path)?;
    let mut st = conn.prepare(&format!("SELECT {CALL_COLUMNS} FROM calls ORDER BY started_ms DESC LIMIT ?1"))?;
    let rows = st.query_map([limit as i64], call_row)?;
    rows.collect()
}

/// The columns [`call_row`] reads, in its order.
pub(crate) const CALL_COLUMNS: &str =
    "call_id, from_uri, to_uri, remote_addr, transport, codec, started_ms, answered_ms,
    ended_ms, dtmf, menu_path, outcome, hangup_cause, barge_ins, recording, hotline,
    rx_packets, rx_lost, rx_loss_pct, rx_jitter_max_ms, rx_jitter_mean_ms, peer_reports, peer_lost,
    peer_loss_max_pct, peer_jitter_max_ms, rtt_ms, rtcp_sent, rtcp_received";

pub(crate) fn call_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallRecord> {
    Ok(CallRecord {
        call_id: r.get(0)?,
        from_uri: r.get(1)?,
        to_uri: r.get(2)?,
        remote_addr: r.get(3)?,
        transport: r.get(4)?,
        codec: r.get(5)?,
        started_ms: r.get(6)?,
        answered_ms: r.get(7)?,
        ended_ms: r.get(8)?,
        dtmf: r.get(9)?,
        menu_path: r.get(10)?,
        outcome: r.get(11)?,
        hangup_cause: r.get(12)?,
        barge_ins: r.get(13)?,
        recording: r.get(14)?,
        hotline: r.get("hotline")?,
        quality: quality_row(r)?,
    })
}

/// Turns of one call, in order.
pub fn turns(path: &Path, call_id: &str) -> rusqlite::Result<Vec<TurnRecord>> {
    let conn = Connection::open(path)?;
    let mut st = conn.prepare(
        "SELECT call_id, idx, speech_start_ms, speech_end_ms, transcript, stt_ms, action, kb_id, reply, answer_source,
                llm_ms, tts_ms, respond_ms, barged_in, stt_wait_ms FROM turns WHERE call_id = ?1 ORDER BY idx",
    )?;
    let rows = st.query_map([call_id], |r| {
        Ok(TurnRecord {
            call_id: r.get(0)?,
            idx: r.get(1)?,
            speech_start_ms: r.get::<_, i64>(2)? as u64,
            speech_end_ms: r.get::<_, i64>(3)? as u64,
            transcript: r.get(4)?,
            stt_ms: r.get::<_, i64>(5)? as u64,
            action: r.get(6)?,
            kb_id: r.get(7)?,
            reply: r.get(8)?,
            answer_source: r.get(9)?,
            llm_ms: r.get::<_, i64>(10)? as u64,
            tts_ms: r.get::<_, i64>(11)? as u64,
            respond_ms: r.get::<_, i64>(12)? as u64,
            barged_in: r.get(13)?,
            stt_wait_ms: r.get::<_, i64>(14)? as u64,
        })
    })?;
    rows.collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_call_is_durable_and_readable_in_wal_mode() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("calls.sqlite");
        let (store, writer) = Store::start(&db).expect("start");
        let rec = CallRecord { call_id: "c1".into(), from_uri: "sip:a@b".into(), started_ms: 1, ..Default::default() };
        store.call_started(rec.clone());
        store.call_answered("c1", 2, "PCMU");
        let done = CallRecord {
            answered_ms: Some(2),
            ended_ms: Some(3),
            codec: Some("PCMU".into()),
            dtmf: "10".into(),
            outcome: Some("completed".into()),
            ..rec
        };
        store.call_finished(done.clone());
        store.flush();
        // Read from another connection while the writer still holds its own.
        let got = recent(&db, 10).expect("read");
        assert_eq!(got, vec![done]);
        let mode: String = open(&db).expect("open").query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("pragma");
        assert_eq!(mode, "wal");
        drop(store);
        writer.join();
    }

    #[test]
    fn media_quality_is_stored_and_old_databases_get_its_columns() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("calls.sqlite");
        // A database from before the quality columns, with a call in it.
        let old = Connection::open(&db).expect("open");
        old.execute_batch(
            "CREATE TABLE calls (call_id TEXT PRIMARY KEY, from_uri TEXT NOT NULL, to_uri TEXT NOT NULL,
                remote_addr TEXT NOT NULL, transport TEXT NOT NULL, codec TEXT, started_ms INTEGER NOT NULL,
                answered_ms INTEGER, ended_ms INTEGER, dtmf TEXT NOT NULL DEFAULT '', menu_path TEXT NOT NULL DEFAULT '',
                outcome TEXT, hangup_cause TEXT);
             INSERT INTO calls (call_id, from_uri, to_uri, remote_addr, transport, started_ms, ended_ms)
                VALUES ('old', '', '', '', 'udp', 1, 2);",
        )
        .expect("old schema");
        drop(old);
        let (store, writer) = Store::start(&db).expect("start migrates");
        let q = MediaQuality {
            rx_packets: 95,
            rx_lost: 5,
            rx_loss_pct: Some(5.0),
            rx_jitter_max_ms: 3.5,
            rx_jitter_mean_ms: 1.25,
            peer_reports: 2,
            peer_lost: Some(7),
            peer_loss_max_pct: Some(10.15625),
            peer_jitter_max_ms: Some(4.0),
            rtt_ms: Some(12.5),
            rtcp_sent: 3,
            rtcp_received: 2,
        };
        let rec = CallRecord {
            call_id: "new".into(),
            started_ms: 5,
            ended_ms: Some(6),
            quality: Some(q),
            ..Default::default()
        };
        store.call_finished(rec.clone());
        store.flush();
        drop(store);
        writer.join();
        let got = recent(&db, 10).expect("read");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], rec);
        assert_eq!((got[1].call_id.as_str(), got[1].quality.as_ref()), ("old", None));
        // Opening again is a no-op.
        drop(open(&db).expect("reopen"));
    }

    #[test]
    fn unfinished_calls_are_marked_interrupted_on_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("calls.sqlite");
        let (store, writer) = Store::start(&db).expect("start");
        store.call_started(CallRecord { call_id: "c2".into(), started_ms: 5, ..Default::default() });
        store.flush();
        drop(store);
        writer.join();
        let (store, writer) = Store::start(&db).expect("restart");
        drop(store);
        writer.join();
        assert_eq!(recent(&db, 1).expect("read")[0].outcome.as_deref(), Some("interrupted"));
    }
}
