import { MessageChannel } from 'node:worker_threads';
import { messageBusContract } from '../testing/message-bus.contract';
import { InProcessBus, type BusLogger } from './in-process-bus';
import { serveBusOverPort, ThreadBus } from './thread-bus';

const silent: BusLogger = { warn: () => undefined, error: () => undefined };

// The ports of one MessageChannel cross the same wire as a worker's: what holds here holds between threads.
messageBusContract('ThreadBus over an InProcessBus', (settings) => {
  const { port1, port2 } = new MessageChannel();
  serveBusOverPort(port1, new InProcessBus({ ...settings, logger: silent }));
  return new ThreadBus(port2);
});
