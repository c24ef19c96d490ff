//! Learned duration distributions: time from dial to a live answer, to any
//! other outcome, talk time and wrap-up time.
//!
//! A [`Durations`] is a histogram of observed durations turned into a survival
//! curve by a discrete hazard estimate (Kaplan–Meier style), so that calls
//! still in progress can count as censored observations, and mixed with an
//! exponential prior that dominates until real observations arrive. The
//! conditional remaining time of something that already lasted `t` follows
//! from the survival curve: a call in its fifth minute and one in its
//! twentieth second get different answers when durations are not memoryless.

use serde::{Deserialize, Serialize};

/// A learned distribution of a non-negative duration, in seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Durations {
    /// Width of one histogram bin in seconds.
    bin: f64,
    /// Completed durations per bin; the last bin also holds longer ones.
    events: Vec<f64>,
    /// Mean of the exponential prior, in seconds.
    prior_mean: f64,
    /// How many observations the prior is worth.
    prior_weight: f64,
    /// Survival at the bin edges, `survival[b]` = P(D > b·bin).
    #[serde(skip)]
    survival: Vec<f64>,
    /// Completed observations.
    count: f64,
    /// Sum of completed durations (for the mean).
    sum: f64,
}

impl Durations {
    /// An empty distribution over `[0, bin × bins)` with an exponential prior.
    pub fn new(bin: f64, bins: usize, prior_mean: f64, prior_weight: f64) -> Durations {
        let mut d = Durations {
            bin,
            events: vec![0.0; bins.max(1)],
            prior_mean,
            prior_weight,
            survival: Vec::new(),
            count: 0.0,
            sum: 0.0,
        };
        d.refresh(&[]);
        d
    }

    /// Records one completed duration.
    pub fn record(&mut self, secs: f64) {
        let secs = secs.max(0.0);
        let b = ((secs / self.bin) as usize).min(self.events.len() - 1);
        self.events[b] += 1.0;
        self.count += 1.0;
        self.sum += secs;
    }

    /// Completed observations so far.
    pub fn count(&self) -> f64 {
        self.count
    }

    /// Mean of the completed observations, or the prior mean before any.
    pub fn observed_mean(&self) -> f64 {
        if self.count > 0.0 { self.sum / self.count } else { self.prior_mean }
    }

    /// Recomputes the survival curve; `censored` are durations of things
    /// still going on (they lasted at least that long).
    pub fn refresh(&mut self, censored: &[f64]) {
        let n = self.events.len();
        let mut cens = vec![0.0; n];
        for &c in censored {
            let b = ((c.max(0.0) / self.bin) as usize).min(n - 1);
            cens[b] += 1.0;
        }
        // At risk in bin b: every observation that reached the start of b.
        let mut at_risk = vec![0.0; n];
        let mut acc = 0.0;
        for b in (0..n).rev() {
            acc += self.events[b];
            at_risk[b] = acc;
            acc += cens[b];
        }
        self.survival.clear();
        self.survival.reserve(n + 1);
        let mut s = 1.0f64;
        self.survival.push(s);
        let step = (-self.bin / self.prior_mean.max(1e-6)).exp();
        let mut prior_s = 1.0f64;
        for (&events, &observed_risk) in self.events.iter().zip(&at_risk) {
            let prior_risk = self.prior_weight * prior_s;
            let prior_events = prior_risk * (1.0 - step);
            let risk = observed_risk + prior_risk;
            let h = if risk > 0.0 { (events + prior_events) / risk } else { 0.0 };
            s *= 1.0 - h.clamp(0.0, 1.0);
            self.survival.push(s);
            prior_s *= step;
        }
    }

