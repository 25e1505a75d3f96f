/** Errors that name what went wrong: the op, the shapes, the limit. */
export class HnfnetError extends Error {
  override name = 'HnfnetError';
}

/** Shapes that do not fit together (broadcast, matmul, cat, reshape...). */
export class ShapeError extends HnfnetError {
  override name = 'ShapeError';
}

/** A tensor or dispatch beyond what the device allows. */
export class LimitError extends HnfnetError {
  override name = 'LimitError';
}

/** The GPU device was lost (driver reset, destroy(), out of memory on some drivers). */
export class DeviceLostError extends HnfnetError {
  override name = 'DeviceLostError';
}

/** A WebGPU validation or out-of-memory error, attributed to the op that caused it. */
export class GPUOpError extends HnfnetError {
  override name = 'GPUOpError';
}

/** No WebGPU adapter could be had. */
export class NoAdapterError extends HnfnetError {
  override name = 'NoAdapterError';
}

export class NotImplementedError extends HnfnetError {
  override name = 'NotImplementedError';
}

/** Use of a tensor after dispose(), or of a graph after backward freed it. */
export class DisposedError extends HnfnetError {
  override name = 'DisposedError';
}
