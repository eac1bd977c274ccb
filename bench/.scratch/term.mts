import { startDynamoDbLocal } from '/work/main/local/dynamodb-local.js';
import { localClient } from '/work/main/test/support/fleet.js';
import { streamsClient } from '/work/main/bench/lib/ddb.js';
import { runCleanups, installExitHandlers, onCleanup } from '/work/main/bench/lib/cleanup.js';
import { runFailover } from '/work/main/bench/benchmarks/failover.js';
installExitHandlers();
const ddb = await startDynamoDbLocal();
onCleanup('ddb', () => ddb.stop());
const ctx = { endpoint: ddb.endpoint, client: localClient(ddb.endpoint), streams: streamsClient(ddb.endpoint), javaPid: undefined, quick: false, loops: {} as never, profileDir: '/tmp', log: (m: string) => console.log(m) };
try {
  for (let i = 0; i < 3; i++) {
    for (const taker of ['1000', '500', '250']) {
      const r = await runFailover(ctx as never, { trials: 1, kinds: ['SIGTERM'], env: { LEASE_TAKER_INTERVAL_MS: taker } });
      console.log(`RESULT taker=${taker} first=${r.trials[0]!.firstRecordSeconds.toFixed(2)} take=${r.trials[0]!.peerLog.takenSeconds?.toFixed(2)}`);
    }
  }
} finally { await runCleanups(); }
process.exit(0);
