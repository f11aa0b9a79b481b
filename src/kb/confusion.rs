//! A syllable confusion model of the speech recogniser, learned from pairs
//! of (what was said, what whisper wrote), and a generator of "as heard"
//! variants of a text for measuring the router on mis-heard speech.
//!
//! Learning aligns each pair syllable by syllable (weighted edit distance,
//! substitution cost = sound distance of the two syllables' jamo, so "원"
//! against "연" aligns as a substitution, not a deletion plus an insertion)
//! and counts, per reference syllable, how often it was heard right, as
//! another syllable, or not at all, and which syllables were heard that were
//! not said. Most syllables are seen a few times only, so a substitution
//! backs off to the jamo level: which of initial / medial / final changed,
//! and into what, counted over all substitutions.
//!
//! The pairs come from a TSV at evaluation time (`sori eval understanding
//! --confusions FILE`); nothing learned is stored in the repository.

use std::collections::HashMap;

use rand::Rng;

use super::jamo::{join, split, syllable_cost};

/// One (reference, transcript) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub reference: String,
    pub heard: String,
}

/// Columns tried for the reference and the transcript, in order.
const REFERENCE_COLUMNS: &[&str] = &["reference", "ref", "transcript", "text"];
const HEARD_COLUMNS: &[&str] = &["raw", "hypothesis", "heard", "stt"];

/// Pairs whose character error rate is above this are loops or
/// hallucinations, not mis-hearings; they are skipped.
pub const MAX_PAIR_CER: f32 = 0.6;

/// Reads pairs from a TSV with a header naming a reference column
/// (`reference`) and a transcript column (`raw`); other columns ignored.
pub fn read_tsv(text: &str) -> Result<Vec<Pair>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split('\t').map(str::trim).collect();
    let find = |names: &[&str]| names.iter().find_map(|n| header.iter().position(|h| h.eq_ignore_ascii_case(n)));
    let (Some(r), Some(h)) = (find(REFERENCE_COLUMNS), find(HEARD_COLUMNS)) else {
        return Err(format!(
            "need a reference column ({}) and a transcript column ({}); header has {:?}",
            REFERENCE_COLUMNS.join("/"),
            HEARD_COLUMNS.join("/"),
            header
        ));
    };
    Ok(lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some(Pair { reference: f.get(r)?.trim().to_string(), heard: f.get(h)?.trim().to_string() })
        })
        .filter(|p| !p.reference.is_empty())
        .collect())
}

/// One step of an alignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Same(char),
    Sub(char, char),
    Del(char),
    Ins(char),
}

/// Letters and digits only (spaces and punctuation carry no sound).
fn keep(s: &str) -> Vec<char> {
    s.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Weighted syllable alignment of `heard` against `reference`.
pub fn align(reference: &str, heard: &str) -> Vec<Op> {
    let (r, h) = (keep(reference), keep(heard));
    const INDEL: f32 = 1.0;
    let mut d = vec![vec![0.0f32; h.len() + 1]; r.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i as f32 * INDEL;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j as f32 * INDEL;
    }
    for i in 1..=r.len() {
        for j in 1..=h.len() {
            d[i][j] =
                (d[i - 1][j - 1] + syllable_cost(r[i - 1], h[j - 1])).min(d[i - 1][j] + INDEL).min(d[i][j - 1] + INDEL);
        }
    }
    let (mut i, mut j, mut ops) = (r.len(), h.len(), Vec::new());
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && (d[i][j] - (d[i - 1][j - 1] + syllable_cost(r[i - 1], h[j - 1]))).abs() < 1e-5 {
            ops.push(if r[i - 1] == h[j - 1] { Op::Same(r[i - 1]) } else { Op::Sub(r[i - 1], h[j - 1]) });
            i -= 1;
            j -= 1;
        } else if i > 0 && (d[i][j] - (d[i - 1][j] + INDEL)).abs() < 1e-5 {
            ops.push(Op::Del(r[i - 1]));
            i -= 1;
        } else {
            ops.push(Op::Ins(h[j - 1]));
            j -= 1;
        }
    }
    ops.reverse();
    ops
}

#[derive(Debug, Clone, Default)]
struct Syllable {
    seen: u32,
    deleted: u32,
    heard_as: HashMap<char, u32>,
}

impl Syllable {
    fn substituted(&self) -> u32 {
        self.heard_as.values().sum()
    }
}

/// Counts of a component (initial, medial or final) heard as another.
#[derive(Debug, Clone)]
struct Component {
    counts: Vec<Vec<u32>>,
}

impl Component {
    fn new(n: usize) -> Component {
        Component { counts: vec![vec![0; n]; n] }
    }

