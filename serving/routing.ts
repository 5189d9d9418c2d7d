/**
 * @module serving/routing
 * Sticky canary assignment: a request goes to the canary when the hash of
 * (task, routing key, canary id) falls below the canary's weight. The same user stays on the same
 * arm for the whole canary, and a new canary reshuffles assignments.
 */
import { unitHash } from '../lib/hash.js'

export function routeToCanary(taskId: string, routingKey: string, canaryId: string, weight: number): boolean {
  if (weight <= 0) return false
  if (weight >= 1) return true
  return unitHash('kaizen:route:v1', taskId, routingKey, canaryId) < weight
}
