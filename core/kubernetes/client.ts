/**
 * The one door of the control plane (and the local cluster's tools) to @kubernetes/client-node: every module
 * of core/ that talks to a Kubernetes API server takes the client's classes from here, so the package's
 * layout is known in one place and an upgrade is checked in one file.
 *
 * The names come from the client's own modules, not its index: the index also loads exec, attach, port-forward
 * and their WebSocket stack, which no Lambda function runs, and the package declares no `sideEffects`, so a
 * bundler could not leave them out (test/infra/bundles.test.ts holds the functions' bundles to that).
 *
 * The worker does not come through here: it may import only core/vocabulary/, and it loads the client lazily,
 * on first use, because the npm package leaves it an optional peer dependency (consumer/peers/kubernetes-pods.ts).
 */
export { KubeConfig } from '@kubernetes/client-node/dist/config.js';
export type { User } from '@kubernetes/client-node/dist/config_types.js';
export { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js';
export { createConfiguration } from '@kubernetes/client-node/dist/gen/configuration.js';
export { HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
export { ServerConfiguration } from '@kubernetes/client-node/dist/gen/servers.js';
export { KubernetesObjectApi } from '@kubernetes/client-node/dist/object.js';
export { PatchStrategy } from '@kubernetes/client-node/dist/patch.js';
export type { KubernetesObject } from '@kubernetes/client-node/dist/types.js';
export { Watch } from '@kubernetes/client-node/dist/watch.js';
