// The error a promise rejects with, for tests that look at its fields; fails when it resolves.
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise
  } catch (error) {
    return error as Error & Record<string, unknown>
  }

  throw new Error('expected the promise to reject')
}
