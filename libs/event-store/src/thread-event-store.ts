// The event store of another thread as an EventStore: `serveEventStoreOverPort` on the thread that
// owns the store (the host's main thread), a `ThreadEventStore` on the other (the gateway's
// thread). Calls, subscriptions' events and the handlers' outcomes cross a MessagePort.
import type { MessagePort } from 'node:worker_threads';
import { ThreadLink, ThreadLinkClosedError, type LinkErrors, type NewEvent, type RecordedEvent } from '@ledger/contracts';
import {
  EventStoreClosedError,
  type AppendOutcome,
  type AppendRequest,
  type AppendResult,
  type EventHandler,
  type EventStore,
  type ExpectedState,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeOptions,
  type Subscription,
} from './event-store.port';
import { fromWireError, fromWireOutcomes, toWireError, toWireOutcomes, type WireError, type WireOutcome } from './sqlite/sqlite-writer';

const STORE_ERRORS: LinkErrors = {
  encode: toWireError,
  decode(wire: unknown): Error {
    const error = wire as WireError;
    if (error.name === 'EventStoreClosedError' || error.name === 'ThreadLinkClosedError') return Object.assign(new EventStoreClosedError('use it'), { message: error.message });
    return fromWireError(error);
  },
};

/** Serves `store` to the ThreadEventStore at the other end of `port`; the store itself stays open when the link ends. */
export function serveEventStoreOverPort(port: MessagePort, store: EventStore): ThreadLink {
  const subscriptions = new Map<number, Subscription>();
  const link: ThreadLink = new ThreadLink(
    port,
    {
      append: (streamId: string, events: readonly NewEvent[], expected: ExpectedState) => store.append(streamId, events, expected),
      appendMany: async (requests: readonly AppendRequest[]) => toWireOutcomes(await store.appendMany(requests)),
      readStream: (streamId: string, options?: ReadStreamOptions) => store.readStream(streamId, options),
      streamRevision: (streamId: string) => store.streamRevision(streamId),
      readAll: (options?: ReadAllOptions) => store.readAll(options),
      headPosition: () => store.headPosition(),
      subscribe: (id: number, options?: SubscribeOptions) => {
        const subscription = store.subscribe((event) => link.call('event', id, event), options);
        subscriptions.set(id, subscription);
        subscription.closed.then(
          () => link.call('ended', id, null),
          (error: unknown) => link.call('ended', id, toWireError(error)),
        ).catch(() => undefined); // the other thread is gone: nobody to tell
      },
      stop: async (id: number) => {
        await subscriptions.get(id)?.stop();
        subscriptions.delete(id);
      },
    },
    STORE_ERRORS,
  );
  link.onClosed(() => {
    for (const subscription of subscriptions.values()) void subscription.stop();
    subscriptions.clear();
  });
  return link;
}

interface ThreadSubscription extends Subscription {
  readonly handler: EventHandler;
  last: bigint;
  /** The handler's own error, which `closed` rejects with (the copy that crossed back has lost its class). */
  failure: unknown;
  end(error: Error | null): void;
}

/**
 * The EventStore of another thread, served there by `serveEventStoreOverPort`. `close()` stops
 * this thread's subscriptions and ends the link; the owning store stays open.
 */
export class ThreadEventStore implements EventStore {
  private readonly link: ThreadLink;
  private readonly subscriptions = new Map<number, ThreadSubscription>();
  private nextSubscriptionId = 1;
  private closing: Promise<void> | undefined;

  constructor(port: MessagePort) {
    this.link = new ThreadLink(
      port,
      {
        event: (id: number, event: RecordedEvent) => this.handle(id, event),
        ended: (id: number, error: WireError | null) => this.subscriptions.get(id)?.end(error === null ? null : STORE_ERRORS.decode(error)),
      },
      STORE_ERRORS,
    );
    // The owning thread is gone: every subscription has ended.
    this.link.onClosed(() => {
      for (const subscription of this.subscriptions.values()) subscription.end(new EventStoreClosedError('deliver events'));
    });
  }

  append(streamId: string, events: readonly NewEvent[], expected: ExpectedState): Promise<AppendResult> {
    return this.call('append', streamId, events, expected);
  }

  async appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    return fromWireOutcomes(await this.call<WireOutcome[]>('appendMany', requests));
  }

  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.call('readStream', streamId, options);
  }

  streamRevision(streamId: string): Promise<bigint | undefined> {
    return this.call('streamRevision', streamId);
  }

  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return this.call('readAll', options);
  }

  headPosition(): Promise<bigint> {
    return this.call('headPosition');
  }

  subscribe(handler: EventHandler, options?: SubscribeOptions): Subscription {
    if (this.closing !== undefined) throw new EventStoreClosedError('subscribe');
    const id = this.nextSubscriptionId++;
    let resolveClosed!: () => void;
    let rejectClosed!: (error: unknown) => void;
    const closed = new Promise<void>((resolve, reject) => {
      resolveClosed = resolve;
      rejectClosed = reject;
    });
    let stopping: Promise<void> | undefined;
    const subscription: ThreadSubscription = {
      handler,
      last: 0n,
      failure: undefined,
      closed,
      lastPosition: () => subscription.last,
      stop: () => {
        stopping ??= this.link
          .call<void>('stop', id)
          .catch((error: unknown) => (error instanceof ThreadLinkClosedError || error instanceof EventStoreClosedError ? undefined : Promise.reject(error)))
          .then(() => closed.catch(() => undefined));
        return stopping;
      },
      end: (error) => {
        this.subscriptions.delete(id);
        if (error === null && subscription.failure === undefined) resolveClosed();
        else rejectClosed(subscription.failure ?? error);
      },
    };
    this.subscriptions.set(id, subscription); // before the owning store can deliver
    this.link.call('subscribe', id, options).catch((error: unknown) => subscription.end(error instanceof Error ? error : new Error(String(error))));
    return subscription;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.subscriptions.values()].map((subscription) => subscription.stop()));
      await this.link.close();
    })();
    return this.closing;
  }

  private call<T>(method: string, ...args: readonly unknown[]): Promise<T> {
    if (this.closing !== undefined || !this.link.isOpen()) return Promise.reject(new EventStoreClosedError(method));
    return this.link.call<T>(method, ...args);
  }

  private async handle(id: number, event: RecordedEvent): Promise<void> {
    const subscription = this.subscriptions.get(id);
    if (subscription === undefined) throw new EventStoreClosedError('deliver to a subscription that ended');
    try {
      await subscription.handler(event);
      subscription.last = event.position;
    } catch (error) {
      subscription.failure ??= error;
      throw error;
    }
  }
}
