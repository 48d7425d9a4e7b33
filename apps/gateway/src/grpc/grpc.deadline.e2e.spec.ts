// A gRPC client's deadline and cancellation reach the bus: once the client stopped waiting, no
// money moves for it. The gateway went on with the call after grpc-js had answered
// DEADLINE_EXCEEDED (or CANCELLED), and sent the transfer with its own BUS_REQUEST_TIMEOUT_MS:
// the client, told the call failed, saw the money move anyway.
import { credentials, loadPackageDefinition, Metadata, status, type Client, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { CARD_TOPICS, LEDGER_TOPICS } from '@ledger/contracts';
import { gate, waitFor } from '@ledger/contracts/testing';
import type { OutgoingMessage } from '@ledger/messaging';
import { newKey, startGatewaySystem, TEST_NETWORK_KEY, type GatewaySystem, type TestUser } from '../testing/gateway.harness';
import { GrpcEdge, type GrpcCall } from './grpc-edge';
import { loadLedgerProtos, PROTO_LOADER_OPTIONS } from './grpc-server';

describe('gateway gRPC: a call the client stopped waiting for moves no money (e2e)', () => {
  let s: GatewaySystem;
  let client: Client & Record<string, Function>;
  let network: Client & Record<string, Function>;
  let alice: TestUser;
  let bob: TestUser;
  /** Holds the ledger's lookup of the destination wallet; opened at the end whatever happened. */
  let lookup = gate();

  beforeAll(async () => {
    s = await startGatewaySystem();
    const ledger = (loadPackageDefinition(loadLedgerProtos({ ...PROTO_LOADER_OPTIONS, defaults: true })).ledger as GrpcObject).v1 as GrpcObject;
    const connect = (service: string) => new (ledger[service] as ServiceClientConstructor)(`127.0.0.1:${s.gateway().grpcPort}`, credentials.createInsecure()) as Client & Record<string, Function>;
    client = connect('Wallets');
    network = connect('CardNetwork');
    alice = await s.register('deadline-alice');
    bob = await s.register('deadline-bob');
  });

  afterEach(() => {
    lookup.open();
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    client?.close();
    network?.close();
    await s?.close();
  });

  /** The destination's lookup (the transfer's first bus request after the checks) waits for `lookup`. */
  function holdLookupOf(walletId: string): { readonly asked: () => boolean } {
    lookup = gate();
    let asked = false;
    const publish = s.bus.publish.bind(s.bus);
    jest.spyOn(s.bus, 'publish').mockImplementation(async (topic: string, messages: readonly OutgoingMessage[]) => {
      if (topic === LEDGER_TOPICS.queries && messages.some((message) => message.value.toString('utf8').includes(walletId))) {
        asked = true;
        await lookup.promise;
      }
      return publish(topic, messages);
    });
    return { asked: () => asked };
  }

  async function transferGivenUp(giveUp: 'deadline' | 'cancel'): Promise<{ from: string; to: string }> {
    const from = await s.openWallet(alice, 'USD', '1000');
    const to = await s.openWallet(bob, 'USD');
    const held = holdLookupOf(to);
    // The server's side of the call, to wait until the client's cancellation has reached it.
    const run = GrpcEdge.prototype.run;
    let serverCall: GrpcCall | undefined;
    jest.spyOn(GrpcEdge.prototype, 'run').mockImplementation(function (this: GrpcEdge, ...args: Parameters<GrpcEdge['run']>) {
      serverCall = args[2];
      return run.apply(this, args);
    });
    // No long digit run: the logger masks any Luhn-valid one (a millisecond time may be).
    const requestId = `deadline-${giveUp}-${process.pid.toString(36)}`;
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${alice.token}`);
    metadata.set('idempotency-key', newKey('given-up'));
    metadata.set('x-request-id', requestId);
    const options = giveUp === 'deadline' ? { deadline: Date.now() + 1_000 } : {};
    const failed = new Promise<ServiceError | null>((resolve) => {
      const call = client.Transfer({ fromWalletId: from, toWalletId: to, amount: '300' }, metadata, options, (error: ServiceError | null) => resolve(error));
      if (giveUp === 'cancel') void waitFor('the lookup asked', () => held.asked()).then(() => call.cancel());
    });
    expect((await failed)?.code).toBe(giveUp === 'deadline' ? status.DEADLINE_EXCEEDED : status.CANCELLED);
    expect(held.asked()).toBe(true);
    await waitFor('the server saw the client stop waiting', () => serverCall?.cancelled === true || Date.now() > Number(serverCall?.getDeadline()));
    lookup.open();
    // The gateway finishes the call it was in (one `grpc call` line), whatever it answers nobody.
    await waitFor('the call finished', () => s.logLines.some((line) => line.includes(requestId) && line.includes('"grpc call"')));
    return { from, to };
  }

  const balanceOf = async (user: TestUser, walletId: string) => (await s.request('GET', `/v1/wallets/${walletId}`, { token: user.token })).body.balance.posted;

  it('a transfer whose deadline passed while the gateway waited on the ledger is not sent', async () => {
    const { from, to } = await transferGivenUp('deadline');
    expect(await balanceOf(alice, from)).toBe('1000');
    expect(await balanceOf(bob, to)).toBe('0');
  });

  it('a transfer the client cancelled while the gateway waited on the ledger is not sent', async () => {
    const { from, to } = await transferGivenUp('cancel');
    expect(await balanceOf(alice, from)).toBe('1000');
    expect(await balanceOf(bob, to)).toBe('0');
  });

  it("a card network call's deadline goes with its command to the card-issuer", async () => {
    const sent: OutgoingMessage[] = [];
    const publish = s.bus.publish.bind(s.bus);
    jest.spyOn(s.bus, 'publish').mockImplementation(async (topic: string, messages: readonly OutgoingMessage[]) => {
      if (topic === CARD_TOPICS.commands) sent.push(...messages);
      return publish(topic, messages);
    });
    const metadata = new Metadata();
    metadata.set('x-network-key', TEST_NETWORK_KEY);
    metadata.set('idempotency-key', newKey('network-deadline'));
    // Well inside the gateway's own BUS_REQUEST_TIMEOUT_MS (10 s here), which was all the card-issuer was told.
    const deadline = Date.now() + 3_000;
    const merchant = { name: 'Corner Coffee', mcc: '5814', country: 'US' };
    const request = { pan: '4000000000000002', cvv: '123', expMonth: 12, expYear: 2030, amount: '100', currency: 'USD', merchant };
    await new Promise<void>((resolve) => network.Authorize(request, metadata, { deadline }, () => resolve()));
    expect(sent).toHaveLength(1);
    expect(Number(sent[0].headers?.deadline)).toBeLessThanOrEqual(deadline + 100);
  });
});
