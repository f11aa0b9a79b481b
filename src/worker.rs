//! Supervisor for engine worker processes (`sori-stt`, `sori-llm`).
//!
//! whisper.cpp and llama.cpp each link their own ggml and cannot share a
//! process, and an engine crash must cost one answer, not every live call.
//! So each engine runs as N child processes speaking newline-delimited JSON
//! over stdin/stdout:
//!
//! ```text
//! child → {"ready":true, …}                      once, after loading its model
//!         {"fatal":"why"}                         instead, when it cannot start
//! pool  → {"id":N, …request body…}
//! child → {"id":N, "more":true, …}                zero or more partial results (streaming)
//!         {"id":N, …final body…} | {"id":N, "error":"why"}
//! ```
//!
//! Requests wait in one bounded queue; a free worker takes the next one (so
//! the least busy worker always gets it), one request per worker at a time.
//! A worker that exits or overruns its time-out is killed and restarted, and
//! only its in-flight request fails. A full queue answers `Busy` at once, so
//! a burst of calls degrades to a fallback prompt rather than piling up.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, Mutex};

/// A workspace binary (`sori-stt`, `sori-llm`) next to the running
/// executable, or one directory up (test binaries live in `target/<profile>/deps`).
pub fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let found = [Some(dir), dir.parent()].into_iter().flatten().map(|d| d.join(name)).find(|p| p.exists());
    found
}

#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Engine name for messages and logs ("stt", "llm").
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Worker processes (clamped to the number of CPU cores).
    pub workers: usize,
    /// Requests allowed to wait for a free worker.
    pub queue: usize,
    /// Longest a worker may take on one request before it is killed.
    pub request_timeout: Duration,
    /// Longest a worker may take to load its model and say it is ready.
    pub start_timeout: Duration,
}

#[derive(Debug, Clone, Error, PartialEq)]
pub enum WorkerError {
    #[error("{0} workers busy (queue full)")]
    Busy(String),
    #[error("{name} worker unavailable: {msg}")]
    Unavailable { name: String, msg: String },
    #[error("{name} worker died during the request ({status}); restarting it")]
    Crashed { name: String, status: String },
    #[error("{name} worker took longer than {ms} ms; restarted it")]
    Timeout { name: String, ms: u64 },
    #[error("{name}: {msg}")]
    Remote { name: String, msg: String },
    #[error("{name}: bad message from worker: {msg}")]
    Protocol { name: String, msg: String },
    #[error("{0} pool is shut down")]
    Closed(String),
    #[error("{0}: request cancelled")]
    Cancelled(String),
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub restarts: AtomicU64,
    pub busy_rejections: AtomicU64,
    /// Requests whose caller gave up while a worker had them, stopped there.
    pub cancelled: AtomicU64,
    pub in_flight: AtomicUsize,
    pub live_workers: AtomicUsize,
    pub last_error: StdMutex<Option<String>>,
}

type Reply = mpsc::UnboundedSender<Result<Value, WorkerError>>;

struct Job {
    id: u64,
    line: String,
    reply: Reply,
}

struct Proc {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// The worker said in its ready line (`"cancel": true`) that it stops a
    /// request on `{"cancel": ID}` and answers it with `"cancelled": true`.
    cancels: bool,
}

/// A supervised pool of identical worker processes.
pub struct Pool {
    cfg: Arc<PoolConfig>,
    tx: mpsc::Sender<Job>,
    next_id: AtomicU64,
    stats: Arc<PoolStats>,
}

