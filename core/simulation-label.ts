/**
 * @module core/simulation-label
 * How a simulated answer says so on the OpenAI wire protocol: `kaizen sim serve` puts these on every
 * response, and Kaizen's OpenAI provider marks an answer carrying the fingerprint as simulated.
 */

/** The `system_fingerprint` of every completion the simulation serves. */
export const SIM_FINGERPRINT = 'kaizen-simulation'
/** A response header (`true`) on everything the simulation serves. */
export const SIM_HEADER = 'x-kaizen-simulation'
