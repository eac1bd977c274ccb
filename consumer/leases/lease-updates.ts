/** The lease table's update expressions: a checkpoint with its progress, and the owner condition of a write. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type LeaseProgress, PROGRESS_ATTRIBUTES } from '../../core/vocabulary/lease.js';

export const S = (value: string): AttributeValue => ({ S: value });
export const N = (value: number): AttributeValue => ({ N: String(value) });

/** `SET` clauses and values recording `progress`; empty when there is nothing to record. */
export function progressClauses(progress: LeaseProgress | undefined): {
  clauses: string[];
  values: Record<string, AttributeValue>;
} {
  const clauses: string[] = [];
  const values: Record<string, AttributeValue> = {};
  for (const name of Object.values(PROGRESS_ATTRIBUTES)) {
    const value = progress?.[name];
    if (value === undefined || !Number.isFinite(value)) continue;
    clauses.push(`${name} = :${name}`);
    values[`:${name}`] = N(Math.round(value));
  }
  return { clauses, values };
}

/** A prepared checkpoint of KCL 1.7+ (`KinesisClientLeaseSerializer`): removed by every checkpoint, as KCL does. */
const PENDING_CHECKPOINT_ATTRIBUTES = ['pendingCheckpoint', 'pendingCheckpointSubSequenceNumber'] as const;

/**
 * The conditional checkpoint write as an update of the lease item: the same expression serves the
 * checkpointer's UpdateItem and the fenced writer's transaction (where it replaces a bare ConditionCheck).
 */
export function checkpointUpdate(
  tableName: string,
  leaseKey: string,
  owner: string,
  checkpoint: string,
  progress?: LeaseProgress,
): {
  TableName: string;
  Key: Record<string, AttributeValue>;
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeValues: Record<string, AttributeValue>;
} {
  const { clauses, values } = progressClauses(progress);
  return {
    TableName: tableName,
    Key: { leaseKey: S(leaseKey) },
    // As KCL 1.x checkpoints (KinesisClientLibLeaseCoordinator.setCheckpoint): the sub-sequence number and the
    // owner switches go to 0, and a prepared checkpoint a KCL 1.7+ application left (pendingCheckpoint) goes, so a
    // KCL worker that takes the table back is not told of a pending checkpoint behind the one it resumes from.
    UpdateExpression: `SET ${[
      'checkpoint = :checkpoint',
      'checkpointSubSequenceNumber = :zero',
      'ownerSwitchesSinceCheckpoint = :zero',
      ...clauses,
    ].join(', ')} REMOVE ${PENDING_CHECKPOINT_ATTRIBUTES.join(', ')}`,
    ConditionExpression: 'leaseOwner = :owner',
    ExpressionAttributeValues: { ':owner': S(owner), ':checkpoint': S(checkpoint), ':zero': N(0), ...values },
  };
}

/** The fence alone: the transaction goes through only while `owner` holds the lease. */
export function leaseOwnerCheck(
  tableName: string,
  leaseKey: string,
  owner: string,
): {
  TableName: string;
  Key: Record<string, AttributeValue>;
  ConditionExpression: string;
  ExpressionAttributeValues: Record<string, AttributeValue>;
} {
  return {
    TableName: tableName,
    Key: { leaseKey: S(leaseKey) },
    ConditionExpression: 'leaseOwner = :owner',
    ExpressionAttributeValues: { ':owner': S(owner) },
  };
}
