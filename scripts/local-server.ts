/**
 * A tiny HTTP server on the loopback interface for the browser tests and the demo. Pages must
 * come from http://127.0.0.1 or localhost: WebGPU exists only in secure contexts, and loopback
 * origins count as secure without TLS.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Response {
  body: string | Uint8Array;
  type: string;
}

/** Answers a path (no query string) with a response, or null for 404. */
export type Handler = (pathname: string) => Response | null | Promise<Response | null>;

export interface LocalServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.gz': 'application/gzip',
  '.nii': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};

export function contentType(name: string): string {
  const ext = name.slice(name.lastIndexOf('.'));
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

/** Listens on host:port (port 0 = a free one) and resolves once it accepts connections. */
export async function startLocalServer(handler: Handler, opts: { host?: string; port?: number } = {}): Promise<LocalServer> {
  const host = opts.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      // A malformed path (a broken percent-encoding such as %E0%A4%A) is the client's error;
      // thrown here it would end the process and every later request with it.
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request: the path is not valid percent-encoded UTF-8');
      return;
    }
    Promise.resolve()
      .then(() => handler(pathname))
      .then((r) => {
        if (!r) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${pathname}`);
          return;
        }
        // Always fresh: the bundles are rebuilt on start, and a stale cached one would mislead.
        res.writeHead(200, { 'content-type': r.type, 'cache-control': 'no-store' }).end(r.body);
      })
      .catch((e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(e instanceof Error ? e.message : String(e));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
