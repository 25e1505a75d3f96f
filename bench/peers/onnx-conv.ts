/**
 * A one-node ONNX model (Conv, N-D) serialised by hand, so the bench needs neither the
 * `onnx` Python package nor a model file on disk. Only the protobuf wire format is
 * needed: varints (wire type 0) and length-delimited fields (wire type 2). Field numbers
 * are those of onnx/onnx.proto (proto2); each message below names its own.
 */

const VARINT = 0;
const LEN = 2;

/** onnx.proto TensorProto.DataType.FLOAT (also TypeProto.Tensor.elem_type). */
const ONNX_FLOAT = 1;
/** onnx.proto AttributeProto.AttributeType.INTS. */
const ATTR_INTS = 7;

type Bytes = Uint8Array;

function varint(n: number): Bytes {
  // Everything we encode is a size, a count or a field tag: negative int64s (ten-byte
  // two's-complement varints) never occur, so they are refused rather than supported.
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`onnx-conv: cannot encode ${n} as a varint`);
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

function concat(parts: readonly Bytes[]): Bytes {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const tag = (field: number, wire: number): Bytes => varint(field * 8 + wire);
const int = (field: number, n: number): Bytes => concat([tag(field, VARINT), varint(n)]);
const bytes = (field: number, b: Bytes): Bytes => concat([tag(field, LEN), varint(b.length), b]);
const str = (field: number, s: string): Bytes => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, parts: readonly Bytes[]): Bytes => bytes(field, concat(parts));

/** AttributeProto{name=1, type=20, ints=8}. `ints` is written unpacked, which proto2 parsers always accept. */
function intsAttribute(name: string, values: readonly number[]): Bytes {
  return msg(5 /* NodeProto.attribute */, [str(1, name), int(20, ATTR_INTS), ...values.map((v) => int(8, v))]);
}

/** TensorProto{dims=1, data_type=2, name=8, raw_data=9}; raw_data is little-endian float32. */
function floatInitializer(name: string, dims: readonly number[], data: Float32Array): Bytes {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`onnx-conv: ${name} has ${data.length} values for shape [${dims.join(',')}]`);
  const le = new Uint8Array(data.length * 4);
  const view = new DataView(le.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return msg(5 /* GraphProto.initializer */, [...dims.map((d) => int(1, d)), int(2, ONNX_FLOAT), str(8, name), bytes(9, le)]);
}

/**
 * ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: Tensor{elem_type=1,
 * shape=2: TensorShapeProto{dim=1: Dimension{dim_value=1}}}}}.
 */
function floatValueInfo(field: number, name: string, shape: readonly number[]): Bytes {
  const dims = shape.map((d) => msg(1, [int(1, d)]));
  return msg(field, [str(1, name), msg(2, [msg(1, [int(1, ONNX_FLOAT), msg(2, dims)])])]);
}

export interface ConvModelSpec {
  /** Input shape, channels first: [N, C, ...spatial]. */
  inputShape: readonly number[];
  /** Weight [Cout, Cin, ...kernel], row-major. */
  weight: Float32Array;
  weightShape: readonly number[];
  /** Per output channel; omitted: the Conv node gets no bias input. */
  bias?: Float32Array;
  /** One per spatial axis. */
  strides: readonly number[];
  /** Symmetric padding, one per spatial axis (ONNX wants begins then ends). */
  pads: readonly number[];
}

/** The output shape of the convolution `spec` describes (no dilation). */
export function convOutputShape(spec: ConvModelSpec): number[] {
  const spatial = spec.inputShape.slice(2).map((n, i) => {
    const k = spec.weightShape[2 + i]!;
    return Math.floor((n + 2 * spec.pads[i]! - k) / spec.strides[i]!) + 1;
  });
  return [spec.inputShape[0]!, spec.weightShape[0]!, ...spatial];
}

/**
 * Serialised ModelProto (ir_version 8, opset 17) with graph inputs X, initializers W (and
 * B), and output Y = Conv(X, W[, B]). Shapes are fixed so ORT can plan memory up front.
 */
export function convModel(spec: ConvModelSpec): Uint8Array {
  const rank = spec.inputShape.length - 2;
  if (spec.weightShape.length !== rank + 2 || spec.strides.length !== rank || spec.pads.length !== rank) {
    throw new Error('onnx-conv: input, weight, strides and pads disagree on the number of spatial axes');
  }
  if (spec.weightShape[1] !== spec.inputShape[1]) throw new Error('onnx-conv: weight input channels differ from the input');
  const inputs = spec.bias ? ['X', 'W', 'B'] : ['X', 'W'];
  // NodeProto{input=1, output=2, name=3, op_type=4, attribute=5}.
  const node = msg(1 /* GraphProto.node */, [
    ...inputs.map((n) => str(1, n)),
    str(2, 'Y'),
    str(3, 'conv'),
    str(4, 'Conv'),
    intsAttribute('kernel_shape', spec.weightShape.slice(2)),
    intsAttribute('pads', [...spec.pads, ...spec.pads]),
    intsAttribute('strides', spec.strides),
  ]);
  // GraphProto{node=1, name=2, initializer=5, input=11, output=12}.
  const graph = msg(7 /* ModelProto.graph */, [
    node,
    str(2, 'conv'),
    floatInitializer('W', spec.weightShape, spec.weight),
    ...(spec.bias ? [floatInitializer('B', [spec.weightShape[0]!], spec.bias)] : []),
    floatValueInfo(11, 'X', spec.inputShape),
    floatValueInfo(12, 'Y', convOutputShape(spec)),
  ]);
  // ModelProto{ir_version=1, producer_name=2, graph=7, opset_import=8: OperatorSetIdProto{domain=1, version=2}}.
  return concat([int(1, 8), str(2, 'hnfnet-bench'), graph, msg(8, [str(1, ''), int(2, 17)])]);
}
