//! Barnes–Hut t-SNE (van der Maaten, 2014) in two dimensions.
//!
//! Input affinities use the 3·perplexity nearest neighbours (found with libtorch
//! on the input features, reduced to 50 dimensions by PCA first as the t-SNE
//! papers recommend); the repulsion is approximated with a quadtree (θ = 0.5).
//! Optimisation follows the reference implementation and scikit-learn: PCA
//! initialisation scaled to std 1e-4, early exaggeration 12 for 250 iterations,
//! momentum 0.5 → 0.8, per-coordinate gains, learning rate max(N / 12 / 4, 50).
//!
//! Everything is deterministic: the start is PCA (signs fixed), and the parallel
//! force computation sums per point, in point order.
use crate::error::{Error, Result};
use rayon::prelude::*;
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct TsneConfig {
    pub perplexity: f64,
    pub iterations: usize,
    pub theta: f64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        TsneConfig { perplexity: 30.0, iterations: 1000, theta: 0.5 }
    }
}

/// The top-`k` principal-component scores of x [N, D] (signs fixed so each
/// component's largest loading is positive), as f32 [N, k].
pub fn pca_scores(x: &Tensor, k: i64) -> Tensor {
    tch::no_grad(|| {
        let x = x.to_kind(Kind::Float);
        let xc = &x - x.mean_dim(0, true, Kind::Float);
        let cov = xc.tr().matmul(&xc) / (x.size()[0].max(2) - 1) as f64;
        let (vals, vecs) = cov.to_kind(Kind::Double).linalg_eigh("L");
        let k = k.min(vals.size()[0]);
        // eigh sorts ascending: take the last k columns, largest first.
        let v = vecs.narrow(1, vals.size()[0] - k, k).flip([1]).to_kind(Kind::Float);
        let idx = v.abs().argmax(0, true);
        let sign = v.gather(0, &idx, false).sign();
        let sign = sign.where_self(&sign.ne(0.0), &sign.ones_like());
        xc.matmul(&(v * sign))
    })
}

