"""The training loss as src/train/loss.ts computes it: MONAI's generalized Dice
(w_type square by default, batch=False, on sigmoid probabilities) plus BCE on logits."""
import torch
import torch.nn.functional as F

_W = {'square': lambda g: 1.0 / (g * g), 'simple': lambda g: 1.0 / g, 'uniform': torch.ones_like}


def generalized_dice_loss(probs, target, w_type='square', smooth_nr=1e-5, smooth_dr=1e-5):
    dims = tuple(range(2, probs.dim()))
    inter = (probs * target).sum(dims)
    sp = probs.sum(dims)
    g = target.sum(dims)
    # The weights come from the target only: constants for the gradient.
    w = _W[w_type](g.detach())
    infs = torch.isinf(w)
    w = torch.where(infs, torch.zeros_like(w), w)
    # MONAI: an empty target channel takes its sample's largest finite weight (0 if none).
    wmax = w.max(dim=1, keepdim=True)[0]
    w = torch.where(infs, wmax.expand_as(w), w)
    num = 2.0 * (w * inter).sum(1) + smooth_nr
    den = (w * (sp + g)).sum(1) + smooth_dr
    return (1.0 - num / den).mean()


def segmentation_loss(logits, target, dice_weight=1.0, bce_weight=1.0, w_type='square', smooth=1e-5):
    """(loss, dice, bce), as segmentationLoss in loss.ts with DEFAULT_SEG_LOSS."""
    dice = generalized_dice_loss(torch.sigmoid(logits), target, w_type, smooth, smooth)
    bce = F.binary_cross_entropy_with_logits(logits, target)
    return dice_weight * dice + bce_weight * bce, dice, bce
