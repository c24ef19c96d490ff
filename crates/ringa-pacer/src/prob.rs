//! Probability helpers of the predictive pacer: the Poisson-binomial
//! distribution (a sum of independent Bernoulli trials with their own
//! probabilities), exact for small sums and by a skew-corrected normal
//! approximation for large ones, and the standard normal functions behind it.

/// The distribution of a count that is a sum of independent Bernoulli trials.
///
/// It keeps the exact probability mass function while the number of trials is
/// small, and always the first three cumulants, so that a tail probability can
/// be read exactly or approximated when the exact table would be too costly.
#[derive(Clone, Debug)]
pub struct PoissonBinomial {
    /// `pmf[k]` = P(count = k); empty once the sum left exact mode.
    pmf: Vec<f64>,
    exact: bool,
    mean: f64,
    var: f64,
    /// Third central moment.
    k3: f64,
    /// The largest number of trials kept exactly.
    exact_limit: usize,
}

impl PoissonBinomial {
    /// An empty sum (always zero) that stays exact up to `exact_limit` trials.
    pub fn new(exact_limit: usize) -> PoissonBinomial {
        let exact = exact_limit > 0;
        let pmf = if exact { vec![1.0] } else { Vec::new() };
        PoissonBinomial { pmf, exact, mean: 0.0, var: 0.0, k3: 0.0, exact_limit }
    }

    /// Adds one trial that succeeds with probability `p`.
    pub fn add(&mut self, p: f64) {
        let p = p.clamp(0.0, 1.0);
        if p <= 0.0 {
            return;
        }
        self.mean += p;
        self.var += p * (1.0 - p);
        self.k3 += p * (1.0 - p) * (1.0 - 2.0 * p);
        if !self.exact {
            return;
        }
        if self.pmf.len() > self.exact_limit {
            self.exact = false;
            self.pmf.clear();
            return;
        }
        self.pmf.push(0.0);
        for k in (1..self.pmf.len()).rev() {
            self.pmf[k] = self.pmf[k] * (1.0 - p) + self.pmf[k - 1] * p;
        }
        self.pmf[0] *= 1.0 - p;
    }

    /// Expected count.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Variance of the count.
    pub fn variance(&self) -> f64 {
        self.var
    }

    /// Whether the exact table is kept.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The probability mass function, when exact.
    pub fn pmf(&self) -> Option<&[f64]> {
        self.exact.then_some(self.pmf.as_slice())
    }

    /// P(count ≥ k).
    pub fn at_least(&self, k: i64) -> f64 {
        if k <= 0 {
            return 1.0;
        }
        if self.exact {
            let k = k as usize;
            return self.pmf.iter().skip(k).sum::<f64>().clamp(0.0, 1.0);
        }
        skewed_normal_at_least(self.mean, self.var, self.k3, k as f64)
    }
}

/// P(A − F ≥ k) for independent Poisson-binomial counts `a` and `f`.
pub fn difference_at_least(a: &PoissonBinomial, f: &PoissonBinomial, k: i64) -> f64 {
    if let (Some(pa), Some(pf)) = (a.pmf(), f.pmf()) {
        // Suffix sums of A, then sum over the values of F.
        let mut tail = vec![0.0; pa.len() + 1];
        for i in (0..pa.len()).rev() {
            tail[i] = tail[i + 1] + pa[i];
        }
        let mut total = 0.0;
        for (j, &w) in pf.iter().enumerate() {
            let need = k + j as i64;
            let t = if need <= 0 {
                1.0
            } else if need as usize >= tail.len() {
                0.0
            } else {
                tail[need as usize]
            };
            total += w * t;
        }
        return total.clamp(0.0, 1.0);
    }
    skewed_normal_at_least(a.mean - f.mean, a.var + f.var, a.k3 - f.k3, k as f64)
}

