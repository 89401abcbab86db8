#!/usr/bin/env node
// bench/startup's floor for `ec instance list --json`: only what any list
// must do — read the instance records with ec's own short-lived read
// (plugins/etcd/dist/range-client.js: the local admin's unix socket, else
// mutual TLS), parse them, print
// them as JSON and leave as the CLI does — without the CLI's config, plugin
// hooks, rows or columns. Usage: startup-read.js CREDENTIALS_BUNDLE PREFIX
import {readFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const {EtcdRangeClient} = await import(join(repo, 'plugins', 'etcd', 'dist', 'range-client.js'))
const [bundleFile, prefix] = process.argv.slice(2)
const bundle = JSON.parse(readFileSync(bundleFile, 'utf8'))
const client = new EtcdRangeClient(bundle.etcd.endpoints, {ca: bundle.ca, cert: bundle.cert, key: bundle.key, serverName: bundle.etcd.serverName, localSockets: bundle.etcd.localSockets}, 10_000)
const start = Buffer.from(`${prefix}/instances/`)
const end = Buffer.from(`${prefix}/instances0`) // '/' + 1
const {kvs} = await client.range(start, end)
const records = kvs.map((kv) => JSON.parse(kv.value))
client.close()
process.stdout.write(`${JSON.stringify(records, null, 2)}\n`, () => process.exit())
