"""Torch-side helpers for the converter tests: reference models and key renaming.

Everything here is written independently of ``keras_slowfast.convert`` so the
tests check its rules and numerics against a second implementation.
"""

import re
import sys
import types

import numpy as np
import torch


def pytorchvideo_models():
    """Returns ``pytorchvideo.models`` with a stand-in ``torchvision.ops``.

    PyTorchVideo imports ``torchvision.ops.RoIAlign`` at module level; the
    classification models never call it, so a placeholder is enough.
    """
    if "torchvision" not in sys.modules:
        torchvision = types.ModuleType("torchvision")
        ops = types.ModuleType("torchvision.ops")

        class RoIAlign(torch.nn.Module):
            def __init__(self, *args, **kwargs):
                super().__init__()

        ops.RoIAlign = RoIAlign
        torchvision.ops = ops
        sys.modules["torchvision"] = torchvision
        sys.modules["torchvision.ops"] = ops
    import pytorchvideo.models as models
    import pytorchvideo.models.hub  # noqa: F401

    return models


def randomize(module, seed=0):
    """Random weights, BN statistics and BN affine parameters, in place.

    Conv weights get He-like scales and every BN random gamma/beta and running
    statistics (gamma of the last BN of a branch included, so no residual
    branch is an identity) while keeping activations of order one.
    """
    generator = torch.Generator().manual_seed(seed)

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=generator)

    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, torch.nn.Conv3d):
                fan_in = sub.weight[0].numel()
                sub.weight.copy_(
                    torch.randn(sub.weight.shape, generator=generator)
                    * (2.0 / fan_in) ** 0.5
                )
                if sub.bias is not None:
                    sub.bias.copy_(
                        0.1 * torch.randn(sub.bias.shape, generator=generator)
                    )
            elif isinstance(sub, torch.nn.BatchNorm3d):
                channels = sub.num_features
                sub.weight.copy_(uniform(channels, 0.3, 1.0))
                sub.bias.copy_(0.1 * torch.randn(channels, generator=generator))
                sub.running_mean.copy_(0.1 * torch.randn(channels, generator=generator))
                sub.running_var.copy_(uniform(channels, 0.5, 2.0))
            elif isinstance(sub, torch.nn.Linear):
                sub.weight.copy_(
                    0.05 * torch.randn(sub.weight.shape, generator=generator)
                )
                sub.bias.copy_(0.1 * torch.randn(sub.bias.shape, generator=generator))
        for sub in module.modules():
            if isinstance(sub, TorchNonLocal):
                # theta . phi sums over the inner channels; scale both by
                # inner ** -0.5 so the (cubic) non-local output stays of the order of
                # its input instead of compounding over the stacked blocks.
                scale = sub.conv_theta.out_channels**-0.5
                sub.conv_theta.weight.mul_(scale)
                sub.conv_phi.weight.mul_(scale)
    return module.eval()


def slow_indices(num_frames, alpha):
    """``floor(linspace(0, N - 1, N // alpha))`` (REFERENCE "Notation")."""
    return np.floor(np.linspace(0, num_frames - 1, num_frames // alpha)).astype("int64")


def torch_logits(model, clip, alpha):
    """Runs a two-pathway torch model on a channels-last NumPy clip (N, T, H, W, C)."""
    fast = torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 4, 1, 2, 3)))
    slow = fast[:, :, torch.from_numpy(slow_indices(clip.shape[1], alpha))]
    with torch.no_grad():
        return model([slow, fast]).numpy()


class TorchNonLocal(torch.nn.Module):
    """PySlowFast's non-local block (``nonlocal_helper.py``), dot-product affinity.

    theta/phi/g are 1x1x1 convs with bias to half the channels; phi and g read
    the input max-pooled by (1, 2, 2); the affinity is divided by the number of
    pooled positions; conv_out -> BN -> residual add.
    """

    def __init__(self, channels):
        super().__init__()
        inner = channels // 2
        self.conv_theta = torch.nn.Conv3d(channels, inner, 1)
        self.conv_phi = torch.nn.Conv3d(channels, inner, 1)
        self.conv_g = torch.nn.Conv3d(channels, inner, 1)
        self.conv_out = torch.nn.Conv3d(inner, channels, 1)
        self.bn = torch.nn.BatchNorm3d(channels)
        self.pool = torch.nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))

    def forward(self, x):
        n, _, t, h, w = x.shape
        theta = self.conv_theta(x).flatten(2)  # (n, inner, positions)
        pooled = self.pool(x)
        phi = self.conv_phi(pooled).flatten(2)
        g = self.conv_g(pooled).flatten(2)
        affinity = torch.einsum("nct,ncp->ntp", theta, phi) / phi.shape[2]
        attended = torch.einsum("ntp,ncp->nct", affinity, g)
        attended = attended.reshape(n, -1, t, h, w)
        return x + self.bn(self.conv_out(attended))


def insert_nonlocal(model, stage, blocks):
    """Puts a ``TorchNonLocal`` after Slow blocks ``blocks`` of res``stage``.

    ``model`` is a PyTorchVideo SlowFast; the block ``i`` becomes
    ``Sequential(block, nonlocal)`` (state dict keys ``res_blocks.i.0...`` and
    ``res_blocks.i.1...``).
    """
    res_blocks = model.blocks[stage - 1].multipathway_blocks[0].res_blocks
    for i in blocks:
        channels = res_blocks[i].branch2.conv_c.out_channels
        res_blocks[i] = torch.nn.Sequential(res_blocks[i], TorchNonLocal(channels))
    return model


_PTV_UNITS = {
    "branch1_conv": "branch1",
    "branch1_norm": "branch1_bn",
    "branch2.conv_a": "branch2.a",
    "branch2.norm_a": "branch2.a_bn",
    "branch2.conv_b": "branch2.b",
    "branch2.norm_b": "branch2.b_bn",
    "branch2.conv_c": "branch2.c",
    "branch2.norm_c": "branch2.c_bn",
}


def pytorchvideo_to_pyslowfast(key):
    """Renames a PyTorchVideo SlowFast key to PySlowFast's native name."""
    match = re.fullmatch(
        r"blocks\.0\.multipathway_blocks\.(\d)\.(conv|norm)\.(\w+)", key
    )
    if match:
        layer = "conv" if match.group(2) == "conv" else "bn"
        return f"s1.pathway{match.group(1)}_stem.{layer}.{match.group(3)}"
    match = re.fullmatch(
        r"blocks\.(\d)\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(\w+)", key
    )
    if match:
        layer = "conv_f2s" if match.group(2) == "conv_fast_to_slow" else "bn"
        return f"s{int(match.group(1)) + 1}_fuse.{layer}.{match.group(3)}"
    match = re.fullmatch(r"blocks\.\d\.proj\.(\w+)", key)
    if match:
        return f"head.projection.{match.group(1)}"
    match = re.fullmatch(
        r"blocks\.(\d)\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.(?:0\.)?(.+)\.(\w+)",
        key,
    )
    stage, pathway, block, unit, param = match.groups()
    prefix = f"s{int(stage) + 1}.pathway{pathway}"
    if unit.startswith("1."):  # the inserted non-local block
        return f"{prefix}_nonlocal{block}.{unit[2:]}.{param}"
    return f"{prefix}_res{block}.{_PTV_UNITS[unit]}.{param}"


def state_dict_numpy(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
