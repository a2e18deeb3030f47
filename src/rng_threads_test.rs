//! Every code path that draws from libtorch's generator, run in parallel
//! threads many times, gives what it gives when run alone (issue 33).
//!
//! Each path seeds the generator the way the runner does (`with_torch_seed`
//! around the draw, or inside the stage that draws); the threads run the paths
//! in different orders so that draws of one path overlap every other path. A
//! draw outside the lock anywhere in the library fails here, or panics at its
//! `check_seeded` site in this test build.
use crate::augment::AugmentParams;
use crate::eval::clustering::ClusteringParams;
use crate::eval::linear_probe::{LinearProbeParams, Solver};
use crate::eval::{EvalContext, Features};
use crate::represent::{FitContext, RepresentationSpec};
use crate::runtime::seeding::{randn, with_torch_seed};
use tch::{Device, Kind, Tensor};

type Path = fn() -> Vec<Tensor>;

/// A tensor's values as bits (tensors cannot be shared between threads).
fn bits(ts: Vec<Tensor>) -> Vec<Vec<u64>> {
    ts.iter()
        .map(|t| {
            let v: Vec<f64> = Vec::try_from(t.flatten(0, -1).to_kind(Kind::Double)).expect("a numeric tensor");
            v.into_iter().map(f64::to_bits).collect()
        })
        .collect()
}

fn augment() -> Vec<Tensor> {
    let p = AugmentParams { blur_p: 0.5, solarize_p: 0.3, ..Default::default() };
    let x = with_torch_seed(7, || Tensor::rand([8, 3, 16, 16], (Kind::Float, Device::Cpu)));
    vec![with_torch_seed(1, || p.apply(&x)), with_torch_seed(2, || p.view(&x, (8, 8), [0.05, 0.4]))]
}

fn blobs() -> Features {
    let c = Tensor::from_slice(&[3.0f32, 0., 0., 3., -3., -3.]).view([3, 2]);
    let y = Tensor::arange(300, (Kind::Int64, Device::Cpu)).remainder(3);
    let x = c.index_select(0, &y) + randn(&[300, 2], 0);
    Features {
        train_x: x.narrow(0, 0, 200),
        train_y: y.narrow(0, 0, 200),
        val_x: x.narrow(0, 200, 50),
        val_y: y.narrow(0, 200, 50),
        test_x: x.narrow(0, 250, 50),
        test_y: y.narrow(0, 250, 50),
        num_classes: 3,
    }
}

fn metrics(out: crate::eval::EvalOutput) -> Vec<Tensor> {
    vec![Tensor::from_slice(&out.metrics.iter().map(|m| m.1).collect::<Vec<f64>>())]
}

fn kmeans() -> Vec<Tensor> {
    metrics(ClusteringParams::default().run(&blobs(), 3).expect("k-means runs"))
}

fn probe_adam() -> Vec<Tensor> {
    let p = LinearProbeParams { solver: Solver::Adam, epochs: Some(3), batch_size: Some(32), ..Default::default() };
    metrics(p.run(&blobs(), &EvalContext { device: Device::Cpu, seed: 5 }).expect("the probe trains"))
}

fn images() -> Tensor {
    with_torch_seed(11, || Tensor::randint(256, [32, 1, 8, 8], (Kind::Uint8, Device::Cpu)))
}

fn fit_and_embed(yaml: &str) -> Vec<Tensor> {
    let spec: RepresentationSpec = serde_yaml::from_str(yaml).expect("a valid spec");
    let x = images();
    let fitted = spec.as_dyn().fit(&x, &FitContext::simple(Device::Cpu, 9)).expect("fits");
    vec![fitted.embed(&x, Device::Cpu).expect("embeds")]
}

fn random_projection() -> Vec<Tensor> {
    fit_and_embed("kind: random_projection\ndims: 16")
}

fn simclr() -> Vec<Tensor> {
    fit_and_embed("kind: simclr\ntrain: {epochs: 1, batch_size: 16}")
}

const PATHS: [(&str, Path); 5] = [
    ("augment", augment),
    ("k-means", kmeans),
    ("adam probe", probe_adam),
    ("random projection", random_projection),
    ("simclr fit", simclr),
];

#[test]
fn parallel_threads_draw_what_a_single_thread_draws() {
    let reference: Vec<Vec<Vec<u64>>> = PATHS.iter().map(|(_, f)| bits(f())).collect();
    let threads = 6;
    let rounds = 4;
    std::thread::scope(|s| {
        for t in 0..threads {
            let reference = &reference;
            s.spawn(move || {
                for r in 0..rounds {
                    for i in 0..PATHS.len() {
                        // Each thread walks the paths from another start.
                        let j = (i + t + r) % PATHS.len();
                        let (name, f) = PATHS[j];
                        assert!(
                            bits(f()) == reference[j],
                            "{name}: thread {t}, round {r} differs from the sequential run"
                        );
                    }
                }
            });
        }
    });
}
