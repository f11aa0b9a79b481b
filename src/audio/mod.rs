//! The caller's side of the conversation: voice activity detection,
//! end-of-turn, barge-in, and the capture buffer that turns decoded 8 kHz
//! telephone audio into 16 kHz utterances for speech-to-text.
//!
//! Everything here is sans-IO: the call task pushes audio and drains events
//! (see [`utterance::Listener`]); models load once per process ([`vad::VadEngine`]).
pub mod bargein;
pub mod endpoint;
pub mod korean_end;
pub mod onnx;
pub mod utterance;
pub mod vad;

pub use bargein::{BargeIn, BargeInConfig, StopPlayback};
pub use endpoint::{EndReason, EndpointConfig, EndpointEvent, Endpointer};
pub use korean_end::Completeness;
pub use utterance::{Listener, ListenerConfig, ListenerEvent, Utterance};
pub use vad::{EnergyVad, SileroModel, SileroVad, Vad, VadConfig, VadEngine};
