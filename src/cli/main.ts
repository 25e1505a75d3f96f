import { commands } from './commands.js';
import { UsageError } from './args.js';
import { OverwriteError } from '../data/errors.js';
import { describeFailure } from './failure.js';

function help(): string {
  const lines = ['hnfnet: WebGPU deep learning and HNF-Netv2 brain-tumour segmentation', '', 'usage: hnfnet <command> [options] [--verbose]', '', 'commands:'];
  for (const [k, c] of Object.entries(commands)) lines.push(`  ${k.padEnd(12)} ${c.summary}`);
  lines.push('', 'Run `hnfnet <command> --help` for its options. --verbose (or HNFNET_DEBUG=1) prints error stacks.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 1 : 0;
  }
  const entry = commands[name];
  if (!entry) {
    console.error(`hnfnet: unknown command "${name}". Known: ${Object.keys(commands).join(', ')}`);
    return 2;
  }
  const cmd = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${entry.summary}\n\nusage: ${cmd.usage}`);
    return 0;
  }
  return cmd.run(rest);
}

const args = process.argv.slice(2);
// --verbose is the CLI's own flag, valid with every command and taken out before it parses.
const verbose = args.includes('--verbose') || !!process.env.HNFNET_DEBUG;
main(args.filter((a) => a !== '--verbose')).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // A wrong flag, or an output that names an input: the message is the remedy, exit status 2.
    if (err instanceof UsageError || err instanceof OverwriteError) {
      console.error(err.message);
      if (verbose) console.error(err.stack);
      process.exitCode = 2;
    } else {
      console.error(describeFailure(err, verbose));
      process.exitCode = 1;
    }
  },
);
