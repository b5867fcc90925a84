#!/usr/bin/env node
// The installed entry point: the compiled CLI when built (the Docker image), else the TypeScript
// source, which Node 24 runs directly. Written to parse and run on any Node, so an older one gets
// one clear line instead of a loader error.
import { existsSync } from 'node:fs';

const REQUIRED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (!(major >= REQUIRED_MAJOR)) {
  process.stderr.write(`milvus-rotator needs Node.js ${REQUIRED_MAJOR} or later; this is Node.js ${process.versions.node} (${process.execPath})\n`);
  process.exit(2);
}

const compiled = new URL('../dist/src/cli.js', import.meta.url);
const cli = await import(existsSync(compiled) ? compiled.href : new URL('../src/cli.ts', import.meta.url).href);
cli.exitWithin(await cli.main(process.argv.slice(2)));
