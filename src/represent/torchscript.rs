//! An encoder saved elsewhere with `torch.jit.trace` or `torch.jit.script`,
//! run through libtorch's TorchScript interpreter (tch's `CModule`) on the
//! suite's device. Its settings say what input it expects (`input:`) and which
//! part of its output is the representation (`output:`).
//!
//! Nothing is fitted: the module file, keyed by content, is the state; a
//! restored representation loads it again.
use super::imported::{check_required, sniff, InputParams, TorchFile};
use super::{pixels, FitContext, Fitted, Representation};
use crate::checks::Checker;
use crate::error::{Error, Result};
use crate::state::NamedTensors;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{CModule, Device, IValue, Kind, Tensor};

/// Which element of the module's output is the representation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutputSel {
    /// The n-th element of a tuple or list.
    Index(usize),
    /// The value of a string key of a dict.
    Key(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TorchscriptParams {
    /// The `.pt` file written by `torch.jit.save` / `ScriptModule.save`.
    pub path: PathBuf,
    pub input: InputParams,
    /// Which element of a tuple (index) or dict (key) is the representation;
    /// none: the module returns a tensor.
    pub output: Option<OutputSel>,
    /// Images per forward pass.
    pub batch_size: i64,
    /// The module only takes batches of exactly `batch_size` (a traced ViT's
    /// reshapes hold it as a constant): the last batch is padded with blank
    /// images, whose rows are dropped. Safe for modules in eval mode, where
    /// each image's output does not depend on the others.
    pub fixed_batch: bool,
}

impl Default for TorchscriptParams {
    fn default() -> Self {
        TorchscriptParams {
            path: PathBuf::new(),
            input: Default::default(),
            output: None,
            batch_size: 256,
            fixed_batch: false,
        }
    }
}

/// Version of the preprocessing and output handling.
pub const VERSION: u32 = 1;

impl Representation for TorchscriptParams {
    fn version(&self) -> u32 {
        VERSION
    }
    fn fit(&self, _train: &Tensor, ctx: &FitContext) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.load(ctx.device)?))
    }
    fn restore(&self, _state: &NamedTensors, device: Device) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.load(device)?))
    }
    fn reads_pixels(&self) -> bool {
        false
    }
    fn check(&self, path: &str, c: &mut Checker) {
        check_required(&format!("{path}.path"), &self.path, "a TorchScript file saved by torch.jit.save", c);
        self.input.check(&format!("{path}.input"), c);
        if self.batch_size < 1 {
            c.push(&format!("{path}.batch_size"), "must be at least 1");
        }
    }
    fn files_mut(&mut self) -> Vec<(String, &mut PathBuf)> {
        vec![("/path".to_string(), &mut self.path)]
    }
}

impl TorchscriptParams {
    /// Loads the module in eval mode on `device`.
    pub fn load(&self, device: Device) -> Result<FittedTorchscript> {
        let module = load_module(&self.path, device)?;
        Ok(FittedTorchscript { module, params: self.clone(), device })
    }
}

