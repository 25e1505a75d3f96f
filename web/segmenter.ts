/**
 * The embeddable brain-tumour segmenter: `mountSegmenter(element, options)` puts the whole demo
 * (case input and an optional reference segmentation, model, sliding-window inference with
 * progress and cancel and the weights' post-processing, the case in NiiVue with the prediction
 * or the reference over it, a crosshair readout of labels and probabilities, Dice against the
 * reference, download, kernel timings) into an element of any page. Plain DOM; one device per
 * segmenter unless the host page hands one in.
 */
import type { Device } from '../src/browser.js';
import { LimitError } from '../src/tensor/errors.js';
import { setDefaultDevice } from '../src/tensor/tensor.js';
import type { BratsCase } from '../src/data/brats-case.js';
import type { Dims3 } from '../src/data/volume.js';
import type { Region } from '../src/data/regions.js';
import { presetConfig, type ModelConfig } from '../src/hnfnet/config.js';
import type { SegmentationModel } from '../src/hnfnet/build.js';
import { segmentCase } from '../src/infer/inferencer.js';
import { predictorAt, resolvePrecision, type Precision } from '../src/infer/precision.js';
import type { Predictor } from '../src/infer/sliding-window.js';
import { loadModelFromWeights, saveWeights, weightsKeepLargest } from '../src/hnfnet/weights.js';
import { filterComponents } from '../src/infer/keep-largest.js';
import { caseFromFiles, describeCase, filesFromDrop, phantomCase } from './case-input.js';
import { fill, formatBytes, formatMs, h, nextPaint } from './dom.js';
import { downloadBytes, segmentationFile } from './download.js';
import { openGpu } from './gpu.js';
import { KernelProfiler, type KernelTiming } from './profiler.js';
import { injectStyles } from './styles.js';
import { timingTable } from './timing-table.js';
import { trainOnPhantoms } from './train-demo.js';
import { LABEL_COLOURS, LABEL_NAMES, labelCentre } from './viewer.js';
import { openCaseView, type CaseView, type ViewedCase, type Voxel } from './case-view.js';
import { readoutNodes } from './readout.js';
import { diceLine, referenceFromFile, regionDice } from './reference.js';
import { fittingWindow, shrinkNote, windowOptions, type WindowOption } from '../src/infer/window-fit.js';

export interface SegmenterOptions {
  /** A WebGPU device of the host page's to share; by default the segmenter opens its own. */
  device?: Device;
  /** Edge of the generated phantom case, in voxels (default 64). */
  phantomSize?: number;
  phantomSeed?: number;
  /** Load this case at start: 'phantom', or nothing. */
  initialCase?: 'phantom';
  /** Fetch weights (a .safetensors from `hnfnet train`) at start. */
  weightsUrl?: string;
  /** Training budget when no weights are given (default 60 s), and an optional step cap. */
  trainSeconds?: number;
  trainSteps?: number;
  /** Training patch edge (default 32). */
  trainPatch?: number;
  /** Sliding-window edge (default 64, or the largest smaller one the adapter's limits allow). */
  window?: number;
  /** Fraction of a window shared with its neighbour (default 0.5). */
  overlap?: number;
  /** Test-time augmentation over the 8 flips (default off: 8× the work). */
  tta?: boolean;
  /**
   * Apply the post-processing the weights file recommends (`hnfnet_keep_largest`: keep only the
   * largest connected component of those regions), as `hnfnet infer` does; default true. The
   * page's checkbox starts at this value and the user can untick it.
   */
  keepLargest?: boolean;
  /**
   * 'auto' (default): float16 storage where the adapter has shader-f16 and is a GPU, else f32
   * (resolvePrecision says why); 'f32' or 'f16' force one. The f16 run uses a float16 copy of
   * the model, so the f32 weights stay as they were (the page may train them further).
   */
  precision?: Precision | 'auto';
  /** Largest edge of a slice view in CSS pixels (default 250; NiiVue's four tiles take twice that square). */
  viewSize?: number;
  /**
   * 'niivue' (default): NiiVue's multiplanar view and 3D render (WebGL2), loaded when the
   * segmenter mounts; 'slices': three plain canvases. Without WebGL2 NiiVue falls back to slices.
   */
  viewer?: 'niivue' | 'slices';
  onSegmented?: (r: SegmenterResult) => void;
}

