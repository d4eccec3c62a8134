// Mario's Pizzeria from Node.js: place an order, read it back, see its events.
//
// Knows nothing but the wire contract (README, docs/asyncapi.json): exchange
// names, message names, AMQP properties and JSON bodies.
//
//   npm ci && AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ node place-and-read.mjs
//
// Exits 0 when the order was placed (201), read back (200, same id) and both
// orders.placed and orders.confirmed arrived for it; 1 on anything else.

import { randomUUID } from "node:crypto";
import amqp from "amqplib";

const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/";
const TIMEOUT_MS = 10_000;
const COMMANDS = "pizzeria.commands";
const QUERIES = "pizzeria.queries";
const EVENTS = "pizzeria.events";
const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to";
const JSON_TYPE = "application/json";

/** Resolves with what `poll()` finds, checking again on every `changed()`; rejects after the timeout. */
class Waiter {
  #waiting = new Set();

  until(what, poll) {
    return new Promise((resolve, reject) => {
      const entry = { poll, resolve };
      entry.timer = setTimeout(() => {
        this.#waiting.delete(entry);
        reject(new Error(`no ${what} within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      this.#waiting.add(entry);
      this.changed();
    });
  }

  changed() {
    for (const entry of this.#waiting) {
      const found = entry.poll();
      if (found !== undefined) {
        clearTimeout(entry.timer);
        this.#waiting.delete(entry);
        entry.resolve(found);
      }
    }
  }
}

const text = (value) => (Buffer.isBuffer(value) ? value.toString("utf8") : value);

async function main() {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const arrived = new Waiter();

    // Replies: direct reply-to, consumed (no-ack) before publishing on the same channel.
    const replies = new Map();
    await channel.consume(
      DIRECT_REPLY_TO,
      (message) => {
        replies.set(message.properties.correlationId, {
          status: Number(text(message.properties.headers?.status)),
          body: JSON.parse(message.content.toString("utf8")),
        });
        arrived.changed();
      },
      { noAck: true },
    );

    // Events: an exclusive queue of our own, bound before anything is sent.
    const events = [];
    const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, EVENTS, "orders.#");
    await channel.consume(
      queue,
      (message) => {
        events.push({
          name: message.fields.routingKey,
          messageId: message.properties.messageId,
          subject: text(message.properties.headers?.["cloudEvents:subject"]),
          body: JSON.parse(message.content.toString("utf8")),
        });
        arrived.changed();
      },
      { noAck: true },
    );

    async function call(exchange, name, body, properties) {
      const correlationId = randomUUID();
      channel.publish(exchange, name, Buffer.from(JSON.stringify(body)), {
        contentType: JSON_TYPE,
        correlationId,
        replyTo: DIRECT_REPLY_TO,
        ...properties,
      });
      return arrived.until(`reply to ${name}`, () => replies.get(correlationId));
    }

    const placed = await call(
      COMMANDS,
      "orders.place",
      {
        customer_name: "Ada from Node",
        customer_phone: `+44 20 ${Math.floor(1e7 + Math.random() * 9e7)}`,
        customer_address: "1 Analytical Row, London",
        pizzas: [
          { name: "margherita", size: "large", toppings: ["basil"] },
          { name: "pepperoni", size: "small" },
        ],
        payment_method: "card",
        notes: "ring twice",
      },
      { messageId: randomUUID(), persistent: true },
    );
    const order = placed.body.data;
    console.log(`orders.place: status ${placed.status}, order ${order?.id}`);
    console.log(JSON.stringify(placed.body, null, 2));
    if (placed.status !== 201 || !order?.id) throw new Error("the order was not placed");

    const read = await call(
      QUERIES,
      "orders.get",
      { order_id: order.id },
      { expiration: String(TIMEOUT_MS) },
    );
    console.log(`orders.get: status ${read.status}, order ${read.body.data?.id}`);
    console.log(JSON.stringify(read.body, null, 2));
    if (read.status !== 200 || read.body.data?.id !== order.id) {
      throw new Error("the order read back is not the one placed");
    }

    for (const name of ["orders.placed", "orders.confirmed"]) {
      const event = await arrived.until(`${name} event`, () =>
        events.find((e) => e.name === name && e.body.order_id === order.id),
      );
      console.log(
        `event ${name}: order ${event.body.order_id}, version ${event.body.version}, ` +
          `subject ${event.subject}, message_id ${event.messageId}`,
      );
      console.log(JSON.stringify(event.body, null, 2));
    }
    console.log("done");
  } finally {
    await connection.close();
  }
}

try {
  await main();
} catch (error) {
  console.error(`failed: ${error.message}`);
  process.exit(1);
}
