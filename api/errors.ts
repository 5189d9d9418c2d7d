/**
 * @module api/errors
 * The HTTP face of KaizenError: one status per stable code and one JSON body,
 * `{ error: { code, message, fields? } }`, where `fields` are the JSON paths at fault
 * (e.g. `records[3].input.summary`). A database that cannot be reached is a 503 INFRA_UNAVAILABLE
 * (counted into one log line per interval, not one per request); anything else that is not a
 * KaizenError is a 500 with no detail. The server log describes such errors without their data
 * (lib/safe-log.ts: no SQL parameters, no request or model content), never secrets to the client.
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { KaizenError, isKaizenError, type ErrorCode } from '../core/errors.js'
import { dbFault, dbFaultReason } from '../lib/db-errors.js'
import { LossReport, describeError, stackFrames } from '../lib/safe-log.js'

export const HTTP_STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  INSUFFICIENT_DATA: 422,
  BUDGET_EXHAUSTED: 429,
  CONFIG_ERROR: 500,
  INTERNAL: 500,
  PROVIDER_REJECTED: 502,
  INFRA_UNAVAILABLE: 503,
  PROVIDER_UNAVAILABLE: 503,
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; fields?: string[] }
}

export function errorBody(err: KaizenError): ErrorBody {
  const fields = err.details?.fields
  return {
    error: { code: err.code, message: err.message, ...(Array.isArray(fields) ? { fields: fields as string[] } : {}) },
  }
}

/** Requests refused while the database was unavailable: one stderr line per 10 s at most. */
const unavailable = new LossReport(
  (n, reasons) => `api: ${n} request${n === 1 ? '' : 's'} answered 503 while the database was unavailable (${reasons})`,
)

/** Hono's onError: every failure leaves as the typed JSON error. */
export function onError(err: Error, c: Context): Response {
  let k: KaizenError
  if (isKaizenError(err)) k = err
  else if (err instanceof HTTPException) {
    // Hono's own validators and middleware (malformed JSON, body limit) end up here.
    const status = err.status
    k =
      status === 413
        ? new KaizenError('PAYLOAD_TOO_LARGE', err.message || 'the request body is too large')
        : status === 401
          ? new KaizenError('UNAUTHENTICATED', err.message)
          : status < 500
            ? new KaizenError('INVALID_INPUT', `${err.message || 'bad request'} (body)`, {
                details: { fields: ['(body)'] },
              })
            : new KaizenError('INTERNAL', 'internal error')
  } else {
    const fault = dbFault(err)
    if (fault?.kind === 'unavailable') {
      unavailable.lost(dbFaultReason(fault))
      k = new KaizenError('INFRA_UNAVAILABLE', 'the database is unavailable; try again shortly')
    } else {
      const frames = stackFrames(err)
      process.stderr.write(
        `api: unexpected error on ${c.req.method} ${c.req.path}: ${describeError(err)}${frames ? `\n${frames}` : ''}\n`,
      )
      k = new KaizenError('INTERNAL', 'internal error; the server log has the details')
    }
  }
  // The unread rest of a refused large body stays on the socket: do not reuse the connection.
  if (k.code === 'PAYLOAD_TOO_LARGE') c.header('Connection', 'close')
  return c.json(errorBody(k), HTTP_STATUS[k.code])
}
