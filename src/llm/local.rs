//! The local model: `sori-llm` worker processes (llama.cpp) under the
//! [`crate::worker`] supervisor.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use super::{BoxFuture, ChatMessage, Chunk, ChunkStream, GenRequest, Llm, LlmError};
use crate::worker::{Pool, PoolConfig};

pub struct LocalLlm {
    pool: Pool,
    model: PathBuf,
    workers: usize,
    /// Knowledge bases (by address) whose prefixes were queued for warm-up.
    warmed: Mutex<HashSet<usize>>,
}

/// Where `sori-llm` is: next to the running executable (cargo puts all
/// workspace binaries in one directory), or `$SORI_LLM_WORKER`.
pub fn worker_program() -> PathBuf {
    if let Ok(p) = std::env::var("SORI_LLM_WORKER") {
        return PathBuf::from(p);
    }
    crate::worker::sibling_binary("sori-llm").unwrap_or_else(|| PathBuf::from("sori-llm"))
}

impl LocalLlm {
    /// Starts `workers` processes that each load `model` (GGUF).
    pub async fn start(
        model: PathBuf,
        workers: usize,
        threads: usize,
        request_timeout: Duration,
    ) -> Result<LocalLlm, LlmError> {
        if !model.is_file() {
            return Err(LlmError::Unavailable(format!(
                "model file {} not found (fetch it with: sori models fetch smollm2-135m)",
                model.display()
            )));
        }
        let cfg = PoolConfig {
            name: "llm".into(),
            program: worker_program(),
            args: vec!["--model".into(), model.display().to_string(), "--threads".into(), threads.max(1).to_string()],
            workers,
            queue: 16,
            request_timeout,
            start_timeout: Duration::from_secs(60),
        };
        let pool = Pool::start(cfg).await.map_err(|e| LlmError::Unavailable(e.to_string()))?;
        Ok(LocalLlm { pool, model, workers: workers.max(1), warmed: Mutex::new(HashSet::new()) })
    }
}

impl Llm for LocalLlm {
    fn pool_stats(&self) -> Option<&crate::worker::PoolStats> {
        Some(self.pool.stats())
    }

    fn name(&self) -> String {
        format!("llama.cpp:{}", self.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
    }

    fn warm(&self, prefixes: Vec<Vec<ChatMessage>>, wait: bool) -> BoxFuture<'_, Result<usize, LlmError>> {
        Box::pin(async move {
            if !wait {
                // Each worker keeps its own cache: one queue request per
                // worker (whichever takes it; a repeat is skipped there).
                for _ in 0..self.workers {
                    let _: Value = self
                        .pool
                        .request(&serde_json::json!({ "warm": prefixes }))
                        .await
                        .map_err(|e| LlmError::Unavailable(e.to_string()))?;
                }
                return Ok(0);
            }
            let mut cached = 0;
            for messages in prefixes {
                let v: Value = self
                    .pool
                    .request(&serde_json::json!({ "prefill": true, "messages": messages }))
                    .await
                    .map_err(|e| LlmError::Failed(e.to_string()))?;
                cached += usize::from(v.get("prefilled").and_then(Value::as_bool) == Some(true));
            }
            Ok(cached)
        })
    }

    fn warm_once(&self, kb: &crate::kb::KnowledgeBase) {
        let key = kb as *const crate::kb::KnowledgeBase as usize;
        if !self.warmed.lock().expect("warm set").insert(key) {
            return;
        }
        let prefixes = super::prompt::prefixes(kb);
        for _ in 0..self.workers {
            // Answered at once by the worker; the work happens in its idle time.
            if let Ok(mut rx) = self.pool.submit(&serde_json::json!({ "warm": prefixes })) {
                tokio::spawn(async move { while rx.recv().await.is_some() {} });
            }
        }
    }

    fn generate(&self, req: GenRequest) -> BoxFuture<'_, Result<ChunkStream, LlmError>> {
        Box::pin(async move {
            let mut rx = self.pool.submit(&req).map_err(|e| LlmError::Unavailable(e.to_string()))?;
            let (tx, out) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                while let Some(msg) = rx.recv().await {
                    let item = match msg {
                        Err(e) => Err(LlmError::Failed(e.to_string())),
                        Ok(v) if v.get("more").and_then(Value::as_bool) == Some(true) => {
                            Ok(Chunk::Delta(v.get("delta").and_then(Value::as_str).unwrap_or("").to_string()))
                        }
                        Ok(v) => Ok(Chunk::Done {
                            text: v.get("text").and_then(Value::as_str).unwrap_or("").to_string(),
                            tokens: v.get("tokens").and_then(Value::as_u64).unwrap_or(0) as u32,
                            ttft_ms: v.get("ttft_ms").and_then(Value::as_u64),
                            ms: v.get("ms").and_then(Value::as_u64).unwrap_or(0),
                        }),
                    };
                    if tx.send(item).is_err() {
                        break;
                    }
                }
            });
            Ok(out)
        })
    }
}
