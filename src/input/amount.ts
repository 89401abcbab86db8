// Resource amounts: whole numbers Placement can store. Its inventory and
// allocation columns are 32-bit signed integers, so a larger amount would
// reach it and fail with a 500; a JS number would silently round anything past
// 2^53. Amounts are therefore checked as text, before any number is made.
import {EcError} from '../errors.js'
import {quote} from '../output/escape.js'
import {MAX_AMOUNT} from './max-amount.js'

export {MAX_AMOUNT} from './max-amount.js'

/** A decimal amount from 1 to MAX_AMOUNT; `what` names where it came from in the error. */
export function parseAmount(text: string, what: string): number {
  const digits = text.trim()
  if (!/^\d+$/.test(digits) || BigInt(digits) < 1n || BigInt(digits) > BigInt(MAX_AMOUNT)) {
    throw new EcError('usage', `${what} must be a whole number from 1 to ${MAX_AMOUNT}, got ${quote(text)}`)
  }

  return Number(digits)
}

/** The same check for a number that already is one (e.g. from code or a flavor). */
export function checkAmount(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_AMOUNT) {
    throw new EcError('usage', `${what} must be a whole number from 1 to ${MAX_AMOUNT}, got ${value}`)
  }

  return value
}