impl Pool {
    /// Starts the pool. The first worker is started here so a worker that
    /// cannot start (missing model, missing binary) is reported at once.
    pub async fn start(mut cfg: PoolConfig) -> Result<Pool, WorkerError> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        if cfg.workers > cores {
            tracing::warn!(engine = %cfg.name, workers = cfg.workers, cores, "more workers than cores; using {cores}");
            cfg.workers = cores;
        }
        cfg.workers = cfg.workers.max(1);
        let cfg = Arc::new(cfg);
        let stats = Arc::new(PoolStats::default());
        let first = spawn(&cfg).await.map_err(|msg| WorkerError::Unavailable { name: cfg.name.clone(), msg })?;
        stats.live_workers.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Job>(cfg.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let mut first = Some(first);
        for i in 0..cfg.workers {
            tokio::spawn(slot(i, cfg.clone(), rx.clone(), stats.clone(), first.take()));
        }
        Ok(Pool { cfg, tx, next_id: AtomicU64::new(1), stats })
    }

    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }

    /// Sends one request and waits for its final response.
    pub async fn request<Req: Serialize, Resp: DeserializeOwned>(&self, body: &Req) -> Result<Resp, WorkerError> {
        let mut rx = self.submit(body)?;
        loop {
            match rx.recv().await {
                None => return Err(WorkerError::Closed(self.cfg.name.clone())),
                Some(Err(e)) => return Err(e),
                Some(Ok(v)) if is_partial(&v) => continue,
                Some(Ok(v)) => {
                    return serde_json::from_value(v)
                        .map_err(|e| WorkerError::Protocol { name: self.cfg.name.clone(), msg: e.to_string() })
                }
            }
        }
    }

    /// Sends one request; partial results (`"more": true`) and the final one
    /// arrive on the returned channel, which closes after the final one.
    pub fn submit<Req: Serialize>(
        &self,
        body: &Req,
    ) -> Result<mpsc::UnboundedReceiver<Result<Value, WorkerError>>, WorkerError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut v = serde_json::to_value(body)
            .map_err(|e| WorkerError::Protocol { name: self.cfg.name.clone(), msg: e.to_string() })?;
        let obj = v.as_object_mut().ok_or_else(|| WorkerError::Protocol {
            name: self.cfg.name.clone(),
            msg: "request is not an object".into(),
        })?;
        obj.insert("id".into(), Value::from(id));
        let mut line = v.to_string();
        line.push('\n');
        let (reply, rx) = mpsc::unbounded_channel();
        self.tx.try_send(Job { id, line, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                self.stats.busy_rejections.fetch_add(1, Ordering::Relaxed);
                WorkerError::Busy(self.cfg.name.clone())
            }
            mpsc::error::TrySendError::Closed(_) => WorkerError::Closed(self.cfg.name.clone()),
        })?;
        Ok(rx)
    }
}

fn is_partial(v: &Value) -> bool {
    v.get("more").and_then(Value::as_bool).unwrap_or(false)
}

/// Starts one worker process and waits for its ready line.
async fn spawn(cfg: &PoolConfig) -> Result<Proc, String> {
    let mut child = Command::new(&cfg.program)
        .args(&cfg.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", cfg.program.display()))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first = tokio::time::timeout(cfg.start_timeout, lines.next_line()).await;
    let line = match first {
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!("not ready after {} s", cfg.start_timeout.as_secs()));
        }
        Ok(Err(e)) => return Err(format!("reading from worker: {e}")),
        Ok(Ok(None)) => {
            let status = child.wait().await.map(|s| s.to_string()).unwrap_or_default();
            return Err(format!("exited before it was ready ({status})"));
        }
        Ok(Ok(Some(l))) => l,
    };
    let v: Value = serde_json::from_str(&line).map_err(|e| format!("bad ready line {line:?}: {e}"))?;
    if let Some(msg) = v.get("fatal").and_then(Value::as_str) {
        let _ = child.wait().await;
        return Err(msg.to_string());
    }
    if v.get("ready").and_then(Value::as_bool) != Some(true) {
        return Err(format!("expected a ready line, got {line:?}"));
    }
    tracing::info!(engine = %cfg.name, pid = child.id(), "worker ready: {line}");
    let cancels = v.get("cancel").and_then(Value::as_bool) == Some(true);
    Ok(Proc { child, stdin, lines, cancels })
}

