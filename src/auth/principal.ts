/** Who is calling: a user from a JWT, or a back-end service holding an API key (admin rights). */
export type Role = 'user' | 'admin' | 'auditor';

export interface Principal {
  /** User id (`sub`), or `service:<key fingerprint>` for an API key. */
  id: string;
  role: Role;
  kind: 'user' | 'service';
}

export const ROLES: readonly Role[] = ['user', 'admin', 'auditor'];

/** Admins and auditors may read everyone's metadata; only admins may change or hear anything. */
export const canReadAllMetadata = (p: Pick<Principal, 'role'>) => p.role === 'admin' || p.role === 'auditor';
