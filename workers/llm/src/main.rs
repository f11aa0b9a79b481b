//! sori-llm: the language-model worker process (placeholder until llama-cpp-2 lands).
fn main() {
    eprintln!("sori-llm: not built with an engine yet");
    std::process::exit(2);
}
