// Calls between two threads over a MessagePort, both ways: each end serves its own methods and
// calls the other's. The host's gateway thread reaches the main thread's event store and bus
// through it (libs/event-store and libs/messaging each bridge their port over one link).
import type { MessagePort } from 'node:worker_threads';

/** Calls one end has made and the other not yet answered: a bound, as on every queue. */
export const THREAD_LINK_PENDING_MAX = 100_000;

export type LinkMethods = Readonly<Record<string, (...args: any[]) => unknown>>;

export interface LinkErrors {
  /** What crosses for a thrown error (the structured clone of an Error keeps neither its class nor its fields). */
  encode(error: unknown): unknown;
  decode(wire: unknown): Error;
}

/** Messages posted as one: those of one turn of the event loop cross together, each post costing a clone and a wake-up. */
const OUTBOX_MAX = 256;

type LinkMessage =
  | { readonly kind: 'call'; readonly id: number; readonly method: string; readonly args: readonly unknown[] }
  | { readonly kind: 'ok'; readonly id: number; readonly value: unknown }
  | { readonly kind: 'fail'; readonly id: number; readonly error: unknown };

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/** The other end is gone (its thread ended, or either end closed the link): nothing more crosses. */
export class ThreadLinkClosedError extends Error {
  constructor(operation: string) {
    super(`thread link is closed: cannot ${operation}`);
    this.name = 'ThreadLinkClosedError';
  }
}

export class ThreadLink {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private open = true;
  private readonly closedHandlers: (() => void)[] = [];
  /** Waiting for this end's pending calls to be answered. */
  private readonly drained: (() => void)[] = [];
  private outbox: LinkMessage[] = [];

  constructor(
    private readonly port: MessagePort,
    private readonly methods: LinkMethods,
    private readonly errors: LinkErrors,
  ) {
    port.on('message', (messages: readonly LinkMessage[]) => {
      for (const message of messages) this.receive(message);
    });
    port.once('close', () => this.ended());
  }

  /** Calls `method` of the other end with structured-cloneable `args`. */
  call<T>(method: string, ...args: readonly unknown[]): Promise<T> {
    if (!this.open) return Promise.reject(new ThreadLinkClosedError(`call ${method}`));
    if (this.pending.size >= THREAD_LINK_PENDING_MAX) return Promise.reject(new Error(`thread link: ${THREAD_LINK_PENDING_MAX} calls already pending`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.post({ kind: 'call', id, method, args });
    });
  }

  isOpen(): boolean {
    return this.open;
  }

  /** Runs once the link ends, whichever end closed it. */
  onClosed(handler: () => void): void {
    if (this.open) this.closedHandlers.push(handler);
    else handler();
  }

  /** Ends the link once this end's calls are answered; the other end's calls still unanswered then fail with ThreadLinkClosedError. */
  async close(): Promise<void> {
    while (this.open && this.pending.size > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    this.flush(); // answers already given
    this.port.close();
    this.ended();
  }

  private receive(message: LinkMessage): void {
    if (message.kind === 'call') {
      void this.serve(message.id, message.method, message.args);
      return;
    }
    const pending = this.settle(message.id);
    if (message.kind === 'ok') pending?.resolve(message.value);
    else pending?.reject(this.errors.decode(message.error));
  }

  private async serve(id: number, method: string, args: readonly unknown[]): Promise<void> {
    let answer: LinkMessage;
    try {
      const serve = Object.hasOwn(this.methods, method) ? this.methods[method] : undefined;
      if (serve === undefined) throw new Error(`thread link: no method ${method}`);
      answer = { kind: 'ok', id, value: await serve(...args) };
    } catch (error) {
      answer = { kind: 'fail', id, error: this.errors.encode(error) };
    }
    if (this.open) this.post(answer);
  }

  private post(message: LinkMessage): void {
    if (this.outbox.push(message) === 1) setImmediate(() => this.flush());
    else if (this.outbox.length >= OUTBOX_MAX) this.flush();
  }

  private flush(): void {
    const messages = this.outbox;
    if (messages.length === 0 || !this.open) return;
    this.outbox = [];
    try {
      this.port.postMessage(messages);
    } catch {
      // One value that cannot be cloned fails its own call, not the others: they go one by one.
      for (const message of messages) this.postAlone(message);
    }
  }

  private postAlone(message: LinkMessage): void {
    try {
      this.port.postMessage([message]);
    } catch (error) {
      // A TypeError, as a value the callee refuses would be: a caller batching requests (GroupCommit) fails only this one.
      if (message.kind === 'call') this.settle(message.id)?.reject(new TypeError(`${message.method}: its arguments cannot cross threads (${String(error)})`, { cause: error }));
      else this.postAlone({ kind: 'fail', id: message.id, error: message.kind === 'ok' ? this.errors.encode(error) : { name: 'Error', message: 'an error that cannot cross threads' } });
    }
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) for (const resolve of this.drained.splice(0)) resolve();
    return pending;
  }

  private ended(): void {
    if (!this.open) return;
    this.open = false;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const resolve of this.drained.splice(0)) resolve();
    for (const each of pending) each.reject(new ThreadLinkClosedError('receive an answer'));
    for (const handler of this.closedHandlers.splice(0)) handler();
  }
}