export interface SegmenterResult {
  caseId: string;
  dims: Dims3;
  /** Internal labels (1 NCR/NET, 2 ED, 3 ET) on the case's grid, x-fastest, after the post-processing. */
  labels: Uint8Array;
  /** [3, Z, Y, X] probabilities of WT, TC and ET on the case's grid (before thresholds and post-processing). */
  probabilities: Float32Array;
  /** The regions of which only the largest component was kept (empty: none). */
  keepLargest: Region[];
  windows: number;
  window: number;
  ms: number;
  timings: KernelTiming[];
  /** Dice of WT, TC, ET against the reference (the case's own segmentation, or the one loaded beside it), when there is one. */
  dice: Record<Region, number> | null;
}

export interface Segmenter {
  readonly element: HTMLElement;
  /** Resolves once the GPU is open (or known to be missing). */
  readonly ready: Promise<void>;
  loadCase(c: BratsCase): void;
  /** Trains a model if there is none, then segments the current case; null if cancelled or failed. */
  segment(): Promise<SegmenterResult | null>;
  cancel(): void;
  /**
   * The viewer's NiiVue instance (an `@niivue/niivue` `Niivue`, for a host page that wants to
   * sync or restyle it; typed unknown so that these types need no NiiVue), or null while it
   * loads or when the plain slices show.
   */
  readonly niivue: unknown;
  /** Resolves once the viewer shows what was last asked of it (case, modality, overlay). */
  viewerIdle(): Promise<void>;
  destroy(): void;
}

interface LoadedModel {
  model: SegmentationModel;
  config: ModelConfig;
  preset: string | null;
  source: string;
  /** The keep-largest regions its weights file recommends, null where it says nothing. */
  keepLargest: Region[] | null;
}

type Overlay = 'prediction' | 'reference' | 'none';

