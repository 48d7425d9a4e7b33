// The host as `npm start` runs it (main.ts), in a child process the end-to-end tests can SIGKILL.
import { join } from 'node:path';
import { spawnTs, waitFor } from '@ledger/contracts/testing';

export interface ChildHost {
  readonly url: string;
  /** SIGKILL: requests in flight are cut wherever they are. */
  kill(): Promise<void>;
  /** SIGTERM: the host's own orderly shutdown. */
  close(): Promise<void>;
}

/** Starts main.ts with `env` on top of this process's, resolving once it listens (killed if it does not). */
export async function startChildHost(env: Record<string, string>): Promise<ChildHost> {
  const child = spawnTs(join(__dirname, '..', 'main.ts'), [], { env: { ...process.env, ...env } });
  const stop = async (signal: NodeJS.Signals) => {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill(signal);
    await child.exited;
  };
  try {
    await waitFor('the host to listen', () => /listening on (\S+)/.test(child.stdout()) || child.process.exitCode !== null, { timeoutMs: 60_000 });
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  const url = /listening on (\S+)/.exec(child.stdout())?.[1];
  if (url === undefined) throw new Error(`the host did not start: ${child.stderr()}`);
  return { url, kill: () => stop('SIGKILL'), close: () => stop('SIGTERM') };
}
