/**
 * The library's errors. Each names what went wrong (the op, the shape, the limit, the file) and
 * carries a stable `code` that programs may test; messages are for people and may change.
 * Every class in hnfnet that a user can cause extends HnfnetError (the CLI prints them as one
 * line); a plain `Error` from hnfnet is a bug.
 */
export class HnfnetError extends Error {
  override name = 'HnfnetError';
  readonly code: string = 'HNFNET';
}

/** A value a function does not accept: out of range, of the wrong kind, inconsistent with another. */
export class ArgumentError extends HnfnetError {
  override name = 'ArgumentError';
  override readonly code = 'ARGUMENT';
}

/** An invariant of hnfnet's own code broke: a bug to report, not something the input did. */
export class InternalError extends HnfnetError {
  override name = 'InternalError';
  override readonly code = 'INTERNAL';
}

/** Shapes that do not fit together (broadcast, matmul, cat, reshape...). */
export class ShapeError extends HnfnetError {
  override name = 'ShapeError';
  override readonly code = 'SHAPE';
}

/** A tensor or dispatch beyond what the device allows. */
export class LimitError extends HnfnetError {
  override name = 'LimitError';
  override readonly code = 'LIMIT';
}

/** The GPU device was lost (driver reset, destroy(), out of memory on some drivers). */
export class DeviceLostError extends HnfnetError {
  override name = 'DeviceLostError';
  override readonly code = 'DEVICE_LOST';
}

/** A WebGPU validation or out-of-memory error, attributed to the op that caused it. */
export class GPUOpError extends HnfnetError {
  override name = 'GPUOpError';
  override readonly code = 'GPU_OP';
}

/** No WebGPU adapter could be had. */
export class NoAdapterError extends HnfnetError {
  override name = 'NoAdapterError';
  override readonly code = 'NO_ADAPTER';
}

export class NotImplementedError extends HnfnetError {
  override name = 'NotImplementedError';
  override readonly code = 'NOT_IMPLEMENTED';
}

/** Use of a tensor after dispose(), or of a graph after backward freed it. */
export class DisposedError extends HnfnetError {
  override name = 'DisposedError';
  override readonly code = 'DISPOSED';
}
