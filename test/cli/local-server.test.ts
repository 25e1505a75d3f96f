/** The demo's server: a malformed request is answered 400 and the server stays up. */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer, type LocalServer } from '../../scripts/local-server.js';

let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer((p) => (p === '/ok' ? { body: 'fine', type: 'text/plain' } : null));
});

afterAll(async () => {
  await server.close();
});

/** A raw GET, so that the path reaches the server exactly as written. */
function get(path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('local server', () => {
  it('answers a malformed percent-encoding with 400, and later requests as before', async () => {
    const bad = await get('/%E0%A4%A');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/bad request/);
    expect(await get('/ok')).toEqual({ status: 200, body: 'fine' });
    expect((await get('/%ZZ')).status).toBe(400);
    expect((await get('/missing')).status).toBe(404);
    expect((await get('/ok')).status).toBe(200);
  });
});
