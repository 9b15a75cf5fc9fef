"""Alerts (docs/alerts.md): rules over the store's metrics and over events, judged with a
cool-down and hysteresis (rules.py), recorded in the alert history (store/alerts.py) and
posted to Slack-compatible webhooks with retries (webhooks.py); service.py puts them
together, subscriber.py hands it the events."""