/// Loads a TorchScript file; a pickled `torch.save` file gets the conversion.
pub fn load_module(path: &Path, device: Device) -> Result<CModule> {
    super::imported::refuse_pickle(path)?;
    let mut m = CModule::load_on_device(path, device).map_err(|e| {
        let hint = match sniff(path) {
            Ok(TorchFile::TorchScript) => "",
            _ => " (it is not a TorchScript archive: save the model with torch.jit.trace(...).save or torch.jit.script(...).save)",
        };
        Error::data(path, format!("cannot be loaded as TorchScript{hint}: {}", first_line(&e.to_string())))
    })?;
    m.set_eval();
    Ok(m)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

pub struct FittedTorchscript {
    module: CModule,
    params: TorchscriptParams,
    device: Device,
}

/// The representation in a module's output, as `sel` says.
pub fn select_output(out: IValue, sel: Option<&OutputSel>, file: &Path) -> Result<Tensor> {
    let describe = |v: &IValue| match v {
        IValue::Tensor(t) => format!("a tensor of shape {:?}", t.size()),
        IValue::Tuple(v) | IValue::GenericList(v) => format!("a tuple/list of {} elements", v.len()),
        IValue::TensorList(v) => format!("a list of {} tensors", v.len()),
        IValue::GenericDict(d) => format!(
            "a dict with keys {}",
            d.iter()
                .map(|(k, _)| if let IValue::String(s) = k { format!("`{s}`") } else { "?".into() })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "a value that is not a tensor".into(),
    };
    let bad = |v: &IValue, why: &str| Error::data(file, format!("the module returned {}; {why}", describe(v)));
    let returned = describe(&out);
    let picked = match (out, sel) {
        (IValue::Tensor(t), None) => return Ok(t),
        (v @ IValue::Tensor(_), Some(_)) => {
            return Err(bad(&v, "remove `output:`, which selects from a tuple or dict"))
        }
        (v, None) => return Err(bad(&v, "set `output:` to the index or key of the representation")),
        (IValue::Tuple(v) | IValue::GenericList(v), Some(OutputSel::Index(i))) if *i < v.len() => v.into_iter().nth(*i),
        (IValue::TensorList(v), Some(OutputSel::Index(i))) if *i < v.len() => v.into_iter().nth(*i).map(IValue::Tensor),
        (IValue::GenericDict(d), Some(OutputSel::Key(k))) => {
            d.into_iter().find(|(key, _)| matches!(key, IValue::String(s) if *s == *k)).map(|(_, v)| v)
        }
        (v, Some(s)) => return Err(bad(&v, &format!("`output: {s:?}` does not select anything in it"))),
    };
    match picked {
        Some(IValue::Tensor(t)) => Ok(t),
        Some(v) => Err(bad(&v, "the selected element is not a tensor")),
        None => Err(Error::data(file, format!("the module returned {returned}; `output:` selects nothing in it"))),
    }
}

impl FittedTorchscript {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let out = self.module.forward_is(&[IValue::Tensor(x.shallow_clone())]).map_err(|e| {
            Error::data(
                &self.params.path,
                format!("forward failed on input {:?}: {}", x.size(), first_line(&e.to_string())),
            )
        })?;
        let t = select_output(out, self.params.output.as_ref(), &self.params.path)?;
        if t.dim() < 2 {
            return Err(Error::data(
                &self.params.path,
                format!("the representation has shape {:?}; expected one row per image", t.size()),
            ));
        }
        Ok(t.flatten(1, -1).to_kind(Kind::Float))
    }
}

impl Fitted for FittedTorchscript {
    fn embed(&self, images: &Tensor, device: Device) -> Result<Tensor> {
        let out = pixels::in_batches(images, self.params.batch_size, |b| {
            let n = b.size()[0];
            let mut x = self.params.input.apply(&b.to_device(self.device))?;
            if self.params.fixed_batch && n < self.params.batch_size {
                let pad = x.zeros_like().narrow(0, 0, 1).expand([self.params.batch_size - n, -1, -1, -1], false);
                x = Tensor::cat(&[x, pad.contiguous()], 0);
            }
            let f = tch::no_grad(|| self.forward(&x))?.narrow(0, 0, n);
            if f.size()[0] != b.size()[0] {
                return Err(Error::data(
                    &self.params.path,
                    format!("returned {} rows for {} images", f.size()[0], b.size()[0]),
                ));
            }
            Ok(f)
        })?;
        Ok(out.to_device(device))
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    /// A scripted or traced graph is opaque to repbench's counter: its
    /// parameters are counted where the module keeps them (a frozen trace
    /// holds constants instead), its arithmetic only timed.
    fn counted(&self) -> super::Counted {
        let params: u64 =
            self.module.named_parameters().map(|v| v.iter().map(|(_, t)| t.numel() as u64).sum()).unwrap_or(0);
        let note = "imported TorchScript: MACs not counted, timed only";
        super::Counted::not_counted((params > 0).then_some(params), note)
    }
}
