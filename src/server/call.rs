//! One call's media task: RTP out (prompts queued for the media clock), RTP in (jitter
//! buffer, codec, RFC 4733 DTMF), the dialplan [`Flow`], and the call record.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::metrics::{Metrics, JITTER_BOUNDS_MS, RTCP_LOSS_BOUNDS_PCT, RTT_BOUNDS_MS};
use super::pacer::Outbound;
use super::sip_io::{active_gauge, SipCommand};
use super::{speech, Shared};
use crate::codec::{self, Decoder, SAMPLES_PER_FRAME_8K};
use crate::dialog::flow::{Action, Flow};
use crate::rtp::dtmf::{parse_sip_info, DtmfDetector};
use crate::rtp::jitter::{frames_to_take, JitterBuffer, Playout};
use crate::rtp::packet::{is_rtcp, RtpPacket, RtpSender};
use crate::rtp::rtcp::{ntp_from_system, SenderInfo};
use crate::rtp::rtcp_session::RtcpSession;
use crate::sdp::{self, Direction, Negotiated, SessionDescription};
use crate::sip::endpoint::{CallHandle, EndReason, ReferOutcome};
use crate::sip::message::Message;
use crate::store::{now_ms, CallRecord, MediaQuality};

#[derive(Debug)]
pub enum CallEvent {
    Confirmed { ack_body: Vec<u8> },
    ReInvite(Box<Message>),
    Info { content_type: String, body: String },
    Refer(ReferOutcome),
    Ended(EndReason),
    Shutdown,
}

pub struct CallSetup {
    pub handle: CallHandle,
    /// The hotline the dialled number reached: its dialplan, prompts, knowledge base, voice.
    pub hotline: Arc<super::hotline::Hotline>,
    /// What this call may negotiate (the server's, or its trunk's SRTP policy).
    pub caps: sdp::LocalCaps,
    pub record: CallRecord,
    pub offer: Option<SessionDescription>,
    pub negotiated: Option<Negotiated>,
    pub local_ip: IpAddr,
    pub socket: UdpSocket,
    /// RTCP on the RTP port + 1 (None when the offer multiplexes RTCP).
    pub rtcp_socket: Option<UdpSocket>,
}

/// Receive-side media state of a call with a negotiated codec (the send
/// side lives in [`Outbound`], driven by the media clock).
struct Media {
    neg: Negotiated,
    decoder: Box<dyn Decoder>,
    latched: bool,
    /// SRTP: checks and decrypts what the caller sends (the caller's SDES key).
    srtp_in: Option<crate::rtp::srtp::Srtp>,
}

/// Applies a negotiated stream to both directions; keeps SSRC and sequence
/// continuity when only the address or direction changed.
/// Rendered replies a call keeps (each up to ~10 s of 8 kHz audio).
const DYNAMIC_KEPT: usize = 8;

/// An utterance at least this long (pre- and post-roll included) with no
/// words recognised gets "잘 들리지 않습니다"; shorter ones are noise.
const NOT_HEARD_MIN_MS: u64 = 1200;

fn apply_media(media: &mut Option<Media>, out: &mut Outbound, mut neg: Negotiated) -> Result<(), codec::CodecError> {
    // SRTP: a re-offer with the caller's same key (hold, a new address) keeps
    // both contexts and our key; a new key, or none, starts over.
    let old_keys = media.as_ref().and_then(|m| m.neg.srtp.as_ref());
    let rekey = match (old_keys, neg.srtp.as_mut()) {
        (Some(old), Some(new)) if old.suite == new.suite && old.remote == new.remote => {
            new.local = old.local.clone();
            false
        }
        (None, None) => false,
        _ => true,
    };
    let mut srtp_in = None;
    if rekey {
        if let Some(k) = &neg.srtp {
            tracing::info!(suite = k.suite.name(), "media encrypted: SRTP keys from SDES");
        }
        out.srtp = neg.srtp.as_ref().map(|k| crate::rtp::srtp::Srtp::new(k.suite, &k.local));
        srtp_in = Some(neg.srtp.as_ref().map(|k| crate::rtp::srtp::Srtp::new(k.suite, &k.remote)));
    }
    let codec_changed = media.as_ref().map(|m| m.neg.codec != neg.codec).unwrap_or(true);
    if codec_changed || out.encoder.is_none() {
        out.encoder = Some(codec::encoder(neg.codec)?);
    }
    match out.sender.as_mut() {
        Some(snd) => {
            snd.set_ts_step(neg.codec.samples_per_20ms_rtp());
            snd.set_payload_type(neg.pt);
            snd.mark_talkspurt();
        }
        None => out.sender = Some(RtpSender::new(neg.pt, neg.codec.samples_per_20ms_rtp())),
    }
    let moved = media.as_ref().map(|m| m.neg.remote_rtp != neg.remote_rtp).unwrap_or(true);
    if neg.remote_rtp.is_some() && moved {
        out.remote = neg.remote_rtp;
    }
    match media {
        Some(m) if !codec_changed => {
            if moved {
                m.latched = false;
            }
            m.neg = neg;
            if let Some(s) = srtp_in {
                m.srtp_in = s;
            }
        }
        _ => {
            let srtp_in = match srtp_in {
                Some(s) => s,
                None => media.as_mut().and_then(|m| m.srtp_in.take()),
            };
            *media = Some(Media { decoder: codec::decoder(neg.codec)?, latched: false, neg, srtp_in })
        }
    }
    Ok(())
}

const FRAME: Duration = Duration::from_millis(20);

pub async fn run(
    shared: Arc<Shared>,
    setup: CallSetup,
    sip: mpsc::UnboundedSender<SipCommand>,
    events: mpsc::UnboundedReceiver<CallEvent>,
    span: tracing::Span,
) {
    let h = setup.handle;
    active_gauge(&shared.metrics, 1);
    let record = CallTask::new(shared.clone(), setup, sip.clone(), events).run().instrument(span).await;
    shared.store.call_finished(record);
    active_gauge(&shared.metrics, -1);
    let _ = sip.send(SipCommand::Done(h));
}