async fn slot(
    i: usize,
    cfg: Arc<PoolConfig>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    stats: Arc<PoolStats>,
    mut proc: Option<Proc>,
) {
    let name = &cfg.name;
    let mut backoff = Duration::from_millis(100);
    loop {
        if proc.is_none() {
            match spawn(&cfg).await {
                Ok(p) => {
                    stats.live_workers.fetch_add(1, Ordering::Relaxed);
                    backoff = Duration::from_millis(100);
                    proc = Some(p);
                }
                Err(msg) => {
                    tracing::error!(engine = %name, slot = i, "worker failed to start: {msg}");
                    *stats.last_error.lock().expect("stats lock") = Some(msg.clone());
                    // Fail the next queued request rather than leave it waiting.
                    let Some(job) = rx.lock().await.recv().await else { return };
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    let _ = job.reply.send(Err(WorkerError::Unavailable { name: name.clone(), msg }));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        let Some(job) = rx.lock().await.recv().await else { return };
        if job.reply.is_closed() {
            continue; // the caller gave up while it waited
        }
        let p = proc.as_mut().expect("worker running");
        if let Ok(Some(status)) = p.child.try_wait() {
            // Died while idle: restart before sending, the request has not been lost.
            tracing::warn!(engine = %name, slot = i, "worker exited while idle ({status}); restarting");
            stats.restarts.fetch_add(1, Ordering::Relaxed);
            stats.live_workers.fetch_sub(1, Ordering::Relaxed);
            proc = None;
            match spawn(&cfg).await {
                Ok(p) => {
                    stats.live_workers.fetch_add(1, Ordering::Relaxed);
                    proc = Some(p);
                }
                Err(msg) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    let _ = job.reply.send(Err(WorkerError::Unavailable { name: name.clone(), msg }));
                    continue;
                }
            }
        }
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let outcome = run_job(&cfg, proc.as_mut().expect("worker running"), &job).await;
        stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        match outcome {
            Ok(()) => {
                stats.completed.fetch_add(1, Ordering::Relaxed);
            }
            Err((WorkerError::Cancelled(_), _)) => {
                stats.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, keep)) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                if !keep {
                    let mut p = proc.take().expect("worker running");
                    let _ = p.child.start_kill();
                    let _ = p.child.wait().await;
                    stats.restarts.fetch_add(1, Ordering::Relaxed);
                    stats.live_workers.fetch_sub(1, Ordering::Relaxed);
                    tracing::warn!(engine = %name, slot = i, "{err}");
                }
                let _ = job.reply.send(Err(err));
            }
        }
    }
}

