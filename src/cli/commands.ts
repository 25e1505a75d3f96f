/**
 * The `hnfnet` subcommands. Each lives in its own file and is loaded lazily, so that
 * `hnfnet --help` does not pay for a GPU device or a NIfTI reader.
 */
export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

export const commands: Record<string, () => Promise<Command>> = {
  start: async () => (await import('./start-command.js')).command,
  conformance: async () => (await import('./conformance-command.js')).command,
  inspect: async () => (await import('./inspect-command.js')).command,
  eval: async () => (await import('./eval-command.js')).command,
  summary: async () => (await import('./summary-command.js')).command,
  infer: async () => (await import('./infer-command.js')).command,
  train: async () => (await import('./train-command.js')).command,
  plot: async () => (await import('./plot-command.js')).command,
};
