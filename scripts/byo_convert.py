"""Convert a model trained in PyTorch into files repbench reads (docs/byo.md).

repbench never unpickles (`torch.load` runs arbitrary code), so a `.pt`/`.pth`/
`.ckpt` made by `torch.save` is converted once, here, in Python:

  weights      a state dict (plain, or under 'state_dict' as Lightning saves it)
               -> model.safetensors, for `kind: checkpoint`
  torchscript  a torchvision/timm model -> model.ts.pt, for `kind: torchscript`
  embeddings   features you computed -> feats.npz, for `kind: embeddings`

Usage:
  python scripts/byo_convert.py weights     model.ckpt out.safetensors [--strip-prefix model.]
  python scripts/byo_convert.py torchscript torchvision:resnet18 out.ts.pt --channels 3 --size 224
  python scripts/byo_convert.py embeddings  train.npy test.npy out.npz [--train-ids ids.npy]
"""
import argparse
import sys


def weights(a):
    import torch
    from safetensors.torch import save_file

    obj = torch.load(a.src, map_location="cpu", weights_only=True)
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    out = {}
    for k, v in sd.items():
        if not torch.is_tensor(v):
            continue
        if a.strip_prefix and k.startswith(a.strip_prefix):
            k = k[len(a.strip_prefix):]
        out[k] = v.detach().contiguous()
    save_file(out, a.dst)
    print(f"{a.dst}: {len(out)} tensors")


def torchscript(a):
    import torch

    if a.src.startswith("torchvision:"):
        import torchvision

        model = getattr(torchvision.models, a.src.split(":", 1)[1])(weights=None)
        if hasattr(model, "fc"):
            model.fc = torch.nn.Identity()  # the representation is the pooled features
    elif a.src.startswith("timm:"):
        import timm

        model = timm.create_model(a.src.split(":", 1)[1], pretrained=False, num_classes=0)
    else:
        sys.exit("src must be torchvision:<name> or timm:<name> (or trace your own model as below)")
    if a.state_dict:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(a.state_dict), strict=True)
    model.eval()
    example = torch.zeros(a.batch, a.channels, a.size, a.size)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
    traced.save(a.dst)
    print(f"{a.dst}: traced on {tuple(example.shape)}; output {tuple(traced(example).shape)}")


def embeddings(a):
    import numpy as np

    arrays = {"train": np.load(a.train), "test": np.load(a.test)}
    for split in ("train", "test"):
        ids = getattr(a, f"{split}_ids")
        if ids:
            arrays[f"{split}_ids"] = np.load(ids).astype(np.int64)
    np.savez(a.dst, **arrays)
    print(a.dst, {k: v.shape for k, v in arrays.items()})


p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
sub = p.add_subparsers(dest="cmd", required=True)
w = sub.add_parser("weights")
w.add_argument("src")
w.add_argument("dst")
w.add_argument("--strip-prefix", default="")
t = sub.add_parser("torchscript")
t.add_argument("src")
t.add_argument("dst")
t.add_argument("--state-dict", help="a .safetensors state dict to load first")
t.add_argument("--channels", type=int, default=3)
t.add_argument("--size", type=int, default=224)
t.add_argument("--batch", type=int, default=2)
e = sub.add_parser("embeddings")
e.add_argument("train")
e.add_argument("test")
e.add_argument("dst")
e.add_argument("--train-ids")
e.add_argument("--test-ids")
a = p.parse_args()
{"weights": weights, "torchscript": torchscript, "embeddings": embeddings}[a.cmd](a)
