// Where a worker thread's script is, for a module that starts one next to itself: the compiled
// .js under dist, or the .ts source when this code runs as TypeScript (Jest, spawnTs children).
import { extname, join, resolve } from 'node:path';

/** The TypeScript hook of the tests (swc + @ledger aliases), for workers started from .ts sources. */
const REGISTER_TS = resolve(__dirname, '../../contracts/src/testing/register-ts.cjs');

export interface WorkerScript {
  readonly file: string;
  /** For `new Worker(file, { execArgv })`: undefined inherits the process's flags. */
  readonly execArgv: string[] | undefined;
}

/**
 * The script `baseName` in `dir`, with the extension of `callerFile` (pass `__filename`). From
 * .ts the worker gets the TypeScript hook itself: Jest's transform does not reach worker threads,
 * and the process may not have been started with the hook.
 */
export function workerScript(dir: string, baseName: string, callerFile: string): WorkerScript {
  const extension = extname(callerFile);
  return {
    file: join(dir, `${baseName}${extension}`),
    execArgv: extension === '.ts' ? ['--require', REGISTER_TS] : undefined,
  };
}
