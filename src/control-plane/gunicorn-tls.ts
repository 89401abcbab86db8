// gunicorn's config file for a Placement that requires client certificates.
// Debian bookworm's gunicorn (20.1) verifies them against --ca-certs but has
// no CRL option (gunicorn 21 added the ssl_context hook for that). Its workers
// call ssl.wrap_socket() for every connection, so this file, which gunicorn
// runs in the master before it forks them, puts a wrapper there that builds
// the same context plus VERIFY_CRL_CHECK_LEAF against the cluster CRL. The
// context is rebuilt when the CRL file changes, so `ec cluster revoke` takes
// effect on the next connection without a restart.
export function gunicornTlsConfig(crlFile: string): string {
  return `# Written by \`ec up\`; rewritten on every start. See src/control-plane/gunicorn-tls.ts.
import os
import ssl

CRL_FILE = ${JSON.stringify(crlFile)}
_contexts = {}


def _context(certfile, keyfile, ca_certs, ciphers):
    stamp = os.stat(CRL_FILE).st_mtime_ns
    key = (certfile, keyfile, ca_certs, ciphers, stamp)
    context = _contexts.get(key)
    if context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(certfile, keyfile)
        context.load_verify_locations(cafile=ca_certs)
        context.load_verify_locations(cafile=CRL_FILE)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        if ciphers:
            context.set_ciphers(ciphers)
        _contexts.clear()
        _contexts[key] = context
    return context


def _wrap_socket(sock, keyfile=None, certfile=None, server_side=False, cert_reqs=None,
                 ssl_version=None, ca_certs=None, do_handshake_on_connect=True,
                 suppress_ragged_eofs=True, ciphers=None):
    return _context(certfile, keyfile, ca_certs, ciphers).wrap_socket(
        sock, server_side=True, do_handshake_on_connect=do_handshake_on_connect,
        suppress_ragged_eofs=suppress_ragged_eofs)


ssl.wrap_socket = _wrap_socket
`
}
