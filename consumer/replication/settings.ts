/**
 * Replication's own settings, defined once for `replicationProcessor({ … })` and the container's environment
 * (TARGET_TABLE_NAME, REPLICATION_WRITE_MODE, WRITE_CONCURRENCY), with the same validation for both.
 */
import { ConfigurationError } from '../../core/vocabulary/errors.js';
import {
  integerSetting,
  oneOfSetting,
  readSettings,
  requiredTableName,
  type SettingSpec,
  type SettingsSource,
  settingName,
} from '../settings.js';

export const WriteMode = { FENCED: 'fenced', CONDITIONAL: 'conditional' } as const;
export type WriteMode = (typeof WriteMode)[keyof typeof WriteMode];

export const REPLICATION_SETTINGS = {
  targetTableName: requiredTableName({
    option: 'targetTableName',
    variable: 'TARGET_TABLE_NAME',
    doc: 'table the changes are replicated into (required for replication)',
    required: 'the table to replicate into, e.g. users_replica',
  }),
  writeMode: oneOfSetting({
    option: 'writeMode',
    variable: 'REPLICATION_WRITE_MODE',
    doc: 'fenced (transactions fenced by the lease, with the checkpoint) or conditional (default fenced)',
    values: Object.values(WriteMode),
    fallback: WriteMode.FENCED,
  }),
  writeConcurrency: integerSetting({
    option: 'writeConcurrency',
    variable: 'WRITE_CONCURRENCY',
    doc: 'conditional mode: puts in flight per shard (default 32); fenced mode writes one transaction at a time per shard (only 1 is accepted)',
    min: 1,
    max: 256,
  }),
} as const satisfies Record<string, SettingSpec<unknown>>;

export interface ReplicationSettings {
  targetTableName: string;
  writeMode: WriteMode;
  writeConcurrency: number;
}

export function readReplicationSettings(
  values: Readonly<Record<string, unknown>>,
  source: SettingsSource,
  worker: { applicationName: string; applicationNameSetting?: string },
): ReplicationSettings {
  const read = readSettings(REPLICATION_SETTINGS, values, source);
  const name = (key: keyof typeof REPLICATION_SETTINGS) => settingName(REPLICATION_SETTINGS[key], source);
  if (worker.applicationName === read.targetTableName) {
    throw new ConfigurationError(
      worker.applicationNameSetting ?? (source === 'environment' ? 'APPLICATION_NAME' : 'applicationName'),
      `"${worker.applicationName}" names the lease table and must differ from the source and target tables.`,
    );
  }
  const fenced = read.writeMode === WriteMode.FENCED;
  const writeConcurrency = read.writeConcurrency ?? (fenced ? 1 : 32);
  if (fenced && writeConcurrency !== 1) {
    throw new ConfigurationError(
      name('writeConcurrency'),
      `must be 1 (or unset) with ${name('writeMode')}=fenced, got ${writeConcurrency}: every fenced transaction includes the shard's lease item, and AWS cancels a transaction that shares an item with one in flight (TransactionConflict). Use ${name('writeMode')}=conditional for parallel writes.`,
    );
  }
  return { targetTableName: read.targetTableName, writeMode: read.writeMode, writeConcurrency };
}
