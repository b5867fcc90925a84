/**
 * Where the REST v2 routes of a cluster live. Endpoints are used exactly as the console gives them
 * (spec section 6), which includes gateways that serve Milvus under a path prefix, so routes are
 * appended to the endpoint's path instead of replacing it (what `new URL('/v2/...', base)` would do).
 */
import { MilvusClientOptionsError } from './errors.ts';

export const ROUTE = {
  updatePassword: 'users/update_password',
  /** The credential probe: passes authentication, then lists with checkAuth=false (spec section 2). */
  probe: 'collections/list',
  describeUser: 'users/describe',
  createUser: 'users/create',
  grantRole: 'users/grant_role',
  revokeRole: 'users/revoke_role',
  listRoles: 'roles/list',
} as const;
export type Route = (typeof ROUTE)[keyof typeof ROUTE];

/** Parses and checks an endpoint; returns a function that builds the URL of a route under it. */
export function resolveEndpoint(cluster: string, endpoint: string): (route: Route) => URL {
  let base: URL;
  try {
    base = new URL(endpoint);
  } catch {
    throw new MilvusClientOptionsError(cluster, 'endpoint is not an absolute URL');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new MilvusClientOptionsError(cluster, 'endpoint must use http or https');
  }
  if (base.username !== '' || base.password !== '') {
    throw new MilvusClientOptionsError(cluster, 'endpoint must not carry credentials (user:password@)');
  }
  if (base.search !== '' || base.hash !== '') {
    throw new MilvusClientOptionsError(cluster, 'endpoint must not have a query or fragment');
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  return (route: Route): URL => {
    const url = new URL(base.href);
    url.pathname = `${prefix}/v2/vectordb/${route}`;
    return url;
  };
}
