"""HNF-Net / HNF-Netv2 and the 3D U-Net in PyTorch, module for module as src/hnfnet builds
them: the attribute names are the TS member names, so `state_dict()` keys equal the TS
`stateDict()` names (e.g. `pmf3.branches.1.0.conv1.weight`, `ema.mu`)."""
import math

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

from .config import parse_config, size_multiple


def _conv(cin, cout, kernel, stride=1, bias=False):
    c = nn.Conv3d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=bias)
    # The TS init (kaiming normal, fan_in, ReLU gain, zero biases); only the distribution matches, not the draws.
    nn.init.kaiming_normal_(c.weight, mode='fan_in', nonlinearity='relu')
    if bias:
        nn.init.zeros_(c.bias)
    return c


class InstanceNorm3d(nn.InstanceNorm3d):
    """nn.InstanceNorm3d without running statistics (the TS norm uses instance statistics in
    train and eval alike) that, like the TS kernel, accepts a single voxel: at the smallest
    input (16³) HNF-Net's coarsest branch is 1³, and F.instance_norm refuses that in training."""

    def __init__(self, channels, eps, affine):
        super().__init__(channels, eps=eps, affine=affine, track_running_stats=False)

    def forward(self, x):
        return torch.instance_norm(x, self.weight, self.bias, None, None, True, 0.0, self.eps, torch.backends.cudnn.enabled)


def _norm(norm_cfg, channels):
    return InstanceNorm3d(channels, norm_cfg['eps'], norm_cfg['affine'])


def _upsample(x, size):
    return F.interpolate(x, size=tuple(size), mode='trilinear', align_corners=False)


class ConvNormAct(nn.Module):
    def __init__(self, norm_cfg, cin, cout, kernel, stride=1, act=True):
        super().__init__()
        self.act = act
        self.conv = _conv(cin, cout, kernel, stride)
        self.norm = _norm(norm_cfg, cout)

    def forward(self, x):
        y = self.norm(self.conv(x))
        return F.relu(y) if self.act else y


