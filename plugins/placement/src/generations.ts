// Placement guards every provider write with the provider's generation; a
// write with a stale one fails with 409 placement.concurrent_update. The fix
// is to read the state again and redo the write, a bounded number of times.
import {PlacementApiError, PlacementBackendError} from './errors.js'

export const GENERATION_RETRIES = 5

/**
 * Run `attempt` until it does not lose a generation race. `attempt` gets the
 * try number (0 first) and must read a fresh generation on every retry.
 */
export async function retryOnGenerationConflict<T>(what: string, attempt: (tryNumber: number) => Promise<T>): Promise<T> {
  for (let tryNumber = 0; ; tryNumber++) {
    try {
      return await attempt(tryNumber)
    } catch (error) {
      if (!(error instanceof PlacementApiError && error.isGenerationConflict)) throw error
      if (tryNumber + 1 >= GENERATION_RETRIES) {
        throw new PlacementBackendError(
          'conflict',
          `${what} kept changing while ec updated it (${GENERATION_RETRIES} tries); try again`,
          {cause: error},
        )
      }
    }
  }
}
