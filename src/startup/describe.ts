/**
 * Start-up failures in words an operator acts on: which dependency, at which host, named by the
 * variable that points there, what went wrong, and what to check. The raw driver texts
 * ("Connection is closed.", "connect ECONNREFUSED 127.0.0.1:5499", `database "x" does not
 * exist`) name none of that. Passwords are never printed: only host, port, database and user.
 */

export type DependencyName = 'Postgres' | 'Redis';

/** Where a dependency is, from its URL, without credentials. */
export interface Target {
  dependency: DependencyName;
  variable: 'DATABASE_URL' | 'REDIS_URL';
  host: string;
  port: number;
  /** Postgres: the database name; Redis: the db index. */
  database: string;
  user: string;
}

export function postgresTarget(url: string): Target {
  const u = new URL(url);
  return {
    dependency: 'Postgres',
    variable: 'DATABASE_URL',
    host: hostOf(u) || 'localhost',
    port: Number(u.port || 5432),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres',
    user: decodeURIComponent(u.username) || 'postgres',
  };
}

export function redisTarget(url: string): Target {
  const u = new URL(url);
  return {
    dependency: 'Redis',
    variable: 'REDIS_URL',
    host: hostOf(u) || 'localhost',
    port: Number(u.port || 6379),
    database: u.pathname.replace(/^\//, '') || '0',
    user: decodeURIComponent(u.username) || 'default',
  };
}

function hostOf(u: URL): string {
  // URL keeps IPv6 hosts bracketed.
  return u.hostname.replace(/^\[|\]$/g, '');
}

/** A dependency could not be reached or refused the conductor at start-up. */
export class StartupError extends Error {
  constructor(
    message: string,
    readonly target: Target,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

interface DriverError {
  code?: unknown;
  message?: unknown;
  errors?: unknown;
}

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (DNS)',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
};

/** The error that says most: AggregateError (IPv4 and IPv6 both refused) carries its causes in `errors`. */
function rootCause(e: unknown): DriverError {
  const err = (e ?? {}) as DriverError;
  if (!err.code && Array.isArray(err.errors) && err.errors.length) return rootCause(err.errors[0]);
  return err;
}

/** Turns a driver error at start-up into a {@link StartupError} naming the variable, the host and what to check. */
export function describeStartupError(target: Target, e: unknown): StartupError {
  const err = rootCause(e);
  const code = typeof err.code === 'string' ? err.code : '';
  const text = typeof err.message === 'string' ? err.message : String(e);
  const at = `${target.dependency} at ${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port} (${target.variable})`;
  const make = (message: string, reason: string) => new StartupError(message, target, reason);

  if (NETWORK[code] || /timeout/i.test(text) || /Connection is closed/i.test(text)) {
    const reason = NETWORK[code] ?? (/timeout/i.test(text) ? 'connection timed out' : 'connection closed');
    return make(
      `Cannot reach ${at}: ${reason}. Check that ${target.dependency} is running, that ${target.variable} names the right host and port, and that no firewall or NetworkPolicy blocks the way.`,
      reason,
    );
  }
  if (target.dependency === 'Postgres') {
    switch (code) {
      case '3D000':
        return make(
          `${at} has no database "${target.database}". Create it (createdb ${JSON.stringify(target.database)}) or correct the database name in ${target.variable}.`,
          'database does not exist',
        );
      case '28P01':
        return make(`${at} refused user "${target.user}": wrong password. Check the user and password in ${target.variable}.`, 'authentication failed');
      case '28000':
        return make(
          `${at} refused user "${target.user}": ${text}. Check the user in ${target.variable} and the server's pg_hba.conf.`,
          'authentication refused',
        );
      case '57P03':
        return make(`${at} is starting up or shutting down: ${text}. Wait for it, or check its logs.`, 'not accepting connections');
      case '53300':
        return make(`${at} has no free connections: ${text}. Lower DATABASE_POOL_SIZE × replicas or raise max_connections.`, 'too many connections');
    }
  }
  if (target.dependency === 'Redis' && /NOAUTH|WRONGPASS|invalid password|invalid username/i.test(text)) {
    return make(`${at} refused the credentials: ${text.split('\n')[0]}. Check the user and password in ${target.variable}.`, 'authentication failed');
  }
  if (/self[- ]signed|certificate|SSL|TLS/i.test(text) || code.startsWith('ERR_TLS') || code.startsWith('CERT_') || code.includes('SELF_SIGNED')) {
    return make(`${at}: TLS failed: ${text}. Check the scheme (rediss://, sslmode) and certificates in ${target.variable}.`, 'TLS failed');
  }
  return make(`${at} failed: ${text}${code ? ` (${code})` : ''}. Check that ${target.dependency} is running and ${target.variable} is right.`, code || 'error');
}