    /// The share of `x`'s substitutions that went to `y`, smoothed.
    fn share(&self, x: u8, y: u8) -> f32 {
        let row = &self.counts[x as usize];
        (row[y as usize] as f32 + 0.5) / (row.iter().sum::<u32>() as f32 + 1.0)
    }

    /// A replacement for `x`: as counted, with a little mass on every
    /// other value so an unseen row still yields something.
    fn sample(&self, x: u8, rng: &mut impl Rng) -> u8 {
        let row = &self.counts[x as usize];
        let weights: Vec<f32> =
            row.iter().enumerate().map(|(y, &c)| if y == x as usize { 0.0 } else { c as f32 + 0.05 }).collect();
        pick(&weights, rng).map_or(x, |y| y as u8)
    }
}

fn pick(weights: &[f32], rng: &mut impl Rng) -> Option<usize> {
    let total: f32 = weights.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut u = rng.gen::<f32>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return Some(i);
        }
        u -= w;
    }
    weights.iter().rposition(|w| *w > 0.0)
}

/// Farthest a backed-off substitute may sound from the syllable said
/// ([`syllable_cost`]; 0.5 is about one changed jamo).
const MAX_BACKOFF_COST: f32 = 0.6;

/// Pseudo-counts that pull a rarely seen syllable toward the global rates.
const PRIOR: f32 = 20.0;

#[derive(Debug, Clone)]
pub struct ConfusionModel {
    /// Reference Hangul syllables seen, substituted, deleted; syllables inserted.
    pub syllables: u32,
    pub substitutions: u32,
    pub deletions: u32,
    pub insertions: u32,
    /// Pairs learned from and skipped (too far apart to be mis-hearings).
    pub pairs: usize,
    pub skipped: usize,
    per_syllable: HashMap<char, Syllable>,
    inserted: Vec<(char, u32)>,
    /// Syllables the recogniser wrote, with counts: what it substitutes with
    /// (it writes Korean it knows, not arbitrary jamo combinations).
    vocab: Vec<(char, u32)>,
    /// Substitutions by which components changed (bit 0 initial, 1 medial, 2 final).
    changed: [u32; 8],
    cho: Component,
    jung: Component,
    jong: Component,
}

impl ConfusionModel {
    pub fn learn(pairs: &[Pair]) -> ConfusionModel {
        let mut m = ConfusionModel {
            syllables: 0,
            substitutions: 0,
            deletions: 0,
            insertions: 0,
            pairs: 0,
            skipped: 0,
            per_syllable: HashMap::new(),
            inserted: Vec::new(),
            vocab: Vec::new(),
            changed: [0; 8],
            cho: Component::new(19),
            jung: Component::new(21),
            jong: Component::new(28),
        };
        let mut inserted: HashMap<char, u32> = HashMap::new();
        let mut vocab: HashMap<char, u32> = HashMap::new();
        for p in pairs {
            let ops = align(&p.reference, &p.heard);
            let reflen = ops.iter().filter(|o| !matches!(o, Op::Ins(_))).count().max(1);
            let errors = ops.iter().filter(|o| !matches!(o, Op::Same(_))).count();
            if errors as f32 / reflen as f32 > MAX_PAIR_CER {
                m.skipped += 1;
                continue;
            }
            m.pairs += 1;
            for c in p.heard.chars().filter(|c| split(*c).is_some()) {
                *vocab.entry(c).or_insert(0) += 1;
            }
            for op in ops {
                match op {
                    Op::Same(r) if split(r).is_some() => {
                        m.syllables += 1;
                        m.per_syllable.entry(r).or_default().seen += 1;
                    }
                    Op::Sub(r, h) if split(r).is_some() => {
                        m.syllables += 1;
                        let s = m.per_syllable.entry(r).or_default();
                        s.seen += 1;
                        if let (Some(a), Some(b)) = (split(r), split(h)) {
                            m.substitutions += 1;
                            *s.heard_as.entry(h).or_insert(0) += 1;
                            let mask =
                                (a.0 != b.0) as usize | ((a.1 != b.1) as usize) << 1 | ((a.2 != b.2) as usize) << 2;
                            m.changed[mask] += 1;
                            m.cho.counts[a.0 as usize][b.0 as usize] += 1;
                            m.jung.counts[a.1 as usize][b.1 as usize] += 1;
                            m.jong.counts[a.2 as usize][b.2 as usize] += 1;
                        } else {
                            // Heard as a digit or a letter: as good as lost.
                            m.deletions += 1;
                            s.deleted += 1;
                        }
                    }
                    Op::Del(r) if split(r).is_some() => {
                        m.syllables += 1;
                        m.deletions += 1;
                        let s = m.per_syllable.entry(r).or_default();
                        s.seen += 1;
                        s.deleted += 1;
                    }
                    Op::Ins(h) if split(h).is_some() => {
                        m.insertions += 1;
                        *inserted.entry(h).or_insert(0) += 1;
                    }
                    _ => {}
                }
            }
        }
        let mut inserted: Vec<(char, u32)> = inserted.into_iter().collect();
        inserted.sort();
        m.inserted = inserted;
        let mut vocab: Vec<(char, u32)> = vocab.into_iter().collect();
        vocab.sort();
        m.vocab = vocab;
        m
    }

