"""The safetensors format (8-byte little-endian header length, JSON header, raw little-endian
data). Tensors go through the `safetensors` package where it is installed; Debian's
python3-torch comes without it, so a small reader/writer of the format is the fallback
(byte-compatible with src/nn/safetensors.ts). Metadata is read from the header either way."""
import json
import struct

import numpy as np
import torch

try:
    from safetensors import torch as _reference
except ImportError:
    _reference = None

# Which implementation moves the tensors: 'safetensors' (the package) or 'builtin'.
BACKEND = 'safetensors' if _reference is not None else 'builtin'

_NP = {
    'F64': np.float64, 'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32,
    'I16': np.int16, 'I8': np.int8, 'U8': np.uint8, 'BOOL': np.bool_,
}
_TORCH_TO_ST = {
    torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',
    torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8', torch.bool: 'BOOL',
}


class SafetensorsError(ValueError):
    pass


def decode(data, source='safetensors data'):
    """bytes → ({name: tensor}, metadata)."""
    if len(data) < 8:
        raise SafetensorsError(f'{source}: {len(data)} bytes is too short for a safetensors file (truncated?)')
    (hlen,) = struct.unpack('<Q', data[:8])
    if hlen > len(data) - 8:
        raise SafetensorsError(f"{source}: header length {hlen} exceeds the file's {len(data)} bytes")
    header = json.loads(bytes(data[8:8 + hlen]).decode('utf-8'))
    body = memoryview(data)[8 + hlen:]
    metadata = header.pop('__metadata__', None) or {}
    if _reference is not None:
        try:
            return dict(_reference.load(bytes(data))), metadata
        except Exception as e:  # the package raises its own error types
            raise SafetensorsError(f'{source}: {e}') from e
    tensors = {}
    for name, e in header.items():
        dtype, shape, (b, end) = e['dtype'], e['shape'], e['data_offsets']
        if end > len(body):
            raise SafetensorsError(f'{source}: "{name}" ends at byte {end} of the data, which has only {len(body)} (truncated)')
        if dtype == 'BF16':
            raw = np.frombuffer(body[b:end], dtype='<u2').astype(np.int32) << 16
            t = torch.from_numpy(raw.view(np.float32).copy()).to(torch.bfloat16)
        else:
            arr = np.frombuffer(body[b:end], dtype=np.dtype(_NP[dtype]).newbyteorder('<'))
            if arr.size != int(np.prod(shape)):
                raise SafetensorsError(f'{source}: "{name}" spans {end - b} bytes, not {dtype}{shape}')
            t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder('='), copy=True))
        tensors[name] = t.reshape(shape)
    return tensors, metadata


def encode(tensors, metadata=None):
    """{name: tensor} (+ str → str metadata) → bytes; names sorted, as the TS writer does."""
    names = sorted(tensors)
    if _reference is not None:
        md = {str(k): str(v) for k, v in metadata.items()} if metadata else None
        return _reference.save({n: tensors[n].detach().cpu().contiguous() for n in names}, md)
    header = {}
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    chunks, off = [], 0
    for n in names:
        t = tensors[n].detach().cpu().contiguous()
        st = _TORCH_TO_ST[t.dtype]
        if st == 'BF16':
            raw = (t.float().numpy().view(np.uint32) >> 16).astype('<u2').tobytes()
        else:
            raw = t.numpy().astype(np.dtype(_NP[st]).newbyteorder('<'), copy=False).tobytes()
        header[n] = {'dtype': st, 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    js = json.dumps(header, separators=(',', ':')).encode('utf-8')
    # Data 8-byte aligned, as the reference writer pads it.
    js += b' ' * ((-(8 + len(js))) % 8)
    return struct.pack('<Q', len(js)) + js + b''.join(chunks)


def load_file(path):
    with open(path, 'rb') as f:
        return decode(f.read(), str(path))


def save_file(path, tensors, metadata=None):
    data = encode(tensors, metadata)
    with open(path, 'wb') as f:
        f.write(data)