class IntraScaleSDE(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        # JS Math.round (halves up), not Python's banker's rounding.
        hidden = max(1, int(math.floor(channels / reduction + 0.5)))
        self.conv1 = _conv(channels, hidden, 1, bias=True)
        self.conv2 = _conv(hidden, channels, 1, bias=True)

    def forward(self, x, context=None):
        # In a residual block x is instance-normalised (per-channel mean = the norm's bias),
        # so the squeeze pools the features before that norm, passed as `context`.
        g = (x if context is None else context).mean(dim=(2, 3, 4), keepdim=True)
        return x * torch.sigmoid(self.conv2(F.relu(self.conv1(g))))


class ResidualBlock(nn.Module):
    def __init__(self, norm_cfg, channels, se):
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.norm1 = _norm(norm_cfg, channels)
        self.conv2 = _conv(channels, channels, 3)
        self.norm2 = _norm(norm_cfg, channels)
        self.se = se

    def forward(self, x):
        c = self.conv2(F.relu(self.norm1(self.conv1(x))))
        t = self.norm2(c)
        if self.se is not None:
            t = self.se(t, c)
        return F.relu(t + x)


class InterScaleSDE(nn.Module):
    def __init__(self, norm_cfg, widths):
        super().__init__()
        src = widths[-1]
        self.squeeze = nn.ModuleList([_conv(src, 1, 1, bias=True) for _ in widths])
        self.fuse = nn.ModuleList([ConvNormAct(norm_cfg, w + 1, w, 3) for w in widths])

    def forward(self, xs):
        g = xs[-1].mean(dim=(2, 3, 4), keepdim=True)
        out = []
        for i, x in enumerate(xs):
            # A 1×1×1 conv commutes with the broadcast, so it runs on the pooled map (as in TS).
            b = self.squeeze[i](g).expand(x.shape[0], 1, *x.shape[2:])
            out.append(self.fuse[i](torch.cat([x, b], 1)))
        return out


class FuseUp(nn.Module):
    def __init__(self, norm_cfg, cin, cout):
        super().__init__()
        self.conv = _conv(cin, cout, 1)
        self.norm = _norm(norm_cfg, cout)

    def forward(self, x, size):
        return _upsample(self.norm(self.conv(x)), size)


class FuseTarget(nn.Module):
    """One output branch of a PMF fusion; children are named by their source branch index."""

    def __init__(self, norm_cfg, target, widths):
        super().__init__()
        self.target = target
        for j, w in enumerate(widths):
            if j == target:
                continue
            if j > target:
                m = FuseUp(norm_cfg, w, widths[target])
            else:
                n = target - j
                m = nn.Sequential(*[ConvNormAct(norm_cfg, w, widths[target] if s == n - 1 else w, 3, stride=2, act=s != n - 1) for s in range(n)])
            self.add_module(str(j), m)

    def forward(self, xs):
        own = xs[self.target]
        acc = own
        for j, x in enumerate(xs):
            if j == self.target:
                continue
            p = getattr(self, str(j))
            acc = acc + (p(x, own.shape[2:]) if isinstance(p, FuseUp) else p(x))
        return F.relu(acc)


class PMF(nn.Module):
    def __init__(self, norm_cfg, widths, blocks, sde_reduction):
        super().__init__()
        k = len(widths)
        self.widths = list(widths)
        self.transition = ConvNormAct(norm_cfg, widths[k - 2], widths[k - 1], 3, stride=2) if k > 1 else None
        self.branches = nn.ModuleList([
            nn.Sequential(*[ResidualBlock(norm_cfg, w, IntraScaleSDE(w, sde_reduction) if sde_reduction is not None else None) for _ in range(blocks)])
            for w in widths
        ])
        self.fuse = nn.ModuleList([FuseTarget(norm_cfg, i, widths) for i in range(k)]) if k > 1 else None
        # Activation checkpointing in training (torch.utils.checkpoint), as the TS PMF.checkpointed.
        self.checkpointed = False

    def forward(self, xs):
        k = len(self.widths)
        expected = k - 1 if self.transition is not None else k
        if len(xs) != expected:
            raise ValueError(f'PMF with {k} branches expects {expected} inputs, got {len(xs)}')
        if self.checkpointed and self.training and torch.is_grad_enabled():
            return list(torch.utils.checkpoint.checkpoint(self._run, *xs, use_reentrant=False))
        return self._run(*xs)

    def _run(self, *xs):
        inputs = list(xs) + ([self.transition(xs[-1])] if self.transition is not None else [])
        outs = [b(x) for b, x in zip(self.branches, inputs)]
        if self.fuse is None:
            return outs
        return [f(outs) for f in self.fuse]


def em_attention(x, bases, stages):
    """EMANet's EM iterations as src/kernels/em-attention.ts runs them (callers wrap it in
    no_grad): Z = softmax_K(Xᵀ·mu); Zn = Z/(1e-6 + Σ_V Z); mu = X·Zn; mu /= 1e-6 + ‖mu‖₂ over C;
    y = mu·Zᵀ with the last Z. Returns (y shaped like x, final per-sample bases [N, C, K])."""
    n, c = x.shape[:2]
    xf = x.reshape(n, c, -1)
    mu = bases.expand(n, -1, -1)
    z = None
    for _ in range(stages):
        z = torch.softmax(torch.bmm(xf.transpose(1, 2), mu), dim=2)  # [N, V, K]
        zn = z / (1e-6 + z.sum(dim=1, keepdim=True))
        mu = torch.bmm(xf, zn)
        mu = mu / (1e-6 + mu.norm(dim=1, keepdim=True))
    y = torch.bmm(mu, z.transpose(1, 2))
    return y.reshape(x.shape), mu


class EMAUnit(nn.Module):
    """conv1 → EM (no gradient) → ReLU → conv2 → norm → + x → ReLU. conv1 feeds only the
    no-grad EM iterations, so (as in EMANet and the TS model) it never receives a gradient."""

    def __init__(self, norm_cfg, channels, bases, stages, momentum, renormalize):
        super().__init__()
        self.stages, self.momentum, self.renormalize = stages, momentum, renormalize
        self.conv1 = _conv(channels, channels, 1, bias=True)
        # Said explicitly (its forward runs under no_grad anyway) so DistributedDataParallel
        # does not wait for gradients that never come: a bucket holding conv1 would never be
        # reduced, and the other parameters in it would keep their rank-local gradients.
        self.conv1.requires_grad_(False)
        self.conv2 = _conv(channels, channels, 1, bias=False)
        self.norm2 = _norm(norm_cfg, channels)
        mu = torch.randn(1, channels, bases) * math.sqrt(2.0 / bases)
        self.register_buffer('mu', mu / (1e-6 + mu.norm(dim=1, keepdim=True)))

    def forward(self, x):
        with torch.no_grad():
            y, mu = em_attention(self.conv1(x), self.mu, self.stages)
            if self.training:
                batch_mean = mu.mean(dim=0, keepdim=True)
                if self.pending is not None:
                    self.pending.append(batch_mean)
                else:
                    self._move_bases(batch_mean)
        return F.relu(self.norm2(self.conv2(F.relu(y))) + x)

    # Gradient accumulation (ema-unit.ts): between defer_base_updates() and commit_base_updates()
    # the forwards collect their batch means and the bases move once with the mean of all of
    # them, so N equal micro-batches see and move the bases as the whole batch would.
    pending = None

    def defer_base_updates(self):
        self.pending = []

    def commit_base_updates(self):
        pending, self.pending = self.pending, None
        if pending:
            with torch.no_grad():
                self._move_bases(torch.stack(pending).mean(0))

    def _move_bases(self, batch_mean):
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # Data parallel: each rank sees a slice of the batch. Averaging the slices'
            # means (equal slices) gives the whole batch's mean, so every rank's bases
            # move as one process with the full batch would move them.
            dist.all_reduce(batch_mean)
            batch_mean /= dist.get_world_size()
        m = self.momentum * self.mu + (1 - self.momentum) * batch_mean
        if self.renormalize:
            m = m / (1e-6 + m.norm(dim=1, keepdim=True))
        self.mu.copy_(m)


def _check_input(x, cfg, what):
    if x.dim() != 5 or x.shape[1] != cfg['inChannels']:
        raise ValueError(f'{what}: expected input [N, {cfg["inChannels"]}, D, H, W], got {list(x.shape)}')
    m = size_multiple(cfg)
    if any(s % m for s in x.shape[2:]):
        raise ValueError(f'{what}: every spatial side must be a multiple of {m}, got {list(x.shape[2:])}')


class HNFNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        nc, s, widths = cfg['norm'], cfg['stemChannels'], cfg['widths']
        self.stem = nn.Sequential(*[ConvNormAct(nc, cfg['inChannels'] if i == 0 else s, s, 3) for i in range(cfg['encoderConvs'])])
        self.down = ConvNormAct(nc, s, widths[0], 3, stride=2)
        red = cfg['sdeReduction'] if cfg['intraSde'] else None
        self.pmf_names = []
        for k in range(len(widths)):
            self.add_module(f'pmf{k + 1}', PMF(nc, widths[:k + 1], cfg['blocks'][k], red))
            self.pmf_names.append(f'pmf{k + 1}')
        self.inter_sde = InterScaleSDE(nc, widths[:-1]) if cfg['interSde'] else None
        total = sum(widths)
        self.ema = EMAUnit(nc, total, cfg['emaBases'], cfg['emaStages'], cfg['emaMomentum'], cfg['emaRenormalize'])
        self.up = ConvNormAct(nc, total, s, 1)
        self.decoder = nn.Sequential(*[ConvNormAct(nc, s, s, 3) for _ in range(cfg['decoderConvs'])])
        self.head = _conv(s, cfg['outChannels'], 1, bias=True)

    def forward(self, x, native=False):
        """Logits on x's grid; with native=True (inputStride 2 only) on the grid the network
        ran on, half x's, which is where training takes its loss (train.py, trainer.ts)."""
        _check_input(x, self.config, 'hnfnet')
        full = x.shape[2:]
        if self.config.get('inputStride', 1) == 2:
            # Trilinear to half size (align_corners=False) is exactly a 2×2×2 mean: the same
            # op on both sides, so the TS model needs no pooling kernel.
            x = _upsample(x, [s // 2 for s in full])
        skip = self.stem(x)
        feats = [self.down(skip)]
        n = len(self.pmf_names)
        for k, name in enumerate(self.pmf_names):
            feats = getattr(self, name)(feats)
            if self.inter_sde is not None and k == n - 2:
                feats = self.inter_sde(feats)
        half = feats[0].shape[2:]
        joined = torch.cat([f if i == 0 else _upsample(f, half) for i, f in enumerate(feats)], 1)
        narrowed = self.up(self.ema(joined))
        y = self.head(self.decoder(_upsample(narrowed, skip.shape[2:]) + skip))
        return y if native or y.shape[2:] == full else _upsample(y, full)


class UNet3d(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        nc, w, n = cfg['norm'], cfg['widths'], cfg['convsPerLevel']
        self.encoders = nn.ModuleList([
            nn.Sequential(*[ConvNormAct(nc, width if i > 0 else (cfg['inChannels'] if l == 0 else w[l - 1]), width, 3, stride=2 if i == 0 and l > 0 else 1) for i in range(n)])
            for l, width in enumerate(w)
        ])
        self.decoders = nn.ModuleList([
            nn.Sequential(*[ConvNormAct(nc, w[l] + w[l + 1] if i == 0 else w[l], w[l], 3) for i in range(n)])
            for l in range(len(w) - 2, -1, -1)
        ])
        self.head = _conv(w[0], cfg['outChannels'], 1, bias=True)

    def forward(self, x):
        _check_input(x, self.config, 'unet3d')
        skips = []
        cur = x
        for enc in self.encoders:
            cur = enc(cur)
            skips.append(cur)
        cur = skips.pop()
        for dec in self.decoders:
            skip = skips.pop()
            cur = dec(torch.cat([skip, _upsample(cur, skip.shape[2:])], 1))
        return self.head(cur)


def set_activation_checkpointing(model, mode):
    """'none' or 'pmf' (every PMF module recomputes its activations in backward); HNF-Net family only."""
    if mode not in ('none', 'pmf'):
        raise ValueError(f'activation checkpointing must be none or pmf, got {mode!r}')
    pmfs = [m for m in model.modules() if isinstance(m, PMF)]
    if mode == 'pmf' and not pmfs:
        raise ValueError('activation checkpointing "pmf": the 3D U-Net has no PMF modules (only "none")')
    for m in pmfs:
        m.checkpointed = mode == 'pmf'
    return model


def build_model(spec, seed=None):
    """A preset name, JSON string or config dict → the model (random init; `seed` seeds torch's RNG)."""
    cfg = parse_config(spec)
    if seed is not None:
        torch.manual_seed(seed)
    return UNet3d(cfg) if cfg['kind'] == 'unet3d' else HNFNet(cfg)
