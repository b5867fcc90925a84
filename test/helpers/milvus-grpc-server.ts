/**
 * A minimal Milvus gRPC server for the consumer helper's tests, built from the proto descriptors
 * the official SDK ships (@zilliz/milvus2-sdk-node dist/milvus/proto-json, the same definitions
 * its client loads) with @grpc/grpc-js and @grpc/proto-loader, the SDK's own dependencies.
 *
 * It implements only what the tests call (Connect, ShowCollections, HasCollection, GetVersion,
 * CheckHealth; every other RPC answers UNIMPLEMENTED) with Milvus's authentication semantics
 * (spec/milvus-rest-user-api.md sections 6 and 9, authentication_interceptor.go): every RPC must
 * carry metadata `authorization: base64("user:password")`, split at the first colon; a missing
 * header is UNAUTHENTICATED "missing authorization in header", a wrong credential UNAUTHENTICATED
 * "auth check failure, please check username and password are correct". Passwords come from a
 * lookup (typically the REST simulator's `passwordOf`), so a rotation through REST is seen by gRPC
 * at once, as on one Milvus proxy serving both on port 19530.
 */
import { Server, ServerCredentials, loadPackageDefinition, status, type GrpcObject, type Metadata, type ServiceClientConstructor, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const milvusProtoJson = require('@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus') as { default?: object } & object;

export interface MilvusGrpcServerOptions {
  /** The password of a user, or undefined when the user does not exist. */
  passwordOf: (user: string) => string | undefined;
  /** Collection names ShowCollections returns. @defaultValue [] */
  collections?: string[];
}

type Unary = (call: { metadata: Metadata; request: unknown }, callback: (error: Partial<ServiceError> | null, value?: unknown) => void) => void;

const SUCCESS_STATUS = { error_code: 'Success', reason: '', code: 0, retriable: false, detail: '' };

export class MilvusGrpcServer {
  /** RPCs received, by method name, and authentication failures. */
  readonly calls = new Map<string, number>();
  unauthenticated = 0;
  readonly #server: Server;
  readonly #port: number;

  private constructor(server: Server, port: number) {
    this.#server = server;
    this.#port = port;
  }

  static async start(options: MilvusGrpcServerOptions): Promise<MilvusGrpcServer> {
    const definition = fromJSON(milvusProtoJson.default ?? milvusProtoJson, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const root = loadPackageDefinition(definition);
    const milvusPackage = (((root['milvus'] as GrpcObject)['proto'] as GrpcObject)['milvus'] as GrpcObject);
    const service = (milvusPackage['MilvusService'] as ServiceClientConstructor).service;
    const server = new Server();
    let instance: MilvusGrpcServer | undefined;
    const collections = options.collections ?? [];
    const authenticated =
      (name: string, handler: (request: unknown) => unknown): Unary =>
      (call, callback) => {
        instance?.calls.set(name, (instance.calls.get(name) ?? 0) + 1);
        const failure = authenticate(call.metadata, options.passwordOf);
        if (failure) {
          if (instance) instance.unauthenticated++;
          callback({ code: status.UNAUTHENTICATED, details: failure, message: failure });
          return;
        }
        callback(null, handler(call.request));
      };
    const implementation: UntypedServiceImplementation = {
      Connect: authenticated('Connect', () => ({ status: SUCCESS_STATUS, server_info: { build_tags: 'grpc-test-server' }, identifier: '1' })),
      ShowCollections: authenticated('ShowCollections', () => ({
        status: SUCCESS_STATUS,
        collection_names: collections,
        collection_ids: collections.map((_, i) => String(i + 1)),
        created_timestamps: collections.map(() => '0'),
        created_utc_timestamps: collections.map(() => '0'),
        inMemory_percentages: collections.map(() => '0'),
      })),
      HasCollection: authenticated('HasCollection', (request) => ({ status: SUCCESS_STATUS, value: collections.includes(String((request as { collection_name?: string }).collection_name)) })),
      GetVersion: authenticated('GetVersion', () => ({ status: SUCCESS_STATUS, version: 'v2.6.0-grpc-test-server' })),
      CheckHealth: authenticated('CheckHealth', () => ({ status: SUCCESS_STATUS, isHealthy: true })),
    };
    server.addService(service, implementation);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    instance = new MilvusGrpcServer(server, port);
    return instance;
  }

  /** `host:port`, the MilvusClient `address`. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  count(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  /** Stops at once: open calls are cancelled, channels closed. */
  close(): Promise<void> {
    this.#server.forceShutdown();
    return Promise.resolve();
  }
}

/** Milvus's AuthenticationInterceptor: the message of the failure, or null when authenticated. */
function authenticate(metadata: Metadata, passwordOf: (user: string) => string | undefined): string | null {
  const values = metadata.get('authorization');
  if (values.length === 0) return 'missing authorization in header';
  const decoded = Buffer.from(String(values[0]), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // No colon: an API key, which open-source Milvus's default hook always rejects.
  if (colon === -1) return 'auth check failure, please check username and password are correct';
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  const expected = passwordOf(user);
  if (expected === undefined || expected !== password) return 'auth check failure, please check username and password are correct';
  return null;
}
