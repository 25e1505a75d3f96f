"""A training bundle: preprocessed, brain-cropped cases in one file, so a machine without the
NIfTI sources (a GPU server) trains from it alone. `python3 -m hnfnet_torch.pack` writes one.

The file is a plain tar of
  cases/<id>.npz.bz2 per case: a bzip2-compressed .npz of `images` (uint8 [2, 4, Z, Y, X]), `mask`
                     and `labels` (uint8 [Z, Y, X], internal labels 1 NCR, 2 ED, 3 ET)
  manifest.json      FORMAT, the quantisation step, and per case its id, cropped shape, brain box
                     and source shape (to uncrop), the sources' names, sizes and SHA-256, and the
                     member's size and SHA-256 (checked on every read)

`images` are data.preprocess's float32 volumes quantised to multiples of `step` (a power of
two, so q · step is exact in float32 and the error is at most step / 2), then coded for the
compressor: differences along x (neighbouring voxels are alike), zigzag-mapped to unsigned
(small magnitudes → small numbers) and split into a low and a high byte plane (the high plane is
almost all zero). Voxels outside the brain stay exactly 0."""
import bz2
import functools
import hashlib
import io
import json
import os
import tarfile
import zipfile

import numpy as np

FORMAT = 'hnfnet-bundle-1'
MANIFEST = 'manifest.json'
# The largest |image / step|: neighbours then differ by at most 2·_MAX_Q, which zigzags into 16 bits.
_MAX_Q = (1 << 14) - 1


class BundleError(ValueError):
    pass


def encode_images(images, step):
    """float32 [C, Z, Y, X] → (uint8 [2, C, Z, Y, X] byte planes, max abs quantisation error)."""
    q = np.rint(images / np.float32(step)).astype(np.int32)
    peak = int(np.abs(q).max()) if q.size else 0
    if peak > _MAX_Q:
        raise BundleError(f'an image value of {peak * step:.4g} is beyond {_MAX_Q} steps of {step}: use a coarser --step')
    d = np.diff(q, axis=-1, prepend=0)
    z = (d << 1) ^ (d >> 31)
    planes = np.stack([z & 0xFF, z >> 8]).astype(np.uint8)
    err = float(np.abs(decode_images(planes, step) - images).max()) if q.size else 0.0
    return planes, err


def decode_images(planes, step):
    """encode_images's byte planes → float32 [C, Z, Y, X]."""
    z = planes[0].astype(np.int32) | (planes[1].astype(np.int32) << 8)
    d = (z >> 1) ^ -(z & 1)
    return (np.cumsum(d, axis=-1, dtype=np.int32) * np.float32(step)).astype(np.float32)


def encode_case(images, mask, labels, step):
    """(compressed member bytes, max abs error of the images)."""
    planes, err = encode_images(images, step)
    buf = io.BytesIO()
    np.savez(buf, images=planes, mask=mask.astype(np.uint8), labels=labels.astype(np.uint8))
    # bzip2 packs these planes as tightly as xz does (within 0.1 %) in a fifteenth of the time.
    return bz2.compress(buf.getvalue(), 9), err


def _sha256(b):
    return hashlib.sha256(b).hexdigest()


def file_stamp(path):
    with open(path, 'rb') as f:
        raw = f.read()
    return {'file': os.path.basename(path), 'bytes': len(raw), 'sha256': _sha256(raw)}


