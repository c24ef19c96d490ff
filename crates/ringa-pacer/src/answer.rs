//! The answer model: the probability that a call is answered by a person,
//! learned online from the campaign's own calls.
//!
//! The campaign's mean answer rate is a Beta posterior (counts shrunk to a
//! prior). Each feature of a call (attempt number, list, list age, hour,
//! weekday, region, caller ID, the contact's own past results) is a level of
//! a factor; its answer rate is counted too and shrunk towards the campaign
//! mean by a pseudo-count, so a level seen a few times barely differs from the
//! mean. The model adds the levels' log-odds differences from the campaign
//! mean, and a two-parameter logistic calibration layer (scale and offset,
//! learned online) corrects the over- or under-confidence of that sum when
//! factors are correlated. Levels are hashed into a fixed table so the state
//! has a fixed size.
//!
//! [`AnswerModel::calibration`] reports reliability bins and the Brier score
//! over the most recent predictions whose outcome is known.

use std::collections::VecDeque;

use ringa_core::CallResult;
use serde::{Deserialize, Serialize};

use crate::CallFeatures;

/// Size of the hashed weight table (a power of two).
const TABLE: usize = 1 << 14;
/// Recent (prediction, outcome) pairs kept for the calibration report.
const KEEP: usize = 20_000;

/// The online answer-probability model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AnswerModel {
    /// Calls and person answers per hashed factor level.
    levels: Vec<(f32, f32)>,
    /// Outcomes seen, and how many were answered by a person.
    seen: f64,
    answered: f64,
    /// Beta prior of the campaign mean: mean and worth in calls.
    prior_mean: f64,
    prior_weight: f64,
    /// Pseudo-count pulling each level's rate to the campaign mean.
    shrink: f64,
    /// The calibration layer: p = σ(logit(mean) + offset + scale × Σ δ).
    scale: f64,
    offset: f64,
    step: f64,
    /// Recent predictions and outcomes, for the calibration report.
    recent: VecDeque<(f32, bool)>,
    /// Each level's log-odds difference, recomputed now and then (a
    /// prediction is then a sum of table lookups).
    #[serde(skip)]
    deltas: Vec<f32>,
    /// Outcomes seen when `deltas` was computed.
    #[serde(skip)]
    deltas_seen: f64,
}

/// One reliability bin of a calibration report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// The bin covers predictions in `[low, high)`.
    pub low: f64,
    pub high: f64,
    pub count: u64,
    /// Mean predicted probability in the bin.
    pub predicted: f64,
    /// Observed share answered by a person.
    pub observed: f64,
}

/// How well the predicted probabilities match what happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    pub count: u64,
    /// Mean squared error of the probabilities (lower is better).
    pub brier: f64,
    /// Brier score of always predicting the observed mean, for comparison.
    pub brier_of_mean: f64,
    /// Count-weighted mean |predicted − observed| over the bins.
    pub expected_calibration_error: f64,
    pub bins: Vec<ReliabilityBin>,
}

impl AnswerModel {
    /// A fresh model whose campaign mean starts at `prior_mean`, worth
    /// `prior_weight` calls.
    pub fn new(prior_mean: f64, prior_weight: f64) -> AnswerModel {
        AnswerModel {
            levels: vec![(0.0, 0.0); TABLE],
            seen: 0.0,
            answered: 0.0,
            prior_mean: prior_mean.clamp(0.01, 0.99),
            prior_weight,
            shrink: 30.0,
            scale: 1.0,
            offset: 0.0,
            step: 0.005,
            recent: VecDeque::new(),
            deltas: vec![0.0; TABLE],
            deltas_seen: 0.0,
        }
    }

