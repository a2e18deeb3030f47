//! Representations: each kind has typed parameters that fit on the training split
//! and return a fitted representation that only embeds (params → fit → fitted).
//!
//! The fitted state is a list of named tensors, saved to the cache as safetensors,
//! so a later run embeds without fitting again.
//!
//! Three families share the `Representation` trait: hand-engineered kinds and
//! imported ones (`embeddings`, `torchscript`, `checkpoint`: made elsewhere; a
//! file in this folder each, listed below) and learned methods (a file in
//! `methods/` each, listed in `methods::for_each_method!`), which get it
//! through `Method`.
pub mod imported;
pub mod learned;
pub mod pixels;

use crate::checks::{Checker, Validate};
use crate::error::Result;
use crate::methods::Method;
use crate::state::NamedTensors;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// What every kind of representation does: fit on the training images, restore
/// from a saved state, check its settings and say which version of its
/// arithmetic it is.
pub trait Representation {
    /// The version of the kind's arithmetic. It enters the fit key (and so every
    /// key downstream): bump it when a change alters what the kind computes for
    /// the same settings (docs/architecture.md).
    fn version(&self) -> u32;
    /// Fits on the training images (u8, N×C×H×W).
    fn fit(&self, train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>>;
    /// Rebuilds the fitted representation from its saved state.
    fn restore(&self, state: &NamedTensors, device: Device) -> Result<Box<dyn Fitted>>;
    /// Checks the settings; `path` is the representation's field path.
    fn check(&self, path: &str, c: &mut Checker);
    /// The learned method, for kinds that train an encoder.
    fn method(&self) -> Option<&dyn Method> {
        None
    }
    /// Whether `fit` reads the training images' pixels. Kinds that take only
    /// their shape (raw pixels, a random projection, imported encoders) are
    /// given an empty N = 0 tensor of that shape, so that fitting them never
    /// copies a large training split into memory.
    fn reads_pixels(&self) -> bool {
        true
    }
    /// The files the representation reads, by JSON pointer into its settings
    /// (`/path`). The plan resolves each against the suite's folder and keys the
    /// fit by the file's content, not its name (`runner::plan`).
    fn files_mut(&mut self) -> Vec<(String, &mut std::path::PathBuf)> {
        Vec::new()
    }
}

/// Every learned method is a representation, trained by the one training loop
/// (implemented for each method of the registry by `define_representations!`).
macro_rules! learned_representation {
    ($t:ty) => {
        impl Representation for $t {
            fn version(&self) -> u32 {
                Method::version(self)
            }
            fn fit(&self, train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>> {
                Ok(Box::new(learned::fit(self, train, ctx)?))
            }
            fn restore(&self, state: &NamedTensors, device: Device) -> Result<Box<dyn Fitted>> {
                Ok(Box::new(learned::restore(self, state, device)?))
            }
            fn check(&self, path: &str, c: &mut Checker) {
                self.encoder().validate(&format!("{path}.encoder"), c);
                self.train().validate(&format!("{path}.train"), c);
                Method::check(self, path, c);
            }
            fn method(&self) -> Option<&dyn Method> {
                Some(self)
            }
        }
    };
}

/// Defines `RepresentationSpec` (strict serde parsing by `kind:`) from the
/// kinds implemented in this folder (`local`: hand-engineered and imported) and the learned methods of the methods
/// registry, with one dispatch arm per variant.
macro_rules! define_representations {
    (
        local { $($hmod:ident: $hparams:ident => $hvariant:ident,)* }
        learned { $($lmod:ident: $lparams:ident => $lvariant:ident,)* }
    ) => {
        $(pub mod $hmod;)*
        $(learned_representation!($crate::methods::$lmod::$lparams);)*

        /// A representation as written in a suite, selected by `kind:`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum RepresentationSpec {
            $($hvariant($hmod::$hparams),)*
            $($lvariant($crate::methods::$lmod::$lparams),)*
        }

        impl RepresentationSpec {
            /// The suite's `kind:` (the file that implements it).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(RepresentationSpec::$hvariant(_) => stringify!($hmod),)*
                    $(RepresentationSpec::$lvariant(_) => stringify!($lmod),)*
                }
            }
            /// The kind's implementation.
            pub fn as_dyn(&self) -> &dyn Representation {
                match self {
                    $(RepresentationSpec::$hvariant(p) => p,)*
                    $(RepresentationSpec::$lvariant(p) => p,)*
                }
            }
            /// The kind's implementation, mutable (the plan resolves its files).
            pub fn as_dyn_mut(&mut self) -> &mut dyn Representation {
                match self {
                    $(RepresentationSpec::$hvariant(p) => p,)*
                    $(RepresentationSpec::$lvariant(p) => p,)*
                }
            }
            /// Every kind with its default settings (for tests and docs).
            pub fn all_defaults() -> Vec<RepresentationSpec> {
                vec![
                    $(RepresentationSpec::$hvariant(Default::default()),)*
                    $(RepresentationSpec::$lvariant(Default::default()),)*
                ]
            }
        }
    };
}

