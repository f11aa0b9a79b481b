//! Prompt playback for one call: a queue of 8 kHz prompts cut into 20 ms
//! frames, with a short fade-out when a prompt is interrupted (barge-in,
//! a key press) so the caller hears no click.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::codec::SAMPLES_PER_FRAME_8K as FRAME;

#[derive(Default)]
pub struct Player {
    queue: VecDeque<Arc<[i16]>>,
    pos: usize,
    /// Fade-out frame still to play before the new queue starts.
    fade: Option<[i16; FRAME]>,
}

/// What one 20 ms frame holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Audio,
    /// Nothing queued: the frame is silence.
    Silence,
    /// The last queued prompt just ended with this frame (or before it).
    Finished,
}

impl Player {
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty() || self.fade.is_some()
    }

    pub fn enqueue(&mut self, audio: Arc<[i16]>) {
        self.queue.push_back(audio);
    }

    /// Stops what plays (fading the next 20 ms out) and clears the queue.
    pub fn stop(&mut self) {
        if let Some(cur) = self.queue.front() {
            let mut f = [0i16; FRAME];
            for (i, s) in f.iter_mut().enumerate() {
                let v = cur.get(self.pos + i).copied().unwrap_or(0) as f32;
                *s = (v * (1.0 - i as f32 / FRAME as f32)) as i16;
            }
            self.fade = Some(f);
        }
        self.queue.clear();
        self.pos = 0;
    }

    /// Fills `out` with the next 20 ms.
    pub fn next_frame(&mut self, out: &mut [i16; FRAME]) -> Frame {
        if let Some(f) = self.fade.take() {
            *out = f;
            return if self.queue.is_empty() { Frame::Finished } else { Frame::Audio };
        }
        let mut filled = 0;
        let mut any = false;
        while filled < FRAME {
            let Some(cur) = self.queue.front() else { break };
            any = true;
            let n = (cur.len() - self.pos.min(cur.len())).min(FRAME - filled);
            out[filled..filled + n].copy_from_slice(&cur[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
            if self.pos >= cur.len() {
                self.queue.pop_front();
                self.pos = 0;
            }
        }
        out[filled..].iter_mut().for_each(|s| *s = 0);
        match (any, self.queue.is_empty()) {
            (false, _) => Frame::Silence,
            (true, true) => Frame::Finished,
            (true, false) => Frame::Audio,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_prompts_back_to_back_and_reports_the_end_once() {
        let mut p = Player::default();
        p.enqueue(vec![1i16; 250].into());
        p.enqueue(vec![2i16; 60].into());
        let mut f = [0i16; FRAME];
        assert_eq!(p.next_frame(&mut f), Frame::Audio);
        assert_eq!(p.next_frame(&mut f), Frame::Finished);
        assert_eq!(&f[..90], &[1i16; 90][..]);
        assert_eq!(&f[90..150], &[2i16; 60][..]);
        assert_eq!(f[159], 0);
        assert_eq!(p.next_frame(&mut f), Frame::Silence);
    }

    #[test]
    fn stop_fades_out_instead_of_cutting() {
        let mut p = Player::default();
        p.enqueue(vec![10_000i16; 8000].into());
        let mut f = [0i16; FRAME];
        p.next_frame(&mut f);
        p.stop();
        assert_eq!(p.next_frame(&mut f), Frame::Finished);
        assert_eq!(f[0], 10_000);
        assert!(f[80] < 6000 && f[80] > 4000, "{}", f[80]);
        assert!(f[159] < 200);
        assert!(!p.is_playing());
    }
}
