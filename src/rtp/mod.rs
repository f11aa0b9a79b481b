//! RTP (RFC 3550) handling for the single audio stream of a call:
//! packet parsing/building, a jitter buffer, RFC 4733 DTMF, and RTCP
//! (wire format, receiver statistics, the call's report session), SRTP.

pub mod dtmf;
pub mod impair;
pub mod jitter;
pub mod packet;
pub mod reception;
pub mod rtcp;
pub mod rtcp_session;
pub mod srtp;

pub use packet::RtpError;
