//! sori — an offline Korean voice agent for the 1339 public-health hotline.
pub mod audio;
pub mod codec;
pub mod config;
pub mod dialog;
pub mod eval;
pub mod kb;
pub mod llm;
pub mod models;
pub mod redact;
pub mod rtp;
pub mod sdp;
pub mod server;
pub mod sip;
pub mod store;
pub mod stt;
pub mod tts;
pub mod worker;
