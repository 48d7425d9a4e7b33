// Times as the audit reads them from its callers (options, statements) and compares them with the
// store's `recordedAt`: ISO 8601, turned into the store's own form (UTC, milliseconds), so strings
// compare as times. A time with no offset is UTC (the usage line's promise; Date.parse would read it
// in the machine's zone), Date.parse's other lenient forms are refused, and so is a day the month
// lacks (Date.parse rolls it over into the next month) and a time outside years 0000-9999 (whose
// ISO form, `+010000-...`, no longer sorts as a time).
import { toIsoTime } from '@ledger/contracts';

/** A date, optionally a time (T or a space) with seconds and fraction optional, and an offset (Z, ±hh:mm, ±hhmm, ±hh). */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
/** The store's own form: 24 characters, a four-digit year. */
const STORE_TIME_LENGTH = 24;

/**
 * How a time finer than the store's milliseconds is read: `down` for an inclusive "as of" (T + 0.1 ms still holds what T
 * does), `up` for the bound of a range [from, to) (the first commit time at or after it).
 */
export type SubMillisecond = 'down' | 'up';

/** The time in the store's form, or undefined when `text` is no ISO 8601 time or names a day or time that does not exist. */
export function isoTimeOf(text: string, subMillisecond: SubMillisecond = 'down'): string | undefined {
  const match = ISO_TIME.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hours = '00', minutes = '00', seconds = '00', fraction = '', zone = 'Z'] = match;
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(3).replace(':', '') || '00'}`;
  // The one form ECMAScript defines Date.parse for (no zone-less time, no locale-dependent fallback).
  const ms = Date.parse(`${year}-${month}-${day}T${hours}:${minutes}:${seconds}.${fraction.padEnd(3, '0').slice(0, 3)}${offset}`);
  if (Number.isNaN(ms) || Number(day) > daysInMonth(Number(year), Number(month))) return undefined;
  const time = toIsoTime(subMillisecond === 'up' && /[1-9]/.test(fraction.slice(3)) ? ms + 1 : ms);
  return time.length === STORE_TIME_LENGTH ? time : undefined;
}

/** True when `text` is a time written exactly as the store writes one (what statements carry). */
export function isStoreTime(text: unknown): text is string {
  return typeof text === 'string' && isoTimeOf(text) === text;
}

function daysInMonth(year: number, month: number): number {
  const date = new Date(0);
  // Day 0 of the next month is the last of this one; setUTCFullYear keeps years 0-99 as they are.
  date.setUTCFullYear(year, month, 0);
  return date.getUTCDate();
}
