// Small HTTP probes with a hard timeout, for health checks.
export interface ProbeResult {
  ok: boolean
  status?: number
  body?: unknown
  error?: string
}

export async function probeJson(url: string, timeoutMs = 2000, headers: Record<string, string> = {}): Promise<ProbeResult> {
  try {
    const response = await fetch(url, {headers, signal: AbortSignal.timeout(timeoutMs)})
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }

    return {ok: response.ok, status: response.status, body}
  } catch (error) {
    const cause = (error as {cause?: {code?: string}}).cause?.code
    return {ok: false, error: cause ?? (error instanceof Error ? error.message : String(error))}
  }
}
