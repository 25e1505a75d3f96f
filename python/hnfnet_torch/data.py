"""BraTS cases for the PyTorch trainer: NIfTI reading (no nibabel on Debian's torch), the
paper's preprocessing as src/data/preprocess.ts does it, five-fold splits in the MONAI
split-file format src/train/splits.ts reads, and patch sampling with the paper's
augmentations (src/data/augment.ts). Arrays are [C, Z, Y, X] (x fastest), the TS layout, so
weights trained here see volumes the way `hnfnet infer` feeds them."""
import gzip
import json
import math
import os
import re
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F

MODALITIES = ('t1', 't1ce', 't2', 'flair')
_NAMINGS = (
    (re.compile(r'^(.+)_(t1|t1ce|t2|flair|seg)\.nii(?:\.gz)?$', re.I), {'t1': 't1', 't1ce': 't1ce', 't2': 't2', 'flair': 'flair', 'seg': 'seg'}, 4),
    (re.compile(r'^(.+)-(t1n|t1c|t2w|t2f|seg)\.nii(?:\.gz)?$', re.I), {'t1n': 't1', 't1c': 't1ce', 't2w': 't2', 't2f': 'flair', 'seg': 'seg'}, 3),
)
_DTYPES = {2: 'u1', 4: 'i2', 8: 'i4', 16: 'f4', 64: 'f8', 256: 'i1', 512: 'u2', 768: 'u4', 1024: 'i8', 1280: 'u8'}


def _nifti_bytes(path):
    with open(path, 'rb') as f:
        raw = f.read()
    if raw[:2] == b'\x1f\x8b':
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise ValueError(f'{path}: the gzip stream is cut off or corrupt ({e})') from e
    if len(raw) < 348:
        raise ValueError(f'{path}: {len(raw)} bytes, too short for a NIfTI-1 header (348)')
    endian = '<' if struct.unpack('<i', raw[:4])[0] == 348 else '>'
    if struct.unpack(endian + 'i', raw[:4])[0] != 348:
        if struct.unpack('<i', raw[:4])[0] == 540 or struct.unpack('>i', raw[:4])[0] == 540:
            raise ValueError(f'{path}: NIfTI-2 is not read by the twin (hnfnet itself reads it)')
        raise ValueError(f'{path}: not a NIfTI-1 file')
    return raw, endian


def read_nifti(path, with_grid=False):
    """NIfTI-1 volume → float32 array [Z, Y, X] (scl_slope/inter applied); with_grid also
    returns the geometry fields (grid) that write_nifti needs to put an output on its grid."""
    raw, endian = _nifti_bytes(path)
    dim = struct.unpack(endian + '8h', raw[40:56])
    code = struct.unpack(endian + 'h', raw[70:72])[0]
    vox_offset = int(struct.unpack(endian + 'f', raw[108:112])[0])
    slope, inter = struct.unpack(endian + '2f', raw[112:120])
    if code not in _DTYPES:
        raise ValueError(f'{path}: NIfTI datatype {code} is not supported')
    shape = tuple(max(1, d) for d in dim[1:4])
    n = shape[0] * shape[1] * shape[2]
    dtype = np.dtype(endian + _DTYPES[code])
    if len(raw) < vox_offset + n * dtype.itemsize:
        raise ValueError(f'{path}: truncated: {shape[0]}×{shape[1]}×{shape[2]} voxels need {vox_offset + n * dtype.itemsize} bytes, the file has {len(raw)}')
    a = np.frombuffer(raw, dtype=dtype, count=n, offset=vox_offset).astype(np.float32)
    if slope not in (0.0, 1.0) or inter != 0.0:
        a = a * (slope if slope != 0 else 1.0) + inter
    # File order is x fastest: reading it C-order as [Z, Y, X] keeps that.
    a = a.reshape(shape[::-1])
    if not with_grid:
        return a
    grid = {
        'dims': shape,
        'pixdim': struct.unpack(endian + '8f', raw[76:108]),
        'xyzt_units': raw[123],
        'qform_code': struct.unpack(endian + 'h', raw[252:254])[0],
        'sform_code': struct.unpack(endian + 'h', raw[254:256])[0],
        'quatern': struct.unpack(endian + '3f', raw[256:268]),
        'qoffset': struct.unpack(endian + '3f', raw[268:280]),
        'srow': struct.unpack(endian + '12f', raw[280:328]),
    }
    return a, grid


