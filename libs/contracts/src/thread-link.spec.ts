import { MessageChannel } from 'node:worker_threads';
import { ConfigError } from './config';
import { waitFor } from './testing/wait-for';
import { ThreadLink, ThreadLinkClosedError, type LinkErrors, type LinkMethods } from './thread-link';

/** Keeps ConfigError's class and setting; anything else crosses as a plain Error with its name. */
const errors: LinkErrors = {
  encode: (error) => (error instanceof ConfigError ? { name: error.name, setting: error.setting, message: error.message } : { name: (error as Error).name, message: (error as Error).message }),
  decode: (wire) => {
    const error = wire as { name: string; message: string; setting?: string };
    return error.name === 'ConfigError' ? Object.assign(new ConfigError(error.setting ?? '', ''), { message: error.message }) : Object.assign(new Error(error.message), { name: error.name });
  },
};

function linked(serverMethods: LinkMethods, clientMethods: LinkMethods = {}): { server: ThreadLink; client: ThreadLink } {
  const { port1, port2 } = new MessageChannel();
  return { server: new ThreadLink(port1, serverMethods, errors), client: new ThreadLink(port2, clientMethods, errors) };
}

describe('ThreadLink', () => {
  const links: ThreadLink[] = [];
  afterEach(async () => {
    await Promise.all(links.splice(0).map((link) => link.close()));
  });
  const open = (serverMethods: LinkMethods, clientMethods: LinkMethods = {}) => {
    const pair = linked(serverMethods, clientMethods);
    links.push(pair.client, pair.server);
    return pair;
  };

  it('calls the other end with structured-cloneable values (bigints included) and returns its answer', async () => {
    const { client } = open({ add: async (a: bigint, b: bigint) => a + b, echo: (value: unknown) => value });
    await expect(client.call('add', 2n ** 70n, 1n)).resolves.toBe(2n ** 70n + 1n);
    await expect(client.call('echo', { nested: [1, 'two', null] })).resolves.toEqual({ nested: [1, 'two', null] });
  });

  it('calls both ways: the serving end calls back into the caller while a call is open', async () => {
    const { client, server } = open({ twice: async (value: number) => 2 * (await server.call<number>('plusOne', value)) }, { plusOne: (value: number) => value + 1 });
    await expect(client.call('twice', 20)).resolves.toBe(42);
  });

  it('rethrows what the other end threw, with the class and fields its errors codec keeps', async () => {
    const { client } = open({ configure: () => Promise.reject(new ConfigError('PORT', 'is taken')), fail: () => Promise.reject(new RangeError('too big')) });
    const failure = await client.call('configure').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure).toMatchObject({ setting: 'PORT', message: 'Invalid configuration: PORT is taken' });
    await expect(client.call('fail')).rejects.toMatchObject({ name: 'RangeError', message: 'too big' });
    await expect(client.call('missing')).rejects.toThrow('no method missing');
    await expect(client.call('toString')).rejects.toThrow('no method toString'); // only own methods are served
  });

  it('fails only the call whose value cannot be cloned; the others of the same turn go through', async () => {
    const { client } = open({ echo: (value: unknown) => value, answerWithAFunction: () => () => 1 });
    const calls = [client.call('echo', 1), client.call('echo', () => 2), client.call('echo', 3), client.call('answerWithAFunction')];
    const [first, second, third, fourth] = await Promise.allSettled(calls);
    expect(first).toEqual({ status: 'fulfilled', value: 1 });
    expect(second).toMatchObject({ status: 'rejected', reason: expect.any(TypeError) });
    expect(third).toEqual({ status: 'fulfilled', value: 3 });
    expect(fourth.status).toBe('rejected');
  });

  it('fails every pending call of both ends with ThreadLinkClosedError when the other end closes, and refuses later calls', async () => {
    let release: (() => void) | undefined;
    const { client, server } = open({ hang: () => new Promise<void>((resolve) => (release = resolve)) });
    const closedSeen: string[] = [];
    client.onClosed(() => closedSeen.push('client'));
    server.onClosed(() => closedSeen.push('server'));
    const hanging = client.call('hang');
    await waitFor('the call to arrive', () => release !== undefined);
    void server.close(); // its own pending calls: none, so it closes at once
    await expect(hanging).rejects.toBeInstanceOf(ThreadLinkClosedError);
    await expect(client.call('hang')).rejects.toBeInstanceOf(ThreadLinkClosedError);
    expect(client.isOpen()).toBe(false);
    expect(closedSeen.sort()).toEqual(['client', 'server']);
    release?.();
  });

  it('closes only once its own calls are answered', async () => {
    let release: ((value: string) => void) | undefined;
    const { client } = open({ slow: () => new Promise<string>((resolve) => (release = resolve)) });
    const slow = client.call('slow');
    let closed = false;
    const closing = client.close().then(() => (closed = true));
    await waitFor('the call to arrive', () => release !== undefined);
    expect(closed).toBe(false);
    release?.('done');
    await expect(slow).resolves.toBe('done');
    await closing;
    expect(closed).toBe(true);
  });
});
