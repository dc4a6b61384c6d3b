"""Outbound webhooks to merchants: endpoints, events, deliveries and their attempts."""
