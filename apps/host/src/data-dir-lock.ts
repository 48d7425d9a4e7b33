// One host per DATA_DIR: DESIGN.md's one writer per ledger shard, and one relay per checkpoint row.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ConfigError } from '@ledger/contracts';

/** The file whose lock a running host holds; not `.sqlite`, so the audit CLI does not list it as a projection. */
export const DATA_DIR_LOCK_FILE = 'host.lock';

/**
 * Takes DATA_DIR for this process: an exclusive SQLite lock on `host.lock`, held until `release()`.
 * The OS drops it when the process dies, so a crash leaves nothing stale. A second host on the
 * same directory is refused at once (ConfigError naming DATA_DIR), as a taken PORT is.
 */
export function lockDataDir(dataDir: string): { release(): void } {
  const file = join(dataDir, DATA_DIR_LOCK_FILE);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 0 });
  } catch (error) {
    throw new ConfigError('DATA_DIR', `cannot hold ${DATA_DIR_LOCK_FILE} (${(error as { code?: string }).code ?? 'error'})`);
  }
  try {
    // In exclusive locking mode the lock BEGIN EXCLUSIVE takes is kept after COMMIT, until close.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (error) {
    db.close();
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_BUSY') throw new ConfigError('DATA_DIR', 'is in use by another host process (stop it first)');
    throw new ConfigError('DATA_DIR', `cannot hold ${DATA_DIR_LOCK_FILE} (${code ?? 'error'})`);
  }
  return { release: () => db.close() };
}
