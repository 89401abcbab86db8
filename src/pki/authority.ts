// The cluster's certificate authority, kept under <state>/pki by `openssl ca`
// (its index.txt records every certificate issued, so one can be revoked and
// the CRL regenerated). Server certificates for etcd and Placement are issued
// again on every `ec up` (their addresses may change); client certificates
// are issued by name, and revoking a name revokes every certificate it holds.
import {existsSync} from 'node:fs'
import {chmod, mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {EcError} from '../errors.js'
import {openssl} from './openssl.js'

/** Client names: what `ec cluster credentials NAME` accepts, and the CN of the certificate. */
export const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

// Clients and servers live in different organisations, so a client named
// "etcd" is never mistaken for the etcd server's certificate.
const CLIENT_ORG = 'ec-client'
const SERVER_ORG = 'ec-server'
const VALID_DAYS = 3650

export interface IssuedPair {
  cert: string
  key: string
}

export class CertificateAuthority {
  readonly caCert: string
  readonly caKey: string
  /** The certificate revocation list etcd and Placement check clients against. */
  readonly crl: string

  constructor(readonly dir: string) {
    this.caCert = join(dir, 'ca.crt')
    this.caKey = join(dir, 'ca.key')
    this.crl = join(dir, 'crl.pem')
  }

  exists(): boolean {
    return existsSync(this.caKey) && existsSync(this.caCert)
  }

  /** Create the CA (once) and its empty CRL; later calls keep what exists. */
  async ensure(): Promise<void> {
    await mkdir(join(this.dir, 'issued'), {recursive: true, mode: 0o700})
    await mkdir(join(this.dir, 'clients'), {recursive: true, mode: 0o700})
    await chmod(this.dir, 0o700)
    await writeFile(join(this.dir, 'openssl.cnf'), opensslConfig(this.dir))
    if (!existsSync(join(this.dir, 'index.txt'))) await writeFile(join(this.dir, 'index.txt'), '')
    if (!existsSync(join(this.dir, 'crlnumber'))) await writeFile(join(this.dir, 'crlnumber'), '1000\n')
    if (!this.exists()) {
      await rm(this.caKey, {force: true})
      await this.newKey(this.caKey)
      await openssl([
        'req', '-new', '-x509', '-key', this.caKey, '-out', this.caCert, '-days', String(VALID_DAYS),
        '-subj', `/O=ec/CN=ec cluster CA ${new Date().toISOString().slice(0, 10)}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ])
    }

    if (!existsSync(this.crl)) await this.writeCrl()
  }

  /** A certificate for a server at these addresses (IPs or DNS names); also a client of its peers. */
  async issueServer(name: string, addresses: string[], out: IssuedPair): Promise<void> {
    const san = [...new Set(addresses)].map((a) => (/^[\d.]+$|:/.test(a) ? `IP:${a}` : `DNS:${a}`)).join(',')
    await this.issue(`/O=${SERVER_ORG}/CN=${name}`, out, ['extendedKeyUsage=serverAuth,clientAuth', `subjectAltName=${san}`])
  }

  /** A client certificate for NAME (under clients/ unless `out` says where); `revoke` finds it by name. */
  async issueClient(name: string, out?: IssuedPair): Promise<IssuedPair> {
    if (!CLIENT_NAME.test(name)) {
      throw new EcError('usage', `"${name}" is not a valid client name; use letters, digits, ".", "_" and "-" (at most 64)`)
    }

    const stamp = `${Date.now()}-${process.pid}`
    out ??= {cert: join(this.dir, 'clients', `${name}.${stamp}.crt`), key: join(this.dir, 'clients', `${name}.${stamp}.key`)}
    await this.issue(`/O=${CLIENT_ORG}/CN=${name}`, out, ['extendedKeyUsage=clientAuth'])
    return out
  }

  /** Serials of NAME's certificates that are still valid (not revoked, not expired). */
  async validSerials(name: string): Promise<string[]> {
    const index = await readFile(join(this.dir, 'index.txt'), 'utf8').catch(() => '')
    return index
      .split('\n')
      .map((line) => line.split('\t'))
      .filter((f) => f[0] === 'V' && f[5] === `/O=${CLIENT_ORG}/CN=${name}`)
      .map((f) => f[3])
  }

  /** Whether NAME was ever issued a certificate. */
  async knows(name: string): Promise<boolean> {
    const index = await readFile(join(this.dir, 'index.txt'), 'utf8').catch(() => '')
    return index.split('\n').some((line) => line.split('\t')[5] === `/O=${CLIENT_ORG}/CN=${name}`)
  }

  /** Revoke every valid certificate of NAME and publish the new CRL; returns the serials revoked. */
  async revoke(name: string): Promise<string[]> {
    const serials = await this.validSerials(name)
    for (const serial of serials) {
      await openssl(['ca', '-batch', '-config', join(this.dir, 'openssl.cnf'), '-revoke', join(this.dir, 'issued', `${serial}.pem`)])
    }

    await this.writeCrl()
    return serials
  }

  private async issue(subject: string, out: IssuedPair, extensions: string[]): Promise<void> {
    const csr = `${out.key}.csr`
    const extFile = `${out.key}.ext`
    try {
      await rm(out.key, {force: true})
      await this.newKey(out.key)
      await openssl(['req', '-new', '-key', out.key, '-out', csr, '-subj', subject])
      await writeFile(extFile, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...extensions, ''].join('\n'))
      await openssl([
        'ca', '-batch', '-notext', '-config', join(this.dir, 'openssl.cnf'), '-in', csr, '-out', out.cert,
        '-days', String(VALID_DAYS), '-extfile', extFile,
      ])
    } finally {
      await rm(csr, {force: true})
      await rm(extFile, {force: true})
    }
  }

  /** A P-256 key, created owner-only (umask cannot widen it). */
  private async newKey(path: string): Promise<void> {
    await writeFile(path, '', {mode: 0o600, flag: 'wx'})
    const pem = await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])
    await writeFile(path, pem, {mode: 0o600})
  }

  private async writeCrl(): Promise<void> {
    const next = `${this.crl}.new`
    await openssl(['ca', '-batch', '-config', join(this.dir, 'openssl.cnf'), '-gencrl', '-out', next])
    // rename is atomic: etcd and Placement read the CRL on every new connection.
    await rename(next, this.crl)
  }
}

function opensslConfig(dir: string): string {
  return [
    '# Written by ec: the cluster CA as `openssl ca` sees it.',
    '[ca]',
    'default_ca = ec_ca',
    '[ec_ca]',
    `dir = ${dir}`,
    'database = $dir/index.txt',
    'new_certs_dir = $dir/issued',
    'certificate = $dir/ca.crt',
    'private_key = $dir/ca.key',
    'serial = $dir/serial',
    'rand_serial = yes',
    'crlnumber = $dir/crlnumber',
    'default_md = sha256',
    `default_crl_days = ${VALID_DAYS}`,
    'policy = ec_policy',
    'unique_subject = no',
    'email_in_dn = no',
    '[ec_policy]',
    'organizationName = supplied',
    'commonName = supplied',
    '',
  ].join('\n')
}