struct CallTask {
    shared: Arc<Shared>,
    hotline: Arc<super::hotline::Hotline>,
    caps: sdp::LocalCaps,
    h: CallHandle,
    sip: mpsc::UnboundedSender<SipCommand>,
    events: mpsc::UnboundedReceiver<CallEvent>,
    sock: Arc<UdpSocket>,
    local_ip: IpAddr,
    local_port: u16,
    offer: Option<SessionDescription>,
    media: Option<Media>,
    out: Arc<Mutex<Outbound>>,
    playback_done: mpsc::UnboundedReceiver<()>,
    sdp_version: u64,
    session_id: u64,
    /// Our SDES key when we made the offer (delayed offer, `[rtp] srtp = "require"`).
    offered_key: Option<crate::rtp::srtp::MasterKey>,
    flow: Flow,
    dtmf: DtmfDetector,
    jitter: JitterBuffer,
    record: CallRecord,
    /// Spoken conversation (when speech engines are loaded).
    listener: Option<crate::audio::Listener>,
    conv: crate::dialog::brain::Conversation,
    heard_tx: mpsc::UnboundedSender<crate::stt::pieces::PieceResult>,
    heard_rx: mpsc::UnboundedReceiver<crate::stt::pieces::PieceResult>,
    pieces: crate::stt::pieces::Pieces<std::time::Instant>,
    /// Transcription jobs in flight by (turn start, piece): one for a piece
    /// the caller talked past is cancelled (aborting it drops its place in
    /// the worker queue, or stops the worker's decoding).
    stt_jobs: std::collections::HashMap<(Duration, crate::server::speech::Span), tokio::task::AbortHandle>,
    spoken_tx: mpsc::UnboundedSender<speech::Said>,
    spoken_rx: mpsc::UnboundedReceiver<speech::Said>,
    /// The reply whose continuation sentences may still follow (None once
    /// the caller interrupted it or a newer reply started).
    current_reply: Option<u64>,
    /// A caller who talks on right after their turn was judged over.
    talked_on: crate::dialog::talked_on::TalkedOn,
    /// Something is said soon after each turn even when engines fail.
    guard: crate::dialog::trouble::EngineGuard,
    /// The conversation before the reply being made: restored when a
    /// fallback is said instead (the caller never heard that reply).
    reply_before: Option<(u64, crate::dialog::brain::Conversation)>,
    /// A reply that only asks for more, ready but kept until the caller has
    /// been quiet `[vad] ask_more_after_ms` ([`HeldReply`]).
    held_reply: Option<HeldReply>,
    /// Replies rendered for this call (prompt name → audio).
    dynamic: std::collections::HashMap<String, Arc<[i16]>>,
    dynamic_order: std::collections::VecDeque<String>,
    more_seq: u64,
    turns: u32,
    /// The reply now playing (turn index) for barge-in records.
    playing_turn: Option<crate::store::TurnRecord>,
    answered: bool,
    flow_started: bool,
    hangup_sent: Option<Instant>,
    /// When the call-duration cap ends the call ([sip] max_call_s, from answer).
    max_duration_at: Option<Instant>,
    /// When the call ends for want of the caller's RTP ([rtp] no_media_s after
    /// the answer or the last packet; None while the caller is not expected to send).
    no_media_at: Option<Instant>,
    ended: bool,
    refer_deadline: Option<Instant>,
    /// RTCP (`rtp::rtcp_session`): receive statistics, the caller's reports, our SR/RR.
    rtcp: RtcpSession,
    /// The RTP port + 1 when RTCP is not multiplexed.
    rtcp_sock: Option<Arc<UdpSocket>>,
    /// Where the caller's RTCP comes from on that port (symmetric RTCP).
    rtcp_from: Option<SocketAddr>,
    /// When our next report is due.
    rtcp_at: Option<Instant>,
    /// Our packet count at the previous report: an SR when more were sent since.
    rtcp_sent_packets: Option<u32>,
    /// Stereo recording of the call (`[store] record`), from the answer on.
    recorder: Option<super::recorder::Recorder>,
}

impl CallTask {
    fn new(
        shared: Arc<Shared>,
        s: CallSetup,
        sip: mpsc::UnboundedSender<SipCommand>,
        events: mpsc::UnboundedReceiver<CallEvent>,
    ) -> CallTask {
        let local_port = s.socket.local_addr().map(|a| a.port()).unwrap_or(0);
        let clock_rate = s.negotiated.as_ref().map_or(8000, |n| n.codec.clock_rate());
        let rtcp = RtcpSession::new(format!("sori@{}", s.local_ip), clock_rate, std::time::Instant::now());
        let rtcp_sock = s.rtcp_socket.map(Arc::new);
        let flow = Flow::new(s.hotline.plan.clone(), now_ms() / 1000);
        let jitter = JitterBuffer::new(shared.cfg.rtp.jitter_frames, 50);
        let out = Arc::new(Mutex::new(Outbound::new()));
        let mut media = None;
        if let (Some(n), Ok(mut o)) = (s.negotiated, out.lock()) {
            if let Err(e) = apply_media(&mut media, &mut o, n) {
                tracing::warn!(error = %e, "codec unavailable");
            }
        }
        let (done_tx, playback_done) = mpsc::unbounded_channel();
        let socket = Arc::new(s.socket);
        shared.pacer.add(out.clone(), socket.clone(), done_tx);
        let listener = shared.speech.as_ref().map(|sp| sp.listener());
        let (heard_tx, heard_rx) = mpsc::unbounded_channel();
        let (spoken_tx, spoken_rx) = mpsc::unbounded_channel();
        CallTask {
            hotline: s.hotline,
            caps: s.caps,
            listener,
            conv: Default::default(),
            heard_tx,
            heard_rx,
            pieces: crate::stt::pieces::Pieces::new(Duration::from_millis(shared.cfg.stt.piece_min_ms)).cancelling(),
            stt_jobs: Default::default(),
            spoken_tx,
            spoken_rx,
            current_reply: None,
            talked_on: Default::default(),
            held_reply: None,
            guard: crate::dialog::trouble::EngineGuard::new(&shared.cfg.fallback),
            reply_before: None,
            dynamic: Default::default(),
            dynamic_order: Default::default(),
            more_seq: 0,
            turns: 0,
            playing_turn: None,
            out,
            playback_done,
            h: s.handle,
            sip,
            events,
            sock: socket,
            local_ip: s.local_ip,
            local_port,
            offer: s.offer,
            media,
            sdp_version: 1,
            session_id: rand::random::<u32>() as u64,
            offered_key: None,
            flow,
            dtmf: DtmfDetector::new(),
            jitter,
            record: s.record,
            answered: false,
            flow_started: false,
            hangup_sent: None,
            max_duration_at: None,
            no_media_at: None,
            ended: false,
            refer_deadline: None,
            recorder: None,
            rtcp,
            rtcp_sock,
            rtcp_from: None,
            rtcp_at: None,
            rtcp_sent_packets: None,
            shared,
        }
    }

    fn local_sdp(&mut self) -> String {
        self.sdp_version += 1;
        match (&self.offer, &self.media) {
            (Some(offer), Some(m)) => {
                sdp::answer(offer, &m.neg, self.local_ip, self.local_port, self.session_id, self.sdp_version)
            }
            _ => {
                if self.caps.srtp == sdp::SrtpPolicy::Require && self.offered_key.is_none() {
                    self.offered_key = Some(crate::rtp::srtp::MasterKey::random());
                }
                let key = self.offered_key.as_ref();
                offer_sdp(&self.caps, self.local_ip, self.local_port, self.session_id, self.sdp_version, key)
            }
        }
    }