def write_nifti(path, data, grid, description='hnfnet_torch'):
    """[Z, Y, X] array (uint8 or float32) → little-endian NIfTI-1 on `grid` (as read_nifti gave
    it), gzip-compressed when the name ends in .gz; written to a temporary name, then renamed."""
    if not re.search(r'\.nii(\.gz)?$', path, re.I):
        raise ValueError(f'{path}: output name must end in .nii or .nii.gz')
    data = np.ascontiguousarray(data)
    if data.shape != tuple(grid['dims'][::-1]):
        raise ValueError(f'{path}: data of shape {data.shape} is not on the grid {grid["dims"]} (x, y, z)')
    codes = {np.dtype('uint8'): (2, 8), np.dtype('float32'): (16, 32)}
    if data.dtype not in codes:
        raise ValueError(f'{path}: only uint8 and float32 volumes are written, got {data.dtype}')
    code, bits = codes[data.dtype]
    h = bytearray(352)
    struct.pack_into('<i', h, 0, 348)
    struct.pack_into('<8h', h, 40, 3, *grid['dims'], 1, 1, 1, 1)
    struct.pack_into('<2h', h, 70, code, bits)
    struct.pack_into('<8f', h, 76, *grid['pixdim'])
    struct.pack_into('<3f', h, 108, 352.0, 1.0, 0.0)
    h[123] = grid['xyzt_units']
    h[148:148 + len(description[:79])] = description[:79].encode('ascii')
    struct.pack_into('<2h', h, 252, grid['qform_code'], grid['sform_code'])
    struct.pack_into('<3f', h, 256, *grid['quatern'])
    struct.pack_into('<3f', h, 268, *grid['qoffset'])
    struct.pack_into('<12f', h, 280, *grid['srow'])
    h[344:348] = b'n+1\0'
    body = bytes(h) + data.astype(data.dtype.newbyteorder('<')).tobytes()
    if path.lower().endswith('.gz'):
        body = gzip.compress(body, 6)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + '.tmp', 'wb') as f:
        f.write(body)
    os.replace(path + '.tmp', path)


def find_cases(root):
    """{case id: {'images': {modality: path}, 'seg': path or None, 'et': label, 'folder': name, 'dir': path}}."""
    cases = {}
    for dirpath, _, files in os.walk(root):
        for fn in files:
            for pat, kinds, et in _NAMINGS:
                m = pat.match(fn)
                if not m:
                    continue
                c = cases.setdefault(m.group(1), {'images': {}, 'seg': None, 'et': et, 'folder': os.path.basename(dirpath), 'dir': os.path.normpath(dirpath)})
                kind = kinds[m.group(2).lower()]
                if kind == 'seg':
                    c['seg'] = os.path.join(dirpath, fn)
                else:
                    c['images'][kind] = os.path.join(dirpath, fn)
                break
    return {k: v for k, v in sorted(cases.items()) if len(v['images']) == 4}


def normalize_in_brain(imgs, mask, lower=0.5, upper=99.5):
    """Per modality: clip to the brain's [lower, upper] percentiles (numpy's linear method,
    which src/data/stats.ts reproduces) and z-score over the brain with the population std,
    statistics in float64 as the TS side computes them; background exactly 0."""
    out = np.zeros(imgs.shape, np.float32)
    for c in range(imgs.shape[0]):
        v = imgs[c][mask].astype(np.float64)
        if v.size == 0:
            continue
        p0, p1 = np.percentile(v, [lower, upper])
        v = np.clip(v, p0, p1)
        mean, std = v.mean(), v.std()
        out[c][mask] = ((v - mean) * (1.0 / std if std > 0 else 1.0)).astype(np.float32)
    return out


