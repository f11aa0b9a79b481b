//! The dialplan: the call flow as data (`dialplan/*.toml`), checked at
//! start-up. Every error names the file, line and column of the offending
//! entry, so an operator can fix it without reading code.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{line_col, parse_toml, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialplan {
    pub settings: Settings,
    #[serde(default)]
    pub hours: Option<Hours>,
    /// Prompt name → Korean text (rendered by the TTS engine at start-up).
    pub prompts: BTreeMap<String, Spanned<String>>,
    /// Public sources of the information that prompts give (name → URL).
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
    #[serde(default)]
    pub transfers: BTreeMap<String, Transfer>,
    pub menus: BTreeMap<String, Menu>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The menu a call starts in.
    pub start: Spanned<String>,
    /// Silence after a menu prompt before it counts as "no input".
    #[serde(default = "default_timeout")]
    pub input_timeout_ms: u64,
    /// No-input / invalid-key events tolerated per menu before goodbye.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    pub no_input_prompt: Spanned<String>,
    pub invalid_prompt: Spanned<String>,
    pub goodbye_prompt: Spanned<String>,
    /// Said before hanging up on a call whose caller's audio stopped coming
    /// (`[rtp] no_media_s`); the goodbye prompt when not set.
    #[serde(default)]
    pub no_media_prompt: Option<Spanned<String>>,
    /// Longest call before a polite goodbye (seconds).
    #[serde(default = "default_max_call")]
    pub max_call_secs: u64,
}

fn default_timeout() -> u64 {
    6000
}
fn default_retries() -> u32 {
    2
}
fn default_max_call() -> u64 {
    900
}

/// When human agents answer transfers, in local time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// Offset of local time from UTC (Korea: 9).
    pub utc_offset_hours: i32,
    /// "HH:MM" 24-hour local opening and closing times.
    pub open: Spanned<String>,
    pub close: Spanned<String>,
    /// Days agents work: "mon".."sun".
    pub days: Vec<Spanned<String>>,
    pub closed_prompt: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// SIP URI sent in REFER's Refer-To.
    pub uri: Spanned<String>,
    /// Said before the REFER.
    pub prompt: Spanned<String>,
    /// Said when the REFER is refused or fails; the caller returns to the start menu.
    pub fallback_prompt: Spanned<String>,
    /// Whether `[hours]` applies to this target.
    #[serde(default)]
    pub use_hours: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub prompt: Spanned<String>,
    /// Replayed on `*`, after a no-input or an invalid key (defaults to `prompt`).
    #[serde(default)]
    pub repeat_prompt: Option<Spanned<String>>,
    pub keys: BTreeMap<String, Spanned<KeyAction>>,
}

/// What a key does. Exactly one of `goto`, `say`, `transfer`, `hangup`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyAction {
    pub goto: Option<String>,
    pub say: Option<String>,
    /// After `say`: the menu to continue in (defaults to the current one).
    pub then: Option<String>,
    pub transfer: Option<String>,
    /// Hang up after this prompt.
    pub hangup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Goto(String),
    Say { prompt: String, then: Option<String> },
    Transfer(String),
    Hangup(String),
}

impl KeyAction {
    pub fn step(&self) -> Option<Step> {
        match (&self.goto, &self.say, &self.transfer, &self.hangup) {
            (Some(m), None, None, None) if self.then.is_none() => Some(Step::Goto(m.clone())),
            (None, Some(p), None, None) => Some(Step::Say { prompt: p.clone(), then: self.then.clone() }),
            (None, None, Some(t), None) if self.then.is_none() => Some(Step::Transfer(t.clone())),
            (None, None, None, Some(p)) if self.then.is_none() => Some(Step::Hangup(p.clone())),
            _ => None,
        }
    }
}

pub const KEYS: &str = "0123456789*#ABCD";

impl Dialplan {
    /// Points the transfer target `name` at `uri` (`[dialplan] transfers` in
    /// sori.toml); false when this plan has no such target.
    pub fn set_transfer_uri(&mut self, name: &str, uri: &str) -> bool {
        match self.transfers.get_mut(name) {
            Some(t) => {
                let span = t.uri.span();
                t.uri = Spanned::new(span, uri.to_string());
                true
            }
            None => false,
        }
    }

