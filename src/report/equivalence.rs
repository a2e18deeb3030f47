//! What a comparison can say beyond "different": equivalence within a declared
//! margin (two one-sided tests, TOST), non-inferiority at −margin, and the
//! smallest difference the design could have detected (80 % power, two-sided
//! α = 0.05), all from a difference's standard error and degrees of freedom.
//! Without a margin nothing is called equivalent: "not resolved" only says the
//! data did not separate two representations, which low power also produces.
//!
//! Checked against statsmodels 0.15 (`ttost_paired`, `TTestPower.solve_power`;
//! tests/reference/equivalence.py).
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::gamma::ln_gamma;

/// Power the smallest detectable difference is computed for.
pub const POWER: f64 = 0.8;
/// Two-sided level of every test.
pub const ALPHA: f64 = 0.05;

fn t_dist(df: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, df).ok()
}

/// TOST for |Δ| < margin: the larger of the two one-sided p-values
/// (H0: Δ ≤ −margin, H0: Δ ≥ +margin), as statsmodels' `ttost_paired` with
/// low = −margin, upp = +margin.
pub fn tost(diff: f64, se: f64, df: f64, margin: f64) -> Option<f64> {
    if se <= 0.0 || !se.is_finite() || margin <= 0.0 {
        return None;
    }
    let t = t_dist(df)?;
    let p_low = 1.0 - t.cdf((diff + margin) / se);
    let p_upp = t.cdf((diff - margin) / se);
    Some(p_low.max(p_upp))
}

/// One-sided test of non-inferiority: H0 `better_diff` ≤ −margin, where
/// `better_diff` is the difference oriented so that positive is better.
pub fn noninferiority(better_diff: f64, se: f64, df: f64, margin: f64) -> Option<f64> {
    if se <= 0.0 || !se.is_finite() || margin <= 0.0 {
        return None;
    }
    Some(1.0 - t_dist(df)?.cdf((better_diff + margin) / se))
}

/// P(T ≤ t) for T noncentral t with `df` degrees of freedom and noncentrality
/// `nc`: T = (Z + nc) / √(V/df), so P = E[Φ(t·W/√df − nc)] over W ~ χ_df,
/// integrated by adaptive Simpson on W (whose density is smooth for df ≥ 1).
pub fn nct_cdf(t: f64, df: f64, nc: f64) -> f64 {
    let normal = Normal::new(0.0, 1.0).expect("the standard normal");
    let log_norm = (1.0 - df / 2.0) * std::f64::consts::LN_2 - ln_gamma(df / 2.0);
    // At w = 0 the density is 0 for df > 1 and √(2/π) for df = 1 (ln 0 would give NaN).
    let chi_pdf = |w: f64| match w <= 0.0 {
        true if df == 1.0 => log_norm.exp(),
        true => 0.0,
        false => (log_norm + (df - 1.0) * w.ln() - w * w / 2.0).exp(),
    };
    let f = |w: f64| normal.cdf(t * w / df.sqrt() - nc) * chi_pdf(w);
    // χ_df has its mass within √df ± 12 (its spread is below 0.8 for every
    // df ≥ 1, so the rest is under 1e-20): integrating only there keeps a
    // per-image test's df of 9,999 as cheap as a seed test's 2.
    let (lower, upper) = ((df.sqrt() - 12.0).max(0.0), df.sqrt() + 12.0);
    let pieces = 48;
    let h = (upper - lower) / pieces as f64;
    (0..pieces)
        .map(|i| simpson(&f, lower + i as f64 * h, lower + (i + 1) as f64 * h, 1e-13, 16))
        .sum::<f64>()
        .clamp(0.0, 1.0)
}

fn simpson(f: &impl Fn(f64) -> f64, a: f64, b: f64, tol: f64, depth: u32) -> f64 {
    let m = (a + b) / 2.0;
    let (fa, fm, fb) = (f(a), f(m), f(b));
    let whole = (b - a) / 6.0 * (fa + 4.0 * fm + fb);
    simpson_step(f, (a, fa), (m, fm), (b, fb), whole, tol, depth)
}

fn simpson_step(
    f: &impl Fn(f64) -> f64,
    (a, fa): (f64, f64),
    (m, fm): (f64, f64),
    (b, fb): (f64, f64),
    whole: f64,
    tol: f64,
    depth: u32,
) -> f64 {
    let (lm, rm) = ((a + m) / 2.0, (m + b) / 2.0);
    let (flm, frm) = (f(lm), f(rm));
    let left = (m - a) / 6.0 * (fa + 4.0 * flm + fm);
    let right = (b - m) / 6.0 * (fm + 4.0 * frm + fb);
    if depth == 0 || (left + right - whole).abs() <= 15.0 * tol {
        return left + right + (left + right - whole) / 15.0;
    }
    simpson_step(f, (a, fa), (lm, flm), (m, fm), left, tol / 2.0, depth - 1)
        + simpson_step(f, (m, fm), (rm, frm), (b, fb), right, tol / 2.0, depth - 1)
}

/// Power of the two-sided t test at level `ALPHA` when the true difference is
/// `nc` standard errors (statsmodels' `ttest_power` with nc = d·√n).
pub fn power(nc: f64, df: f64) -> Option<f64> {
    let crit = t_dist(df)?.inverse_cdf(1.0 - ALPHA / 2.0);
    Some(1.0 - nct_cdf(crit, df, nc) + nct_cdf(-crit, df, nc))
}

