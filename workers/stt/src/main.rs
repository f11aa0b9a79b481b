//! sori-stt: the speech-to-text worker process (placeholder until whisper-rs lands).
fn main() {
    eprintln!("sori-stt: not built with an engine yet");
    std::process::exit(2);
}
