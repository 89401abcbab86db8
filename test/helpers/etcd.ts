import {EtcdTransport} from '../../plugins/etcd/src/transport.js'

/** Every key under ec's prefix, with its value, read straight from etcd. */
export async function etcdKeys(endpoint: string, prefix = '/ec'): Promise<Record<string, string>> {
  const transport = new EtcdTransport({endpoints: [endpoint], prefix, timeoutMs: 5000})
  try {
    const {items} = await transport.list('')
    return Object.fromEntries(items.map((kv) => [kv.key, kv.value]))
  } finally {
    await transport.close()
  }
}
