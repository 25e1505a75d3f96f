/** The run folder's crash-safe writes: the project's one atomic writer (src/data/atomic-write.node.ts). */
export { commitTemp, syncDir, tempPathFor, writeFileAtomic, writeTemp, type TempWriteOptions } from '../data/atomic-write.node.js';
