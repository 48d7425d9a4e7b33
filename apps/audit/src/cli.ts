// The audit CLI: parses the command line, opens the data dir read-only, runs one command and
// answers with an exit code (0 clean, 1 violations found, 2 bad usage, 3 the audit itself failed).
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { parseJsonText } from '@ledger/contracts';
import { DEAD_LETTER_LIST_MAX } from '@ledger/messaging';
import { balanceOf } from './balance';
import { withCardNumbersWithheld } from './card-number-filter';
import { DEAD_LETTERS_PAGE_DEFAULT, deadLetterPage, deadLetterPageText } from './dead-letters';
import { exportJournal } from './journal-export';
import { Findings, Progress } from './findings';
import { isoTimeOf, type SubMillisecond } from './iso-time';
import { EVENT_STORE_FILE } from './projection-files';
import { replay } from './replay';
import { isUnavailable, openSqliteStoreReader, UnreadableEventError } from './sqlite-store-reader';
import { UnusableLedgerEventError } from './shard-fold';
import { issueStatement, StatementTooLongError, UnsealedPeriodError, verifyStatement } from './statement';
import type { StoreReader } from './store-reader.port';
import { verify } from './verify';

export const EXIT = { clean: 0, violations: 1, usage: 2, failed: 3 } as const;

export const USAGE = `usage: ledger-audit <command> [--data-dir DIR] [--json]
  verify                                         check hash chains, ledger invariants and projections
  replay --out DIR                               rebuild every projection into DIR and diff with the live ones
  balance --account ID [--at TIME | --position N] the four sums and the available balance then
  export --format csv|jsonl [--from TIME] [--to TIME]  the journal, one posting per line
                                                 (csv: a cell starting with = + - @ TAB or CR gets a leading ', so no
                                                 spreadsheet runs it as a formula; jsonl is exact)
  statement --wallet ID --from TIME --to TIME    a statement with a Merkle root and inclusion proofs (JSON)
  verify-statement FILE                          check a statement against the store
  dead-letters [--after ID] [--limit N]          the host's kept dead letters, oldest first, a page at a time
                                                 (read-only; values that look like card numbers withheld)
--data-dir defaults to $DATA_DIR or ./data; TIME is ISO 8601 (UTC when no offset is given)`;

/** Where the CLI writes; `out` waits when the pipe is full, so a big export never piles up in memory. */
export interface CliIo {
  out(text: string): Promise<void>;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
}

class UsageError extends Error {}

const OPTIONS = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  account: { type: 'string' },
  at: { type: 'string' },
  position: { type: 'string' },
  format: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  wallet: { type: 'string' },
  after: { type: 'string' },
  limit: { type: 'string' },
  help: { type: 'boolean' },
} as const;

type Options = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** Which options each command takes besides --data-dir, --json and --help. */
const COMMAND_OPTIONS: Readonly<Record<string, readonly (keyof typeof OPTIONS)[]>> = {
  verify: [],
  replay: ['out'],
  balance: ['account', 'at', 'position'],
  export: ['format', 'from', 'to'],
  statement: ['wallet', 'from', 'to'],
  'verify-statement': [],
  'dead-letters': ['after', 'limit'],
};

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command: string;
  let options: Options;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
    options = parsed.values as Options;
    [command, ...positionals] = parsed.positionals;
    if (options.help) {
      await io.out(`${USAGE}\n`);
      return EXIT.clean;
    }
    if (command === undefined) throw new UsageError('no command given');
    const allowed = COMMAND_OPTIONS[command];
    if (allowed === undefined) throw new UsageError(`unknown command ${command}`);
    for (const name of Object.keys(options) as (keyof typeof OPTIONS)[]) {
      if (!['data-dir', 'json', 'help', ...allowed].includes(name)) throw new UsageError(`${command} does not take --${name}`);
    }
    if (command !== 'verify-statement' && positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  } catch (error) {
    // Not parsed, so --json is looked for as given (--json=true too: bad usage, but JSON asked for).
    return failure(io, argv.some((arg) => arg === '--json' || arg.startsWith('--json=')), 'usage', (error as Error).message);
  }

  const json = options.json === true;
  const dataDir = resolve(options['data-dir'] ?? io.env.DATA_DIR ?? 'data');
  const storeFile = join(dataDir, EVENT_STORE_FILE);
  let reader: StoreReader | undefined;
  try {
    const run = planCommand(command, options, positionals, dataDir);
    if (!('needsStore' in run)) return await run.withoutStore(io);
    const given = options['data-dir'] ?? io.env.DATA_DIR ?? '';
    // esdb://, kurrentdb://: a distributed deployment's store, which no reader of this audit reads yet (README.md).
    if (CONNECTION_STRING.test(given)) throw new UsageError(`the data dir ${given.replace(/\/\/[^@/]*@/, '//***@')} is a connection string: this audit reads an embedded data dir (events.sqlite) only; a KurrentDB reader is not built`);
    if (!existsSync(storeFile)) throw new UsageError(`no event store at ${storeFile} (is --data-dir right?)`);
    try {
      reader = openSqliteStoreReader(storeFile);
    } catch (error) {
      // A lock another process holds, or an I/O error, is the audit failing to read it now (below), not a wrong file.
      if (isUnavailable(error)) throw error;
      throw new UsageError(`${storeFile} is not an event store this audit can read: ${(error as Error).message}`);
    }
    return await run.withStore(reader, io, new Progress((line) => io.err(`${line}\n`)));
  } catch (error) {
    if (error instanceof UsageError) return failure(io, json, 'usage', error.message);
    if (error instanceof NotFoundError) return failure(io, json, 'not_found', error.message);
    // A file of the data dir another process holds locked, or an I/O error: the audit failed, said in one line.
    if (isUnavailable(error)) return failure(io, json, 'failed', `${command} cannot read the data dir ${dataDir} now: ${(error as Error).message}`);
    if (error instanceof UnreadableEventError || error instanceof UnusableLedgerEventError || error instanceof UnsealedPeriodError) {
      const findings = new Findings();
      const check = error instanceof UnusableLedgerEventError ? 'ledger' : 'chain';
      findings.violation({ check, streamId: error.streamId, revision: error.revision, position: error.position, message: error.message });
      await io.out(`${options.json ? JSON.stringify(findings.toJson()) : findings.toText()}\n`);
      return EXIT.violations;
    }
    // Whatever failed may quote caller text (ids): no card number leaves through a stack trace either.
    io.err(`ledger-audit: ${command} failed: ${withCardNumbersWithheld((error as Error).stack ?? String(error))}\n`);
    if (json) await io.out(`${JSON.stringify({ ok: false, error: { code: 'failed', message: withCardNumbersWithheld(`${command} failed: ${(error as Error).message ?? String(error)}`) } })}\n`);
    return EXIT.failed;
  } finally {
    await reader?.close();
  }
}

