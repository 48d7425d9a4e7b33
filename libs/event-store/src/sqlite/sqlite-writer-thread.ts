// The store's side of its writer thread (sqlite-writer-worker.ts): posts appends, matches replies
// to callers, turns a dead thread into errors for its pending appends and starts a new one for later ones.
import { Worker } from 'node:worker_threads';
import type { AppendOutcome, AppendRequest, AppendResult } from '../event-store.port';
import { workerScript } from '../worker-script';
import { fromWireError, fromWireOutcomes, type ConnectionOptions, type WriterCommand, type WriterReply } from './sqlite-writer';

interface Pending {
  readonly resolve: (reply: WriterReply) => void;
  readonly reject: (error: Error) => void;
}

export class SqliteWriterThread {
  private worker: Worker | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Commands posted and not yet answered, by id: the thread is ref'd exactly while this is not empty. */
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Set while the thread is failing or ending (until its exit) and for good once closed: appends meanwhile are refused with it. */
  private failure: Error | undefined;
  private closing = false;

  constructor(private readonly connection: ConnectionOptions) {}

  async appendOne(request: AppendRequest, nowMs: number): Promise<AppendResult> {
    const reply = await this.send({ id: this.nextId++, kind: 'one', requests: [request], nowMs });
    if ('result' in reply) return reply.result;
    throw new Error('event store writer thread: unexpected reply to an append');
  }

  async appendMany(requests: readonly AppendRequest[], nowMs: number): Promise<AppendOutcome[]> {
    const reply = await this.send({ id: this.nextId++, kind: 'many', requests, nowMs });
    if ('outcomes' in reply) return fromWireOutcomes(reply.outcomes);
    throw new Error('event store writer thread: unexpected reply to an appendMany');
  }

  /** Closes the thread's connection and ends it; the caller has let pending appends finish. */
  async close(): Promise<void> {
    const worker = this.worker;
    const failing = this.failure !== undefined;
    this.closing = true;
    this.failure = new Error('event store writer thread was closed');
    if (worker === undefined || failing) return this.exited;
    worker.ref(); // an awaited close keeps the process alive until the connection is closed
    worker.postMessage({ kind: 'close' } satisfies WriterCommand);
    await this.exited;
  }

  /** Ends the thread at once, as a crash would (tests: pending appends must fail, not hang). */
  async terminate(): Promise<void> {
    await this.worker?.terminate();
    await this.exited;
  }

  private send(command: Extract<WriterCommand, { id: number }>): Promise<WriterReply> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const worker = this.started();
    return new Promise<WriterReply>((resolve, reject) => {
      this.pending.set(command.id, { resolve, reject });
      if (this.pending.size === 1) worker.ref(); // an awaited append keeps the process alive
      try {
        worker.postMessage(command);
      } catch (error) {
        this.settled(command.id);
        // A DataCloneError is the request's own fault (a function in its data): refused as bad input, like canonicalJson's TypeError.
        reject(errorName(error) === 'DataCloneError' ? new TypeError(`append: an event cannot be copied to the writer thread: ${String(error)}`, { cause: error }) : error);
      }
    }).then((reply) => {
      if ('error' in reply) throw fromWireError(reply.error);
      return reply;
    });
  }

  /** Started on the first append: a store that only reads never starts a thread. */
  private started(): Worker {
    if (this.worker !== undefined) return this.worker;
    const script = workerScript(__dirname, 'sqlite-writer-worker', __filename);
    const worker = new Worker(script.file, { workerData: this.connection, execArgv: script.execArgv });
    worker.unref(); // idle: a finished script may exit
    worker.on('message', (reply: WriterReply) => {
      const pending = this.pending.get(reply.id);
      this.settled(reply.id);
      pending?.resolve(reply);
    });
    worker.on('error', (error: Error) => this.fail(new Error(`event store writer thread failed: ${error.message}`, { cause: error })));
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        this.fail(new Error(`event store writer thread exited (code ${code}): the outcome of pending appends is unknown`));
        // Unless closed, the next append starts a new thread (on a new connection): one that died
        // (an uncaught error, its connection failing to open) must not refuse appends until a restart.
        this.worker = undefined;
        if (!this.closing) this.failure = undefined;
        resolve();
      }),
    );
    this.worker = worker;
    return worker;
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
  }

  /** The first failure is kept (an 'error' comes before its 'exit') and given to every pending append. */
  private fail(error: Error): void {
    this.failure ??= error;
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.worker?.unref();
    for (const each of pending) each.reject(this.failure);
  }
}

/** By name, not instanceof: a DOMException is made in Node's own realm. */
export function errorName(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
}
