// `ledger-audit dead-letters`: the embedded host's kept dead letters (DATA_DIR/dead-letters.sqlite),
// read-only and paged. Nothing that could be a card number is printed: the error, key and headers
// pass the card-number filter, and a payload is printed with each suspicious value withheld.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEAD_LETTERS_FILE, openDeadLetterFile, type StoredDeadLetter } from '@ledger/messaging';
import { looksLikeCardNumber, printable, withCardNumbersWithheld, WITHHELD } from './card-number-filter';

/** Dead letters one page shows unless --limit says otherwise. */
export const DEAD_LETTERS_PAGE_DEFAULT = 100;
/** How deep a payload is walked value by value; a deeper part is printed whole, or withheld whole. */
const PAYLOAD_WALK_DEPTH_MAX = 32;

export interface DeadLetterPage {
  readonly file: string;
  /** False when the data dir has no dead-letter file (the host never kept one there). */
  readonly exists: boolean;
  readonly total: number;
  readonly deadLetters: readonly PrintedDeadLetter[];
  /** The --after of the next page, or null on the last. */
  readonly next: number | null;
}

/** A stored dead letter as printed: its text filtered, its payload decoded. */
export interface PrintedDeadLetter extends Omit<StoredDeadLetter, 'headers' | 'value'> {
  readonly headers: Record<string, string>;
  /** The payload (JSON, each value that looks like a card number withheld); null when the bus did not keep it (a request's or a reply's). */
  readonly value: unknown;
  readonly valueBytes: number | null;
}

export async function deadLetterPage(dataDir: string, page: { after: number; limit: number }): Promise<DeadLetterPage> {
  const file = join(dataDir, DEAD_LETTERS_FILE);
  if (!existsSync(file)) return { file, exists: false, total: 0, deadLetters: [], next: null };
  const store = openDeadLetterFile(file);
  try {
    // One more than asked, to know whether a next page exists.
    const letters = await store.list({ afterId: page.after, limit: page.limit + 1 });
    const shown = letters.slice(0, page.limit);
    return { file, exists: true, total: await store.count(), deadLetters: shown.map(printed), next: letters.length > page.limit ? shown[shown.length - 1].id : null };
  } finally {
    store.close();
  }
}

function printed(letter: StoredDeadLetter): PrintedDeadLetter {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(letter.headers)) headers[printable(name)] = withCardNumbersWithheld(String(value));
  return {
    id: letter.id,
    deadAt: letter.deadAt,
    topic: printable(letter.topic),
    partition: letter.partition,
    offset: letter.offset,
    groupId: printable(letter.groupId),
    attempts: letter.attempts,
    error: withCardNumbersWithheld(letter.error),
    key: withCardNumbersWithheld(letter.key),
    headers,
    value: letter.value === null ? null : payloadOf(letter.value),
    valueBytes: letter.value === null ? null : letter.value.length,
  };
}

/** The payload as JSON with each suspicious key or value withheld; bytes that are not JSON are text, whole or withheld. */
function payloadOf(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return looksLikeCardNumber(text) ? WITHHELD : text;
  }
  return withheldIn(value, 0);
}

function withheldIn(value: unknown, depth: number): unknown {
  if (typeof value === 'string' || typeof value === 'number') return looksLikeCardNumber(String(value)) ? WITHHELD : value;
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= PAYLOAD_WALK_DEPTH_MAX) return printable(value) === WITHHELD ? WITHHELD : value;
  if (Array.isArray(value)) return value.map((item) => withheldIn(item, depth + 1));
  const out: Record<string, unknown> = {};
  let withheldKeys = 0;
  for (const [key, item] of Object.entries(value)) out[looksLikeCardNumber(key) ? `withheld-${++withheldKeys}` : key] = withheldIn(item, depth + 1);
  return out;
}

/** The page as text: one block per dead letter, then where the next page starts. */
export function deadLetterPageText(page: DeadLetterPage): string {
  if (!page.exists) return `no dead letters: ${page.file} does not exist\n`;
  const lines: string[] = [];
  for (const letter of page.deadLetters) {
    lines.push(`#${letter.id} ${letter.deadAt} ${letter.topic}[${letter.partition}]@${letter.offset} group ${letter.groupId}, ${letter.attempts} attempts: ${letter.error}`);
    lines.push(`  key: ${letter.key}`);
    lines.push(`  headers: ${JSON.stringify(letter.headers)}`);
    lines.push(`  value: ${letter.value === null ? 'not kept (a request or a reply may hold a secret)' : `${JSON.stringify(letter.value)} (${letter.valueBytes} bytes)`}`);
  }
  lines.push(`${page.deadLetters.length} of ${page.total} dead letters shown${page.next === null ? '' : `; next page: --after ${page.next}`}`);
  return `${lines.join('\n')}\n`;
}