    /// Share of reference syllables heard wrong or not at all.
    pub fn error_rate(&self) -> f32 {
        (self.substitutions + self.deletions) as f32 / self.syllables.max(1) as f32
    }

    fn insertion_rate(&self) -> f32 {
        self.insertions as f32 / self.syllables.max(1) as f32
    }

    /// The chance that `c` is mis-heard and, if so, that it is lost rather
    /// than heard as another syllable (per syllable, pulled toward the global
    /// rates by [`PRIOR`]).
    fn rates(&self, c: char) -> (f32, f32) {
        let global_err = self.error_rate();
        let global_del = self.deletions as f32 / (self.substitutions + self.deletions).max(1) as f32;
        let s = self.per_syllable.get(&c);
        let (seen, del, sub) = s.map_or((0.0, 0.0, 0.0), |s| (s.seen as f32, s.deleted as f32, s.substituted() as f32));
        let err = (del + sub + PRIOR * global_err) / (seen + PRIOR);
        let del_share = (del + PRIOR * global_del) / (del + sub + PRIOR);
        (err, del_share)
    }

    /// A syllable `c` was heard as: one seen in the data for `c` when there
    /// were some, else `c` with one or more jamo changed as substitutions
    /// change them.
    fn substitute(&self, c: char, rng: &mut impl Rng) -> char {
        if let Some(s) = self.per_syllable.get(&c) {
            let n = s.substituted() as f32;
            if n > 0.0 && rng.gen::<f32>() < n / (n + 2.0) {
                let mut seen: Vec<(&char, &u32)> = s.heard_as.iter().collect();
                seen.sort();
                let weights: Vec<f32> = seen.iter().map(|(_, &k)| k as f32).collect();
                if let Some(i) = pick(&weights, rng) {
                    return *seen[i].0;
                }
            }
        }
        let Some((cho, jung, jong)) = split(c) else { return c };
        // A syllable the recogniser writes that sounds like `c`, weighted by
        // how alike, how often written, and how often its changed jamo were
        // confused that way.
        let candidates: Vec<(char, f32)> = self
            .vocab
            .iter()
            .filter(|&&(y, _)| y != c)
            .filter_map(|&(y, n)| {
                let (a, b, d) = split(y)?;
                let cost = syllable_cost(c, y);
                if cost > MAX_BACKOFF_COST {
                    return None;
                }
                let mut w = (-5.0 * cost).exp() * (n as f32).sqrt();
                for (comp, x, z) in [(&self.cho, cho, a), (&self.jung, jung, b), (&self.jong, jong, d)] {
                    if x != z {
                        w *= comp.share(x, z);
                    }
                }
                Some((y, w))
            })
            .collect();
        let weights: Vec<f32> = candidates.iter().map(|&(_, w)| w).collect();
        if let Some(i) = pick(&weights, rng) {
            return candidates[i].0;
        }
        let weights: Vec<f32> =
            self.changed.iter().enumerate().map(|(m, &k)| if m == 0 { 0.0 } else { k as f32 + 0.1 }).collect();
        let mask = pick(&weights, rng).unwrap_or(2);
        let cho = if mask & 1 != 0 { self.cho.sample(cho, rng) } else { cho };
        let jung = if mask & 2 != 0 { self.jung.sample(jung, rng) } else { jung };
        let jong = if mask & 4 != 0 { self.jong.sample(jong, rng) } else { jong };
        join(cho, jung, jong).unwrap_or(c)
    }

    fn insertion(&self, rng: &mut impl Rng) -> Option<char> {
        let weights: Vec<f32> = self.inserted.iter().map(|&(_, k)| k as f32).collect();
        pick(&weights, rng).map(|i| self.inserted[i].0)
    }

