/**
 * The segmenter's stylesheet, injected once per document by mountSegmenter so that embedding
 * needs one script and no CSS file. Every rule is scoped under .hnf-segmenter.
 */
const CSS = `
.hnf-segmenter { --hnf-bg: #11151c; --hnf-panel: #1a2029; --hnf-line: #2c3542; --hnf-text: #dde3ea; --hnf-dim: #8d99a8; --hnf-accent: #4ea1ff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--hnf-text); background: var(--hnf-bg);
  padding: 16px; border-radius: 10px; display: grid; grid-template-columns: minmax(300px, 360px) 1fr; gap: 16px; align-items: start; }
.hnf-segmenter * { box-sizing: border-box; }
.hnf-segmenter h2 { grid-column: 1 / -1; margin: 0; font-size: 18px; font-weight: 600; }
.hnf-segmenter h2 small { font-weight: 400; color: var(--hnf-dim); font-size: 13px; margin-left: 8px; }
.hnf-segmenter h3 { margin: 0 0 8px; font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--hnf-dim); font-weight: 600; }
.hnf-controls, .hnf-main { display: flex; flex-direction: column; gap: 12px; min-width: 0; }
.hnf-step { background: var(--hnf-panel); border: 1px solid var(--hnf-line); border-radius: 8px; padding: 12px; }
.hnf-row { display: flex; flex-wrap: wrap; gap: 6px 8px; align-items: center; margin: 6px 0; }
.hnf-segmenter button, .hnf-segmenter .hnf-file { font: inherit; color: var(--hnf-text); background: #263040; border: 1px solid #3a4658; border-radius: 6px; padding: 5px 10px; cursor: pointer; }
.hnf-segmenter button:hover:not(:disabled), .hnf-segmenter .hnf-file:hover { border-color: var(--hnf-accent); }
.hnf-segmenter button.hnf-primary { background: #1f5fae; border-color: #2f74c8; }
.hnf-segmenter button:disabled { opacity: .45; cursor: default; }
.hnf-segmenter .hnf-file input { display: none; }
.hnf-segmenter select, .hnf-segmenter input[type=number] { font: inherit; color: var(--hnf-text); background: #0f141b; border: 1px solid #3a4658; border-radius: 5px; padding: 3px 5px; }
.hnf-segmenter input[type=number] { width: 5em; }
.hnf-segmenter input[type=range] { accent-color: var(--hnf-accent); }
.hnf-drop { border: 1px dashed #46536a; border-radius: 6px; padding: 8px; text-align: center; color: var(--hnf-dim); font-size: 13px; }
.hnf-drop.hnf-over { border-color: var(--hnf-accent); color: var(--hnf-text); }
.hnf-note { color: var(--hnf-dim); font-size: 13px; margin: 4px 0 0; overflow-wrap: anywhere; }
.hnf-error { color: #ff8f8f; }
.hnf-alert { grid-column: 1 / -1; background: #3a1d22; border: 1px solid #7a3540; border-radius: 8px; padding: 10px 14px; }
.hnf-alert ul { margin: 6px 0 0; padding-left: 20px; }
.hnf-segmenter progress { width: 100%; height: 8px; accent-color: var(--hnf-accent); }
.hnf-views { display: flex; flex-wrap: wrap; gap: 12px; }
.hnf-view { margin: 0; display: flex; flex-direction: column; gap: 4px; align-items: stretch; }
.hnf-slice { background: #000; image-rendering: pixelated; border-radius: 4px; cursor: crosshair; display: block; }
.hnf-view figcaption { font-size: 12px; color: var(--hnf-dim); }
.hnf-view figcaption b { color: var(--hnf-text); font-weight: 600; text-transform: capitalize; }
.hnf-niivue { max-width: 100%; background: #000; border-radius: 4px; overflow: hidden; }
.hnf-niivue canvas { display: block; width: 100%; height: 100%; }
.hnf-legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 13px; }
.hnf-legend span::before { content: ""; display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; background: var(--c); }
.hnf-segmenter table { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
.hnf-segmenter th, .hnf-segmenter td { text-align: right; padding: 3px 8px; border-bottom: 1px solid var(--hnf-line); }
.hnf-segmenter th:first-child, .hnf-segmenter td:first-child { text-align: left; font-family: ui-monospace, monospace; }
.hnf-segmenter th { color: var(--hnf-dim); font-weight: 600; }
.hnf-bar { display: inline-block; height: 8px; background: var(--hnf-accent); border-radius: 2px; vertical-align: middle; }
@media (max-width: 860px) { .hnf-segmenter { grid-template-columns: 1fr; } }
`;

export function injectStyles(doc: Document): void {
  if (doc.getElementById('hnf-segmenter-styles')) return;
  const style = doc.createElement('style');
  style.id = 'hnf-segmenter-styles';
  style.textContent = CSS;
  doc.head.append(style);
}