    async fn run(mut self) -> CallRecord {
        let ring = Duration::from_millis(self.shared.cfg.sip.ring_ms);
        let mut answer_at = Some(Instant::now() + ring);
        if !ring.is_zero() {
            let _ = self.sip.send(SipCommand::Ringing(self.h));
        }
        // Receive clock: one frame out of the jitter buffer per 20 ms (the
        // send side runs on the shared media clock, see `pacer`).
        // Ticks keep to start + n × 20 ms (Burst): with `Delay` every tick
        // that fires a millisecond late shifts all later ones, the caller's
        // packets pile up in the jitter buffer and the caller's speech
        // reaches VAD later and later (+1.3 s after ten minutes).
        let mut rx_tick = tokio::time::interval(FRAME);
        rx_tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut buf = vec![0u8; 2048];
        let mut rtcp_buf = vec![0u8; if self.rtcp_sock.is_some() { 1500 } else { 0 }];
        let mut decoded = Vec::with_capacity(SAMPLES_PER_FRAME_8K * 2);
        let mut shutdown = false;

        while !self.ended {
            let flow_at = self.flow.poll_timeout();
            let hangup_guard = self.hangup_sent.map(|t| t + Duration::from_secs(5));
            let refer_at = self.refer_deadline;
            let max_at = self.max_duration_at;
            let rtcp_at = self.rtcp_due();
            let no_media_at = self.no_media_at;
            let guard_at = self.guard.poll_timeout();
            let held_at = self.held_reply.as_ref().map(|h| h.at);
            tokio::select! {
                _ = sleep_opt(answer_at) => {
                    answer_at = None;
                    let sdp = self.local_sdp();
                    let _ = self.sip.send(SipCommand::Accept(self.h, sdp));
                    self.answered = true;
                    self.record.answered_ms = Some(now_ms());
                    let cap = self.shared.cfg.sip.max_call_s;
                    self.max_duration_at = (cap > 0).then(|| Instant::now() + Duration::from_secs(cap));
                    self.start_recording();
                    self.arm_no_media();
                    if let Some(m) = &self.media {
                        self.record.codec = Some(m.neg.codec.name().to_string());
                        self.shared.store.call_answered(&self.record.call_id, now_ms(), m.neg.codec.name());
                        self.start_flow();
                    }
                    self.update_sending();
                }
                Some(()) = self.playback_done.recv() => {
                    self.playing_turn = None;
                    self.flow.on_playback_done(Instant::now().into_std());
                }
                _ = rx_tick.tick(), if self.answered && self.media.is_some() => {
                    for _ in 0..frames_to_take(self.jitter.len(), self.shared.cfg.rtp.jitter_frames) {
                        if let Some(m) = &mut self.media {
                            decoded.clear();
                            match self.jitter.pop() {
                                Playout::Frame(p) => { let _ = m.decoder.decode(&p, &mut decoded); }
                                Playout::Lost => m.decoder.conceal(&mut decoded),
                                Playout::Empty => {}
                            }
                        }
                        self.listen(&decoded);
                        self.record_frame(&decoded);
                    }
                }
                Some(piece) = self.heard_rx.recv() => {
                    self.stt_jobs.remove(&(piece.turn_start, piece.piece));
                    let hint = self.turn_hint(&piece);
                    if let Some((turn, detected)) = self.pieces.on_result(piece) {
                        self.on_heard(speech::heard(turn, detected, true));
                    }
                    // After on_result: a turn this hint ends finds its transcript ready.
                    if let Some((span, hint)) = hint {
                        self.hint_turn(span, hint);
                    }
                }
                Some(said) = self.spoken_rx.recv() => match said {
                    speech::Said::First(s) => self.on_spoken(*s),
                    speech::Said::More { reply_id, text, audio } => self.on_more(reply_id, text, audio),
                    speech::Said::Failed { reply_id } => {
                        if self.hangup_sent.is_none() && self.current_reply == Some(reply_id) {
                            let say = self.guard.failed();
                            self.say_fallback(say);
                        }
                    }
                },
                _ = sleep_opt(held_at) => {
                    // A voice that has just started is confirmed as speech
                    // (which withdraws the reply) only `min_speech` later:
                    // look again a frame on, so it is not talked over.
                    if self.listener.as_ref().is_some_and(|l| l.voice_started()) {
                        if let Some(h) = self.held_reply.as_mut() {
                            h.at = Instant::now() + FRAME;
                        }
                    } else if let Some(h) = self.held_reply.take() {
                        let id = h.spoken.reply_id;
                        self.say_reply(h.spoken);
                        for (text, audio) in h.more {
                            self.on_more(id, text, audio);
                        }
                    }
                }
                _ = sleep_opt(guard_at) => {
                    if let Some(say) = self.guard.handle_timeout(std::time::Instant::now()) {
                        if say != crate::dialog::trouble::Say::Hold {
                            Metrics::inc(&self.shared.metrics.stt_failures);
                            tracing::warn!("no transcript in time: turn given up");
                        }
                        self.say_fallback(say);
                    }
                }
                r = recv_opt(self.rtcp_sock.as_deref(), &mut rtcp_buf) => {
                    if let Ok((n, src)) = r {
                        if let Ok(plain) = self.unprotect(&rtcp_buf[..n], src) {
                            self.on_rtcp(plain.as_deref().unwrap_or(&rtcp_buf[..n]), src, true);
                        }
                    }
                }
                _ = sleep_opt(rtcp_at), if self.hangup_sent.is_none() => self.send_rtcp(false),
                r = self.sock.recv_from(&mut buf) => {
                    if let Ok((n, src)) = r {
                        self.on_rtp(&buf[..n], src);
                    }
                }
                ev = self.events.recv() => match ev {
                    Some(ev) => {
                        if matches!(ev, CallEvent::Shutdown) { shutdown = true; }
                        self.on_event(ev);
                    }
                    None => break,
                },
                _ = sleep_opt(flow_at) => {
                    self.flow.handle_timeout(Instant::now().into_std());
                }
                _ = sleep_opt(refer_at) => {
                    self.refer_deadline = None;
                    tracing::info!("transfer not confirmed in time");
                    self.flow.on_transfer_result(false, Instant::now().into_std());
                }
                _ = sleep_opt(max_at), if self.hangup_sent.is_none() => {
                    self.max_duration_at = None;
                    tracing::info!(max_call_s = self.shared.cfg.sip.max_call_s, "call-duration cap reached");
                    self.record.hangup_cause.get_or_insert_with(|| "max-duration".to_string());
                    self.record.outcome.get_or_insert_with(|| "max-duration".to_string());
                    self.hangup_with(
                        "max-duration",
                        Some("Q.850;cause=102;text=\"maximum call duration reached\"".into()),
                    );
                }
                _ = sleep_opt(no_media_at), if self.hangup_sent.is_none() => self.on_no_media(),
                _ = sleep_opt(hangup_guard) => {
                    tracing::debug!("no answer to BYE in time; closing the record");
                    self.ended = true;
                }
            }
            self.drain_flow();
            if shutdown && self.hangup_sent.is_none() && !self.ended {
                self.hangup("shutdown");
            }
        }
        if let Some(rec) = self.recorder.take() {
            if let Ok(mut o) = self.out.lock() {
                o.tap = None;
            }
            self.record.recording = rec.finish().map(|p| p.display().to_string());
        }
        self.finish_rtcp();
        let mut r = self.record;
        r.ended_ms = Some(now_ms());
        r.dtmf = self.flow.digits.clone();
        r.menu_path = self.flow.path.join(">");
        if r.outcome.is_none() {
            r.outcome = self
                .flow
                .outcome
                .clone()
                .or_else(|| Some(if self.answered { "caller-hangup".into() } else { "cancelled".into() }));
        }
        let stats = self.jitter.stats();
        tracing::info!(
            outcome = r.outcome.as_deref().unwrap_or(""),
            cause = r.hangup_cause.as_deref().unwrap_or(""),
            dtmf = %r.dtmf,
            path = %r.menu_path,
            rtp_in = stats.received,
            lost = stats.lost,
            "call ended"
        );
        r
    }

    /// Sending is on while answered, not on hold and not hung up.
    fn update_sending(&mut self) {
        let sends = self.answered
            && self.hangup_sent.is_none()
            && self.media.as_ref().map(|m| m.neg.local_direction.sends()).unwrap_or(false);
        if let Ok(mut o) = self.out.lock() {
            o.sending = sends;
        }
    }

    /// (Re)starts the no-media timer: from now, when the call is answered, the
    /// caller is expected to send (not on hold) and `[rtp] no_media_s` > 0.
    fn arm_no_media(&mut self) {
        let secs = self.shared.cfg.rtp.no_media_s;
        let sends = self.media.as_ref().is_some_and(|m| m.neg.remote_direction.sends() && !m.neg.is_hold());
        self.no_media_at = (self.answered && sends && secs > 0).then(|| Instant::now() + Duration::from_secs(secs));
    }

