/**
 * The strict layer's transaction-conflict rule as pure logic: the item lock table, and the rule over
 * parsed requests with a fake key-schema lookup. No network.
 */
import { describe, expect, it } from 'vitest';
import { errorTypeOf } from '../../local/aws-rules/errors.js';
import { itemId, normalizeNumber, transactItemTargets } from '../../local/aws-rules/item-keys.js';
import { type KeyNames, KeySchemaCache } from '../../local/aws-rules/key-schema-cache.js';
import { type Admission, BufferedRequest, type UpstreamOutcome } from '../../local/aws-rules/rule.js';
import { AwsRulesStatsRecorder } from '../../local/aws-rules/stats.js';
import { ALL_RULES_ON, type RuleSwitches } from '../../local/aws-rules/switches.js';
import { ItemLocks, TransactionConflictRule } from '../../local/aws-rules/transaction-conflicts.js';

const TABLE = 'leases';
const OK: UpstreamOutcome = { kind: 'answered', status: 200, tail: '{}', complete: true };

function request(operation: string, body: unknown): BufferedRequest {
  return new BufferedRequest('dynamodb', operation, {}, Buffer.from(JSON.stringify(body)));
}

const key = (id: string) => ({ leaseKey: { S: id } });
const conditionCheck = (id: string, table = TABLE) => ({
  ConditionCheck: { TableName: table, Key: key(id), ConditionExpression: 'attribute_exists(leaseKey)' },
});
const update = (id: string, table = TABLE) => ({
  Update: { TableName: table, Key: key(id), UpdateExpression: 'SET n = :n' },
});
const put = (id: string, table = TABLE) => ({
  Put: { TableName: table, Item: { ...key(id), owner: { S: 'w1' } } },
});
const transaction = (...items: unknown[]) => request('TransactWriteItems', { TransactItems: items });

function setUp(options: { schemas?: Record<string, KeyNames> } = {}) {
  const lookups: string[] = [];
  const schemas = new KeySchemaCache(async (table) => {
    lookups.push(table);
    return (options.schemas ?? { [TABLE]: ['leaseKey'] })[table];
  });
  const stats = new AwsRulesStatsRecorder();
  const rule = new TransactionConflictRule({ schemas, stats, commitLatencyMs: 20 });
  const admit = (req: BufferedRequest, switches: RuleSwitches = ALL_RULES_ON) => rule.admit(req, switches);
  return { rule, stats, schemas, lookups, admit };
}

function reply(admission: Admission): { type: string | undefined; body: Record<string, unknown> } {
  if (admission.kind !== 'refuse') throw new Error('expected a refusal');
  return { type: errorTypeOf(admission.reply.body), body: JSON.parse(admission.reply.body) };
}

describe('ItemLocks', () => {
  it('holds all items of a transaction, or none when one is held', () => {
    const locks = new ItemLocks();
    const first = locks.tryHold(['a', 'b']);
    expect(first.held).toBe(true);
    expect(locks.tryHold(['c', 'b', 'd'])).toEqual({ held: false, conflicting: [false, true, false] });
    expect(locks.isHeld('c')).toBe(false);
    expect(locks.ongoing).toBe(1);
  });

  it('lets the items go when the transaction is released, once', () => {
    const locks = new ItemLocks();
    const first = locks.tryHold(['a']);
    if (!first.held) throw new Error('not held');
    locks.release(first.transaction);
    locks.release(first.transaction);
    expect(locks.isHeld('a')).toBe(false);
    expect(locks.tryHold(['a']).held).toBe(true);
  });
});

