// Shared by this plugin's tests: scratch directories, guest specs, tiny images.
import {randomUUID} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {GuestSpec} from '@ec/plugin-api'
import {create} from 'xmlbuilder2'

export async function scratchDir(): Promise<{path: string; remove: () => Promise<void>}> {
  const path = await mkdtemp(join(tmpdir(), 'ec-libvirt-'))
  return {path, remove: () => rm(path, {recursive: true, force: true})}
}

export function guestSpec(overrides: Partial<GuestSpec> = {}): GuestSpec {
  return {
    id: randomUUID(),
    name: 'test guest',
    vcpus: 1,
    memoryMb: 128,
    diskGb: 1,
    image: {ref: 'base', path: '/nonexistent/base.qcow2'},
    ...overrides,
  }
}

/** A blank qcow2 of the given virtual size, e.g. "64M". */
export function makeQcow2(path: string, size: string): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, size])
}

export function qemuImgInfo(path: string): {format: string; 'virtual-size': number; 'backing-filename'?: string; 'backing-filename-format'?: string} {
  return JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path], {encoding: 'utf8'}))
}

/** The root element of an XML document, as a DOM element to query. */
export function parseXml(xml: string): Element {
  return create(xml).root().node as unknown as Element
}

export function only(parent: Element, tag: string): Element {
  const found = [...parent.getElementsByTagName(tag)]
  if (found.length !== 1) throw new Error(`expected one <${tag}>, found ${found.length}`)
  return found[0]
}

/** The error an async call fails with (fails the test if it succeeds): the plugin API's tests' own. */
export {rejection} from '../../../packages/plugin-api/test/helpers.js'
