//! The knowledge base over HTTP, for the operators' GUI: `GET /v1/kb/entries`
//! (every topic and action as written in kb/1339.toml) and
//! `GET /v1/kb/route?q=…` (which entry a question goes to and why: the rule
//! that fired, the top retrieval candidates with their scores, the reply).
//! `?hotline=NAME` reads another hotline's knowledge base (default: the first).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::api::{error, pick_hotline, HotlineParam};
use super::Shared;
use crate::dialog::brain::Conversation;
use crate::kb::RouteKind;

pub async fn entries(State(s): State<Arc<Shared>>, query: Result<Query<HotlineParam>, QueryRejection>) -> Response {
    let hotline = match pick_hotline(&s, query, None) {
        Ok(h) => h,
        Err((status, msg)) => return error(status, msg),
    };
    let kb = hotline.brain.kb();
    let entries: Vec<_> = kb
        .entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id.get_ref(), "title": e.title.get_ref(), "spoken": e.spoken.get_ref(),
                "answer": e.answer.get_ref(), "source_name": e.source_name.get_ref(),
                "source_url": e.source_url.get_ref(), "reviewed": e.reviewed.get_ref(),
                "questions": e.questions.get_ref(), "keywords": e.keywords,
            })
        })
        .collect();
    let actions: Vec<_> = kb
        .actions
        .iter()
        .map(|a| {
            json!({
                "id": a.id.get_ref(), "spoken": a.spoken.get_ref(), "triggers": a.triggers.get_ref(),
                "keywords": a.keywords,
                "source_name": a.source_name.as_ref().map(|x| x.get_ref()),
                "source_url": a.source_url.as_ref().map(|x| x.get_ref()),
            })
        })
        .collect();
    Json(json!({ "hotline": hotline.name, "entries": entries, "actions": actions })).into_response()
}

#[derive(Deserialize)]
pub struct RouteParams {
    q: String,
    /// Which hotline's knowledge base (the first when absent).
    hotline: Option<String>,
}

fn kind_name(k: &RouteKind) -> &'static str {
    match k {
        RouteKind::Answer { .. } => "answer",
        RouteKind::Emergency => "emergency",
        RouteKind::HumanAgent => "human-agent",
        RouteKind::OutOfScope => "out-of-scope",
        RouteKind::NotHealth => "not-health",
        RouteKind::Clarify => "clarify",
    }
}

pub async fn route(State(s): State<Arc<Shared>>, params: Result<Query<RouteParams>, QueryRejection>) -> Response {
    let (q, name) = match params {
        Ok(Query(p)) if !p.q.trim().is_empty() => (p.q, p.hotline),
        Ok(_) => return error(StatusCode::BAD_REQUEST, "\"q\" is empty"),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("send the question as ?q=… ({})", e.body_text())),
    };
    if q.chars().count() > 1000 {
        return error(StatusCode::BAD_REQUEST, "\"q\" is longer than 1000 characters");
    }
    let hotline = match s.hotlines.named(name.as_deref()) {
        Ok(h) => h.clone(),
        Err(e) => return error(StatusCode::NOT_FOUND, e),
    };
    let shared = hotline.clone();
    // Routing may embed the question (~20 ms of CPU): off the async threads.
    let explained = tokio::task::spawn_blocking(move || {
        let router = shared.brain.router();
        let route = router.route(&q);
        let rule = router.rule(&q);
        let reply = shared.brain.respond(&mut Conversation::default(), &q);
        (route, rule, reply, router.embedder_id())
    })
    .await;
    let Ok((route, rule, reply, embedder)) = explained else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "routing failed");
    };
    let kb = hotline.brain.kb();
    let candidates: Vec<_> = route
        .candidates
        .iter()
        .map(|(id, score)| {
            let title = kb.entry(id).map(|e| e.title.get_ref().clone());
            json!({ "id": id, "title": title, "score": score })
        })
        .collect();
    Json(json!({
        "hotline": hotline.name,
        "route": kind_name(&route.kind),
        "id": route.id(),
        "confidence": route.confidence,
        "candidates": candidates,
        "suggest": route.suggest,
        "rule": rule.map(|(k, trigger)| json!({ "kind": kind_name(&k), "trigger": trigger })),
        "retrieval": if embedder.is_some() { "hybrid" } else { "lexical" },
        "embedder": embedder,
        "reply": reply,
    }))
    .into_response()
}