    pub fn load(path: &Path) -> Result<Dialplan, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Dialplan, ConfigError> {
        let plan: Dialplan = parse_toml(path, text)?;
        if let Err((span, message)) = plan.check() {
            let (line, col) = line_col(text, span.start);
            return Err(ConfigError::Syntax { path: path.to_path_buf(), line, col, message });
        }
        Ok(plan)
    }

    pub fn prompt_text(&self, name: &str) -> Option<&str> {
        self.prompts.get(name).map(|s| s.get_ref().as_str())
    }

    pub fn menu_repeat_prompt(&self, menu: &str) -> Option<String> {
        let m = self.menus.get(menu)?;
        Some(m.repeat_prompt.as_ref().unwrap_or(&m.prompt).get_ref().clone())
    }

    /// Semantic checks: every reference resolves, keys are DTMF keys,
    /// prompts are non-empty. Returns the span of the first bad entry.
    fn check(&self) -> Result<(), (std::ops::Range<usize>, String)> {
        let prompt = |s: &Spanned<String>| -> Result<(), (std::ops::Range<usize>, String)> {
            if self.prompts.contains_key(s.get_ref()) {
                Ok(())
            } else {
                Err((s.span(), format!("unknown prompt {:?} (define it under [prompts])", s.get_ref())))
            }
        };
        for (name, text) in &self.prompts {
            if text.get_ref().trim().is_empty() {
                return Err((text.span(), format!("prompt {name:?} is empty")));
            }
        }
        if !self.menus.contains_key(self.settings.start.get_ref()) {
            return Err((
                self.settings.start.span(),
                format!("unknown start menu {:?}", self.settings.start.get_ref()),
            ));
        }
        prompt(&self.settings.no_input_prompt)?;
        prompt(&self.settings.invalid_prompt)?;
        prompt(&self.settings.goodbye_prompt)?;
        if let Some(p) = &self.settings.no_media_prompt {
            prompt(p)?;
        }
        if self.settings.input_timeout_ms < 1000 || self.settings.input_timeout_ms > 60_000 {
            return Err((self.settings.start.span(), "settings.input_timeout_ms must be 1000..=60000".into()));
        }
        if let Some(h) = &self.hours {
            prompt(&h.closed_prompt)?;
            for t in [&h.open, &h.close] {
                if parse_hhmm(t.get_ref()).is_none() {
                    return Err((t.span(), format!("bad time {:?}, expected HH:MM", t.get_ref())));
                }
            }
            for d in &h.days {
                if weekday_index(d.get_ref()).is_none() {
                    return Err((d.span(), format!("bad day {:?}, expected mon..sun", d.get_ref())));
                }
            }
            if !(-12..=14).contains(&h.utc_offset_hours) {
                return Err((h.open.span(), "hours.utc_offset_hours must be -12..=14".into()));
            }
        }
        for t in self.transfers.values() {
            prompt(&t.prompt)?;
            prompt(&t.fallback_prompt)?;
            let uri = t.uri.get_ref();
            if !(uri.starts_with("sip:") || uri.starts_with("sips:") || uri.starts_with("tel:"))
                || uri.contains(['<', '>', ' '])
            {
                return Err((t.uri.span(), format!("transfer uri {uri:?} must be a sip:, sips: or tel: URI")));
            }
            if t.use_hours && self.hours.is_none() {
                return Err((t.uri.span(), "use_hours needs an [hours] table".into()));
            }
        }
        for menu in self.menus.values() {
            prompt(&menu.prompt)?;
            if let Some(r) = &menu.repeat_prompt {
                prompt(r)?;
            }
            for (key, action) in &menu.keys {
                let span = action.span();
                if key.chars().count() != 1 || !KEYS.contains(key.as_str()) {
                    return Err((span, format!("key {key:?} is not a DTMF key (0-9, *, #, A-D)")));
                }
                let Some(step) = action.get_ref().step() else {
                    return Err((
                        span,
                        "a key needs exactly one of goto, say (with optional then), transfer, hangup".into(),
                    ));
                };
                let menu_ok = |m: &str| self.menus.contains_key(m);
                let bad = |what: &str, v: &str| Err((span.clone(), format!("unknown {what} {v:?}")));
                match &step {
                    Step::Goto(m) if !menu_ok(m) => return bad("menu", m),
                    Step::Say { prompt, .. } if !self.prompts.contains_key(prompt) => return bad("prompt", prompt),
                    Step::Say { then: Some(m), .. } if !menu_ok(m) => return bad("menu", m),
                    Step::Transfer(t) if !self.transfers.contains_key(t) => return bad("transfer", t),
                    Step::Hangup(p) if !self.prompts.contains_key(p) => return bad("prompt", p),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

pub fn weekday_index(s: &str) -> Option<u32> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().position(|d| d.eq_ignore_ascii_case(s)).map(|i| i as u32)
}

impl Hours {
    /// Whether agents work at `unix_secs`.
    pub fn is_open(&self, unix_secs: i64) -> bool {
        let local = unix_secs + self.utc_offset_hours as i64 * 3600;
        let days = local.div_euclid(86_400);
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        let weekday = (days + 3).rem_euclid(7) as u32;
        let minute = (local.rem_euclid(86_400) / 60) as u32;
        let day_ok = self.days.iter().any(|d| weekday_index(d.get_ref()) == Some(weekday));
        let open = parse_hhmm(self.open.get_ref()).unwrap_or(0);
        let close = parse_hhmm(self.close.get_ref()).unwrap_or(24 * 60);
        day_ok && minute >= open && minute < close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../dialplan/1339.toml");

    #[test]
    fn shipped_dialplan_is_valid_and_korean() {
        let p = Dialplan::parse(Path::new("1339.toml"), SHIPPED).expect("valid");
        let greeting = p.prompt_text(p.menus[p.settings.start.get_ref()].prompt.get_ref()).expect("greeting");
        assert!(greeting.contains("질병관리청"));
        assert!(p.menus.values().all(|m| !m.keys.is_empty()));
    }

    #[test]
    fn a_transfer_target_can_be_pointed_elsewhere() {
        let mut p = Dialplan::parse(Path::new("1339.toml"), SHIPPED).expect("valid");
        assert!(p.set_transfer_uri("agent", "sip:2000@127.0.0.1:5060"));
        assert_eq!(p.transfers["agent"].uri.get_ref(), "sip:2000@127.0.0.1:5060");
        assert!(!p.set_transfer_uri("nobody", "sip:x@y"));
    }

    #[test]
    fn unknown_menu_reference_names_its_line() {
        let bad = SHIPPED.replacen("goto = \"infectious\"", "goto = \"nowhere\"", 1);
        let e = Dialplan::parse(Path::new("d.toml"), &bad).unwrap_err().to_string();
        let line = bad.lines().position(|l| l.contains("nowhere")).expect("line") + 1;
        assert!(e.starts_with(&format!("d.toml:{line}:")), "{e}");
        assert!(e.contains("unknown menu \"nowhere\""), "{e}");
    }

    #[test]
    fn key_with_two_actions_is_rejected() {
        let bad = SHIPPED.replacen("goto = \"infectious\"", "goto = \"infectious\", transfer = \"agent\"", 1);
        let e = Dialplan::parse(Path::new("d.toml"), &bad).unwrap_err().to_string();
        assert!(e.contains("exactly one"), "{e}");
    }

    #[test]
    fn hours_follow_korean_time() {
        let office = SHIPPED
            .replace("open = \"00:00\"", "open = \"09:00\"")
            .replace("close = \"24:00\"", "close = \"18:00\"")
            .replace(", \"sat\", \"sun\"", "");
        let p = Dialplan::parse(Path::new("1339.toml"), &office).expect("valid");
        let h = p.hours.expect("hours");
        let always = Dialplan::parse(Path::new("1339.toml"), SHIPPED).expect("valid").hours.expect("hours");
        assert!(always.is_open(1_795_827_600), "shipped plan: agents around the clock");
        // 2026-11-27 (Friday) 01:00 UTC = 10:00 KST: open.
        assert!(h.is_open(1_795_741_200));
        // 2026-11-27 10:00 UTC = 19:00 KST: closed.
        assert!(!h.is_open(1_795_773_600));
        // 2026-11-28 (Saturday) 01:00 UTC: closed.
        assert!(!h.is_open(1_795_827_600));
    }
}
