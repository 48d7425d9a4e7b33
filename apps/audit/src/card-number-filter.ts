// Nothing the audit prints may carry a card number (DESIGN.md §6). The ledger stores none, but
// references are free text from callers, so every reference value passes through this filter:
// a value with a run of 12 or more digits (PANs are 12-19), plain or split by short separators
// (up to SEPARATOR_MAX of: whitespace, any dash, invisible format characters, dots, slashes,
// underscores, commas, plus signs, asterisks, tildes, bars, brackets; digits of any script,
// full-width ones folded by NFKC), is withheld. A colon is not a separator, so a time of day
// passes. Canonical UUIDs, alone or inside a value, are let through (their hex groups are not card numbers). Entry ids and
// kinds are caller text too (a capture's entry id is the network's authorization id): `printable`.

/** Separator characters allowed between two digits of one run ("4111 - 1111" has three). */
const SEPARATOR_MAX = 3;
const SEPARATOR = String.raw`[\s\p{Pd}\p{Cf}._/,+*~|()\[\]\u2212]`;
const DIGIT_RUN = new RegExp(String.raw`(?<!\p{Nd})\p{Nd}(?:${SEPARATOR}{0,${SEPARATOR_MAX}}\p{Nd}){11,}(?!\p{Nd})`, 'u');
/** Canonical UUIDs, wherever they stand in a value (`{transferId}:reversal`, `card-{id}`): their hex groups are not card numbers. */
const UUIDS_IN_TEXT = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/i;
const DIGIT_RUNS = new RegExp(DIGIT_RUN.source, 'gu');

export const WITHHELD = '[withheld: looks like a card number]';

/** The value split around its UUIDs: text at even indexes, UUIDs at odd ones. */
function aroundUuids(value: string): string[] {
  return value.normalize('NFKC').split(UUIDS_IN_TEXT);
}

export function looksLikeCardNumber(value: string): boolean {
  return aroundUuids(value).some((part, index) => index % 2 === 0 && DIGIT_RUN.test(part));
}

/** A free-text field the audit prints (entry id, kind): itself, or WITHHELD. Data not of its type's shape may hold anything: it is printed as JSON. */
export function printable(value: unknown): string {
  const text = typeof value === 'string' ? value : String(JSON.stringify(value));
  return looksLikeCardNumber(text) ? WITHHELD : text;
}

/** A message built from caller text (ids inside): each card-number-like run in it replaced by WITHHELD, UUIDs left whole. */
export function withCardNumbersWithheld(text: string): string {
  return aroundUuids(text)
    .map((part, index) => (index % 2 === 1 ? part : part.replace(DIGIT_RUNS, WITHHELD)))
    .join('');
}

/** The references with every suspicious value withheld, and how many were. */
export function filterReferences(references: Readonly<Record<string, string>>): { references: Record<string, string>; withheld: number } {
  const filtered: Record<string, string> = {};
  let withheld = 0;
  for (const [name, value] of Object.entries(references)) {
    const suspicious = typeof value !== 'string' || looksLikeCardNumber(value) || looksLikeCardNumber(name);
    if (suspicious) withheld++;
    filtered[looksLikeCardNumber(name) ? `withheld-${withheld}` : name] = suspicious ? WITHHELD : value;
  }
  return { references: filtered, withheld };
}
