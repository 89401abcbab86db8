// Small HTTP(S) probes with a hard timeout, for health checks. Against a
// control plane with mutual TLS they present the local admin's certificate.
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'

export interface ProbeResult {
  ok: boolean
  status?: number
  body?: unknown
  error?: string
}

export interface ProbeTls {
  ca: Buffer
  cert: Buffer
  key: Buffer
}

export function probeJson(url: string, timeoutMs = 2000, tls?: ProbeTls): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest
    const req = request(url, {timeout: timeoutMs, ...(tls ?? {})}, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('error', (error) => resolve({ok: false, error: error.message}))
      response.on('end', () => {
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON: keep the text
        }

        const status = response.statusCode ?? 0
        resolve({ok: status >= 200 && status < 300, status, body})
      })
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ok: false, error: error.code ?? error.message}))
    req.end()
  })
}