def brain_box(mask):
    """Slices [Z, Y, X] of the bounding box of the nonzero voxels."""
    idx = np.argwhere(mask)
    if not len(idx):
        raise ValueError('every image is zero everywhere: there is no brain to normalise')
    lo, hi = idx.min(0), idx.max(0) + 1
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def read_labels(path, et_label):
    """A BraTS segmentation → internal labels (1 NCR, 2 ED, 3 ET) as uint8 [Z, Y, X]."""
    s = read_nifti(path).astype(np.int64)
    labels = np.zeros(s.shape, np.uint8)
    labels[s == 1] = 1
    labels[s == 2] = 2
    labels[s == et_label] = 3
    return labels


def preprocess(case, lower=0.5, upper=99.5):
    """The paper's preprocessing, as src/data/preprocess.ts: brain = nonzero in any modality;
    crop to its box; normalize_in_brain. Returns (images [4, Z, Y, X], mask, labels or None)."""
    return preprocess_with_box(case, lower, upper)[:3]


def preprocess_with_box(case, lower=0.5, upper=99.5):
    """preprocess, plus where the crop came from: (images, mask, labels or None, box slices
    [Z, Y, X], the source's shape [Z, Y, X])."""
    imgs = np.stack([read_nifti(case['images'][m]) for m in MODALITIES])
    mask = (imgs != 0).any(0)
    sl = brain_box(mask)
    shape = mask.shape
    imgs, mask = imgs[(slice(None),) + sl], mask[sl]
    labels = read_labels(case['seg'], case['et'])[sl] if case['seg'] else None
    return normalize_in_brain(imgs, mask, lower, upper), mask, labels, sl, shape


def regions(labels):
    """Internal labels [...] → WT, TC, ET masks [3, ...] (float32)."""
    return np.stack([labels > 0, (labels == 1) | (labels == 3), labels == 3]).astype(np.float32)


# ---- folds ---------------------------------------------------------------------------

def kfold_assignment(ids, folds, seed):
    """Seeded shuffle of the sorted ids dealt round-robin (folds differ in size by ≤ 1). Not
    the TS generator's permutation: the run writes its split file so both sides share it."""
    ids_sorted = sorted(ids)
    perm = np.random.default_rng(seed).permutation(len(ids_sorted))
    fold = {ids_sorted[src]: pos % folds for pos, src in enumerate(perm)}
    return [fold[i] for i in ids]


def _entry_keys(e):
    keys = [e[k] for k in ('id', 'case', 'name') if isinstance(e.get(k), str)]
    img = e.get('image')
    first = img[0] if isinstance(img, list) and img else img if isinstance(img, str) else e.get('label')
    if isinstance(first, str):
        parts = [p for p in re.split(r'[\\/]', first) if p]
        if len(parts) >= 2:
            keys.append(parts[-2])
        for pat, _, _ in _NAMINGS:
            m = pat.match(parts[-1])
            if m:
                keys.append(m.group(1))
                break
    return keys


def folds_from_split_file(path, cases):
    """Fold of each case (order of `cases`) from a MONAI-style split file, as splits.ts matches entries."""
    with open(path) as f:
        js = json.load(f)
    entries = js if isinstance(js, list) else js['training']
    names = {}
    for i, (cid, c) in enumerate(cases.items()):
        for n in (cid, c['folder']):
            names.setdefault(n, i)
    out = [-1] * len(cases)
    for e in entries:
        hit = next((names[k] for k in _entry_keys(e) if k in names), None)
        if hit is None:
            continue
        if out[hit] not in (-1, e['fold']):
            raise ValueError(f'{path}: case {list(cases)[hit]} is listed in folds {out[hit]} and {e["fold"]}')
        out[hit] = e['fold']
    missing = [cid for cid, f in zip(cases, out) if f < 0]
    if missing:
        raise ValueError(f'{path}: {len(missing)} case(s) of the data set are not in it: {", ".join(missing[:10])}')
    return out