/// P(X ≥ k) for an integer count with the given mean, variance and third
/// central moment, by the normal approximation with a continuity correction
/// and a first-order skewness (Edgeworth) term.
pub fn skewed_normal_at_least(mean: f64, var: f64, k3: f64, k: f64) -> f64 {
    if var <= 1e-12 {
        return if mean >= k - 0.5 { 1.0 } else { 0.0 };
    }
    let sd = var.sqrt();
    let x = (k - 0.5 - mean) / sd;
    let gamma = k3 / (var * sd);
    let below = normal_cdf(x) + gamma * (1.0 - x * x) * normal_pdf(x) / 6.0;
    (1.0 - below).clamp(0.0, 1.0)
}

/// The standard normal density.
pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The complementary error function, with a relative error under 1.2e-7
/// everywhere (a Chebyshev-fitted exponential form).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_pmf_matches_binomial() {
        let mut pb = PoissonBinomial::new(64);
        for _ in 0..4 {
            pb.add(0.5);
        }
        let pmf = pb.pmf().expect("four trials stay exact");
        let want = [1.0, 4.0, 6.0, 4.0, 1.0].map(|c| c / 16.0);
        for (got, want) in pmf.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert!((pb.at_least(3) - 5.0 / 16.0).abs() < 1e-12);
        assert_eq!(pb.at_least(0), 1.0);
        assert_eq!(pb.at_least(5), 0.0);
    }

    #[test]
    fn mixed_probabilities_by_hand() {
        let mut pb = PoissonBinomial::new(64);
        pb.add(0.1);
        pb.add(0.7);
        // P(2) = 0.07, P(1) = 0.1*0.3 + 0.9*0.7 = 0.66, P(0) = 0.27.
        let pmf = pb.pmf().expect("exact");
        assert!((pmf[0] - 0.27).abs() < 1e-12);
        assert!((pmf[1] - 0.66).abs() < 1e-12);
        assert!((pmf[2] - 0.07).abs() < 1e-12);
        assert!((pb.mean() - 0.8).abs() < 1e-12);
        assert!((pb.variance() - (0.09 + 0.21)).abs() < 1e-12);
    }

    #[test]
    fn difference_exact_by_enumeration() {
        let pa = [0.3, 0.6, 0.9];
        let pf = [0.5, 0.2];
        let mut a = PoissonBinomial::new(64);
        pa.iter().for_each(|&p| a.add(p));
        let mut f = PoissonBinomial::new(64);
        pf.iter().for_each(|&p| f.add(p));
        for k in -3..=4 {
            let mut want = 0.0;
            for mask in 0u32..32 {
                let mut prob = 1.0;
                let mut d = 0i64;
                for (i, &p) in pa.iter().chain(pf.iter()).enumerate() {
                    let on = mask & (1 << i) != 0;
                    prob *= if on { p } else { 1.0 - p };
                    if on {
                        d += if i < 3 { 1 } else { -1 };
                    }
                }
                if d >= k {
                    want += prob;
                }
            }
            let got = difference_at_least(&a, &f, k);
            assert!((got - want).abs() < 1e-12, "k={k}: {got} vs {want}");
        }
    }

    #[test]
    fn approximation_close_to_exact_for_large_sums() {
        let mut exact_a = PoissonBinomial::new(1000);
        let mut approx_a = PoissonBinomial::new(0);
        let mut exact_f = PoissonBinomial::new(1000);
        let mut approx_f = PoissonBinomial::new(0);
        for i in 0..80 {
            let p = 0.05 + 0.9 * ((i * 37) % 80) as f64 / 80.0;
            exact_a.add(p * 0.3);
            approx_a.add(p * 0.3);
            exact_f.add(p);
            approx_f.add(p);
        }
        assert!(!approx_a.is_exact());
        for k in [-40, -35, -30, -25, -20] {
            let e = difference_at_least(&exact_a, &exact_f, k);
            let a = difference_at_least(&approx_a, &approx_f, k);
            assert!((e - a).abs() < 0.01, "k={k}: exact {e}, approx {a}");
        }
    }

    #[test]
    fn normal_functions() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-2.326_347_874) - 0.01).abs() < 1e-6);
        assert!((erfc(0.5) - 0.479_500_122).abs() < 1e-7);
    }
}
