/**
 * Config section `alerts`: where detections and abuse signals are sent besides the log.
 * The webhook secret comes from the environment (`secret: ${ALERT_WEBHOOK_SECRET}`), never from the file.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, HttpUrl, Strict } from '../types.js'

export const AlertWebhook = Strict({
  url: HttpUrl({ description: 'Receives each alert as a JSON POST.' }),
  secret: Type.Optional(Type.String({
    minLength: 16,
    description: 'HMAC-SHA256 key for the `x-rampart-signature` header. Write `${ALERT_WEBHOOK_SECRET}`; at least 16 characters.',
  })),
  timeout: Duration({ default: '2s', description: 'Per attempt, connection to response.' }),
  retries: Type.Integer({ minimum: 0, maximum: 10, default: 3, description: 'Further attempts after a failure, with exponential backoff.' }),
  queueSize: Type.Integer({
    minimum: 1, maximum: 100_000, default: 1000,
    description: 'Alerts waiting for delivery. When full, the oldest are dropped and counted; requests never wait.',
  }),
  minInterval: Duration({
    default: '1m',
    description: 'At most one alert per source (client address and kind) per interval; the rest are counted into the next one.',
  }),
})

export const Alerts = Strict({
  webhook: Type.Optional(AlertWebhook),
}, { default: {} })

export type AlertsConfig = Static<typeof Alerts>
export type AlertWebhookConfig = Static<typeof AlertWebhook>
