export function runVector(lib: unknown, file: unknown, vector: unknown): Promise<Record<string, unknown>>
export function runVectors(lib: unknown, file: unknown): Promise<{ total: number; failures: { name: string; expected: unknown; got: unknown }[] }>
