/** Command line: `npm run bench -- [--quick] [--only NAME[,NAME]] [--rounds N] [--no-profile] [--out FILE] [--aws-rules SPEC]`. */
import {
  ALL_RULES_ON,
  parseRuleSwitches,
  type RuleSwitches,
  RuleSwitchesError,
} from '../../local/aws-rules/index.js';

export const BENCHMARKS = ['drain', 'lag', 'failover', 'kcl-switch', 'cost', 'scale', 'verify'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export interface CliOptions {
  quick: boolean;
  only: BenchmarkName[];
  rounds: number | undefined;
  profile: boolean;
  out: string | undefined;
  help: boolean;
  /** The strict layer's switches for the headline figures. */
  rules: RuleSwitches;
}

export const USAGE = `npm run bench -- [options]

  --quick            ~3-minute smoke run (also BENCH_QUICK=1): smaller loads, one round each
  --only NAME[,NAME] run only these: ${BENCHMARKS.join(', ')} (memory is measured in drain)
  --rounds N         rounds of drain, failover and kcl-switch trials (default 3; quick 1); lag runs
                     min(N, 2)
  --no-profile       skip the profiled drain (full runs CPU-profile the worker once, via node:inspector)
  --out FILE         where to write the JSON results (default bench/results.json)
  --aws-rules SPEC   the strict layer's rules for the headline figures: all (default), none, or e.g.
                     -transactionConflicts (also BENCH_AWS_RULES); the drain also reports rules off
  --help             this text

BENCH_CONSUMER_BUNDLE=/path/consumer.js measures another build of the worker (prototypes).
See BENCHMARKS.md for the methods and the latest figures.
`;

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions {
  const options: CliOptions = {
    quick: env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true',
    only: [...BENCHMARKS],
    rounds: undefined,
    profile: true,
    out: undefined,
    help: false,
    rules: { ...ALL_RULES_ON },
  };
  const rulesSpec = (spec: string) => {
    try {
      return parseRuleSwitches(spec);
    } catch (error) {
      if (error instanceof RuleSwitchesError) throw new Error(`--aws-rules: ${error.message}`);
      throw error;
    }
  };
  if (env.BENCH_AWS_RULES) options.rules = rulesSpec(env.BENCH_AWS_RULES);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--no-profile') options.profile = false;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg.startsWith('--only')) {
      const names = value()
        .split(',')
        .map((s) => s.trim());
      for (const name of names) {
        if (!(BENCHMARKS as readonly string[]).includes(name))
          throw new Error(`unknown benchmark "${name}"; choose from ${BENCHMARKS.join(', ')}`);
      }
      options.only = names as BenchmarkName[];
    } else if (arg.startsWith('--rounds')) {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error('--rounds needs a positive integer');
      options.rounds = n;
    } else if (arg.startsWith('--out')) options.out = value();
    else if (arg.startsWith('--aws-rules')) options.rules = rulesSpec(value());
    else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  if (options.quick) options.profile = false;
  return options;
}