def write_split_file(path, cases, folds):
    entries = [{'fold': f, 'id': cid, 'image': [c['images'][m] for m in MODALITIES], **({'label': c['seg']} if c['seg'] else {})} for (cid, c), f in zip(cases.items(), folds)]
    with open(path, 'w') as f:
        json.dump({'training': entries}, f, indent=1)


# ---- patches and augmentation ---------------------------------------------------------

DEFAULT_AUGMENT = {'flip': {'prob': 0.5}, 'rotate': {'prob': 0.5, 'maxDegrees': 10}, 'intensityShift': {'prob': 1, 'max': 0.1}, 'intensityScale': {'prob': 1, 'min': 0.9, 'max': 1.1}}


def _rotation(deg):
    ax, ay, az = (math.radians(d) for d in deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def sample_patch(images, mask, labels, patch, rng, foreground_prob=1 / 3, augment=DEFAULT_AUGMENT):
    """One training patch (x, y, z sides in `patch`), cut, rotated and flipped in one resampling
    pass over the cropped case (images trilinear, mask and labels nearest; outside the brain
    exactly 0), then per-channel intensity scale and shift inside the brain, as augment.ts.
    Returns (image [4, Z, Y, X], regions [3, Z, Y, X]) as float32 tensors."""
    dims = np.array(images.shape[1:])[::-1]  # x, y, z
    fg = np.argwhere(labels > 0) if labels is not None else np.zeros((0, 3))
    if len(fg) and rng.random() < foreground_prob:
        # A tumour class first, then a voxel of it, so small classes get centred too.
        cls = rng.choice([k for k in (1, 2, 3) if (labels == k).any()])
        zyx = np.argwhere(labels == cls)[rng.integers(0, int((labels == cls).sum()))]
        centre = zyx[::-1].astype(np.float64)
    else:
        centre = np.array([rng.uniform(0, d - 1) for d in dims])
    a = augment or {}
    flip = [bool(a and rng.random() < a['flip']['prob']) for _ in range(3)]
    deg = [rng.uniform(-a['rotate']['maxDegrees'], a['rotate']['maxDegrees']) if a and rng.random() < a['rotate']['prob'] else 0.0 for _ in range(3)]
    R = _rotation(deg)
    px, py, pz = patch
    off = [np.arange(s) - (s - 1) / 2 for s in (px, py, pz)]
    gz, gy, gx = np.meshgrid(off[2], off[1], off[0], indexing='ij')
    o = np.stack([gx, gy, gz], -1)
    for i in range(3):
        if flip[i]:
            o[..., i] = -o[..., i]
    src = o @ R.T + centre  # voxel coords (x, y, z)
    # grid_sample wants (x, y, z) normalised to [-1, 1] over the volume with align_corners=True.
    grid = torch.from_numpy(2 * src / np.maximum(dims - 1, 1) - 1).float()[None]
    # A copy: the case may be a read-only memory map (case_cache.py).
    vol = torch.from_numpy(np.array(images, dtype=np.float32))[None]
    img = F.grid_sample(vol, grid, mode='bilinear', padding_mode='zeros', align_corners=True)[0]
    m = F.grid_sample(torch.from_numpy(mask.astype(np.float32))[None, None], grid, mode='nearest', padding_mode='zeros', align_corners=True)[0]
    img = img * m
    if labels is not None:
        lab = F.grid_sample(torch.from_numpy(labels.astype(np.float32))[None, None], grid, mode='nearest', padding_mode='zeros', align_corners=True)[0, 0]
        reg = torch.from_numpy(regions(lab.round().numpy().astype(np.uint8)))
    else:
        reg = torch.zeros((3,) + img.shape[1:])
    if a:
        for c in range(img.shape[0]):
            scale = rng.uniform(a['intensityScale']['min'], a['intensityScale']['max']) if rng.random() < a['intensityScale']['prob'] else 1.0
            shift = rng.uniform(-a['intensityShift']['max'], a['intensityShift']['max']) if rng.random() < a['intensityShift']['prob'] else 0.0
            img[c] = (img[c] * scale + shift) * m[0]
    return img.contiguous(), reg
