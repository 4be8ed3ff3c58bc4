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
import { lstatSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'

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
  const given = resolve(path)
  // lstat, not exists: a symbolic link there (dangling or not) is an existing entry too.
  if (lstatSync(given, { throwIfNoEntry: false }) !== undefined)
    throw new Error(`${given} exists: a private key is never overwritten (remove it, or choose another --key-out)`)
  mkdirSync(dirname(given), { recursive: true, mode: 0o700 })
  // Judged where the key really lands: a folder reached through a symbolic link may be inside a
  // work tree that the path given does not name.
  const file = join(realpathSync(dirname(given)), basename(given))
  const tracked = trackableByGit(file)
  if (tracked) {
    throw new Error(
      `${file} is inside the git work tree ${tracked} and not ignored: a private key must not be committable. Leave --key-out out (the key goes to ${keyHome()}), or add the path to .gitignore`,
    )
  }
  // `wx`: created here or not at all (O_EXCL also refuses a link that appeared since the check).
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' })
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
