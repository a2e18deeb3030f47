//! The network fine-tuning trains under its head: one of repbench's encoders
//! (trained by repbench or loaded from a checkpoint) or a TorchScript module
//! made elsewhere, whose parameters join the var store so the one training loop
//! trains them.
//!
//! Blocks, for `last-n`: an encoder's own blocks; for a TorchScript module, the
//! submodules that own parameters, in the order the module lists them (a
//! convolution, its batch norm and a linear layer are three blocks), since a
//! module made elsewhere says nothing more about its structure.
use crate::error::{Error, Result};
use crate::methods::Normalizer;
use crate::nn::Encoder;
use crate::represent::torchscript::{select_output, TorchscriptParams};
use crate::represent::RepresentationSpec;
use crate::state::NamedTensors;
use tch::{nn, IValue, Kind, Tensor, TrainableCModule};

pub enum Backbone {
    Own { norm: Normalizer, encoder: Box<dyn Encoder> },
    Script { module: TrainableCModule, params: TorchscriptParams, blocks: Vec<Vec<String>>, out_dim: i64 },
}

impl Backbone {
    /// Builds the backbone under `root / "encoder"` (and `norm`) from a fitted
    /// representation's state, or loads the TorchScript module.
    pub fn build(
        spec: &RepresentationSpec,
        state: &NamedTensors,
        vs: &nn::VarStore,
        shape: (i64, i64, i64),
    ) -> Result<Backbone> {
        let root = &vs.root();
        if let RepresentationSpec::Torchscript(p) = spec {
            return Backbone::script(p, vs, shape);
        }
        let method = spec
            .method()
            .ok_or_else(|| Error::NotApplicable(format!("fine-tuning needs an encoder; {} has none", spec.kind())))?;
        let encoder = method.encoder().build(&(root / "encoder"), shape)?;
        let norm = Normalizer::new(&(root / "norm"), shape.0);
        let prefix = method.backbone_prefix();
        let vs_vars = vs.variables();
        // Encoder and normaliser from the fitted state; the head stays freshly initialised.
        tch::no_grad(|| -> Result<()> {
            for (name, mut t) in vs_vars {
                // tch names variables by path joined with '.'.
                let src = if let Some(rest) = name.strip_prefix("encoder.") {
                    format!("{prefix}.{rest}")
                } else if name.starts_with("norm.") {
                    format!("vs/{name}")
                } else {
                    continue;
                };
                t.copy_(&state.require(&src, "the fitted state")?.to_device(t.device()));
            }
            Ok(())
        })?;
        Ok(Backbone::Own { norm, encoder })
    }

    fn script(p: &TorchscriptParams, vs: &nn::VarStore, shape: (i64, i64, i64)) -> Result<Backbone> {
        let root = &vs.root();
        crate::represent::imported::refuse_pickle(&p.path)?;
        let path = root / "encoder";
        let mut module = TrainableCModule::load(&p.path, path).map_err(|e| {
            Error::data(
                &p.path,
                format!("cannot be loaded as TorchScript: {}", e.to_string().lines().next().unwrap_or("")),
            )
        })?;
        let names = module_param_names(&p.path)?;
        let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
        for n in names {
            let owner = n.rsplit_once('.').map(|(m, _)| m.to_string()).unwrap_or_default();
            let var = format!("encoder.{}", n.replace('.', "_"));
            match blocks.last_mut() {
                Some((o, v)) if *o == owner => v.push(var),
                _ => blocks.push((owner, vec![var])),
            }
        }
        module.set_eval();
        let mut b = Backbone::Script { module, params: p.clone(), blocks: Vec::new(), out_dim: 0 };
        // One forward and backward before training: a module that fails fails
        // here, with its file named; parameters its forward does not use (a
        // traced model keeps its unused classifier) get no gradient and are
        // left out of the blocks, so they are neither trained nor counted.
        let probe = Tensor::ones([2, shape.0, shape.1, shape.2], (Kind::Float, root.device())) * 0.5;
        let f = b.try_features(&probe, false)?;
        f.square().sum(Kind::Float).backward();
        let vars = vs.variables();
        let used = |v: &String| vars.get(v).is_some_and(|t| t.grad().defined());
        let blocks: Vec<Vec<String>> = blocks
            .into_iter()
            .map(|(_, v)| v.into_iter().filter(used).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .collect();
        for (_, t) in vars {
            if t.grad().defined() {
                let _ = t.grad().zero_();
            }
        }
        if let Backbone::Script { out_dim, blocks: bl, .. } = &mut b {
            *out_dim = f.size()[1];
            *bl = blocks;
        }
        Ok(b)
    }

    pub fn out_dim(&self) -> i64 {
        match self {
            Backbone::Own { encoder, .. } => encoder.out_dim(),
            Backbone::Script { out_dim, .. } => *out_dim,
        }
    }

    /// Variable names of each block, in order (what `last-n` unfreezes).
    pub fn blocks(&self) -> Vec<Vec<String>> {
        match self {
            Backbone::Own { encoder, .. } => encoder
                .block_prefixes()
                .into_iter()
                .map(|b| b.into_iter().map(|p| format!("encoder.{p}")).collect())
                .collect(),
            Backbone::Script { blocks, .. } => blocks.clone(),
        }
    }

    /// What `full` trains: the whole encoder, or every used parameter of a module.
    pub fn all(&self) -> Vec<String> {
        match self {
            Backbone::Own { .. } => vec!["encoder".into()],
            Backbone::Script { blocks, .. } => blocks.iter().flatten().cloned().collect(),
        }
    }

    /// Features of images in [0, 1]; `train` selects batch-norm/dropout behaviour.
    pub fn try_features(&mut self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Backbone::Own { norm, encoder } => Ok(encoder.forward(&norm.apply(x), train)),
            Backbone::Script { module, params, .. } => {
                if train {
                    module.set_train();
                } else {
                    module.set_eval();
                }
                let input = params.input.prepare(x.shallow_clone(), true)?;
                let out = module.forward_is(&[IValue::Tensor(input)]).map_err(|e| {
                    Error::data(&params.path, format!("forward failed: {}", e.to_string().lines().next().unwrap_or("")))
                })?;
                Ok(select_output(out, params.output.as_ref(), &params.path)?.flatten(1, -1).to_kind(Kind::Float))
            }
        }
    }
}

/// Parameter names in the module's order (tch's var store forgets the order).
fn module_param_names(path: &std::path::Path) -> Result<Vec<String>> {
    let m = tch::CModule::load(path).map_err(|e| Error::data(path, format!("cannot be loaded as TorchScript: {e}")))?;
    Ok(m.named_parameters()?.into_iter().map(|(n, _)| n).collect())
}
