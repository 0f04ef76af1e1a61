import type { DocumentNode, GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Memory a parsed document holds, roughly: its text (UTF-16) and, for each token, the AST nodes,
 * locations and the token itself (measured: about 270 bytes per token on graphql 16).
 */
function documentBytes(document: DocumentNode, source: string): number {
  let tokens = 0;
  for (let token = document.loc?.startToken ?? null; token; token = token.next) tokens++;
  return 2 * source.length + 300 * tokens;
}

/** Bounds of yoga's parse cache: the same documents are parsed once, distinct ones cannot fill memory. */
export const DOCUMENT_CACHE = { entries: 1024, bytes: 32 * 1024 * 1024, entryBytes: 1024 * 1024 } as const;

/**
 * yoga's parse and parse-error caches, keyed by the document's text, bounded in bytes as well as
 * in entries (yoga's default counts only entries: 1,024 documents of 60 KB each hold gigabytes).
 * Validation results are kept per cached document object (a WeakMap inside yoga), so they leave
 * with it.
 */
export function boundedParserCache() {
  return {
    documentCache: new LRUCache<string, DocumentNode>({
      max: DOCUMENT_CACHE.entries,
      maxSize: DOCUMENT_CACHE.bytes,
      maxEntrySize: DOCUMENT_CACHE.entryBytes,
      sizeCalculation: (document, source) => documentBytes(document, source),
    }),
    errorCache: new LRUCache<string, GraphQLError>({
      max: DOCUMENT_CACHE.entries,
      maxSize: DOCUMENT_CACHE.bytes / 4,
      maxEntrySize: DOCUMENT_CACHE.entryBytes,
      sizeCalculation: (_error, source) => 2 * source.length + 2048,
    }),
  };
}
