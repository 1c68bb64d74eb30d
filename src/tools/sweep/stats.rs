//! The statistics a sweep summary reports for each (point, series, metric): mean,
//! sample standard deviation, percentiles, and 95 % confidence intervals.
//!
//! - Means get a Student-t interval: mean ± t(0.975, n−1) · sd / √n (exact t
//!   quantiles from a table up to 30 degrees of freedom, then interpolated in 1/df).
//! - Rates get a Wilson score interval (z = 1.96), which stays inside [0, 1] and is
//!   honest at 0 % and 100 %, where the normal approximation collapses to a point.
//! - Percentiles interpolate linearly between order statistics (R's type 7, NumPy's
//!   default).
//!
//! Undefined values (the sd of one run, an interval from one run) are NaN, written
//! as an empty CSV field and `null` in JSON.
//!
//! [`Acc`] computes the same description from values fed one at a time, in bounded
//! memory: up to [`EXACT_MAX_RUNS`] values it keeps them and [`describe`]s them
//! exactly as above; past that it streams (Welford's sd, and percentiles from a
//! log-bucketed histogram, see [`Histogram`]).

use serde::Serialize;

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// t(0.975, df) for df = 1..=30.
const T975: [f64; 30] = [
    12.706_204_736,
    4.302_652_730,
    3.182_446_305,
    2.776_445_105,
    2.570_581_836,
    2.446_911_851,
    2.364_624_252,
    2.306_004_135,
    2.262_157_163,
    2.228_138_852,
    2.200_985_160,
    2.178_812_830,
    2.160_368_656,
    2.144_786_688,
    2.131_449_546,
    2.119_905_299,
    2.109_815_578,
    2.100_922_040,
    2.093_024_054,
    2.085_963_447,
    2.079_613_845,
    2.073_873_068,
    2.068_657_610,
    2.063_898_562,
    2.059_538_553,
    2.055_529_439,
    2.051_830_516,
    2.048_407_142,
    2.045_229_642,
    2.042_272_456,
];

/// More t(0.975, df) values past the table, by df.
const T975_TAIL: [(f64, f64); 4] = [
    (40.0, 2.021_075_390),
    (60.0, 2.000_297_822),
    (120.0, 1.979_930_405),
    (f64::INFINITY, Z95),
];

/// The 97.5 % quantile of Student's t with `df` degrees of freedom (df ≥ 1).
pub fn t975(df: u64) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    if df <= 30 {
        return T975[df as usize - 1];
    }
    // Interpolate linearly in 1/df between tabulated points (error < 1e-4).
    let x = 1.0 / df as f64;
    let mut prev = (30.0, T975[29]);
    for &(d, t) in &T975_TAIL {
        if (df as f64) <= d {
            let (x0, x1) = (1.0 / prev.0, 1.0 / d);
            return prev.1 + (t - prev.1) * (x - x0) / (x1 - x0);
        }
        prev = (d, t);
    }
    Z95
}

/// The Wilson score interval for `successes` out of `n` trials at z = 1.96.
/// `(NaN, NaN)` when n = 0.
pub fn wilson(successes: f64, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let z = Z95;
    let p = successes / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // At 0 % and 100 % the bound is exactly 0 or 1 (not a rounding error away).
    let lo = if successes <= 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if successes >= n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

/// The `q`-quantile (0..=1) of sorted values, interpolating linearly (type 7).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// What the summary says about one metric at one (point, series).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Describe {
    /// Runs (seeds).
    pub n: u64,
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator).
    pub sd: f64,
    pub min: f64,
    pub p05: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    /// 95 % confidence interval of the plotted estimate (see `ci_method`).
    pub ci95_lo: f64,
    pub ci95_hi: f64,
    /// `t` (Student-t interval of the mean), or `wilson(DENOMINATOR)` for rates
    /// pooled over a count (availability over `txns.requests`): then `rate` is the
    /// pooled rate and the interval is around it.
    pub ci_method: String,
    /// The pooled rate for rate metrics, NaN otherwise.
    pub rate: f64,
    /// Share of runs in which the metric was above 0 ("runs with a violation").
    pub share_nonzero: f64,
    /// Wilson 95 % interval of `share_nonzero` over the runs.
    pub share_nonzero_lo: f64,
    pub share_nonzero_hi: f64,
}