    /// Why a deserialised model cannot be used, if it cannot: a level table
    /// of another size, or a count or weight that is negative or not finite.
    pub(crate) fn misfit(&self) -> Option<String> {
        if self.levels.len() != TABLE {
            return Some(format!("{} answer levels where {TABLE} are kept", self.levels.len()));
        }
        let level_ok =
            |&(n, h): &(f32, f32)| n.is_finite() && h.is_finite() && n >= 0.0 && h >= 0.0;
        if !self.levels.iter().all(level_ok) {
            return Some("an answer level's count is negative or not a number".to_string());
        }
        let counts = [self.seen, self.answered, self.prior_weight, self.shrink];
        if !counts.iter().all(|x| x.is_finite() && *x >= 0.0) || self.answered > self.seen {
            return Some(format!("answers {} of {} calls", self.answered, self.seen));
        }
        let rates = [self.prior_mean, self.scale, self.offset, self.step];
        if !rates.iter().all(|x| x.is_finite()) || !(0.0..=1.0).contains(&self.prior_mean) {
            return Some("a calibration weight is not a number".to_string());
        }
        None
    }

    /// Recomputes the levels' log-odds differences from the counts.
    pub(crate) fn rebuild(&mut self) {
        let mean = self.campaign_mean();
        let all = (self.answered + self.shrink * mean) / (self.seen + self.shrink);
        let base = logit(all);
        self.deltas.resize(TABLE, 0.0);
        for (d, &(n, h)) in self.deltas.iter_mut().zip(&self.levels) {
            *d = if n > 0.0 {
                let rate = (f64::from(h) + self.shrink * mean) / (f64::from(n) + self.shrink);
                (logit(rate) - base) as f32
            } else {
                0.0
            };
        }
        self.deltas_seen = self.seen;
    }

    /// The campaign's mean answer rate (Beta posterior mean).
    pub fn campaign_mean(&self) -> f64 {
        (self.answered + self.prior_mean * self.prior_weight) / (self.seen + self.prior_weight)
    }

    /// Standard deviation of the campaign mean's posterior.
    pub fn campaign_mean_sd(&self) -> f64 {
        let m = self.campaign_mean();
        (m * (1.0 - m) / (self.seen + self.prior_weight + 1.0)).sqrt()
    }

    /// Outcomes learned from.
    pub fn seen(&self) -> u64 {
        self.seen as u64
    }

    /// The hashed feature indices of a call.
    pub fn indices(features: &CallFeatures) -> Vec<u32> {
        let mut out = Vec::with_capacity(20);
        let attempt = u64::from(features.attempt.min(12));
        let hour = u64::from(features.hour);
        let weekday = u64::from(features.weekday);
        let region = features.region.as_bytes();
        let mut push = |tag: u8, value: u64| out.push(hash(tag, value));
        push(1, attempt);
        push(2, features.list);
        push(3, features.list.wrapping_mul(16) ^ attempt);
        push(4, u64::from(age_bucket(features.list_age_days)));
        push(5, hour);
        push(6, weekday);
        push(7, weekday * 24 + hour);
        push(8, fnv(&region[..region.len().min(6)]));
        push(9, fnv(&region[..region.len().min(3)]));
        push(10, features.caller_id.map_or(0, |id| u64::from(id) + 1));
        let mut person = 0u64;
        let mut machine = 0u64;
        let mut no_answer = 0u64;
        let mut other = 0u64;
        for r in &features.past {
            match r {
                CallResult::Connected | CallResult::Dropped => person += 1,
                CallResult::Machine | CallResult::AvoidedVoicemail => machine += 1,
                CallResult::NoAnswer => no_answer += 1,
                _ => other += 1,
            }
        }
        push(11, person.min(3));
        push(12, machine.min(3));
        push(13, no_answer.min(5));
        push(14, other.min(3));
        if let Some(last) = features.past.last() {
            push(15, u64::from(result_code(*last)));
            if matches!(last, CallResult::Connected | CallResult::Dropped) {
                push(16, hour);
            }
        }
        out
    }

    /// Sum of the levels' log-odds differences from the campaign mean.
    fn evidence(&self, indices: &[u32]) -> f64 {
        indices.iter().filter_map(|&i| self.deltas.get(i as usize)).map(|&d| f64::from(d)).sum()
    }