/** A URL (scheme://...), not a directory. */
const CONNECTION_STRING = /^[a-z][a-z0-9+.-]*:\/\//i;

/** What was asked for (an account, a wallet) is not in the ledger: exit 1. */
class NotFoundError extends Error {}

type FailureCode = 'usage' | 'not_found' | 'failed';
const FAILURE_EXIT: Readonly<Record<FailureCode, number>> = { usage: EXIT.usage, not_found: EXIT.violations, failed: EXIT.failed };

/** A failure said on stderr (bad usage with the usage line) and, with --json, as one JSON object on stdout too. */
async function failure(io: CliIo, json: boolean, code: FailureCode, message: string): Promise<number> {
  io.err(`ledger-audit: ${message}\n${code === 'usage' ? `${USAGE}\n` : ''}`);
  if (json) await io.out(`${JSON.stringify({ ok: false, error: { code, message } })}\n`);
  return FAILURE_EXIT[code];
}

type Run = (reader: StoreReader, io: CliIo, progress: Progress) => Promise<number>;
/** A command and what it reads: the event store, or not (dead-letters reads its own file, and a data dir without a store may have one). */
type Plan = { readonly needsStore: true; readonly withStore: Run } | { readonly withoutStore: (io: CliIo) => Promise<number> };

/** Checks the command's own options up front (bad usage exits 2 before the store is opened). */
function planCommand(command: string, options: Options, positionals: readonly string[], dataDir: string): Plan {
  if (command === 'dead-letters') {
    const after = options.after === undefined ? 0 : boundedInt('after', options.after, 0, Number.MAX_SAFE_INTEGER);
    const limit = options.limit === undefined ? DEAD_LETTERS_PAGE_DEFAULT : boundedInt('limit', options.limit, 1, DEAD_LETTER_LIST_MAX - 1);
    return {
      withoutStore: async (io) => {
        const page = await deadLetterPage(dataDir, { after, limit });
        await io.out(options.json === true ? `${JSON.stringify(page)}\n` : deadLetterPageText(page));
        return EXIT.clean;
      },
    };
  }
  return { needsStore: true, withStore: planStoreCommand(command, options, positionals, dataDir) };
}

