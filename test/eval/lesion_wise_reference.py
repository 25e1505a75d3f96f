#!/usr/bin/env python3
"""Independent reference for BraTS 2023 lesion-wise Dice and HD95 (test/eval/lesion-wise.test.ts).

Follows the challenge scorer's recipe with numpy and scipy.ndimage only, on arrays in NIfTI's
(x, y, z) axis order as nibabel gives them: 26-connected labelling (scipy.ndimage.label with a
full 3x3x3 structure, standing in for cc3d), the ground truth dilated 3 times with
generate_binary_structure(3, 2), lesions = GT voxels per dilated component, matches against each
lesion's own dilation, and the surface-distance HD95 (2x2x2 neighbour codes by correlation,
surfel areas from the marching-cubes normals, distance_transform_edt on the corner grid,
area-weighted percentile by cumsum/searchsorted). The surfel normals are read from
src/eval/surfels.ts (the reference's numbers, transcribed there).

Usage: python3 test/eval/lesion_wise_reference.py [cases.json] [out.json]
Needs numpy and scipy; reads the real cases' .nii.gz with its own small reader.
"""
import gzip
import json
import os
import re
import struct
import sys

import numpy as np
import scipy.ndimage as ndi

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
PENALTY = 374.0
DILATION = 3
MIN_VOLUME = 50.0


def normals_table():
    src = open(os.path.join(REPO, 'src', 'eval', 'surfels.ts')).read()
    body = src[src.index('const TRIANGLES'):]
    body = body[body.index('[') + 1:body.index('];')]
    first = re.findall(r"'([0-9 ]*)'", body)
    assert len(first) == 128, len(first)
    table = []
    for code in range(256):
        s = first[code] if code < 128 else first[255 - code]
        table.append([[int(t[0]) / 8, int(t[1]) / 8, int(t[2]) / 8] for t in s.split()] or [[0, 0, 0]])
    return table


NORMALS = normals_table()


def surface_distances(mask_gt, mask_pred, spacing):
    """Both directions' (distances, areas), sorted by distance then area; arrays in (x, y, z)."""
    areas = np.zeros(256)
    for code in range(256):
        total = 0.0
        for nrm in NORMALS[code]:
            n = np.array([nrm[0] * spacing[1] * spacing[2], nrm[1] * spacing[0] * spacing[2], nrm[2] * spacing[0] * spacing[1]])
            total += np.linalg.norm(n)
        areas[code] = total
    both = mask_gt | mask_pred
    if not both.any():
        return (np.array([]), np.array([])), (np.array([]), np.array([]))
    lo = [np.nonzero(both.any(axis=tuple(j for j in range(3) if j != k)))[0].min() for k in range(3)]
    hi = [np.nonzero(both.any(axis=tuple(j for j in range(3) if j != k)))[0].max() for k in range(3)]
    sl = tuple(slice(lo[k], hi[k] + 1) for k in range(3))
    size = tuple(hi[k] - lo[k] + 2 for k in range(3))
    g = np.zeros(size, np.uint8)
    p = np.zeros(size, np.uint8)
    g[:-1, :-1, :-1] = mask_gt[sl]
    p[:-1, :-1, :-1] = mask_pred[sl]
    kernel = np.array([[[128, 64], [32, 16]], [[8, 4], [2, 1]]])
    code_g = ndi.correlate(g.astype(np.int32), kernel, mode='constant', cval=0)
    code_p = ndi.correlate(p.astype(np.int32), kernel, mode='constant', cval=0)
    border_g = (code_g != 0) & (code_g != 255)
    border_p = (code_p != 0) & (code_p != 255)
    dist_g = ndi.distance_transform_edt(~border_g, sampling=spacing) if border_g.any() else np.inf * np.ones(border_g.shape)
    dist_p = ndi.distance_transform_edt(~border_p, sampling=spacing) if border_p.any() else np.inf * np.ones(border_p.shape)

    def side(border, codes, dist_other):
        d = dist_other[border]
        a = areas[codes[border]]
        if d.size:
            s = np.array(sorted(zip(d, a)))
            d, a = s[:, 0], s[:, 1]
        return d, a

    return side(border_g, code_g, dist_p), side(border_p, code_p, dist_g)


def robust_hausdorff(sd, percent=95):
    out = []
    for d, a in sd:
        if len(d) == 0:
            out.append(np.inf)
            continue
        cum = np.cumsum(a) / np.sum(a)
        idx = np.searchsorted(cum, percent / 100.0)
        out.append(d[min(idx, len(d) - 1)])
    return max(out)


def label26(mask):
    lab, n = ndi.label(mask, structure=np.ones((3, 3, 3), int))
    return lab, n


