// Runs a TypeScript file of this repo in a child Node process (through register-ts.cjs) and
// collects its output, for tests that need a second process or a SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const REGISTER_TS = join(__dirname, 'register-ts.cjs');

export interface TsChild {
  readonly process: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the child has exited, with its exit code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnTs(scriptPath: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): TsChild {
  const child = spawn(process.execPath, ['--require', REGISTER_TS, scriptPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited };
}
