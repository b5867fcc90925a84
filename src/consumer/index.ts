/**
 * milvus-rotator/consumer: hands an application a Milvus SDK client whose credential follows the
 * rotations milvus-rotator makes in Secrets Manager. See docs/consumers.md.
 *
 *   const milvus = createHttpClientConsumer({ secretId: 'prod/milvus/app', client: { endpoint } });
 *   const collections = await milvus.call((client) => client.listCollections());
 *   milvus.version; // { secretId, versionId, stage, username }
 *   await milvus.close();
 */
export { createHttpClientConsumer, createMilvusClientConsumer, isGrpcAuthFailure, isHttpAuthFailure, type HttpClientSettings, type MilvusClientSettings } from './milvus-clients.ts';
export { RotatingClient, type ClientAdapter, type ConsumerEvent, type ConsumerLogger, type ConsumerStats, type ConsumerVersion, type RotatingClientOptions } from './rotating-client.ts';
export { CONSUMER_STAGE, SecretReader, type ConsumerCredential, type ConsumerStage, type SecretsManagerSource } from './secret-reader.ts';
export * from './errors.ts';
export { VersionHeartbeatWriter, type HeartbeatOptions, type HeartbeatRedis } from './heartbeat.ts';
export { HEARTBEAT_DEFAULTS, decodeHeartbeat, encodeHeartbeat, heartbeatKey, type VersionHeartbeat } from './heartbeat-layout.ts';