    /// No RTP from the caller for `[rtp] no_media_s`: say so and hang up
    /// (after what is playing), unless the call is already ending or being
    /// transferred — then look again a period later.
    fn on_no_media(&mut self) {
        let secs = self.shared.cfg.rtp.no_media_s;
        if !self.flow_started || self.refer_deadline.is_some() || !self.flow.no_media() {
            self.arm_no_media();
            return;
        }
        self.no_media_at = None;
        let rtp_in = self.jitter.stats().received;
        tracing::warn!(no_media_s = secs, rtp_in, "no media from the caller: ending the call");
        Metrics::inc(&self.shared.metrics.calls_no_media);
        self.record.hangup_cause.get_or_insert_with(|| "no-media".to_string());
        self.record.outcome.get_or_insert_with(|| "no-media".to_string());
        self.drain_flow();
    }

    fn start_flow(&mut self) {
        if !self.flow_started {
            self.flow_started = true;
            self.flow.start(Instant::now().into_std());
        }
    }

    fn hangup(&mut self, cause: &str) {
        self.hangup_with(cause, None);
    }

    /// Ends the call; `reason` goes into the BYE's Reason header (RFC 3326).
    fn hangup_with(&mut self, cause: &str, reason: Option<String>) {
        if self.hangup_sent.is_some() {
            return;
        }
        self.hangup_sent = Some(Instant::now());
        self.update_sending();
        // After the no-media goodbye the caller's side (or a PBX) learns why.
        let reason = reason.or_else(|| {
            (self.record.hangup_cause.as_deref() == Some("no-media"))
                .then(|| "Q.850;cause=41;text=\"no media from the caller\"".to_string())
        });
        self.record.hangup_cause.get_or_insert_with(|| "sori-bye".to_string());
        if self.record.outcome.is_none() {
            self.record.outcome = self.flow.outcome.clone().or_else(|| Some(cause.to_string()));
        }
        let _ = self.sip.send(match reason {
            Some(r) => SipCommand::HangupReason(self.h, r),
            None => SipCommand::Hangup(self.h),
        });
    }

    fn drain_flow(&mut self) {
        while let Some(a) = self.flow.poll_action() {
            match a {
                Action::Play { prompts, interrupt } => {
                    let playing = match self.out.lock() {
                        Ok(mut o) => {
                            if interrupt {
                                o.player.stop();
                            }
                            for p in prompts {
                                match self.hotline.prompts.get(&p).or_else(|| self.dynamic.get(&p).cloned()) {
                                    Some(audio) => o.player.enqueue(audio),
                                    None => tracing::warn!(prompt = %p, "prompt has no audio"),
                                }
                            }
                            o.player.is_playing()
                        }
                        Err(_) => false,
                    };
                    if !playing {
                        self.flow.on_playback_done(Instant::now().into_std());
                    }
                }
                Action::Transfer { target, uri } => {
                    tracing::info!(%target, %uri, "transferring by REFER");
                    self.refer_deadline = Some(Instant::now() + Duration::from_secs(30));
                    let _ = self.sip.send(SipCommand::Refer(self.h, uri));
                }
                Action::Hangup { cause } => self.hangup(&cause),
            }
        }
    }

    /// Starts recording at the answer when `[store] record` is on; a
    /// recording that cannot start is logged and the call goes on.
    fn start_recording(&mut self) {
        if !self.shared.cfg.store.record {
            return;
        }
        match super::recorder::Recorder::start(&self.shared.cfg.store.recordings, &self.record.call_id) {
            Ok(r) => {
                if let Ok(mut o) = self.out.lock() {
                    o.tap = Some(Vec::with_capacity(SAMPLES_PER_FRAME_8K * 4));
                }
                self.recorder = Some(r);
            }
            Err(e) => tracing::warn!(error = %e, "call recording unavailable"),
        }
    }

    /// One 20 ms frame of each side into the recording: the caller's (silence
    /// when nothing arrived) and what the media clock sent since the last.
    fn record_frame(&mut self, decoded: &[i16]) {
        let Some(rec) = self.recorder.as_mut() else { return };
        if decoded.is_empty() {
            rec.caller(&[0i16; SAMPLES_PER_FRAME_8K]);
        } else {
            rec.caller(decoded);
        }
        let sent = self.out.lock().ok().and_then(|mut o| o.tap.as_mut().map(std::mem::take));
        if let Some(sent) = sent {
            rec.sori(&sent);
        }
    }

    /// One 20 ms frame of caller audio (silence when nothing arrived) into
    /// VAD / end-of-turn / barge-in.
    fn listen(&mut self, decoded: &[i16]) {
        let Some(listener) = self.listener.as_mut() else { return };
        if self.hangup_sent.is_some() {
            return;
        }
        let playing = self.out.lock().map(|o| o.player.is_playing()).unwrap_or(false);
        listener.set_playing(playing && self.flow.interruptible());
        if decoded.is_empty() {
            listener.push_8k(&[0i16; SAMPLES_PER_FRAME_8K]);
        } else {
            listener.push_8k(decoded);
        }
        self.drain_listener(playing);
    }

    /// How finished a transcript sounds (`[vad] korean_endings`), for the
    /// end-of-turn rule; only a speculative one can still change the turn's
    /// end, which the listener checks by its span.
    fn turn_hint(&self, piece: &crate::stt::pieces::PieceResult) -> Option<(speech::Span, crate::audio::Completeness)> {
        if !self.shared.cfg.vad.korean_endings {
            return None;
        }
        let (span, hint) = piece.ending();
        tracing::debug!(?hint, end_ms = span.1.as_millis() as u64, text = ?piece.text, "transcript ending");
        Some((span, hint))
    }

    fn hint_turn(&mut self, span: speech::Span, hint: crate::audio::Completeness) {
        let Some(listener) = self.listener.as_mut() else { return };
        if self.hangup_sent.is_some() {
            return;
        }
        tracing::debug!(?hint, end_ms = span.1.as_millis() as u64, "turn hint");
        listener.set_turn_hint(span, hint);
        let playing = self.out.lock().map(|o| o.player.is_playing()).unwrap_or(false);
        self.drain_listener(playing);
    }