/// The smallest true difference the test detects with probability `POWER`:
/// nc solved by bisection, times the standard error. For a paired t over n
/// seeds with spread s this is statsmodels' `TTestPower().solve_power(nobs=n,
/// alpha=0.05, power=0.8)` · s.
pub fn detectable(se: f64, df: f64) -> Option<f64> {
    if se <= 0.0 || !se.is_finite() || df < 1.0 {
        return None;
    }
    // Power rises with nc from ALPHA at 0: bracket the root by doubling,
    // then regula falsi with the Illinois step (a few dozen power evaluations).
    let f = |nc: f64| power(nc, df).map(|p| p - POWER);
    let (mut lo, mut hi) = (0.0f64, 2.0f64);
    let (mut flo, mut fhi) = (f(lo)?, f(hi)?);
    while fhi < 0.0 {
        (lo, flo) = (hi, fhi);
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
        fhi = f(hi)?;
    }
    let mut side = 0;
    for _ in 0..100 {
        let mid = (lo * fhi - hi * flo) / (fhi - flo);
        let fm = f(mid)?;
        if fm.abs() < 1e-13 || hi - lo < 1e-12 {
            return Some(mid * se);
        }
        if fm < 0.0 {
            (lo, flo) = (mid, fm);
            if side == -1 {
                fhi /= 2.0;
            }
            side = -1;
        } else {
            (hi, fhi) = (mid, fm);
            if side == 1 {
                flo /= 2.0;
            }
            side = 1;
        }
    }
    Some((lo + hi) / 2.0 * se)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paired differences of tests/reference/equivalence.py and their mean, se, df.
    fn paired(x1: &[f64], x2: &[f64]) -> (f64, f64, f64) {
        let d: Vec<f64> = x1.iter().zip(x2).map(|(a, b)| a - b).collect();
        let (m, s) = crate::report::stats::mean_std(&d);
        (m, s / (d.len() as f64).sqrt(), (d.len() - 1) as f64)
    }

    #[test]
    fn tost_matches_statsmodels_ttost_paired() {
        // statsmodels 0.15.0 ttost_paired(x1, x2, -m, m)[0] (tests/reference/equivalence.py).
        let x1 = [0.811, 0.824, 0.806, 0.83, 0.819];
        let x2 = [0.809, 0.82, 0.81, 0.826, 0.815];
        let (m, se, df) = paired(&x1, &x2);
        for (margin, want) in
            [(0.01, 0.003339830393745942), (0.005, 0.0624399128714543), (0.02, 0.00015678546250612145)]
        {
            let p = tost(m, se, df, margin).unwrap();
            assert!((p - want).abs() < 1e-6, "margin {margin}: {p} vs {want}");
        }
        // Non-inferiority at −0.005 is TOST's lower one-sided test.
        let want = 0.005335347123655615;
        assert!((noninferiority(m, se, df, 0.005).unwrap() - want).abs() < 1e-6);
    }

    #[test]
    fn detectable_difference_matches_statsmodels_solve_power() {
        // statsmodels 0.15.0 TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8): the effect size d.
        // Relative 1e-6: for n = 2 statsmodels stops its root search where the
        // power is 0.80000005 (its own ttest_power of its answer), 1.3e-6 above ours.
        for (n, d) in [
            (2usize, 11.549889754978167),
            (3, 3.264043552819638),
            (5, 1.6819970833232674),
            (10, 0.9960019107624178),
            (30, 0.5292357045238948),
        ] {
            let got = detectable(1.0 / (n as f64).sqrt(), (n - 1) as f64).unwrap();
            assert!((got - d).abs() < 1e-6 * d, "n = {n}: {got} vs {d}");
        }
        // The power the solver inverts: statsmodels' ttest_power(d, n, 0.05).
        for (d, n, want) in
            [(1.0, 5usize, 0.4013899173717948), (0.5, 10, 0.2931756065140767), (3.0, 3, 0.7452680070062834)]
        {
            let got = power(d * (n as f64).sqrt(), (n - 1) as f64).unwrap();
            assert!((got - want).abs() < 1e-9, "d = {d}, n = {n}: {got} vs {want}");
        }
        // The noncentral t against scipy's nct.cdf.
        assert!((nct_cdf(1.5, 4.0, 0.8) - 0.7048766285121866).abs() < 1e-9);
        let v = nct_cdf(-2.0, 1.0, 1.0);
        assert!((v - 0.03184888155829535).abs() < 1e-9, "{v}");
    }

    #[test]
    fn a_per_image_test_with_thousands_of_df_is_solved_quickly_and_near_the_normal_answer() {
        // 10,000 test images: df 9,999, where the t is all but normal:
        // (z₀.₉₇₅ + z₀.₈) · se = 2.8016 · se.
        let t = std::time::Instant::now();
        let d = detectable(0.004, 9999.0).unwrap();
        assert!((d / 0.004 - 2.8016).abs() < 2e-3, "{d}");
        // Not a speed target: a guard against the integration blowing up
        // (it once took minutes per comparison at this df).
        assert!(t.elapsed().as_secs_f64() < 5.0, "{:?}", t.elapsed());
    }

    #[test]
    fn no_spread_or_no_margin_gives_no_test() {
        assert_eq!(tost(0.0, 0.0, 3.0, 0.01), None);
        assert_eq!(tost(0.0, 0.01, 3.0, 0.0), None);
        assert_eq!(detectable(0.0, 3.0), None);
    }
}
