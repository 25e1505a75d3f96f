"""Whole-case segmentation with the paper's inference recipe, step for step as `hnfnet infer`
(src/infer/inferencer.ts, sliding-window.ts, postprocess.ts): the same normalisation over the
whole volume, the same crop, the same windows (MONAI's starts, the last pulled inside), the
same Gaussian blending, the same flips for test-time augmentation, the same threshold and ET
rule. A model trained here and the same weights served by hnfnet give the same labels,
up to voxels whose probability sits at the threshold within float32 rounding.

    python -m hnfnet_torch.infer --model W.safetensors --case DIR --out seg.nii.gz [--tta 8 --window 128 …]
    python -m hnfnet_torch.infer --model W.safetensors --case DATASET --out PREDICTIONS/ [--skip-existing]

Arrays are [C, Z, Y, X] (x fastest); the window and crop options speak x, y, z like the CLI.
"""
import argparse
import math
import os
import re
import sys
import time

import numpy as np
import torch

from .data import MODALITIES, brain_box, find_cases, normalize_in_brain, read_nifti, write_nifti
from .weights import load_weights

DEFAULT_CROP = (160, 192, 144)  # x, y, z
_FLIPS = ([], [0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2])


def flip_sets(tta):
    """Axis sets (0 = D, 1 = H, 2 = W) of the test-time flips, identity first."""
    if isinstance(tta, int):
        if tta not in (1, 8):
            raise ValueError(f'tta must be 1 or 8 (or a list of axis sets), got {tta}')
        return [list(f) for f in _FLIPS[:tta]]
    return [list(f) for f in tta]


def window_starts(size, win, overlap):
    """MONAI's starts: step ⌊win·(1 − overlap)⌋, the last window pulled back inside."""
    if size <= win:
        return [0]
    step = max(1, math.floor(win * (1 - overlap)))
    n = math.ceil((size - win) / step) + 1
    return sorted({min(i * step, size - win) for i in range(n)})


def blend_weights(win, mode='gaussian', sigma_scale=0.125):
    """Per-voxel importance of a window [D, H, W]: separable Gaussian (peak 1, zeros replaced by
    the smallest positive weight) or ones."""
    if mode == 'constant':
        return np.ones(win, np.float32)
    if mode != 'gaussian':
        raise ValueError(f'blend must be gaussian or constant, got {mode!r}')
    axes = []
    for s in win:
        sigma = sigma_scale * s
        i = np.arange(s, dtype=np.float64)
        axes.append(np.exp(-((i - (s - 1) / 2) ** 2) / (2 * sigma * sigma)))
    w = (axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]).astype(np.float32)
    positive = w[w > 0]
    if positive.size < w.size:
        w[~(w > 0)] = positive.min()
    return w


def _cube(window):
    return (window,) * 3 if isinstance(window, int) else tuple(window)


