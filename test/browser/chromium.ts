/**
 * The one place that knows how to start headless Chromium with WebGPU here: Debian's
 * `chromium` package (never a downloaded browser), driven by playwright-core.
 *
 * Flags, as checked on Chromium 156 (Debian bookworm), root, no GPU:
 * - `--enable-unsafe-webgpu` is the one that matters: without it `requestAdapter()` answers
 *   null on a machine without a GPU; with it Dawn falls back to SwiftShader (adapter info
 *   "google swiftshader", timestamp-query available). `--use-angle=swiftshader`,
 *   `--enable-features=Vulkan` and `--enable-unsafe-swiftshader` change nothing for WebGPU
 *   here (they concern WebGL/ANGLE); the last is kept because newer Chromiums gate every
 *   SwiftShader fallback behind it.
 * - `--no-sandbox` only as root (Chromium refuses to start otherwise).
 * - The closed network: without `--disable-background-networking`, `--disable-component-update`,
 *   `--disable-sync`, `--no-first-run` and `--disable-quic` Chromium keeps opening connections
 *   that this machine refuses.
 * - `--disable-dev-shm-usage`: containers often give /dev/shm 64 MiB, where Chromium's
 *   renderer can crash on large allocations; temp files are slower but safe.
 * - A fresh `--user-data-dir` per launch (a temp folder, removed on close), so no state leaks
 *   between runs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.HNFNET_CHROMIUM ?? '/usr/bin/chromium';

const CLOSED_NETWORK = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const CONTAINER = ['--disable-dev-shm-usage'];
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader'];

export function chromiumArgs(opts: { webgpu?: boolean } = {}): string[] {
  const root = process.getuid?.() === 0;
  return ['--headless=new', ...(root ? ['--no-sandbox'] : []), ...(opts.webgpu === false ? [] : WEBGPU_FLAGS), ...CLOSED_NETWORK, ...CONTAINER];
}

/** Why the browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  return `${CHROMIUM_PATH} not found: install Debian's chromium (scripts/setup.sh does, as root: apt-get install --no-install-recommends chromium), or set HNFNET_CHROMIUM`;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console lines and page errors, for failure messages. */
  log: string[];
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** false starts Chromium without WebGPU (to test the page's "no WebGPU" message). */
  webgpu?: boolean;
  /** Where downloads go (Playwright keeps them in a temp folder otherwise). */
  downloadsPath?: string;
  viewport?: { width: number; height: number };
  /** Echo the page's console to this process's stdout. */
  echo?: boolean;
}

export async function launchChromium(opts: LaunchOptions = {}): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'hnfnet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    // Playwright's own `--headless` is replaced by `--headless=new` in the args.
    ignoreDefaultArgs: ['--headless'],
    args: chromiumArgs(opts),
    acceptDownloads: true,
    viewport: opts.viewport ?? { width: 1280, height: 900 },
    ...(opts.downloadsPath ? { downloadsPath: opts.downloadsPath } : {}),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const log: string[] = [];
  page.on('console', (m) => {
    const line = `[${m.type()}] ${m.text()}`;
    log.push(line);
    if (opts.echo) console.log(`chromium ${line}`);
  });
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  return {
    context,
    page,
    log,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