/// Describes `values` (one per run). `pooled`: for a rate metric, the per-run
/// denominators (e.g. requests), so the rate is pooled over them with a Wilson interval.
pub fn describe(values: &[f64], pooled: Option<(&str, &[f64])>) -> Describe {
    let n = values.len();
    let nf = n as f64;
    let mean = if n == 0 {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / nf
    };
    let sd = if n < 2 {
        f64::NAN
    } else {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (nf - 1.0)).sqrt()
    };
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let nonzero = values.iter().filter(|v| **v > 0.0).count() as f64;
    let (share_lo, share_hi) = wilson(nonzero, nf);
    let (ci_lo, ci_hi, method, rate) = match pooled {
        Some((denominator, weights)) => {
            let trials: f64 = weights.iter().sum();
            let successes: f64 = values
                .iter()
                .zip(weights)
                .map(|(v, w)| (v * w).round())
                .sum();
            let (lo, hi) = wilson(successes, trials);
            let rate = if trials > 0.0 {
                successes / trials
            } else {
                f64::NAN
            };
            (lo, hi, format!("wilson({denominator})"), rate)
        }
        None => {
            let half = t975(n.saturating_sub(1) as u64) * sd / nf.sqrt();
            (mean - half, mean + half, "t".to_string(), f64::NAN)
        }
    };
    Describe {
        n: n as u64,
        mean,
        sd,
        min: sorted.first().copied().unwrap_or(f64::NAN),
        p05: percentile(&sorted, 0.05),
        p50: percentile(&sorted, 0.50),
        p95: percentile(&sorted, 0.95),
        max: sorted.last().copied().unwrap_or(f64::NAN),
        ci95_lo: ci_lo,
        ci95_hi: ci_hi,
        ci_method: method,
        rate,
        share_nonzero: if n == 0 { f64::NAN } else { nonzero / nf },
        share_nonzero_lo: share_lo,
        share_nonzero_hi: share_hi,
    }
}

/// Values per (point, series, metric) kept for an exact description. Past this
/// many runs, the sd is streamed (Welford) and percentiles come from a histogram.
pub const EXACT_MAX_RUNS: usize = 10_000;

/// Mantissa bits a histogram bucket keeps: buckets are 2^-7 (0.78 %) wide relative
/// to their values.
const BUCKET_BITS: u32 = 7;
/// Binary exponents the histogram tells apart; magnitudes outside 2^±60 share the
/// end buckets (which still record their exact lowest and highest value).
const BUCKET_EXP: i64 = 60;

/// Distinct values a [`Histogram`] counts exactly before it falls back to buckets.
pub const DISTINCT_MAX: usize = 2048;

/// Percentiles in bounded memory. Up to [`DISTINCT_MAX`] distinct finite values it
/// counts each value exactly, so every percentile is exact (most metrics are counts
/// or take few values). Past that, values are counted in buckets of 0.78 % relative
/// width (sign, binary exponent, 7 mantissa bits; at most 2·121·128 + 1 buckets),
/// each remembering its lowest and highest value: an order statistic is exact when
/// its bucket holds one distinct value, otherwise interpolated within the bucket, so
/// off by less than the bucket's width. NaN sorts last, as in [`describe`]
/// (`f64::total_cmp`).
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    /// Value (in total order, see `order_key`) → count, while few enough.
    exact: std::collections::BTreeMap<i64, u64>,
    buckets: std::collections::BTreeMap<i64, (u64, f64, f64)>,
    bucketed: bool,
    finite: u64,
    nan: u64,
}

