// The store's writer thread: every append's transaction, COMMIT and fsync happen here, so the
// store's event loop never waits on them. One command at a time, in the order posted.
import { parentPort, workerData } from 'node:worker_threads';
import { openConnection, SqliteWriter, toWireError, toWireOutcomes, type ConnectionOptions, type WriterCommand, type WriterReply } from './sqlite-writer';

const port = parentPort;
if (port === null) throw new Error('sqlite-writer-worker runs as a worker thread of SqliteEventStore');
const writer = new SqliteWriter(openConnection(workerData as ConnectionOptions));

port.on('message', (command: WriterCommand) => {
  if (command.kind === 'close') {
    writer.close();
    port.close(); // nothing else keeps this thread alive: it exits
    return;
  }
  let reply: WriterReply;
  try {
    reply =
      command.kind === 'one'
        ? { id: command.id, result: writer.appendOne(command.requests[0], command.nowMs) }
        : { id: command.id, outcomes: toWireOutcomes(writer.appendMany(command.requests, command.nowMs)) };
  } catch (error) {
    reply = { id: command.id, error: toWireError(error) };
  }
  port.postMessage(reply);
});