    /// Acts on what the listener decided (`playing`: sori is speaking now).
    fn drain_listener(&mut self, playing: bool) {
        let Some(listener) = self.listener.as_mut() else { return };
        let events: Vec<_> = std::iter::from_fn(|| listener.poll_event()).collect();
        for ev in events {
            match ev {
                crate::audio::ListenerEvent::SpeechStart { at } => {
                    tracing::debug!(at_ms = at.as_millis() as u64, "caller speech started");
                    // The caller talks again before the rest of a reply came:
                    // they moved on; what is playing is barge-in's business.
                    // Before the reply was heard at all, their turn was not
                    // over: it goes on, the reply withdrawn. A prompt or the
                    // hold phrase playing (no reply: a slow recogniser) is
                    // no reply heard.
                    let reply_playing = playing && self.playing_turn.is_some();
                    // A reply held for more is withdrawn even while an older
                    // one still plays: it answers the turn going on now.
                    let held = self.held_reply.take();
                    if held.is_some() {
                        tracing::info!("caller went on before the reply asking for more was said");
                    }
                    if !reply_playing || held.is_some() {
                        self.current_reply = None;
                        self.guard.dropped();
                        let mut goes_on = None;
                        if let Some(w) = self.talked_on.before_reply(std::time::Instant::now()) {
                            self.conv = w.conversation;
                            goes_on = Some(w.turn);
                            tracing::info!(reply = w.reply_id, "caller talked on before the reply: turn continues");
                        }
                        if let Some(turn) = self.talked_on.before_transcript(std::time::Instant::now()) {
                            goes_on = Some(turn);
                            tracing::info!("caller talked on before the transcript came: turn continues");
                        }
                        if let Some(turn) = goes_on {
                            self.hear_whole(turn);
                        } else if let Some(h) = &held {
                            // Too late to be the same turn, but the held reply
                            // was never heard: the conversation forgets it.
                            if self.reply_before.as_ref().is_some_and(|(id, _)| *id == h.spoken.reply_id) {
                                if let Some((_, before)) = self.reply_before.take() {
                                    self.conv = before;
                                }
                            }
                        }
                    }
                    self.flow.on_speech_start();
                }
                crate::audio::ListenerEvent::StopPlayback(_) => {
                    if self.flow.interruptible() {
                        tracing::info!("barge-in: caller talks over sori, playback stopped");
                        self.record.barge_ins += 1;
                        if let Ok(mut o) = self.out.lock() {
                            o.player.stop();
                        }
                        self.flow.talked_over();
                        self.current_reply = None;
                        if let Some(mut t) = self.playing_turn.take() {
                            t.barged_in = true;
                            self.shared.store.turn(t);
                        }
                        if let Some(w) = self.talked_on.barged_in(std::time::Instant::now()) {
                            self.conv = w.conversation;
                            tracing::info!(
                                reply = w.reply_id,
                                "caller talked on over the reply's start: turn continues"
                            );
                            self.hear_whole(w.turn);
                        }
                    }
                }
                crate::audio::ListenerEvent::Pause(u) => {
                    let span = (u.start, u.end);
                    let next = self.pieces.on_pause(span);
                    self.cancel_dropped_pieces();
                    if let Some(piece) = next {
                        self.transcribe_piece(u.start, piece, u.piece_audio(piece));
                        let vad = &self.shared.cfg.vad;
                        if vad.korean_endings && vad.await_transcript {
                            if let Some(l) = self.listener.as_mut() {
                                l.expect_turn_hint(span);
                            }
                        }
                    }
                }
                crate::audio::ListenerEvent::Utterance(u) => {
                    tracing::debug!(
                        start_ms = u.start.as_millis() as u64,
                        end_ms = u.end.as_millis() as u64,
                        "caller turn ended"
                    );
                    use crate::stt::pieces::AtEnd;
                    let now = std::time::Instant::now();
                    self.talked_on.ended(u.start, now);
                    // When the caller stopped speaking, by the listener's stream clock.
                    let behind = self.listener.as_ref().map_or(Duration::ZERO, |l| l.now().saturating_sub(u.end));
                    self.guard.turn_ended(u.start, now.checked_sub(behind).unwrap_or(now));
                    let at_end = self.pieces.on_end((u.start, u.end), now);
                    self.cancel_dropped_pieces();
                    match at_end {
                        AtEnd::Ready(turn) => self.on_heard(speech::heard(turn, now, false)),
                        AtEnd::Wait => {}
                        AtEnd::Transcribe(piece) => self.transcribe_piece(u.start, piece, u.piece_audio(piece)),
                    }
                }
            }
        }
    }

    /// The caller went on the turn that started at `turn`: when the listener
    /// still holds its audio (`[vad] rehear_resumed`), the turn is heard
    /// again whole, pause included, instead of its halves' texts joined —
    /// whisper hears half a sentence worse. A transcription of it still
    /// running is cancelled.
    fn hear_whole(&mut self, turn: Duration) {
        if !self.shared.cfg.vad.rehear_resumed || self.guard.is_abandoned(turn) {
            return;
        }
        let Some(listener) = self.listener.as_mut() else { return };
        if !listener.resume_turn(turn) {
            return;
        }
        self.pieces.forget(turn);
        self.cancel_dropped_pieces();
        self.talked_on.heard_whole(turn);
        Metrics::inc(&self.shared.metrics.turns_heard_whole);
        tracing::info!(turn_ms = turn.as_millis() as u64, "the turn going on is heard again whole");
    }

    /// Starts transcribing `piece` of the turn that began at `turn_start`,
    /// keeping its job so that it can be cancelled.
    fn transcribe_piece(&mut self, turn_start: Duration, piece: speech::Span, audio: Vec<i16>) {
        let job = speech::transcribe(&self.shared, &self.hotline, turn_start, piece, audio, self.heard_tx.clone());
        self.stt_jobs.extend(job.map(|j| ((turn_start, piece), j)));
    }

    /// Cancels the transcription of pieces the caller talked past.
    fn cancel_dropped_pieces(&mut self) {
        for key in self.pieces.take_dropped() {
            if let Some(job) = self.stt_jobs.remove(&key) {
                job.abort();
                Metrics::inc(&self.shared.metrics.stt_cancelled);
            }
        }
    }

    fn on_heard(&mut self, heard: speech::Heard) {
        if self.hangup_sent.is_some() {
            return;
        }
        if self.guard.is_abandoned(heard.span.0) {
            tracing::info!("transcript came after the turn was given up; ignored");
            return;
        }
        let text = match &heard.text {
            Ok(t) => t.clone(),
            Err(e) => {
                tracing::warn!(error = %e, "speech recognition failed");
                Metrics::inc(&self.shared.metrics.stt_failures);
                self.current_reply = None;
                let say = self.guard.failed();
                self.say_fallback(say);
                return;
            }
        };
        // The caller talked on before this came: it opens their next turn.
        if self.talked_on.heard(heard.span.0, &text) {
            tracing::info!(transcript = %text, stt_ms = heard.stt_ms, "caller said (kept for the turn going on)");
            return;
        }
        // Whisper hallucinates short fillers on noise; those are not turns.
        // A long stretch of speech that came back empty, though, is a caller
        // we did not understand: the brain asks them to say it again.
        let mut text = text;
        if crate::kb::index::compact(&text).chars().count() < 2 {
            if heard.end_ms.saturating_sub(heard.start_ms) < NOT_HEARD_MIN_MS {
                self.guard.dropped();
                return;
            }
            text.clear();
        }
        tracing::info!(transcript = %text, stt_ms = heard.stt_ms, "caller said");
        let text = self.talked_on.open(heard.span.0, &text);
        let before = self.conv.clone();
        let ended = heard.detected;
        let reply_by = self.guard.reply_by();
        let (action, reply_id) = speech::reply(
            &self.shared,
            &self.hotline,
            &mut self.conv,
            heard,
            text.clone(),
            reply_by,
            self.spoken_tx.clone(),
        );
        self.reply_before = Some((reply_id, before.clone()));
        self.talked_on.decided(reply_id, before, ended);
        // Only this reply may speak now; an older one still being made is stale.
        self.current_reply = Some(reply_id);
        tracing::debug!(?action, "reply decided");
    }

