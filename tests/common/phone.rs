//! A scripted SIP phone for media tests: INVITE over UDP with an SDP naming
//! any media address (e.g. an impairment relay), μ-law RTP every 20 ms
//! (digital silence, or nothing at all), RFC 4733 key presses as phones send
//! them (a packet every 20 ms, three redundant end packets), and a record of
//! the RTP it hears. Requests from sori (BYE, NOTIFY…) are answered 200.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sori::codec::g711::{ulaw_to_linear, ULAW_SILENCE};
use sori::rtp::packet::write_rtp;

/// One RTP packet heard: when, payload type, and whether it carried sound.
#[derive(Debug, Clone, Copy)]
pub struct Heard {
    pub at: Instant,
    pub pt: u8,
    pub loud: bool,
}

#[derive(Default)]
struct Media {
    /// Where RTP goes (None: the phone sends nothing).
    to: Option<SocketAddr>,
    /// Keys waiting to be pressed.
    keys: Vec<char>,
    heard: Vec<Heard>,
}

pub struct Phone {
    pub sip: UdpSocket,
    pub rtp_addr: SocketAddr,
    sori: SocketAddr,
    n: u32,
    call_id: String,
    ok: Option<String>,
    media: Arc<Mutex<Media>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// sori's RTP address from the SDP of its answer.
pub fn sdp_media(msg: &str) -> SocketAddr {
    let body = msg.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let ip = body.lines().find_map(|l| l.strip_prefix("c=IN IP4 ")).expect("c= line").trim();
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .expect("m= line");
    format!("{ip}:{port}").parse().expect("media address")
}

impl Phone {
    pub fn new(sori: SocketAddr) -> Phone {
        let sip = UdpSocket::bind("127.0.0.1:0").expect("bind sip");
        sip.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind rtp");
        rtp.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let rtp_addr = rtp.local_addr().expect("addr");
        let media = Arc::new(Mutex::new(Media::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let rx = {
            let (sock, media, stop) = (rtp.try_clone().expect("clone"), media.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, _)) = sock.recv_from(&mut buf) else { continue };
                    let Ok(p) = sori::rtp::packet::parse(&buf[..n]) else { continue };
                    let loud = p.payload.iter().map(|&b| i32::from(ulaw_to_linear(b)).abs()).max().unwrap_or(0) > 1000;
                    let heard = Heard { at: Instant::now(), pt: p.payload_type, loud };
                    media.lock().expect("media").heard.push(heard);
                }
            })
        };
        let tx = {
            let (media, stop) = (media.clone(), stop.clone());
            std::thread::spawn(move || send_loop(rtp, media, stop))
        };
        let call_id = format!("phone-{}-{}", rtp_addr.port(), std::process::id());
        Phone { sip, rtp_addr, sori, n: 0, call_id, ok: None, media, stop, threads: vec![rx, tx] }
    }

    fn local(&self) -> SocketAddr {
        self.sip.local_addr().expect("addr")
    }

    fn send(&self, msg: &str) {
        self.sip.send_to(msg.as_bytes(), self.sori).expect("send sip");
    }

    /// Calls 1339 offering PCMU + telephone-event at `media`; returns the 200
    /// OK (ACKed). Panics on any other final answer.
    pub fn call(&mut self, media: SocketAddr) -> String {
        let l = self.local();
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n\
             a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
            ip = media.ip(),
            port = media.port(),
        );
        self.send(&format!(
            "INVITE sip:1339@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKinv{p}\r\nMax-Forwards: 70\r\n\
             From: <sip:caller@{l}>;tag=ph{p}\r\nTo: <sip:1339@{to}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{l}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            to = self.sori,
            p = l.port(),
            cid = self.call_id,
            len = sdp.len(),
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        let ok = loop {
            assert!(Instant::now() < deadline, "no final answer to the INVITE");
            if let Some(m) = self.recv() {
                if m.starts_with("SIP/2.0 1") || !m.starts_with("SIP/2.0") {
                    continue;
                }
                assert!(m.starts_with("SIP/2.0 200"), "INVITE answered:\n{m}");
                break m;
            }
        };
        self.n += 1;
        self.send(&format!(
            "ACK sip:1339@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKack{p}\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to_h}\r\nCall-ID: {cid}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            to = self.sori,
            p = l.port(),
            from = header(&ok, "From").expect("From"),
            to_h = header(&ok, "To").expect("To"),
            cid = self.call_id,
        ));
        self.ok = Some(ok.clone());
        ok
    }

    /// Starts (or stops, with None) sending RTP to `to`.
    pub fn send_media_to(&self, to: Option<SocketAddr>) {
        self.media.lock().expect("media").to = to;
    }

    /// Presses a key (RFC 4733) in the media stream.
    pub fn press(&self, key: char) {
        self.media.lock().expect("media").keys.push(key);
    }

    /// Everything heard so far.
    pub fn heard(&self) -> Vec<Heard> {
        self.media.lock().expect("media").heard.clone()
    }

    /// The next SIP message; requests from sori are answered 200 OK.
    fn recv(&self) -> Option<String> {
        let mut buf = [0u8; 8192];
        let (n, _) = self.sip.recv_from(&mut buf).ok()?;
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !m.starts_with("SIP/2.0") {
            let mut r = String::from("SIP/2.0 200 OK\r\n");
            for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
                if let Some(v) = header(&m, h) {
                    r.push_str(&format!("{h}: {v}\r\n"));
                }
            }
            r.push_str("Content-Length: 0\r\n\r\n");
            self.send(&r);
        }
        Some(m)
    }

    /// Waits for a request of `method` from sori (answered 200); the time it came.
    pub fn wait_request(&self, method: &str, within: Duration) -> Option<Instant> {
        self.wait_request_message(method, within).map(|(at, _)| at)
    }

    /// The first request of `method` from sori within `within`: when, and the message.
    pub fn wait_request_message(&self, method: &str, within: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(m) = self.recv() {
                if m.starts_with(&format!("{method} ")) {
                    return Some((Instant::now(), m));
                }
            }
        }
        None
    }

    /// Hangs up; true when sori answered the BYE with 200.
    pub fn bye(&mut self) -> bool {
        let ok = self.ok.clone().expect("a call to hang up");
        let l = self.local();
        self.send_media_to(None);
        self.send(&format!(
            "BYE {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKbye{p}\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to_h}\r\nCall-ID: {cid}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            contact = header(&ok, "Contact")
                .and_then(|c| c.split_once('<').and_then(|(_, r)| r.split_once('>')).map(|(u, _)| u.to_string()))
                .unwrap_or_else(|| format!("sip:1339@{}", self.sori)),
            p = l.port(),
            from = header(&ok, "From").expect("From"),
            to_h = header(&ok, "To").expect("To"),
            cid = self.call_id,
        ));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(m) = self.recv() {
                if m.starts_with("SIP/2.0 200") && header(&m, "CSeq").is_some_and(|c| c.ends_with("BYE")) {
                    return true;
                }
            }
        }
        false
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Every 20 ms: a μ-law silence frame, or the next packet of a key press
/// (five growing-duration packets, then three end packets; the timestamp is
/// the event's start, as RFC 4733 asks).
fn send_loop(sock: UdpSocket, media: Arc<Mutex<Media>>, stop: Arc<AtomicBool>) {
    let ssrc = 0x5013_1339;
    let (mut seq, mut ts) = (1000u16, 160_000u32);
    let mut event: Option<(u8, u32, u32)> = None; // (code, start ts, packets sent)
    let silence = [ULAW_SILENCE; 160];
    let mut next = Instant::now();
    let mut out = Vec::with_capacity(200);
    while !stop.load(Ordering::Relaxed) {
        next += Duration::from_millis(20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let to = {
            let mut m = media.lock().expect("media");
            if event.is_none() && !m.keys.is_empty() {
                let key = m.keys.remove(0);
                let code = sori::rtp::dtmf::char_to_event(key).expect("a DTMF key");
                event = Some((code, ts, 0));
            }
            m.to
        };
        out.clear();
        match event.as_mut() {
            Some((code, start, sent)) => {
                *sent += 1;
                let end = *sent > 5;
                let duration = (160 * (*sent).min(5)) as u16;
                let e = sori::rtp::dtmf::DtmfEvent { event: *code, end, volume: 10, duration };
                write_rtp(&mut out, 101, *sent == 1, seq, *start, ssrc, &e.to_bytes());
                if *sent == 8 {
                    event = None;
                }
            }
            None => write_rtp(&mut out, 0, false, seq, ts, ssrc, &silence),
        }
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        if let Some(to) = to {
            let _ = sock.send_to(&out, to);
        }
    }
}
