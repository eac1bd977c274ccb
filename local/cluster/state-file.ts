/**
 * The local cluster's state file: a JSON snapshot of what runs (objects, workloads with their pods, scalers),
 * written again after each change for people and tools to read (npm start keeps it as cluster.json).
 */
import { writeFileSync } from 'node:fs';
import type { Workload } from './workload.js';

/** A pod as the snapshot shows it. */
export interface PodSnapshot {
  name: string;
  pid: number | null;
  port: number;
  ready: boolean;
  restarts: number;
  stopping: boolean;
}

export interface ClusterSnapshot {
  name: string;
  kedaInstalled: boolean;
  kedaOperatorRole: string | null;
  objects: string[];
  workloads: {
    namespace: string;
    name: string;
    desired: number;
    failure: string | null;
    pods: PodSnapshot[];
  }[];
  scalers: {
    key: string;
    ready: boolean;
    active: boolean;
    message: string | null;
    lastDecision: number | null;
  }[];
}

/** A workload as the snapshot shows it. */
export function workloadSnapshot(w: Workload): ClusterSnapshot['workloads'][number] {
  return {
    namespace: w.namespace,
    name: w.name,
    desired: w.desired,
    failure: w.failure ?? null,
    pods: w.pods.map((p) => ({
      name: p.name,
      pid: p.worker.pid ?? null,
      port: p.port,
      ready: p.ready,
      restarts: p.restarts,
      stopping: p.stopping,
    })),
  };
}

/** Writes the snapshot to `file` (when there is one); a failed write changes nothing, as the file is for reading. */
export function writeStateFile(file: string | undefined, snapshot: ClusterSnapshot): void {
  if (!file) return;
  try {
    writeFileSync(file, `${JSON.stringify(snapshot, null, 2)}\n`);
  } catch {
    // For reading only.
  }
}