    /// `text` as the recogniser might hear it: each Hangul syllable kept,
    /// substituted or dropped, and now and then a syllable inserted. Spaces
    /// and other characters pass through.
    pub fn corrupt(&self, text: &str, rng: &mut impl Rng) -> String {
        let mut out = String::with_capacity(text.len());
        let ins = self.insertion_rate();
        for c in text.chars() {
            if split(c).is_none() {
                out.push(c);
                continue;
            }
            let (err, del_share) = self.rates(c);
            if rng.gen::<f32>() < err {
                if rng.gen::<f32>() >= del_share {
                    out.push(self.substitute(c, rng));
                }
            } else {
                out.push(c);
            }
            if rng.gen::<f32>() < ins {
                if let Some(x) = self.insertion(rng) {
                    out.push(x);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn pair(r: &str, h: &str) -> Pair {
        Pair { reference: r.into(), heard: h.into() }
    }

    #[test]
    fn alignment_prefers_alike_syllables() {
        assert_eq!(align("상담원", "상담연"), vec![Op::Same('상'), Op::Same('담'), Op::Sub('원', '연')]);
        assert_eq!(align("숨을 쉬어", "숨 쉬어"), vec![Op::Same('숨'), Op::Del('을'), Op::Same('쉬'), Op::Same('어')]);
        assert_eq!(align("가", "가나"), vec![Op::Same('가'), Op::Ins('나')]);
        assert!(align("", "").is_empty());
    }

    #[test]
    fn tsv_reads_named_columns_and_reports_missing_ones() {
        let t =
            "file\tspeaker\treference\traw\trouted\tcer\na.wav\tx\t안녕하세요\t안녕하세여\tclarify\t0.2\nbad line\n";
        assert_eq!(read_tsv(t).expect("reads"), vec![pair("안녕하세요", "안녕하세여")]);
        let err = read_tsv("file\ttext2\nx\ty\n").expect_err("no columns");
        assert!(err.contains("reference"), "{err}");
        assert!(read_tsv("").is_err());
    }

    #[test]
    fn learns_counts_and_rates() {
        let pairs = vec![
            pair("상담원 연결", "상담연 연결"),
            pair("숨을 못 쉬어요", "수물 못 쉬어요"),
            pair("감사합니다", "감사합니다"),
            pair("가나다라", "가나다라마"),
            pair("전혀 다른 문장입니다", "hello world"),
        ];
        let m = ConfusionModel::learn(&pairs);
        assert_eq!(m.pairs, 4);
        assert_eq!(m.skipped, 1);
        assert_eq!(m.syllables, 5 + 6 + 5 + 4);
        assert_eq!(m.substitutions, 3); // 원→연, 숨→수, 을→물
        assert_eq!(m.deletions, 0);
        assert_eq!(m.insertions, 1);
        assert!((m.error_rate() - 3.0 / 20.0).abs() < 1e-6);
    }

    #[test]
    fn corruption_is_seeded_and_follows_the_learned_rate() {
        let mut pairs = Vec::new();
        for _ in 0..30 {
            pairs.push(pair("가나다라마바사아자차", "가나다라마바사아자처"));
        }
        let m = ConfusionModel::learn(&pairs);
        assert!((m.error_rate() - 0.1).abs() < 1e-6);
        let text = "코로나 검사는 어디서 받아요 독감 예방접종은 언제 맞아요";
        let a = m.corrupt(text, &mut rand::rngs::StdRng::seed_from_u64(7));
        let b = m.corrupt(text, &mut rand::rngs::StdRng::seed_from_u64(7));
        assert_eq!(a, b, "same seed, same variant");
        // Over many variants about one syllable in ten changes.
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (mut changed, mut total) = (0usize, 0usize);
        for _ in 0..400 {
            let v = m.corrupt(text, &mut rng);
            let ops = align(text, &v);
            changed += ops.iter().filter(|o| !matches!(o, Op::Same(_))).count();
            total += text.chars().filter(|c| split(*c).is_some()).count();
        }
        let rate = changed as f32 / total as f32;
        assert!((0.06..0.14).contains(&rate), "rate {rate}");
        // 차 was always heard as 처: the learned substitution is used.
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let heard: Vec<char> = (0..50).map(|_| m.substitute('차', &mut rng)).collect();
        assert!(heard.iter().filter(|&&c| c == '처').count() > 25, "{heard:?}");
        // Unseen syllables back off to sound-alike syllables the recogniser
        // wrote (타 → 다), else to jamo changes: never to itself.
        let x = m.substitute('뷁', &mut rng);
        assert!(split(x).is_some() && x != '뷁');
        let y = m.substitute('타', &mut rng);
        assert!(pairs[0].heard.contains(y), "{y}: from the written syllables");
    }
}
