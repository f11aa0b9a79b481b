//! Optional bearer-token check for the HTTP API (`[http] token` or
//! `$SORI_HTTP_TOKEN`). The token is compared in constant time and never
//! logged; a missing or wrong one gets 401 with a JSON error.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Secret;

/// The token the API requires, if any.
#[derive(Clone)]
pub struct Auth(Option<Arc<Secret>>);

impl Auth {
    pub fn new(token: Option<Secret>) -> Auth {
        Auth(token.map(Arc::new))
    }

    pub fn required(&self) -> bool {
        self.0.is_some()
    }

    /// Whether an `Authorization` header value is accepted.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some(want) = &self.0 else { return true };
        let Some(given) = authorization.and_then(bearer) else { return false };
        constant_time_eq(given, want.0.as_bytes())
    }
}

fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then(|| rest.trim_ascii())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: passes the request on when the token matches (or none is set).
pub async fn check(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    let given = req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if auth.allows(given) {
        return next.run(req).await;
    }
    let mut resp = super::api::error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token (send Authorization: Bearer <[http] token or $SORI_HTTP_TOKEN>)",
    );
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    resp.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let open = Auth::new(None);
        assert!(open.allows(None));
        let a = Auth::new(Some(Secret("tok-123".into())));
        assert!(a.allows(Some(b"Bearer tok-123")));
        assert!(a.allows(Some(b"bearer tok-123 ")));
        assert!(!a.allows(Some(b"Bearer tok-124")));
        assert!(!a.allows(Some(b"Bearer tok-1234")));
        assert!(!a.allows(Some(b"Basic tok-123")));
        assert!(!a.allows(Some(b"Bear")));
        assert!(!a.allows(None));
    }
}
