//! The call flow: the dialplan as data ([`plan`]) and a call's walk through
//! it ([`flow`]).
pub mod brain;
pub mod cues;
pub mod flow;
pub mod line_check;
pub mod opener;
pub mod plan;
pub mod symptom;
pub mod talked_on;
pub mod trouble;
