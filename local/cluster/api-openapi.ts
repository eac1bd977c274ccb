/**
 * The OpenAPI v3 documents kubectl reads before it writes: per group version, the PATCH operation of each
 * kind, tagged with its `x-kubernetes-group-version-kind` and offering the `fieldValidation` query parameter.
 * That is how kubectl (1.27 and later) learns the server validates fields itself (`?fieldValidation=Strict`)
 * instead of downloading the whole OpenAPI v2 schema to validate on the client. No schemas are served: this
 * API does not validate fields (see kubernetes-api.ts).
 */

export interface OpenApiResource {
  plural: string;
  groupVersion: string;
  kind: string;
  namespaced: boolean;
}

/** `api/v1` or `apis/GROUP/VERSION`: how OpenAPI v3 names a group version's document. */
function documentPath(groupVersion: string): string {
  return groupVersion.includes('/') ? `apis/${groupVersion}` : `api/${groupVersion}`;
}

/** GET /openapi/v3: where each served group version's document is. */
export function openApiRoot(groupVersions: readonly string[]) {
  return {
    paths: Object.fromEntries(
      groupVersions.map((gv) => [
        documentPath(gv),
        { serverRelativeURL: `/openapi/v3/${documentPath(gv)}?hash=streamfleet` },
      ]),
    ),
  };
}

/** GET /openapi/v3/api/v1 (or apis/G/V): its kinds' PATCH operations; undefined for a path not served. */
export function openApiDocument(path: string, resources: readonly OpenApiResource[]) {
  const served = resources.filter((r) => documentPath(r.groupVersion) === path);
  if (served.length === 0) return undefined;
  const parameters = ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map((name) => ({
    name,
    in: 'query',
    schema: { type: name === 'force' ? 'boolean' : 'string' },
  }));
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (streamfleet local)', version: 'v1.30.0' },
    paths: Object.fromEntries(
      served.map((r) => {
        const [group, version] = r.groupVersion.includes('/')
          ? r.groupVersion.split('/')
          : ['', r.groupVersion];
        const scope = r.namespaced ? '/namespaces/{namespace}' : '';
        return [
          `/${path}${scope}/${r.plural}/{name}`,
          {
            parameters,
            patch: {
              operationId: `patch${r.kind}`,
              parameters,
              'x-kubernetes-action': 'patch',
              'x-kubernetes-group-version-kind': { group, version, kind: r.kind },
              responses: { '200': { description: 'OK' } },
            },
          },
        ];
      }),
    ),
    components: { schemas: {} },
  };
}
