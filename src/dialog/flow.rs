//! A call's walk through the dialplan, as a sans-IO state machine.
//!
//! Inputs: [`Flow::start`], [`Flow::on_digit`], [`Flow::on_playback_done`],
//! [`Flow::on_transfer_result`], [`Flow::handle_timeout`]. Outputs: drain
//! [`Flow::poll_action`]; wake at [`Flow::poll_timeout`]. The media task
//! plays prompts and sends REFER / BYE; this code only decides.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::plan::{Dialplan, Step};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop what is playing (barge-in), then play these prompts in order.
    Play { prompts: Vec<String>, interrupt: bool },
    /// Blind-transfer the caller to this URI (SIP REFER).
    Transfer { target: String, uri: String },
    /// End the call (BYE) with this cause.
    Hangup { cause: String },
}

/// What follows a spoken reply from the dialogue engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterSpeech {
    /// Keep listening in the current menu.
    Listen,
    /// Hand the caller to the agent (the dialplan's transfer target).
    Transfer,
    /// Offer the agent because sori did not understand: the same transfer,
    /// but the caller may talk over its announcement ([`Flow::talked_over`]),
    /// and then sori listens instead.
    OfferTransfer,
    /// The caller said goodbye: hang up after the reply.
    Hangup,
}

/// What happens when the queued prompts finish.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Then {
    WaitInput,
    Enter(String),
    Transfer(String),
    Hangup(String),
}

pub struct Flow {
    plan: Arc<Dialplan>,
    menu: String,
    then: Then,
    playing: bool,
    retries: u32,
    input_deadline: Option<Instant>,
    call_deadline: Option<Instant>,
    /// A REFER is out, its result not known yet.
    transferring: bool,
    unix_start: i64,
    done: bool,
    actions: VecDeque<Action>,
    /// Menus and prompts visited, for the call record.
    pub path: Vec<String>,
    /// The transfer announced now was offered ([`AfterSpeech::OfferTransfer`]).
    offered: bool,
    /// Keys pressed, in order.
    pub digits: String,
    /// How the call ended up: "hangup-caller", "transferred", "no-input", …
    pub outcome: Option<String>,
}

impl Flow {
    /// `unix_start`: wall-clock seconds at call start (for agent hours).
    pub fn new(plan: Arc<Dialplan>, unix_start: i64) -> Flow {
        let menu = plan.settings.start.get_ref().clone();
        Flow {
            plan,
            menu,
            then: Then::WaitInput,
            playing: false,
            retries: 0,
            input_deadline: None,
            call_deadline: None,
            transferring: false,
            unix_start,
            done: false,
            actions: VecDeque::new(),
            path: Vec::new(),
            offered: false,
            digits: String::new(),
            outcome: None,
        }
    }

    pub fn current_menu(&self) -> &str {
        &self.menu
    }

