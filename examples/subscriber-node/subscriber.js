// A downstream service in another language: subscribes to newsflow's enriched topic, validates every
// event against the committed JSON Schema, and prints one JSON line per article. A real service would
// do its work where this prints, and commit offsets only after that work is durable.
//
//   KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 node subscriber.js
//
// Environment: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092), KAFKA_TOPIC_PREFIX (default empty),
// SUBSCRIBER_GROUP_ID (default newsflow-subscriber-node), SUBSCRIBER_FROM_BEGINNING (default true: a new
// group reads the whole retained history), SUBSCRIBER_SCHEMA (default: the committed
// articles.enriched.v1.json), SUBSCRIBER_MAX_ARTICLES (exit after that many; default: run until stopped).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const env = process.env;
const schemaPath =
  env.SUBSCRIBER_SCHEMA ??
  fileURLToPath(new URL("../../services/contracts/schemas/articles.enriched.v1.json", import.meta.url));
const topic = `${env.KAFKA_TOPIC_PREFIX ?? ""}articles.enriched`;
const maxArticles = env.SUBSCRIBER_MAX_ARTICLES ? Number(env.SUBSCRIBER_MAX_ARTICLES) : Infinity;

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));

const kafka = new Kafka({
  clientId: "newsflow-subscriber-node",
  brokers: (env.KAFKA_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092").split(","),
  logLevel: logLevel.WARN,
});
const consumer = kafka.consumer({ groupId: env.SUBSCRIBER_GROUP_ID ?? "newsflow-subscriber-node" });

const header = (message, name) => (message.headers?.[name] === undefined ? null : message.headers[name].toString());
let seen = 0;
let stopping = false;

async function stop(code) {
  if (stopping) return;
  stopping = true;
  await consumer.disconnect();
  process.exit(code);
}
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));

await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: (env.SUBSCRIBER_FROM_BEGINNING ?? "true") === "true" });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    let event = null;
    let errors = [];
    try {
      event = JSON.parse(message.value.toString("utf8"));
      if (!validate(event)) errors = validate.errors.map((e) => `${e.instancePath || "/"} ${e.message}`);
    } catch (error) {
      errors = [`not JSON: ${error.message}`];
    }
    console.log(
      JSON.stringify({
        valid: errors.length === 0,
        errors,
        article_id: event?.article_id ?? message.key?.toString() ?? null,
        title: event?.title ?? null,
        entities: event?.entities?.length ?? 0,
        story_id: event?.story_id ?? null,
        schema: header(message, "newsflow-schema"),
        trace_id: header(message, "newsflow-trace-id"),
        seen_at: header(message, "newsflow-seen-at"),
        partition,
        offset: message.offset,
      }),
    );
    seen += 1;
    if (seen >= maxArticles) setImmediate(() => stop(0));
  },
});
