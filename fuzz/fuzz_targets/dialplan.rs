//! The dialplan loader (TOML + validation with line:col errors).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sori::dialog::plan::Dialplan;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Dialplan::parse(std::path::Path::new("fuzz.toml"), text).map_err(|e| e.to_string());
    }
});
