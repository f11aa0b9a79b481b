//! The local model: `sori-llm` worker processes (llama.cpp) under the
//! [`crate::worker`] supervisor.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use super::{BoxFuture, Chunk, ChunkStream, GenRequest, Llm, LlmError};
use crate::worker::{Pool, PoolConfig};

pub struct LocalLlm {
    pool: Pool,
    model: PathBuf,
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
        Ok(LocalLlm { pool, model })
    }
}

impl Llm for LocalLlm {
    fn pool_stats(&self) -> Option<&crate::worker::PoolStats> {
        Some(self.pool.stats())
    }

    fn name(&self) -> String {
        format!("llama.cpp:{}", self.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
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