crate::methods::for_each_method!(define_representations {
    local {
        raw: RawParams => Raw,
        pca: PcaParams => Pca,
        hog: HogParams => Hog,
        random_projection: RandomProjectionParams => RandomProjection,
        embeddings: EmbeddingsParams => Embeddings,
        torchscript: TorchscriptParams => Torchscript,
        checkpoint: CheckpointParams => Checkpoint,
    }
});

/// What a fit may use besides the training images.
pub struct FitContext<'a> {
    pub device: Device,
    pub seed: u64,
    /// Labels of the training images (only supervised methods read them).
    pub labels: Option<&'a Tensor>,
    /// The validation split's images (u8) and labels, for the k-NN monitor
    /// (`train.monitor`); nothing is trained on them.
    pub val: Option<(&'a Tensor, &'a Tensor)>,
    pub num_classes: i64,
    /// Where a learned method keeps its per-epoch checkpoints.
    pub checkpoint_dir: Option<std::path::PathBuf>,
    /// Progress lines (epoch logs).
    pub log: &'a dyn Fn(&str),
    /// Streaming (learned methods on a memory-mapped image store): `train`
    /// is then the whole official part, mapped, and the training split is
    /// these rows of it (i64), read a batch at a time; `labels` follow `rows`.
    pub rows: Option<&'a Tensor>,
}

impl FitContext<'_> {
    /// A context for fits that need only a device and a seed.
    pub fn simple(device: Device, seed: u64) -> FitContext<'static> {
        FitContext {
            device,
            seed,
            labels: None,
            val: None,
            num_classes: 0,
            checkpoint_dir: None,
            log: &|_| {},
            rows: None,
        }
    }
}

/// One of a dataset's official parts (the validation split is carved from `Train`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Train,
    Test,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Test => "test",
        }
    }
}

/// What repbench can count of a fitted representation per image: its
/// parameters and multiply-accumulates (`nn::cost`'s convention), or why not.
/// The `cost` evaluation adds what is measured (throughput, memory).
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub params: Option<u64>,
    pub macs: Option<u64>,
    /// How the numbers were obtained, or why one is missing (shown in the report).
    pub note: String,
}

impl Counted {
    pub fn exact(params: u64, macs: u64, note: &str) -> Counted {
        Counted { params: Some(params), macs: Some(macs), note: note.into() }
    }
    pub fn not_counted(params: Option<u64>, note: &str) -> Counted {
        Counted { params, macs: None, note: note.into() }
    }
}

