"""The REST API (`/api/v1/`), one package per domain: DRF views and serializers stay thin,
calling `marketplace.lifecycle` for anything that moves more than one app and the domain apps'
services and selectors for the rest. Stripe's webhook endpoints are `stripe_webhooks`."""
