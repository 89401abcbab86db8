// What both backends check and add before they publish an instance.
import type {InstanceMetadata} from '@ec/plugin-api'

import type {MetadataSettings} from './config.js'
import {MetadataBackendError} from './errors.js'
import {checkInstanceId} from './store.js'

/** Validate `data` and merge in the configured defaults; throws `usage` errors with one-line messages. */
export function effectiveMetadata(data: InstanceMetadata, settings: MetadataSettings): InstanceMetadata {
  checkInstanceId(data?.instanceId)
  const id = data.instanceId
  if (typeof data.hostname !== 'string' || data.hostname === '' || /[\s/\\]/.test(data.hostname)) {
    throw new MetadataBackendError('usage', `instance ${id}: hostname ${JSON.stringify(data.hostname)} is not a host name`)
  }

  if (!Array.isArray(data.publicKeys) || data.publicKeys.some((k) => typeof k !== 'string' || /[\r\n]/.test(k))) {
    throw new MetadataBackendError('usage', `instance ${id}: public keys must be strings of one line each`)
  }

  for (const [name, value] of [['user-data', data.userData], ['vendor-data', data.vendorData]] as const) {
    if (value !== undefined && typeof value !== 'string') throw new MetadataBackendError('usage', `instance ${id}: ${name} must be a string`)
  }

  const userDataBytes = data.userData === undefined ? 0 : Buffer.byteLength(data.userData, 'utf8')
  if (userDataBytes > settings.maxUserDataBytes) {
    throw new MetadataBackendError(
      'usage',
      `instance ${id}: user-data is ${userDataBytes} bytes, over the ${settings.maxUserDataBytes}-byte limit (metadata.maxUserDataBytes); shrink it (gzip it) or raise the limit`,
    )
  }

  const keys = [...new Set([...data.publicKeys, ...settings.defaultPublicKeys].map((k) => k.trim()).filter(Boolean))]
  const result: InstanceMetadata = {
    instanceId: id,
    hostname: data.hostname,
    publicKeys: keys,
    meta: {...data.meta},
  }
  if (data.userData !== undefined) result.userData = data.userData
  if (data.vendorData !== undefined) result.vendorData = data.vendorData
  if (data.address !== undefined) result.address = data.address
  if (data.macAddress !== undefined) {
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(data.macAddress)) throw new MetadataBackendError('usage', `instance ${id}: MAC address ${JSON.stringify(data.macAddress)} is not six hex pairs`)
    result.macAddress = data.macAddress.toLowerCase()
  }
  return result
}
