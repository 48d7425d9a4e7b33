// The store's writer thread: every append's transaction, COMMIT and fsync happen here, so the
// store's event loop never waits on them. Commands run in the order posted; those waiting when one
// arrives run with it in one transaction, so they share its fsync.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { openConnection, SqliteWriter, type AppendCommand, type ConnectionOptions, type WriterCommand } from './sqlite-writer';

/** Commands one commit takes from the queue at most (each may carry up to APPEND_REQUESTS_MAX requests). */
export const WRITER_COMMANDS_PER_COMMIT_MAX = 64;

const port = parentPort;
if (port === null) throw new Error('sqlite-writer-worker runs as a worker thread of SqliteEventStore');
const writer = new SqliteWriter(openConnection(workerData as ConnectionOptions));

port.on('message', (first: WriterCommand) => {
  const commands: AppendCommand[] = [];
  let closing = false;
  for (let command: WriterCommand | undefined = first; command !== undefined; ) {
    if (command.kind === 'close') {
      closing = true; // what came before it is still written and answered
      break;
    }
    commands.push(command);
    if (commands.length === WRITER_COMMANDS_PER_COMMIT_MAX) break;
    command = receiveMessageOnPort(port)?.message as WriterCommand | undefined;
  }
  if (commands.length > 0) for (const reply of writer.run(commands)) port.postMessage(reply);
  if (closing) {
    writer.close();
    port.close(); // nothing else keeps this thread alive: it exits
  }
});
