import { ArgumentError } from './errors.js';

/**
 * Dawn's device toggles (names as in Dawn's Toggles.cpp), handed to Dawn's instance in Node as
 * `enable-dawn-features=…` / `disable-dawn-features=…`; Dawn passes them on to every device
 * made from that instance. Browsers take no toggles from a page.
 */
export interface DawnToggles {
  enable?: readonly string[];
  disable?: readonly string[];
}

/**
 * The toggles `trustedKernels` turns on: no robustness (Tint's loop counters, the driver's bounds
 * checks; the one kernel that reads past a tensor checks `Device.robustBufferAccess`) and no
 * guards around integer division (no divisor of hnfnet's kernels is 0 when they run). See
 * docs/PERFORMANCE.md, "Dawn toggles on CPU adapters", for what each changes and was measured to
 * gain on lavapipe (nothing that its noise resolves).
 */
export const TRUSTED_KERNEL_TOGGLES: DawnToggles = { enable: ['disable_robustness', 'disable_polyfills_on_integer_div_and_mod'] };

const NAME = /^[a-z0-9_]+$/;

/**
 * HNFNET_DAWN_TOGGLES: comma-separated toggle names; a leading '-' disables one
 * (`skip_validation,-lazy_clear_resource_on_first_use`).
 */
export function parseToggles(spec: string, source = 'HNFNET_DAWN_TOGGLES'): DawnToggles {
  const enable: string[] = [];
  const disable: string[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    const off = item.startsWith('-');
    const name = off ? item.slice(1) : item;
    if (!NAME.test(name)) throw new ArgumentError(`${source}: "${item}" is not a Dawn toggle name (lower-case letters, digits and '_', '-' in front to disable)`);
    (off ? disable : enable).push(name);
  }
  return { enable, disable };
}

/** Both sets together, each name once; a name both enabled and disabled is an error. */
export function mergeToggles(...sets: (DawnToggles | undefined)[]): DawnToggles {
  const enable = new Set<string>();
  const disable = new Set<string>();
  for (const s of sets) {
    for (const n of s?.enable ?? []) enable.add(n);
    for (const n of s?.disable ?? []) disable.add(n);
  }
  for (const n of enable) if (disable.has(n)) throw new ArgumentError(`Dawn toggle "${n}" is both enabled and disabled`);
  return { enable: [...enable].sort(), disable: [...disable].sort() };
}

export const noToggles = (t: DawnToggles): boolean => !t.enable?.length && !t.disable?.length;

/** The flags of Dawn's `create([...])` for a set of toggles. */
export function dawnFlags(t: DawnToggles): string[] {
  const flags: string[] = [];
  if (t.enable?.length) flags.push(`enable-dawn-features=${t.enable.join(',')}`);
  if (t.disable?.length) flags.push(`disable-dawn-features=${t.disable.join(',')}`);
  return flags;
}
