//! RTP (RFC 3550) handling for the single audio stream of a call:
//! packet parsing/building, a jitter buffer and RFC 4733 DTMF.

pub mod dtmf;
pub mod impair;
pub mod jitter;
pub mod packet;

pub use packet::RtpError;
