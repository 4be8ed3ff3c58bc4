/**
 * Where the CLI writes private keys, and the checks before it does: by default outside any
 * repository, in the user's configuration directory (`$XDG_CONFIG_HOME/invoker-gateway/`, else
 * `~/.config/invoker-gateway/`), the folder 0700 and the file 0600. A path given by the user is
 * refused when it lies inside a git work tree and git would not ignore it, so a private key can
 * never be one `git add .` away from a commit. An existing file is never overwritten.
 *
 * @module
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

export function keyHome(): string {
  const config = process.env['XDG_CONFIG_HOME'] || join(homedir(), '.config')
  return join(config, 'invoker-gateway')
}

/** Default file of a request signer's private key. */
export function signerKeyPath(name: string): string {
  return join(keyHome(), 'signers', `${name}.signer.json`)
}

/** Writes a private key file (0600), refusing to overwrite one or to leave it where git would commit it. */
export function writePrivateKeyFile(path: string, text: string): string {
  const file = resolve(path)
  if (existsSync(file))
    throw new Error(`${file} exists: a private key is never overwritten (remove it, or choose another --key-out)`)
  const folder = dirname(file)
  mkdirSync(folder, { recursive: true, mode: 0o700 })
  const tracked = trackableByGit(file)
  if (tracked) {
    throw new Error(
      `${file} is inside the git work tree ${tracked} and not ignored: a private key must not be committable. Leave --key-out out (the key goes to ${keyHome()}), or add the path to .gitignore`,
    )
  }
  writeFileSync(file, text, { mode: 0o600 })
  return file
}

/** The work tree's top folder when `file` is inside one and git does not ignore it; else null. */
function trackableByGit(file: string): string | null {
  const top = spawnSync('git', ['-C', dirname(file), 'rev-parse', '--show-toplevel'], { encoding: 'utf8' })
  if (top.error || top.status !== 0) return null
  // check-ignore: 0 = ignored, 1 = not ignored.
  const ignored = spawnSync('git', ['-C', dirname(file), 'check-ignore', '-q', file], { encoding: 'utf8' })
  return ignored.status === 1 ? top.stdout.trim() : null
}
