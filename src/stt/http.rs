//! Client for an OpenAI-compatible `POST /v1/audio/transcriptions` server:
//! a multipart/form-data upload of a 16 kHz WAV with `model`, `language`,
//! `response_format=json` and `temperature=0`, answered by `{"text": …}`.
//! Plain HTTP/1.1 (hyper, already in the build for the HTTP API); put TLS in
//! a local proxy if the server is remote.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::{Stt, SttConfig, SttError, SttFuture, Transcript};
use crate::endpoint::Endpoint;

pub struct HttpStt {
    host: String,
    port: u16,
    path: String,
    url: String,
    model: String,
    language: String,
    api_key: Option<String>,
    timeout: Duration,
}

impl HttpStt {
    pub fn new(cfg: &SttConfig) -> Result<HttpStt, SttError> {
        let endpoint = Endpoint::parse(&cfg.url, "[stt] url", "/audio/transcriptions").map_err(SttError::Config)?;
        let api_key = std::env::var(&cfg.api_key_env).ok().filter(|k| !k.is_empty());
        Ok(HttpStt {
            url: endpoint.url,
            host: endpoint.host,
            port: endpoint.port,
            path: endpoint.path,
            model: cfg.remote_model.clone(),
            language: cfg.language.clone(),
            api_key,
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
    }

    fn err(&self, msg: impl ToString) -> SttError {
        SttError::Http { url: self.url.clone(), msg: msg.to_string() }
    }

    async fn post(&self, pcm16k: &[i16]) -> Result<Transcript, SttError> {
        let started = Instant::now();
        let boundary = format!("sori-{:016x}", rand::random::<u64>());
        let body = multipart_body(&boundary, &wav_bytes(pcm16k, 16_000), &self.model, &self.language);
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.err(format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| self.err(e))?;
        let conn = tokio::spawn(conn);
        let mut req = hyper::Request::post(&self.path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(hyper::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(k) = &self.api_key {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| self.err(e))?;
        let resp = sender.send_request(req).await.map_err(|e| self.err(e))?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(|e| self.err(e))?.to_bytes();
        conn.abort();
        let text = String::from_utf8_lossy(&bytes);
        if !status.is_success() {
            return Err(self.err(format!("{status}: {}", text.chars().take(200).collect::<String>())));
        }
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| self.err(format!("bad JSON ({e}): {text:.200}")))?;
        let t = v["text"].as_str().ok_or_else(|| self.err(format!("no \"text\" in {text:.200}")))?;
        Ok(Transcript {
            text: t.trim().to_string(),
            engine_ms: started.elapsed().as_millis() as u64,
            guard: None,
            passes: 1,
        })
    }
}

impl Stt for HttpStt {
    fn transcribe(&self, pcm16k: Vec<i16>) -> SttFuture<'_> {
        Box::pin(async move {
            tokio::time::timeout(self.timeout, self.post(&pcm16k))
                .await
                .map_err(|_| self.err(format!("no answer within {} ms", self.timeout.as_millis())))?
        })
    }

    fn describe(&self) -> String {
        format!("{} model {} ({})", self.url, self.model, self.language)
    }
}

/// A 16-bit mono PCM WAV file in memory.
pub fn wav_bytes(pcm: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (pcm.len() * 2) as u32;
    let mut w = Vec::with_capacity(44 + pcm.len() * 2);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in pcm {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

fn multipart_body(boundary: &str, wav: &[u8], model: &str, language: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(wav.len() + 1024);
    for (name, value) in [("model", model), ("language", language), ("response_format", "json"), ("temperature", "0")] {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    b.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(wav);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

#[cfg(test)]
mod tests {
    //! The client against a real HTTP server on loopback (axum) that parses
    //! the multipart upload the way OpenAI-compatible servers do and answers
    //! with what it received.
    use super::*;
    use axum::body::Bytes as AxBytes;
    use axum::http::HeaderMap;

    async fn echo(headers: HeaderMap, body: AxBytes) -> axum::Json<serde_json::Value> {
        let ct = headers["content-type"].to_str().unwrap().to_string();
        let boundary = ct.split("boundary=").nth(1).unwrap().to_string();
        let sep = format!("--{boundary}");
        let mut fields = serde_json::Map::new();
        let mut wav_samples = 0usize;
        let raw = body.to_vec();
        let text = String::from_utf8_lossy(&raw).to_string();
        for part in text.split(&sep).skip(1) {
            let Some((head, _)) = part.split_once("\r\n\r\n") else { continue };
            let name = head.split("name=\"").nth(1).map(|s| s.split('"').next().unwrap().to_string());
            if let Some(name) = name {
                if name == "file" {
                    // Locate the WAV by its RIFF header in the raw bytes.
                    let at = raw.windows(4).position(|w| w == b"RIFF").unwrap();
                    let wav = &raw[at..];
                    let r = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).unwrap();
                    assert_eq!(r.spec().sample_rate, 16_000);
                    wav_samples = r.len() as usize;
                } else {
                    let v = part.split_once("\r\n\r\n").unwrap().1.trim_end_matches("\r\n");
                    fields.insert(name, v.into());
                }
            }
        }
        let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        axum::Json(serde_json::json!({
            "text": format!(" {} {} {} {} {}", fields["model"].as_str().unwrap(), fields["language"].as_str().unwrap(),
                fields["response_format"].as_str().unwrap(), wav_samples, auth)
        }))
    }

    #[tokio::test]
    async fn uploads_a_wav_as_multipart_and_reads_the_text() {
        let app = axum::Router::new().route("/v1/audio/transcriptions", axum::routing::post(echo));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        std::env::set_var("SORI_TEST_STT_KEY", "k123");
        let cfg = SttConfig {
            engine: "http".into(),
            url: format!("http://{addr}"),
            remote_model: "whisper-base".into(),
            api_key_env: "SORI_TEST_STT_KEY".into(),
            ..SttConfig::default()
        };
        let stt = HttpStt::new(&cfg).unwrap();
        let t = stt.transcribe(vec![100i16; 16_000]).await.unwrap();
        assert_eq!(t.text, "whisper-base ko json 16000 Bearer k123");
    }

    #[tokio::test]
    async fn server_errors_and_dead_servers_are_reported_with_the_url() {
        let cfg = SttConfig { url: "http://127.0.0.1:9/v1".into(), timeout_ms: 2000, ..SttConfig::default() };
        let stt = HttpStt::new(&cfg).unwrap();
        let e = stt.transcribe(vec![0; 160]).await.unwrap_err().to_string();
        assert!(e.contains("http://127.0.0.1:9/v1/audio/transcriptions"), "{e}");
    }

    #[test]
    fn url_forms() {
        for (url, want) in [
            ("http://h:8000", "/v1/audio/transcriptions"),
            ("http://h:8000/v1", "/v1/audio/transcriptions"),
            ("http://h/api/v1/audio/transcriptions", "/api/v1/audio/transcriptions"),
        ] {
            let s = HttpStt::new(&SttConfig { url: url.into(), ..SttConfig::default() }).unwrap();
            assert_eq!(s.path, want);
        }
        assert!(HttpStt::new(&SttConfig { url: "https://x".into(), ..SttConfig::default() }).is_err());
    }
}