def lesion_wise(pred, gt, spacing):
    """pred, gt: bool arrays in (x, y, z); spacing (sx, sy, sz)."""
    sx, sy, sz = spacing
    struct18 = ndi.generate_binary_structure(3, 2)
    pred_cc, _ = label26(pred)
    gt_dil = ndi.binary_dilation(gt, structure=struct18, iterations=DILATION) if gt.any() else gt.copy()
    dil_cc, n_dil = label26(gt_dil)
    lesions_map = np.where(gt, dil_cc, 0)
    tp_components = set()
    rows = []
    for comp in range(1, n_dil + 1):
        les = lesions_map == comp
        les_dil = ndi.binary_dilation(les, structure=struct18, iterations=DILATION)
        hits = np.unique(pred_cc[les_dil])
        hits = [int(h) for h in hits if h != 0]
        tp_components.update(hits)
        union = np.isin(pred_cc, hits) & (pred_cc != 0)
        inter = np.logical_and(union, les).sum()
        dice = 2.0 * inter / (union.sum() + les.sum())
        hd = robust_hausdorff(surface_distances(les.astype(np.uint8), union.astype(np.uint8), spacing))
        if np.isinf(hd):
            hd = PENALTY
        vol = np.sum(les) * sx * sy * sz
        rows.append({'voxels': int(les.sum()), 'volume': float(vol), 'matched': len(hits), 'dice': float(dice), 'hd95': float(hd)})
    fp = len(set(int(c) for c in np.unique(pred_cc) if c != 0) - tp_components)
    kept = [r for r in rows if r['volume'] > MIN_VOLUME]
    n = len(kept) + fp
    dice = float(np.sum([r['dice'] for r in kept]) / n) if n else 1.0
    hd95 = float((np.sum([r['hd95'] for r in kept]) + fp * PENALTY) / n) if n else 0.0
    tp = sum(1 for r in kept if r['matched'] > 0)
    return {'dice': dice, 'hd95': hd95, 'tp': tp, 'fn': len(kept) - tp, 'fp': fp, 'lesions': rows}


def read_nifti(path):
    raw = gzip.open(path).read() if path.endswith('.gz') else open(path, 'rb').read()
    dims = struct.unpack('<8h', raw[40:56])
    datatype = struct.unpack('<h', raw[70:72])[0]
    pixdim = struct.unpack('<8f', raw[76:108])
    offset = int(struct.unpack('<f', raw[108:112])[0])
    dtype = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64, 512: np.uint16}[datatype]
    nx, ny, nz = dims[1:4]
    data = np.frombuffer(raw, dtype=dtype, count=nx * ny * nz, offset=offset).reshape((nx, ny, nz), order='F')
    return data.astype(np.float64), tuple(float(np.float32(abs(p))) for p in pixdim[1:4])


def paint(vol, prims):
    """vol in (x, y, z); primitives in [d, h, w] = [z, y, x] coordinates, as the TS side uses."""
    for p in prims:
        if 'box' in p:
            (d0, h0, w0), (d1, h1, w1) = p['box']
            vol[w0:w1, h0:h1, d0:d1] = p['label']
        elif 'ball' in p:
            (cd, ch, cw), r = p['ball']
            x, y, z = np.indices(vol.shape)
            vol[(z - cd) ** 2 + (y - ch) ** 2 + (x - cw) ** 2 <= r * r] = p['label']
        else:
            raise ValueError(f'unknown primitive {p}')


def build(spec, side, cases_dir):
    s = spec[side]
    if 'file' in s:
        vol, spacing = read_nifti(os.path.join(cases_dir, s['file']))
        vol = vol.copy()
        if 'shift' in s:
            dz, dy, dx = s['shift']
            out = np.zeros_like(vol)
            X, Y, Z = vol.shape
            src = vol[max(0, -dx):X - max(0, dx), max(0, -dy):Y - max(0, dy), max(0, -dz):Z - max(0, dz)]
            out[max(0, dx):X - max(0, -dx), max(0, dy):Y - max(0, -dy), max(0, dz):Z - max(0, -dz)] = src
            vol = out
    else:
        d, h, w = spec['shape']
        vol = np.zeros((w, h, d))
        spacing = None
    paint(vol, s.get('paint', []))
    return vol, spacing


def regions(vol, et):
    v = np.rint(vol)
    return {'WT': np.isin(v, [1, 2, et]), 'TC': np.isin(v, [1, et]), 'ET': v == et}


def main():
    cases_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'fixtures', 'lesion-wise-cases.json')
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, 'fixtures', 'lesion-wise-reference.json')
    spec = json.load(open(cases_path))
    cases_dir = os.path.abspath(os.path.join(REPO, spec['dataRoot']))
    out = {'generator': 'test/eval/lesion_wise_reference.py', 'numpy': np.__version__, 'scipy': __import__('scipy').__version__, 'cases': {}}
    for case in spec['cases'] + spec.get('realCases', []):
        gt, gt_spacing = build(case, 'gt', cases_dir)
        pred, pred_spacing = build(case, 'pred', cases_dir)
        # The prediction's header decides: [sd, sh, sw] in the spec, (sx, sy, sz) here.
        if 'spacing' in case:
            sd, sh, sw = case['spacing']
            spacing = (sw, sh, sd)
        else:
            spacing = pred_spacing or gt_spacing
        et = case.get('etLabel', 4)
        g, p = regions(gt, et), regions(pred, et)
        out['cases'][case['name']] = {r: lesion_wise(p[r], g[r], spacing) for r in ('ET', 'TC', 'WT')}
        print(case['name'], {r: (round(v['dice'], 6), round(v['hd95'], 4), v['tp'], v['fn'], v['fp']) for r, v in out['cases'][case['name']].items()}, file=sys.stderr)
    json.dump(out, open(out_path, 'w'), indent=1)
    open(out_path, 'a').write('\n')


if __name__ == '__main__':
    main()
