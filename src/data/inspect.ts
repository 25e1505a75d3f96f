/**
 * The facts `hnfnet inspect` prints about a NIfTI volume. Key names follow the CLI's spec, and every
 * quantity that the independent reference (shared/data/brats/<case>/facts.json, nibabel + numpy)
 * also records appears again under facts.json's own key, so the two can be compared by key.
 */
import { qformAffine, sformAffine, bestAffine, type AffineSource } from './affine.js';
import { DATATYPES } from './nifti-header.js';
import { histogramMoments, histogramPercentiles, integerHistogram, moments, nonzeroValues, percentiles, valueCounts, type MomentStats } from './stats.js';
import type { Affine, DatatypeName, Volume } from './volume.js';

export interface InspectOptions {
  /** An integer volume with at most this many distinct values counts as a label map; default 32. */
  maxLabels?: number;
}

export interface InspectReport {
  file: string;
  nifti_version: 1 | 2;
  endianness: 'little' | 'big';
  shape: number[];
  dim: number[];
  datatype: DatatypeName;
  nifti_datatype_code: number;
  bitpix: number;
  /** The three spatial spacings (pixdim[1..3]). */
  pixdim: number[];
  /** All eight stored pixdim entries (facts.json's `pixdim`). */
  pixdim_raw: number[];
  xyzt_units: number;
  qform_code: number;
  sform_code: number;
  quatern_bcd: number[];
  qoffset_xyz: number[];
  /** The affine by NIfTI's precedence, as rows. */
  affine: Affine;
  affine_source: AffineSource;
  qform_affine: Affine;
  sform_affine: Affine;
  vox_offset: number;
  extensions: { ecode: number; esize: number }[];
  /** null when the header asks for no scaling (slope 0 or not finite), like nibabel. */
  scl_slope: number | null;
  scl_inter: number | null;
  voxels_total: number;
  min_all: number | null;
  max_all: number | null;
  negative_voxels: number;
  /** NaN / ±Inf voxels; they are left out of every statistic. */
  nonfinite: number;
  nonzero: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  p0_5: number | null;
  p99_5: number | null;
  nonzero_voxels: number;
  nonzero_min: number | null;
  nonzero_max: number | null;
  nonzero_mean: number | null;
  nonzero_std_pop: number | null;
  nonzero_p0_5_linear: number | null;
  nonzero_p99_5_linear: number | null;
  /** Label value → voxel count over all voxels (0 included); only for label maps. */
  labels?: Record<string, number>;
  label_voxel_counts?: Record<string, number>;
  warnings: string[];
}

export function inspectVolume(vol: Volume, opts: InspectOptions = {}): InspectReport {
  const { data, header, grid } = vol;
  let minAll = Infinity;
  let maxAll = -Infinity;
  let negative = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) continue;
    if (v < minAll) minAll = v;
    if (v > maxAll) maxAll = v;
    if (v < 0) negative++;
  }
  // Integer-valued data (most MRI) is summarised by counting; anything else by selection.
  const hist = integerHistogram(data, null, true);
  let m: MomentStats;
  let p005: number;
  let p995: number;
  if (hist) {
    m = histogramMoments(hist);
    [p005, p995] = histogramPercentiles(hist, [0.5, 99.5]) as [number, number];
  } else {
    const nz = nonzeroValues(data);
    m = moments(nz);
    [p005, p995] = percentiles(nz, [0.5, 99.5]) as [number, number];
  }
  const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

  let labels: Record<string, number> | undefined;
  if (DATATYPES[header.datatype].integer && !header.scaled) {
    const counts = valueCounts(data, opts.maxLabels ?? 32);
    if (counts) labels = Object.fromEntries([...counts].map(([k, c]) => [String(k), c]));
  }
  const slopeValid = Number.isFinite(header.sclSlope) && header.sclSlope !== 0;
  const report: InspectReport = {
    file: vol.name,
    nifti_version: header.version,
    endianness: header.littleEndian ? 'little' : 'big',
    shape: [...vol.dims],
    dim: [...header.dim],
    datatype: header.datatype,
    nifti_datatype_code: header.datatypeCode,
    bitpix: header.bitpix,
    pixdim: [...vol.spacing],
    pixdim_raw: [...grid.pixdim],
    xyzt_units: grid.xyztUnits,
    qform_code: grid.qformCode,
    sform_code: grid.sformCode,
    quatern_bcd: [...grid.quatern],
    qoffset_xyz: [...grid.qoffset],
    affine: vol.affine,
    affine_source: bestAffine(grid).source,
    qform_affine: qformAffine(grid),
    sform_affine: sformAffine(grid),
    vox_offset: header.voxOffset,
    extensions: header.extensions.map((e) => ({ ...e })),
    scl_slope: slopeValid ? header.sclSlope : null,
    scl_inter: slopeValid ? header.sclInter : null,
    voxels_total: data.length,
    min_all: num(minAll),
    max_all: num(maxAll),
    negative_voxels: negative,
    nonfinite: vol.nonFinite,
    nonzero: m.count,
    min: num(m.min),
    max: num(m.max),
    mean: num(m.mean),
    std: num(m.std),
    p0_5: num(p005),
    p99_5: num(p995),
    nonzero_voxels: m.count,
    nonzero_min: num(m.min),
    nonzero_max: num(m.max),
    nonzero_mean: num(m.mean),
    nonzero_std_pop: num(m.std),
    nonzero_p0_5_linear: num(p005),
    nonzero_p99_5_linear: num(p995),
    warnings: [...vol.warnings],
  };
  if (labels) {
    report.labels = labels;
    report.label_voxel_counts = { ...labels };
  }
  return report;
}
