/** The error `fn` throws; fails the test when it throws none. */
export function failure(fn: () => unknown): Error & {reason?: string} {
  try {
    fn()
  } catch (error) {
    return error as Error
  }

  throw new Error('expected an error')
}
