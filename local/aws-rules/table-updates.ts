/**
 * `tableUpdates`, from the DynamoDB API reference (UpdateTable): "UpdateTable is an asynchronous operation; while
 * it's executing, the table status changes from ACTIVE to UPDATING. While it's UPDATING, you can't issue another
 * UpdateTable request", answered `ResourceInUseException`. DynamoDB Local accepts two UpdateTable requests that
 * arrive together: measured, two requests 0–20 ms apart that create the same index both succeed, where AWS accepts
 * one. So the layer holds a table from the arrival of an UpdateTable until its answer and refuses another one
 * meanwhile. After the answer DynamoDB Local's own state takes over as AWS's does (an index being created:
 * `ResourceInUseException`; one that exists: `ValidationException`).
 */
import { awsError } from './errors.js';
import { type Admission, type AwsRequest, PASS, type RequestHead, type Rule, refuse } from './rule.js';
import type { AwsRulesStatsRecorder } from './stats.js';
import type { RuleSwitches } from './switches.js';

export function tableBeingUpdated(tableName: string) {
  return awsError(
    'ResourceInUseException',
    `Attempt to change a resource which is still in use: Table is being updated: ${tableName}`,
  );
}

export class TableUpdateRule implements Rule {
  readonly name = 'tableUpdates';
  private readonly updating = new Set<string>();

  constructor(private readonly stats: AwsRulesStatsRecorder) {}

  inspects(head: RequestHead, switches: RuleSwitches): boolean {
    return switches.tableUpdates && head.service === 'dynamodb' && head.operation === 'UpdateTable';
  }

  admit(request: AwsRequest): Admission {
    const table = request.json()?.TableName;
    if (typeof table !== 'string') return PASS;
    if (this.updating.has(table)) {
      this.stats.tableUpdateRefused(table);
      return refuse(tableBeingUpdated(table));
    }
    this.updating.add(table);
    return { kind: 'pass', watch: { settle: () => this.updating.delete(table) } };
  }
}
