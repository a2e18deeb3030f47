//! Noise: additive Gaussian, Poisson (shot) and salt-and-pepper (impulse), with
//! CIFAR-10-C's severities. Every value of every channel draws independently,
//! as the reference does on its H×W×C array.
use super::Planes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

const GAUSSIAN: [f64; 5] = [0.04, 0.06, 0.08, 0.09, 0.10];
const SHOT: [f64; 5] = [500.0, 250.0, 100.0, 75.0, 50.0];
const IMPULSE: [f64; 5] = [0.01, 0.02, 0.03, 0.05, 0.07];

/// `clip(x + N(0, σ²), 0, 1)`.
pub fn gaussian(img: &Planes, s: usize, rng: &mut ChaCha8Rng) -> Planes {
    let sigma = GAUSSIAN[s];
    map(img, |x| (x + sigma * rng.sample::<f64, _>(StandardNormal)).clamp(0.0, 1.0))
}

/// `clip(Poisson(x·λ) / λ, 0, 1)`: photon noise at λ photons for full white.
pub fn shot(img: &Planes, s: usize, rng: &mut ChaCha8Rng) -> Planes {
    let lambda = SHOT[s];
    map(img, |x| {
        let mean = x * lambda;
        // Poisson(0) is 0 (rand_distr refuses a zero rate).
        let k = if mean > 0.0 { Poisson::new(mean).map(|p| p.sample(rng)).unwrap_or(0.0) } else { 0.0 };
        (k / lambda).clamp(0.0, 1.0)
    })
}

/// scikit-image's `random_noise(mode="s&p", amount=a)`: each value is replaced
/// with probability a, by white or black with equal odds.
pub fn impulse(img: &Planes, s: usize, rng: &mut ChaCha8Rng) -> Planes {
    let amount = IMPULSE[s];
    map(img, |x| {
        if rng.random::<f64>() < amount {
            if rng.random::<bool>() {
                1.0
            } else {
                0.0
            }
        } else {
            x
        }
    })
}

fn map(img: &Planes, mut f: impl FnMut(f64) -> f64) -> Planes {
    img.with(img.v.iter().map(|&x| f(x)).collect())
}