    /// P(D > t), linear between bin edges, exponential past the last bin.
    pub fn survival(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 1.0;
        }
        let x = t / self.bin;
        let b = x as usize;
        let last = self.survival.len() - 1;
        if b >= last {
            let over = t - last as f64 * self.bin;
            return self.survival[last] * (-over / self.prior_mean.max(1e-6)).exp();
        }
        let frac = x - b as f64;
        self.survival[b] * (1.0 - frac) + self.survival[b + 1] * frac
    }

    /// P(D ≤ t).
    pub fn cdf(&self, t: f64) -> f64 {
        1.0 - self.survival(t)
    }

    /// P(D ≤ elapsed + s | D > elapsed): the chance that something that has
    /// lasted `elapsed` ends within the next `s` seconds.
    pub fn ends_within(&self, elapsed: f64, s: f64) -> f64 {
        let base = self.survival(elapsed);
        if base <= 1e-12 {
            return 1.0;
        }
        (1.0 - self.survival(elapsed + s) / base).clamp(0.0, 1.0)
    }

    /// The mean of the fitted distribution (area under the survival curve).
    pub fn mean(&self) -> f64 {
        let mut area = 0.0;
        for w in self.survival.windows(2) {
            area += 0.5 * (w[0] + w[1]) * self.bin;
        }
        area + self.survival.last().copied().unwrap_or(0.0) * self.prior_mean
    }

    /// The smallest t with P(D ≤ t) ≥ q (bin resolution).
    pub fn quantile(&self, q: f64) -> f64 {
        for (b, &s) in self.survival.iter().enumerate() {
            if 1.0 - s >= q {
                return b as f64 * self.bin;
            }
        }
        self.survival.len() as f64 * self.bin
    }

    /// The t with P(D ≤ t) = q, interpolated within a bin.
    pub fn quantile_fine(&self, q: f64) -> f64 {
        for b in 1..self.survival.len() {
            let (s0, s1) = (self.survival[b - 1], self.survival[b]);
            if 1.0 - s1 >= q {
                let frac = if s0 > s1 { ((1.0 - q) - s0) / (s1 - s0) } else { 0.0 };
                return (b as f64 - 1.0 + frac.clamp(0.0, 1.0)) * self.bin;
            }
        }
        self.survival.len() as f64 * self.bin
    }

    /// Why a deserialised distribution cannot stand in for `fresh` (one of
    /// the same kind), if it cannot: another bin layout, or a count or
    /// time that is negative or not finite.
    pub(crate) fn misfit(&self, fresh: &Durations) -> Option<String> {
        if self.bin != fresh.bin || self.events.len() != fresh.events.len() {
            return Some(format!(
                "{} bins of {} s where {} bins of {} s are kept",
                self.events.len(),
                self.bin,
                fresh.events.len(),
                fresh.bin
            ));
        }
        let counts = self.events.iter().chain([&self.count, &self.sum, &self.prior_weight]);
        if !counts.copied().all(|x| x.is_finite() && x >= 0.0) {
            return Some("a count is negative or not a number".to_string());
        }
        if !(self.prior_mean.is_finite() && self.prior_mean > 0.0) {
            return Some(format!("prior mean {} s", self.prior_mean));
        }
        None
    }

    /// Rebuilds derived data after deserialisation.
    pub(crate) fn rebuild(&mut self) {
        self.refresh(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of uniform numbers in (0, 1).
    fn uniforms(n: usize) -> impl Iterator<Item = f64> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n).map(move |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        })
    }

    #[test]
    fn prior_alone_is_exponential() {
        let d = Durations::new(1.0, 600, 30.0, 10.0);
        assert!((d.survival(30.0) - (-1.0f64).exp()).abs() < 0.02);
        assert!((d.mean() - 30.0).abs() < 1.0, "{}", d.mean());
    }

    #[test]
    fn learns_exponential_mean() {
        let mut d = Durations::new(2.0, 1800, 300.0, 5.0);
        for u in uniforms(5000) {
            d.record(-120.0 * u.ln());
        }
        d.refresh(&[]);
        assert!((d.mean() - 120.0).abs() < 6.0, "mean {}", d.mean());
        // Memoryless: the chance to end within 30 s barely depends on age.
        let young = d.ends_within(10.0, 30.0);
        let old = d.ends_within(200.0, 30.0);
        assert!((young - old).abs() < 0.05, "{young} vs {old}");
    }

    #[test]
    fn conditional_remaining_time_of_lognormal_talk() {
        // Lognormal-like talk times (exp of a sum of uniforms): the chance to
        // end within the next minute depends on how long the call has lasted,
        // and the learned curve follows the samples.
        let mut d = Durations::new(2.0, 1800, 120.0, 2.0);
        let us: Vec<f64> = uniforms(30000).collect();
        let samples: Vec<f64> =
            us.chunks(3).map(|c| 80.0 * (1.6 * (c[0] + c[1] + c[2] - 1.5)).exp()).collect();
        samples.iter().for_each(|&x| d.record(x));
        d.refresh(&[]);
        let empirical = |e: f64| {
            let alive = samples.iter().filter(|&&x| x > e).count() as f64;
            let end = samples.iter().filter(|&&x| x > e && x <= e + 60.0).count() as f64;
            end / alive
        };
        for e in [0.0, 40.0, 240.0] {
            let (model, truth) = (d.ends_within(e, 60.0), empirical(e));
            assert!((model - truth).abs() < 0.03, "elapsed {e}: {model} vs {truth}");
        }
        assert!(empirical(40.0) - empirical(0.0) > 0.1, "not memoryless");
    }

    #[test]
    fn censoring_corrects_early_bias() {
        // Only the short durations have completed so far; the long ones are
        // still going on and must not be ignored.
        let mut naive = Durations::new(1.0, 600, 60.0, 0.5);
        let mut fair = Durations::new(1.0, 600, 60.0, 0.5);
        let mut censored = Vec::new();
        for u in uniforms(4000) {
            let x = -100.0 * u.ln();
            if x < 80.0 {
                naive.record(x);
                fair.record(x);
            } else {
                censored.push(80.0);
            }
        }
        naive.refresh(&[]);
        fair.refresh(&censored);
        let truth = (-0.6f64).exp();
        assert!((fair.survival(60.0) - truth).abs() < 0.04, "{}", fair.survival(60.0));
        assert!(naive.survival(60.0) < 0.25, "{}", naive.survival(60.0));
    }
}
