//! Call records over HTTP: `GET /v1/calls` (a page, newest first; `limit`,
//! `offset`, `before=<call id>`, `outcome`, `hotline`, `since`/`until` in Unix ms) and
//! `GET /v1/calls/{id}` (the record with its turns), read from the SQLite
//! store with read-only connections off the async threads.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::api::error;
use super::Shared;
use crate::store::query::{self, CallQuery};

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<usize>,
    offset: Option<usize>,
    before: Option<String>,
    outcome: Option<String>,
    hotline: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
}

fn store_error(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "reading call records failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, format!("reading call records failed: {e}"))
}

pub async fn list(State(s): State<Arc<Shared>>, params: Result<Query<ListParams>, QueryRejection>) -> Response {
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad query: {}", e.body_text())),
    };
    let q = CallQuery {
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0),
        before: p.before.filter(|b| !b.is_empty()),
        outcome: p.outcome.filter(|o| !o.is_empty()),
        hotline: p.hotline.filter(|h| !h.is_empty()),
        since_ms: p.since,
        until_ms: p.until,
    };
    let path = s.cfg.store.path.clone();
    let limit = q.limit.clamp(1, query::MAX_LIMIT);
    let offset = q.offset;
    match tokio::task::spawn_blocking(move || query::list(&path, &q)).await {
        Ok(Ok(page)) => {
            let calls: Vec<_> = page.calls.iter().map(with_duration).collect();
            Json(json!({ "object": "list", "calls": calls, "total": page.total, "limit": limit, "offset": offset }))
                .into_response()
        }
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(e),
    }
}

/// The record as JSON with its duration (answer → end, ms) added.
fn with_duration(c: &crate::store::CallRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    let duration = c.ended_ms.zip(c.answered_ms.or(Some(c.started_ms))).map(|(e, a)| (e - a).max(0));
    v["duration_ms"] = json!(duration);
    v["active"] = json!(c.ended_ms.is_none() && c.outcome.is_none());
    v
}

/// The call's stereo WAV (caller left, sori right) when it was recorded.
pub async fn recording(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let path = s.cfg.store.path.clone();
    let lookup = id.clone();
    let file = match tokio::task::spawn_blocking(move || query::call(&path, &lookup)).await {
        Ok(Ok(Some(d))) => d.call.recording,
        Ok(Ok(None)) => return error(StatusCode::NOT_FOUND, format!("no call with id {id:?}")),
        Ok(Err(e)) => return store_error(e),
        Err(e) => return store_error(e),
    };
    let Some(file) = file else {
        return error(StatusCode::NOT_FOUND, format!("call {id:?} was not recorded ([store] record = false then)"));
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(_) => error(
            StatusCode::NOT_FOUND,
            format!("the recording of call {id:?} is gone (deleted after [store] retention_days)"),
        ),
    }
}

pub async fn one(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let path = s.cfg.store.path.clone();
    let lookup = id.clone();
    match tokio::task::spawn_blocking(move || query::call(&path, &lookup)).await {
        Ok(Ok(Some(d))) => {
            let mut v = with_duration(&d.call);
            v["turns"] = serde_json::to_value(&d.turns).unwrap_or_default();
            Json(v).into_response()
        }
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, format!("no call with id {id:?}")),
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(e),
    }
}
