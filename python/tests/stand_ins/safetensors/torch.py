"""The two calls of `safetensors.torch` that hnfnet_torch uses, save(tensors, metadata) → bytes
and load(bytes) → {name: tensor}, written from the format's description (not from
hnfnet_torch's reader): 8-byte little-endian header size, JSON header with dtype, shape and
data_offsets per tensor, raw little-endian data. Tensors are laid out largest dtype first,
then by name, as the reference writer orders them; CALLS counts what was used."""
import json
import struct

import torch

CALLS = {'save': 0, 'load': 0}
_CODES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8'}
_TYPES = {v: k for k, v in _CODES.items()}


def save(tensors, metadata=None):
    CALLS['save'] += 1
    order = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, blobs, at = {}, [], 0
    if metadata is not None:
        header['__metadata__'] = metadata
    for n in order:
        t = tensors[n]
        raw = t.numpy().tobytes()  # little-endian on every machine this runs on
        header[n] = {'dtype': _CODES[t.dtype], 'shape': list(t.shape), 'data_offsets': [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    return struct.pack('<Q', len(text)) + text + b''.join(blobs)


def load(data):
    CALLS['load'] += 1
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    header.pop('__metadata__', None)
    out = {}
    for name, e in header.items():
        a, b = e['data_offsets']
        raw = bytearray(data[8 + n + a:8 + n + b])
        out[name] = torch.frombuffer(raw, dtype=_TYPES[e['dtype']]).reshape(e['shape']).clone() if raw else torch.zeros(e['shape'], dtype=_TYPES[e['dtype']])
    return out
