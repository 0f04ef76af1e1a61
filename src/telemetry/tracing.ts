import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { VERSION } from '../version.js';

/**
 * Traces through the OpenTelemetry API. The SDK is loaded only when an exporter is configured by
 * the standard variables (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, and
 * not OTEL_SDK_DISABLED=true); otherwise no span is made and nothing is paid.
 */

/** The started SDK's tracer; undefined while tracing is off. */
let tracer: Tracer | undefined;

/** Whether spans are made (an exporter is configured). */
export const tracing = {
  get on(): boolean {
    return tracer !== undefined;
  },
};

/**
 * Starts the SDK when the process's environment configures an exporter (the SDK's parts read
 * their own OTEL_* variables from it); resolves with its shutdown.
 */
export async function startTracing(): Promise<() => Promise<void>> {
  const env = process.env;
  const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (!endpoint || env['OTEL_SDK_DISABLED'] === 'true') return async () => {};
  const [{ NodeTracerProvider }, { BatchSpanProcessor }, { resourceFromAttributes }, { W3CTraceContextPropagator }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  // OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: http/protobuf (the default) or http/json.
  const protocol = env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json')
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL: ${protocol} is not served; use http/protobuf or http/json`);
  const { OTLPTraceExporter } =
    protocol === 'http/json'
      ? await import('@opentelemetry/exporter-trace-otlp-http')
      : await import('@opentelemetry/exporter-trace-otlp-proto');
  // The exporter reads its endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*; the batch
  // processor its queue from OTEL_BSP_*; the provider its sampler from OTEL_TRACES_SAMPLER(_ARG).
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] ?? 'sessions-gateway', 'service.version': VERSION }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  tracer = provider.getTracer('sessions-gateway', VERSION);
  return async () => {
    tracer = undefined;
    await provider.shutdown();
    // Unregistered, so that a later start (a test's) registers afresh.
    trace.disable();
    context.disable();
    propagation.disable();
  };
}

/** Runs `fn` in a new span (a child of the active one); a failure is recorded and rethrown. */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span | undefined) => T, kind = SpanKind.INTERNAL): T {
  if (!tracer) return fn(undefined);
  return tracer.startActiveSpan(name, { kind, attributes }, (span) => {
    const end = (error?: unknown) => {
      if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    try {
      const result = fn(span);
      if (result instanceof Promise) {
        return result.then(
          (value) => {
            end();
            return value;
          },
          (error: unknown) => {
            end(error);
            throw error;
          },
        ) as T;
      }
      end();
      return result;
    } catch (error) {
      end(error);
      throw error;
    }
  });
}

/** A span of a step already done, from `startedAt` (performance.now()) until now, under the active span. */
export function pastSpan(name: string, startedAt: number): void {
  tracer?.startSpan(name, { startTime: performance.timeOrigin + startedAt }).end();
}

/**
 * The server span of an HTTP request, continuing the caller's W3C `traceparent`; `fn` runs inside
 * it. Ended by the caller once the answer is sent.
 */
export function serverSpan<T>(
  name: string,
  headers: Record<string, string | string[] | undefined>,
  attributes: Attributes,
  fn: (span: Span | undefined) => T,
): T {
  if (!tracer) return fn(undefined);
  const parent: Context = propagation.extract(ROOT_CONTEXT, headers);
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  return context.with(trace.setSpan(parent, span), () => fn(span));
}

/** The active span's ids, for log lines. */
export function traceIds(): { trace_id: string; span_id: string } | undefined {
  if (!tracer) return undefined;
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
