//! sori — an offline Korean voice agent for the 1339 public-health hotline.
pub mod sip;
