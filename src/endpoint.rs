//! Where an OpenAI-compatible HTTP API is: `http://host[:port][/prefix]`,
//! written with or without a trailing `/v1` or the full operation path.
//! Shared by the STT (`/v1/audio/transcriptions`) and LLM
//! (`/v1/chat/completions`) clients.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub path: String,
    /// `host[:port]` as written, for the `Host` header.
    pub authority: String,
    /// The full URL, for messages.
    pub url: String,
}

impl Endpoint {
    /// `setting` names the configuration key in errors ("[llm] url");
    /// `operation` is the path after `/v1` ("/chat/completions").
    pub fn parse(base_url: &str, setting: &str, operation: &str) -> Result<Endpoint, String> {
        let bad = |msg: &str| format!("{setting} = {base_url:?}: {msg}");
        let rest = base_url.trim().strip_prefix("http://").ok_or_else(|| bad("must start with http://"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h.trim_matches(['[', ']']).to_string(), p.parse().map_err(|_| bad("bad port"))?)
            }
            _ => (authority.to_string(), 80),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = if path.ends_with(operation) {
            path.to_string()
        } else if path.ends_with("/v1") {
            format!("{path}{operation}")
        } else {
            format!("{path}/v1{operation}")
        };
        Ok(Endpoint { url: format!("http://{authority}{path}"), authority: authority.to_string(), host, port, path })
    }
}
