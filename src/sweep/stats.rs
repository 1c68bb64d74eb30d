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
}
