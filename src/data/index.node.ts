/** src/data for Node: the browser-safe API plus file paths, case folders and worker-thread loading. */
export * from './index.js';
export { nodeGunzip, readNiftiFile, readNiftiFileSync, writeNiftiFile } from './nifti-file.node.js';
export { folderProvider, listCaseDirs, listCaseFiles, listFolder, loadCase, loadCaseFiles, writeCase, writePhantomCase, writeSegmentation, type CaseFileEntry, type FolderEntry } from './case-files.node.js';
export { isCompleteOutput, refuseInputOverwrite } from './output-guard.node.js';
export { WorkerLoader, createLoader, providerFromSpec, type WorkerLoaderOptions } from './loader.node.js';