class BundleWriter:
    """Adds cases one at a time; close() writes the manifest and renames the file into place."""

    def __init__(self, path, step, preprocessing):
        if not (step > 0 and np.log2(step) == round(np.log2(step))):
            raise BundleError(f'--step must be a power of two (1/16, 1/32, …), got {step}')
        self.path, self.step, self.tmp = path, step, path + '.tmp'
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.tar = tarfile.open(self.tmp, 'w', format=tarfile.PAX_FORMAT)
        self.manifest = {'format': FORMAT, 'step': step, 'preprocessing': preprocessing,
                         'images': 'quantised to multiples of step, x-differences, zigzag, low/high byte planes', 'cases': []}

    def _add(self, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def add(self, cid, images, mask, labels, box, source_shape, meta):
        data, err = encode_case(images, mask, labels, self.step)
        member = f'cases/{cid}.npz.bz2'
        self._add(member, data)
        self.manifest['cases'].append({
            'id': cid, 'member': member, 'bytes': len(data), 'sha256': _sha256(data), 'shape': list(mask.shape),
            'box': [[s.start, s.stop] for s in box], 'source_shape': list(source_shape), 'max_abs_error': err, **meta})
        return len(data), err

    def close(self):
        cases = self.manifest['cases']
        self.manifest['max_abs_error'] = max((c['max_abs_error'] for c in cases), default=0.0)
        self._add(MANIFEST, json.dumps(self.manifest, indent=1).encode())
        self.tar.close()
        os.replace(self.tmp, self.path)


class Bundle:
    """A bundle opened for reading: the manifest is read and every member found whole in the
    file (a cut-off copy is refused here, before any training)."""

    def __init__(self, path):
        self.path = path
        try:
            # tarfile checks that every member lies whole inside the file ("unexpected end of data").
            with tarfile.open(path, 'r:') as tar:
                members = {m.name: m for m in tar.getmembers()}
        except tarfile.TarError as e:
            raise BundleError(f'{path}: not a readable training bundle (a tar file): {e}') from e
        if MANIFEST not in members:
            raise BundleError(f'{path}: no {MANIFEST} in it: not a training bundle of hnfnet_torch.pack, or cut off before its end')
        self._members = members
        try:
            manifest = json.loads(self._read(MANIFEST))
        except ValueError as e:
            raise BundleError(f'{path}: {MANIFEST} is not valid JSON ({e})') from e
        if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
            raise BundleError(f'{path}: bundle format {manifest.get("format") if isinstance(manifest, dict) else None!r}; this twin reads {FORMAT!r}')
        self.manifest = manifest
        self.cases = {c['id']: c for c in manifest['cases']}
        for c in manifest['cases']:
            if c['member'] not in members:
                raise BundleError(f'{path}: {c["member"]} of case {c["id"]} is listed in the manifest but not in the file')

    def _read(self, name):
        m = self._members[name]
        with open(self.path, 'rb') as f:
            f.seek(m.offset_data)
            return f.read(m.size)

    def load(self, cid):
        """(images float32 [4, Z, Y, X], mask bool, labels uint8) of case `cid`, its bytes checked."""
        c = self.cases[cid]
        where = f'{self.path}: {c["member"]}'
        data = self._read(c['member'])
        if _sha256(data) != c['sha256']:
            raise BundleError(f'{where}: corrupt (its SHA-256 is not the one in {MANIFEST})')
        try:
            arrays = np.load(io.BytesIO(bz2.decompress(data)))
            planes, mask, labels = arrays['images'], arrays['mask'], arrays['labels']
        except (EOFError, zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
            raise BundleError(f'{where}: not a readable case ({type(e).__name__}: {e})') from e
        shape = tuple(c['shape'])
        if mask.shape != shape or labels.shape != shape or planes.shape[0] != 2 or planes.shape[2:] != shape:
            raise BundleError(f'{where}: arrays of shapes {planes.shape}, {mask.shape}, {labels.shape} do not match the manifest\'s {shape}')
        return decode_images(planes, self.manifest['step']), mask.astype(bool), labels

    def training_cases(self):
        """{id: case} in the form train.py takes from data.find_cases, for the cases with labels;
        each also carries its cache stamp and a loader (case_cache.prepare uses them)."""
        out = {}
        for cid, c in sorted(self.cases.items()):
            if not c['labels']:
                continue
            src = {s['kind']: s['file'] for s in c['sources']}
            out[cid] = {'images': {k: v for k, v in src.items() if k != 'seg'}, 'seg': src.get('seg'), 'folder': c['folder'],
                        'stamp': {'bundle_member_sha256': c['sha256'], 'format': FORMAT}, 'load': functools.partial(self.load, cid)}
        return out
