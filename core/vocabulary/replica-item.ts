/**
 * The replica item: the source's new image plus the workers' bookkeeping attributes — who wrote it, and the
 * sequence number of the change that wrote it (zero-padded, so string order is numeric order). Defined once,
 * for the workers that write them and the checks that leave them out of comparisons.
 */
export const REPLICA_BOOKKEEPING = { processedBy: 'processed_by', sequence: '_streamfleet_seq' } as const;
