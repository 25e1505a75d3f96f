/** `hnfnet inspect <file.nii[.gz]>`: a NIfTI file's header and voxel statistics as JSON. */
import { checkKnown, optNumber, parseArgs, UsageError } from './args.js';
import type { Command } from './commands.js';
import { inspectVolume } from '../data/inspect.js';
import { readNiftiFile } from '../data/nifti-file.node.js';

const USAGE = `hnfnet inspect <file.nii[.gz]> [--max-labels N]

Prints JSON: shape, datatype, pixdim (spatial spacings), qform_code, sform_code, affine (rows),
vox_offset, header extensions, and over the nonzero voxels: nonzero (count), min, max, mean, std,
p0_5 and p99_5 (numpy's linear percentiles), each also under its facts.json name (nonzero_voxels,
nonzero_min, …). An integer image with at most N distinct values (default 32) is a label map and
also gets labels (value -> voxel count, over all voxels). NaN/Inf voxels are counted in
"nonfinite", listed in "warnings", and left out of the statistics.`;

export const command: Command = {
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const args = parseArgs(argv);
    checkKnown(args, ['max-labels'], 'inspect');
    if (args.positional.length !== 1) throw new UsageError(`hnfnet inspect: expected one file, got ${args.positional.length}\n\nusage: ${USAGE}`);
    const maxLabels = optNumber(args, 'max-labels') ?? 32;
    if (!(Number.isInteger(maxLabels) && maxLabels >= 1)) throw new UsageError(`hnfnet inspect: --max-labels must be a positive integer, got ${maxLabels}`);
    const volume = await readNiftiFile(args.positional[0]!);
    console.log(JSON.stringify(inspectVolume(volume, { maxLabels }), null, 2));
    return 0;
  },
};
