// The HTTP exchange PlacementClient needs, over node:http and node:https
// (which a command has loaded anyway): one request with a JSON body, its
// answer read whole and parsed as JSON. Every status resolves: error statuses
// carry Placement's error document, which the client reads rather than catches.
// Only transport failures reject, with the code describeTransportError
// (errors.ts) sorts them by: Node's own (ECONNREFUSED, a TLS refusal, …),
// ETIMEDOUT for timeoutMs, ABORT_ERR for the caller's signal and
// ERR_BAD_RESPONSE for an answer that broke off.
import {type Agent as HttpAgent, type IncomingMessage, type OutgoingHttpHeaders, request as httpRequest} from 'node:http'
import {type Agent as HttpsAgent, request as httpsRequest} from 'node:https'
import {urlToHttpOptions} from 'node:url'

export interface HttpRequest {
  /** Upper case: GET, PUT, … */
  method: string
  /** Under the server's base URL, with its leading slash ("/" is the base itself). */
  path: string
  params?: URLSearchParams
  /** Sent as JSON (Content-Type: application/json). */
  body?: unknown
  /** On top of the server's own. */
  headers?: Record<string, string>
  signal?: AbortSignal
}

export interface HttpResponse<T = unknown> {
  status: number
  /** The body parsed as JSON; a body that is not JSON as its text, '' when empty. */
  data: T
}

export interface HttpServerOptions {
  baseURL: string
  /** Until the answer's headers; after them, for each pause of its body. */
  timeoutMs: number
  /** Sent with every request. */
  headers: Record<string, string>
  /** For https: URLs; without one, Node's global agent (as for http:). */
  httpsAgent?: HttpsAgent
}

/** One Placement server, by its base URL. */
export class HttpServer {
  /**
   * Called with each request before it goes out, and waited for: tests see
   * and hold requests here (a hook that throws fails the request as a
   * transport error would).
   */
  beforeRequest?: (request: HttpRequest) => void | Promise<void>

  constructor(private readonly options: HttpServerOptions) {}

  async request<T = unknown>(request: HttpRequest): Promise<HttpResponse<T>> {
    if (this.beforeRequest) await this.beforeRequest(request)
    return exchange<T>(this.options, request)
  }
}

function exchange<T>(server: HttpServerOptions, request: HttpRequest): Promise<HttpResponse<T>> {
  const target = new URL(joinPath(server.baseURL, request.path))
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.reject(Object.assign(new Error(`Unsupported protocol ${target.protocol}`), {code: 'ERR_BAD_REQUEST'}))
  }

  const https = target.protocol === 'https:'
  const query = request.params?.toString()
  let path = target.pathname + target.search
  if (query) path += (target.search ? '&' : '?') + query
  const headers: OutgoingHttpHeaders = {...server.headers, ...request.headers}
  let body: Buffer | undefined
  if (request.body !== undefined) {
    body = Buffer.from(JSON.stringify(request.body), 'utf8')
    headers['Content-Type'] = 'application/json'
    headers['Content-Length'] = body.length
  }

  const {signal} = request
  if (signal?.aborted) return Promise.reject(aborted(signal))
  const options = {
    ...urlToHttpOptions(target),
    path,
    method: request.method,
    headers,
    agent: https ? server.httpsAgent : (undefined as HttpAgent | undefined),
  }

  return new Promise<HttpResponse<T>>((resolve, reject) => {
    const req = https ? httpsRequest(options) : httpRequest(options)
    let settled = false
    let answered = false
    // Until the headers, the wait for them; after them, each pause of the body.
    const timer = setTimeout(() => {
      fail(answered ? brokenOff() : Object.assign(new Error(`timeout of ${server.timeoutMs}ms exceeded`), {code: 'ETIMEDOUT'}))
    }, server.timeoutMs)
    const onAbort = (): void => fail(aborted(signal as AbortSignal))
    signal?.addEventListener('abort', onAbort, {once: true})

    function finish(): void {
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }

    function fail(error: Error): void {
      if (settled) return
      finish()
      req.destroy()
      reject(error)
    }

    req.on('error', fail)
    req.on('response', (res: IncomingMessage) => {
      answered = true
      timer.refresh()
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        timer.refresh()
      })
      // The body was cut short (Node: ECONNRESET "aborted").
      res.on('error', (error) => fail(brokenOff(error)))
      res.on('end', () => {
        if (settled) return
        finish()
        resolve({status: res.statusCode ?? 0, data: parseBody(Buffer.concat(chunks).toString('utf8')) as T})
      })
    })
    req.end(body)
  })
}

function aborted(signal: AbortSignal): Error {
  return Object.assign(new Error('the request was aborted'), {name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason as unknown})
}

/** An answer whose body stopped coming (cut short, or paused past timeoutMs). */
function brokenOff(cause?: Error): Error {
  return Object.assign(new Error('stream has been aborted', {cause}), {code: 'ERR_BAD_RESPONSE'})
}

/** The base URL without its trailing slash, a slash, the path without its leading ones. */
function joinPath(baseURL: string, path: string): string {
  return `${baseURL.replace(/\/?\/$/, '')}/${path.replace(/^\/+/, '')}`
}

/** JSON when it parses; the text itself otherwise (an empty body is ''). A byte-order mark is dropped. */
function parseBody(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfe_ff ? text.slice(1) : text
  if (!body) return body
  try {
    return JSON.parse(body) as unknown
  } catch {
    return body
  }
}
