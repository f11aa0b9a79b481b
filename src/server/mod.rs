//! `sori serve`: wires configuration, dialplan, prompts, the call store,
//! the SIP driver and the HTTP API together, and shuts them down cleanly.
pub mod api;
pub mod audio_api;
pub mod auth;
pub mod call;
pub mod calls_api;
pub mod flows;
pub mod hotline;
pub mod kb_api;
pub mod metrics;
pub mod pacer;
pub mod player;
pub mod ports;
pub mod recorder;
pub mod sip_io;
pub mod speech;
pub mod tls;
pub mod trunks;
pub mod wav;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::Config;
use crate::sdp::LocalCaps;
use crate::store::Store;

/// State shared by every call (read-only after start-up).
pub struct Shared {
    pub cfg: Config,
    /// The hotlines by dialled number, each with its dialplan, prompts,
    /// knowledge base and voice (at least one).
    pub hotlines: hotline::Hotlines,
    pub store: Store,
    pub metrics: Arc<metrics::Metrics>,
    pub caps: LocalCaps,
    pub ports: ports::RtpPorts,
    pub pacer: pacer::Pacer,
    /// The optional model that rephrases answers (None: retrieval-only).
    pub llm: Option<Arc<dyn crate::llm::Llm>>,
    /// VAD + STT + reply voice (None: DTMF menu only).
    pub speech: Option<speech::Speech>,
}

impl Shared {
    /// The first hotline (the API's when none is named).
    pub fn hotline(&self) -> &Arc<hotline::Hotline> {
        self.hotlines.first()
    }
}

pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let hotlines = hotline::load(&cfg, &cfg.kb.embeddings)?;
    let llm = start_llm(&cfg).await;
    let speech = speech::start(&cfg).await;
    let (store, writer) =
        Store::start(&cfg.store.path).with_context(|| format!("opening call store {}", cfg.store.path.display()))?;
    let caps = LocalCaps {
        codecs: cfg.codecs().map_err(anyhow::Error::msg)?,
        telephone_event: true,
        srtp: cfg.srtp().map_err(anyhow::Error::msg)?,
    };
    let sip_addr = SocketAddr::new(cfg.sip.bind, cfg.sip.port);
    let udp = if cfg.sip.udp {
        Some(tokio::net::UdpSocket::bind(sip_addr).await.with_context(|| format!("binding SIP UDP {sip_addr}"))?)
    } else {
        None
    };
    let tcp = if cfg.sip.tcp {
        Some(tokio::net::TcpListener::bind(sip_addr).await.with_context(|| format!("binding SIP TCP {sip_addr}"))?)
    } else {
        None
    };
    let tls = match (&cfg.sip.tls_cert, &cfg.sip.tls_key) {
        (Some(cert), Some(key)) => {
            let acceptor = tls::acceptor(cert, key)?;
            let addr = SocketAddr::new(cfg.sip.bind, cfg.sip.tls_port);
            let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding SIP TLS {addr}"))?;
            Some((l, acceptor))
        }
        _ => None,
    };
    ports::raise_fd_limit(cfg.rtp.port_min, cfg.rtp.port_max);
    let metrics = Arc::new(metrics::Metrics::default());
    let pacer = pacer::Pacer::start(metrics.clone()).context("starting the media clock thread")?;
    let shared = Arc::new(Shared {
        speech,
        llm,
        hotlines,
        pacer,
        ports: ports::RtpPorts::new(cfg.rtp.port_min, cfg.rtp.port_max),
        store: store.clone(),
        metrics,
        caps,
        cfg,
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let http = if shared.cfg.http.bind.is_empty() {
        None
    } else {
        let listener = tokio::net::TcpListener::bind(&shared.cfg.http.bind)
            .await
            .with_context(|| format!("binding HTTP {}", shared.cfg.http.bind))?;
        let local = listener.local_addr()?;
        let auth = shared.cfg.http.token().is_some();
        tracing::info!(%local, bearer_token = auth, "HTTP API listening");
        if !local.ip().is_loopback() && !auth {
            tracing::warn!(%local, "HTTP API reachable beyond this machine without a token: set [http] token or $SORI_HTTP_TOKEN");
        }
        Some(tokio::spawn(api::serve(listener, shared.clone(), shutdown_rx.clone())))
    };
    if shared.cfg.store.record || shared.cfg.store.recordings.is_dir() {
        let (dir, days) = (shared.cfg.store.recordings.clone(), shared.cfg.store.retention_days);
        tokio::spawn(recorder::purge_every_hour(dir, days, shutdown_rx.clone()));
    }
    tracing::info!(sip = %sip_addr, udp = shared.cfg.sip.udp, tcp = shared.cfg.sip.tcp,
        tls = ?shared.cfg.sip.tls_cert.as_ref().map(|_| shared.cfg.sip.tls_port),
        rtp = %format!("{}-{}", shared.cfg.rtp.port_min, shared.cfg.rtp.port_max), "sori is listening");
    let sip = tokio::spawn(sip_io::run(shared.clone(), sip_io::SipSockets { udp, tcp, tls }, shutdown_rx));

    wait_for_signal().await;
    tracing::info!("signal received, shutting down");
    let _ = shutdown_tx.send(true);
    match sip.await {
        Ok(Err(e)) => tracing::error!(error = %e, "SIP task failed"),
        Err(e) => tracing::error!(error = %e, "SIP task panicked"),
        Ok(Ok(())) => {}
    }
    if let Some(h) = http {
        h.abort();
    }
    store.flush();
    drop(store);
    drop(shared);
    writer.join();
    tracing::info!("call records flushed; bye");
    Ok(())
}

/// Starts the configured language model; a model that cannot start is
/// logged and sori answers in retrieval-only mode (the LLM is optional).
pub async fn start_llm(cfg: &Config) -> Option<Arc<dyn crate::llm::Llm>> {
    let timeout = std::time::Duration::from_millis(cfg.llm.deadline_ms.max(1000) * 4);
    if cfg.llm.engine == "openai" {
        // Nothing to load: the server is asked per answer, and an unreachable
        // one costs that answer only (the entry's own text is spoken).
        return match crate::llm::openai::OpenAiLlm::new(
            &cfg.llm.url,
            &cfg.llm.api_model,
            cfg.llm.api_key.clone(),
            timeout,
        ) {
            Ok(l) => {
                tracing::info!(model = %crate::llm::Llm::name(&l), "language model configured");
                Some(Arc::new(l))
            }
            Err(e) => {
                tracing::warn!(error = %e, "language model unavailable; answering from the knowledge base only");
                None
            }
        };
    }
    if cfg.llm.engine != "local" {
        return None;
    }
    // `model` is a GGUF path, or the name of a manifest entry (models/models.toml),
    // e.g. "smollm2-135m" or an exported "sori-1339-…" entry added there.
    let model = if cfg.llm.model.is_file() {
        cfg.llm.model.clone()
    } else {
        let name = cfg.llm.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match crate::models::require(&crate::models::Manifest::builtin(), &crate::models::models_dir(), &name) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "language model unavailable; answering from the knowledge base only");
                return None;
            }
        }
    };
    match crate::llm::local::LocalLlm::start(model, cfg.llm.workers, cfg.llm.threads, timeout).await {
        Ok(l) => {
            tracing::info!(model = %crate::llm::Llm::name(&l), "language model ready");
            Some(Arc::new(l))
        }
        Err(e) => {
            tracing::warn!(error = %e, "language model unavailable; answering from the knowledge base only");
            None
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
