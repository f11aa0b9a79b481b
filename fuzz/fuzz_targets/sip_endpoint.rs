//! The sans-IO SIP endpoint fed a sequence of datagrams (the input split at
//! "\0\0\0\0"), with the application answering each call one of three ways
//! and the clock moving on: never a panic, and once every timer has run out
//! the endpoint holds no state.
#![no_main]
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sori::sip::endpoint::{Endpoint, Event, Peer, Timers, Transport};

fuzz_target!(|data: &[u8]| {
    let timers = Timers { t1: Duration::from_millis(1), t2: Duration::from_millis(8), t4: Duration::from_millis(10) };
    let mut ep = Endpoint::new(timers, 1);
    let mut now = Instant::now();
    let udp = Peer { transport: Transport::Udp, addr: SocketAddr::from(([127, 0, 0, 1], 5070)) };
    let tcp = Peer { transport: Transport::Tcp(1), addr: SocketAddr::from(([127, 0, 0, 1], 5071)) };
    let mut calls = Vec::new();
    for (i, datagram) in split(data).enumerate() {
        let peer = if datagram.first() == Some(&b'T') { tcp } else { udp };
        ep.handle_input(now, peer, datagram);
        while let Some(ev) = ep.poll_event() {
            match ev {
                Event::IncomingCall { call, .. } => {
                    match i % 3 {
                        0 => {
                            ep.accept(now, call, "v=0\r\n");
                        }
                        1 => ep.reject(now, call, 486),
                        _ => ep.ringing(now, call),
                    }
                    calls.push(call);
                }
                Event::Confirmed { call, .. } if i % 2 == 0 => {
                    ep.refer(now, call, "sip:agent@127.0.0.1");
                }
                Event::ReInvite { call, .. } => ep.answer_reinvite(now, call, Ok("v=0\r\n".into())),
                _ => {}
            }
        }
        while ep.poll_transmit().is_some() {}
        now += Duration::from_millis((i % 5) as u64);
        ep.handle_timeout(now);
    }
    for call in calls {
        ep.hangup(now, call);
    }
    // Long enough for every timer (64·T1, Timer I/J) to fire: nothing may stay.
    for _ in 0..200 {
        now += Duration::from_millis(5);
        ep.handle_timeout(now);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
    }
    assert_eq!(ep.state_size(), (0, 0, 0), "state leaked");
});

fn split(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.windows(4).position(|w| w == b"\0\0\0\0") {
            Some(i) => {
                let (a, b) = rest.split_at(i);
                rest = &b[4..];
                Some(a)
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}
