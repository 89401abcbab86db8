// The base of every ec command: the global --config flag, lazy access to the
// backend registry and the effective configuration, and one place where an
// EcError — or a parse failure, reshaped into one — becomes one line on stderr
// (or a JSON error document) and its exit code.
import {Command, Flags, type Interfaces} from '@oclif/core'

import {openBackend, type OpenOptions} from './backends/open.js'
import {type EffectiveConfig, loadConfig, type Override} from './config/load.js'
import {exitCodeOf, isReportable} from './errors.js'
import {parseFailure} from './input/parse-error.js'
import {escapeControlCharacters} from './output/escape.js'
import {colourEnabled} from './output/colour.js'
import {type ListingPlan, renderListing, sortRows} from './output/listing.js'
import type {BackendKind, BackendsByKind} from '@ec/plugin-api'
import {BackendRegistry} from './plugins/registry.js'

export type EcFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof EcCommand)['baseFlags'] & T['flags']>
export type EcArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export abstract class EcCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    config: Flags.string({
      description: 'Config file to read (wins over EC_CONFIG and the search).',
      helpGroup: 'GLOBAL',
    }),
    credentials: Flags.string({
      description: 'Credentials bundle from "ec cluster credentials" (config credentials, EC_CREDENTIALS; default: <state>/credentials.json).',
      helpGroup: 'GLOBAL',
    }),
  }

  protected flags!: EcFlags<T>
  protected args!: EcArgs<T>
  /** The positional arguments as parsed (flags and their values removed); all of them when strict = false. */
  protected positionals!: string[]
  private registryPromise?: Promise<BackendRegistry>
  private readonly opened: Array<{close(): Promise<void>}> = []

  public override async init(): Promise<void> {
    await super.init()
    const {args, flags, argv} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof EcCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    }).catch((error: unknown) => {
      throw parseFailure(error, [this.config.bin, ...(this.id?.split(':') ?? [])].join(' '))
    })
    this.flags = flags as EcFlags<T>
    this.args = args as EcArgs<T>
    this.positionals = argv as string[]
  }

  protected registry(): Promise<BackendRegistry> {
    this.registryPromise ??= BackendRegistry.load(this.config).then((registry) => {
      for (const problem of registry.problems) this.warning(problem)
      return registry
    })
    return this.registryPromise
  }

  /** The effective configuration; `overrides` carry this command's flags. */
  protected async effectiveConfig(overrides: Override[] = []): Promise<EffectiveConfig> {
    const registry = await this.registry()
    const credentials = this.flags.credentials
    return loadConfig({
      sections: registry.configSections().map((s) => s.section),
      configFile: this.flags.config,
      overrides: credentials ? [{path: ['credentials'], value: credentials, origin: {kind: 'flag', flag: '--credentials'}}, ...overrides] : overrides,
      cacheDir: this.config.cacheDir,
    })
  }

  /** Sort rows by the plan, print them as a table or ids (not with --json), and return them for --json. */
  protected printListing<R>(rows: R[], plan: ListingPlan<R>): R[] {
    const sorted = sortRows(rows, plan)
    if (this.jsonEnabled()) return sorted // not even drawn: a table of 1,000 rows costs more than the listing
    const text = renderListing(sorted, plan)
    if (text !== '') this.log(text)
    return sorted
  }

  /**
   * The --json document. oclif tokenizes it to colour it even where no colour
   * is shown, which costs more than the rest of a large listing; only a
   * terminal with colour on gets that.
   */
  public override logJson(json: unknown): void {
    if (colourEnabled()) return super.logJson(json)
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  /** One unwrapped line on stderr, so scripts can grep it (oclif's warn() wraps). */
  protected warning(message: string): void {
    this.logToStderr(`Warning: ${escapeControlCharacters(message)}`)
  }

  /** Open the backend config selects for `kind`; closed by this command's finally(). */
  protected async backend<K extends BackendKind>(
    config: EffectiveConfig,
    kind: K,
    options: OpenOptions = {},
  ): Promise<BackendsByKind[K]> {
    const backend = await openBackend(await this.registry(), config.values, kind, options)
    this.opened.push(backend)
    return backend
  }

  public override async finally(error: Error | undefined): Promise<unknown> {
    await Promise.all(this.opened.splice(0).map((b) => b.close().catch(() => undefined)))
    return super.finally(error)
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (!isReportable(error)) return super.catch(error)
    const exitCode = exitCodeOf(error)
    // Messages echo user input (names, paths, flags): never let it reach the terminal raw.
    const message = escapeControlCharacters(error.message)
    if (this.jsonEnabled()) {
      this.logJson({error: {reason: error.reason, message, exitCode}})
    } else {
      this.logToStderr(`Error: ${message}`)
      if (error.details) this.logToStderr(error.details)
    }

    return this.exit(exitCode)
  }
}
