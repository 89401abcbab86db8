// What each step is called on screen. Its own file so that listing and
// watching instances does not load listr2 with the create progress display.
import type {Step} from '../instances/model.js'

export const STEP_LABELS: Record<Step, string> = {
  candidates: 'Find candidate hosts',
  claim: 'Claim resources',
  notify: 'Hand the assignment to the host',
  accepted: 'Host accepted',
  image: 'Image',
  disk: 'Disk',
  define: 'Define the guest',
  boot: 'Boot',
  guest: 'Guest ready',
}
