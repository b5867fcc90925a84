/**
 * The two SDK flavours a consumer uses, as ClientAdapters for RotatingClient:
 *
 * - gRPC `MilvusClient`: the credential is fixed in the constructor, so a rotated password needs a
 *   new client; Milvus answers a rejected credential with gRPC status UNAUTHENTICATED (16) on every
 *   RPC, the SDK's Connect included (its retry interceptor treats 16 as not retryable). The adapter
 *   awaits Connect, so a client is verified before it replaces the old one, and closes clients with
 *   `closeConnection()`.
 * - REST `HttpClient`: stateless (fetch); Milvus answers HTTP 401 with code 1800, which the SDK
 *   throws as HttpError (status 401). A `code: 1800` in a resolved body counts too. Closing is a
 *   no-op; the swap still waits for in-flight calls.
 */
import { HttpClient, MilvusClient, type ClientConfig, type HttpClientConfig } from '@zilliz/milvus2-sdk-node';
import { RotatingClient, type ClientAdapter, type RotatingClientOptions } from './rotating-client.ts';
import type { ConsumerCredential } from './secret-reader.ts';

/** gRPC status UNAUTHENTICATED. */
const GRPC_UNAUTHENTICATED = 16;
/** Milvus's code for a failed authentication (REST body and merr). */
const MILVUS_CODE_NOT_AUTHENTICATED = 1800;

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** gRPC status 16 as thrown by @grpc/grpc-js (a ServiceError with numeric `code`). */
export function isGrpcAuthFailure(error: unknown): boolean {
  return field(error, 'code') === GRPC_UNAUTHENTICATED;
}

/** HTTP 401 as thrown by the SDK's HttpClient (HttpError with `status`). */
export function isHttpAuthFailure(error: unknown): boolean {
  return field(error, 'status') === 401;
}

/** A resolved REST body `{code: 1800}`. */
export function isHttpAuthFailureResult(result: unknown): boolean {
  return field(result, 'code') === MILVUS_CODE_NOT_AUTHENTICATED;
}

/** SDK options the helper passes through; the credential fields are the helper's. */
export type MilvusClientSettings = Omit<ClientConfig, 'username' | 'password' | 'token' | '__SKIP_CONNECT__'>;
export type HttpClientSettings = Omit<HttpClientConfig, 'username' | 'password' | 'token'>;

export const milvusClientAdapter = (settings: MilvusClientSettings): ClientAdapter<MilvusClient> => ({
  async build(credential: ConsumerCredential): Promise<MilvusClient> {
    const client = new MilvusClient({ ...settings, username: credential.username, password: credential.password });
    try {
      // The SDK starts Connect in the constructor and leaves its promise unobserved; awaiting it
      // here both verifies the credential and keeps a rejection from going unhandled.
      await client.connectPromise;
    } catch (error) {
      await client.closeConnection().catch(() => undefined);
      throw error;
    }
    return client;
  },
  async close(client: MilvusClient): Promise<void> {
    await client.closeConnection();
  },
  isAuthFailure: isGrpcAuthFailure,
});

export const httpClientAdapter = (settings: HttpClientSettings): ClientAdapter<HttpClient> => ({
  async build(credential: ConsumerCredential): Promise<HttpClient> {
    return new HttpClient({ ...settings, username: credential.username, password: credential.password } as HttpClientConfig);
  },
  async close(): Promise<void> {
    // fetch-based: nothing to release.
  },
  isAuthFailure: isHttpAuthFailure,
  isAuthFailureResult: isHttpAuthFailureResult,
});

/** A gRPC MilvusClient from a secret, renewed after a rotation. */
export function createMilvusClientConsumer(options: RotatingClientOptions & { client: MilvusClientSettings }): RotatingClient<MilvusClient> {
  return new RotatingClient(milvusClientAdapter(options.client), options);
}

/** The SDK's REST HttpClient from a secret, renewed after a rotation. */
export function createHttpClientConsumer(options: RotatingClientOptions & { client: HttpClientSettings }): RotatingClient<HttpClient> {
  return new RotatingClient(httpClientAdapter(options.client), options);
}
