/** What /proc says about a process: peak memory, CPU time, children. Linux only; absent elsewhere. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** A field of /proc/<pid>/status in kB (VmHWM = peak resident set, VmRSS = current). */
export function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds the process has used so far (its own threads, not its children). */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state is field 3 of the man page, utime 14, stime 15 → indexes 11, 12 here.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/** Direct children of a process. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The java process under DynamoDB Local's bash guard (the guard's pid is what the launcher returns). */
export function findJavaPid(guardPid: number): number | undefined {
  for (const pid of childPids(guardPid)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'java') return pid;
    } catch {
      // gone
    }
  }
  return undefined;
}

export function loadAverage(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

/** Whole-machine CPU time used so far (all cores, seconds), to tell how busy the box was meanwhile. */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const parts = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const idle = (parts[3] ?? 0) + (parts[4] ?? 0);
    const total = parts.reduce((a, b) => a + b, 0);
    return (total - idle) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  java: string;
  platform: string;
  loadAverageAtStart: number[];
}

export function machineInfo(): MachineInfo {
  let java = 'unknown';
  try {
    java = execFileSync('sh', ['-c', 'java -version 2>&1 | head -1'], { encoding: 'utf8' }).trim();
  } catch {
    // keep what we have
  }
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    java,
    platform: `${process.platform} ${process.arch}`,
    loadAverageAtStart: loadAverage(),
  };
}