@torch.no_grad()
def sliding_window(image, models, window=128, overlap=0.5, tta=1, blend='gaussian', sigma_scale=0.125,
                   batch_size=1, activation='sigmoid', device=None, on_progress=None):
    """image [C, D, H, W] (numpy float32) → averaged outputs [K, D, H, W] (float32).

    window: a side or (D, H, W). Each batch of windows is cut (under each flip) once and run
    through every model; outputs are flipped back and accumulated on the host with the blend
    weight, in the order hnfnet uses, then divided by the summed weights."""
    if image.ndim != 4:
        raise ValueError(f'sliding window: image must be [C, D, H, W], got shape {image.shape}')
    if not models:
        raise ValueError('sliding window: no model given')
    if not 0 <= overlap < 1:
        raise ValueError(f'sliding window: overlap must be in [0, 1), got {overlap}')
    win = _cube(window)
    C, D, H, W = image.shape
    dims = (max(D, win[0]), max(H, win[1]), max(W, win[2]))
    if dims != (D, H, W):
        # Smaller than the window: pad at the end; the padding is dropped at the end.
        padded = np.zeros((C,) + dims, np.float32)
        padded[:, :D, :H, :W] = image
        image = padded
    starts = [window_starts(dims[a], win[a], overlap) for a in range(3)]
    windows = [(a, b, c) for a in starts[0] for b in starts[1] for c in starts[2]]
    flips = flip_sets(tta)
    weights = blend_weights(win, blend, sigma_scale)
    device = device or next(models[0].parameters()).device
    dtype = next(models[0].parameters()).dtype
    acc = None
    wsum = np.zeros(dims, np.float64)
    total = len(windows) * len(flips) * len(models)
    done = 0
    for b0 in range(0, len(windows), max(1, batch_size)):
        group = windows[b0:b0 + max(1, batch_size)]
        slices = [tuple(slice(s[a], s[a] + win[a]) for a in range(3)) for s in group]
        crops = np.stack([image[(slice(None),) + sl] for sl in slices])
        for flip in flips:
            axes = [a + 2 for a in flip]
            x = torch.from_numpy(np.ascontiguousarray(np.flip(crops, axes) if axes else crops)).to(device=device, dtype=dtype)
            for model in models:
                y = model(x)
                if activation == 'sigmoid':
                    y = torch.sigmoid(y)
                y = y.float().cpu().numpy()
                if axes:
                    y = np.flip(y, axes)
                if acc is None:
                    acc = np.zeros((y.shape[1],) + dims, np.float64)
                elif y.shape[1] != acc.shape[0]:
                    raise ValueError(f'sliding window: models disagree on output channels ({acc.shape[0]} vs {y.shape[1]})')
                for g, sl in enumerate(slices):
                    acc[(slice(None),) + sl] += y[g] * weights
                    wsum[sl] += weights
                done += len(group)
                if on_progress:
                    on_progress(done, total)
    return (acc / wsum)[:, :D, :H, :W].astype(np.float32)


def regions_to_segmentation(probs, threshold=0.5, min_et=200):
    """[3, …] WT, TC, ET probabilities → internal labels (ED where WT, NCR where TC, ET where ET);
    an ET of fewer than min_et voxels becomes NCR (the paper's rule)."""
    labels = np.zeros(probs.shape[1:], np.uint8)
    labels[probs[0] > threshold] = 2
    labels[probs[1] > threshold] = 1
    labels[probs[2] > threshold] = 3
    et = int((labels == 3).sum())
    if 0 < et < min_et:
        labels[labels == 3] = 1
    return labels


