#!/usr/bin/env node
// `ledger-audit` / `npm run audit -- <command>`: the read-only audit CLI (README.md beside it).
import { runCli } from './cli';

const stdout = process.stdout;
// EPIPE (the reader went away, e.g. `| head`): stop quietly rather than crash.
stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

runCli(process.argv.slice(2), {
  out: (text) => new Promise<void>((resolve) => (stdout.write(text) ? resolve() : stdout.once('drain', () => resolve()))),
  err: (text) => void process.stderr.write(text),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ledger-audit: ${String(error)}\n`);
    process.exitCode = 3;
  },
);
