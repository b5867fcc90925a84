/**
 * The routes the simulator serves and what each does once a request is authenticated and bound:
 * the privilege check (`checkAuthorizationV2`, simplified) and the proxy handlers, in the order of
 * spec sections 4 and 13. They read and change the simulator's users through `UserDirectory`.
 */
import {
  CODE,
  LIMITS,
  ROLE_NOT_FOUND_MESSAGE,
  USER_NOT_FOUND_MESSAGE,
  fail,
  json,
  ok,
  validatePassword,
  validateUsername,
  type Reply,
} from './milvus-simulator-messages.ts';

/** The routes the simulator serves, as the tail after `/v2/vectordb/`. */
export const SIMULATOR_ROUTES = [
  'users/list',
  'users/describe',
  'users/create',
  'users/update_password',
  'users/drop',
  'users/grant_role',
  'users/revoke_role',
  'roles/list',
  'databases/list',
  'collections/list',
] as const;
export type SimulatorRoute = (typeof SIMULATOR_ROUTES)[number];

/** A request body after JSON binding: every field of the route's request struct, as a string. */
export type BoundBody = Record<string, string>;

/** How a password changed: by one of the user routes, or out of band through `setPassword`. */
export type ChangeVia = 'update_password' | 'create' | 'drop' | 'setPassword';

/** Roles every Milvus has: `admin` holds every privilege, `public` is held implicitly by every user. */
export const BUILT_IN_ROLES = ['admin', 'public'] as const;

/**
 * The user state the handlers work on: the simulator's own maps, shared by reference, and its one
 * way to change a password (which logs the change and tells listeners).
 */
export interface UserDirectory {
  readonly users: ReadonlyMap<string, string>;
  /** Role names held per user (bindings); `public` is implicit and never stored. */
  readonly roles: Map<string, string[]>;
  /** Every role that exists: the built-in ones and the custom ones. */
  readonly definedRoles: ReadonlySet<string>;
  readonly superUsers: ReadonlySet<string>;
  userNames(): string[];
  change(user: string, to: string | null, via: ChangeVia): void;
}

/** The privilege each route checks when auth is on (milvus.proto privilege_ext_obj). */
const ROUTE_PRIVILEGE: Record<SimulatorRoute, { privilege: string; selfAllowed: boolean } | null> = {
  'users/list': { privilege: 'PrivilegeSelectOwnership', selfAllowed: false },
  'users/describe': { privilege: 'PrivilegeSelectUser', selfAllowed: true },
  'users/create': { privilege: 'PrivilegeCreateOwnership', selfAllowed: false },
  'users/update_password': { privilege: 'PrivilegeUpdateUser', selfAllowed: true },
  'users/drop': { privilege: 'PrivilegeDropOwnership', selfAllowed: false },
  // OperateUserRole and SelectRole (spec section 14): Global ManageOwnership / SelectOwnership.
  'users/grant_role': { privilege: 'PrivilegeManageOwnership', selfAllowed: false },
  'users/revoke_role': { privilege: 'PrivilegeManageOwnership', selfAllowed: false },
  'roles/list': { privilege: 'PrivilegeSelectOwnership', selfAllowed: false },
  // databases/list and collections/list call the proxy with checkAuth=false (spec section 2).
  'databases/list': null,
  'collections/list': null,
};

/**
 * `checkAuthorizationV2` with a simplified RBAC model: `root` bypasses (no `rootShouldBindRole`),
 * the `admin` role holds every privilege, and a user may always describe or update itself
 * (`isCurUserObject`).
 */
export function checkPrivilege(directory: UserDirectory, route: SimulatorRoute, caller: string, body: BoundBody): Reply | null {
  const rule = ROUTE_PRIVILEGE[route];
  if (!rule || caller === 'root') return null;
  if (rule.selfAllowed && body['userName'] === caller) return null;
  if ((directory.roles.get(caller) ?? []).includes('admin')) return null;
  return json(403, {
    code: CODE.unexpected,
    message: `rpc error: code = PermissionDenied desc = ${rule.privilege}: permission deny to ${caller} in the \`default\` database`,
  });
}

