#!/usr/bin/env node
import {execute, settings} from '@oclif/core'

// ec and its plugins run as compiled JavaScript: a linked plugin must be built
// (npm run build in its folder). No ts-node lookup on every plugin load.
settings.enableAutoTranspile = false

await execute({dir: import.meta.url})