    /// The probability that a call with these hashed features is answered by
    /// a person.
    pub fn predict_indices(&self, indices: &[u32]) -> f64 {
        let mean = self.campaign_mean();
        let z = logit(mean) + self.offset + self.scale * self.evidence(indices);
        sigmoid(z)
    }

    /// The probability that a call with these features is answered by a
    /// person.
    pub fn predict(&self, features: &CallFeatures) -> f64 {
        self.predict_indices(&Self::indices(features))
    }

    /// Learns the outcome of a call whose hashed features were `indices`.
    pub fn learn(&mut self, indices: &[u32], answered: bool) {
        let mean = self.campaign_mean();
        let evidence = self.evidence(indices);
        let p = sigmoid(logit(mean) + self.offset + self.scale * evidence);
        let y = if answered { 1.0 } else { 0.0 };
        self.recent.push_back((p as f32, answered));
        if self.recent.len() > KEEP {
            self.recent.pop_front();
        }
        // The calibration layer learns from the prediction made before the
        // counts include this call.
        let g = p - y;
        self.scale = (self.scale - self.step * g * evidence).clamp(0.2, 3.0);
        self.offset = (self.offset - self.step * g).clamp(-2.0, 2.0);
        self.seen += 1.0;
        self.answered += y;
        for &i in indices {
            let level = &mut self.levels[i as usize];
            level.0 += 1.0;
            level.1 += y as f32;
        }
        // Refresh the differences often while learning, rarely later.
        if self.seen - self.deltas_seen >= (self.seen / 50.0).max(10.0) {
            self.rebuild();
        }
    }

    /// Reliability bins (ten of width 0.1) and Brier score of the recent
    /// predictions, each made before its outcome was known.
    pub fn calibration(&self) -> CalibrationReport {
        calibration_of(self.recent.iter().map(|&(p, y)| (f64::from(p), y)))
    }
}

/// A calibration report of (prediction, outcome) pairs.
pub fn calibration_of(pairs: impl Iterator<Item = (f64, bool)>) -> CalibrationReport {
    let mut bins: Vec<ReliabilityBin> = (0..10)
        .map(|i| ReliabilityBin {
            low: i as f64 / 10.0,
            high: (i + 1) as f64 / 10.0,
            count: 0,
            predicted: 0.0,
            observed: 0.0,
        })
        .collect();
    let (mut n, mut brier, mut hits) = (0u64, 0.0, 0.0);
    let mut all = Vec::new();
    for (p, y) in pairs {
        let yv = if y { 1.0 } else { 0.0 };
        n += 1;
        brier += (p - yv) * (p - yv);
        hits += yv;
        let b = ((p * 10.0) as usize).min(9);
        bins[b].count += 1;
        bins[b].predicted += p;
        bins[b].observed += yv;
        all.push(yv);
    }
    let mean = if n > 0 { hits / n as f64 } else { 0.0 };
    let brier_of_mean = if n > 0 {
        all.iter().map(|y| (mean - y) * (mean - y)).sum::<f64>() / n as f64
    } else {
        0.0
    };
    let mut ece = 0.0;
    for b in &mut bins {
        if b.count > 0 {
            b.predicted /= b.count as f64;
            b.observed /= b.count as f64;
            ece += b.count as f64 * (b.predicted - b.observed).abs();
        }
    }
    let nf = (n as f64).max(1.0);
    CalibrationReport {
        count: n,
        brier: brier / nf,
        brier_of_mean,
        expected_calibration_error: ece / nf,
        bins: bins.into_iter().filter(|b| b.count > 0).collect(),
    }
}