    pub fn start(&mut self, now: Instant) {
        self.call_deadline = Some(now + Duration::from_secs(self.plan.settings.max_call_secs));
        let start = self.menu.clone();
        self.enter(&start, false);
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.input_deadline, self.call_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn play(&mut self, prompts: Vec<String>, interrupt: bool, then: Then) {
        self.input_deadline = None;
        self.offered = false;
        self.playing = true;
        self.then = then;
        self.actions.push_back(Action::Play { prompts, interrupt });
    }

    fn enter(&mut self, menu: &str, interrupt: bool) {
        self.menu = menu.to_string();
        self.retries = 0;
        self.path.push(menu.to_string());
        let prompt = self.plan.menus[menu].prompt.get_ref().clone();
        self.play(vec![prompt], interrupt, Then::WaitInput);
    }

    fn repeat_menu(&mut self, lead: Option<String>) {
        let repeat = self.plan.menu_repeat_prompt(&self.menu).unwrap_or_default();
        let prompts = lead.into_iter().chain(std::iter::once(repeat)).collect();
        self.play(prompts, true, Then::WaitInput);
    }

    fn goodbye(&mut self, cause: &str, interrupt: bool) {
        let bye = self.plan.settings.goodbye_prompt.get_ref().clone();
        self.outcome.get_or_insert_with(|| cause.to_string());
        self.play(vec![bye], interrupt, Then::Hangup(cause.to_string()));
    }

    /// A DTMF key from RFC 4733 or SIP INFO.
    pub fn on_digit(&mut self, digit: char, now: Instant) {
        if self.done || (matches!(self.then, Then::Hangup(_) | Then::Transfer(_)) && self.playing) {
            return; // goodbye and transfer announcements are not interrupted
        }
        if self.input_deadline.is_none() && !self.playing {
            return; // transfer in progress
        }
        self.digits.push(digit);
        // A key pressed during an information prompt applies to the menu that follows it.
        if let Then::Enter(next) = self.then.clone() {
            self.menu = next;
        }
        let action = self.plan.menus[&self.menu].keys.get(&digit.to_string()).map(|a| a.get_ref().step());
        match action {
            Some(Some(step)) => self.run(step, now),
            _ if digit == '*' => {
                self.path.push(format!("{}*", self.menu));
                self.repeat_menu(None)
            }
            _ => {
                self.retries += 1;
                if self.retries > self.plan.settings.max_retries {
                    self.goodbye("invalid-input", true);
                } else {
                    let invalid = self.plan.settings.invalid_prompt.get_ref().clone();
                    self.repeat_menu(Some(invalid));
                }
            }
        }
    }

    fn run(&mut self, step: Step, _now: Instant) {
        match step {
            Step::Goto(menu) => self.enter(&menu, true),
            Step::Say { prompt, then } => {
                self.path.push(prompt.clone());
                let next = then.unwrap_or_else(|| self.menu.clone());
                self.play(vec![prompt], true, Then::Enter(next));
            }
            Step::Transfer(name) => {
                let t = &self.plan.transfers[&name];
                self.path.push(format!("transfer:{name}"));
                let open = !t.use_hours || self.plan.hours.as_ref().map(|h| h.is_open(self.unix_start)).unwrap_or(true);
                if open {
                    let prompt = t.prompt.get_ref().clone();
                    self.play(vec![prompt], true, Then::Transfer(name));
                } else if let Some(h) = &self.plan.hours {
                    let closed = h.closed_prompt.get_ref().clone();
                    let start = self.plan.settings.start.get_ref().clone();
                    self.play(vec![closed], true, Then::Enter(start));
                }
            }
            Step::Hangup(prompt) => {
                self.path.push(prompt.clone());
                self.outcome.get_or_insert_with(|| "completed".to_string());
                self.play(vec![prompt], true, Then::Hangup("completed".into()));
            }
        }
    }

    /// A spoken answer to what the caller said (the dialogue engine's reply,
    /// already rendered as prompt `prompt`). `label` goes into the path.
    /// Speaks `prompt`; false (nothing happens) while a goodbye or transfer
    /// announcement plays or after the call ended.
    pub fn speak(&mut self, prompt: String, label: &str, after: AfterSpeech) -> bool {
        if self.done || !self.interruptible() {
            return false;
        }
        // A reply to what the caller said meanwhile replaces an offered transfer.
        self.talked_over();
        self.retries = 0;
        self.path.push(label.to_string());
        let then = match after {
            AfterSpeech::Listen => Then::WaitInput,
            AfterSpeech::Transfer | AfterSpeech::OfferTransfer => {
                match self.plan.transfers.keys().find(|k| *k == "agent").or(self.plan.transfers.keys().next()) {
                    Some(t) => {
                        self.path.push(format!("transfer:{t}"));
                        Then::Transfer(t.clone())
                    }
                    None => Then::WaitInput,
                }
            }
            AfterSpeech::Hangup => {
                self.outcome.get_or_insert_with(|| "completed".to_string());
                Then::Hangup("completed".into())
            }
        };
        self.play(vec![prompt], true, then);
        self.offered = after == AfterSpeech::OfferTransfer && matches!(self.then, Then::Transfer(_));
        true
    }

    /// Whether what plays may be cut by the caller (not a goodbye or a
    /// transfer announcement, unless the transfer was only offered).
    pub fn interruptible(&self) -> bool {
        let announcing = matches!(self.then, Then::Hangup(_) | Then::Transfer(_)) && !self.offered;
        !(self.done || self.playing && announcing)
    }

    /// The caller talked over what plays (barge-in): an offered transfer is
    /// not made — they are still trying to say something — and sori listens.
    pub fn talked_over(&mut self) {
        if self.playing && self.offered && matches!(self.then, Then::Transfer(_)) {
            self.offered = false;
            self.then = Then::WaitInput;
            self.path.push("transfer-withdrawn".into());
        }
    }

    /// The caller started speaking: no "no input" timeout while they talk.
    pub fn on_speech_start(&mut self) {
        self.input_deadline = None;
    }

    /// The caller's audio stopped coming (no RTP for `[rtp] no_media_s`):
    /// after what is playing, the no-media prompt (or the goodbye), then
    /// hang up with outcome "no-media". False when the call is already
    /// ending or a transfer is under way (nothing happens then).
    pub fn no_media(&mut self) -> bool {
        let announcing = matches!(self.then, Then::Hangup(_) | Then::Transfer(_)) && self.playing;
        if self.done || announcing || self.transferring {
            return false;
        }
        let s = &self.plan.settings;
        let prompt = s.no_media_prompt.as_ref().unwrap_or(&s.goodbye_prompt).get_ref().clone();
        self.outcome = Some("no-media".into());
        self.path.push("no-media".into());
        self.play(vec![prompt], false, Then::Hangup("no-media".into()));
        true
    }

    /// The queued prompts have all been played.
    pub fn on_playback_done(&mut self, now: Instant) {
        if !self.playing || self.done {
            return;
        }
        self.playing = false;
        self.offered = false;
        match std::mem::replace(&mut self.then, Then::WaitInput) {
            Then::WaitInput => {
                self.input_deadline = Some(now + Duration::from_millis(self.plan.settings.input_timeout_ms));
            }
            Then::Enter(menu) => self.enter(&menu, false),
            Then::Transfer(name) => {
                let uri = self.plan.transfers[&name].uri.get_ref().clone();
                self.transferring = true;
                self.actions.push_back(Action::Transfer { target: name, uri });
            }
            Then::Hangup(cause) => {
                self.done = true;
                self.actions.push_back(Action::Hangup { cause });
            }
        }
    }

    /// Result of the REFER: `true` once the transfer target answered.
    pub fn on_transfer_result(&mut self, ok: bool, _now: Instant) {
        self.transferring = false;
        if self.done {
            return;
        }
        if ok {
            self.done = true;
            self.outcome = Some("transferred".into());
            self.actions.push_back(Action::Hangup { cause: "transferred".into() });
        } else {
            let fallback = self
                .path
                .iter()
                .rev()
                .find_map(|p| p.strip_prefix("transfer:"))
                .and_then(|n| self.plan.transfers.get(n))
                .map(|t| t.fallback_prompt.get_ref().clone());
            self.path.push("transfer-failed".into());
            let start = self.plan.settings.start.get_ref().clone();
            let prompts = fallback.into_iter().collect();
            self.play(prompts, true, Then::Enter(start));
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        if self.call_deadline.map(|d| d <= now).unwrap_or(false) {
            self.call_deadline = None;
            self.goodbye("max-duration", true);
            return;
        }
        if self.input_deadline.map(|d| d <= now).unwrap_or(false) {
            self.input_deadline = None;
            self.retries += 1;
            if self.retries > self.plan.settings.max_retries {
                self.goodbye("no-input", false);
            } else {
                let lead = self.plan.settings.no_input_prompt.get_ref().clone();
                self.repeat_menu(Some(lead));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn plan() -> Arc<Dialplan> {
        Arc::new(Dialplan::parse(Path::new("1339.toml"), include_str!("../../dialplan/1339.toml")).expect("plan"))
    }

    fn actions(f: &mut Flow) -> Vec<Action> {
        std::iter::from_fn(|| f.poll_action()).collect()
    }

    fn played(a: &[Action]) -> Vec<String> {
        a.iter()
            .flat_map(|a| match a {
                Action::Play { prompts, .. } => prompts.clone(),
                _ => vec![],
            })
            .collect()
    }

    #[test]
    fn greeting_then_key_one_enters_infectious_menu() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        assert_eq!(played(&actions(&mut f)), vec!["greeting"]);
        f.on_digit('1', t);
        let a = actions(&mut f);
        assert_eq!(a, vec![Action::Play { prompts: vec!["infectious_menu".into()], interrupt: true }]);
        assert_eq!(f.current_menu(), "infectious");
    }

    #[test]
    fn star_repeats_the_menu_prompt() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        actions(&mut f);
        f.on_playback_done(t);
        f.on_digit('*', t);
        assert_eq!(played(&actions(&mut f)), vec!["main_menu"]);
    }

    #[test]
    fn no_media_says_its_prompt_after_the_current_one_then_hangs_up() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        actions(&mut f);
        assert!(f.no_media());
        // Queued behind the greeting, not cutting it off.
        assert_eq!(actions(&mut f), vec![Action::Play { prompts: vec!["no_media".into()], interrupt: false }]);
        assert!(!f.interruptible());
        assert!(!f.no_media(), "once");
        f.on_digit('1', t);
        assert!(actions(&mut f).is_empty(), "keys no longer change the ending");
        f.on_playback_done(t);
        assert_eq!(actions(&mut f), vec![Action::Hangup { cause: "no-media".into() }]);
        assert_eq!(f.outcome.as_deref(), Some("no-media"));
        assert_eq!(f.path, vec!["main", "no-media"]);
    }

    #[test]
    fn no_media_during_a_transfer_changes_nothing() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        f.on_digit('0', t);
        actions(&mut f);
        assert!(!f.no_media(), "transfer announcement playing");
        f.on_playback_done(t);
        assert!(matches!(actions(&mut f)[..], [Action::Transfer { .. }]));
        assert!(!f.no_media(), "REFER under way: the caller's media may stop");
    }

    #[test]
    fn repeated_silence_says_goodbye_and_hangs_up() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        f.on_playback_done(t);
        let mut all = Vec::new();
        for _ in 0..3 {
            let now = f.poll_timeout().expect("input timer");
            f.handle_timeout(now);
            all.extend(actions(&mut f));
            f.on_playback_done(now);
        }
        all.extend(actions(&mut f));
        assert_eq!(played(&all), vec!["greeting", "no_input", "main_menu", "no_input", "main_menu", "goodbye"]);
        assert_eq!(all.last(), Some(&Action::Hangup { cause: "no-input".into() }));
        assert_eq!(f.outcome.as_deref(), Some("no-input"));
    }

