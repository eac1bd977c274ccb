/**
 * Writes at a fixed rate (open loop: item i is due at start + i / rate, whatever the latency of earlier
 * writes), each item stamped with `writtenAt` = the epoch ms just before its PutItem is sent. At most
 * `maxInFlight` writes are outstanding; past that, due writes wait (and are stamped when they are sent), and
 * `achievedRate` shows the shortfall.
 */
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { KEY, makeItem } from './ddb.js';

export interface Written {
  key: string;
  writtenAt: number;
  ackedAt?: number;
}

export class RateWriter {
  readonly written: Written[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;
  private inFlight = 0;
  maxInFlight = 0;
  errors = 0;
  startedAt = 0;
  stoppedAt = 0;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly ratePerSecond: number,
    private readonly prefix = 'w',
    private readonly onWrite: (written: Written, index: number) => void = () => {},
    private readonly inFlightLimit = 128,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    // Let the writes in flight land.
    const deadline = Date.now() + 10_000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.stoppedAt = Date.now();
  }

  get achievedRate(): number {
    const seconds = ((this.stoppedAt || Date.now()) - this.startedAt) / 1000;
    return this.written.length / seconds;
  }

  private async run(): Promise<void> {
    let i = 0;
    while (!this.stopped) {
      const due = Math.floor(((Date.now() - this.startedAt) / 1000) * this.ratePerSecond);
      for (; i < due && this.inFlight < this.inFlightLimit; i++) this.writeOne(i);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private writeOne(i: number): void {
    const writtenAt = Date.now();
    const item = makeItem(i, writtenAt, this.prefix);
    const written: Written = { key: item[KEY]?.S as string, writtenAt };
    this.written.push(written);
    this.onWrite(written, i);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.client
      .send(new PutItemCommand({ TableName: this.table, Item: item }))
      .then(
        () => {
          written.ackedAt = Date.now();
        },
        () => {
          this.errors++;
        },
      )
      .finally(() => {
        this.inFlight--;
      });
  }
}
