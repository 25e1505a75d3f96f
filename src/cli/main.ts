import { commands } from './commands.js';
import { UsageError } from './args.js';

function help(): string {
  const lines = ['hnfnet: WebGPU deep learning and HNF-Netv2 brain-tumour segmentation', '', 'usage: hnfnet <command> [options]', '', 'commands:'];
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const parts = [help()];
    for (const [k, load] of Object.entries(commands)) {
      const c = await load();
      parts.push(`  ${k.padEnd(12)} ${c.summary}`);
    }
    parts.push('', 'Run `hnfnet <command> --help` for its options.');
    console.log(parts.join('\n'));
    return name === undefined ? 1 : 0;
  }
  const load = commands[name];
  if (!load) {
    console.error(`hnfnet: unknown command "${name}". Known: ${Object.keys(commands).join(', ')}`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${cmd.summary}\n\nusage: ${cmd.usage}`);
    return 0;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(err.message);
      process.exitCode = 2;
    } else if (err instanceof Error) {
      console.error(`hnfnet: ${err.message}`);
      if (process.env.HNFNET_DEBUG) console.error(err.stack);
      process.exitCode = 1;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