    #[test]
    fn zero_transfers_after_the_announcement_and_falls_back_on_failure() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        f.on_digit('0', t);
        assert_eq!(played(&actions(&mut f)), vec!["greeting", "transferring"]);
        f.on_digit('1', t); // ignored during the announcement
        f.on_playback_done(t);
        assert_eq!(
            actions(&mut f),
            vec![Action::Transfer { target: "agent".into(), uri: "sip:agent@127.0.0.1:5070".into() }]
        );
        f.on_transfer_result(false, t);
        assert_eq!(played(&actions(&mut f)), vec!["transfer_failed"]);
        f.on_playback_done(t);
        assert_eq!(played(&actions(&mut f)), vec!["greeting"]);
        assert_eq!(f.digits, "0");
    }

    #[test]
    fn spoken_reply_plays_then_listens_and_emergency_transfers() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        actions(&mut f);
        f.speak("reply:1".into(), "kb:measles", AfterSpeech::Listen);
        assert_eq!(played(&actions(&mut f)), vec!["reply:1"]);
        f.on_playback_done(t);
        assert!(f.poll_timeout().is_some(), "listening again with the input timer");
        f.speak("reply:2".into(), "emergency", AfterSpeech::Transfer);
        f.on_playback_done(t);
        let a = actions(&mut f);
        assert!(matches!(a.last(), Some(Action::Transfer { .. })), "{a:?}");
        assert_eq!(f.path, vec!["main", "kb:measles", "emergency", "transfer:agent"]);
    }

    #[test]
    fn an_offered_transfer_talked_over_is_not_made_an_asked_one_is() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        f.on_playback_done(t);
        actions(&mut f);
        f.speak("reply:1".into(), "agent-request", AfterSpeech::OfferTransfer);
        assert!(f.interruptible(), "an offered transfer may be talked over");
        f.talked_over();
        f.on_playback_done(t);
        assert!(actions(&mut f).iter().all(|a| matches!(a, Action::Play { .. })), "no REFER");
        assert!(f.poll_timeout().is_some(), "listening again");
        assert_eq!(f.path.last().map(String::as_str), Some("transfer-withdrawn"));
        // A reply to what the caller said meanwhile replaces an offered transfer too.
        f.speak("reply:2".into(), "agent-request", AfterSpeech::OfferTransfer);
        assert!(f.speak("reply:3".into(), "clarify", AfterSpeech::Listen));
        f.on_playback_done(t);
        assert!(actions(&mut f).iter().all(|a| matches!(a, Action::Play { .. })), "no REFER");
        // Asked for (or an emergency): the announcement is not cut and the transfer is made.
        f.speak("reply:4".into(), "agent-request", AfterSpeech::Transfer);
        assert!(!f.interruptible());
        assert!(!f.speak("reply:5".into(), "clarify", AfterSpeech::Listen), "not said over it");
        f.talked_over();
        f.on_playback_done(t);
        assert!(matches!(actions(&mut f).last(), Some(Action::Transfer { .. })));
    }

    #[test]
    fn invalid_keys_count_as_retries() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        actions(&mut f);
        f.on_digit('7', t);
        assert_eq!(played(&actions(&mut f)), vec!["invalid", "main_menu"]);
        f.on_digit('7', t);
        f.on_digit('7', t);
        let a = actions(&mut f);
        assert_eq!(played(&a).last().map(String::as_str), Some("goodbye"));
    }

    #[test]
    fn key_during_information_applies_to_following_menu() {
        let t = Instant::now();
        let mut f = Flow::new(plan(), 0);
        f.start(t);
        f.on_digit('1', t);
        f.on_digit('2', t); // flu info
        f.on_playback_done(t);
        actions(&mut f);
        assert_eq!(f.current_menu(), "infectious");
        f.on_digit('9', t);
        assert_eq!(f.current_menu(), "main");
        assert_eq!(f.path, vec!["main", "infectious", "flu_info", "infectious", "main"]);
    }
}
