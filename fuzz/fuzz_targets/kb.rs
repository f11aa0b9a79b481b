//! The knowledge-base loader (TOML + validation with line:col errors).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sori::kb::data::KnowledgeBase;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = KnowledgeBase::parse(std::path::Path::new("fuzz.toml"), text).map_err(|e| e.to_string());
    }
});
