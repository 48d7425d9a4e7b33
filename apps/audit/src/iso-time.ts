// Times as the audit reads them from its callers (options, statements) and compares them with the
// store's `recordedAt`: ISO 8601, turned into the store's own form (UTC, milliseconds), so strings
// compare as times. Date.parse rolls a day the month lacks over into the next month: refused here.
import { toIsoTime } from '@ledger/contracts';

const DATE = /^(\d{4})-(\d{2})-(\d{2})/;

/** The time in the store's form, or undefined when `text` is no ISO 8601 time or names a day that does not exist. */
export function isoTimeOf(text: string): string | undefined {
  const date = DATE.exec(text);
  const ms = date === null ? Number.NaN : Date.parse(text);
  if (date === null || Number.isNaN(ms)) return undefined;
  const [year, month, day] = date.slice(1).map(Number);
  const calendar = new Date(Date.UTC(year, month - 1, day));
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
  calendar.setUTCFullYear(year);
  if (calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) return undefined;
  return toIsoTime(ms);
}

/** True when `text` is a time written exactly as the store writes one (what statements carry). */
export function isStoreTime(text: unknown): text is string {
  return typeof text === 'string' && isoTimeOf(text) === text;
}