describe('TransactionConflictRule', () => {
  it('cancels a transaction that includes an item an ongoing one holds, a ConditionCheck included', async () => {
    const { admit, stats } = setUp();
    const first = await admit(transaction(conditionCheck('shard-1'), update('replica-1', 'replica')));
    expect(first).toMatchObject({ kind: 'pass', delayMs: 20 });

    const second = await admit(transaction(update('replica-2', 'replica'), conditionCheck('shard-1')));
    const { type, body } = reply(second);
    expect(type).toBe('TransactionCanceledException');
    expect(body.CancellationReasons).toEqual([
      { Code: 'None' },
      { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
    ]);
    expect(body.Message).toBe(
      'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
    );
    expect(stats.snapshot(ALL_RULES_ON).refused.transactionConflicts).toEqual({
      cancelledTransactions: 1,
      refusedSingleWrites: 0,
      byTable: { [TABLE]: { cancelledTransactions: 1, refusedSingleWrites: 0 } },
    });
  });

  it('refuses a single write on a held item, and lets it through once the transaction has answered', async () => {
    const { admit, stats } = setUp();
    const held = await admit(transaction(conditionCheck('shard-1')));
    const renewal = request('UpdateItem', {
      TableName: TABLE,
      Key: key('shard-1'),
      UpdateExpression: 'SET c = :c',
    });
    expect(reply(await admit(renewal)).body).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionConflictException',
      message: 'Transaction is ongoing for the item',
    });
    const other = request('DeleteItem', { TableName: TABLE, Key: key('shard-2') });
    expect((await admit(other)).kind).toBe('pass');

    if (held.kind !== 'pass') throw new Error('not admitted');
    held.watch?.settle(OK);
    expect((await admit(renewal)).kind).toBe('pass');
    const snapshot = stats.snapshot(ALL_RULES_ON);
    expect(snapshot.refused.transactionConflicts.refusedSingleWrites).toBe(1);
    expect(snapshot.transactions.committed).toBe(1);
  });

  it('identifies a Put by the key schema, looked up once per table', async () => {
    const { admit, lookups } = setUp();
    await admit(transaction(put('shard-1')));
    const putItem = request('PutItem', { TableName: TABLE, Item: { owner: { S: 'w2' }, ...key('shard-1') } });
    expect(reply(await admit(putItem)).type).toBe('TransactionConflictException');
    expect(reply(await admit(transaction(update('shard-1')))).type).toBe('TransactionCanceledException');
    expect(lookups).toEqual([TABLE]);
  });

  it('still holds the items of a transaction whose condition fails upstream, until its answer', async () => {
    const { admit, stats } = setUp();
    const held = await admit(transaction(conditionCheck('shard-1')));
    expect((await admit(transaction(conditionCheck('shard-1')))).kind).toBe('refuse');
    if (held.kind !== 'pass') throw new Error('not admitted');
    held.watch?.settle({ kind: 'answered', status: 400, tail: '{}', complete: true });
    expect((await admit(transaction(conditionCheck('shard-1')))).kind).toBe('pass');
    expect(stats.snapshot(ALL_RULES_ON).transactions).toEqual({
      committed: 0,
      failedUpstream: 1,
      unmodelled: 0,
    });
  });

  it('releases the items when the upstream call fails or a later rule refuses the request', async () => {
    const { admit } = setUp();
    for (const outcome of [{ kind: 'failed' }, { kind: 'not-forwarded' }] as const) {
      const held = await admit(transaction(conditionCheck('shard-1')));
      if (held.kind !== 'pass') throw new Error('not admitted');
      held.watch?.settle(outcome);
    }
    expect((await admit(transaction(conditionCheck('shard-1')))).kind).toBe('pass');
  });

  it('never makes reads conflict, nor single writes hold items', async () => {
    const { rule, admit } = setUp();
    await admit(request('UpdateItem', { TableName: TABLE, Key: key('shard-1') }));
    expect((await admit(transaction(conditionCheck('shard-1')))).kind).toBe('pass');
    for (const operation of ['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']) {
      expect(rule.inspects({ service: 'dynamodb', operation, headers: {} }, ALL_RULES_ON)).toBe(false);
    }
  });

  it('does nothing with the switch off but count what transactions commit: no conflicts, no holds', async () => {
    const off = { ...ALL_RULES_ON, transactionConflicts: false };
    const { rule, admit, stats } = setUp();
    const head = (operation: string) => ({ service: 'dynamodb', operation, headers: {} }) as const;
    expect(rule.inspects(head('UpdateItem'), off)).toBe(false);
    const first = await admit(transaction(conditionCheck('shard-1')), off);
    const second = await admit(transaction(conditionCheck('shard-1')), off);
    expect([first.kind, second.kind]).toEqual(['pass', 'pass']);
    expect(rule.locks.ongoing).toBe(0);
    if (first.kind === 'pass') first.watch?.settle(OK);
    expect(stats.snapshot(off).transactions.committed).toBe(1);
  });

  it('lets through, counted as unmodelled, a transaction whose Put table has no known schema', async () => {
    const { admit, stats } = setUp({ schemas: {} });
    expect((await admit(transaction(put('shard-1')))).kind).toBe('pass');
    expect(stats.snapshot(ALL_RULES_ON).transactions.unmodelled).toBe(1);
  });
});

