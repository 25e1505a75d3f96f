"""Preprocessed cases on disk for the trainer. Each case is preprocessed once (data.preprocess,
the paper's recipe) into CACHE/<id>.images.npy, .mask.npy and .labels.npy, which every rank
and loader worker then memory-maps: a full BraTS training set (~1,250 cases, ~35 GB
preprocessed) need not fit in each process's memory, and the next fold's run reuses the files.
A case's sources (path, size, mtime) are recorded in CACHE/<id>.json, written last, so a
half-written case or a changed source is preprocessed again. A case from a training bundle
(bundle.py) brings its own stamp (its member's SHA-256) and its own loader instead."""
import json
import os

import numpy as np
import torch.distributed as dist

from .data import preprocess

_PARTS = ('images', 'mask', 'labels')


def _stamp(case):
    if 'stamp' in case:
        return case['stamp']
    paths = sorted(case['images'].values()) + ([case['seg']] if case['seg'] else [])
    return [[p, os.stat(p).st_size, os.stat(p).st_mtime_ns] for p in paths]


def _fresh(cache_dir, cid, stamp):
    try:
        with open(os.path.join(cache_dir, f'{cid}.json')) as f:
            return json.load(f) == stamp and all(os.path.exists(os.path.join(cache_dir, f'{cid}.{p}.npy')) for p in _PARTS)
    except (OSError, ValueError):
        return False


def _save(path, array):
    tmp = path + '.tmp.npy'
    np.save(tmp, array)
    os.replace(tmp, path)


def prepare(cases, ids, cache_dir):
    """Preprocesses into cache_dir the cases of `ids` that are not there yet (or changed).
    The ranks of a node share the work (by LOCAL_RANK), every node fills its own view of the
    folder (on a shared file system the renames make the duplicate writes harmless), and all
    ranks wait for the slowest. Returns (preprocessed here, already there)."""
    os.makedirs(cache_dir, exist_ok=True)
    local = int(os.environ.get('LOCAL_RANK', '0'))
    per_node = int(os.environ.get('LOCAL_WORLD_SIZE', os.environ.get('WORLD_SIZE', '1')))
    done = reused = 0
    for i, cid in enumerate(ids):
        stamp = _stamp(cases[cid])
        if _fresh(cache_dir, cid, stamp):
            reused += 1
            continue
        if i % per_node != local:
            continue
        images, mask, labels = cases[cid]['load']() if 'load' in cases[cid] else preprocess(cases[cid])
        _save(os.path.join(cache_dir, f'{cid}.images.npy'), images)
        _save(os.path.join(cache_dir, f'{cid}.mask.npy'), mask.astype(np.uint8))
        _save(os.path.join(cache_dir, f'{cid}.labels.npy'), labels if labels is not None else np.zeros(mask.shape, np.uint8))
        with open(os.path.join(cache_dir, f'{cid}.json.tmp'), 'w') as f:
            json.dump(stamp, f)
        os.replace(os.path.join(cache_dir, f'{cid}.json.tmp'), os.path.join(cache_dir, f'{cid}.json'))
        done += 1
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    return done, reused


def load(cache_dir, cid):
    """(images [4, Z, Y, X] float32, brain mask bool, internal labels uint8), memory-mapped."""
    part = {p: np.load(os.path.join(cache_dir, f'{cid}.{p}.npy'), mmap_mode='r') for p in _PARTS}
    return part['images'], part['mask'].astype(bool), part['labels']
