// Compares a live projection file with its rebuild, table by table, inside SQLite (the rebuild is
// ATTACHed to a read-only connection on the live file): rows are matched by primary key, so a
// difference is reported by key, and nothing is loaded into memory but the differences reported.
import type Database from 'better-sqlite3';
import { openReadOnly } from './sqlite-store-reader';
import { printable } from './card-number-filter';
import { USER_SNAPSHOTS_TABLE } from '../../identity/src/application/user-snapshots';

/** Differing rows reported per table; beyond it they are only counted. */
export const DIFF_ROWS_REPORTED_MAX = 1_000;

/** The checkpoints table is shared by the projections of a file: only the rebuilt ones' rows are compared. */
const CHECKPOINTS_TABLE = 'checkpoints';

export interface RowDifference {
  readonly table: string;
  /** Primary key columns and values. */
  readonly key: Readonly<Record<string, string | null>>;
  /** `differs`: both have the key; `missing`: only the rebuild has it; `extra`: only the live file has it. */
  readonly kind: 'differs' | 'missing' | 'extra';
  /** For `differs`: each column that differs. */
  readonly columns: readonly { readonly column: string; readonly live: string | null; readonly rebuilt: string | null }[];
}

export interface FileDifferences {
  readonly differences: RowDifference[];
  /** Per table, how many rows differ (reported or not). */
  readonly counts: Map<string, number>;
  readonly notes: string[];
}

interface Column {
  name: string;
  pk: number;
}

/** Differences of `liveFile` against `rebuiltFile`, over the tables the rebuild has. */
export function diffProjectionFile(liveFile: string, rebuiltFile: string, projectionNames: readonly string[]): FileDifferences {
  const db = openReadOnly(liveFile);
  const result: FileDifferences = { differences: [], counts: new Map(), notes: [] };
  try {
    db.prepare('ATTACH DATABASE ? AS rebuilt').run(rebuiltFile);
    const rebuiltTables = tablesOf(db, 'rebuilt');
    const liveTables = tablesOf(db, 'main');
    for (const table of liveTables) {
      if (!rebuiltTables.includes(table)) result.notes.push(table === USER_SNAPSHOTS_TABLE ? `table ${table}: identity's user snapshots, each compared with its stream folded to its revision` : `table ${table} is not built from events (not compared)`);
    }
    for (const table of rebuiltTables) {
      if (!liveTables.includes(table)) {
        result.differences.push({ table, key: {}, kind: 'missing', columns: [] });
        result.counts.set(table, 1);
        continue;
      }
      diffTable(db, table, table === CHECKPOINTS_TABLE ? projectionNames : undefined, result);
    }
  } finally {
    db.close();
  }
  return result;
}

