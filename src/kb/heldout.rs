//! The held-out caller questions (`kb/heldout.toml`) that routing accuracy
//! is measured on: by the router's tests, `tests/kb_embed.rs` and `sori eval`.

use serde::Deserialize;

/// One question and the id it must route to (a topic, or emergency /
/// human-agent / out-of-scope).
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub q: String,
    pub id: String,
}

#[derive(Deserialize)]
struct Heldout {
    cases: Vec<Case>,
}

pub fn parse(text: &str) -> Result<Vec<Case>, toml::de::Error> {
    Ok(toml::from_str::<Heldout>(text)?.cases)
}
