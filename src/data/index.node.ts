/** src/data for Node: the browser-safe API plus file paths, case folders and worker-thread loading. */
export * from './index.js';
export { nodeGunzip, readNiftiFile, readNiftiFileSync, writeNiftiFile } from './nifti-file.node.js';
export { folderProvider, listCaseDirs, listFolder, loadCase, loadCaseFiles, writeCase, writePhantomCase, writeSegmentation } from './case-files.node.js';
export { WorkerLoader, createLoader, providerFromSpec, type WorkerLoaderOptions } from './loader.node.js';
