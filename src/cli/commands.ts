/**
 * The `hnfnet` subcommands. Each lives in its own file and is loaded only when it runs (or
 * shows its own --help): the summaries are here, so that `hnfnet --help` loads no command
 * module, no GPU binding and no NIfTI reader.
 */
export interface Command {
  usage: string;
  run(argv: string[]): Promise<number>;
}

export interface CommandEntry {
  /** One line for `hnfnet --help` and docs/CLI.md. */
  summary: string;
  load(): Promise<Command>;
}

export const commands: Record<string, CommandEntry> = {
  start: { summary: 'the whole pipeline on the embedded default: phantoms → train → segment (TTA) → evaluate', load: async () => (await import('./start-command.js')).command },
  conformance: { summary: 'run conformance cases (JSON, see shared/conformance/SCHEMA.md) on the GPU', load: async () => (await import('./conformance-command.js')).command },
  inspect: { summary: 'print a NIfTI file’s header and voxel statistics as JSON', load: async () => (await import('./inspect-command.js')).command },
  eval: { summary: 'BraTS metrics (Dice, HD95, sensitivity, specificity; BraTS 2023 lesion-wise Dice and HD95) of predictions against ground truth', load: async () => (await import('./eval-command.js')).command },
  summary: { summary: 'print a model preset’s parameters and FLOPs per module (the paper’s Table 1 check)', load: async () => (await import('./summary-command.js')).command },
  infer: { summary: 'segment BraTS cases: sliding windows, test-time augmentation, post-processing', load: async () => (await import('./infer-command.js')).command },
  train: { summary: 'train a model (paper recipe; phantoms or BraTS folders; 5-fold CV; resumable checkpoints)', load: async () => (await import('./train-command.js')).command },
  tune: { summary: 'measure kernel variants (conv3d passes, bmm, instance-norm statistics) on this adapter for a model at a window, and cache the fastest', load: async () => (await import('./tune-command.js')).command },
  plot: { summary: 'plot a training run’s loss and Dice curves (SVG, and PNG when a converter exists)', load: async () => (await import('./plot-command.js')).command },
};
