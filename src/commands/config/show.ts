import {describeOrigin, type Origin} from '../../config/load.js'
import {redact} from '../../config/secrets.js'
import {EcCommand} from '../../ec-command.js'
import {renderTable} from '../../output/table.js'

export interface ConfigShowResult {
  file: string | null
  values: Record<string, unknown>
  /** Dotted key → where its value came from: "default", a file path, "env NAME" or "flag --name". */
  sources: Record<string, string>
}

export default class ConfigShow extends EcCommand<typeof ConfigShow> {
  static override summary = 'Print the effective configuration and where each value came from.'
  static override description = `Credentials (keys a config section marks writeOnly, e.g. etcd.password and placement.token) are shown as <redacted>. Layers, lowest first: defaults, the config file (--config, EC_CONFIG, or the first of ec.config.{yaml,yml,json,js,mjs} / .ecrc* from the current directory up to $HOME, then ~/.config/ec/config.*, then /etc/ec/config.yaml), environment variables, flags.`
  static override examples = ['<%= config.bin %> config show', '<%= config.bin %> config show --json']
  static override enableJsonFlag = true

  async run(): Promise<ConfigShowResult> {
    const config = await this.effectiveConfig()
    const values = redact(config.values, config.secrets)
    const sources = Object.fromEntries([...config.origins].map(([key, origin]) => [key, sourceLabel(origin)]))
    this.log(`Config file: ${config.file ?? '(none found; using defaults)'}`)
    this.log(
      renderTable(
        ['key', 'value', 'source'],
        [...config.origins.keys()].sort().map((key) => [key, JSON.stringify(valueAt(values, key)), sources[key]]),
      ),
    )
    return {file: config.file ?? null, values, sources}
  }
}

function sourceLabel(origin: Origin): string {
  return origin.kind === 'env' ? `env ${origin.variable}` : describeOrigin(origin)
}

function valueAt(values: object, dotted: string): unknown {
  let node: unknown = values
  for (const key of dotted.split('.')) node = (node as Record<string, unknown>)?.[key]
  return node
}