export function mountSegmenter(element: HTMLElement, options: SegmenterOptions = {}): Segmenter {
  /** The float16 copy of the last model segmented at f16 (its f32 weights stay untouched). */
  let half: { of: SegmentationModel; model: SegmentationModel } | null = null;
  async function predictorFor(m: LoadedModel, dev: Device): Promise<Predictor> {
    if (resolvePrecision(dev, options.precision ?? 'auto') === 'f32') return (x) => m.model.call(x);
    if (half?.of !== m.model) {
      half?.model.dispose();
      const copy = loadModelFromWeights(await saveWeights(m.model, m.config, m.preset ?? undefined), m.source, { device: dev }).model.eval();
      half = { of: m.model, model: copy };
    }
    return predictorAt(half.model, 'f16');
  }
  injectStyles(element.ownerDocument);
  const root = h('div', { class: 'hnf-segmenter' });
  element.append(root);

  let device: Device | null = null;
  let profiler: KernelProfiler | null = null;
  let current: BratsCase | null = null;
  let loaded: LoadedModel | null = null;
  let prediction: Uint8Array | null = null;
  let probabilities: Float32Array | null = null;
  /** The case's own segmentation, or one the user loaded beside it. */
  let reference: Uint8Array | null = null;
  /** What the reference is, for the Dice line. */
  let referenceName = '';
  let task: AbortController | null = null;
  let destroyed = false;

  // ---- layout ------------------------------------------------------------------------------
  const adapterLine = h('small', {}, 'opening WebGPU…');
  const alert = h('div', { class: 'hnf-alert', hidden: true, role: 'alert' });

  const caseNote = h('p', { class: 'hnf-note' }, 'No case loaded.');
  const filesInput = h('input', { type: 'file', multiple: true, accept: '.nii,.gz' });
  const folderInput = h('input', { type: 'file', multiple: true });
  folderInput.setAttribute('webkitdirectory', '');
  const sizeSelect = h('select', { 'aria-label': 'phantom size' }, ...[48, 64, 96, 128].map((s) => h('option', { value: s }, `${s}³`)));
  sizeSelect.value = String(options.phantomSize ?? 64);
  const phantomButton = h('button', { type: 'button', 'data-action': 'phantom' }, 'Generate phantom');
  const drop = h('div', { class: 'hnf-drop' }, 'or drop a case folder (or its files) here');
  const referenceInput = h('input', { type: 'file', accept: '.nii,.gz', 'aria-label': 'reference segmentation' });

  const weightsInput = h('input', { type: 'file', accept: '.safetensors', 'aria-label': 'weights file' });
  const trainSeconds = h('input', { type: 'number', min: 5, max: 3600, step: 5, value: options.trainSeconds ?? 60, 'aria-label': 'training seconds' });
  const trainButton = h('button', { type: 'button', 'data-action': 'train' }, 'Train on phantoms');
  const saveButton = h('button', { type: 'button', disabled: true, 'data-action': 'save-weights' }, 'Save weights');
  const modelNote = h('p', { class: 'hnf-note', 'data-model': '' }, 'No weights chosen: Segment trains the tiny model on phantoms first.');

  const windowSelect = h('select', { 'aria-label': 'window size' });
  const overlapInput = h('input', { type: 'number', min: 0, max: 0.9, step: 0.05, value: options.overlap ?? 0.5, 'aria-label': 'overlap' });
  const ttaInput = h('input', { type: 'checkbox', 'aria-label': 'flip test-time augmentation' });
  ttaInput.checked = options.tta ?? false;
  const keepInput = h('input', { type: 'checkbox', disabled: true, 'aria-label': 'keep largest component' });
  const keepText = h('span', { 'data-keep-largest': '' }, 'post-processing: what the weights recommend, once they are loaded');
  const segmentButton = h('button', { type: 'button', class: 'hnf-primary', 'data-action': 'segment' }, 'Segment');
  const cancelButton = h('button', { type: 'button', disabled: true, 'data-action': 'cancel' }, 'Cancel');
  const progress = h('progress', { max: 1, value: 0 });
  const runNote = h('p', { class: 'hnf-note', role: 'status' }, '');

  const viewHolder = h('div', { class: 'hnf-viewer', 'data-viewer': 'loading' });
  const viewNote = h('p', { class: 'hnf-note', 'data-view-note': '' }, 'Loading the viewer…');
  const readout = h('p', { class: 'hnf-note', 'data-readout': '' });
  const modalitySelect = h('select', { 'aria-label': 'modality' });
  const overlaySelect = h('select', { 'aria-label': 'overlay' }, h('option', { value: 'prediction' }, 'prediction'), h('option', { value: 'reference' }, 'reference'), h('option', { value: 'none' }, 'none'));
  const opacity = h('input', { type: 'range', min: 0, max: 1, step: 0.05, value: 0.5, 'aria-label': 'overlay opacity' });
  const downloadButton = h('button', { type: 'button', disabled: true, 'data-action': 'download' }, 'Download segmentation (.nii.gz)');
  const resultNote = h('p', { class: 'hnf-note', 'data-result': '' });
  const diceNote = h('p', { class: 'hnf-note', 'data-dice': '' });
  const timings = h('div', { class: 'hnf-step', hidden: true }, h('h3', {}, 'Kernel timings of the last run'));
  const timingsBody = h('div');
  timings.append(timingsBody);

  const legend = h(
    'div',
    { class: 'hnf-legend' },
    ...Object.entries(LABEL_NAMES).map(([k, name]) => h('span', { style: `--c: rgb(${LABEL_COLOURS[Number(k)]!.join(',')})` }, name)),
  );

  root.append(
    h('h2', {}, 'hnfnet brain-tumour segmentation', adapterLine),
    alert,
    h(
      'div',
      { class: 'hnf-controls' },
      h(
        'section',
        { class: 'hnf-step' },
        h('h3', {}, '1 · Case'),
        h('div', { class: 'hnf-row' }, h('label', { class: 'hnf-file' }, 'Choose files…', filesInput), h('label', { class: 'hnf-file' }, 'Choose folder…', folderInput)),
        drop,
        h('div', { class: 'hnf-row' }, phantomButton, sizeSelect),
        h('div', { class: 'hnf-row' }, h('label', { class: 'hnf-file' }, 'Reference segmentation…', referenceInput)),
        caseNote,
      ),
      h(
        'section',
        { class: 'hnf-step' },
        h('h3', {}, '2 · Model'),
        h('div', { class: 'hnf-row' }, h('label', { class: 'hnf-file' }, 'Weights (.safetensors)…', weightsInput)),
        h('div', { class: 'hnf-row' }, trainButton, 'for', trainSeconds, 's', saveButton),
        modelNote,
      ),
      h(
        'section',
        { class: 'hnf-step' },
        h('h3', {}, '3 · Segment'),
        h('div', { class: 'hnf-row' }, h('label', {}, 'window ', windowSelect), h('label', {}, 'overlap ', overlapInput), h('label', {}, ttaInput, ' flips (TTA)')),
        h('div', { class: 'hnf-row' }, h('label', {}, keepInput, ' ', keepText)),
        h('div', { class: 'hnf-row' }, segmentButton, cancelButton),
        progress,
        runNote,
      ),
    ),
    h(
      'div',
      { class: 'hnf-main' },
      h(
        'section',
        { class: 'hnf-step' },
        h('div', { class: 'hnf-row' }, h('label', {}, 'image ', modalitySelect), h('label', {}, 'overlay ', overlaySelect), h('label', {}, 'opacity ', opacity), legend),
        viewHolder,
        viewNote,
        readout,
        h('div', { class: 'hnf-row' }, downloadButton),
        resultNote,
        diceNote,
      ),
      timings,
    ),
  );

  // ---- state helpers -----------------------------------------------------------------------
  const showError = (where: HTMLElement, e: unknown) => {
    where.classList.add('hnf-error');
    where.textContent = e instanceof Error ? e.message : String(e);
  };
  const clearError = (where: HTMLElement) => where.classList.remove('hnf-error');

  const configForWindows = (): ModelConfig => loaded?.config ?? presetConfig('tiny');

  function refreshWindows(): void {
    const cfg = configForWindows();
    const opts: WindowOption[] = device ? windowOptions(cfg, device.limits) : windowOptions(cfg, { maxBufferSize: Infinity, maxStorageBufferBindingSize: Infinity });
    const wanted = Number(windowSelect.value) || options.window || 64;
    fill(windowSelect, ...opts.map((o) => h('option', { value: o.size, disabled: !o.fits, title: `largest buffer ≈ ${formatBytes(o.bytes)}` }, `${o.size}³${o.fits ? '' : ' (too big for this GPU)'}`)));
    const pick = fittingWindow(opts, wanted) ?? opts.find((o) => o.fits)?.size ?? opts[0]?.size ?? 32;
    windowSelect.value = String(pick);
    if (pick !== wanted && options.window && pick < options.window && device) {
      const asked = opts.find((o) => o.size === options.window);
      if (asked) runNote.textContent = shrinkNote(asked, pick, device.limits);
    }
  }

  function updateButtons(): void {
    const busy = task !== null;
    const gpu = device !== null;
    phantomButton.disabled = busy;
    trainButton.disabled = busy || !gpu;
    segmentButton.disabled = busy || !gpu || !current;
    cancelButton.disabled = !busy;
    saveButton.disabled = busy || !loaded;
    downloadButton.disabled = busy || !prediction;
    referenceInput.disabled = !current;
    for (const o of Array.from(overlaySelect.options)) o.disabled = (o.value === 'prediction' && !prediction) || (o.value === 'reference' && !reference);
  }

  /** The Dice line, whenever the prediction or the reference changes; the result's Dice too. */
  function refreshDice(): Record<Region, number> | null {
    const d = prediction && reference ? regionDice(prediction, reference) : null;
    fill(diceNote, d ? diceLine(d, referenceName) : reference ? 'Segment to see the Dice of the prediction against the reference.' : '');
    return d;
  }

  // ---- viewer ------------------------------------------------------------------------------
  let view: CaseView | null = null;
  /** The labels on show, and where the crosshair is: what a (re)opened viewer is given. */
  let shown: Uint8Array | null = null;
  let cursor: Voxel | null = null;

  function setOverlay(o: Overlay): void {
    overlaySelect.value = o;
    shown = o === 'prediction' ? prediction : o === 'reference' ? reference : null;
    view?.setLabels(shown);
  }

  function focus(v: Voxel): void {
    cursor = v;
    view?.focus(v);
  }

  /** Hands the viewer the whole state, when it has just opened on a case loaded meanwhile. */
  function showAll(v: CaseView): void {
    v.setOpacity(Number(opacity.value));
    v.setModality(Number(modalitySelect.value));
    if (!current) return;
    v.setCase(viewedCase(current));
    v.setLabels(shown);
    if (cursor) v.focus(cursor);
  }

  /** What the crosshair's voxel holds: image value, labels, probabilities (web/readout.ts). */
  function showReadout(v: Voxel): void {
    const c = current;
    if (!c) return;
    const m = Number(modalitySelect.value);
    const nodes = readoutNodes({ dims: c.dims, imageName: MODALITY_NAMES[m]!, image: c.images[m]!, prediction, reference, probabilities }, v);
    if (!nodes) return;
    cursor = v;
    fill(readout, ...nodes);
  }

  /** The keep-largest checkbox for a model: ticked (unless options say not) where its weights recommend it. */
  function showKeepLargest(m: LoadedModel): void {
    const regions = m.keepLargest ?? [];
    keepInput.disabled = regions.length === 0;
    keepInput.checked = regions.length > 0 && (options.keepLargest ?? true);
    keepText.textContent = regions.length
      ? `keep only the largest connected component of ${regions.join(', ')} (these weights' recommendation, which hnfnet infer also applies by default)`
      : 'no post-processing: these weights recommend none';
  }

  function setModel(m: LoadedModel): void {
    loaded?.model.dispose();
    loaded = m;
    const params = m.model.parameterCount();
    modelNote.textContent = `${m.preset ?? m.config.kind} (${(params / 1e6).toFixed(2)} M parameters) — ${m.source}`;
    clearError(modelNote);
    showKeepLargest(m);
    refreshWindows();
    updateButtons();
  }

  function loadCase(c: BratsCase): void {
    current = c;
    referenceInput.value = '';
    prediction = null;
    probabilities = null;
    reference = c.labels;
    referenceName = "the case's segmentation";
    caseNote.textContent = describeCase(c);
    clearError(caseNote);
    view?.setCase(viewedCase(c));
    setOverlay(reference ? 'reference' : 'none');
    cursor = null;
    const centre = reference ? labelCentre(reference, c.dims) : null;
    if (centre) focus(centre);
    readout.textContent = '';
    resultNote.textContent = '';
    refreshDice();
    updateButtons();
  }

  /** A reference segmentation for the current case, from its own file. */
  async function loadReference(f: File): Promise<void> {
    const c = current;
    if (!c) return;
    try {
      const r = await referenceFromFile(f, c);
      if (current !== c) return;
      reference = r;
      referenceName = f.name;
      caseNote.textContent = `${describeCase(c)}; reference ${f.name}`;
      clearError(caseNote);
      setOverlay('reference');
      const centre = prediction ? null : labelCentre(r, c.dims);
      if (centre) focus(centre);
      refreshDice();
      updateButtons();
    } catch (e) {
      showError(caseNote, e);
    }
  }

  /** Runs one cancellable task at a time; the Cancel button aborts it. */
  async function run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ctl = new AbortController();
    task = ctl;
    updateButtons();
    try {
      return await fn(ctl.signal);
    } finally {
      task = null;
      if (!destroyed) updateButtons();
    }
  }

  /** Trains the tiny model; Cancel stops it early and keeps the model (`stopped`). */
  async function train(): Promise<{ model: LoadedModel | null; stopped: boolean }> {
    if (!device) return { model: null, stopped: false };
    const dev = device;
    const seconds = Number(trainSeconds.value) || 60;
    clearError(runNote);
    runNote.textContent = 'Training the tiny model on phantoms…';
    progress.value = 0;
    await nextPaint();
    let stopped = false;
    try {
      const r = await run((signal) =>
        trainOnPhantoms({
          device: dev,
          seconds,
          ...(options.trainSteps ? { maxSteps: options.trainSteps } : {}),
          ...(options.trainPatch ? { patch: options.trainPatch } : {}),
          signal: signalWatch(signal, () => (stopped = true)),
          onStep: (p) => {
            progress.value = options.trainSteps ? Math.max(p.step / options.trainSteps, p.elapsedMs / p.budgetMs) : p.elapsedMs / p.budgetMs;
            runNote.textContent = `Training: step ${p.step}, loss ${p.loss.toFixed(3)}, ${formatMs(p.elapsedMs)} of ${formatMs(p.budgetMs)}`;
          },
        }),
      );
      const first = r.losses[0];
      const last = r.losses[r.losses.length - 1];
      const m: LoadedModel = {
        model: r.model,
        config: r.config,
        preset: r.preset,
        source: `trained here for ${r.steps} steps in ${formatMs(r.ms)}${first !== undefined && last !== undefined ? `, loss ${first.toFixed(3)} → ${last.toFixed(3)}` : ''}`,
        keepLargest: null,
      };
      setModel(m);
      runNote.textContent = stopped ? `Training stopped after ${r.steps} steps; the model is kept.` : 'Model ready.';
      progress.value = 1;
      return { model: m, stopped };
    } catch (e) {
      showError(runNote, e);
      return { model: null, stopped };
    }
  }

  async function segment(): Promise<SegmenterResult | null> {
    if (!device || !current || !profiler) return null;
    clearError(runNote);
    let m = loaded;
    if (!m) {
      // Cancel during this implicit training cancels the segmentation too.
      const t = await train();
      if (!t.model || t.stopped) return null;
      m = t.model;
    }
    const dev = device;
    const prof = profiler;
    const c = current;
    const window = Number(windowSelect.value);
    const overlap = Math.min(0.9, Math.max(0, Number(overlapInput.value) || 0));
    progress.value = 0;
    runNote.textContent = `Segmenting ${c.id} with ${window}³ windows…`;
    await nextPaint();
    const t0 = performance.now();
    let done = 0;
    let total = 0;
    prof.start();
    try {
      const predictor = await predictorFor(m, dev);
      const seg = await run((signal) =>
        segmentCase(c, [predictor], {
          device: dev,
          window,
          overlap,
          tta: ttaInput.checked ? 8 : 1,
          keepProbabilities: true,
          signal,
          onProgress: (d, t) => {
            done = d;
            total = t;
            progress.value = d / t;
            runNote.textContent = `Window ${d} of ${t} · ${formatMs(performance.now() - t0)}`;
          },
        }),
      );
      const ms = performance.now() - t0;
      const rows = await prof.stop();
      if (current !== c) {
        // Another case was loaded meanwhile: these labels belong to a case no longer shown.
        runNote.textContent = `Segmented ${c.id}, but another case is loaded now; run again for it.`;
        return null;
      }
      // The weights' post-processing, as hnfnet infer applies it (src/infer/segment-files.node.ts).
      const keepLargest = keepInput.checked ? (m.keepLargest ?? []) : [];
      const post = keepLargest.length ? filterComponents(seg.labels, c.dims, { keepLargest }) : null;
      const labels = post?.labels ?? seg.labels;
      prediction = labels;
      probabilities = seg.probabilities!;
      setOverlay('prediction');
      const centre = labelCentre(labels, c.dims);
      if (centre) focus(centre);
      else if (cursor) showReadout(cursor);
      const d = refreshDice();
      const counts = [1, 2, 3].map((l) => labels.reduce((a, v) => a + (v === l ? 1 : 0), 0));
      runNote.textContent = `Done: ${seg.windows} window${seg.windows === 1 ? '' : 's'} of ${window}³ in ${formatMs(ms)}.`;
      const postNote = post
        ? ` Kept the largest component of ${keepLargest.join(', ')}: ${keepLargest.map((r) => `${r} lost ${post.removed[r]} voxels`).join(', ')}.`
        : m.keepLargest?.length
          ? ` No post-processing (the weights recommend keeping the largest component of ${m.keepLargest.join(', ')}).`
          : '';
      resultNote.textContent = `Voxels: NCR/NET ${counts[0]}, ED ${counts[1]}, ET ${counts[2]}.${postNote}`;
      fill(timingsBody, timingTable(rows, ms));
      timings.hidden = false;
      root.dataset.state = 'segmented';
      const result: SegmenterResult = { caseId: c.id, dims: c.dims, labels, probabilities: seg.probabilities!, keepLargest, windows: seg.windows, window, ms, timings: rows, dice: d };
      options.onSegmented?.(result);
      updateButtons();
      return result;
    } catch (e) {
      await prof.stop().catch(() => []);
      if (e instanceof LimitError) {
        const smaller = windowOptions(m.config, dev.limits).filter((o) => o.fits && o.size < window).pop();
        runNote.classList.add('hnf-error');
        fill(
          runNote,
          `Window ${window}³ is too big for this GPU: ${e.message}. `,
          smaller ? h('button', { type: 'button', onclick: () => ((windowSelect.value = String(smaller.size)), void segment()) }, `Use ${smaller.size}³`) : 'No smaller window is available.',
        );
      } else if (/cancelled/i.test(e instanceof Error ? e.message : '')) {
        runNote.textContent = `Cancelled after ${done} of ${total} windows.`;
      } else showError(runNote, e);
      return null;
    }
  }

  // ---- wiring ------------------------------------------------------------------------------
  const loadFiles = async (files: File[]) => {
    try {
      caseNote.textContent = `Reading ${files.length} file(s)…`;
      clearError(caseNote);
      loadCase(await caseFromFiles(files));
    } catch (e) {
      showError(caseNote, e);
    }
  };
  filesInput.addEventListener('change', () => void loadFiles(Array.from(filesInput.files ?? [])));
  folderInput.addEventListener('change', () => void loadFiles(Array.from(folderInput.files ?? [])));
  referenceInput.addEventListener('change', () => {
    const f = referenceInput.files?.[0];
    if (f) void loadReference(f);
  });
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('hnf-over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('hnf-over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('hnf-over');
    if (ev.dataTransfer) void filesFromDrop(ev.dataTransfer).then(loadFiles, (e: unknown) => showError(caseNote, e));
  });
  phantomButton.addEventListener('click', () => {
    caseNote.textContent = 'Generating…';
    // Let the note paint before the (synchronous) generation.
    setTimeout(() => loadCase(phantomCase(Number(sizeSelect.value), options.phantomSeed ?? 1)), 0);
  });
  weightsInput.addEventListener('change', () => {
    const f = weightsInput.files?.[0];
    if (!f) return;
    if (!device) {
      showError(modelNote, new Error('Weights need WebGPU, which this page could not open (see above).'));
      return;
    }
    const dev = device;
    void f.arrayBuffer().then(
      (buf) => {
        try {
          const bytes = new Uint8Array(buf);
          const r = loadModelFromWeights(bytes, f.name, { device: dev });
          setModel({ ...r, source: `weights from ${f.name}`, keepLargest: weightsKeepLargest(bytes, f.name) });
        } catch (e) {
          showError(modelNote, e);
        }
      },
      (e: unknown) => showError(modelNote, e),
    );
  });
  trainButton.addEventListener('click', () => void train());
  saveButton.addEventListener('click', () => {
    if (!loaded) return;
    const m = loaded;
    void saveWeights(m.model, m.config, m.preset ?? undefined).then((bytes) => downloadBytes(`hnfnet-${m.preset ?? m.config.kind}.safetensors`, bytes));
  });
  segmentButton.addEventListener('click', () => void segment());
  cancelButton.addEventListener('click', () => task?.abort());
  modalitySelect.addEventListener('change', () => view?.setModality(Number(modalitySelect.value)));
  overlaySelect.addEventListener('change', () => setOverlay(overlaySelect.value as Overlay));
  opacity.addEventListener('input', () => view?.setOpacity(Number(opacity.value)));
  downloadButton.addEventListener('click', () => {
    if (!current || !prediction) return;
    const f = segmentationFile(current, prediction);
    downloadBytes(f.name, f.bytes, 'application/gzip');
  });

  // ---- start -------------------------------------------------------------------------------
  fill(modalitySelect, ...MODALITY_NAMES.map((m, i) => h('option', { value: i }, m)));
  modalitySelect.value = String(MODALITY_NAMES.indexOf('FLAIR'));
  const viewOpened = openCaseView(viewHolder, options.viewer ?? 'niivue', {
    sizePx: options.viewSize ?? 250,
    onLocation: showReadout,
    onError: (e) => showError(viewNote, e),
  }).then(({ view: v, fellBack }) => {
    if (destroyed) return v.destroy();
    view = v;
    viewHolder.dataset.viewer = v.kind;
    viewNote.textContent = fellBack ?? (v.kind === 'niivue' ? 'NiiVue: click or drag to move the crosshair, scroll to change the slice, right-drag to zoom the 2D views or turn the 3D render.' : '');
    showAll(v);
  });
  refreshWindows();
  updateButtons();
  if (options.initialCase === 'phantom') loadCase(phantomCase(options.phantomSize ?? 64, options.phantomSeed ?? 1));

  const ready = (async () => {
    if (options.device) device = options.device;
    else {
      const g = await openGpu();
      if (!g.ok) {
        adapterLine.textContent = 'no WebGPU';
        alert.hidden = false;
        fill(alert, h('strong', {}, g.title), h('ul', {}, ...g.remedy.map((r) => h('li', {}, r))), h('p', { class: 'hnf-note' }, 'Cases can still be loaded and viewed; training and segmentation need WebGPU.'));
        root.dataset.state = 'no-webgpu';
        return;
      }
      device = g.device;
    }
    if (destroyed) return;
    // Library calls that create tensors without naming a device use the default one.
    setDefaultDevice(device);
    profiler = new KernelProfiler(device);
    adapterLine.textContent = `WebGPU: ${device.adapterInfo}`;
    refreshWindows();
    updateButtons();
    if (options.weightsUrl) {
      try {
        const res = await fetch(options.weightsUrl);
        if (!res.ok) throw new Error(`${options.weightsUrl}: HTTP ${res.status}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        const r = loadModelFromWeights(bytes, options.weightsUrl, { device });
        setModel({ ...r, source: `weights from ${options.weightsUrl}`, keepLargest: weightsKeepLargest(bytes, options.weightsUrl) });
      } catch (e) {
        showError(modelNote, e);
      }
    }
    root.dataset.state = 'ready';
  })();

  return {
    element: root,
    ready,
    loadCase,
    segment,
    cancel: () => task?.abort(),
    get niivue() {
      return view && 'niivue' in view ? view.niivue : null;
    },
    viewerIdle: async () => {
      await viewOpened;
      await view?.idle();
    },
    destroy() {
      destroyed = true;
      task?.abort();
      loaded?.model.dispose();
      loaded = null;
      view?.destroy();
      view = null;
      root.remove();
    },
  };
}

const MODALITY_NAMES = ['T1', 'T1ce', 'T2', 'FLAIR'] as const;

function viewedCase(c: BratsCase): ViewedCase {
  return { id: c.id, dims: c.dims, spacing: c.spacing, grid: c.grid, images: c.images, modalities: MODALITY_NAMES };
}

/** Calls `onAbort` when the signal fires, and passes the signal on. */
function signalWatch(signal: AbortSignal, onAbort: () => void): AbortSignal {
  signal.addEventListener('abort', onAbort, { once: true });
  return signal;
}