/// Sparse symmetric input affinities P (row i: (j, p_ij)), summing to 1.
///
/// Long on purpose: one numeric kernel (k-NN graph, the per-point binary search for σ_i, symmetrisation),
/// kept whole to follow the reference implementation step by step.
fn affinities(x: &Tensor, perplexity: f64) -> Result<Vec<Vec<(u32, f64)>>> {
    let n = x.size()[0];
    let k = ((3.0 * perplexity).ceil() as i64).min(n - 1).max(1);
    let xx = x.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let mut nbr_idx: Vec<i64> = Vec::with_capacity((n * k) as usize);
    let mut nbr_d: Vec<f32> = Vec::with_capacity((n * k) as usize);
    tch::no_grad(|| -> Result<()> {
        for start in (0..n).step_by(1024) {
            let m = 1024.min(n - start);
            let q = x.narrow(0, start, m);
            let d = (q.square().sum_dim_intlist([1i64].as_slice(), true, Kind::Float) + xx.unsqueeze(0)
                - q.matmul(&x.tr()) * 2.0)
                .clamp_min(0.0);
            // Exclude each point itself.
            let rows = Tensor::arange(m, (Kind::Int64, x.device()));
            let d =
                d.index_put(&[Some(rows.shallow_clone()), Some(&rows + start)], &Tensor::from(f32::INFINITY), false);
            let (v, i) = d.topk(k, 1, false, true);
            nbr_d.extend(Vec::<f32>::try_from(v.reshape([-1]))?);
            nbr_idx.extend(Vec::<i64>::try_from(i.reshape([-1]))?);
        }
        Ok(())
    })?;
    let k = k as usize;
    let target = perplexity.ln();
    // Conditional p_{j|i} by binary search on the precision β = 1 / (2σ²).
    let cond: Vec<Vec<f64>> = (0..n as usize)
        .into_par_iter()
        .map(|i| {
            let d = &nbr_d[i * k..(i + 1) * k];
            let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
            let mut p = vec![0.0; k];
            for _ in 0..100 {
                let dmin = d[0] as f64;
                let mut sum = 0.0;
                for (pj, &dj) in p.iter_mut().zip(d) {
                    *pj = (-(dj as f64 - dmin) * beta).exp();
                    sum += *pj;
                }
                let mut h = 0.0;
                for (pj, &dj) in p.iter_mut().zip(d) {
                    *pj /= sum;
                    h += *pj * (dj as f64 - dmin) * beta;
                }
                // H = −Σ p log p = β·E[d − dmin] + log(sum).
                let entropy = h + sum.ln();
                if (entropy - target).abs() < 1e-5 {
                    break;
                }
                if entropy > target {
                    lo = beta;
                    beta = if hi.is_finite() { (beta + hi) / 2.0 } else { beta * 2.0 };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            p
        })
        .collect();
    // Symmetrise: p_ij = (p_{j|i} + p_{i|j}) / 2N.
    let mut rows: Vec<std::collections::BTreeMap<u32, f64>> = vec![Default::default(); n as usize];
    for i in 0..n as usize {
        for (t, &j) in nbr_idx[i * k..(i + 1) * k].iter().enumerate() {
            let v = cond[i][t] / (2.0 * n as f64);
            *rows[i].entry(j as u32).or_insert(0.0) += v;
            *rows[j as usize].entry(i as u32).or_insert(0.0) += v;
        }
    }
    if rows.iter().any(|r| r.values().any(|v| !v.is_finite())) {
        return Err(Error::stage("t-SNE: non-finite affinities (duplicate or non-finite features?)"));
    }
    Ok(rows.into_iter().map(|r| r.into_iter().collect()).collect())
}

/// A quadtree over the 2-D points: nodes with their centre of mass and count;
/// leaves keep their points' indices (several only at the depth limit).
struct QuadTree {
    nodes: Vec<Node>,
}

struct Node {
    cx: f64,
    cy: f64,
    half: f64,
    mx: f64,
    my: f64,
    count: usize,
    children: Option<[usize; 4]>,
    points: Vec<u32>,
}

const MAX_DEPTH: usize = 48;

impl QuadTree {
    fn build(y: &[[f64; 2]]) -> QuadTree {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for p in y {
            x0 = x0.min(p[0]);
            x1 = x1.max(p[0]);
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
        let half = ((x1 - x0).max(y1 - y0) / 2.0).max(1e-12) * (1.0 + 1e-9);
        let root = Node {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            half,
            mx: 0.0,
            my: 0.0,
            count: 0,
            children: None,
            points: Vec::new(),
        };
        let mut t = QuadTree { nodes: vec![root] };
        for (i, p) in y.iter().enumerate() {
            t.insert(0, i as u32, *p, y, 0);
        }
        t
    }

    fn quadrant(n: &Node, p: [f64; 2]) -> usize {
        (p[0] > n.cx) as usize + 2 * (p[1] > n.cy) as usize
    }

    fn insert(&mut self, mut node: usize, i: u32, p: [f64; 2], all: &[[f64; 2]], mut depth: usize) {
        loop {
            let n = &mut self.nodes[node];
            let c = n.count as f64;
            n.mx = (n.mx * c + p[0]) / (c + 1.0);
            n.my = (n.my * c + p[1]) / (c + 1.0);
            n.count += 1;
            match n.children {
                Some(ch) => {
                    node = ch[Self::quadrant(n, p)];
                    depth += 1;
                }
                None if n.points.is_empty() || depth >= MAX_DEPTH => {
                    n.points.push(i);
                    return;
                }
                None => {
                    // Split: the resident point moves one level down.
                    let (cx, cy, h) = (n.cx, n.cy, n.half / 2.0);
                    let resident = std::mem::take(&mut n.points);
                    let base = self.nodes.len();
                    for q in 0..4 {
                        let (sx, sy) = (if q & 1 == 1 { 1.0 } else { -1.0 }, if q & 2 == 2 { 1.0 } else { -1.0 });
                        self.nodes.push(Node {
                            cx: cx + sx * h,
                            cy: cy + sy * h,
                            half: h,
                            mx: 0.0,
                            my: 0.0,
                            count: 0,
                            children: None,
                            points: Vec::new(),
                        });
                    }
                    self.nodes[node].children = Some([base, base + 1, base + 2, base + 3]);
                    for r in resident {
                        let rp = all[r as usize];
                        let q = Self::quadrant(&self.nodes[node], rp);
                        let child = &mut self.nodes[base + q];
                        child.mx = rp[0];
                        child.my = rp[1];
                        child.count = 1;
                        child.points.push(r);
                    }
                    let q = Self::quadrant(&self.nodes[node], p);
                    node = base + q;
                    depth += 1;
                }
            }
        }
    }

    /// Unnormalised repulsion on point i: (Σ q²·(yi − yj), Σ q) with q = 1/(1+d²).
    fn repulsion(&self, i: u32, p: [f64; 2], theta: f64, all: &[[f64; 2]]) -> ([f64; 2], f64) {
        let (mut f, mut z) = ([0.0; 2], 0.0);
        let mut stack = vec![0usize];
        while let Some(k) = stack.pop() {
            let n = &self.nodes[k];
            if n.count == 0 {
                continue;
            }
            match n.children {
                None => {
                    for &j in &n.points {
                        if j == i {
                            continue;
                        }
                        let q = all[j as usize];
                        let (dx, dy) = (p[0] - q[0], p[1] - q[1]);
                        let w = 1.0 / (1.0 + dx * dx + dy * dy);
                        z += w;
                        f[0] += w * w * dx;
                        f[1] += w * w * dy;
                    }
                }
                Some(ch) => {
                    let (dx, dy) = (p[0] - n.mx, p[1] - n.my);
                    let d2 = dx * dx + dy * dy;
                    if 2.0 * n.half < theta * d2.sqrt() {
                        let w = 1.0 / (1.0 + d2);
                        let c = n.count as f64;
                        z += c * w;
                        f[0] += c * w * w * dx;
                        f[1] += c * w * w * dy;
                    } else {
                        stack.extend_from_slice(&ch);
                    }
                }
            }
        }
        (f, z)
    }
}

/// Embeds x [N, D] in 2-D; returns N points.
pub fn tsne(x: &Tensor, cfg: &TsneConfig) -> Result<Vec<[f64; 2]>> {
    let n = x.size()[0] as usize;
    if n < 4 {
        return Err(Error::stage(format!("t-SNE needs at least 4 points, got {n}")));
    }
    let perplexity = cfg.perplexity.min((n as f64 - 1.0) / 3.0).max(1.0);
    let x = x.to_device(tch::Device::Cpu).to_kind(Kind::Float);
    let reduced = if x.size()[1] > 50 { pca_scores(&x, 50) } else { x.shallow_clone() };
    let p = affinities(&reduced, perplexity)?;
    let init = pca_scores(&reduced, 2);
    let init = if init.size()[1] < 2 {
        Tensor::cat(&[init.shallow_clone(), init.zeros_like()], 1).narrow(1, 0, 2)
    } else {
        init
    };
    let std = init.narrow(1, 0, 1).std(true).double_value(&[]).max(1e-12);
    let flat: Vec<f32> = Vec::try_from((init / std * 1e-4).reshape([-1]))?;
    let mut y: Vec<[f64; 2]> = flat.chunks(2).map(|c| [c[0] as f64, c[1] as f64]).collect();
    let mut vel = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    let (exag_iters, exag) = (250usize.min(cfg.iterations), 12.0);
    let lr = (n as f64 / exag / 4.0).max(50.0);
    for it in 0..cfg.iterations {
        let (ex, mom) = if it < exag_iters { (exag, 0.5) } else { (1.0, 0.8) };
        let tree = QuadTree::build(&y);
        let rep: Vec<([f64; 2], f64)> =
            (0..n).into_par_iter().map(|i| tree.repulsion(i as u32, y[i], cfg.theta, &y)).collect();
        let z: f64 = rep.iter().map(|r| r.1).sum::<f64>().max(1e-12);
        let grads: Vec<[f64; 2]> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut g = [0.0; 2];
                for &(j, pij) in &p[i] {
                    let q = y[j as usize];
                    let (dx, dy) = (y[i][0] - q[0], y[i][1] - q[1]);
                    let w = pij / (1.0 + dx * dx + dy * dy);
                    g[0] += w * dx;
                    g[1] += w * dy;
                }
                [4.0 * (ex * g[0] - rep[i].0[0] / z), 4.0 * (ex * g[1] - rep[i].0[1] / z)]
            })
            .collect();
        for i in 0..n {
            for d in 0..2 {
                let same_sign = (grads[i][d] > 0.0) == (vel[i][d] > 0.0);
                gains[i][d] = if same_sign { (gains[i][d] * 0.8).max(0.01) } else { gains[i][d] + 0.2 };
                vel[i][d] = mom * vel[i][d] - lr * gains[i][d] * grads[i][d];
                y[i][d] += vel[i][d];
            }
        }
        if y.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
            return Err(Error::stage(format!("t-SNE diverged at iteration {it}")));
        }
    }
    Ok(y)
}

