/** Worker-thread entry of the worker loader: builds the batches the main thread asks for. */
import { parentPort, workerData } from 'node:worker_threads';
import { SampleOrder, buildBatch } from './loader.js';
import { providerFromSpec, type WorkerInit, type WorkerReply, type WorkerRequest } from './loader.node.js';
import { DataError } from './errors.js';

const { spec, config } = workerData as WorkerInit;
const provider = providerFromSpec(spec);
const order = new SampleOrder(provider.count, config.seed, config.shuffle);
const port = parentPort!;

port.on('message', (req: WorkerRequest) => {
  buildBatch(provider, config, req.step, order).then(
    (batch) => {
      const reply: WorkerReply = { type: 'batch', step: req.step, batch };
      port.postMessage(reply, [batch.images.buffer as ArrayBuffer, batch.regions.buffer as ArrayBuffer]);
    },
    (e: unknown) => {
      // A DataError keeps its class across the thread boundary (the file it names matters).
      const data = e instanceof DataError ? { source: e.source, problem: e.problem } : {};
      const reply: WorkerReply = { type: 'error', step: req.step, message: e instanceof Error ? e.message : String(e), ...data };
      port.postMessage(reply);
    },
  );
});
