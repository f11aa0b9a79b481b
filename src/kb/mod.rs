//! The Korean knowledge base (`kb/1339.toml`) and the router that maps what a
//! caller said to a topic, an emergency, a request for a person, something
//! 1339 does not handle, or a request to rephrase.
//!
//! Pure: the only I/O is [`KnowledgeBase::load`] reading the file.

pub mod data;
pub mod index;

pub use data::{Action, Entry, KnowledgeBase};
pub use index::{Route, RouteKind, Router};
