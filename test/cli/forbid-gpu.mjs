// Loaded with `node --import`: any attempt to load Dawn's binding (npm `webgpu`) fails the process.
import { register } from 'node:module';

const hooks = `export async function resolve(specifier, context, next) {
  if (specifier === 'webgpu') throw new Error('FORBIDDEN: webgpu was loaded');
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
