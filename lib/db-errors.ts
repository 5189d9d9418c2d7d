/**
 * @module lib/db-errors
 * What may be said about a database error. An error from the database can carry the data it was
 * handling: drizzle's `DrizzleQueryError` message is the SQL *with its parameters* (traffic input,
 * model output), PostgreSQL's `detail` holds row values (`Key (id)=(…) already exists`), and some
 * messages quote a value (`invalid input syntax for type integer: "…"`). So a database error is
 * only ever described by what names the fault, never by its text:
 *
 * - the PostgreSQL code and condition name, with the constraint, table and column when known
 *   (`database error 23505 unique_violation on constraint traffic_pkey of table traffic`);
 * - a connection-level fault (refused, reset, terminated, timed out, server shutting down, PGlite
 *   closed) as a short stable phrase (`database unavailable: connection refused (ECONNREFUSED)`);
 * - what was being done, from the SQL text's verb and first table only (`during insert into traffic`).
 *
 *   describeDbError(err)   // a description, or null when err is not a database error
 *   isDbUnavailable(err)   // the database could not be reached: retrying later helps
 */
import { PostgresError } from 'pg-error-enum'

/** SQLSTATE → condition name (`23505` → `unique_violation`). */
const CONDITIONS = new Map<string, string>(
  Object.entries(PostgresError).map(([name, code]) => [code, name.toLowerCase()]),
)

/** Codes (besides class 08, connection exception) that mean the server went away or cannot take connections now. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57P05', '53300', '53400'])

/** Socket-level codes of a database connection that could not be made or was lost. */
const SOCKET_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while writing',
  ETIMEDOUT: 'connection timed out',
  ECONNABORTED: 'connection aborted',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
}

/**
 * Messages of node-postgres and PGlite that say the connection is gone (they carry no data).
 * Matched on the start of the message; the description is ours, not the message.
 */
const CONNECTION_MESSAGES: Array<[RegExp, string]> = [
  [/^Connection terminated due to connection timeout/, 'connection timed out'],
  [/^Connection terminated/, 'connection terminated'],
  [/^timeout exceeded when trying to connect/, 'connection timed out'],
  [/^Query read timeout/, 'query timed out'],
  [/^Client has encountered a connection error and is not queryable/, 'connection lost'],
  [/^Client was closed and is not queryable/, 'connection closed'],
  [/^Cannot use a pool after calling end on the pool/, 'connection pool closed'],
  [/^PGlite is clos(ed|ing)/, 'embedded database closed'],
  [/^PGlite failed to initialize/, 'embedded database failed to start'],
  [/^timeout while waiting for mutex/, 'embedded database busy'],
]

export interface DbFault {
  /**
   * `unavailable`: the database could not be reached or dropped the connection (retrying later
   * helps); `error`: it answered with an error.
   */
  kind: 'unavailable' | 'error'
  /** The SQLSTATE (`23505`) or the socket error code (`ECONNREFUSED`), when known. */
  code: string | null
  /** The PostgreSQL condition name (`unique_violation`) or a short phrase (`connection refused`). */
  condition: string
  constraint: string | null
  table: string | null
  column: string | null
  /** What was being done: the SQL's verb and first table (`insert into traffic`), never its values. */
  statement: string | null
  /**
   * The server's own message, kept only for faults of the connection's set-up (SQLSTATE classes
   * 28, invalid authorization, and 3D, unknown database): it names the role or the database, which
   * the operator needs to fix DATABASE_URL, and no data.
   */
  message: string | null
}

type Fields = Record<string, unknown>
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null)
/** An identifier as PostgreSQL reports it; anything else (it should not happen) is dropped rather than printed. */
const ident = (v: unknown): string | null => {
  const s = str(v)
  return s && /^[A-Za-z_][\w$.-]{0,126}$/.test(s) ? s : null
}
const isSqlState = (code: unknown): code is string => typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)

