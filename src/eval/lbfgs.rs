//! L-BFGS for the linear probe's objective: smooth and strictly convex (mean
//! cross-entropy + λ/2·‖W‖²), so a quasi-Newton method with a backtracking
//! (Armijo) line search converges to the unique optimum, to a tolerance, in a
//! number of iterations that does not depend on how many labels there are —
//! unlike a fixed budget of minibatch steps.
//!
//! Vectors are flat float32 tensors on the probe's device; dot products and
//! step sizes are f64 on the host. Stopping rule: the largest absolute
//! gradient component ≤ `tolerance` (scipy's `pgtol`, which scikit-learn's
//! `lbfgs` solver passes its `tol` as).
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsConfig {
    pub tolerance: f64,
    pub max_iterations: usize,
    /// Correction pairs kept (scipy's default m = 10).
    pub history: usize,
}

#[derive(Debug)]
pub struct LbfgsResult {
    pub x: Tensor,
    pub value: f64,
    pub iterations: usize,
    /// max |∇f| at the end.
    pub grad_max: f64,
    pub converged: bool,
    /// Function and gradient evaluations (the cost).
    pub evaluations: usize,
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.dot(b).to_kind(Kind::Double).double_value(&[])
}

fn max_abs(g: &Tensor) -> f64 {
    g.abs().max().to_kind(Kind::Double).double_value(&[])
}

/// Minimizes `f` (returning value and gradient) from `x0`.
pub fn minimize(x0: Tensor, f: impl FnMut(&Tensor) -> (f64, Tensor), cfg: &LbfgsConfig) -> LbfgsResult {
    minimize_preconditioned(x0, f, None, cfg)
}

/// `M·g` for a fixed symmetric positive definite `M` (see `minimize_preconditioned`).
pub type Preconditioner<'a> = &'a dyn Fn(&Tensor) -> Tensor;

/// L-BFGS whose initial inverse Hessian is `γ·M`, `precondition(g) = M·g` for a
/// fixed symmetric positive definite `M` (the identity when `None`) (Nocedal & Wright, §7.2: any H₀ keeps
/// the method's guarantees; γ = sᵀy / yᵀMy scales it as the identity's γ does).
///
/// Why: the probe's objective on correlated features (raw pixels) has a Hessian
/// whose condition number follows the features' covariance; with `M` close to
/// its inverse the iterations drop several-fold. The optimum and the stopping
/// rule (max |∇f| ≤ tolerance, in the original coordinates) are unchanged.
pub fn minimize_preconditioned(
    x0: Tensor,
    mut f: impl FnMut(&Tensor) -> (f64, Tensor),
    preconditioner: Option<Preconditioner>,
    cfg: &LbfgsConfig,
) -> LbfgsResult {
    // The first step: the preconditioned gradient is a Newton-like step, tried at
    // length 1; without one, a step of unit length, as scipy does.
    let newton_like = preconditioner.is_some();
    let precondition = |v: &Tensor| preconditioner.map(|m| m(v)).unwrap_or_else(|| v.shallow_clone());
    let mut x = x0;
    let (mut fx, mut g) = f(&x);
    let mut evaluations = 1;
    let mut pairs: std::collections::VecDeque<(Tensor, Tensor, f64)> = std::collections::VecDeque::new();
    let mut iterations = 0;
    while iterations < cfg.max_iterations && max_abs(&g) > cfg.tolerance && fx.is_finite() {
        // Two-loop recursion: d = −H·g.
        // A copy: the updates below are in place and must not touch the gradient.
        let mut q = g.copy();
        let mut alphas = Vec::with_capacity(pairs.len());
        for (s, y, rho) in pairs.iter().rev() {
            let a = rho * dot(s, &q);
            q -= y * a;
            alphas.push(a);
        }
        let mq = precondition(&q);
        let gamma = pairs
            .back()
            .map(|(s, y, _)| {
                let my = precondition(y);
                dot(s, y) / dot(y, &my)
            })
            .unwrap_or(1.0);
        let mut r = mq * gamma;
        for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &r);
            r += s * (a - b);
        }
        let mut d = -r;
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (a stale pair): restart from the preconditioned gradient.
            pairs.clear();
            d = -precondition(&g);
            slope = dot(&g, &d);
        }
        let mut step = if pairs.is_empty() && !newton_like { (1.0 / dot(&d, &d).sqrt()).min(1.0) } else { 1.0 };
        let (mut x_new, mut f_new, mut g_new);
        loop {
            x_new = &x + &d * step;
            let (v, gr) = f(&x_new);
            evaluations += 1;
            f_new = v;
            g_new = gr;
            if (f_new.is_finite() && f_new <= fx + 1e-4 * step * slope) || step < 1e-20 {
                break;
            }
            step *= 0.5;
        }
        if !(f_new < fx || (f_new == fx && max_abs(&g_new) < max_abs(&g))) {
            // No progress in float32: the optimum is as close as this precision gets.
            break;
        }
        let s = &x_new - &x;
        let y = &g_new - &g;
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            pairs.push_back((s, y, 1.0 / sy));
            if pairs.len() > cfg.history {
                pairs.pop_front();
            }
        }
        x = x_new;
        fx = f_new;
        g = g_new;
        iterations += 1;
    }
    let grad_max = max_abs(&g);
    LbfgsResult { converged: grad_max <= cfg.tolerance, x, value: fx, iterations, grad_max, evaluations }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimizes_an_ill_conditioned_quadratic() {
        // f(x) = ½ Σ c_i (x_i − 1)², condition number 1000.
        let c = Tensor::from_slice(&[1.0f32, 10.0, 100.0, 1000.0]);
        let f = |x: &Tensor| {
            let r = x - 1.0;
            let v = (&c * &r * &r).sum(Kind::Float).double_value(&[]) * 0.5;
            (v, &c * r)
        };
        let cfg = LbfgsConfig { tolerance: 1e-5, max_iterations: 200, history: 10 };
        let out = minimize(Tensor::zeros([4], (Kind::Float, tch::Device::Cpu)), f, &cfg);
        assert!(out.converged, "{out:?}");
        assert!((out.x - 1.0).abs().max().double_value(&[]) < 1e-4);
        assert!(out.iterations < 50, "{} iterations", out.iterations);
    }
}