def inference_box(mask, crop=DEFAULT_CROP):
    """Slices [Z, Y, X] of the inference crop: a centre box of `crop` (x, y, z, capped at the
    volume) when it holds the brain, else the brain's bounding box ('brain': always)."""
    bbox = brain_box(mask) if mask.any() else tuple(slice(0, n) for n in mask.shape)
    if crop == 'brain':
        return bbox
    size = [min(c, n) for c, n in zip(crop[::-1], mask.shape)]
    centre = tuple(slice((n - s) // 2, (n - s) // 2 + s) for n, s in zip(mask.shape, size))
    inside = all(c.start <= b.start and b.stop <= c.stop for c, b in zip(centre, bbox))
    return centre if inside else bbox


def load_case(path):
    """A case folder (2018-2021 or 2023 names) → dict with 'id', 'images' [4, Z, Y, X],
    'grid' (of the T1 image), 'et' (the ET label of its naming)."""
    cases = find_cases(path)
    if len(cases) != 1:
        raise ValueError(f'{path}: expected one BraTS case (four modalities), found {len(cases)}')
    return _read_case(*next(iter(cases.items())))


def _read_case(cid, c):
    vols = [read_nifti(c['images'][m], with_grid=True) for m in MODALITIES]
    shapes = {v.shape for v, _ in vols}
    if len(shapes) != 1:
        raise ValueError(f'case {cid}: the modalities differ in shape: ' + ', '.join(f'{m} {v.shape[::-1]}' for m, (v, _) in zip(MODALITIES, vols)))
    return {'id': cid, 'images': np.stack([v for v, _ in vols]), 'grid': vols[0][1], 'et': c['et']}


def segment_case(case, models, crop=DEFAULT_CROP, threshold=0.5, min_et=200, keep_probabilities=False, **window_opts):
    """load_case's dict → (internal labels [Z, Y, X] uint8 on the full grid, probabilities
    [3, Z, Y, X] or None, box slices, network calls). window_opts go to sliding_window;
    'window' is a side or (x, y, z)."""
    imgs = case['images']
    mask = (imgs != 0).any(0)
    # Normalised over the whole volume: the brain's statistics do not depend on the crop.
    norm = normalize_in_brain(imgs, mask)
    box = inference_box(mask, crop)
    image = norm[(slice(None),) + box]
    calls = [0]
    user = window_opts.pop('on_progress', None)

    def progress(done, total):
        calls[0] = done
        if user:
            user(done, total)

    if 'window' in window_opts and not isinstance(window_opts['window'], int):
        window_opts['window'] = tuple(window_opts['window'])[::-1]
    probs = sliding_window(image, models, activation='sigmoid', on_progress=progress, **window_opts)
    # Voxels outside the brain cannot be tumour (and must not count towards the ET rule).
    probs[:, ~mask[box]] = 0
    labels = np.zeros(mask.shape, np.uint8)
    labels[box] = regions_to_segmentation(probs, threshold, min_et)
    full = None
    if keep_probabilities:
        full = np.zeros((3,) + mask.shape, np.float32)
        full[(slice(None),) + box] = probs
    return labels, full, box, calls[0]


def to_brats(labels, et_label):
    out = labels.copy()
    out[labels == 3] = et_label
    return out


def main(argv=None):
    try:
        return _main(argv)
    except (OSError, ValueError) as e:
        # Bad input (a missing or corrupt file, a case that does not fit the model): the message,
        # not a traceback (HNFNET_DEBUG=1 shows it, as for hnfnet).
        if os.environ.get('HNFNET_DEBUG'):
            raise
        print(f'hnfnet_torch.infer: error: {e}', file=sys.stderr)
        return 1


def _main(argv):
    ap = argparse.ArgumentParser(prog='python -m hnfnet_torch.infer', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', action='append', required=True, help='weights file (repeat for an ensemble)')
    ap.add_argument('--case', required=True, help='a BraTS case folder, or a data set (a folder of case folders)')
    ap.add_argument('--out', required=True, help='the segmentation (.nii.gz or .nii); for a data set a folder, which gets <id>.nii.gz per case')
    ap.add_argument('--skip-existing', action='store_true', help='data sets: leave out cases whose <id>.nii.gz is already there')
    ap.add_argument('--tta', type=int, default=8, choices=(1, 8))
    ap.add_argument('--window', type=int, nargs='+', default=[128], help='side, or x y z')
    ap.add_argument('--overlap', type=float, default=0.5)
    ap.add_argument('--batch', type=int, default=1, help='windows per network call')
    ap.add_argument('--blend', default='gaussian', choices=('gaussian', 'constant'))
    ap.add_argument('--crop', default=','.join(map(str, DEFAULT_CROP)), help='X,Y,Z or "brain"')
    ap.add_argument('--threshold', type=float, default=0.5)
    ap.add_argument('--min-et', type=int, default=200)
    ap.add_argument('--probs', default=None, help='also write PREFIX_wt/_tc/_et.nii.gz probability maps (data sets: a folder that gets <id>_wt/_tc/_et.nii.gz)')
    ap.add_argument('--preset', default=None, help='the preset, for weights files without hnfnet metadata')
    ap.add_argument('--device', default=None, help='torch device (default: cuda when available, else cpu)')
    ap.add_argument('--float64', action='store_true', help='run the network in float64 (for checks)')
    a = ap.parse_args(argv)
    if a.crop == 'brain':
        crop = 'brain'
    else:
        try:
            crop = tuple(int(v) for v in a.crop.split(','))
        except ValueError:
            crop = ()
        if len(crop) != 3 or min(crop) <= 0:
            ap.error(f'--crop expects X,Y,Z (positive integers) or "brain", got "{a.crop}"')
    if len(a.window) not in (1, 3):
        ap.error('--window takes a side or x y z')
    t0 = time.time()
    device = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    dtype = torch.float64 if a.float64 else torch.float32
    found = find_cases(a.case)
    if not found:
        raise ValueError(f'{a.case}: holds no BraTS case (four modality files)')
    # As hnfnet infer: a folder whose own files are not a case is a data set of case folders.
    dataset = os.path.isdir(a.case) and not any(c['dir'] == os.path.normpath(a.case) for c in found.values())
    if dataset and re.search(r'\.nii(\.gz)?$', a.out, re.I):
        ap.error(f'{a.case} is a data set of {len(found)} cases: --out must be a folder for their segmentations, not {a.out}')
    if a.skip_existing and not dataset:
        ap.error('--skip-existing is for data sets (a folder of case folders)')
    models = [load_weights(p, a.preset, dtype)[0].to(device) for p in a.model]
    what = f'{len(models)} model(s), TTA {a.tta}, on {device}'
    opts = dict(crop=crop, threshold=a.threshold, min_et=a.min_et, keep_probabilities=bool(a.probs),
                window=a.window[0] if len(a.window) == 1 else a.window, overlap=a.overlap, tta=a.tta, blend=a.blend,
                batch_size=a.batch, device=device)

    def segment(case, out, probs_prefix):
        labels, probs, box, calls = segment_case(case, models, **opts)
        write_nifti(out, to_brats(labels, case['et']), case['grid'])
        if probs_prefix:
            for i, region in enumerate(('wt', 'tc', 'et')):
                write_nifti(f'{probs_prefix}_{region}.nii.gz', probs[i], case['grid'])
        return f'{calls} network calls over box {"×".join(str(s.stop - s.start) for s in box[::-1])}'

    if not dataset:
        case = _read_case(*next(iter(found.items())))
        print(f'case {case["id"]}: {"×".join(map(str, case["images"].shape[:0:-1]))} voxels, {what}', file=sys.stderr)
        done = segment(case, a.out, a.probs)
        print(f'wrote {a.out} ({done}) in {time.time() - t0:.1f} s', file=sys.stderr)
        return 0
    # A data set: one bad case is reported and skipped, so a long run loses nothing else.
    print(f'{len(found)} cases in {a.case}, {what}', file=sys.stderr)
    failed, written, skipped = [], 0, 0
    for k, (cid, c) in enumerate(found.items()):
        t1 = time.time()
        target = os.path.join(a.out, f'{cid}.nii.gz')
        if a.skip_existing and os.path.exists(target):
            skipped += 1
            continue
        try:
            done = segment(_read_case(cid, c), target, a.probs and os.path.join(a.probs, cid))
        except (OSError, ValueError) as e:
            failed.append(cid)
            print(f'case {k + 1}/{len(found)} {cid}: failed: {e}', file=sys.stderr)
            continue
        written += 1
        print(f'case {k + 1}/{len(found)} {cid}: wrote {target} ({done}) in {time.time() - t1:.1f} s', file=sys.stderr)
    print(f'segmented {written} of {len(found)} cases into {a.out}' + (f' ({skipped} already there, skipped)' if skipped else '') + f' in {time.time() - t0:.1f} s', file=sys.stderr)
    if failed:
        print(f'{len(failed)} case(s) failed: {", ".join(failed)}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
