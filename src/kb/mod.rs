//! The Korean knowledge base (`kb/1339.toml`) and the router that maps what a
//! caller said to a topic, an emergency, a request for a person, something
//! 1339 does not handle, or a request to rephrase.
//!
//! Pure but for [`KnowledgeBase::load`] reading the file and the optional
//! sentence-embedding engine ([`embed`]) with its on-disk vector cache.

pub mod abroad;
pub mod accident;
pub mod confusion;
pub mod data;
pub mod dead_bird;
pub mod distress;
pub mod domain;
pub mod embed;
pub mod frame;
pub mod fuzzy;
pub mod heldout;
pub mod index;
pub mod jamo;
pub mod referral;
pub mod staff_asked;

pub use data::{Action, Entry, KnowledgeBase};
pub use index::{Route, RouteKind, Router};

/// The router for `kb` as configured: hybrid when the embedding model named
/// by `embeddings` loads (vectors cached under the models directory),
/// lexical otherwise (the reason logged once).
pub fn router(kb: &KnowledgeBase, embeddings: &str) -> Router {
    routers(&[kb], embeddings).pop().unwrap_or_else(|| Router::new(kb))
}

/// One router per knowledge base (a server's hotlines), sharing one
/// embedding model when it loads.
pub fn routers(kbs: &[&KnowledgeBase], embeddings: &str) -> Vec<Router> {
    let lexical = || kbs.iter().map(|kb| Router::new(kb)).collect();
    if embeddings.is_empty() || embeddings == "none" {
        return lexical();
    }
    if embeddings != embed::MODEL {
        tracing::warn!(embeddings, "unknown embedding model (known: e5-small); lexical retrieval only");
        return lexical();
    }
    let dir = crate::models::models_dir();
    let t = std::time::Instant::now();
    let built = embed::E5::load(&dir).and_then(|e| {
        let e: std::sync::Arc<dyn embed::Embedder> = std::sync::Arc::new(e);
        kbs.iter().map(|kb| Router::with_embedder(kb, e.clone(), &dir.join("cache"))).collect::<Result<Vec<_>, _>>()
    });
    match built {
        Ok(r) => {
            let embedder = r.first().and_then(|r| r.embedder_id());
            tracing::info!(embedder = ?embedder, ms = t.elapsed().as_millis() as u64, "hybrid retrieval ready");
            r
        }
        Err(e) => {
            tracing::warn!(error = %e, "embeddings unavailable; lexical retrieval only");
            lexical()
        }
    }
}
