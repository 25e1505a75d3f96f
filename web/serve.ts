/**
 * `npm run demo:web [-- --port 8080 --host 127.0.0.1]`: builds the demo with esbuild and serves
 * it on the loopback interface (WebGPU needs a secure context; localhost is one). The bundle is
 * rebuilt whenever the page asks for it, so an edit shows on reload.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, bundleForBrowser, describeBuildError } from '../scripts/build-browser.js';
import { startLocalServer, type LocalServer } from '../scripts/local-server.js';

const WEB = path.join(ROOT, 'web');

export interface DemoServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

/** The page's script, and the parts it imports when it needs them (NiiVue) under parts/. */
const bundleDemo = () => bundleForBrowser(path.join(WEB, 'main.ts'), { sourcemap: true, chunks: 'parts' });

export async function startDemoServer(opts: DemoServerOptions = {}): Promise<LocalServer> {
  // Build once up front, so a broken build fails here rather than as a blank page.
  let bundle = await bundleDemo();
  return startLocalServer(
    async (p) => {
      if (p === '/' || p === '/index.html') return { body: await readFile(path.join(WEB, 'index.html')), type: 'text/html; charset=utf-8' };
      if (p === '/main.js') {
        bundle = await bundleDemo().catch((e: unknown) => {
          console.error(describeBuildError(e));
          return bundle;
        });
        return { body: bundle.code, type: 'text/javascript; charset=utf-8' };
      }
      // The parts of the build that served main.js (their names carry a hash of their content).
      const part = bundle.files.get(p.slice(1));
      if (part !== undefined && p.startsWith('/parts/')) return { body: part, type: 'text/javascript; charset=utf-8' };
      // The shipped weights (models/README.md), which the page loads by default. Only plain
      // file names under models/: nothing else of the tree is served.
      const m = /^\/models\/([\w.-]+\.safetensors)$/.exec(p);
      if (m) {
        const body = await readFile(path.join(ROOT, 'models', m[1]!)).catch(() => null);
        return body ? { body, type: 'application/octet-stream' } : null;
      }
      return null;
    },
    { host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 },
  );
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const s = await startDemoServer({ port: Number(arg('port') ?? 8080), host: arg('host') ?? '127.0.0.1' });
    console.log(`hnfnet demo: ${s.url}`);
    console.log(`  pick a case's four NIfTI files: it is segmented with the shipped weights (models/README.md)`);
    console.log(`  a quick phantom run that trains in the page: ${s.url}?case=phantom&phantomSize=48&weights=none&trainSeconds=20&window=48`);
    console.log('  (Chrome/Edge 113+; on Linux start Chromium with --enable-unsafe-webgpu). Ctrl-C stops.');
  } catch (e) {
    console.error(describeBuildError(e));
    process.exit(1);
  }
}
