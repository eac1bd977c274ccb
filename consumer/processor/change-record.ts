/**
 * From a stream record as DynamoDB Streams returns it to the `ChangeRecord` a processor sees. Images are
 * unmarshalled on first access and kept: a processor that reads only `raw` (replication writes the typed
 * image as it came) pays nothing for them. Pure.
 */
import type { AttributeValue as DynamoDBValue } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, _Record as RawStreamRecord } from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isSequenceNumber } from '../../core/vocabulary/sequence.js';
import type { ChangeRecord, NativeItem, NativeValue } from './record-processor.js';

/** A record without the fields every DynamoDB stream record has (keys, a sequence number, an event name). */
export class MalformedRecordError extends Error {
  override readonly name = 'MalformedRecordError';
}

/**
 * N attributes: a number, or a bigint for an integer beyond ±(2^53 − 1); a decimal with more digits than a
 * double holds becomes the nearest number (the raw record keeps its exact text). util-dynamodb's default
 * would throw on such a decimal, failing a valid record.
 */
function nativeNumber(text: string): number | bigint {
  const number = Number(text);
  if (Number.isSafeInteger(number) || !/^-?\d+$/.test(text)) return number;
  return BigInt(text);
}

function native(image: Record<string, AttributeValue>): NativeItem {
  // The Streams client's AttributeValue is the DynamoDB client's, member for member.
  return unmarshall(image as Record<string, DynamoDBValue>, {
    wrapNumbers: nativeNumber,
  }) as Record<string, NativeValue>;
}

const EVENT_NAMES = new Set(['INSERT', 'MODIFY', 'REMOVE']);

class StreamChangeRecord implements ChangeRecord {
  readonly eventName: ChangeRecord['eventName'];
  readonly sequenceNumber: string;
  readonly approximateCreationTime: Date;
  private nativeKeys: NativeItem | undefined;
  private nativeNew: NativeItem | undefined | null = null;
  private nativeOld: NativeItem | undefined | null = null;

  constructor(readonly raw: RawStreamRecord) {
    const data = raw.dynamodb;
    const sequenceNumber = data?.SequenceNumber;
    if (!data?.Keys || !sequenceNumber || !isSequenceNumber(sequenceNumber)) {
      throw new MalformedRecordError(
        `Stream record ${raw.eventID ?? '(no eventID)'} has no keys or no sequence number.`,
      );
    }
    if (!EVENT_NAMES.has(raw.eventName ?? '')) {
      throw new MalformedRecordError(
        `Stream record ${sequenceNumber} has event name ${String(raw.eventName)}, not INSERT, MODIFY or REMOVE.`,
      );
    }
    this.eventName = raw.eventName as ChangeRecord['eventName'];
    this.sequenceNumber = sequenceNumber;
    this.approximateCreationTime = data.ApproximateCreationDateTime ?? new Date(0);
  }

  get keys(): NativeItem {
    this.nativeKeys ??= native(this.raw.dynamodb?.Keys ?? {});
    return this.nativeKeys;
  }

  get newImage(): NativeItem | undefined {
    if (this.nativeNew === null) {
      const image = this.raw.dynamodb?.NewImage;
      this.nativeNew = image ? native(image) : undefined;
    }
    return this.nativeNew;
  }

  get oldImage(): NativeItem | undefined {
    if (this.nativeOld === null) {
      const image = this.raw.dynamodb?.OldImage;
      this.nativeOld = image ? native(image) : undefined;
    }
    return this.nativeOld;
  }

  /** What `JSON.stringify` and a debugger show: the plain values, not the memo fields. */
  toJSON(): Record<string, unknown> {
    return {
      eventName: this.eventName,
      sequenceNumber: this.sequenceNumber,
      approximateCreationTime: this.approximateCreationTime,
      keys: this.keys,
      newImage: this.newImage,
      oldImage: this.oldImage,
    };
  }
}

export function toChangeRecord(raw: RawStreamRecord): ChangeRecord {
  return new StreamChangeRecord(raw);
}
