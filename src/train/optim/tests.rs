//! The optimiser against hand-computed values: the lr schedule, convergence on a
//! quadratic, frozen parameters (no step, no decay, no moments) and clipping.
use super::*;

#[test]
fn schedule_warms_up_then_decays() {
    assert!((lr_at(0, 100, 10, 1.0, 0.0) - 0.1).abs() < 1e-12);
    assert!((lr_at(9, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
    assert!((lr_at(10, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
    assert!(lr_at(100, 100, 10, 1.0, 0.1) - 0.1 < 1e-12);
}

/// Each optimizer drives a quadratic to its minimum.
#[test]
fn optimizers_minimise_a_quadratic() {
    for kind in [OptimizerKind::Sgd, OptimizerKind::Adam, OptimizerKind::Adamw, OptimizerKind::Lars] {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let x = vs.root().var("x", &[4, 3], nn::Init::Const(2.0));
        let lr = if kind == OptimizerKind::Lars { 5.0 } else { 0.05 };
        let mut opt = Optimizer::new(&vs, &OptimizerParams { kind, lr, weight_decay: 0.0, ..Default::default() });
        for _ in 0..300 {
            opt.zero_grad();
            let loss = (&x - 0.5).square().sum(tch::Kind::Float);
            loss.backward();
            opt.step(lr, None);
        }
        let err = (&x - 0.5).abs().max().double_value(&[]);
        assert!(err < 0.05, "{kind:?}: {err}");
    }
}

/// The slice of flat optimiser state `j` that belongs to `param`.
fn state_of(opt: &Optimizer, j: usize, param: &Tensor) -> Tensor {
    let mut off = 0;
    for (p, &n) in opt.params.iter().zip(&opt.numels) {
        if p.data_ptr() == param.data_ptr() {
            return opt.state[j].narrow(0, off, n).copy();
        }
        off += n;
    }
    panic!("not a parameter of this optimiser")
}

/// A frozen parameter (DINO's last layer in its first epoch) is held exactly
/// still: its values bit for bit, its Adam moments at zero, and its step count
/// not advanced — its first real update is a first Adam step (lr · g / (|g| + ε)
/// elementwise), not the bias-corrected step of a parameter that had taken four.
#[test]
fn frozen_parameters_take_no_step_no_decay_no_moments() {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let a = vs.root().var("a", &[2, 3], nn::Init::Const(1.0));
    let b = vs.root().var("b", &[2, 2], nn::Init::Const(2.0));
    let cfg = OptimizerParams { kind: OptimizerKind::Adamw, weight_decay: 0.1, ..Default::default() };
    let mut opt = Optimizer::new(&vs, &cfg);
    let b0 = b.copy();
    let target = Tensor::from_slice(&[0.5f32, -1.0, 3.0, 0.0]).view([2, 2]);
    let loss = |a: &Tensor, b: &Tensor| {
        (a - 0.5).square().sum(tch::Kind::Float) + (b - &target).square().sum(tch::Kind::Float)
    };
    for _ in 0..3 {
        opt.zero_grad();
        loss(&a, &b).backward();
        opt.update(&Update { lr: 0.01, weight_decay: 0.1, clip: None, frozen: &[b.shallow_clone()] });
    }
    assert!(b.equal(&b0), "the frozen parameter moved");
    for j in 0..2 {
        assert_eq!(
            state_of(&opt, j, &b).abs().max().double_value(&[]),
            0.0,
            "moment {j} of the frozen parameter changed"
        );
    }
    assert_ne!(a.double_value(&[0, 0]), 1.0, "the other parameter did not move");
    opt.zero_grad();
    loss(&a, &b).backward();
    let g = b.grad().copy();
    let (lr, wd) = (0.01, 0.1);
    opt.update(&Update { lr, weight_decay: wd, clip: None, frozen: &[] });
    let expected = &b0 * (1.0 - lr * wd) - g.sign() * lr * (&g.abs() / (g.abs() + 1e-8));
    let err = (&b - expected).abs().max().double_value(&[]);
    assert!(err < 1e-6, "first update after the freeze is not a first Adam step: {err}");
}

/// Per-parameter clipping scales each gradient to norm ≤ max on its own; global
/// clipping scales all of them by one factor. Plain SGD at lr 1 makes the update the clipped gradient.
#[test]
fn per_parameter_and_global_clipping_match_hand_computed_values() {
    for (clip, ea, eb) in [
        // a's gradient [3, 4] (norm 5) → [0.6, 0.8]; b's [0.3, 0.4] (norm 0.5) unchanged.
        (Clip::PerParameter(1.0), [0.6, 0.8], [0.3, 0.4]),
        // Global norm √(25 + 0.25) = 5.02494: both scaled by 1 / 5.02494.
        (Clip::Global(1.0), [3.0 / 5.024938, 4.0 / 5.024938], [0.3 / 5.024938, 0.4 / 5.024938]),
    ] {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let a = vs.root().var("a", &[2], nn::Init::Const(0.0));
        let b = vs.root().var("b", &[2], nn::Init::Const(0.0));
        let cfg = OptimizerParams { kind: OptimizerKind::Sgd, momentum: 0.0, weight_decay: 0.0, ..Default::default() };
        let mut opt = Optimizer::new(&vs, &cfg);
        let ga = Tensor::from_slice(&[3.0f32, 4.0]);
        let gb = Tensor::from_slice(&[0.3f32, 0.4]);
        ((&a * &ga).sum(tch::Kind::Float) + (&b * &gb).sum(tch::Kind::Float)).backward();
        opt.update(&Update { lr: 1.0, weight_decay: 0.0, clip: Some(clip), frozen: &[] });
        for (t, e) in [(&a, ea), (&b, eb)] {
            for (i, want) in e.iter().enumerate() {
                let got = -t.double_value(&[i as i64]);
                assert!((got - want).abs() < 1e-5, "{clip:?}: {got} vs {want}");
            }
        }
    }
}
