"""Validation during training, as src/train/validate.ts: each held-out case whole (brain-cropped,
as preprocessed) through the sliding window in eval mode, Dice per region, summed over ranks."""
import time

import torch
import torch.distributed as dist

from .data import regions
from .infer import sliding_window

REGION_NAMES = ('WT', 'TC', 'ET')


def region_dice(prob, mask, threshold):
    """regionDice in validate.ts: Dice of (prob > threshold) against mask > 0; two empty masks score 1."""
    p, g = prob > threshold, mask > 0
    total = int(p.sum()) + int(g.sum())
    return 1.0 if total == 0 else 2.0 * int((p & g).sum()) / total


def validate(model, cases, window, overlap, tta, threshold, device, world=1):
    """validateCases (validate.ts) on this rank's share of the held-out cases [(images, labels)],
    summed over the ranks: each case whole through the sliding window in eval mode, Dice per region.
    `window` is (D, H, W). Returns the ValidationResult fields but epoch and step."""
    t0 = time.time()
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)
    try:
        for images, labels in cases:
            probs = sliding_window(images, [model], window=window, overlap=overlap, tta=tta, activation='sigmoid', device=device)
            gt = regions(labels)
            sums += torch.tensor([region_dice(probs[r], gt[r], threshold) for r in range(3)] + [1.0], dtype=torch.float64)
    finally:
        model.train(was_training)
    if world > 1:
        sums = sums.to(device)
        dist.all_reduce(sums)
        sums = sums.cpu()
    dice = {r: float(sums[i] / sums[3]) for i, r in enumerate(REGION_NAMES)}
    return {'dice': dice, 'mean': (dice['WT'] + dice['TC'] + dice['ET']) / 3, 'cases': int(sums[3]), 'seconds': time.time() - t0}
