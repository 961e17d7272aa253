"""Plans, entitlements and the payment rails (Telegram Stars, Stripe, WhatsApp Pay)."""