function planStoreCommand(command: string, options: Options, positionals: readonly string[], dataDir: string): Run {
  const json = options.json === true;
  switch (command) {
    case 'verify':
      return async (reader, io, progress) => {
        // The rebuild on a second thread with its own connection to the store's file.
        const { findings } = await verify(reader, join(dataDir, EVENT_STORE_FILE), dataDir, progress);
        return report(io, findings, json, 'verify: clean');
      };
    case 'replay': {
      const out = required(options, 'out');
      const [realOut, realDataDir] = [realPathOf(out), realPathOf(dataDir)];
      if (realOut === realDataDir || realOut.startsWith(`${realDataDir}${sep}`)) throw new UsageError('--out must be outside the data dir (the audit never writes there)');
      const existing = nearestExisting(resolve(out));
      if (!statSync(existing).isDirectory()) throw new UsageError(`--out ${out}: ${existing} is not a directory`);
      if (existsSync(out) && readdirSync(out).length > 0) throw new UsageError(`--out ${out} is not empty: replay writes into a fresh directory`);
      return async (reader, io, progress) => {
        const findings = await replay(reader, join(dataDir, EVENT_STORE_FILE), dataDir, resolve(out), progress, (line) => (json ? undefined : io.out(`${line}\n`)));
        return report(io, findings, json, `replay: rebuilt into ${resolve(out)}, no differences`);
      };
    }
    case 'balance': {
      const accountId = required(options, 'account');
      if (options.at !== undefined && options.position !== undefined) throw new UsageError('give --at or --position, not both');
      const at = options.at === undefined ? undefined : isoTime('at', 'down', options.at);
      const position = options.position === undefined ? undefined : positionOf(options.position);
      return async (reader, io) => {
        const balance = await balanceOf(reader, accountId, { at, position });
        if (balance === undefined) throw new NotFoundError(`no account ${accountId} in the ledger${at !== undefined || position !== undefined ? ' at that point' : ''}`);
        await io.out(`${json ? JSON.stringify(balance) : Object.entries(balance).map(([name, value]) => `${name}: ${value}`).join('\n')}\n`);
        return EXIT.clean;
      };
    }
    case 'export': {
      const format = required(options, 'format');
      if (format !== 'csv' && format !== 'jsonl') throw new UsageError(`--format must be csv or jsonl, got ${format}`);
      if (json) throw new UsageError('export writes csv or jsonl: use --format jsonl instead of --json');
      const from = options.from === undefined ? undefined : isoTime('from', 'up', options.from);
      const to = options.to === undefined ? undefined : isoTime('to', 'up', options.to);
      if (from !== undefined && to !== undefined && to < from) throw new UsageError('--to is before --from');
      return async (reader, io, progress) => {
        const result = await exportJournal(reader, { format, from, to }, (text) => io.out(text), progress);
        if (result.withheld > 0) io.err(`ledger-audit: withheld ${result.withheld} reference values that looked like card numbers\n`);
        return EXIT.clean;
      };
    }
    case 'statement': {
      const walletId = required(options, 'wallet');
      const from = isoTime('from', 'up', required(options, 'from'));
      const to = isoTime('to', 'up', required(options, 'to'));
      if (to < from) throw new UsageError('--to is before --from');
      return async (reader, io) => {
        const statement = await issueStatement(reader, walletId, from, to).catch((error: unknown) => {
          // Too many lines is the period asked for, not a failure of the audit.
          throw error instanceof StatementTooLongError ? new UsageError(error.message) : error;
        });
        if (statement === undefined) throw new NotFoundError(`no wallet ${walletId} in the ledger`);
        await io.out(`${JSON.stringify(statement, null, 2)}\n`);
        return EXIT.clean;
      };
    }
    case 'verify-statement': {
      if (positionals.length !== 1) throw new UsageError('verify-statement takes one FILE');
      const file = positionals[0];
      let document: unknown;
      try {
        document = parseJsonText(readFileSync(file, 'utf8')); // its error never quotes the file: its lines' references may hold anything
      } catch (error) {
        throw new UsageError(`cannot read statement ${file}: ${(error as Error).message}`);
      }
      return async (reader, io) => {
        const findings = await verifyStatement(reader, document);
        return report(io, findings, json, 'verify-statement: the statement matches the store');
      };
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

async function report(io: CliIo, findings: Findings, json: boolean, cleanLine: string): Promise<number> {
  if (json) await io.out(`${JSON.stringify(findings.toJson())}\n`);
  else {
    const text = findings.toText();
    await io.out(`${text === '' ? '' : `${text}\n`}${findings.clean ? cleanLine : `${findings.count} violations`}\n`);
  }
  return findings.clean ? EXIT.clean : EXIT.violations;
}

function required(options: Options, name: 'out' | 'account' | 'format' | 'wallet' | 'from' | 'to'): string {
  const value = options[name];
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** A time as the store writes `recordedAt` (ISO 8601 UTC, milliseconds), so strings compare as times. */
function isoTime(name: string, subMillisecond: SubMillisecond, text: string): string {
  const time = isoTimeOf(text, subMillisecond);
  if (time === undefined) throw new UsageError(`--${name} must be an ISO 8601 time on a day that exists, got ${text}`);
  return time;
}

/** The path with symbolic links resolved, as far as it exists (what is left is joined on): where a write really lands. */
function realPathOf(path: string): string {
  const absolute = resolve(path);
  if (existsSync(absolute)) return realpathSync(absolute);
  const parent = dirname(absolute);
  return parent === absolute ? absolute : join(realPathOf(parent), basename(absolute));
}

/** `path` itself, or its closest ancestor that exists (where a directory would be made from). */
function nearestExisting(path: string): string {
  const parent = dirname(path);
  return existsSync(path) || parent === path ? path : nearestExisting(parent);
}

function boundedInt(name: string, text: string, min: number, max: number): number {
  const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${text}`);
  return value;
}

function positionOf(text: string): bigint {
  if (!/^[0-9]{1,19}$/.test(text)) throw new UsageError(`--position must be a non-negative integer, got ${text}`);
  return BigInt(text);
}