/// A fitted representation: embeds u8 images (N×C×H×W, CPU) into f32 N×D features.
pub trait Fitted: Send {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor>;
    /// The fitted state, as named tensors (empty for stateless representations).
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Features of images given by their index in the dataset's official
    /// `part` (of `part_len` images), for representations that look rows up
    /// rather than compute them from pixels (imported embeddings); None for
    /// the others, which `embed` the pixels.
    fn embed_rows(&self, _part: Part, _rows: &[usize], _part_len: usize) -> Option<Result<Tensor>> {
        None
    }
    /// Per-epoch training log, for learned representations.
    fn train_log(&self) -> Option<Vec<crate::train::trainer::EpochLog>> {
        None
    }
    /// Per-block features (pooled, f32 N×d_i each), for networks; None otherwise.
    fn embed_blocks(&self, _images: &Tensor, _device: Device) -> Result<Option<Vec<Tensor>>> {
        Ok(None)
    }
    /// The last block's CLS attention per head [N, heads, gh, gw], for ViTs.
    fn cls_attention(&self, _images: &Tensor, _device: Device) -> Result<Option<Tensor>> {
        Ok(None)
    }
    /// Parameters and MACs per image, where repbench can count them.
    fn counted(&self) -> Counted;
}

impl RepresentationSpec {
    /// Fits on the training images (u8, N×C×H×W).
    pub fn fit(&self, train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        self.as_dyn().fit(train, ctx)
    }
    /// Rebuilds the fitted representation from its saved state.
    pub fn restore(&self, state: &NamedTensors, device: Device) -> Result<Box<dyn Fitted>> {
        self.as_dyn().restore(state, device)
    }
    /// The learned method, for kinds that train an encoder.
    pub fn method(&self) -> Option<&dyn Method> {
        self.as_dyn().method()
    }
    /// Whether fitting reads the training pixels (see `Representation`).
    pub fn reads_pixels(&self) -> bool {
        self.as_dyn().reads_pixels()
    }
    pub fn version(&self) -> u32 {
        self.as_dyn().version()
    }
}

impl Validate for RepresentationSpec {
    fn validate(&self, path: &str, c: &mut Checker) {
        self.as_dyn().check(path, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry's module name is the suite's `kind:` for every kind.
    #[test]
    fn kind_names_match_the_serde_tags() {
        for spec in RepresentationSpec::all_defaults() {
            let v = serde_json::to_value(&spec).unwrap();
            assert_eq!(v["kind"], spec.kind(), "{spec:?}");
            let back: RepresentationSpec = serde_json::from_value(v).unwrap();
            assert_eq!(back, spec);
        }
    }

    /// A DINO head with one prototype has a constant softmax: refused, by field.
    #[test]
    fn dino_needs_two_prototypes() {
        let spec: RepresentationSpec = serde_yaml::from_str("kind: dino\nout_dim: 1").unwrap();
        let mut c = Checker::default();
        spec.validate("representations.d", &mut c);
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert_eq!(c.errors[0].path, "representations.d.out_dim");
        assert!(c.errors[0].msg.contains("at least 2"), "{}", c.errors[0].msg);
    }

    /// `final_momentum` at its default (1, the only value before the field existed)
    /// stays out of the key's JSON, so older DINO fit keys keep matching; any other
    /// value is in it, and one below `base_momentum` is refused.
    #[test]
    fn dino_final_momentum_keys_and_checks() {
        let default: RepresentationSpec = serde_yaml::from_str("kind: dino").unwrap();
        assert!(serde_json::to_value(&default).unwrap().get("final_momentum").is_none());
        let constant: RepresentationSpec =
            serde_yaml::from_str("kind: dino\nbase_momentum: 0.99\nfinal_momentum: 0.99").unwrap();
        let v = serde_json::to_value(&constant).unwrap();
        assert_eq!(v["final_momentum"], 0.99);
        assert_eq!(serde_json::from_value::<RepresentationSpec>(v).unwrap(), constant);
        let mut c = Checker::default();
        constant.validate("representations.d", &mut c);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        let falling: RepresentationSpec =
            serde_yaml::from_str("kind: dino\nbase_momentum: 0.99\nfinal_momentum: 0.9").unwrap();
        let mut c = Checker::default();
        falling.validate("representations.d", &mut c);
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        assert_eq!(c.errors[0].path, "representations.d.final_momentum");
        assert!(c.errors[0].msg.contains("at least base_momentum"), "{}", c.errors[0].msg);
    }
}