/** The verb and first table of a statement: identifiers only, so no value written into the SQL can come out. */
export function statementOf(sql: unknown): string | null {
  if (typeof sql !== 'string') return null
  const verb =
    /^\s*(select|insert|update|delete|with|create|alter|drop|truncate|lock|begin|commit|rollback|set|copy)\b/i
      .exec(sql)?.[1]
      ?.toLowerCase()
  if (!verb) return null
  const table = /\b(into|from|update|table)\s+"?([A-Za-z_]\w{0,62})"?(?:\s*\.\s*"?([A-Za-z_]\w{0,62})"?)?/i.exec(sql)
  if (!table) return verb
  const name = table[3] ?? table[2]
  const prep = (table[1] as string).toLowerCase()
  if (verb === 'insert') return `insert into ${name}`
  if (verb === 'update') return `update ${name}`
  if (verb === 'delete') return `delete from ${name}`
  if (verb === 'with') return `with … from ${name}`
  return `${verb} ${prep === 'into' || prep === 'from' ? 'from' : prep} ${name}`
}

/** Walk an error and its causes (a few levels), drizzle wrappers included. */
function chain(err: unknown): Fields[] {
  const out: Fields[] = []
  let e: unknown = err
  for (let depth = 0; depth < 6 && e !== null && typeof e === 'object' && !out.includes(e as Fields); depth++) {
    out.push(e as Fields)
    e = (e as Fields).cause
  }
  return out
}

/** The database fault in `err` (itself or a cause), or null when it is not one. */
export function dbFault(err: unknown): DbFault | null {
  const links = chain(err)
  // The SQL text, where drizzle (query + params) or PGlite (query, params) attached it.
  const statement = links.map((l) => (typeof l.query === 'string' ? statementOf(l.query) : null)).find((s) => s) ?? null
  const base = { constraint: null, table: null, column: null, statement, message: null }
  for (const l of links) {
    // A PostgreSQL error response (node-postgres and PGlite): severity and a SQLSTATE.
    if (isSqlState(l.code) && typeof l.severity === 'string') {
      const code = l.code
      const unavailable = code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code)
      return {
        kind: unavailable ? 'unavailable' : 'error',
        code,
        condition: CONDITIONS.get(code) ?? `class ${code.slice(0, 2)}`,
        constraint: ident(l.constraint),
        table: ident(l.table),
        column: ident(l.column),
        statement,
        message:
          /^(28|3D)/.test(code) && typeof l.message === 'string'
            ? (l.message.split('\n')[0]?.slice(0, 200) ?? null)
            : null,
      }
    }
    const socket = typeof l.code === 'string' ? SOCKET_CODES[l.code] : undefined
    if (socket) return { ...base, kind: 'unavailable', code: l.code as string, condition: socket }
    const message = typeof l.message === 'string' ? l.message : ''
    const known = CONNECTION_MESSAGES.find(([re]) => re.test(message))
    if (known) return { ...base, kind: 'unavailable', code: null, condition: known[1] }
  }
  // A drizzle query error (or a PGlite one) whose cause says nothing we recognise: still a
  // database error, described by its statement only.
  if (links.some((l) => typeof l.query === 'string' && 'params' in l))
    return { ...base, kind: 'error', code: null, condition: 'query failed' }
  return null
}

/** A description of a database fault that names it without any of the data it carried. */
export function formatDbFault(f: DbFault): string {
  const what =
    f.code && f.code !== f.condition && !SOCKET_CODES[f.code]
      ? `${f.code} ${f.condition}`
      : f.code
        ? `${f.condition} (${f.code})`
        : f.condition
  const where = [
    f.constraint && `on constraint ${f.constraint}`,
    f.table && `of table ${f.table}`,
    f.column && `column ${f.column}`,
  ]
    .filter(Boolean)
    .join(' ')
  return (
    `${f.kind === 'unavailable' ? 'database unavailable' : 'database error'}: ${what}${where ? ` ${where}` : ''}` +
    `${f.statement ? ` during ${f.statement}` : ''}${f.message ? ` (${f.message})` : ''}`
  )
}

/** A loggable description of a database error, or null when `err` is not one. */
export function describeDbError(err: unknown): string | null {
  const f = dbFault(err)
  return f ? formatDbFault(f) : null
}

/**
 * The shortest name of a database fault, for counting lines: `ECONNREFUSED`, `57P01 admin_shutdown`,
 * `connection terminated`.
 */
export function dbFaultReason(f: DbFault): string {
  if (!f.code) return f.condition
  return SOCKET_CODES[f.code] ? f.code : `${f.code} ${f.condition}`
}

/** The database could not be reached, or dropped the connection: retrying later helps. */
export function isDbUnavailable(err: unknown): boolean {
  return dbFault(err)?.kind === 'unavailable'
}
