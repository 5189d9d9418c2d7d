/**
 * @module db/queries/traffic-ids
 * Kaizen's ids of traffic records. A record sent with the client's idempotency key gets an id
 * derived from (task, key), so sending it again (API, OTLP, import, gateway, simulator) finds the
 * same row; a record without one gets a fresh random id.
 */
import { randomUUID } from 'node:crypto'
import { sha256Hex } from '../../lib/hash.js'

/** The id of the record the client calls `id` for `task`. */
export const trafficIdOf = (task: string, id: string) => `tr_${sha256Hex(`${task}\u0000${id}`).slice(0, 32)}`

/** A fresh id for a record with no idempotency key. */
export const newTrafficId = (task: string) => trafficIdOf(task, `\u0000${randomUUID()}`)