    fn on_spoken(&mut self, s: speech::Spoken) {
        if self.hangup_sent.is_some() || self.current_reply != Some(s.reply_id) {
            return;
        }
        if let Some(wait) = self.ask_more_wait(&s) {
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "reply asks for more: said once the caller has been quiet"
            );
            // Something is ready: no hold phrase meanwhile.
            self.guard.spoken();
            let at = (std::time::Instant::now() + wait).into();
            self.held_reply = Some(HeldReply { at, spoken: s, more: Vec::new() });
            return;
        }
        self.say_reply(s);
    }

    /// How much longer a reply that only asks for more
    /// ([`crate::dialog::brain::Reply::asks_for_more`]) waits: until the
    /// caller has been quiet `[vad] ask_more_after_ms` since their last
    /// voiced frame. None: say it now.
    fn ask_more_wait(&self, s: &speech::Spoken) -> Option<Duration> {
        let vad = &self.shared.cfg.vad;
        if !s.reply.asks_for_more || vad.ask_more_after_ms == 0 {
            return None;
        }
        let listener = self.listener.as_ref()?;
        let last_word = s.heard.span.1.saturating_sub(vad.endpoint().post_roll);
        let quiet = listener.now().saturating_sub(last_word);
        Duration::from_millis(vad.ask_more_after_ms).checked_sub(quiet).filter(|w| !w.is_zero())
    }

    fn say_reply(&mut self, s: speech::Spoken) {
        if self.hangup_sent.is_some() || self.current_reply != Some(s.reply_id) {
            return;
        }
        use crate::dialog::brain::ReplyAction;
        use crate::dialog::flow::AfterSpeech;
        self.turns += 1;
        let name = format!("reply:{}", self.turns);
        self.remember(name.clone(), s.audio.clone());
        let label = match (&s.reply.action, &s.reply.kb_id) {
            (_, Some(id)) => format!("kb:{id}"),
            (ReplyAction::Emergency, _) => "emergency".to_string(),
            (ReplyAction::Transfer, _) => "agent-request".to_string(),
            (ReplyAction::OutOfScope, _) => "out-of-scope".to_string(),
            (ReplyAction::Clarify, _) => "clarify".to_string(),
            (ReplyAction::Answer, None) => "goodbye".to_string(),
        };
        let after = match s.reply.action {
            ReplyAction::Transfer if s.reply.offered => AfterSpeech::OfferTransfer,
            ReplyAction::Emergency | ReplyAction::Transfer => AfterSpeech::Transfer,
            _ if s.reply.end_call => AfterSpeech::Hangup,
            _ => AfterSpeech::Listen,
        };
        let action =
            serde_json::to_value(s.reply.action).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let source = serde_json::to_value(s.source).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let turn = crate::store::TurnRecord {
            call_id: self.record.call_id.clone(),
            idx: self.turns,
            speech_start_ms: s.heard.start_ms,
            speech_end_ms: s.heard.end_ms,
            transcript: s.transcript.clone(),
            stt_ms: s.heard.stt_ms,
            stt_wait_ms: s.heard.wait_ms,
            action,
            kb_id: s.reply.kb_id.clone(),
            reply: s.reply.text.clone(),
            answer_source: source,
            llm_ms: s.llm_ms,
            tts_ms: s.tts_ms,
            respond_ms: s.heard.detected.elapsed().as_millis() as u64,
            barged_in: false,
        };
        if !self.flow.speak(name.clone(), &label, after) {
            tracing::info!(kb = ?turn.kb_id, "reply not spoken: an announcement is playing");
            self.dynamic.remove(&name);
            self.current_reply = None;
            self.guard.dropped();
            return;
        }
        self.guard.spoken();
        self.reply_before = None;
        self.talked_on.started(s.reply_id, std::time::Instant::now());
        tracing::info!(kb = ?turn.kb_id, action = %turn.action, respond_ms = turn.respond_ms, "answering");
        self.shared.store.turn(turn.clone());
        self.playing_turn = Some(turn);
        self.drain_flow();
    }

    /// Says a pre-rendered fallback ([`crate::dialog::trouble`]) instead of
    /// a reply: the hold phrase (the turn waits on; its reply cuts it short),
    /// an apology, or the transfer to an agent.
    fn say_fallback(&mut self, say: crate::dialog::trouble::Say) {
        use crate::dialog::flow::AfterSpeech;
        use crate::dialog::trouble::Say;
        if self.hangup_sent.is_some() {
            return;
        }
        let m = &self.shared.metrics;
        let (counter, after) = match say {
            Say::Hold => (&m.fallback_hold, AfterSpeech::Listen),
            Say::Sorry => (&m.fallback_sorry, AfterSpeech::Listen),
            Say::Transfer => (&m.fallback_transfer, AfterSpeech::Transfer),
        };
        Metrics::inc(counter);
        if say != Say::Hold {
            // A late reply to that turn is not said, and the conversation
            // forgets it (a clarifying question never heard is not pending).
            if let (Some((id, before)), Some(cur)) = (self.reply_before.take(), self.current_reply) {
                if id == cur {
                    self.conv = before;
                }
            }
            self.current_reply = None;
        }
        tracing::info!(fallback = say.label(), "engines slow or failing: saying a fallback");
        if self.flow.speak(say.text().to_string(), say.label(), after) {
            self.drain_flow();
        }
    }

    /// Keeps a reply's audio by name for the flow (and `*` repeat); only the
    /// latest [`DYNAMIC_KEPT`] stay, so a long call does not hoard audio.
    fn remember(&mut self, name: String, audio: Arc<[i16]>) {
        self.dynamic.insert(name.clone(), audio);
        self.dynamic_order.push_back(name);
        while self.dynamic_order.len() > DYNAMIC_KEPT {
            if let Some(old) = self.dynamic_order.pop_front() {
                self.dynamic.remove(&old);
            }
        }
    }

    /// The next sentence of a streamed reply: queued behind the one playing,
    /// or spoken on its own if that one already ended; dropped when the
    /// caller interrupted the reply or a newer one started.
    fn on_more(&mut self, reply_id: u64, text: String, audio: Arc<[i16]>) {
        if self.hangup_sent.is_some() || self.current_reply != Some(reply_id) {
            return;
        }
        if let Some(h) = self.held_reply.as_mut().filter(|h| h.spoken.reply_id == reply_id) {
            h.more.push((text, audio));
            return;
        }
        if let Some(turn) = self.playing_turn.as_mut() {
            if let Ok(mut o) = self.out.lock() {
                if o.player.is_playing() {
                    o.player.enqueue(audio);
                    turn.reply.push(' ');
                    turn.reply.push_str(&text);
                    self.shared.store.turn(turn.clone());
                    return;
                }
            }
        }
        self.more_seq += 1;
        let name = format!("reply:{}:more:{}", self.turns, self.more_seq);
        self.remember(name.clone(), audio);
        if self.flow.speak(name.clone(), "reply-more", crate::dialog::flow::AfterSpeech::Listen) {
            self.drain_flow();
        } else {
            self.dynamic.remove(&name);
        }
    }

    fn digit(&mut self, d: char, via: &str) {
        Metrics::inc(&self.shared.metrics.dtmf_digits);
        tracing::info!(digit = %d, via, "DTMF");
        self.flow.on_digit(d, Instant::now().into_std());
    }

    /// SRTP: the caller's packet checked and decrypted (`Ok(None)`: the
    /// call's media is plain); a refused one is counted and dropped.
    fn unprotect(&mut self, data: &[u8], src: SocketAddr) -> Result<Option<Vec<u8>>, ()> {
        let Some(srtp) = self.media.as_mut().and_then(|m| m.srtp_in.as_mut()) else { return Ok(None) };
        let r = if is_rtcp(data) { srtp.unprotect_rtcp(data) } else { srtp.unprotect_rtp(data) };
        r.map(Some).map_err(|e| {
            Metrics::inc(&self.shared.metrics.srtp_refused);
            tracing::debug!(error = %e, from = %src, len = data.len(), head = ?&data[..data.len().min(16)], "SRTP packet refused");
        })
    }

    fn on_rtp(&mut self, data: &[u8], src: SocketAddr) {
        let Ok(plain) = self.unprotect(data, src) else { return };
        let data = plain.as_deref().unwrap_or(data);
        if is_rtcp(data) {
            self.on_rtcp(data, src, false);
            return;
        }
        let Some(m) = &mut self.media else { return };
        let Ok(p) = RtpPacket::parse(data) else {
            Metrics::inc(&self.shared.metrics.rtp_invalid);
            return;
        };
        let is_dtmf = Some(p.payload_type) == m.neg.dtmf_pt;
        if p.payload_type != m.neg.pt && !is_dtmf {
            Metrics::inc(&self.shared.metrics.rtp_invalid);
            return;
        }
        Metrics::inc(&self.shared.metrics.rtp_received);
        self.rtcp.set_clock_rate(m.neg.codec.clock_rate());
        self.rtcp.on_rtp(p.ssrc, p.sequence, p.timestamp, std::time::Instant::now(), !is_dtmf);
        if self.no_media_at.is_some() {
            self.no_media_at = Some(Instant::now() + Duration::from_secs(self.shared.cfg.rtp.no_media_s));
        }
        // Symmetric RTP (RFC 4961): answer where the caller's media really comes from.
        if !m.latched {
            m.latched = true;
            if let Ok(mut o) = self.out.lock() {
                if o.remote != Some(src) {
                    tracing::debug!(from = ?o.remote, to = %src, "RTP peer latched");
                    o.remote = Some(src);
                }
            }
        }
        if is_dtmf {
            if let Some(d) = self.dtmf.on_packet(p.timestamp, p.payload) {
                self.digit(d, "rfc4733");
            }
        } else {
            self.jitter.push(p.sequence, p.timestamp, p.payload.to_vec());
        }
    }

    /// RTP the caller sent before its BYE but still queued on the socket
    /// (the event loop took the BYE first): counted in the receive
    /// statistics so the last report and the record cover the whole call.
    /// Audio and DTMF are not acted on any more.
    fn count_queued_rtp(&mut self) {
        let mut buf = [0u8; 2048];
        for _ in 0..256 {
            let Ok((n, src)) = self.sock.try_recv_from(&mut buf) else { break };
            let Ok(plain) = self.unprotect(&buf[..n], src) else { continue };
            let data = plain.as_deref().unwrap_or(&buf[..n]);
            let Some(m) = &self.media else { return };
            if is_rtcp(data) {
                continue;
            }
            let Ok(p) = RtpPacket::parse(data) else { continue };
            let is_dtmf = Some(p.payload_type) == m.neg.dtmf_pt;
            if p.payload_type != m.neg.pt && !is_dtmf {
                continue;
            }
            Metrics::inc(&self.shared.metrics.rtp_received);
            self.rtcp.on_rtp(p.ssrc, p.sequence, p.timestamp, std::time::Instant::now(), !is_dtmf);
        }
    }

    /// When our next RTCP report is due: the first is scheduled once the
    /// call is answered with a codec.
    fn rtcp_due(&mut self) -> Option<Instant> {
        if self.rtcp_at.is_none() && self.answered && self.media.is_some() {
            self.rtcp_at = Some(Instant::now() + rtcp_interval(true));
        }
        self.rtcp_at
    }

    /// RTCP from the caller: on the RTP port (rtcp-mux) or on port + 1.
    fn on_rtcp(&mut self, data: &[u8], src: SocketAddr, on_rtcp_port: bool) {
        let ours = self.out.lock().ok().and_then(|o| o.sender.as_ref().map(|s| s.ssrc())).unwrap_or(0);
        let ntp = ntp_from_system(SystemTime::now());
        let m = &self.shared.metrics;
        let got = match self.rtcp.on_rtcp(data, ours, std::time::Instant::now(), ntp) {
            Ok(got) => got,
            Err(e) => {
                Metrics::inc(&m.rtcp_invalid);
                tracing::debug!(error = %e, from = %src, "unreadable RTCP");
                return;
            }
        };
        Metrics::inc(&m.rtcp_received);
        if on_rtcp_port && self.rtcp_from != Some(src) {
            tracing::debug!(from = ?self.rtcp_from, to = %src, "RTCP peer latched");
            self.rtcp_from = Some(src);
        }
        let units_per_ms = self.media.as_ref().map_or(8.0, |md| f64::from(md.neg.codec.clock_rate()) / 1000.0);
        for b in &got.about_us {
            m.rtcp_reported_loss.observe(&RTCP_LOSS_BOUNDS_PCT, f64::from(b.fraction_lost) * 100.0 / 256.0);
            m.rtcp_reported_jitter.observe(&JITTER_BOUNDS_MS, f64::from(b.jitter) / units_per_ms);
        }
        for rtt in &got.rtt_ms {
            m.rtcp_rtt.observe(&RTT_BOUNDS_MS, *rtt);
        }
        tracing::debug!(
            reports = got.about_us.len(),
            lost = ?got.about_us.last().map(|b| b.cumulative_lost),
            fraction_lost = ?got.about_us.last().map(|b| b.fraction_lost),
            rtt_ms = ?got.rtt_ms.last(),
            sr = got.sender_report,
            bye = got.bye,
            "RTCP from the caller"
        );
    }

    /// Sends our report (an SR when we sent media since the last one, else
    /// an RR) with SDES CNAME, and BYE when `bye`; schedules the next. RTCP
    /// goes where the caller's RTP (rtcp-mux) or RTCP comes from, else
    /// where its SDP says.
    fn send_rtcp(&mut self, bye: bool) {
        self.rtcp_at = Some(Instant::now() + rtcp_interval(false));
        let Some(m) = &self.media else { return };
        let (ssrc, info, rtp_dst) = {
            let Ok(o) = self.out.lock() else { return };
            let Some(snd) = o.sender.as_ref() else { return };
            let (packets, octets) = snd.sent();
            let info = (packets > 0 && self.rtcp_sent_packets != Some(packets)).then(|| SenderInfo {
                ntp: ntp_from_system(SystemTime::now()),
                // The next packet's timestamp: due within 20 ms of now.
                rtp_ts: snd.timestamp(),
                packets,
                octets,
            });
            self.rtcp_sent_packets = Some(packets);
            (snd.ssrc(), info, o.remote)
        };
        let (sock, dst) = match (&self.rtcp_sock, m.neg.rtcp_mux) {
            (_, true) => (&self.sock, rtp_dst),
            (Some(rtcp), false) => (rtcp, self.rtcp_from.or(m.neg.remote_rtcp)),
            (None, false) => (&self.sock, m.neg.remote_rtcp),
        };
        let Some(dst) = dst else { return };
        let mut pkt = Vec::with_capacity(128);
        let now = std::time::Instant::now();
        if bye {
            self.rtcp.goodbye(ssrc, info, now, &mut pkt);
        } else {
            self.rtcp.report(ssrc, info, now, &mut pkt);
        }
        if let Ok(mut o) = self.out.lock() {
            if let Some(srtp) = o.srtp.as_mut() {
                match srtp.protect_rtcp(&pkt) {
                    Ok(p) => pkt = p,
                    Err(_) => return,
                }
            }
        }
        if sock.try_send_to(&pkt, dst).is_ok() {
            Metrics::inc(&self.shared.metrics.rtcp_sent);
        }
    }

    /// At the end of an answered call: the last report with BYE, and the
    /// media quality into the record and the metrics.
    fn finish_rtcp(&mut self) {
        if !self.answered || self.media.is_none() {
            return;
        }
        self.count_queued_rtp();
        self.send_rtcp(true);
        let s = self.rtcp.summary();
        let m = &self.shared.metrics;
        m.rtp_lost.fetch_add(s.rx_lost.max(0) as u64, std::sync::atomic::Ordering::Relaxed);
        if s.rx_packets > 0 {
            m.rtp_jitter.observe(&JITTER_BOUNDS_MS, s.rx_jitter_max_ms);
        }
        tracing::info!(
            rx_packets = s.rx_packets,
            rx_lost = s.rx_lost,
            jitter_max_ms = format!("{:.1}", s.rx_jitter_max_ms),
            peer_reports = s.peer_reports,
            peer_lost = ?s.peer_lost,
            rtt_ms = ?s.rtt_ms,
            "media quality"
        );
        self.record.quality = Some(MediaQuality {
            rx_packets: s.rx_packets,
            rx_lost: s.rx_lost,
            rx_loss_pct: s.rx_loss_pct(),
            rx_jitter_max_ms: s.rx_jitter_max_ms,
            rx_jitter_mean_ms: s.rx_jitter_mean_ms,
            peer_reports: s.peer_reports,
            peer_lost: s.peer_lost,
            peer_loss_max_pct: s.peer_loss_max_pct,
            peer_jitter_max_ms: s.peer_jitter_max_ms,
            rtt_ms: s.rtt_ms,
            rtcp_sent: s.rtcp_sent,
            rtcp_received: s.rtcp_received,
        });
    }

    fn on_event(&mut self, ev: CallEvent) {
        match ev {
            CallEvent::Confirmed { ack_body } => {
                if self.media.is_none() && !ack_body.is_empty() {
                    // Delayed offer: the ACK carries the caller's answer to our offer.
                    let neg = sdp::parse(&String::from_utf8_lossy(&ack_body))
                        .and_then(|a| sdp::negotiate(&a, &self.caps))
                        .map(|mut n| {
                            // We send with the key we offered, not a fresh one.
                            if let (Some(k), Some(ours)) = (n.srtp.as_mut(), &self.offered_key) {
                                k.local = ours.clone();
                            }
                            n
                        });
                    let applied = match (neg, self.out.lock()) {
                        (Ok(n), Ok(mut o)) => apply_media(&mut self.media, &mut o, n).is_ok(),
                        _ => false,
                    };
                    match (applied, &self.media) {
                        (true, Some(m)) => {
                            self.record.codec = Some(m.neg.codec.name().to_string());
                            self.update_sending();
                            self.start_flow();
                            self.arm_no_media();
                        }
                        _ => {
                            tracing::info!("unusable SDP answer in ACK");
                            self.hangup("bad-sdp-answer");
                        }
                    }
                }
            }
            CallEvent::ReInvite(msg) => {
                let answer = self.on_reinvite(&msg);
                let _ = self.sip.send(SipCommand::AnswerReinvite(self.h, answer));
            }
            CallEvent::Info { content_type, body } => {
                if let Some(d) = parse_sip_info(&content_type, &body) {
                    self.digit(d, "sip-info");
                }
            }
            CallEvent::Refer(outcome) => {
                let now = Instant::now().into_std();
                match outcome {
                    ReferOutcome::Accepted => tracing::info!("REFER accepted"),
                    ReferOutcome::Rejected(code) => {
                        tracing::info!(code, "REFER refused");
                        self.refer_deadline = None;
                        self.flow.on_transfer_result(false, now);
                    }
                    ReferOutcome::Progress(code) if code >= 200 => {
                        self.refer_deadline = None;
                        let ok = code < 300;
                        tracing::info!(code, ok, "transfer result");
                        if ok {
                            Metrics::inc(&self.shared.metrics.calls_transferred);
                        }
                        self.flow.on_transfer_result(ok, now);
                    }
                    ReferOutcome::Progress(_) => {}
                }
            }
            CallEvent::Ended(reason) => {
                self.ended = true;
                let (cause, outcome) = match reason {
                    EndReason::RemoteBye => ("caller-bye", None),
                    EndReason::Cancelled => ("cancel", Some("cancelled")),
                    EndReason::AckTimeout => ("ack-timeout", Some("ack-timeout")),
                    EndReason::LocalBye => ("sori-bye", None),
                    EndReason::Rejected(_) => ("rejected", Some("rejected")),
                };
                self.record.hangup_cause.get_or_insert_with(|| cause.to_string());
                if let Some(o) = outcome {
                    self.record.outcome.get_or_insert_with(|| o.to_string());
                }
            }
            CallEvent::Shutdown => {}
        }
    }

    fn on_reinvite(&mut self, msg: &Message) -> Result<String, u16> {
        if msg.body.is_empty() {
            // No offer: our current description is the offer (answered in the ACK).
            return Ok(self.local_sdp());
        }
        let offer = sdp::parse(&msg.body_str()).map_err(|_| 488u16)?;
        let neg = sdp::negotiate(&offer, &self.caps).map_err(|_| 488u16)?;
        let hold = neg.is_hold() || neg.remote_direction == Direction::Inactive;
        tracing::info!(hold, remote = ?neg.remote_rtp, "re-INVITE");
        {
            let mut o = self.out.lock().map_err(|_| 500u16)?;
            apply_media(&mut self.media, &mut o, neg).map_err(|_| 488u16)?;
        }
        self.update_sending();
        // A re-INVITE is a sign of life; on hold the caller need not send.
        self.arm_no_media();
        self.offer = Some(offer);
        Ok(self.local_sdp())
    }
}

