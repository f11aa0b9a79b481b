//! SIP: message parsing, stream framing and the sans-IO endpoint
//! (transactions + dialogs). Sockets live in [`crate::server`].
pub mod access;
pub mod admission;
pub mod digest;
pub mod endpoint;
pub mod framing;
pub mod message;
pub mod registration;
pub mod syntax;
pub mod trunk;
