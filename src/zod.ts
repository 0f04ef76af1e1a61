import { z } from 'zod';

// Request content is data, never code. zod's JIT writes a parser for each object schema with
// `new Function` (from the schema's keys, not from input); it is turned off so that nothing in the
// process builds code at run time, and an audit need not argue why that one is safe. It must be
// set before the first schema is built: import z from here, never from 'zod'.
z.config({ jitless: true });

export { z };
