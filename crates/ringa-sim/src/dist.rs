//! Random durations of the scenario (talk, wrap-up, ring and answer times,
//! patience): exponential, lognormal, uniform, constant or empirical, all in
//! seconds.

use rand::Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use serde::{Deserialize, Serialize};

/// A distribution of non-negative durations in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Dist {
    /// Always `value` seconds.
    Constant { value: f64 },
    /// Exponential with this mean.
    Exponential { mean: f64 },
    /// Lognormal with this mean and shape `sigma` (of the underlying
    /// normal): `mu = ln(mean) - sigma²/2`.
    Lognormal { mean: f64, sigma: f64 },
    /// Uniform between `min` and `max`.
    Uniform { min: f64, max: f64 },
    /// One of the observed `values`, each equally likely.
    Empirical { values: Vec<f64> },
}

/// The longest duration a draw yields, in seconds (a year).
pub const MAX_DRAW_SECS: f64 = 366.0 * 24.0 * 3600.0;

impl Dist {
    /// The zero duration.
    pub const ZERO: Dist = Dist::Constant { value: 0.0 };

    /// Draws one duration in seconds (never negative).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let x = match self {
            Dist::Constant { value } => *value,
            Dist::Exponential { mean } => {
                let e: f64 = Exp1.sample(rng);
                e * mean
            }
            Dist::Lognormal { mean, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                let mu = mean.ln() - sigma * sigma / 2.0;
                (mu + sigma * z).exp()
            }
            Dist::Uniform { min, max } => min + (max - min) * rng.random::<f64>(),
            Dist::Empirical { values } => {
                if values.is_empty() {
                    0.0
                } else {
                    values[rng.random_range(0..values.len())]
                }
            }
        };
        // A long tail (a large sigma) can draw an infinite or absurd value:
        // the draw is held to a year so that it always fits a duration.
        if x.is_nan() { 0.0 } else { x.clamp(0.0, MAX_DRAW_SECS) }
    }

    /// The mean of the distribution in seconds.
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Constant { value } => *value,
            Dist::Exponential { mean } | Dist::Lognormal { mean, .. } => *mean,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Empirical { values } => {
                if values.is_empty() {
                    0.0
                } else {
                    values.iter().sum::<f64>() / values.len() as f64
                }
            }
        }
    }

    /// Why the parameters make no sense, if they do not.
    pub fn problem(&self) -> Option<String> {
        let bad = |x: f64| !x.is_finite() || !(0.0..=MAX_DRAW_SECS).contains(&x);
        match self {
            Dist::Constant { value } if bad(*value) => {
                Some("value must be a number of seconds from 0 to a year".into())
            }
            Dist::Exponential { mean } if bad(*mean) => {
                Some("mean must be a number of seconds from 0 to a year".into())
            }
            Dist::Lognormal { mean, sigma } if bad(*mean) || *mean == 0.0 || bad(*sigma) => {
                Some("mean must be positive and sigma non-negative".into())
            }
            Dist::Uniform { min, max } if bad(*min) || bad(*max) || min > max => {
                Some("min and max must be non-negative with min <= max".into())
            }
            Dist::Empirical { values } if values.is_empty() || values.iter().any(|v| bad(*v)) => {
                Some("values must be a non-empty list of non-negative numbers".into())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn sample_means_match_the_stated_means() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for dist in [
            Dist::Exponential { mean: 120.0 },
            Dist::Lognormal { mean: 120.0, sigma: 0.8 },
            Dist::Uniform { min: 60.0, max: 180.0 },
            Dist::Empirical { values: vec![60.0, 120.0, 180.0] },
        ] {
            let n = 200_000;
            let mean = (0..n).map(|_| dist.sample(&mut rng)).sum::<f64>() / n as f64;
            assert!((mean - dist.mean()).abs() < 0.02 * dist.mean(), "{dist:?}: {mean}");
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        assert!(Dist::Exponential { mean: -1.0 }.problem().is_some());
        assert!(Dist::Empirical { values: vec![] }.problem().is_some());
        assert!(Dist::Lognormal { mean: 10.0, sigma: 0.5 }.problem().is_none());
    }
}
