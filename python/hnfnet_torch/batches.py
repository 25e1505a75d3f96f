"""Training batches as a map-style dataset indexed by step, for torch's DataLoader: the batch
of a step depends only on (seed, step) — the epoch's seeded case order and one generator per
global sample position — so loader workers, the rank count and a resume all see the same
samples, and workers can prepare the next steps while the device trains."""
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from . import case_cache
from .data import sample_patch


class StepBatches(Dataset):
    def __init__(self, cache_dir, ids, slots, batch, steps_per_epoch, patch, seed, foreground_prob, augment):
        self.cache_dir, self.ids, self.slots, self.batch = cache_dir, list(ids), list(slots), batch
        self.spe, self.patch, self.seed, self.fg, self.augment = steps_per_epoch, patch, seed, foreground_prob, augment

    def __getitem__(self, step):
        """This rank's samples of `step`: (images [len(slots), 4, Z, Y, X], regions [len(slots), 3, Z, Y, X])."""
        epoch, s = divmod(step, self.spe)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.ids))
        xs, ts = [], []
        for j in self.slots:
            cid = self.ids[order[(s * self.batch + j) % len(order)]]
            # One generator per global sample: the patch does not depend on the rank count.
            rng = np.random.default_rng([self.seed, step, j])
            x, t = sample_patch(*case_cache.load(self.cache_dir, cid), self.patch, rng, self.fg, self.augment)
            xs.append(x)
            ts.append(t)
        return torch.stack(xs), torch.stack(ts)


def _one_thread(_):
    # Workers sample on the CPU side by side; one thread each keeps them from oversubscribing it.
    torch.set_num_threads(1)


def loader(dataset, first_step, last_step, workers):
    """Batches of steps first_step … last_step − 1, in order, prepared by `workers` processes (0: inline)."""
    return DataLoader(dataset, batch_size=None, sampler=range(first_step, last_step), num_workers=workers,
                      worker_init_fn=_one_thread if workers else None)
