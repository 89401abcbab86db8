// Host ports forwarded into guests under user networking: the allocator and
// the port-taken error are @ec/plugin-api/ports' (shared with every qemu-based
// hypervisor); what is libvirt's is where a guest's forwards are written down:
// the hostfwd= rules of its domain XML.
import type {PortForward} from '@ec/plugin-api'

export {hostPort, PortAllocator, portTakenFailure, PortTakenFailure, SSH_PORT} from '@ec/plugin-api/ports'

/** The forwards in a domain's XML (the hostfwd= rules of its qemu:commandline). */
export function forwardsInDomainXml(xml: string): PortForward[] {
  const forwards: PortForward[] = []
  for (const match of xml.matchAll(/hostfwd=(tcp|udp):([0-9.]*):(\d+)-[0-9.]*:(\d+)/g)) {
    forwards.push({proto: match[1] as PortForward['proto'], host: `${match[2]}:${match[3]}`, guest: Number(match[4])})
  }

  return forwards
}
