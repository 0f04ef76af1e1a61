import { writeFileSync } from 'node:fs';
import { printSchema } from '../src/graphql/schema.js';

writeFileSync(new URL('../schema.graphql', import.meta.url), `${printSchema()}\n`);
console.log('wrote schema.graphql');