/// Leave-one-out k-NN accuracy of the labels in a 2-D map: how well the classes
/// stay apart in the picture a reader looks at.
pub fn map_knn_accuracy(points: &[[f64; 2]], labels: &[i64], k: usize) -> f64 {
    let n = points.len();
    if n < 2 {
        return f64::NAN;
    }
    let k = k.min(n - 1);
    let correct: usize = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut d: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| ((points[i][0] - points[j][0]).powi(2) + (points[i][1] - points[j][1]).powi(2), j))
                .collect();
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut votes = std::collections::BTreeMap::<i64, usize>::new();
            for &(_, j) in &d[..k] {
                *votes.entry(labels[j]).or_insert(0) += 1;
            }
            let best = votes.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(l, _)| *l);
            (best == Some(labels[i])) as usize
        })
        .sum();
    correct as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_well_separated_clusters() {
        // Four gaussian clusters in 20-D, 10 standard deviations apart.
        let labels: Vec<i64> = (0..400).map(|i| i % 4).collect();
        let centres = crate::runtime::seeding::randn(&[4, 20], 1) * 10.0;
        let x = centres.index_select(0, &Tensor::from_slice(&labels)) + crate::runtime::seeding::randn(&[400, 20], 2);
        let cfg = TsneConfig { iterations: 500, ..Default::default() };
        let y = tsne(&x, &cfg).unwrap();
        assert_eq!(y, tsne(&x, &cfg).unwrap(), "t-SNE is deterministic");
        assert_eq!(map_knn_accuracy(&y, &labels, 5), 1.0);
        // The clusters are far apart relative to their size in the map.
        let centre = |c: i64| {
            let pts: Vec<&[f64; 2]> = y.iter().zip(&labels).filter(|(_, &l)| l == c).map(|(p, _)| p).collect();
            let m = [
                pts.iter().map(|p| p[0]).sum::<f64>() / pts.len() as f64,
                pts.iter().map(|p| p[1]).sum::<f64>() / pts.len() as f64,
            ];
            let spread = pts.iter().map(|p| ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)).sqrt()).sum::<f64>()
                / pts.len() as f64;
            (m, spread)
        };
        let (m0, s0) = centre(0);
        let (m1, _) = centre(1);
        let gap = ((m0[0] - m1[0]).powi(2) + (m0[1] - m1[1]).powi(2)).sqrt();
        assert!(gap > 3.0 * s0, "gap {gap} vs spread {s0}");
    }

    #[test]
    fn pca_scores_find_the_main_axis() {
        let t = crate::runtime::seeding::randn(&[300, 1], 3);
        let x = Tensor::cat(&[&t * 10.0, crate::runtime::seeding::randn(&[300, 3], 4) * 0.1], 1);
        let s = pca_scores(&x, 1);
        let corr = Tensor::stack(&[s.squeeze_dim(1), t.squeeze_dim(1)], 0).corrcoef().double_value(&[0, 1]);
        assert!(corr.abs() > 0.99, "{corr}");
    }
}