function tablesOf(db: Database.Database, schema: 'main' | 'rebuilt'): string[] {
  return db
    .prepare<[], { name: string }>(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
    .all()
    .map((row) => row.name);
}

function columnsOf(db: Database.Database, schema: 'main' | 'rebuilt', table: string): Column[] {
  return db.prepare<[], Column>(`SELECT name, pk FROM pragma_table_info(${quoteText(table)}, ${quoteText(schema)}) ORDER BY cid`).all();
}

function diffTable(db: Database.Database, table: string, checkpointNames: readonly string[] | undefined, result: FileDifferences): void {
  const columns = columnsOf(db, 'rebuilt', table);
  const liveColumns = columnsOf(db, 'main', table);
  if (JSON.stringify(columns) !== JSON.stringify(liveColumns)) {
    result.differences.push({ table, key: {}, kind: 'differs', columns: [{ column: '(schema)', live: liveColumns.map((c) => c.name).join(','), rebuilt: columns.map((c) => c.name).join(',') }] });
    result.counts.set(table, 1);
    return;
  }
  const declaredKey = columns.filter((column) => column.pk > 0).sort((a, b) => a.pk - b.pk).map((column) => column.name);
  const keyColumns = declaredKey.length > 0 ? declaredKey : columns.map((column) => column.name);
  const valueColumns = columns.map((column) => column.name).filter((name) => !keyColumns.includes(name));
  const t = quoteId(table);
  const join = keyColumns.map((name) => `l.${quoteId(name)} = r.${quoteId(name)}`).join(' AND ');
  const filterOn = (alias: string) => (checkpointNames === undefined ? '1' : `${alias}.name IN (${checkpointNames.map(quoteText).join(', ') || "''"})`);
  const same = valueColumns.length === 0 ? '1' : valueColumns.map((name) => `l.${quoteId(name)} IS r.${quoteId(name)}`).join(' AND ');
  const select = [...keyColumns, ...valueColumns].flatMap((name) => [`l.${quoteId(name)} AS ${quoteId(`l:${name}`)}`, `r.${quoteId(name)} AS ${quoteId(`r:${name}`)}`]);
  const liveSide = db
    .prepare(
      `SELECT ${select.join(', ')}, r.${quoteId(keyColumns[0])} IS NULL AS "__extra"
       FROM main.${t} AS l LEFT JOIN rebuilt.${t} AS r ON ${join}
       WHERE ${filterOn('l')} AND (r.${quoteId(keyColumns[0])} IS NULL OR NOT (${same}))`,
    )
    .safeIntegers(true);
  const rebuiltOnly = db
    .prepare(
      `SELECT ${keyColumns.map((name) => `r.${quoteId(name)} AS ${quoteId(`r:${name}`)}`).join(', ')} FROM rebuilt.${t} AS r
       WHERE ${filterOn('r')} AND NOT EXISTS (SELECT 1 FROM main.${t} AS l WHERE ${join})`,
    )
    .safeIntegers(true);
  let count = 0;
  const add = (difference: RowDifference) => {
    count++;
    if (count <= DIFF_ROWS_REPORTED_MAX) result.differences.push(difference);
  };
  for (const row of liveSide.iterate() as Iterable<Record<string, unknown>>) {
    const extra = row.__extra === 1n || row.__extra === 1;
    const key = Object.fromEntries(keyColumns.map((name) => [name, text(row[`l:${name}`])]));
    if (extra) {
      add({ table, key, kind: 'extra', columns: [] });
      continue;
    }
    const changed = valueColumns
      .filter((name) => text(row[`l:${name}`]) !== text(row[`r:${name}`]))
      .map((name) => ({ column: name, live: text(row[`l:${name}`]), rebuilt: text(row[`r:${name}`]) }));
    add({ table, key, kind: 'differs', columns: changed });
  }
  for (const row of rebuiltOnly.iterate() as Iterable<Record<string, unknown>>) {
    add({ table, key: Object.fromEntries(keyColumns.map((name) => [name, text(row[`r:${name}`])])), kind: 'missing', columns: [] });
  }
  if (count > 0) result.counts.set(table, count);
}

/** One line for a difference: table, key, and what differs; every value through the card-number filter (rows hold caller text: hold ids, labels, merchants). */
export function describeDifference(file: string, difference: RowDifference): string {
  const shown = (value: string | null) => (value === null ? 'NULL' : printable(value));
  const key = Object.entries(difference.key)
    .map(([name, value]) => `${name}=${shown(value)}`)
    .join(' ');
  const where = `${file} ${difference.table}${key === '' ? '' : ` [${key}]`}`;
  switch (difference.kind) {
    case 'missing':
      return key === '' ? `${where}: table missing from the live file` : `${where}: row missing from the live file (the rebuild has it)`;
    case 'extra':
      return `${where}: row in the live file that no event explains`;
    case 'differs':
      return `${where}: ${difference.columns.map((c) => `${c.column} live ${shown(c.live)}, rebuilt ${shown(c.rebuilt)}`).join('; ')}`;
  }
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return `x'${value.toString('hex')}'`;
  return String(value);
}

function quoteId(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteText(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
