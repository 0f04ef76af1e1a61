/** Who is asking, and in which environment. Every read and write is confined to that environment. */
export type Principal = { kind: 'secret'; environmentId: string } | { kind: 'public'; environmentId: string; scopes: readonly string[] };
