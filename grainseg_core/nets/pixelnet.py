"""PixelNet (Bansal et al. 2017; seed 003): hypercolumns + a per-pixel MLP, with sparse training.

A VGG-16 trunk plus a "conv7" block; the hypercolumn of a pixel is the
concatenation of the BatchNorm-ed stage outputs conv1_2, conv2_2, conv3_3, conv4_3,
conv5_3 and conv7, bilinearly upsampled to that pixel. An MLP (1x1 convs: width,
ReLU, BatchNorm, ..., dropout, 1) turns it into a boundary logit.

Sparse pixel sampling protocol (for the trainer)
------------------------------------------------
``forward(x)`` gives dense logits (B, 1, H, W). For training on a random sample
of pixels, as PixelNet does to save memory, call::

    logits, flat_index = model.forward_sampled(x, n_pixels, generator)
    # logits (B, 1, n), flat_index (B, n) into the flattened H*W grid
    target_s = target.flatten(2).gather(2, flat_index.unsqueeze(1))   # (B, 1, n)
    loss = loss_fn(logits, target_s)

The sampled logits equal ``forward(x).flatten(2).gather(2, flat_index[:, None])``
in eval mode (in train mode BatchNorm sees the sampled pixels' statistics). A
trainer may pass its own ``index`` (e.g. class-balanced samples) instead of
``n_pixels``. Models with this protocol have ``supports_sparse_sampling = True``.

Dense evaluation uses the linearity of the first MLP layer: projecting each stage
to the MLP width *before* upsampling equals projecting the upsampled hypercolumn,
so the full-resolution tensor has ``mlp_width`` channels, not the hypercolumn's 2496.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grainseg_core.errors import ConfigError, InputError
from grainseg_core.nets._base import (
    VGG16_STAGES,
    BoundaryNet,
    VGGTrunk,
    check_positive_int,
    check_width,
    conv_bn_relu,
    scaled,
    upsample_to,
)

__all__ = ["PixelNet"]


class PixelNet(BoundaryNet):
    """PixelNet boundary network: (B, 1, H, W) image -> (B, 1, H, W) logits.

    Parameters
    ----------
    width : float
        Channel multiplier of the trunk, conv7 and MLP.
    conv7_channels : int
        Channels of the conv7 block after pool5 (4096 in VGG's fc7; 1024 here so
        the default stays near the size of the other networks).
    mlp_width : int
        Neurons per MLP layer (1024 in seed 003).
    mlp_layers : int
        Hidden MLP layers (each linear, ReLU, BatchNorm).
    dropout : float
        Dropout after the last hidden layer (0.1 in seed 003).
    batch_norm : bool
        BatchNorm inside the trunk (training from scratch).

    Notes
    -----
    ``input_divisor`` is 32 (five pools).

    Examples
    --------
    >>> net = PixelNet(width=0.125).eval()
    >>> x = torch.rand(2, 1, 64, 64)
    >>> net(x).shape
    torch.Size([2, 1, 64, 64])
    >>> logits, idx = net.forward_sampled(x, 100, torch.Generator().manual_seed(0))
    >>> logits.shape, idx.shape
    (torch.Size([2, 1, 100]), torch.Size([2, 100]))
    """

    input_divisor = 32
    supports_sparse_sampling = True

    def __init__(
        self,
        *,
        width: float = 1.0,
        conv7_channels: int = 1024,
        mlp_width: int = 1024,
        mlp_layers: int = 2,
        dropout: float = 0.1,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        width = check_width(width)
        c7 = scaled(check_positive_int(conv7_channels, "conv7_channels"), width)
        hidden = scaled(check_positive_int(mlp_width, "mlp_width"), width)
        n_hidden = check_positive_int(mlp_layers, "mlp_layers", high=8)
        p_drop = float(dropout)
        if not 0.0 <= p_drop < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1); got {dropout!r}.")
        stages = [[scaled(c, width) for c in s] for s in VGG16_STAGES]
        self.trunk = VGGTrunk(stages=stages, batch_norm=bool(batch_norm))
        self.pool = nn.MaxPool2d(2, 2)
        self.conv7 = conv_bn_relu(self.trunk.out_channels[-1], c7, batch_norm=bool(batch_norm))
        tap_channels = [*self.trunk.out_channels, c7]
        # Seed 003: BatchNorm on each tapped map, right after its ReLU, before upsampling.
        self.tap_norms = nn.ModuleList(nn.BatchNorm2d(c) for c in tap_channels)
        # First MLP layer split per tap (no bias) + one shared bias: see the module notes.
        self.projections = nn.ModuleList(nn.Conv2d(c, hidden, 1, bias=False) for c in tap_channels)
        self.proj_bias = nn.Parameter(torch.zeros(1, hidden, 1, 1))
        layers: list[nn.Module] = [nn.ReLU(inplace=True), nn.BatchNorm2d(hidden)]
        for _ in range(n_hidden - 1):
            layers += [nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True), nn.BatchNorm2d(hidden)]
        layers += [nn.Dropout(p_drop), nn.Conv2d(hidden, 1, 1)]
        self.head = nn.Sequential(*layers)

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.trunk(x)
        feats.append(self.conv7(self.pool(feats[-1])))
        return [norm(f) for norm, f in zip(self.tap_norms, feats)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dense boundary logits (B, 1, H, W)."""
        self.check_input(x)
        size = x.shape[-2:]
        z = self.proj_bias
        for proj, tap in zip(self.projections, self._taps(x)):
            z = z + upsample_to(proj(tap), size)
        return self.head(z)

    def forward_sampled(
        self,
        x: torch.Tensor,
        n_pixels: int | None = None,
        generator: torch.Generator | None = None,
        *,
        index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits at a random sample of pixels (sparse training).

        Parameters
        ----------
        x : Tensor (B, 1, H, W)
            Image batch.
        n_pixels : int
            Pixels per image, drawn without replacement (ignored when ``index`` is given).
        generator : torch.Generator, optional
            Source of randomness for the sample (seed it for reproducible runs).
        index : LongTensor (B, n), optional
            Flat indices into H*W chosen by the caller.

        Returns
        -------
        logits : Tensor (B, 1, n)
            Boundary logits at the sampled pixels.
        flat_index : LongTensor (B, n)
            Their flat indices: ``target.flatten(2).gather(2, flat_index.unsqueeze(1))``
            picks the matching targets.
        """
        self.check_input(x)
        b, _, h, w = x.shape
        if index is None:
            if n_pixels is None:
                raise InputError("forward_sampled needs n_pixels (pixels per image) or index.")
            n = int(n_pixels)
            if not 1 <= n <= h * w:
                raise InputError(f"n_pixels must lie in [1, H*W = {h * w}]; got {n_pixels}.")
            dev = generator.device if generator is not None else torch.device("cpu")
            # Without replacement: the n smallest of H*W uniform keys.
            keys = torch.rand(b, h * w, generator=generator, device=dev)
            index = keys.topk(n, dim=1, largest=False).indices
        index = torch.as_tensor(index, device=x.device).long()
        if index.ndim != 2 or index.shape[0] != b:
            raise InputError(f"index must have shape (B={b}, n); got {tuple(index.shape)}.")
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= h * w):
            raise InputError(f"index values must lie in [0, H*W = {h * w}).")
        rows = torch.div(index, w, rounding_mode="floor")
        cols = index - rows * w
        # grid_sample with align_corners=False and border padding reproduces
        # F.interpolate(bilinear, align_corners=False) at these pixel centres.
        gx = (2.0 * cols.to(x.dtype) + 1.0) / w - 1.0
        gy = (2.0 * rows.to(x.dtype) + 1.0) / h - 1.0
        grid = torch.stack([gx, gy], dim=-1).unsqueeze(2)  # (B, n, 1, 2)
        z = self.proj_bias
        for proj, tap in zip(self.projections, self._taps(x)):
            if tap.shape[-2:] == (h, w):
                sampled = tap.flatten(2).gather(
                    2, index.unsqueeze(1).expand(-1, tap.shape[1], -1)
                ).unsqueeze(-1)
            else:
                sampled = F.grid_sample(
                    tap, grid, mode="bilinear", padding_mode="border", align_corners=False
                )
            z = z + proj(sampled)
        return self.head(z).squeeze(-1), index