describe('KeySchemaCache', () => {
  it('shares one lookup between concurrent callers and does not cache a missing table', async () => {
    const calls: string[] = [];
    const known = new Map<string, KeyNames>([['a', ['id']]]);
    const cache = new KeySchemaCache(async (table) => {
      calls.push(table);
      return known.get(table);
    });
    expect(await Promise.all([cache.get('a'), cache.get('a')])).toEqual([['id'], ['id']]);
    expect(await cache.get('b')).toBeUndefined();
    known.set('b', ['pk', 'sk']);
    expect(await cache.get('b')).toEqual(['pk', 'sk']);
    expect(calls).toEqual(['a', 'b', 'b']);
  });

  it('forgets a table that a CreateTable, a DeleteTable or a not-found DescribeTable passes for', async () => {
    const calls: string[] = [];
    const schemas = new KeySchemaCache(async (table) => {
      calls.push(table);
      return ['id'];
    });
    const rule = new TransactionConflictRule({
      schemas,
      stats: new AwsRulesStatsRecorder(),
      commitLatencyMs: 0,
    });
    await schemas.get('t1');
    rule.admit(request('DeleteTable', { TableName: 't1' }), ALL_RULES_ON);
    expect(schemas.tables()).toEqual([]);

    await schemas.get('t1');
    const describe = rule.admit(request('DescribeTable', { TableName: 't1' }), ALL_RULES_ON);
    if (!('kind' in describe) || describe.kind !== 'pass') throw new Error('not admitted');
    expect(schemas.tables()).toEqual(['t1']);
    describe.watch?.settle({
      kind: 'answered',
      status: 400,
      tail: '{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","Message":"x"}',
      complete: true,
    });
    expect(schemas.tables()).toEqual([]);
  });
});

describe('item identity', () => {
  it('is the table plus the key attributes only, whatever their order or number spelling', () => {
    const [update1, put1] =
      transactItemTargets({
        TransactItems: [
          { Update: { TableName: 't', Key: { sk: { N: '1.50' }, pk: { S: 'a' } } } },
          { Put: { TableName: 't', Item: { pk: { S: 'a' }, other: { S: 'x' }, sk: { N: '15e-1' } } } },
        ],
      }) ?? [];
    if (!update1 || !put1) throw new Error('no targets');
    expect(itemId(update1)).toBe(itemId(put1, ['pk', 'sk']));
    expect(itemId(put1, ['pk', 'sk'])).toBe('["t",["pk","S","a"],["sk","N","15e-1"]]');
    expect(itemId(put1)).toBeUndefined();
  });

  it('normalises numbers to one spelling', () => {
    expect(['1', '1.0', '01', '1e0', '+1', '0.1e1'].map(normalizeNumber)).toEqual(Array(6).fill('1e0'));
    expect(['0', '-0.00', '0e5'].map(normalizeNumber)).toEqual(['0', '0', '0']);
    expect(normalizeNumber('-120')).toBe('-12e1');
    expect(normalizeNumber('not a number')).toBe('not a number');
  });
});
