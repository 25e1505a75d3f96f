"""Packs BraTS case folders into a training bundle (bundle.py) that `python3 -m hnfnet_torch.train
--bundle BUNDLE` trains from with no NIfTI files at hand:

    python3 -m hnfnet_torch.pack --data ../../shared/data/brats --data ../../shared/data/brats18 --out ../bundles/brats15.tar

Each case is preprocessed as the trainer does it (data.preprocess: the brain is what is nonzero in
any modality; crop to its box; clip to the brain's 0.5/99.5 percentiles; z-score over the brain),
and its images are stored quantised to multiples of --step (units of the brain's standard
deviation), so every voxel is off by at most step / 2."""
import argparse
import fractions
import os
import sys
import time

import numpy as np

from .bundle import BundleError, BundleWriter, file_stamp
from .data import MODALITIES, find_cases, preprocess_with_box

LOWER, UPPER = 0.5, 99.5


def _step(text):
    try:
        v = float(fractions.Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f'not a number: {text!r}')
    return v


def _parser():
    ap = argparse.ArgumentParser(prog='python3 -m hnfnet_torch.pack', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', action='append', required=True, help='folder of BraTS case folders (repeat for several)')
    ap.add_argument('--out', required=True, help='the bundle file to write (a tar)')
    ap.add_argument('--step', type=_step, default=1 / 16, help='quantisation step, a power of two such as 1/32 (default 1/16: '
                    'errors of at most 1/32 of the brain\'s standard deviation; each halving adds about 0.7 MB per case)')
    return ap


def gather(roots):
    """{id: case} over all `roots`; the same case id in two of them is an error."""
    cases, where = {}, {}
    for root in roots:
        if not os.path.isdir(root):
            raise BundleError(f'{root}: not a folder')
        found = find_cases(root)
        if not found:
            raise BundleError(f'{root}: no BraTS cases (four modalities each) found')
        for cid, c in found.items():
            if cid in cases:
                raise BundleError(f'case {cid} is in both {where[cid]} and {root}')
            cases[cid], where[cid] = c, root
    return dict(sorted(cases.items()))


def pack(roots, out, step, say=print):
    """Writes the bundle; returns (cases, bytes of the file, largest abs error of any voxel)."""
    cases = gather(roots)
    writer = BundleWriter(out, step, {'lower_percentile': LOWER, 'upper_percentile': UPPER,
                                      'recipe': 'hnfnet_torch.data.preprocess (src/data/preprocess.ts): brain = nonzero in any modality, '
                                                'crop to its box, clip to the brain percentiles, z-score over the brain'})
    for i, (cid, c) in enumerate(cases.items()):
        t0 = time.time()
        images, mask, labels, box, shape = preprocess_with_box(c, LOWER, UPPER)
        sources = [{'kind': m, **file_stamp(c['images'][m])} for m in MODALITIES] + ([{'kind': 'seg', **file_stamp(c['seg'])}] if c['seg'] else [])
        n, err = writer.add(cid, images, mask, labels if labels is not None else np.zeros(mask.shape, np.uint8), box, shape,
                            {'folder': c['folder'], 'labels': labels is not None, 'sources': sources})
        say(f'[{i + 1}/{len(cases)}] {cid}: {"×".join(map(str, mask.shape))} of {"×".join(map(str, shape))}, '
            f'{n / 1e6:.2f} MB, max abs error {err:.3g} ({time.time() - t0:.1f} s)')
    writer.close()
    return len(cases), os.path.getsize(out), writer.manifest['max_abs_error']


def main(argv=None):
    a = _parser().parse_args(argv)
    try:
        n, size, err = pack(a.data, a.out, a.step, say=lambda s: print(s, file=sys.stderr, flush=True))
    except (BundleError, OSError, ValueError) as e:
        raise SystemExit(f'hnfnet_torch.pack: error: {e}') from e
    print(f'{a.out}: {n} case(s), {size / 1e6:.1f} MB ({size} bytes), images within {err:.3g} of the float32 preprocessing')


if __name__ == '__main__':
    main()
