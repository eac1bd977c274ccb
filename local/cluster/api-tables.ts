/**
 * Server-side printing, as `kubectl get` asks for it (`Accept: …;as=Table;g=meta.k8s.io;v=v1`): a `Table` with
 * the columns a real API server prints for pods (READY, STATUS, RESTARTS, AGE) and Deployments (READY,
 * UP-TO-DATE, AVAILABLE, AGE), and NAME and AGE for every other kind. Pure.
 */

interface ObjectLike {
  metadata?: {
    name?: string;
    namespace?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  spec?: unknown;
  status?: unknown;
}

/** A duration as kubectl prints an age: 45s, 3m10s, 12m, 5h3m, 7h, 2d3h, 30d. */
export function humanAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  return d < 8 ? `${d}d${h % 24}h` : `${d}d`;
}

type Column = { name: string; type: string; format?: string; cell: (o: ObjectLike, now: number) => unknown };

const age: Column = {
  name: 'Age',
  type: 'string',
  cell: (o, now) => {
    const created = Date.parse(o.metadata?.creationTimestamp ?? '');
    return Number.isFinite(created) ? humanAge(now - created) : '<unknown>';
  },
};
const name: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata?.name ?? '' };

interface ContainerStatus {
  ready?: boolean;
  restartCount?: number;
  state?: { running?: unknown; waiting?: { reason?: string }; terminated?: { reason?: string } };
}

function podStatus(o: ObjectLike): string {
  if (o.metadata?.deletionTimestamp) return 'Terminating';
  const statuses = (o.status as { containerStatuses?: ContainerStatus[] })?.containerStatuses ?? [];
  for (const status of statuses) {
    if (status.state?.waiting?.reason) return status.state.waiting.reason;
    if (status.state?.terminated?.reason) return status.state.terminated.reason;
  }
  return (o.status as { phase?: string })?.phase ?? 'Unknown';
}

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    name,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) => {
        const statuses = (o.status as { containerStatuses?: ContainerStatus[] })?.containerStatuses ?? [];
        return `${statuses.filter((s) => s.ready).length}/${statuses.length}`;
      },
    },
    { name: 'Status', type: 'string', cell: podStatus },
    {
      name: 'Restarts',
      type: 'string',
      cell: (o) =>
        String(
          ((o.status as { containerStatuses?: ContainerStatus[] })?.containerStatuses ?? []).reduce(
            (sum, s) => sum + (s.restartCount ?? 0),
            0,
          ),
        ),
    },
    age,
  ],
  Deployment: [
    name,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) =>
        `${(o.status as { readyReplicas?: number })?.readyReplicas ?? 0}/${(o.spec as { replicas?: number })?.replicas ?? 0}`,
    },
    { name: 'Up-to-date', type: 'integer', cell: (o) => (o.status as { replicas?: number })?.replicas ?? 0 },
    {
      name: 'Available',
      type: 'integer',
      cell: (o) => (o.status as { readyReplicas?: number })?.readyReplicas ?? 0,
    },
    age,
  ],
};

/** The list (or one object) as a meta.k8s.io/v1 Table. */
export function asTable(
  kind: string,
  objects: readonly ObjectLike[],
  resourceVersion: string,
  now = Date.now(),
) {
  const columns = COLUMNS[kind] ?? [name, age];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: columns.map((c, i) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.name,
      priority: i === 0 ? 0 : 0,
    })),
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o, now)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata ?? {} },
    })),
  };
}
