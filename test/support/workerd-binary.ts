/**
 * The workerd binary itself. `node_modules/.bin/workerd` is a Node launcher that starts the
 * binary as its child, so a signal sent to the launcher leaves the server running (holding its
 * port, and outliving the test run); the tests and the bench spawn this path instead.
 *
 * @module
 */
import { createRequire } from 'node:module'

export const WORKERD_BINARY: string = (createRequire(import.meta.url)('workerd') as { default: string }).default
