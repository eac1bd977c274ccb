/** A shard as the stream lists it, reduced to what lineage needs. */
export interface Shard {
  shardId: string;
  parentShardId: string | undefined;
  startingSequenceNumber: string | undefined;
  /** Present once the shard is closed: no records will be added after it. */
  endingSequenceNumber: string | undefined;
}

export function isOpen(shard: Shard): boolean {
  return shard.endingSequenceNumber === undefined;
}
