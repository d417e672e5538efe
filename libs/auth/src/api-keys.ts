import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type DataSource } from 'typeorm';

/**
 * API keys look like `snt_<keyId>_<secret>`: the key id finds the row, the secret is checked against its
 * stored SHA-256 in constant time. Roles are ordered: read < write < admin.
 */
export type Role = 'read' | 'write' | 'admin';
export const ROLES: readonly Role[] = ['read', 'write', 'admin'];
/** The project of an org-wide admin key. */
export const ALL_PROJECTS = '*';

export interface ApiKeyPrincipal {
  keyId: string;
  project: string;
  role: Role;
}

const KEY_FORMAT = /^snt_([a-z0-9]{12})_([A-Za-z0-9_-]{32})$/;
const PROJECT_FORMAT = /^[A-Za-z0-9._-]{1,128}$/;

export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export class ApiKeyInputError extends Error {}

/** Creates a key and returns it; the secret is shown once and stored only as a hash. */
export async function createApiKey(
  dataSource: DataSource,
  input: { project: string; role: string; name?: string },
): Promise<{ key: string; keyId: string }> {
  if (!(ROLES as readonly string[]).includes(input.role)) {
    throw new ApiKeyInputError(`--role must be one of ${ROLES.join(', ')}, got "${input.role}"`);
  }
  if (input.project === ALL_PROJECTS) {
    if (input.role !== 'admin') throw new ApiKeyInputError(`--project '*' is only for --role admin`);
  } else if (!PROJECT_FORMAT.test(input.project)) {
    throw new ApiKeyInputError(
      `--project must be 1-128 letters, digits, '.', '_' or '-', got "${input.project}"`,
    );
  }
  const keyId = randomBytes(9)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 12);
  const secret = randomBytes(24).toString('base64url');
  await dataSource.query(
    `INSERT INTO api_key (key_id, secret_sha256, project, role, name) VALUES ($1, $2, $3, $4, $5)`,
    [keyId, sha256(secret), input.project, input.role, input.name ?? null],
  );
  return { key: `snt_${keyId}_${secret}`, keyId };
}

/** The principal of a presented key, or null when it is malformed, unknown, revoked or wrong. */
export async function verifyApiKey(
  dataSource: DataSource,
  presented: string,
): Promise<ApiKeyPrincipal | null> {
  const match = KEY_FORMAT.exec(presented);
  if (!match) return null;
  const [, keyId, secret] = match;
  const rows: { secret_sha256: string; project: string; role: Role }[] = await dataSource.query(
    `SELECT secret_sha256, project, role FROM api_key WHERE key_id = $1 AND revoked_at IS NULL`,
    [keyId],
  );
  if (rows.length === 0) return null;
  const expected = Buffer.from(rows[0].secret_sha256, 'hex');
  const actual = Buffer.from(sha256(secret), 'hex');
  if (!timingSafeEqual(expected, actual)) return null;
  return { keyId, project: rows[0].project, role: rows[0].role };
}

export async function revokeApiKey(dataSource: DataSource, keyId: string): Promise<boolean> {
  const result: [unknown[], number] = await dataSource.query(
    `UPDATE api_key SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL`,
    [keyId],
  );
  return result[1] > 0;
}