export function runHandler(directory: UserDirectory, route: SimulatorRoute, caller: string | null, body: BoundBody): Reply {
  switch (route) {
    case 'users/list':
      return ok(directory.userNames());
    case 'users/describe': {
      const name = body['userName'] ?? '';
      const invalid = validateUsername(name);
      if (invalid) return fail(CODE.parameterInvalid, invalid);
      // A missing user looks like a user without roles (rootcoord SelectUser).
      return ok(directory.users.has(name) ? [...(directory.roles.get(name) ?? [])] : []);
    }
    case 'users/create':
      return create(directory, body['userName'] ?? '', body['password'] ?? '');
    case 'users/update_password':
      return updatePassword(directory, caller, body['userName'] ?? '', body['password'] ?? '', body['newPassword'] ?? '');
    case 'users/drop':
      return drop(directory, body['userName'] ?? '');
    case 'users/grant_role':
      return operateUserRole(directory, 'add', body['userName'] ?? '', body['roleName'] ?? '');
    case 'users/revoke_role':
      return operateUserRole(directory, 'remove', body['userName'] ?? '', body['roleName'] ?? '');
    case 'roles/list':
      return ok([...directory.definedRoles].sort());
    case 'databases/list':
      return ok(['default']);
    case 'collections/list': {
      const db = body['dbName'] ?? '';
      if (db !== '' && db !== 'default') return fail(CODE.databaseNotFound, `database not found[database=${db}]`);
      return ok([]);
    }
    default:
      return assertNever(route);
  }
}

/** Proxy.UpdateCredential, in the order of spec section 4 step 5. */
function updatePassword(directory: UserDirectory, caller: string | null, user: string, oldPassword: string, newPassword: string): Reply {
  // c. The new password's length is checked before the old password.
  const invalid = validatePassword(newPassword);
  if (invalid) return fail(CODE.parameterInvalid, invalid);
  // d. Superusers (the caller, not the target) skip the old-password check.
  const skipVerify = caller !== null && directory.superUsers.has(caller);
  // e. A wrong old password and a missing user give the same 1400.
  if (!skipVerify && directory.users.get(user) !== oldPassword) {
    return fail(CODE.notAuthenticated, `old password not correct for ${user}: not authenticated`);
  }
  // f. An unconditional upsert: a superuser "updating" a missing user creates it.
  directory.change(user, newPassword, 'update_password');
  return ok({});
}

/** Proxy.CreateCredential, then rootcoord AddCredential (spec section 13). */
function create(directory: UserDirectory, user: string, password: string): Reply {
  const invalidName = validateUsername(user);
  if (invalidName) return fail(CODE.parameterInvalid, invalidName);
  const invalidPassword = validatePassword(password);
  if (invalidPassword) return fail(CODE.parameterInvalid, invalidPassword);
  if (directory.users.has(user)) return fail(CODE.unexpected, `user already exists: ${user}`);
  if (directory.users.size >= LIMITS.maxUsers) {
    return fail(CODE.unexpected, 'unable to add user because the number of users has reached the limit');
  }
  // A re-created user starts with no roles (its bindings went with the drop).
  directory.roles.delete(user);
  directory.change(user, password, 'create');
  return ok({});
}

/** Proxy.DeleteCredential: root is protected; a missing user is not an error. */
function drop(directory: UserDirectory, user: string): Reply {
  if (user === 'root') return fail(CODE.privilegeNotPermitted, 'root user cannot be deleted: privilege not permitted');
  if (directory.users.has(user)) {
    directory.change(user, null, 'drop');
    directory.roles.delete(user);
  }
  return ok({});
}

/**
 * rootcoord OperateUserRole (spec section 14): the role must exist; granting also needs the user
 * (revoking checks only the role). Both are idempotent: the catalog's save/remove of a binding
 * already there (or already gone) is an IgnorableError, answered with code 0.
 */
function operateUserRole(directory: UserDirectory, type: 'add' | 'remove', user: string, role: string): Reply {
  if (!directory.definedRoles.has(role)) return fail(CODE.unexpected, ROLE_NOT_FOUND_MESSAGE);
  if (type === 'add' && !directory.users.has(user)) return fail(CODE.unexpected, USER_NOT_FOUND_MESSAGE);
  // `public` is implicit: a binding to it changes nothing anyone can observe.
  if (role === 'public') return ok({});
  const held = directory.roles.get(user) ?? [];
  if (type === 'add' && !held.includes(role)) directory.roles.set(user, [...held, role]);
  if (type === 'remove' && held.includes(role)) directory.roles.set(user, held.filter((r) => r !== role));
  return ok({});
}

function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
