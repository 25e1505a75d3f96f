import type { Device } from './device.js';
import type { DType } from './dtype.js';

/**
 * A GPU buffer shared by a tensor and its views, reference-counted so that views,
 * saved-for-backward handles and the tensor itself can be disposed in any order.
 */
export class Storage {
  private refs = 1;
  constructor(
    readonly device: Device,
    readonly buffer: GPUBuffer,
    /** Elements the storage holds; the buffer may be larger (size class). */
    readonly size: number,
    readonly dtype: DType = 'float32',
  ) {}

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) this.device.releaseStorage(this.buffer);
  }
}