/// An f64's place in `f64::total_cmp` order, as an integer.
fn order_key(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

fn from_order_key(k: i64) -> f64 {
    f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
}

impl Histogram {
    fn key(v: f64) -> i64 {
        if v == 0.0 {
            return 0;
        }
        let bits = v.abs().to_bits();
        let top = (bits >> (52 - BUCKET_BITS)) as i64;
        let lo = (1023 - BUCKET_EXP) << BUCKET_BITS;
        let hi = ((1023 + BUCKET_EXP + 1) << BUCKET_BITS) - 1;
        let k = top.clamp(lo, hi) - lo + 1;
        if v > 0.0 {
            k
        } else {
            -k
        }
    }

    fn bucket(&mut self, v: f64, c: u64) {
        let b = self.buckets.entry(Self::key(v)).or_insert((0, v, v));
        b.0 += c;
        b.1 = b.1.min(v);
        b.2 = b.2.max(v);
    }

    pub fn add(&mut self, v: f64) {
        if v.is_nan() {
            self.nan += 1;
            return;
        }
        self.finite += 1;
        if self.bucketed {
            self.bucket(v, 1);
            return;
        }
        *self.exact.entry(order_key(v)).or_insert(0) += 1;
        if self.exact.len() > DISTINCT_MAX {
            for (k, c) in std::mem::take(&mut self.exact) {
                self.bucket(from_order_key(k), c);
            }
            self.bucketed = true;
        }
    }

    /// Whether every percentile is exact.
    pub fn exact(&self) -> bool {
        !self.bucketed
    }

    /// The `j`-th smallest value (0-based).
    fn order(&self, j: u64) -> f64 {
        if j >= self.finite {
            return f64::NAN;
        }
        let mut start = 0;
        if !self.bucketed {
            for (k, c) in &self.exact {
                if j < start + c {
                    return from_order_key(*k);
                }
                start += c;
            }
            return f64::NAN;
        }
        for &(c, lo, hi) in self.buckets.values() {
            if j < start + c {
                if c == 1 || lo == hi {
                    return lo;
                }
                return lo + (hi - lo) * (j - start) as f64 / (c - 1) as f64;
            }
            start += c;
        }
        f64::NAN
    }

    /// The `q`-quantile, interpolated as [`percentile`] does (type 7).
    pub fn percentile(&self, q: f64) -> f64 {
        let n = self.finite + self.nan;
        match n {
            0 => f64::NAN,
            1 => self.order(0),
            n => {
                let h = (n - 1) as f64 * q;
                let lo = h.floor() as u64;
                let hi = (lo + 1).min(n - 1);
                let (a, b) = (self.order(lo), self.order(hi));
                a + (h - lo as f64) * (b - a)
            }
        }
    }
}

/// What is kept past [`EXACT_MAX_RUNS`] values.
#[derive(Clone, Debug, Default)]
struct Streamed {
    /// Welford's running mean and sum of squared deviations.
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    hist: Histogram,
}

/// Describes a metric from values fed one at a time (in run order).
#[derive(Clone, Debug, Default)]
pub struct Acc {
    n: u64,
    sum: f64,
    nonzero: u64,
    successes: f64,
    trials: f64,
    /// The values (and pooling weights) while there are at most EXACT_MAX_RUNS.
    values: Vec<f64>,
    weights: Vec<f64>,
    streamed: Option<Box<Streamed>>,
}

impl Acc {
    /// Adds one run's value (`weight`: its pooling denominator, for rate metrics).
    pub fn add(&mut self, v: f64, weight: Option<f64>) {
        self.n += 1;
        self.sum += v;
        if v > 0.0 {
            self.nonzero += 1;
        }
        if let Some(w) = weight {
            self.successes += (v * w).round();
            self.trials += w;
        }
        match &mut self.streamed {
            Some(s) => s.add(self.n, v),
            None => {
                self.values.push(v);
                if let Some(w) = weight {
                    self.weights.push(w);
                }
                if self.values.len() > EXACT_MAX_RUNS {
                    let mut s = Box::new(Streamed {
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                        ..Streamed::default()
                    });
                    for (i, v) in self.values.iter().enumerate() {
                        s.add(i as u64 + 1, *v);
                    }
                    self.values = Vec::new();
                    self.weights = Vec::new();
                    self.streamed = Some(s);
                }
            }
        }
    }

    /// Whether the description is exact ([`describe`] of every value).
    pub fn exact(&self) -> bool {
        self.streamed.is_none()
    }

    /// The description; `pooled`: the denominator's name, for rate metrics.
    pub fn describe(&self, pooled: Option<&str>) -> Describe {
        let Some(s) = &self.streamed else {
            return describe(&self.values, pooled.map(|d| (d, &self.weights[..])));
        };
        let nf = self.n as f64;
        let mean = self.sum / nf;
        let sd = if self.n < 2 {
            f64::NAN
        } else {
            (s.m2 / (nf - 1.0)).sqrt()
        };
        let nonzero = self.nonzero as f64;
        let (share_lo, share_hi) = wilson(nonzero, nf);
        let (ci_lo, ci_hi, method, rate) = match pooled {
            Some(denominator) => {
                let (lo, hi) = wilson(self.successes, self.trials);
                let rate = if self.trials > 0.0 {
                    self.successes / self.trials
                } else {
                    f64::NAN
                };
                (lo, hi, format!("wilson({denominator})"), rate)
            }
            None => {
                let half = t975(self.n.saturating_sub(1)) * sd / nf.sqrt();
                (mean - half, mean + half, "t".to_string(), f64::NAN)
            }
        };
        let any_nan = s.hist.nan > 0;
        Describe {
            n: self.n,
            mean,
            sd,
            min: if s.hist.finite == 0 { f64::NAN } else { s.min },
            p05: s.hist.percentile(0.05),
            p50: s.hist.percentile(0.50),
            p95: s.hist.percentile(0.95),
            max: if any_nan { f64::NAN } else { s.max },
            ci95_lo: ci_lo,
            ci95_hi: ci_hi,
            ci_method: method,
            rate,
            share_nonzero: nonzero / nf,
            share_nonzero_lo: share_lo,
            share_nonzero_hi: share_hi,
        }
    }
}

impl Streamed {
    /// Adds the `n`-th value.
    fn add(&mut self, n: u64, v: f64) {
        let d = v - self.mean;
        self.mean += d / n as f64;
        self.m2 += d * (v - self.mean);
        if !v.is_nan() {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.hist.add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() <= eps
    }

    #[test]
    fn mean_sd_percentiles_by_hand() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum 32, sd = √(32/7).
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let d = describe(&v, None);
        assert_eq!(d.n, 8);
        assert_eq!(d.mean, 5.0);
        assert!(close(d.sd, (32.0f64 / 7.0).sqrt(), 1e-12), "{}", d.sd);
        assert_eq!((d.min, d.max), (2.0, 9.0));
        // Type 7: h = 7·0.5 = 3.5 → 4 + 0.5·(5 − 4) = 4.5.
        assert_eq!(d.p50, 4.5);
        // h = 7·0.05 = 0.35 → 2 + 0.35·2 = 2.7; h = 6.65 → 7 + 0.65·2 = 8.3.
        assert!(close(d.p05, 2.7, 1e-12) && close(d.p95, 8.3, 1e-12));
        // t(0.975, 7) = 2.364624; half width = 2.364624 · 2.138090 / √8 = 1.787488.
        assert!(close(d.ci95_lo, 5.0 - 1.787_488, 1e-5), "{}", d.ci95_lo);
        assert!(close(d.ci95_hi, 5.0 + 1.787_488, 1e-5), "{}", d.ci95_hi);
        assert_eq!(d.ci_method, "t");
        assert_eq!(d.share_nonzero, 1.0);
    }

    #[test]
    fn wilson_by_hand() {
        // 8 of 10: centre (0.8 + 1.9208/10)/1.38415 = 0.71669, half 0.22645…
        let (lo, hi) = wilson(8.0, 10.0);
        assert!(close(lo, 0.490_162, 1e-5), "{lo}");
        assert!(close(hi, 0.943_318, 1e-5), "{hi}");
        // 0 of 20 does not collapse to a point: upper bound z²/(n + z²) = 0.161125.
        let (lo, hi) = wilson(0.0, 20.0);
        assert_eq!(lo, 0.0, "exactly 0");
        assert_eq!(wilson(20.0, 20.0).1, 1.0, "exactly 1");
        assert!(close(hi, 0.161_125, 1e-5), "{hi}");
        assert!(wilson(1.0, 0.0).0.is_nan());
    }

    #[test]
    fn share_of_runs_with_a_violation() {
        let d = describe(&[0.0, 3.0, 0.0, 1.0], None);
        assert_eq!(d.share_nonzero, 0.5);
        let (lo, hi) = wilson(2.0, 4.0);
        assert_eq!((d.share_nonzero_lo, d.share_nonzero_hi), (lo, hi));
        assert!(close(lo, 0.150_039, 1e-5) && close(hi, 0.849_961, 1e-5));
    }

    #[test]
    fn pooled_rates_use_wilson_over_the_denominator() {
        // 9/10 and 1/10 answered: pooled 10 of 20 = 0.5.
        let d = describe(&[0.9, 0.1], Some(("txns.requests", &[10.0, 10.0])));
        assert_eq!(d.rate, 0.5);
        assert_eq!(d.ci_method, "wilson(txns.requests)");
        assert_eq!((d.ci95_lo, d.ci95_hi), wilson(10.0, 20.0));
    }

    #[test]
    fn t_quantiles() {
        assert!(close(t975(1), 12.706_2, 1e-4));
        assert!(close(t975(30), 2.042_27, 1e-5));
        assert!(close(t975(50), 2.008_559, 2e-4), "{}", t975(50));
        assert!(close(t975(1_000_000), Z95, 1e-4));
        assert!(t975(0).is_nan());
    }

    #[test]
    fn one_run_has_no_spread() {
        let d = describe(&[3.0], None);
        assert_eq!((d.mean, d.p50, d.p95), (3.0, 3.0, 3.0));
        assert!(d.sd.is_nan() && d.ci95_lo.is_nan());
    }

    #[test]
    fn up_to_the_exact_limit_the_accumulator_is_describe() {
        let v: Vec<f64> = (0..EXACT_MAX_RUNS)
            .map(|i| ((i * 37) % 101) as f64 / 7.0)
            .collect();
        let w: Vec<f64> = (0..EXACT_MAX_RUNS).map(|i| (i % 5) as f64).collect();
        let mut a = Acc::default();
        let mut b = Acc::default();
        for (x, y) in v.iter().zip(&w) {
            a.add(*x, None);
            b.add(*x / 20.0, Some(*y));
        }
        assert!(a.exact());
        // Debug text: NaN fields (rate) compare equal, every other bit too.
        let same = |x: Describe, y: Describe| assert_eq!(format!("{x:?}"), format!("{y:?}"));
        same(a.describe(None), describe(&v, None));
        let v20: Vec<f64> = v.iter().map(|x| x / 20.0).collect();
        same(
            b.describe(Some("txns.requests")),
            describe(&v20, Some(("txns.requests", &w))),
        );
    }

    #[test]
    fn past_the_exact_limit_the_description_streams_and_stays_close() {
        let n = 3 * EXACT_MAX_RUNS + 17;
        // Few distinct values (counts): every percentile is exact; more than
        // DISTINCT_MAX (latencies): within a bucket's width (0.78 %); a NaN sorts
        // last as in describe.
        for (kind, f) in [
            ("counts", (|i: usize| (i % 13) as f64) as fn(usize) -> f64),
            ("ms", |i: usize| 0.5 + ((i * 7919) % 10_007) as f64 * 0.731),
            ("signed", |i: usize| ((i * 31) % 997) as f64 - 400.25),
            ("spread", |i: usize| {
                (((i * 7919) % 30_011) as f64 - 9000.0) * 1e-3
            }),
        ] {
            let mut v: Vec<f64> = (0..n).map(f).collect();
            v[5] = f64::NAN;
            let mut a = Acc::default();
            for x in &v {
                a.add(*x, None);
            }
            assert!(!a.exact());
            let (got, want) = (a.describe(None), describe(&v, None));
            assert_eq!(got.n, want.n);
            assert!(got.mean.is_nan() && want.mean.is_nan(), "{kind}");
            assert_eq!(
                (got.min, got.share_nonzero),
                (want.min, want.share_nonzero),
                "{kind}"
            );
            assert!(got.max.is_nan() && want.max.is_nan(), "{kind}");
            for (g, w) in [
                (got.p05, want.p05),
                (got.p50, want.p50),
                (got.p95, want.p95),
            ] {
                if kind == "counts" || kind == "signed" {
                    assert_eq!(g, w, "{kind}");
                } else {
                    assert!(
                        (g - w).abs() <= w.abs() * 0.008 + 1e-9,
                        "{kind}: {g} vs {w}"
                    );
                }
            }
            v[5] = 1.0;
            let mut a = Acc::default();
            for x in &v {
                a.add(*x, None);
            }
            let (got, want) = (a.describe(None), describe(&v, None));
            assert_eq!(
                got.mean, want.mean,
                "{kind}: the same sum in the same order"
            );
            assert!((got.sd - want.sd).abs() <= want.sd * 1e-12, "{kind}");
            assert!((got.ci95_hi - want.ci95_hi).abs() <= want.ci95_hi.abs() * 1e-12 + 1e-12);
            assert_eq!(got.max, want.max);
        }
    }
}
