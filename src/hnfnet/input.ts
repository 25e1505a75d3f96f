import { ShapeError } from '../tensor/errors.js';
import { fmt, type Shape } from '../tensor/shape.js';
import { sizeMultiple, type ModelConfig } from './config.js';

/**
 * Rejects inputs the network cannot take, naming the shape and the rule: [N, C, D, H, W]
 * with C = inChannels and every spatial side a positive multiple of 2^(number of
 * downsamplings), so that every scale has an exact integer size.
 */
export function checkInputShape(shape: Shape, cfg: ModelConfig, model: string): void {
  const m = sizeMultiple(cfg);
  if (shape.length !== 5) throw new ShapeError(`${model}: input must be [N, C, D, H, W], got ${fmt(shape)}`);
  if (shape[1] !== cfg.inChannels) throw new ShapeError(`${model}: input ${fmt(shape)} has ${shape[1]} channels, the model takes ${cfg.inChannels}`);
  const bad = shape.slice(2).map((d, i) => [d, 'DHW'[i]] as const).filter(([d]) => !(d > 0 && d % m === 0));
  if (bad.length) {
    const lowest = cfg.kind === 'unet3d' ? `its deepest level runs at 1/${m}` : `its coarsest branch runs at 1/${m} scale`;
    throw new ShapeError(
      `${model}: input ${fmt(shape)}: every spatial side must be a positive multiple of ${m} (${lowest}); ${bad.map(([d, a]) => `${a} = ${d}`).join(', ')} ${bad.length > 1 ? 'are' : 'is'} not`,
    );
  }
}