/// Runs one job on a worker. On failure, says whether the worker is still
/// usable (`true` for an error the worker reported itself).
async fn run_job(cfg: &PoolConfig, p: &mut Proc, job: &Job) -> Result<(), (WorkerError, bool)> {
    let name = cfg.name.clone();
    let crashed = |p: &mut Proc| {
        let status = match p.child.try_wait() {
            Ok(Some(s)) => s.to_string(),
            _ => "closed its output".to_string(),
        };
        (WorkerError::Crashed { name: name.clone(), status }, false)
    };
    if p.stdin.write_all(job.line.as_bytes()).await.is_err() || p.stdin.flush().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        return Err(crashed(p));
    }
    let deadline = tokio::time::Instant::now() + cfg.request_timeout;
    let mut cancel_sent = false;
    loop {
        // The caller gave up (a speculative transcript no longer wanted): a
        // worker that can stop is told to, so the next request does not wait.
        let read = tokio::time::timeout_at(deadline, p.lines.next_line());
        let next = if p.cancels && !cancel_sent {
            tokio::select! {
                r = read => Some(r),
                _ = job.reply.closed() => None,
            }
        } else {
            Some(read.await)
        };
        let Some(next) = next else {
            cancel_sent = true;
            let line = format!("{{\"cancel\":{}}}\n", job.id);
            if p.stdin.write_all(line.as_bytes()).await.is_err() || p.stdin.flush().await.is_err() {
                return Err(crashed(p));
            }
            continue;
        };
        let line = match next {
            Err(_) => return Err((WorkerError::Timeout { name, ms: cfg.request_timeout.as_millis() as u64 }, false)),
            Ok(Err(_)) | Ok(Ok(None)) => {
                let _ = tokio::time::timeout(Duration::from_millis(200), p.child.wait()).await;
                return Err(crashed(p));
            }
            Ok(Ok(Some(l))) => l,
        };
        let v: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => return Err((WorkerError::Protocol { name, msg: format!("{e}: {line:.120}") }, false)),
        };
        match v.get("id").and_then(Value::as_u64) {
            Some(id) if id == job.id => {}
            other => {
                tracing::warn!(engine = %name, "ignoring a message for id {other:?} while waiting for {}", job.id);
                continue;
            }
        }
        if v.get("cancelled").and_then(Value::as_bool) == Some(true) {
            return Err((WorkerError::Cancelled(name), true));
        }
        if let Some(msg) = v.get("error").and_then(Value::as_str) {
            return Err((WorkerError::Remote { name, msg: msg.to_string() }, true));
        }
        let partial = is_partial(&v);
        let _ = job.reply.send(Ok(v));
        if !partial {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    //! The supervisor against real child processes: a small Python worker
    //! that follows the protocol and can be told to crash, hang or fail.
    use super::*;

    const WORKER: &str = r#"
import json, sys, time, os
print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    cmd = req.get("cmd")
    if cmd == "crash":
        os._exit(3)
    if cmd == "hang":
        time.sleep(60)
    if cmd == "fail":
        print(json.dumps({"id": req["id"], "error": "bad input"}), flush=True)
        continue
    if cmd == "stream":
        for w in ("a", "b"):
            print(json.dumps({"id": req["id"], "more": True, "text": w}), flush=True)
    time.sleep(req.get("sleep", 0))
    print(json.dumps({"id": req["id"], "text": req.get("text", ""), "pid": os.getpid()}), flush=True)
"#;

    fn cfg(workers: usize, queue: usize) -> PoolConfig {
        PoolConfig {
            name: "test".into(),
            program: "python3".into(),
            args: vec!["-c".into(), WORKER.into()],
            workers,
            queue,
            request_timeout: Duration::from_millis(1500),
            start_timeout: Duration::from_secs(10),
        }
    }

    #[derive(serde::Deserialize, Debug)]
    struct Out {
        text: String,
        pid: u32,
    }

    fn req(cmd: &str, text: &str) -> Value {
        serde_json::json!({"cmd": cmd, "text": text})
    }

    #[tokio::test]
    async fn crash_fails_only_the_in_flight_request_and_the_worker_restarts() {
        let pool = Pool::start(cfg(1, 8)).await.unwrap();
        let a: Out = pool.request(&req("", "one")).await.unwrap();
        assert_eq!(a.text, "one");
        let err = pool.request::<_, Out>(&req("crash", "")).await.unwrap_err();
        assert!(matches!(err, WorkerError::Crashed { .. }), "{err:?}");
        let b: Out = pool.request(&req("", "two")).await.unwrap();
        assert_eq!(b.text, "two");
        assert_ne!(a.pid, b.pid, "a new process answers after the crash");
        assert_eq!(pool.stats().restarts.load(Ordering::Relaxed), 1);
    }

    /// A worker that says it can stop a request (`"cancel": true`): each
    /// request runs on a thread, `{"cancel": id}` stops it.
    const CANCELLING_WORKER: &str = r#"
import json, os, sys, threading, time
out, cancelled = threading.Lock(), set()
def say(v):
    with out:
        print(json.dumps(v), flush=True)
say({"ready": True, "cancel": True})
def work(req):
    end = time.time() + req.get("sleep", 0)
    while time.time() < end:
        if req["id"] in cancelled:
            say({"id": req["id"], "cancelled": True})
            return
        time.sleep(0.01)
    say({"id": req["id"], "text": req.get("text", ""), "pid": os.getpid()})
for line in sys.stdin:
    req = json.loads(line)
    if "cancel" in req:
        cancelled.add(req["cancel"])
        continue
    threading.Thread(target=work, args=(req,)).start()
"#;

    #[tokio::test]
    async fn a_request_given_up_is_stopped_on_the_worker_and_the_next_one_runs() {
        let mut c = cfg(1, 8);
        c.args = vec!["-c".into(), CANCELLING_WORKER.into()];
        let pool = Pool::start(c).await.unwrap();
        // 30 s of work, far past the 1.5 s request limit: given up after 100 ms.
        let rx = pool.submit(&serde_json::json!({"sleep": 30, "text": "stale"})).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(rx);
        let next: Out = pool.request(&serde_json::json!({"text": "fresh"})).await.unwrap();
        assert_eq!(next.text, "fresh");
        let s = pool.stats();
        assert_eq!(s.cancelled.load(Ordering::Relaxed), 1, "stopped on the worker");
        assert_eq!(s.restarts.load(Ordering::Relaxed), 0, "not timed out and killed");
        assert_eq!(s.failed.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn hung_worker_times_out_and_is_replaced() {
        let pool = Pool::start(cfg(1, 8)).await.unwrap();
        let t = std::time::Instant::now();
        let err = pool.request::<_, Out>(&req("hang", "")).await.unwrap_err();
        assert!(matches!(err, WorkerError::Timeout { .. }), "{err:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let ok: Out = pool.request(&req("", "after")).await.unwrap();
        assert_eq!(ok.text, "after");
    }

    #[tokio::test]
    async fn worker_error_keeps_the_worker() {
        let pool = Pool::start(cfg(1, 8)).await.unwrap();
        let a: Out = pool.request(&req("", "x")).await.unwrap();
        let err = pool.request::<_, Out>(&req("fail", "")).await.unwrap_err();
        assert_eq!(err, WorkerError::Remote { name: "test".into(), msg: "bad input".into() });
        let b: Out = pool.request(&req("", "y")).await.unwrap();
        assert_eq!(a.pid, b.pid);
        assert_eq!(pool.stats().restarts.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn full_queue_answers_busy_at_once() {
        let pool = Arc::new(Pool::start(cfg(1, 1)).await.unwrap());
        // One request runs, one waits in the queue; the third is refused.
        let slow = serde_json::json!({"sleep": 0.5, "text": "slow"});
        let p1 = pool.clone();
        let s1 = slow.clone();
        let h1 = tokio::spawn(async move { p1.request::<_, Out>(&s1).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let p2 = pool.clone();
        let h2 = tokio::spawn(async move { p2.request::<_, Out>(&slow).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let err = pool.request::<_, Out>(&req("", "third")).await.unwrap_err();
        assert_eq!(err, WorkerError::Busy("test".into()));
        assert_eq!(h1.await.unwrap().unwrap().text, "slow");
        assert_eq!(h2.await.unwrap().unwrap().text, "slow");
    }

    #[tokio::test]
    async fn two_workers_serve_concurrently_and_partials_stream() {
        if std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) < 2 {
            return;
        }
        let pool = Arc::new(Pool::start(cfg(2, 8)).await.unwrap());
        let t = std::time::Instant::now();
        let slow = serde_json::json!({"sleep": 0.6, "text": "s"});
        let (a, b) = tokio::join!(pool.request::<_, Out>(&slow), pool.request::<_, Out>(&slow));
        assert!(t.elapsed() < Duration::from_millis(1100), "{:?}", t.elapsed());
        assert_ne!(a.unwrap().pid, b.unwrap().pid);

        let mut rx = pool.submit(&req("stream", "end")).unwrap();
        let mut texts = Vec::new();
        while let Some(m) = rx.recv().await {
            texts.push(m.unwrap()["text"].as_str().unwrap().to_string());
        }
        assert_eq!(texts, ["a", "b", "end"]);
    }

    #[tokio::test]
    async fn worker_that_cannot_start_is_reported_by_start() {
        let mut c = cfg(1, 1);
        c.args = vec!["-c".into(), r#"import json; print(json.dumps({"fatal": "model x.bin missing"}))"#.into()];
        let err = Pool::start(c).await.err().unwrap();
        assert_eq!(err.to_string(), "test worker unavailable: model x.bin missing");
    }
}