/// A stable small code per call result, for hashing.
fn result_code(result: CallResult) -> u8 {
    match result {
        CallResult::NoAnswer => 0,
        CallResult::Busy => 1,
        CallResult::Invalid => 2,
        CallResult::Congestion => 3,
        CallResult::Declined => 4,
        CallResult::Failed => 5,
        CallResult::Machine => 6,
        CallResult::AvoidedVoicemail => 7,
        CallResult::Dropped => 8,
        CallResult::Connected => 9,
        CallResult::AgentCancelled => 10,
        CallResult::Interrupted => 11,
        CallResult::Suppressed => 12,
    }
}

fn age_bucket(days: u32) -> u8 {
    match days {
        0 => 0,
        1 => 1,
        2..=3 => 2,
        4..=7 => 3,
        8..=30 => 4,
        _ => 5,
    }
}

/// FNV-1a of some bytes.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A factor's tag and a level's value mixed (SplitMix64 finaliser) into the
/// table size. Stable across builds, so saved counts stay valid.
fn hash(tag: u8, value: u64) -> u32 {
    let mut z = value ^ (u64::from(tag) << 56) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z as usize & (TABLE - 1)) as u32
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Synthetic truth: the attempt number halves the odds each time, hour 18
    /// doubles them, and one list is better than the other.
    fn truth(f: &CallFeatures) -> f64 {
        let mut z = (0.35f64 / 0.65).ln();
        z -= 0.7 * f64::from(f.attempt - 1);
        if f.hour == 18 {
            z += 0.7;
        }
        if f.list == 2 {
            z += 0.5;
        }
        1.0 / (1.0 + (-z).exp())
    }

    fn sample(rng: &mut u64) -> CallFeatures {
        CallFeatures {
            attempt: 1 + (xorshift(rng) * 4.0) as u32,
            list: 1 + (xorshift(rng) * 2.0) as u64,
            list_age_days: 3,
            hour: 9 + (xorshift(rng) * 10.0) as u8,
            weekday: (xorshift(rng) * 5.0) as u8,
            region: "4687".to_string(),
            caller_id: Some((xorshift(rng) * 3.0) as u32),
            past: Vec::new(),
        }
    }

    #[test]
    fn converges_and_is_calibrated_on_synthetic_data() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut model = AnswerModel::new(0.5, 20.0);
        for _ in 0..60_000 {
            let f = sample(&mut rng);
            let y = xorshift(&mut rng) < truth(&f);
            model.learn(&AnswerModel::indices(&f), y);
        }
        // Held-out check: predictions close to the truth.
        let mut err = 0.0;
        let mut pairs = Vec::new();
        for _ in 0..5000 {
            let f = sample(&mut rng);
            let p = model.predict(&f);
            let t = truth(&f);
            err += (p - t).abs();
            pairs.push((p, xorshift(&mut rng) < t));
        }
        let mae = err / 5000.0;
        assert!(mae < 0.03, "mean absolute error {mae}");
        let report = calibration_of(pairs.into_iter());
        assert!(report.expected_calibration_error < 0.03, "{report:?}");
        assert!(report.brier < report.brier_of_mean, "{report:?}");
        // The strongest factor is ordered right.
        let mut f = sample(&mut rng);
        f.attempt = 1;
        let first = model.predict(&f);
        f.attempt = 4;
        assert!(model.predict(&f) < first * 0.5);
    }

    #[test]
    fn rare_feature_shrinks_to_campaign_mean() {
        let mut model = AnswerModel::new(0.3, 20.0);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let f = sample(&mut rng);
            model.learn(&AnswerModel::indices(&f), xorshift(&mut rng) < 0.3);
        }
        let mut odd = sample(&mut rng);
        odd.region = "99912".to_string();
        // One answered call from a new region barely moves its estimate.
        let before = model.predict(&odd);
        model.learn(&AnswerModel::indices(&odd), true);
        let after = model.predict(&odd);
        assert!(after > before && after - before < 0.05, "{before} -> {after}");
        assert!((before - 0.3).abs() < 0.1, "{before}");
        assert!((model.campaign_mean() - 0.3).abs() < 0.03);
    }
}