/// RFC 3550 §6.2/§6.3: 5 s between reports (2.5 s before the first),
/// randomised over [0.5, 1.5] of that so calls do not report in step.
fn rtcp_interval(first: bool) -> Duration {
    let base = if first { 2.5 } else { 5.0 };
    Duration::from_secs_f64(base * (0.5 + rand::random::<f64>()))
}

/// Receives on `sock`, or never when there is none.
async fn recv_opt(sock: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// A reply that only asks for more, kept until the caller has been quiet
/// long enough: a caller who goes on meanwhile withdraws it (their turn
/// goes on, [`crate::dialog::talked_on`]).
struct HeldReply {
    at: Instant,
    spoken: speech::Spoken,
    /// Its next sentences, come while it waits.
    more: Vec<(String, Arc<[i16]>)>,
}

async fn sleep_opt(at: Option<impl Into<Instant>>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Our SDP offer when the INVITE had none (delayed offer): plain RTP, or
/// SRTP with our SDES key when given.
fn offer_sdp(
    caps: &sdp::LocalCaps,
    ip: IpAddr,
    port: u16,
    id: u64,
    version: u64,
    srtp_key: Option<&crate::rtp::srtp::MasterKey>,
) -> String {
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut pts = Vec::new();
    let mut attrs = String::new();
    let mut dyn_pt = 96u8;
    for c in &caps.codecs {
        let pt = c.static_pt().unwrap_or_else(|| {
            dyn_pt += 1;
            dyn_pt
        });
        pts.push(pt.to_string());
        let rtpmap = match c {
            codec::CodecKind::Opus => "opus/48000/2".to_string(),
            _ => format!("{}/8000", c.name()),
        };
        attrs.push_str(&format!("a=rtpmap:{pt} {rtpmap}\r\n"));
    }
    if caps.telephone_event {
        pts.push("101".into());
        attrs.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n");
    }
    let proto = match srtp_key {
        Some(key) => {
            let c = crate::rtp::srtp::Crypto {
                tag: 1,
                suite: crate::rtp::srtp::Suite::AesCm128HmacSha1_80,
                key: key.clone(),
            };
            attrs.push_str(&format!("a={}\r\n", c.to_attribute()));
            "RTP/SAVP"
        }
        None => "RTP/AVP",
    };
    format!(
        "v=0\r\no=sori {id} {version} IN {fam} {ip}\r\ns=sori\r\nc=IN {fam} {ip}\r\nt=0 0\r\nm=audio {port} {proto} {}\r\n{attrs}a=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n",
        pts.join(" ")
    )
}
